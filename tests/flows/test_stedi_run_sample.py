"""`stedi run` on the shipped sample, as a user runs it: exact counts, accounting, safe reruns."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from stedi.summary import unaccounted

pytestmark = pytest.mark.integration

EXPECTED_ROWS = {
    "customer_landing": 956,
    "accelerometer_landing": 81_273,
    "step_trainer_landing": 28_680,
    "customer_trusted": 482,
    "accelerometer_trusted": 40_981,
    "customer_curated": 482,
    "step_trainer_trusted": 14_460,
    # the same customer at the same instant; a join on the timestamp alone gives 43,681
    "machine_learning_curated": 40_981,
}
PER_RUN_COLUMNS = ["_ingest_run_id", "_ingested_at"]  # lineage that names the run, by design


def stedi_run(tmp_path: Path, lake: Path, summary: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)
    command = [str(Path(sys.executable).with_name("stedi")), "run", "--lake", str(lake), "--summary", str(summary)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> dict:
    tmp_path = tmp_path_factory.mktemp("sample-run")
    lake = tmp_path / "lake"
    first = stedi_run(tmp_path, lake, tmp_path / "first.json")
    assert first.returncode == 0, first.stderr[-3000:]
    shutil.copytree(lake, tmp_path / "lake-after-first-run")
    second = stedi_run(tmp_path, lake, tmp_path / "second.json")
    assert second.returncode == 0, second.stderr[-3000:]
    return {
        "lake": lake,
        "first_lake": tmp_path / "lake-after-first-run",
        "first": json.loads((tmp_path / "first.json").read_text()),
        "second": json.loads((tmp_path / "second.json").read_text()),
        "stdout": first.stdout,
    }


def test_every_table_has_the_exact_sample_count(two_runs):
    summary = two_runs["first"]
    assert summary["status"] == "succeeded"
    assert {table: summary["tables"][table]["rows"] for table in EXPECTED_ROWS} == EXPECTED_ROWS


def test_every_landing_record_is_accounted_for(two_runs):
    sources = two_runs["first"]["sources"]
    assert set(sources) == {"customer", "accelerometer", "step_trainer"}
    for name, source in sources.items():
        assert unaccounted(source) == 0, name
    assert sources["customer"] == {
        "landing": 956, "accepted": 482, "filtered": {"no_research_consent": 474}, "quarantined": {}}
    assert sources["accelerometer"]["filtered"] == {"customer_not_consenting": 40_292}
    assert sources["step_trainer"]["filtered"] == {"owner_not_curated": 14_220}


def test_summary_is_printed_as_a_table(two_runs):
    assert "machine_learning_curated  40,981" in two_runs["stdout"]


def comparable(spark, path: Path):
    """The table without per-run lineage, maps as JSON text (set operations cannot compare maps)."""
    df = spark.read.parquet(str(path)).drop(*PER_RUN_COLUMNS)
    maps = [f.name for f in df.schema.fields if f.dataType.typeName() == "map"]
    return df.select(*[F.to_json(F.col(c)).alias(c) if c in maps else F.col(c) for c in df.columns])


def test_second_run_leaves_the_same_lake(two_runs, spark):
    assert two_runs["second"]["tables"] == two_runs["first"]["tables"]
    assert two_runs["second"]["sources"] == two_runs["first"]["sources"]
    for zone in ("bronze", "silver"):
        tables = sorted(p.name for p in (two_runs["lake"] / zone).iterdir())
        assert tables == sorted(p.name for p in (two_runs["first_lake"] / zone).iterdir())
        assert not [t for t in tables if t.startswith("_")], "staging left behind"
        for table in tables:
            now = comparable(spark, two_runs["lake"] / zone / table)
            before = comparable(spark, two_runs["first_lake"] / zone / table)
            assert now.count() == before.count(), table
            assert now.exceptAll(before).count() == 0 and before.exceptAll(now).count() == 0, table
