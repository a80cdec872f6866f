"""The bronze and silver jobs on tiny landing folders written by the test."""

import json
from pathlib import Path

import pytest

from schemas.enforce import ContractViolation
from schemas.silver import CONTRACTS
from stedi import lake
from stedi.jobs import bronze, silver
from stedi.jobs.common import JobArgs
from stedi.summary import build_summary
from tests.reports import accounting, check_accounting

S1 = "50f7b4f3-7af5-4b07-a421-7b902c8d2b7c"
S2 = "20400202-c1da-4328-8e94-5bacc7d61ecb"
CUSTOMERS = [
    {
        "customerName": "Ann Lee",
        "email": "Ann.Lee@x.com",
        "phone": "8015551212",
        "birthDay": "1990-01-01",
        "serialNumber": S1,
        "registrationDate": 1655564000000,
        "lastUpdateDate": 1655564000000,
        "shareWithResearchAsOfDate": 1655564000000,
    },
    {
        "customerName": "Bo Park",
        "email": "bo.park@x.com",
        "phone": "8015551212",
        "birthDay": "1980-01-01",
        "serialNumber": S2,
        "registrationDate": 1655564000000,
        "lastUpdateDate": 1655564000000,
    },
]


def write_lines(folder: Path, name: str, lines: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n")


def run_jobs(spark, landing: Path, lake_dir: Path, run_id: str = "run-1") -> dict:
    # A handful of lines, some broken on purpose: no quarantine threshold (the flow's tests cover it).
    args = JobArgs(
        landing=str(landing),
        lake=str(lake_dir),
        run_id=run_id,
        ingested_at="2026-11-22T00:00:00+00:00",
        quarantine_threshold="1",
    )
    bronze_report = bronze.run(spark, args)
    silver_report = silver.run(spark, args)
    return build_summary(args.run_id, args.consent_policy, bronze_report, silver_report).to_json()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    write_lines(root / "customer" / "landing", "customer-1.json", [json.dumps(c) for c in CUSTOMERS])
    return root


def test_empty_landing_folder_for_one_source_gives_a_clear_result(spark, landing, tmp_path):
    (landing / "accelerometer" / "landing").mkdir(parents=True)  # present but empty
    write_lines(
        landing / "step_trainer" / "landing",
        "st-1.json",
        [
            json.dumps({"sensorReadingTime": 1655564000001, "serialNumber": S1, "distanceFromObject": 240}),
        ],
    )
    summary = run_jobs(spark, landing, tmp_path / "lake")

    check_accounting(summary)
    assert accounting(summary["sources"]["accelerometer"]) == {
        "landing": 0,
        "accepted": 0,
        "filtered": {},
        "quarantined": {},
    }
    # without accelerometer readings nobody is curated, so the step-trainer reading is filtered, not lost
    assert summary["sources"]["step_trainer"]["filtered"] == {"owner_not_curated": 1}
    assert summary["tables"]["customer_trusted"]["rows"] == 1
    assert summary["tables"]["machine_learning_curated"]["rows"] == 0
    assert any("accelerometer/landing" in w for w in summary["warnings"])
    # the empty tables are still published, with their columns, for downstream readers
    empty = spark.read.parquet(lake.table_path(str(tmp_path / "lake"), "silver", "accelerometer_trusted"))
    assert empty.columns == ["customer_email", "reading_at", "x", "y", "z"]


def test_malformed_line_is_quarantined_with_raw_text_and_counted(spark, landing, tmp_path):
    write_lines(
        landing / "accelerometer" / "landing",
        "acc-1.json",
        [
            json.dumps({"user": "ann.lee@x.com", "timestamp": 1655564000001, "x": 1.0, "y": 0.0, "z": 0.0}),
            '{"user": "ann.lee@x.com", "timestamp": 16555',
        ],
    )
    summary = run_jobs(spark, landing, tmp_path / "lake")

    check_accounting(summary)
    assert accounting(summary["sources"]["accelerometer"]) == {
        "landing": 2,
        "accepted": 1,
        "filtered": {},
        "quarantined": {"malformed_json": 1},
    }
    quarantine = spark.read.json(lake.table_path(str(tmp_path / "lake"), "quarantine", "accelerometer")).collect()
    assert [(q.rule, q.raw_record, q._ingest_run_id) for q in quarantine] == [
        ("malformed_json", '{"user": "ann.lee@x.com", "timestamp": 16555', "run-1")
    ]


def silver_rows(spark, lake_dir: Path, table: str) -> list:
    return sorted(spark.read.parquet(lake.table_path(str(lake_dir), "silver", table)).collect())


def test_contract_violation_fails_the_run_and_keeps_the_previous_silver_whole(spark, landing, tmp_path):
    write_lines(
        landing / "accelerometer" / "landing",
        "acc-1.json",
        [json.dumps({"user": "ann.lee@x.com", "timestamp": 1655564000001, "x": 1.0, "y": 0.0, "z": 0.0})],
    )
    write_lines(
        landing / "step_trainer" / "landing",
        "st-1.json",
        [json.dumps({"sensorReadingTime": 1655564000001, "serialNumber": S1, "distanceFromObject": 240})],
    )
    run_jobs(spark, landing, tmp_path / "lake", run_id="run-1")
    before = {table: silver_rows(spark, tmp_path / "lake", table) for table in CONTRACTS}

    # a customer registers a device whose serial number is not a UUID: customer_current's contract fails
    newcomer = dict(CUSTOMERS[1], email="cy@x.com", serialNumber="not-a-serial")
    write_lines(landing / "customer" / "landing", "customer-2.json", [json.dumps(newcomer)])
    with pytest.raises(
        ContractViolation, match=r"customer_(current|trusted).*str_matches.* on serial_number: 1 offending"
    ):
        run_jobs(spark, landing, tmp_path / "lake", run_id="run-2")
    assert {table: silver_rows(spark, tmp_path / "lake", table) for table in CONTRACTS} == before
    assert lake.zone_run_id(str(tmp_path / "lake"), "silver") == "run-1"
    assert lake.zone_run_id(str(tmp_path / "lake"), "bronze") == "run-2"  # bronze had finished: its own zone


STEP = {"sensorReadingTime": 1655564000001, "serialNumber": S1, "distanceFromObject": 240}
READING = {"user": "ann.lee@x.com", "timestamp": 1655564000001, "x": 1.0, "y": 0.0, "z": 0.0}


def test_records_delivered_twice_are_kept_once_and_counted_as_duplicates(spark, landing, tmp_path):
    readings = [json.dumps(READING), json.dumps(READING), json.dumps(dict(READING, x=2.0))]  # a repeated line
    write_lines(landing / "accelerometer" / "landing", "acc-1.json", readings)
    # the same file delivered again under another name, written differently: drift is no difference
    redelivered = [json.dumps(dict(READING, timestamp=str(READING["timestamp"]), user=" Ann.Lee@X.com")), readings[2]]
    write_lines(landing / "accelerometer" / "landing", "acc-1-again.json", redelivered)
    write_lines(landing / "step_trainer" / "landing", "st-1.json", [json.dumps(STEP)] * 2)
    summary = run_jobs(spark, landing, tmp_path / "lake")

    check_accounting(summary)
    assert accounting(summary["sources"]["accelerometer"]) == {
        "landing": 5,
        "accepted": 2,
        "filtered": {"duplicate_record": 3},
        "quarantined": {},
    }
    assert accounting(summary["sources"]["step_trainer"]) == {
        "landing": 2,
        "accepted": 1,
        "filtered": {"duplicate_record": 1},
        "quarantined": {},
    }
    kept = spark.read.parquet(lake.table_path(str(tmp_path / "lake"), "bronze", "accelerometer"))
    # the copy kept is the first by file path: its lineage names the first file
    assert sorted((r.x, r._source_file.rsplit("/", 1)[1]) for r in kept.collect()) == [
        (1.0, "acc-1-again.json"),
        (2.0, "acc-1-again.json"),
    ]
    assert summary["tables"]["machine_learning_curated"]["rows"] == 2  # the step, with each distinct x/y/z


def test_conflicting_readings_are_all_quarantined_not_a_failed_run(spark, landing, tmp_path):
    write_lines(landing / "accelerometer" / "landing", "acc-1.json", [json.dumps(READING)])
    other = dict(STEP, sensorReadingTime=1655564000002)
    write_lines(
        landing / "step_trainer" / "landing",
        "st-1.json",
        [json.dumps(STEP), json.dumps(dict(STEP, distanceFromObject=241)), json.dumps(other)],
    )
    write_lines(landing / "step_trainer" / "landing", "st-2.json", [json.dumps(STEP)])  # one version twice
    summary = run_jobs(spark, landing, tmp_path / "lake")

    check_accounting(summary)
    assert accounting(summary["sources"]["step_trainer"]) == {
        "landing": 4,
        "accepted": 1,
        "filtered": {"duplicate_record": 1},
        "quarantined": {"conflicting_reading": 2},
    }
    quarantine = spark.read.json(lake.table_path(str(tmp_path / "lake"), "quarantine", "step_trainer")).collect()
    assert sorted((q.rule, json.loads(q.raw_record)["distanceFromObject"]) for q in quarantine) == [
        ("conflicting_reading", 240),
        ("conflicting_reading", 241),
    ]
    trusted = silver_rows(spark, tmp_path / "lake", "step_trainer_trusted")
    assert [(r.reading_at.microsecond // 1000, r.distance_cm) for r in trusted] == [(2, 240)]


CLEAN_CUSTOMER = {
    "customerName": "Cy Ray",
    "email": "cy.ray@x.com",
    "phone": "8015551213",
    "birthDay": "1985-02-03",
    "serialNumber": S2,
    "registrationDate": 1655564000000,
    "lastUpdateDate": 1655564000000,
    "shareWithResearchAsOfDate": 1655564000000,
}
CLEAN_READINGS = [
    {"user": "cy.ray@x.com", "timestamp": 1655564000000 + i, "x": 1.0, "y": -1.0, "z": 0.0} for i in range(4)
]
CLEAN_STEPS = [
    {"sensorReadingTime": 1655564000000 + i, "serialNumber": S2, "distanceFromObject": 200 + i} for i in range(4)
]
BROKEN_READINGS = {
    '{"user": "cy.ray@x.com", "timestamp": 16555': "malformed_json",
    '{"timestamp": 1655564000009, "x": 1.0, "y": 0.0, "z": 0.0}': "missing_user",
    '{"user": "cy.ray@x.com", "timestamp": "yesterday", "x": 1.0}': "uncoercible_timestamp",
    '{"user": "cy.ray@x.com", "timestamp": 978307200000, "x": 1.0}': "timestamp_out_of_range",
}
BROKEN_STEPS = {
    '{"sensorReadingTime": 1655564000009, "serialNumber": "' + S2 + '", "distanceFromObject": -3}': "negative_distance",
    '["not", "an", "object"]': "malformed_json",
}


def drifted_landing(root: Path) -> None:
    """The clean records as real exports deliver them, plus broken lines."""
    customer = dict(
        CLEAN_CUSTOMER,
        phone=8015551213,
        registrationDate="1655564000000",
        lastUpdateDate=1655564000000.0,
        shareWithPublicAsOfDate=None,
    )
    customer["EMAIL"] = customer.pop("email")  # key casing
    readings = [
        {"User": "cy.ray@x.com", "timeStamp": 1655564000000, "x": 1.0, "y": -1.0, "z": 0.0},  # key casing
        {"user": "cy.ray@x.com", "timestamp": "1655564000001", "x": "1", "y": "-1", "z": 0},  # numbers as strings
        {"user": "cy.ray@x.com", "timestamp": 1655564000002.0, "x": 1.0, "y": -1.0, "z": 0.0},  # epoch as float
        {"user": "cy.ray@x.com", "timestamp": 1655564000003, "x": 1.0, "y": -1.0, "z": 0.0, "appVersion": "2.1"},
    ]
    steps = [dict(s, distanceFromObject=float(s["distanceFromObject"])) for s in CLEAN_STEPS]
    write_lines(root / "customer" / "landing", "customer.json", [json.dumps(c) for c in (*CUSTOMERS, customer)])
    write_lines(
        root / "accelerometer" / "landing", "acc.json", [json.dumps(r) for r in readings] + list(BROKEN_READINGS)
    )
    write_lines(root / "step_trainer" / "landing", "st.json", [json.dumps(s) for s in steps] + list(BROKEN_STEPS))


def clean_landing(root: Path) -> None:
    write_lines(root / "customer" / "landing", "customer.json", [json.dumps(c) for c in (*CUSTOMERS, CLEAN_CUSTOMER)])
    write_lines(root / "accelerometer" / "landing", "acc.json", [json.dumps(r) for r in CLEAN_READINGS])
    write_lines(root / "step_trainer" / "landing", "st.json", [json.dumps(s) for s in CLEAN_STEPS])


def test_drift_is_absorbed_and_breakage_quarantined_with_every_record_accounted(spark, tmp_path):
    clean_landing(tmp_path / "clean")
    drifted_landing(tmp_path / "drifted")
    clean = run_jobs(spark, tmp_path / "clean", tmp_path / "clean-lake")
    drifted = run_jobs(spark, tmp_path / "drifted", tmp_path / "drifted-lake")

    check_accounting(drifted)
    for table in ("customer_trusted", "accelerometer_trusted", "step_trainer_trusted", "machine_learning_curated"):
        assert silver_rows(spark, tmp_path / "drifted-lake", table) == silver_rows(
            spark, tmp_path / "clean-lake", table
        )
    assert (
        drifted["tables"]["machine_learning_curated"]["rows"]
        == clean["tables"]["machine_learning_curated"]["rows"]
        == 4
    )
    assert drifted["sources"]["accelerometer"]["quarantined"] == {r: 1 for r in BROKEN_READINGS.values()}
    assert drifted["sources"]["step_trainer"]["quarantined"] == {r: 1 for r in BROKEN_STEPS.values()}
    assert drifted["sources"]["accelerometer"]["extra_fields"] == {"appversion": 1}
    quarantine = spark.read.json(lake.table_path(str(tmp_path / "drifted-lake"), "quarantine", "accelerometer"))
    assert {(q.raw_record, q.rule) for q in quarantine.collect()} == set(BROKEN_READINGS.items())


def test_implausible_birthdays_are_counted_not_dropped(spark, tmp_path):
    old = dict(CLEAN_CUSTOMER, birthDay="967-01-01")
    write_lines(tmp_path / "landing" / "customer" / "landing", "c.json", [json.dumps(old)])
    summary = run_jobs(spark, tmp_path / "landing", tmp_path / "lake")
    assert summary["sources"]["customer"]["flagged"] == {"birth_date_implausible": 1}
    assert summary["sources"]["customer"]["accepted"] == 1


def test_a_source_gone_from_the_landing_never_empties_what_earlier_runs_published(spark, landing, tmp_path):
    write_lines(landing / "accelerometer" / "landing", "acc-1.json", [json.dumps(READING)])
    write_lines(landing / "step_trainer" / "landing", "st-1.json", [json.dumps(STEP)])
    run_jobs(spark, landing, tmp_path / "lake", run_id="run-1")
    before = silver_rows(spark, tmp_path / "lake", "step_trainer_trusted")

    for export in (landing / "step_trainer" / "landing").iterdir():  # the folder is there, its files are not
        export.unlink()
    with pytest.raises(
        bronze.EmptySourceError,
        match=r"^step_trainer: no landing files in .*step_trainer/landing, "
        r"but the lake holds 1 of its records from earlier runs; nothing was published "
        r"\(to publish it empty, pass --allow-empty step_trainer\)$",
    ):
        run_jobs(spark, landing, tmp_path / "lake", run_id="run-2")
    assert lake.zone_run_id(str(tmp_path / "lake"), "bronze") == "run-1"
    assert silver_rows(spark, tmp_path / "lake", "step_trainer_trusted") == before

    args = JobArgs(
        landing=str(landing),
        lake=str(tmp_path / "lake"),
        run_id="run-3",
        ingested_at="2026-11-22T00:00:00+00:00",
        allow_empty="step_trainer",
    )
    assert bronze.run(spark, args).sources["step_trainer"].landing == 0  # meant: published empty
    assert JobArgs.parse(args.to_argv()) == args


def test_a_broken_file_is_quarantined_whole_and_the_rest_of_the_landing_flows_on(spark, landing, tmp_path):
    import gzip

    readings = [json.dumps(dict(READING, timestamp=READING["timestamp"] + i)) for i in range(3)]
    write_lines(landing / "accelerometer" / "landing" / "2022" / "06", "acc-1.json", readings[:2])  # nested
    truncated = gzip.compress(("\n".join(readings[2:]) + "\n").encode())[:-6]
    (landing / "accelerometer" / "landing" / "acc-2.json.gz").write_bytes(truncated)
    (landing / "accelerometer" / "landing" / ".acc-3.json.tmp").write_text(readings[2])  # an upload in progress
    write_lines(landing / "step_trainer" / "landing", "st-1.json", [json.dumps(STEP)])
    summary = run_jobs(spark, landing, tmp_path / "lake")

    check_accounting(summary)
    accelerometer = summary["sources"]["accelerometer"]
    assert accelerometer["files"] == {"landing": 2, "read": 1, "quarantined": {"truncated_gzip": 1}}
    assert accounting(accelerometer) == {"landing": 2, "accepted": 2, "filtered": {}, "quarantined": {}}
    assert [(Path(q["path"]).name, q["rule"]) for q in accelerometer["quarantined_files"]] == [
        ("acc-2.json.gz", "truncated_gzip")
    ]
    assert [(Path(s["path"]).name, s["reason"]) for s in accelerometer["skipped"]] == [
        (".acc-3.json.tmp", "hidden file (its name starts with '.')")
    ]
    recorded = spark.read.json(lake.table_path(str(tmp_path / "lake"), "quarantine", "files")).collect()
    assert [(r.source, Path(r.path).name, r.rule, r.size_bytes, r._ingest_run_id) for r in recorded] == [
        ("accelerometer", "acc-2.json.gz", "truncated_gzip", len(truncated), "run-1")
    ]
    assert "ends before its last member" in recorded[0].detail


def test_a_source_whose_every_file_is_broken_never_empties_what_earlier_runs_published(spark, landing, tmp_path):
    write_lines(landing / "accelerometer" / "landing", "acc-1.json", [json.dumps(READING)])
    write_lines(landing / "step_trainer" / "landing", "st-1.json", [json.dumps(STEP)])
    run_jobs(spark, landing, tmp_path / "lake", run_id="run-1")

    (landing / "step_trainer" / "landing" / "st-1.json").unlink()
    (landing / "step_trainer" / "landing" / "st-1.json.gz").write_bytes(b"not gzip at all")
    with pytest.raises(
        bronze.EmptySourceError,
        match=r"^step_trainer: no readable landing files \(quarantined: "
        r"not_gzip 1\) in .*step_trainer/landing, but the lake holds 1 of its records",
    ):
        run_jobs(spark, landing, tmp_path / "lake", run_id="run-2")
    assert lake.zone_run_id(str(tmp_path / "lake"), "bronze") == "run-1"
