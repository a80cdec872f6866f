"""Tasks that turn the jobs' run reports into the run summary."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from stedi import lake
from stedi.report import JobReport, RunSummary, WarehouseLoad, ZoneState
from stedi.summary import build_summary, check_accounting, check_quarantine_share


@task(name="check_quarantine", cache_policy=NO_CACHE)
def check_quarantine(bronze: JobReport, threshold: float, lake_root: str) -> None:
    """Fail the run when a source quarantined more than `threshold` of its landing files or records."""
    check_quarantine_share(bronze, threshold, lake.table_path(lake_root, "quarantine", "").rstrip("/"))


@task(name="account_records", cache_policy=NO_CACHE)
def account_records(run_id: str, consent_policy: str, bronze: JobReport, silver: JobReport) -> None:
    """Fail the run when a landing record is neither accepted, filtered nor quarantined."""
    check_accounting(build_summary(run_id, consent_policy, bronze, silver))


@task(name="summarize_run", cache_policy=NO_CACHE)
def summarize_run(
    run_id: str,
    consent_policy: str,
    lake_root: str,
    reports: dict[str, JobReport],
    warehouse: WarehouseLoad | None,
    error: str | None = None,
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
    )
    lake.write_json(lake.report_path(lake_root, run_id, "summary"), summary.to_json())
    return summary
