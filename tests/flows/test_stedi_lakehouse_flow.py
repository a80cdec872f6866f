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


def artifacts_of(flow_run_id) -> dict:
    """The artifacts of one flow run, by key, read back through the Prefect client."""
    import anyio
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async def read():
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
            )
            return {a.key: a for a in found}

    return anyio.run(read)


def test_run_publishes_rows_accounting_contracts_and_summary_artifacts(prefect_api, spark, tmp_path):
    from flows.stedi_lakehouse import stedi_lakehouse
    from tasks.reports import ACCOUNTING_KEY, CONTRACTS_KEY, ROWS_KEY, SUMMARY_KEY

    landing = tmp_path / "landing"
    write_lines(landing / "customer" / "landing", "c.json", [json.dumps(CLEAN_CUSTOMER)])
    write_lines(landing / "accelerometer" / "landing", "a.json", [json.dumps(r) for r in CLEAN_READINGS] + ["{oops"])
    write_lines(landing / "step_trainer" / "landing", "s.json", [json.dumps(s) for s in CLEAN_STEPS])
    state = stedi_lakehouse(
        landing=str(landing),
        lake=str(tmp_path / "lake"),
        warehouse=f"duckdb:///{tmp_path / 'w.duckdb'}",
        quarantine_threshold=0.5,
        runner="local",
        return_state=True,
    )
    assert state.is_completed()
    summary = state.result().to_json()  # as the summary's JSON has it

    by_key = artifacts_of(state.state_details.flow_run_id)
    assert set(by_key) == {ROWS_KEY, ACCOUNTING_KEY, CONTRACTS_KEY, SUMMARY_KEY}
    accounting = {row["source"]: row for row in json.loads(by_key[ACCOUNTING_KEY].data)}
    assert accounting["accelerometer"]["quarantined"] == "malformed_json: 1"
    assert summary["sources"]["accelerometer"]["accepted"] == 4
    assert accounting["accelerometer"]["accepted"] == "4"  # every number as text formatted alike
    contracts = {row["table"]: row for row in json.loads(by_key[CONTRACTS_KEY].data)}
    assert set(contracts) >= {"customer_trusted", "machine_learning_curated"}
    assert all(c["passed"] == "yes" for c in contracts.values())
    assert "customer_email: not_null" in contracts["customer_trusted"]["names"]
    markdown = by_key[SUMMARY_KEY].data
    assert f"(/runs/flow-run/{state.state_details.flow_run_id}?tab=Artifacts)" in markdown  # this run's only
    assert f"Quarantine: `{tmp_path / 'lake' / 'quarantine'}/`" in markdown
    assert "Time per stage: bronze " in markdown


def test_a_local_run_loads_redshift_through_the_warehouse_stage(prefect_api, spark, tmp_path, aws, monkeypatch):
    """A laptop's run: gold built in a folder, uploaded to the stage on S3 (moto's), COPYed from there into
    Redshift (a stand-in that reads what each COPY names), then removed from the stage."""
    from flows.stedi_lakehouse import stedi_lakehouse
    from stedi import lake
    from stedi.warehouse.backends import RedshiftBackend
    from tests.redshift import RedshiftStandIn, read_prefix

    landing = tmp_path / "landing"
    write_lines(landing / "customer" / "landing", "c.json", [json.dumps(CLEAN_CUSTOMER)])
    write_lines(landing / "accelerometer" / "landing", "a.json", [json.dumps(r) for r in CLEAN_READINGS])
    write_lines(landing / "step_trainer" / "landing", "s.json", [json.dumps(s) for s in CLEAN_STEPS])
    warehouse = RedshiftStandIn(aws.s3, str(tmp_path / "lake"))
    monkeypatch.setattr(RedshiftBackend, "connect", lambda self, read_only=False: warehouse)
    monkeypatch.setenv("STEDI_REDSHIFT_IAM_ROLE", "arn:aws:iam::123456789012:role/stedi-redshift-copy")
    stage = f"s3://{aws.bucket}/prod/stage"
    summary = stedi_lakehouse(
        landing=str(landing),
        lake=str(tmp_path / "lake"),
        warehouse="redshift://loader@stedi.example:5439/analytics",
        warehouse_stage=stage,
        runner="local",
    ).to_json()

    version = lake.current_version(str(tmp_path / "lake"), "gold")
    prefixes = {staging: copied[0] for staging, copied in warehouse.copied.items()}
    assert prefixes["staging_step_trainer_readings"] == f"{stage}/_zones/gold/{version}/step_trainer_readings/"
    assert summary["warehouse"]["tables"]["step_trainer_readings"] == len(CLEAN_STEPS)
    assert warehouse.committed and read_prefix(aws.s3, stage + "/")[0] == []


