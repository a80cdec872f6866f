"""Tasks that turn the jobs' run reports into the run summary."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from stedi.summary import build_summary, check_accounting


@task(name="summarize_run", cache_policy=NO_CACHE)
def summarize_run(run_id: str, consent_policy: str, bronze: dict[str, Any], silver: dict[str, Any]) -> dict[str, Any]:
    """Build the run summary and fail the run when a landing record is unaccounted for."""
    summary = build_summary(run_id, consent_policy, bronze, silver)
    check_accounting(summary)
    return summary
