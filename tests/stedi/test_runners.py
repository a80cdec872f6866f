"""The Glue runner against moto's server: job runs to completion, Glue's errors, timeouts, no duplicates."""

from __future__ import annotations

import itertools

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from stedi.jobs.common import JobArgs
from stedi.runners import GlueJobError, GlueRunner, runner_for
from tasks.spark_jobs import is_transient_aws_error

REPORT = {"job": "bronze", "tables": {"customer_landing": {"rows": 956}}}


def job_args(aws, run_id="flow-run-1") -> JobArgs:
    return JobArgs(
        landing=f"s3://{aws.bucket}/prod/landing",
        lake=f"s3://{aws.bucket}/prod/lake",
        run_id=run_id,
        ingested_at="2026-11-22T00:00:00+00:00",
    )


def runner(aws, **options) -> GlueRunner:
    return GlueRunner(aws.glue, poll_s=0, sleep=lambda s: None, **options)


def test_a_job_run_to_completion_returns_the_report_the_job_wrote(glue_deployed):
    glue_deployed.stand_in.writes_report("stedi-bronze", "bronze", REPORT)
    report = runner(glue_deployed).run("bronze", job_args(glue_deployed)).to_json()
    assert report["tables"] == REPORT["tables"] and report["run_id"] == "flow-run-1"
    (job_run,) = glue_deployed.glue.get_job_runs(JobName="stedi-bronze")["JobRuns"]
    assert job_run["Arguments"]["--run-id"] == "flow-run-1"
    assert job_run["Arguments"]["--lake"] == f"s3://{glue_deployed.bucket}/prod/lake"


def test_the_planner_knows_the_key_the_glue_jobs_read_and_when_it_was_rotated(glue_deployed, monkeypatch):
    """On Glue the jobs read the key from their Secrets Manager secret, not from the flow's environment: the
    planner names that key, so a rotated secret rebuilds silver and gold instead of mixing pseudonyms."""
    import boto3

    from deployments.glue import DEFAULT_SECRET_ID
    from stedi import ingestion
    from stedi.secrets import PseudonymKey
    from tasks.planning import _glue_key_id

    monkeypatch.setenv("STEDI_PSEUDONYM_KEY", "a key the flow's machine has, which no job reads")
    built = _glue_key_id()
    assert built == ingestion.key_id(PseudonymKey.of("the glue jobs' key").value)
    boto3.client("secretsmanager").put_secret_value(SecretId=DEFAULT_SECRET_ID, SecretString="a rotated key")
    rotated = ingestion.BuiltWith("ever", _glue_key_id(), "logic")
    assert rotated.key_id != built
    assert rotated.differs_from({"consent_policy": "ever", "key_id": built, "logic": "logic"}) == (
        "the pseudonym key changed"
    )


def test_a_failed_job_run_fails_with_glue_s_error_message(glue_deployed):
    glue_deployed.stand_in.fails("stedi-silver", "ContractViolation: customer_trusted: customer_email unique (2 rows)")
    with pytest.raises(
        GlueJobError, match=r"stedi-silver run jr_\w+ ended FAILED: ContractViolation: customer_trusted"
    ):
        runner(glue_deployed).run("silver", job_args(glue_deployed))


def test_a_retry_attaches_to_the_run_of_its_flow_run_instead_of_starting_another(glue_deployed):
    glue_deployed.stand_in.keeps_running()
    first = runner(glue_deployed).start_or_attach("stedi-gold", job_args(glue_deployed))
    again = runner(glue_deployed).start_or_attach("stedi-gold", job_args(glue_deployed))
    assert again == first
    assert len(glue_deployed.glue.get_job_runs(JobName="stedi-gold")["JobRuns"]) == 1


def test_a_retry_after_a_failed_run_starts_a_new_one(glue_deployed):
    glue_deployed.stand_in.fails("stedi-gold", "out of memory")
    failed = runner(glue_deployed).start_or_attach("stedi-gold", job_args(glue_deployed))
    glue_deployed.stand_in.writes_report("stedi-gold", "gold", REPORT)
    retried = runner(glue_deployed).start_or_attach("stedi-gold", job_args(glue_deployed))
    assert retried != failed


def test_another_flow_run_s_active_run_is_not_taken_for_ours(glue_deployed):
    glue_deployed.stand_in.keeps_running()
    runner(glue_deployed).start_or_attach("stedi-bronze", job_args(glue_deployed, run_id="flow-run-1"))
    with pytest.raises(GlueJobError, match="already running for another flow run"):
        runner(glue_deployed).start_or_attach("stedi-bronze", job_args(glue_deployed, run_id="flow-run-2"))


def test_a_run_that_outlives_the_timeout_fails_the_wait(glue_deployed):
    glue_deployed.stand_in.keeps_running()
    ticks = itertools.count(step=60)  # each poll is a minute later
    slow = runner(glue_deployed, timeout_s=300, clock=lambda: next(ticks))
    with pytest.raises(GlueJobError, match=r"still STARTING after 5 minutes; asked Glue to stop it"):
        slow.run("bronze", job_args(glue_deployed))
    (job_run,) = glue_deployed.glue.get_job_runs(JobName="stedi-bronze")["JobRuns"]
    assert job_run["JobRunState"] == "STOPPED"


def test_by_default_the_wait_ends_a_little_after_the_job_s_own_timeout(glue_deployed):
    glue_deployed.stand_in.keeps_running()
    ticks = itertools.count(step=60)
    with pytest.raises(GlueJobError, match=r"still STARTING after 65 minutes"):  # 60 glue_deployed + 5 of grace
        runner(glue_deployed, clock=lambda: next(ticks)).run("bronze", job_args(glue_deployed))


def test_a_job_that_was_never_glue_deployed_is_named(aws):
    with pytest.raises(GlueJobError, match="stedi-bronze does not exist: run `stedi deploy glue` first"):
        runner(aws).run("bronze", job_args(aws))


def test_runner_for_names_the_runners():
    with pytest.raises(ValueError, match="unknown runner 'emr'"):
        runner_for("emr")


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        # the network or AWS itself: the retry attaches to the run it lost sight of
        (EndpointConnectionError(endpoint_url="https://glue.us-east-1.amazonaws.com"), True),
        (ClientError({"Error": {"Code": "ThrottlingException"}}, "GetJobRun"), True),
        (
            ClientError(
                {"Error": {"Code": "InternalServiceException"}, "ResponseMetadata": {"HTTPStatusCode": 500}},
                "StartJobRun",
            ),
            True,
        ),
        # refusals and failed jobs: the same call would fail the same way
        (
            ClientError(
                {"Error": {"Code": "AccessDeniedException"}, "ResponseMetadata": {"HTTPStatusCode": 400}}, "StartJobRun"
            ),
            False,
        ),
        (NoCredentialsError(), False),
        (GlueJobError("Glue job stedi-silver run jr_1 ended FAILED: ContractViolation"), False),
    ],
)
def test_the_spark_job_tasks_retry_only_passing_aws_trouble(error, retry):
    assert is_transient_aws_error(error) is retry
