"""Tasks that load gold into the warehouse."""

from __future__ import annotations

import time

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from stedi.lake import is_local
from stedi.report import WarehouseLoad
from stedi.text import format_count
from stedi.warehouse.backends import backend_for, is_transient
from stedi.warehouse.catalog import load_catalog
from stedi.warehouse.load import load_gold, verify_gold_layout


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
def load_warehouse(warehouse: str, lake: str, expected_rows: dict[str, int]) -> WarehouseLoad:
    """COPY gold into staging tables and MERGE into the warehouse in one transaction, then check it.

    `expected_rows`: rows per gold table (and the training-set view) that the warehouse must hold after.
    """
    started = time.monotonic()
    backend = backend_for(warehouse)
    catalog = load_catalog()
    if is_local(lake):  # Redshift COPY maps Parquet columns by position: refuse a reordered table early
        verify_gold_layout(catalog, lake)
    loaded = load_gold(backend, lake, expected_rows, catalog)
    seconds = round(time.monotonic() - started, 2)
    logger = get_run_logger()
    for table, rows in loaded["tables"].items():
        logger.info("%s: %s rows", table, format_count(rows))
    logger.info("loaded %s in %.1f s; %d checks held", backend.display_url, seconds, len(loaded["checks"]))
    return WarehouseLoad(backend.display_url, loaded["tables"], loaded["checks"], loaded["recreated"], seconds)