def test_a_failed_run_still_accounts_in_its_summary_and_artifacts(prefect_api, spark, tmp_path):
    """The quarantine threshold fails the run after bronze: bronze's figures are reported all the same."""
    from flows.stedi_lakehouse import stedi_lakehouse
    from stedi.summary import RunFailed
    from tasks.reports import ACCOUNTING_KEY, SUMMARY_KEY

    landing = tmp_path / "landing"
    write_lines(landing / "customer" / "landing", "c.json", [json.dumps(CLEAN_CUSTOMER)])
    write_lines(landing / "accelerometer" / "landing", "a.json", [json.dumps(CLEAN_READINGS[0]), "{oops", "{oops"])
    write_lines(landing / "step_trainer" / "landing", "s.json", [json.dumps(s) for s in CLEAN_STEPS] * 2)
    state = stedi_lakehouse(
        landing=str(landing), lake=str(tmp_path / "lake"), warehouse="none", runner="local", return_state=True
    )

    assert state.is_failed()
    with pytest.raises(RunFailed, match=r"QuarantineThresholdError: quarantine share above 5%: accelerometer: 2 of 3"):
        state.result()
    summary = json.loads(
        (tmp_path / "lake" / "_reports" / str(state.state_details.flow_run_id) / "summary.json").read_text()
    )
    assert summary["status"] == "failed" and summary["error"].startswith("QuarantineThresholdError: ")
    assert summary["sources"]["accelerometer"] | {"flagged": None, "extra_fields": None} == {
        "files": {"landing": 1, "read": 1, "quarantined": {}},
        "quarantined_files": [],
        "skipped": [],
        "landing": 3,
        "accepted": None,
        "filtered": {},
        "quarantined": {"malformed_json": 2},
        "flagged": None,
        "extra_fields": None,
    }
    assert summary["sources"]["step_trainer"]["filtered"] == {"duplicate_record": 4}
    assert summary["tables"]["step_trainer_landing"] == {"rows": 8}
    # a broken export publishes nothing, bronze included: the next run reads its files again
    assert {zone: z["this_run"] for zone, z in summary["zones"].items()} == {
        "bronze": False,
        "quarantine": False,
        "silver": False,
        "gold": False,
    }

    by_key = artifacts_of(state.state_details.flow_run_id)
    accounting = {row["source"]: row for row in json.loads(by_key[ACCOUNTING_KEY].data)}
    assert (
        accounting["accelerometer"]["quarantined"] == "malformed_json: 2"
        and accounting["accelerometer"]["landing"] == "3"
    )
    assert ": failed" in by_key[SUMMARY_KEY].data and "QuarantineThresholdError" in by_key[SUMMARY_KEY].data


def test_a_run_on_a_lake_another_run_holds_fails_at_once(prefect_api, tmp_path):
    from flows.stedi_lakehouse import stedi_lakehouse
    from stedi import lake

    with lake.lock(str(tmp_path / "lake"), "the-first-run"):
        state = stedi_lakehouse(lake=str(tmp_path / "lake"), warehouse="none", runner="local", return_state=True)
    assert state.is_failed()
    with pytest.raises(lake.LakeBusyError, match="being written by run the-first-run"):
        state.result()
    assert not (tmp_path / "lake" / "_zones").exists()  # nothing was written


def test_a_warehouse_url_holding_a_password_is_refused_as_a_flow_parameter(prefect_api, tmp_path):
    """Prefect stores a flow run's parameters: a password in one would sit in its database."""
    from flows.stedi_lakehouse import stedi_lakehouse
    from stedi.settings import SettingsError

    state = stedi_lakehouse(
        lake=str(tmp_path / "lake"),
        warehouse="postgresql://loader:hunter22@db:5432/x",
        runner="local",
        return_state=True,
    )
    assert state.is_failed()
    with pytest.raises(
        SettingsError, match=r"^the warehouse URL postgresql://loader:\*\*\*@db:5432/x holds a password"
    ):
        state.result()
    assert not (tmp_path / "lake").exists()


