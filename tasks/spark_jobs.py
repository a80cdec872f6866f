"""Tasks that run the Spark jobs, wherever the runner setting says."""

from __future__ import annotations

import logging
import os
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from stedi.jobs.common import JobArgs
from stedi.runners import runner_for

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


def _run(job: str, args: JobArgs, runner: str) -> dict[str, Any]:
    report = runner_for(runner).run(job, args)
    if runner == "glue":
        # Athena reads the lake through the Glue Data Catalog: after every job, every zone's tables point
        # at its current version (also catching up on a zone a failed run published but never repointed).
        from stedi import aws, lake
        from stedi.glue_catalog import follow_zones

        database = os.environ.get("STEDI_GLUE_DATABASE", "stedi")  # `stedi deploy glue --database`'s default
        for change in follow_zones(aws.client("glue"), database, args.landing, args.lake, lake.ZONES):
            logger.info("Glue Data Catalog: %s", change)
    return report


@task(name="ingest_landing", **_SPARK_JOB)
def ingest_landing(args: JobArgs, runner: str) -> dict[str, Any]:
    """Ingest landing JSON into bronze, quarantining records that break a rule."""
    return _run("bronze", args, runner)


@task(name="curate_silver", **_SPARK_JOB)
def curate_silver(args: JobArgs, runner: str) -> dict[str, Any]:
    """Build the trusted and curated silver tables from bronze."""
    return _run("silver", args, runner)


@task(name="build_gold", **_SPARK_JOB)
def build_gold(args: JobArgs, runner: str) -> dict[str, Any]:
    """Shape silver into the warehouse's 3NF gold tables."""
    return _run("gold", args, runner)
