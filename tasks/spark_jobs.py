"""Tasks that run the Spark jobs, wherever the runner setting says."""

from __future__ import annotations

import logging
import os

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from stedi.jobs.common import JobArgs
from stedi.report import JobReport
from stedi.runners import runner_for
from stedi.text import format_count, format_counts

logger = logging.getLogger(__name__)


def _lost_sight_of_aws(task, task_run, state) -> bool:
    """Retry when talking to AWS failed for a passing reason (network, throttling, AWS's own errors), not
    when a job failed or AWS refused the call (a retry would fail the same way).

    A retry never starts a second Glue job run beside one that is still going: the Glue runner attaches
    to the run of this flow run if there is one.
    """
    try:
        state.result()
    except Exception as error:
        return is_transient_aws_error(error)
    return False


_TRANSIENT_CODES = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "InternalServiceException",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeout",
    "SlowDown",
}


def is_transient_aws_error(error: BaseException) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    if isinstance(error, (NoCredentialsError, NoRegionError)):
        return False
    if isinstance(error, BotoCoreError):  # connection refused or reset, timeouts
        return True
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.response.get("Error", {}).get("Code") in _TRANSIENT_CODES or status >= 500
    return False


_SPARK_JOB = {
    "cache_policy": NO_CACHE,
    "retries": 2,
    "retry_delay_seconds": 30,
    "retry_condition_fn": _lost_sight_of_aws,
}


def _run(job: str, args: JobArgs, runner: str, engine: str) -> JobReport:
    where = f"{engine} (local)" if runner == "local" else "AWS Glue"
    get_run_logger().info("%s: running on %s", job, where)
    report = runner_for(runner, engine).run(job, args)
    log_report(report)
    if runner == "glue":
        # Athena reads the lake through the Glue Data Catalog: after every job, every zone's tables point
        # at its current version (also catching up on a zone a failed run published but never repointed).
        from stedi import aws, lake
        from stedi.glue_catalog import follow_zones

        database = os.environ.get("STEDI_GLUE_DATABASE", "stedi")  # `stedi deploy glue --database`'s default
        for change in follow_zones(aws.client("glue"), database, args.landing, args.lake, lake.ZONES):
            logger.info("Glue Data Catalog: %s", change)
    return report


def log_report(report: JobReport) -> None:
    """What the job did, in the flow run's logs (the Prefect UI) and on the terminal of `stedi run`."""
    logger = get_run_logger()
    for name, counts in report.sources.items():
        if counts.files is not None:
            files = counts.files
            logger.info(
                "%s: %s files read, %s quarantined; %s records in, %s to bronze, filtered: %s, quarantined: %s",
                name,
                format_count(files.read),
                format_count(sum(files.quarantined.values())),
                format_count(counts.landing),
                format_count(counts.bronze),
                format_counts(counts.filtered),
                format_counts(counts.quarantined),
            )
        else:
            logger.info(
                "%s: %s accepted, filtered: %s", name, format_count(counts.accepted), format_counts(counts.filtered)
            )
    for table in report.tables:
        if table.zone != "landing":
            logger.info("%s %s: %s rows", table.zone, table.name, format_count(table.rows))
    logger.info("%s: done in %.1f s", report.job, report.elapsed_seconds)


@task(name="ingest_landing", **_SPARK_JOB)
def ingest_landing(args: JobArgs, runner: str, engine: str) -> JobReport:
    """Ingest landing JSON into bronze, quarantining records that break a rule."""
    return _run("bronze", args, runner, engine)


@task(name="curate_silver", **_SPARK_JOB)
def curate_silver(args: JobArgs, runner: str, engine: str) -> JobReport:
    """Build the trusted and curated silver tables from bronze."""
    return _run("silver", args, runner, engine)


@task(name="build_gold", **_SPARK_JOB)
def build_gold(args: JobArgs, runner: str, engine: str) -> JobReport:
    """Shape silver into the warehouse's 3NF gold tables."""
    return _run("gold", args, runner, engine)
