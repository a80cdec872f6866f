"""The flow in-process under Prefect's test harness: the run report reaches the Prefect API."""

import json
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

from tests.stedi.jobs.test_bronze_silver_jobs import CLEAN_CUSTOMER, CLEAN_READINGS, CLEAN_STEPS, write_lines


@pytest.fixture(scope="module")
def prefect_api():
    with prefect_test_harness():
        yield


def test_run_publishes_rows_accounting_contracts_and_summary_artifacts(prefect_api, spark, tmp_path):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from flows.stedi_lakehouse import stedi_lakehouse
    from tasks.reports import ACCOUNTING_KEY, CONTRACTS_KEY, ROWS_KEY, SUMMARY_KEY

    landing = tmp_path / "landing"
    write_lines(landing / "customer" / "landing", "c.json", [json.dumps(CLEAN_CUSTOMER)])
    write_lines(landing / "accelerometer" / "landing", "a.json", [json.dumps(r) for r in CLEAN_READINGS] + ["{oops"])
    write_lines(landing / "step_trainer" / "landing", "s.json", [json.dumps(s) for s in CLEAN_STEPS])
    state = stedi_lakehouse(landing=str(landing), lake=str(tmp_path / "lake"),
                            warehouse=f"duckdb:///{tmp_path / 'w.duckdb'}", quarantine_threshold=0.5,
                            runner="local", return_state=True)
    assert state.is_completed()
    summary = state.result()

    import anyio

    async def artifacts():
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
            return {a.key: a for a in found}

    by_key = anyio.run(artifacts)
    assert set(by_key) == {ROWS_KEY, ACCOUNTING_KEY, CONTRACTS_KEY, SUMMARY_KEY}
    accounting = {row["source"]: row for row in json.loads(by_key[ACCOUNTING_KEY].data)}
    assert accounting["accelerometer"]["quarantined"] == "malformed_json: 1"
    assert accounting["accelerometer"]["accepted"] == summary["sources"]["accelerometer"]["accepted"] == 4
    contracts = {row["table"]: row for row in json.loads(by_key[CONTRACTS_KEY].data)}
    assert set(contracts) >= {"customer_trusted", "machine_learning_curated"} and all(c["passed"] for c in contracts.values())
    assert f"/artifacts/key/{ROWS_KEY}" in by_key[SUMMARY_KEY].data
