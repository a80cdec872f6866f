"""The task that decides what a run must do, before any engine starts (stedi/ingestion.py)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from stedi import ingestion
from stedi.secrets import MissingSecretError, PseudonymKey, load_from_aws, pseudonym_key
from stedi.text import format_counts


@task(name="plan_run", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def plan_run(
    landing: str, lake: str, consent_policy: str, full_refresh: bool, runner: str = "local"
) -> ingestion.RunPlan:
    """List the landing, compare it with the lake's ingestion state, and decide the run's mode and stages."""
    key = _glue_key_id() if runner == "glue" else _key_id(lake)
    built_with = ingestion.BuiltWith(consent_policy, key, ingestion.logic_id())
    plan = ingestion.plan_lake(landing, lake, full_refresh, built_with)
    stages = [name for name in ("bronze", "silver", "gold") if getattr(plan, name)]
    get_run_logger().info(
        "%s run (%s): new files %s; %s",
        plan.mode,
        plan.reason,
        format_counts(plan.new_files),
        "builds " + ", ".join(stages) if stages else "nothing to build",
    )
    return plan


def _key_id(lake: str) -> str | None:
    """The run's pseudonym key's id, where this process can know the key (not on Glue: its job reads it)."""
    try:
        return ingestion.key_id(pseudonym_key(lake).value)
    except MissingSecretError:
        return None


def _glue_key_id() -> str | None:
    """The id of the key the Glue jobs read (their Secrets Manager secret), not of one this process has: a
    rotated secret gives customers other pseudonyms, so silver and gold are rebuilt in full."""
    from stedi import aws
    from stedi.runners import GlueRunner

    secret_id = GlueRunner.from_environment().pseudonym_secret_id()
    if not secret_id:  # jobs deployed without one read STEDI_PSEUDONYM_KEY of their own run: not ours to know
        return None
    return ingestion.key_id(PseudonymKey.of(load_from_aws(secret_id, aws.client("secretsmanager"))).value)
