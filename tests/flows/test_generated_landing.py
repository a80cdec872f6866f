"""`stedi run` on a generated landing ten times the sample's size: every figure equals expected.json.

stedi/generate.py decides each record's fate as it writes it; here the real pipeline, run as a user runs
it, must arrive at the same counts under both consent policies, down to the warehouse.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

from stedi.generate import generate
from stedi.rules import CONSENT_POLICIES
from tests.conftest import stedi_run
from tests.reports import accounting, unaccounted

pytestmark = pytest.mark.integration

SCALE = 10  # about 0.8 M accelerometer and 0.28 M step-trainer lines, 130 files


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("generated") / "landing"
    generate(root, SCALE, seed=0)
    return root


@pytest.fixture(scope="module", params=CONSENT_POLICIES)
def run(request, generated, tmp_path_factory) -> types.SimpleNamespace:
    """One run per consent policy: `ever` on the whole landing; `as-of`, whose rule differs only in the
    reading's time, on the same landing too (both runs take about a minute each at this scale)."""
    policy = request.param
    tmp_path = tmp_path_factory.mktemp(f"run-{policy}")
    warehouse, summary = tmp_path / "warehouse.duckdb", tmp_path / "summary.json"
    result = stedi_run(
        tmp_path,
        "--landing",
        str(generated),
        "--lake",
        str(tmp_path / "lake"),
        "--warehouse",
        f"duckdb:///{warehouse}",
        "--consent-policy",
        policy,
        "--summary",
        str(summary),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    expected = json.loads((generated / "expected.json").read_text())
    return types.SimpleNamespace(
        policy=policy,
        summary=json.loads(summary.read_text()),
        warehouse=warehouse,
        expected=expected["policies"][policy],
        cases=expected["cases"],
        files=expected["files"],
    )


def test_every_source_is_accounted_for_as_generated(run):
    assert run.summary["status"] == "succeeded"
    for name, source in run.summary["sources"].items():
        assert unaccounted(source) == 0, name
        assert accounting(source) == run.expected["sources"][name], name


def test_every_file_is_read_or_quarantined_whole_and_every_marker_skipped(run):
    for name, source in run.summary["sources"].items():
        files = run.files[name]
        assert source["files"] == {key: files[key] for key in ("landing", "read", "quarantined")}, name
        assert sorted(q["path"].split(f"/{name}/landing/", 1)[1] for q in source["quarantined_files"]) == sorted(
            run.cases["broken_files"][name]
        ), name
        assert len(source["skipped"]) == files["skipped"], name
        assert all(s["path"].endswith("/_SUCCESS") for s in source["skipped"]), name


def test_landing_and_silver_tables_have_the_generated_rows(run):
    tables = {name: table["rows"] for name, table in run.summary["tables"].items()}
    for name, source in run.expected["sources"].items():
        assert tables[f"{name}_landing"] == source["landing"], name
    assert {name: tables[name] for name in run.expected["tables"]} == run.expected["tables"]


def test_gold_tables_have_the_generated_rows(run):
    tables = {name: table["rows"] for name, table in run.summary["tables"].items()}
    assert {name: tables[f"gold.{name}"] for name in run.expected["gold"]} == run.expected["gold"]


def test_warehouse_holds_the_generated_rows(run):
    import duckdb

    assert run.summary["warehouse"]["tables"] == run.expected["warehouse"]
    with duckdb.connect(str(run.warehouse), read_only=True) as db:
        counted = {
            name: db.execute(f"select count(*) from stedi.{name}").fetchall()[0][0]
            for name in run.expected["warehouse"]
        }
        implausible = db.execute("select count(*) from stedi.customers where is_birth_date_implausible").fetchall()
        snapshot = db.execute("select consent_policy from stedi.lake_snapshot").fetchall()
    assert counted == run.expected["warehouse"]
    assert implausible[0][0] == run.cases["implausible_birthdays"]
    assert snapshot == [(run.policy,)]
