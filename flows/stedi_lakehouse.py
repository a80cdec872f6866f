"""The `stedi-lakehouse` flow: landing -> bronze -> silver -> gold -> warehouse, then the run summary."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from stedi import run_log
from stedi.ingestion import RunPlan, logic_id
from stedi.jobs.common import JobArgs
from stedi.lake import lock as lock_lake
from stedi.lake import prune_runs
from stedi.report import JobReport, RunSummary, SourceCounts, WarehouseLoad
from stedi.secrets import WAREHOUSE_PASSWORD_BLOCK, masked_url, without_password
from stedi.settings import Settings, SettingsError, taking_run_parameters
from stedi.summary import RunFailed, build_summary, lake_accounting
from stedi.text import one_line
from tasks.planning import plan_run
from tasks.reports import publish_run_report
from tasks.spark_jobs import build_gold, curate_silver, ingest_landing
from tasks.summary import account_records, check_quarantine, summarize_run
from tasks.warehouse import check_warehouse, load_warehouse


@flow(name="stedi-lakehouse", log_prints=True)
@taking_run_parameters
def stedi_lakehouse(**parameters: Any) -> RunSummary:
    """Run the lakehouse on one landing snapshot and load the warehouse; returns the run summary.

    Its parameters are the run settings (stedi/settings.py, Settings), each None by default: then
    STEDI_<NAME> on the worker, then the runner's default.
    """
    run_log.mask_secrets()  # in a worker's flow runs too, not only under `stedi run`
    warehouse = parameters.get("warehouse")
    if warehouse and without_password(warehouse)[1] is not None:  # Prefect has stored it with the parameters
        raise SettingsError(
            f"the warehouse URL {masked_url(warehouse)} holds a password, and Prefect stores flow parameters in its "
            "database: give the URL without it, and the password in PGPASSWORD or REDSHIFT_PASSWORD on the "
            f"worker, or in the Prefect Secret block {WAREHOUSE_PASSWORD_BLOCK!r}"
        )
    settings = Settings.resolve(**parameters)
    run_id = str(flow_run.get_id() or uuid4())
    args = JobArgs(
        landing=settings.landing,
        lake=settings.lake,
        run_id=run_id,
        ingested_at=datetime.now(UTC).isoformat(),
        consent_policy=settings.consent_policy,
        allow_empty=",".join(settings.allow_empty),
        quarantine_threshold=str(settings.quarantine_threshold),
        logic=logic_id(),
    )
    with lock_lake(settings.lake, run_id):  # one run at a time writes a lake
        try:
            return run_zones(args, settings)
        finally:
            prune_reports(settings, run_id)


def prune_reports(settings: Settings, run_id: str) -> None:
    """Keep the reports and the `stedi` logs of the newest `keep_runs` runs; housekeeping never fails a run."""
    try:
        removed = prune_runs(settings.lake, settings.keep_runs, current=run_id)
        run_log.prune(settings.lake, settings.keep_runs)
    except Exception as error:
        get_run_logger().warning("old run reports were not removed: %s", one_line(error))
        return
    if removed:
        get_run_logger().info(
            "removed the reports of %d runs older than the newest %d", len(removed), settings.keep_runs
        )


def run_zones(args: JobArgs, settings: Settings) -> RunSummary:
    """Bronze, silver, gold, the warehouse and the summary, for one run holding the lake: each stage only
    when the plan says it has something to do."""
    run_id = args.run_id
    reports: dict[str, JobReport] = {}
    loaded = None
    plan = before = None
    try:
        before = lake_accounting(settings.lake)
        if settings.loads_warehouse:  # an unreachable or locked warehouse fails the run before any work
            check_warehouse(settings.warehouse)
        plan = plan_run(
            settings.landing, settings.lake, settings.consent_policy, settings.full_refresh, settings.runner
        )
        args = replace(args, full_refresh="true" if plan.mode == "full" else "")
        if plan.bronze:
            reports["bronze"] = bronze = ingest_landing(args, settings.runner, settings.engine)
            check_quarantine(bronze, settings.quarantine_threshold, settings.lake)
        if plan.silver or "bronze" in reports:
            reports["silver"] = curate_silver(args, settings.runner, settings.engine)
            account_records(settings.lake)
        if plan.gold or "silver" in reports:
            reports["gold"] = build_gold(args, settings.runner, settings.engine)
        if settings.loads_warehouse:
            # A warehouse that already holds the lake's gold (a run with nothing new) is not loaded again.
            stage = settings.warehouse_stage if settings.stages_gold else None
            loaded = load_warehouse(settings.warehouse, settings.lake, stage, skip_if_held="gold" not in reports)
    except Exception as error:
        # Every figure measured before the failure is reported, with the error, before the run fails.
        raise RunFailed(report_failure(run_id, settings, reports, loaded, error, plan, before)) from error
    summary = summarize_run(run_id, settings.consent_policy, settings.lake, reports, loaded, plan=plan, before=before)
    publish_run_report(summary, settings.lake)
    return summary


def report_failure(
    run_id: str,
    settings: Settings,
    reports: dict[str, JobReport],
    loaded: WarehouseLoad | None,
    error: Exception,
    plan: RunPlan | None,
    before: dict[str, SourceCounts] | None,
) -> RunSummary:
    """The failed run's summary, published as the artifacts; reporting never hides the run's own error:
    what fails while reporting (the lake unreachable too) is added to the summary, not raised."""
    try:
        summary = summarize_run(
            run_id, settings.consent_policy, settings.lake, reports, loaded, one_line(error), plan=plan, before=before
        )
    except Exception as reporting:
        summary = build_summary(
            run_id,
            settings.consent_policy,
            reports.get("bronze"),
            reports.get("silver"),
            reports.get("gold"),
            loaded,
            error=one_line(error),
        )
        summary.warnings.append(f"the summary was not written to the lake: {one_line(reporting)}")
    try:
        publish_run_report(summary, settings.lake)
    except Exception as reporting:
        summary.warnings.append(f"the run report was not published to Prefect: {one_line(reporting)}")
    return summary
