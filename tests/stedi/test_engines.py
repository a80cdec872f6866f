"""Every engine the project offers gives the tables Apache Spark gives: `stedi run` on each, on the sample
and on a generated landing ten times its size (duplicates, conflicts, drift, broken lines and files), and
every table of every zone compared row for row.

Only what a run stamps on its rows differs between two runs: its run id and its ingestion instant.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from stedi.generate import generate
from stedi.settings import ENGINES, SAMPLE_LANDING
from tests.conftest import stedi_run
from tests.lakes import differences, tables

pytestmark = pytest.mark.integration

REFERENCE = "spark"


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
