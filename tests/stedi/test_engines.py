"""Every engine the project offers gives the tables Apache Spark gives: `stedi run` on each, on the sample
and on a generated landing ten times its size (duplicates, conflicts, drift, broken lines and files), and
every table of every zone compared row for row.

Only what a run stamps on its rows differs between two runs: its run id and its ingestion instant.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from stedi.generate import generate
from stedi.settings import ENGINES, SAMPLE_LANDING
from tests.conftest import stedi_run

pytestmark = pytest.mark.integration

REFERENCE = "spark"
RUN_STAMPS = {"_ingest_run_id", "_ingested_at"}
ZONES = ("bronze", "quarantine", "silver", "gold")


@pytest.fixture(scope="module")
def generated_landing(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("landing-10x")
    generate(root, scale=10, seed=7)
    return root


@pytest.fixture(scope="module")
def sample_lakes(tmp_path_factory) -> dict[str, Path]:
    return run_on_every_engine(tmp_path_factory.mktemp("engines-sample"), SAMPLE_LANDING)


def run_on_every_engine(tmp_path: Path, landing: str) -> dict[str, Path]:
    lakes = {}
    for engine in ENGINES:
        lake = tmp_path / f"lake-{engine}"
        result = stedi_run(
            tmp_path, "--engine", engine, "--landing", landing, "--lake", str(lake), "--warehouse", "none"
        )
        assert result.returncode == 0, f"{engine}: {result.stderr[-3000:]}"
        lakes[engine] = lake
    return lakes


def tables(lake: Path) -> dict[str, str]:
    """`zone.table` -> a DuckDB reader of the table's files, for every table a zone's manifest lists."""
    found = {}
    for zone in ZONES:
        manifest = json.loads((lake / zone / "_zone.json").read_text())
        for table in manifest["tables"]:
            folder = lake / zone / table
            parquet = sorted(folder.glob("*.parquet"))
            found[f"{zone}.{table}"] = (
                f"read_parquet('{folder}/*.parquet')" if parquet else f"read_json_auto('{folder}/*.json')"
            )
    return found


def differences(reference: Path, other: Path) -> dict[str, str]:
    """Per table that differs: how. Rows are compared as multisets, over every column but the run stamps."""
    db = duckdb.connect()
    expected, found = tables(reference), tables(other)
    problems = {name: "missing" for name in expected.keys() - found.keys()}
    for name in sorted(expected.keys() & found.keys()):
        a, b = expected[name], found[name]
        if db.sql(f"select count(*) from {a}").fetchall()[0][0] == 0 and "read_json" in a:
            if db.sql(f"select count(*) from {b}").fetchall()[0][0] != 0:
                problems[name] = "rows where the reference has none"
            continue  # an empty JSON table has no columns to compare
        types_a = [row[:2] for row in db.sql(f"describe select * from {a}").fetchall()]
        types_b = [row[:2] for row in db.sql(f"describe select * from {b}").fetchall()]
        if types_a != types_b:
            problems[name] = f"columns {types_a} != {types_b}"
            continue
        columns = ", ".join(f'"{column}"' for column, _ in types_a if column not in RUN_STAMPS)
        only_a = db.sql(f"select count(*) from (select {columns} from {a} except all select {columns} from {b})")
        only_b = db.sql(f"select count(*) from (select {columns} from {b} except all select {columns} from {a})")
        missing, extra = only_a.fetchall()[0][0], only_b.fetchall()[0][0]
        if missing or extra:
            problems[name] = f"{missing} rows of the reference missing, {extra} rows it lacks"
    return problems


def test_the_engines_give_identical_tables_on_the_sample(sample_lakes):
    assert len(tables(sample_lakes[REFERENCE])) == 20  # 3 bronze, 4 quarantine, 6 silver, 7 gold
    for engine in ENGINES:
        assert differences(sample_lakes[REFERENCE], sample_lakes[engine]) == {}, engine


def test_the_engines_give_identical_tables_on_ten_times_the_sample(tmp_path, generated_landing):
    lakes = run_on_every_engine(tmp_path, str(generated_landing))
    silver = duckdb.sql(f"select count(*) from {tables(lakes[REFERENCE])['silver.accelerometer_trusted']}")
    assert silver.fetchall()[0][0] > 350_000  # at volume: about ten times the sample's 40,981
    for engine in ENGINES:
        assert differences(lakes[REFERENCE], lakes[engine]) == {}, engine


def test_differences_are_found(sample_lakes, tmp_path):
    """The comparison itself: a row left out of one lake's table is reported, for that table only."""
    import pyarrow.parquet as pq

    lake = tmp_path / "lake"
    shutil.copytree(sample_lakes["sail"], lake, symlinks=True)
    table = lake / "gold" / "devices"
    fewer = duckdb.sql(f"select * from read_parquet('{table}/*.parquet') offset 1").fetch_arrow_table()
    for file in table.glob("*.parquet"):
        file.unlink()
    pq.write_table(fewer, table / "part-00000.parquet")
    assert differences(sample_lakes[REFERENCE], lake) == {
        "gold.devices": "1 rows of the reference missing, 0 rows it lacks"
    }
