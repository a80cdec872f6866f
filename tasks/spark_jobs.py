"""Tasks that run the Spark jobs, wherever the runner setting says."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from stedi.jobs.common import JobArgs
from stedi.runners import runner_for


@task(name="ingest_landing", cache_policy=NO_CACHE)
def ingest_landing(args: JobArgs, runner: str) -> dict[str, Any]:
    """Ingest landing JSON into bronze, quarantining records that break a rule."""
    return runner_for(runner).run("bronze", args)


@task(name="curate_silver", cache_policy=NO_CACHE)
def curate_silver(args: JobArgs, runner: str) -> dict[str, Any]:
    """Build the trusted and curated silver tables from bronze."""
    return runner_for(runner).run("silver", args)


@task(name="build_gold", cache_policy=NO_CACHE)
def build_gold(args: JobArgs, runner: str) -> dict[str, Any]:
    """Shape silver into the warehouse's 3NF gold tables."""
    return runner_for(runner).run("gold", args)
