"""`stedi run` on the shipped sample, as a user runs it: exact counts, accounting, safe reruns."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from tests.reports import accounting, unaccounted

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


def test_every_table_has_the_exact_sample_count(sample_runs):
    summary = sample_runs["first"]
    assert summary["status"] == "succeeded"
    assert {table: summary["tables"][table]["rows"] for table in EXPECTED_ROWS} == EXPECTED_ROWS


def test_every_landing_record_is_accounted_for(sample_runs):
    sources = sample_runs["first"]["sources"]
    assert set(sources) == {"customer", "accelerometer", "step_trainer"}
    for name, source in sources.items():
        assert unaccounted(source) == 0, name
    assert accounting(sources["customer"]) == {
        "landing": 956,
        "accepted": 482,
        "filtered": {"no_research_consent": 474},
        "quarantined": {},
    }
    assert sources["accelerometer"]["filtered"] == {"customer_not_consenting": 40_292}
    assert sources["step_trainer"]["filtered"] == {"owner_not_curated": 14_220}


def test_summary_is_printed_as_a_table(sample_runs):
    assert re.search(r"^machine_learning_curated\s+40,981$", sample_runs["stdout"], re.MULTILINE)
    assert re.search(
        r"^accelerometer\s+9\s+81,273\s+40,981\s+customer_not_consenting 40,292", sample_runs["stdout"], re.M
    )


def comparable(spark, path: Path):
    """The table without per-run lineage, maps as JSON text (set operations cannot compare maps)."""
    df = spark.read.parquet(str(path)).drop(*PER_RUN_COLUMNS)
    maps = [f.name for f in df.schema.fields if f.dataType.typeName() == "map"]
    return df.select(*[F.to_json(F.col(c)).alias(c) if c in maps else F.col(c) for c in df.columns])


def test_second_run_has_nothing_new_and_leaves_the_same_lake(sample_runs, spark):
    first, second = sample_runs["first"], sample_runs["second"]
    assert (first["mode"], first["mode_reason"]) == ("full", "the lake's first run")
    assert (second["mode"], second["mode_reason"]) == ("incremental", "nothing new")
    assert second["new_files"] == {"customer": 0, "accelerometer": 0, "step_trainer": 0}
    assert second["tables"] == {}  # nothing was built
    figures = ("landing", "accepted", "filtered", "quarantined")
    for name, source in second["sources"].items():  # the lake's accounting, unchanged
        assert {f: source[f] for f in figures} == {f: first["sources"][name][f] for f in figures}, name
    assert second["changes"] == {"customer": {}, "accelerometer": {}, "step_trainer": {}}
    for zone in ("bronze", "silver", "gold"):
        tables = sorted(p.name for p in (sample_runs["lake"] / zone).iterdir() if p.is_dir())
        assert tables == sorted(p.name for p in (sample_runs["first_lake"] / zone).iterdir() if p.is_dir())
        assert not [t for t in tables if t.startswith("_")], "staging left behind"
        for table in tables:
            now = comparable(spark, sample_runs["lake"] / zone / table)
            before = comparable(spark, sample_runs["first_lake"] / zone / table)
            assert now.count() == before.count(), table
            assert now.exceptAll(before).count() == 0 and before.exceptAll(now).count() == 0, table


GOLD_ROWS = {
    "customers": 956,
    "customer_consents": 1_481,
    "devices": 956,
    "device_ownerships": 956,
    "accelerometer_readings": 40_981,
    "step_trainer_readings": 14_460,
    "lake_snapshot": 1,
    "machine_learning_training_set": 40_981,  # the view over the two reading tables
}


def test_warehouse_holds_gold_with_every_check_passed(sample_runs):
    summary = sample_runs["first"]
    assert summary["warehouse"]["tables"] == GOLD_ROWS
    assert {
        name: summary["tables"][f"gold.{name}"]["rows"] for name in GOLD_ROWS if f"gold.{name}" in summary["tables"]
    } == {name: rows for name, rows in GOLD_ROWS.items() if name != "machine_learning_training_set"}


def test_second_run_leaves_identical_warehouse_tables(sample_runs):
    import duckdb

    db = duckdb.connect()
    db.execute(f"attach '{sample_runs['first_warehouse']}' as before (read_only)")
    db.execute(f"attach '{sample_runs['warehouse']}' as after (read_only)")
    for table in GOLD_ROWS:
        for a, b in (("before", "after"), ("after", "before")):
            differing = db.execute(
                f"select count(*) from (select * from {a}.stedi.{table} except all select * from {b}.stedi.{table})"
            ).fetchone()[0]
            assert differing == 0, (table, a, b)
    assert "warehouse" not in sample_runs["second"]  # it holds the lake's gold: nothing was loaded


@pytest.mark.parametrize(
    "report", ["consent_funnel", "readings_per_device_per_day", "data_completeness", "training_set_per_customer"]
)
def test_every_report_runs_on_the_warehouse_and_returns_rows(sample_runs, report):
    import subprocess
    import sys

    stedi = Path(sys.executable).with_name("stedi")
    result = subprocess.run(
        [str(stedi), "report", report, "--warehouse", f"duckdb:///{sample_runs['warehouse']}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    _header, rule, *rows = result.stdout.splitlines()
    assert set(rule) <= {"-", " "} and rows


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_report_is_printed_as_csv_or_json_for_other_programs(sample_runs, fmt):
    import csv
    import io
    import json
    import subprocess
    import sys

    stedi = Path(sys.executable).with_name("stedi")
    result = subprocess.run(
        [
            str(stedi),
            "report",
            "consent_funnel",
            "--format",
            fmt,
            "--warehouse",
            f"duckdb:///{sample_runs['warehouse']}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout))) if fmt == "csv" else json.loads(result.stdout)
    expected = [
        {"step": 1, "stage": "customers landed", "customers": 956},
        {"step": 2, "stage": "gave research consent", "customers": 482},
        {"step": 3, "stage": "with accelerometer readings", "customers": 482},
        {"step": 4, "stage": "in the training set", "customers": 482},
    ]
    if fmt == "csv":  # CSV is text: numbers as written, without thousands separators
        expected = [{key: str(value) for key, value in row.items()} for row in expected]
    assert rows == expected


def test_consent_funnel_figures(sample_runs):
    from stedi.warehouse.backends import backend_for
    from stedi.warehouse.reports import get_report, run_report

    _, rows = run_report(backend_for(f"duckdb:///{sample_runs['warehouse']}"), get_report("consent_funnel"))
    assert [(stage, n) for _, stage, n in rows] == [
        ("customers landed", 956),
        ("gave research consent", 482),
        ("with accelerometer readings", 482),
        ("in the training set", 482),
    ]


@pytest.fixture(scope="module")
def as_of_run(tmp_path_factory) -> dict:
    import json

    from tests.conftest import stedi_run

    tmp_path = tmp_path_factory.mktemp("as-of-run")
    warehouse = tmp_path / "warehouse.duckdb"
    result = stedi_run(
        tmp_path,
        "--consent-policy",
        "as-of",
        "--lake",
        str(tmp_path / "lake"),
        "--warehouse",
        f"duckdb:///{warehouse}",
        "--summary",
        str(tmp_path / "summary.json"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {"summary": json.loads((tmp_path / "summary.json").read_text()), "warehouse": warehouse}


def test_as_of_policy_keeps_only_readings_from_consent_on(as_of_run):
    summary = as_of_run["summary"]
    assert summary["consent_policy"] == "as-of"
    assert summary["tables"]["accelerometer_trusted"]["rows"] == 32_025
    assert summary["sources"]["accelerometer"]["filtered"]["before_research_consent"] == 40_981 - 32_025


def test_as_of_training_set_has_no_reading_before_consent(as_of_run):
    import duckdb

    db = duckdb.connect()
    db.execute(f"attach '{as_of_run['warehouse']}' as w (read_only)")
    early = db.execute("""
        select count(*) from w.stedi.machine_learning_training_set as t
        join w.stedi.customer_consents as c on c.customer_key = t.customer_key and c.consent_type = 'research'
        where t.reading_at < c.consented_at""").fetchone()[0]
    assert early == 0
    assert db.execute("select consent_policy from w.stedi.lake_snapshot").fetchall() == [("as-of",)]
    assert db.execute("select count(*) from w.stedi.machine_learning_training_set").fetchone()[0] > 0


def test_analyst_facing_tables_carry_no_pii(sample_runs):
    import duckdb

    pii = {"customer_email", "customer_name", "phone_number", "birth_date", "email", "phone", "birthday"}
    db = duckdb.connect()
    db.execute(f"attach '{sample_runs['warehouse']}' as w (read_only)")
    columns = db.execute("""select table_name, column_name from information_schema.columns
                            where table_catalog = 'w' and table_schema = 'stedi'""").fetchall()
    leaking = {(t, c) for t, c in columns if t != "customers" and c in pii}
    assert not leaking and {c for t, c in columns if t == "customers"} >= {"customer_email", "birth_date"}


def test_each_task_says_what_it_did_and_no_dead_link_is_printed(sample_runs):
    """Per source and table, on the terminal as in the Prefect UI; the temporary API serves no UI, and is
    gone once the run ends, so no `View at` link to it."""
    output = sample_runs["stdout"] + sample_runs["stderr"][0]
    assert re.search(r"accelerometer: 9 files read, 0 quarantined; 81,273 records in, 81,273 to bronze", output)
    assert re.search(r"silver machine_learning_curated: 40,981 rows", output)
    assert re.search(r"bronze: done in [0-9.]+ s", output)
    assert "View at http" not in output


def test_a_run_ends_quietly(sample_runs):
    """Nothing complains while a successful run ends, for example py4j about a JVM that has gone."""
    assert not [err for err in sample_runs["stderr"] if "Traceback" in err or "ERROR" in err]


def test_a_run_leaves_no_process_behind(sample_runs):
    """The JVM and the temporary Prefect API have ended when `stedi run` returns: no process still
    carries the run's PREFECT_HOME in its environment."""
    if None in sample_runs["survivors"]:
        pytest.skip("needs /proc to see other processes' environments")
    assert sample_runs["survivors"] == [[], []]


