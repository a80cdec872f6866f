"""The bronze and silver jobs on tiny landing folders written by the test."""

import json
from pathlib import Path

import pytest

from stedi import lake
from stedi.jobs import bronze, silver
from stedi.jobs.common import JobArgs
from stedi.summary import build_summary, check_accounting

CUSTOMERS = [
    {"customerName": "Ann Lee", "email": "Ann.Lee@x.com", "phone": "8015551212", "birthDay": "1990-01-01",
     "serialNumber": "s-1", "registrationDate": 1655564000000, "lastUpdateDate": 1655564000000,
     "shareWithResearchAsOfDate": 1655564000000},
    {"customerName": "Bo Park", "email": "bo.park@x.com", "phone": "8015551212", "birthDay": "1980-01-01",
     "serialNumber": "s-2", "registrationDate": 1655564000000, "lastUpdateDate": 1655564000000},
]


def write_lines(folder: Path, name: str, lines: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n")


def run_jobs(spark, landing: Path, lake_dir: Path) -> dict:
    args = JobArgs(landing=str(landing), lake=str(lake_dir), run_id="run-1", ingested_at="2026-11-22T00:00:00+00:00")
    bronze_report = bronze.run(spark, args)
    silver_report = silver.run(spark, args)
    return build_summary(args.run_id, args.consent_policy, bronze_report, silver_report)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    write_lines(root / "customer" / "landing", "customer-1.json", [json.dumps(c) for c in CUSTOMERS])
    return root


def test_empty_landing_folder_for_one_source_gives_a_clear_result(spark, landing, tmp_path):
    (landing / "accelerometer" / "landing").mkdir(parents=True)  # present but empty
    write_lines(landing / "step_trainer" / "landing", "st-1.json", [
        json.dumps({"sensorReadingTime": 1655564000001, "serialNumber": "s-1", "distanceFromObject": 240}),
    ])
    summary = run_jobs(spark, landing, tmp_path / "lake")

    check_accounting(summary)
    assert summary["sources"]["accelerometer"] == {"landing": 0, "accepted": 0, "filtered": {}, "quarantined": {}}
    # without accelerometer readings nobody is curated, so the step-trainer reading is filtered, not lost
    assert summary["sources"]["step_trainer"]["filtered"] == {"owner_not_curated": 1}
    assert summary["tables"]["customer_trusted"]["rows"] == 1
    assert summary["tables"]["machine_learning_curated"]["rows"] == 0
    assert any("accelerometer/landing" in w for w in summary["warnings"])
    # the empty tables are still published, with their columns, for downstream readers
    empty = spark.read.parquet(lake.table_path(str(tmp_path / "lake"), "silver", "accelerometer_trusted"))
    assert empty.columns == ["customer_email", "reading_at", "x", "y", "z"]


def test_malformed_line_is_quarantined_with_raw_text_and_counted(spark, landing, tmp_path):
    write_lines(landing / "accelerometer" / "landing", "acc-1.json", [
        json.dumps({"user": "ann.lee@x.com", "timestamp": 1655564000001, "x": 1.0, "y": 0.0, "z": 0.0}),
        '{"user": "ann.lee@x.com", "timestamp": 16555',
    ])
    summary = run_jobs(spark, landing, tmp_path / "lake")

    check_accounting(summary)
    assert summary["sources"]["accelerometer"] == {
        "landing": 2, "accepted": 1, "filtered": {}, "quarantined": {"malformed_json": 1}}
    quarantine = spark.read.json(lake.table_path(str(tmp_path / "lake"), "quarantine", "accelerometer")).collect()
    assert [(q.rule, q.raw_record, q._ingest_run_id) for q in quarantine] == [
        ("malformed_json", '{"user": "ann.lee@x.com", "timestamp": 16555', "run-1")]