def test_a_deterministic_warehouse_error_is_not_retried(prefect_api, tmp_path):
    """Gold that is no Parquet fails the load the same way every time: the task runs once, not three times."""
    import anyio
    from prefect import flow, get_client

    from stedi import lake
    from stedi.warehouse.catalog import load_catalog
    from tasks.warehouse import load_warehouse

    gold = lake.Zone(str(tmp_path / "lake"), "gold", "run-1")
    for table in load_catalog().tables:
        Path(gold.path(table.name)).mkdir(parents=True)
        (Path(gold.path(table.name)) / "part-0.parquet").write_text("not parquet")
    gold.publish()

    states = []

    @flow
    def load_once() -> None:
        states.append(load_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}", str(tmp_path / "lake"), return_state=True))

    load_once()
    state = states[0]

    async def run_count() -> int:
        async with get_client() as client:
            return (await client.read_task_run(state.state_details.task_run_id)).run_count

    assert state.is_failed() and anyio.run(run_count) == 1


def run_on_glue(aws, monkeypatch):
    from flows.stedi_lakehouse import stedi_lakehouse

    monkeypatch.setenv("STEDI_GLUE_POLL_SECONDS", "0")
    # No warehouse: Redshift would COPY the gold that moto's job runs never wrote (tests/stedi/warehouse
    # covers the Redshift load); the lake's tables are what Athena reads through the Glue Data Catalog.
    return stedi_lakehouse(
        landing=f"s3://{aws.bucket}/prod/landing",
        lake=f"s3://{aws.bucket}/prod/lake",
        warehouse="none",
        runner="glue",
        return_state=True,
    )


@pytest.mark.integration  # replays the reports of the session's sample runs
def test_the_glue_flow_runs_each_job_once_and_publishes_what_the_runs_reported(
    prefect_api, glue_deployed, sample_runs, monkeypatch
):
    from prefect_aws import AwsCredentials

    from stedi.aws import CREDENTIALS_BLOCK_ENV
    from tests.aws import REGION, sample_reports

    local = sample_runs["first"]
    for job, report in sample_reports(sample_runs["first_lake"]).items():
        glue_deployed.stand_in.writes_report(f"stedi-{job}", job, report, published=sample_runs["first_lake"])
    # The flow's credentials from a Prefect block, as a Prefect Cloud worker gets them: none in the environment
    AwsCredentials(aws_access_key_id="block-key", aws_secret_access_key="block-secret", region_name=REGION).save(
        "stedi-aws-test", overwrite=True
    )
    monkeypatch.setenv(CREDENTIALS_BLOCK_ENV, "stedi-aws-test")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name)

    state = run_on_glue(glue_deployed, monkeypatch)

    assert state.is_completed(), state.message
    summary = state.result().to_json()  # as the summary's JSON has it
    flow_run_id = str(state.state_details.flow_run_id)
    assert summary["run_id"] == flow_run_id
    assert summary["tables"] == local["tables"] and summary["sources"] == local["sources"]
    assert summary["tables"]["machine_learning_curated"] == {"rows": 40_981} and "warehouse" not in summary
    for job in ("bronze", "silver", "gold"):
        (job_run,) = glue_deployed.glue.get_job_runs(JobName=f"stedi-{job}")["JobRuns"]
        assert job_run["Arguments"]["--run-id"] == flow_run_id
        assert job_run["Arguments"]["--lake"] == f"s3://{glue_deployed.bucket}/prod/lake"


@pytest.mark.integration
def test_the_glue_flow_fails_with_the_job_run_s_error_and_starts_nothing_after_it(
    prefect_api, glue_deployed, sample_runs, monkeypatch
):
    from tests.aws import sample_reports

    glue_deployed.stand_in.writes_report("stedi-bronze", "bronze", sample_reports(sample_runs["first_lake"])["bronze"])
    glue_deployed.stand_in.fails("stedi-silver", "ContractViolation: machine_learning_curated: customer_key (3 rows)")

    state = run_on_glue(glue_deployed, monkeypatch)

    assert state.is_failed()
    with pytest.raises(
        Exception, match=r"stedi-silver run jr_\w+ ended FAILED: ContractViolation: machine_learning"
    ) as failure:
        state.result()
    # what bronze measured is in the failed run's summary
    failed = failure.value.summary.to_json()
    assert failed["status"] == "failed"
    assert failed["sources"]["accelerometer"]["landing"] == 81_273
    assert len(glue_deployed.glue.get_job_runs(JobName="stedi-silver")["JobRuns"]) == 1  # a failed job is not retried
    assert glue_deployed.glue.get_job_runs(JobName="stedi-gold")["JobRuns"] == []
