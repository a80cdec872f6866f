"""Tasks that load gold into the warehouse."""

from __future__ import annotations

import time

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from stedi.lake import CHANGES, ZONES_DIR, is_local, join, zone_manifest
from stedi.report import WarehouseLoad
from stedi.text import format_count
from stedi.warehouse.backends import backend_for, is_transient
from stedi.warehouse.catalog import load_catalog
from stedi.warehouse.load import held_gold_version, load_gold, verify_gold_layout


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
def load_warehouse(warehouse: str, lake: str, skip_if_held: bool = False) -> WarehouseLoad | None:
    """COPY the lake's current gold into staging tables and MERGE into the warehouse in one transaction, then
    check it against the rows gold recorded; with `skip_if_held`, nothing when the warehouse holds that gold."""
    started = time.monotonic()
    backend = backend_for(warehouse)
    gold = zone_manifest(lake, "gold")
    if gold is None:
        raise FileNotFoundError(f"the lake {lake} has no gold zone to load")
    held = held_gold_version(backend)
    if skip_if_held and held == gold["version"]:
        get_run_logger().info("%s holds the lake's gold (%s): nothing to load", backend.display_url, gold["version"])
        return None
    expected_rows = gold["built_from"]["expected_rows"]
    # The warehouse holds the version this one was compared with: only the changed rows are loaded.
    changes = None
    if held is not None and held == gold["built_from"].get("changes_from"):
        changes = join(lake, ZONES_DIR, "gold", gold["version"], CHANGES)
    catalog = load_catalog()
    if is_local(lake):  # Redshift COPY maps Parquet columns by position: refuse a reordered table early
        verify_gold_layout(catalog, lake)
    loaded = load_gold(backend, lake, expected_rows, catalog, changes)
    seconds = round(time.monotonic() - started, 2)
    logger = get_run_logger()
    for table, rows in loaded["tables"].items():
        logger.info("%s: %s rows", table, format_count(rows))
    how = "the changed rows" if changes else "the whole snapshot"
    logger.info("loaded %s of %s in %.1f s; %d checks held", how, backend.display_url, seconds, len(loaded["checks"]))
    return WarehouseLoad(backend.display_url, loaded["tables"], loaded["checks"], loaded["recreated"], seconds)
