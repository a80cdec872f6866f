"""Tasks that load gold into the warehouse."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from stedi.report import WarehouseLoad
from stedi.text import format_count
from stedi.warehouse.backends import backend_for, is_transient
from stedi.warehouse.load import load_lake, plan_load


def _worth_retrying(task, task_run, state) -> bool:
    """Retry connection trouble, not SQL or data that failed its checks (a retry would fail the same way)."""
    try:
        state.result()
    except Exception as error:
        return is_transient(error)
    return False


@task(name="check_warehouse", cache_policy=NO_CACHE)
def check_warehouse(warehouse: str) -> None:
    """Connect to the warehouse before any work: an unreachable or locked one fails the run in seconds."""
    backend_for(warehouse).check()


@task(
    name="load_warehouse", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, retry_condition_fn=_worth_retrying
)
def load_warehouse(
    warehouse: str, lake: str, stage: str | None = None, skip_if_held: bool = False
) -> WarehouseLoad | None:
    """COPY the lake's current gold (from `stage` on S3, when given) into staging tables and MERGE into the
    warehouse in one transaction, then check it against the rows gold recorded; with `skip_if_held`, nothing
    when the warehouse holds that gold."""
    logger = get_run_logger()
    backend = backend_for(warehouse)
    plan = plan_load(backend, lake)
    if skip_if_held and plan.held == plan.gold_version:
        logger.info("%s holds the lake's gold (%s): nothing to load", backend.display_url, plan.gold_version)
        return None
    loaded = load_lake(warehouse, lake, stage, plan=plan)
    for table, rows in loaded["tables"].items():
        logger.info("%s: %s rows", table, format_count(rows))
    how = "the changed rows" if plan.changes else "the whole snapshot"
    where = f" through {stage}" if stage else ""
    logger.info(
        "loaded %s of %s%s in %.1f s; %d checks held",
        how, loaded["url"], where, loaded["seconds"], len(loaded["checks"]),
    )  # fmt: skip
    return WarehouseLoad(loaded["url"], loaded["tables"], loaded["checks"], loaded["recreated"], loaded["seconds"])