def test_a_secret_block_in_the_workspace_keys_the_customers(tmp_path, monkeypatch):
    """The temporary API registers no block types at start-up; a Secret block the user saved (which
    registers its own type) is found."""
    import hashlib
    import hmac
    import json
    import os
    import subprocess
    import sys

    import pyarrow.parquet as pq

    from stedi.prefect_api import WITHOUT_BLOCK_REGISTRATION
    from tests.conftest import stedi_run

    monkeypatch.delenv("STEDI_PSEUDONYM_KEY", raising=False)
    # Prefect starts a temporary server for the save; without block registration, as `stedi run`'s
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), **WITHOUT_BLOCK_REGISTRATION}
    env.pop("PREFECT_API_URL", None)
    save = "from prefect.blocks.system import Secret; Secret(value='workspace-key').save('stedi-pseudonym-key')"
    saved = subprocess.run([sys.executable, "-c", save], env=env, capture_output=True, text=True, timeout=300)
    assert saved.returncode == 0, saved.stderr[-3000:]

    lake = tmp_path / "lake"
    result = stedi_run(tmp_path, "--lake", str(lake), "--warehouse", "none", "--summary", str(tmp_path / "s.json"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert not any("development secret" in w for w in json.loads((tmp_path / "s.json").read_text()).get("warnings", []))
    emails = pq.read_table(lake / "silver" / "customer_curated", columns=["customer_email"]).column(0).to_pylist()
    expected = {hmac.new(b"workspace-key", e.encode(), hashlib.sha256).hexdigest() for e in emails}
    keys = set(
        pq.read_table(lake / "silver" / "machine_learning_curated", columns=["customer_key"]).column(0).to_pylist()
    )
    assert keys and keys <= expected
