"""Tasks that turn the jobs' run reports into the run summary."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from stedi import lake
from stedi.ingestion import RunPlan
from stedi.report import JobReport, RunSummary, SourceCounts, WarehouseLoad, ZoneState
from stedi.summary import (
    AccountingError,
    build_summary,
    changes,
    check_accounting,
    check_quarantine_share,
    lake_accounting,
)


@task(name="check_quarantine", cache_policy=NO_CACHE)
def check_quarantine(bronze: JobReport, threshold: float, lake_root: str) -> None:
    """Fail the run when a source quarantined more than `threshold` of its landing files or records."""
    check_quarantine_share(bronze, threshold, lake.table_path(lake_root, "quarantine", "").rstrip("/"))


@task(name="account_records", cache_policy=NO_CACHE)
def account_records(lake_root: str) -> None:
    """Fail the run when a landing record of the lake is neither accepted, filtered nor quarantined."""
    accounting = lake_accounting(lake_root)
    if accounting is None:
        raise AccountingError(f"the lake {lake_root} has no published bronze state or silver accounting")
    check_accounting(RunSummary("succeeded", "", "", sources=accounting))


@task(name="summarize_run", cache_policy=NO_CACHE)
def summarize_run(
    run_id: str,
    consent_policy: str,
    lake_root: str,
    reports: dict[str, JobReport],
    warehouse: WarehouseLoad | None,
    error: str | None = None,
    plan: RunPlan | None = None,
    before: dict[str, SourceCounts] | None = None,
) -> RunSummary:
    """Build the run summary from the jobs' reports, the warehouse load and the lake's zones; a failed run's
    from whatever was measured before it failed."""
    zones = {}
    for zone in lake.ZONES:
        holds = lake.zone_run_id(lake_root, zone)
        zones[zone] = ZoneState(holds, holds == run_id)
    summary = build_summary(
        run_id,
        consent_policy,
        reports.get("bronze"),
        reports.get("silver"),
        reports.get("gold"),
        warehouse,
        zones,
        error,
        accounting=lake_accounting(lake_root),
    )
    if plan is not None:
        summary.mode, summary.mode_reason, summary.new_files = plan.mode, plan.reason, plan.new_files
    summary.changes = changes(before, summary.sources if summary.sources else None)
    lake.write_json(lake.report_path(lake_root, run_id, "summary"), summary.to_json())
    return summary
