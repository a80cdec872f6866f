"""Publishing the run summary to the Prefect UI as artifacts."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from stedi.lake import join
from stedi.report import Files, RunSummary
from stedi.summary import describe_files
from stedi.text import format_count, format_counts

ROWS_KEY = "stedi-rows"
ACCOUNTING_KEY = "stedi-accounting"
CONTRACTS_KEY = "stedi-contracts"
SUMMARY_KEY = "stedi-run-summary"


@task(name="publish_run_report", cache_policy=NO_CACHE)
def publish_run_report(summary: RunSummary, lake: str) -> None:
    """Publish rows per table, the accounting per source and the contract results as artifacts."""
    rows = [{"zone": t.zone, "table": t.name, "rows": format_count(t.rows)} for t in summary.tables]
    if summary.warehouse is not None:
        rows += [
            {"zone": "warehouse", "table": t, "rows": format_count(n)} for t, n in summary.warehouse.tables.items()
        ]
    create_table_artifact(rows, key=ROWS_KEY, description="Rows per zone and table")
    accounting = [
        {
            "source": name,
            "files": describe_files(s.files),
            "landing": format_count(s.landing),
            "accepted": format_count(s.accepted),
            "filtered": format_counts(s.filtered, ": "),
            "quarantined": format_counts(s.quarantined, ": "),
            "flagged (kept)": format_counts(s.flagged, ": "),
            "unknown fields": format_counts(s.extra_fields, ": "),
        }
        for name, s in summary.sources.items()
    ]
    create_table_artifact(
        accounting,
        key=ACCOUNTING_KEY,
        description="Every landing file read or quarantined, every record accepted, filtered or quarantined",
    )
    contracts = [
        {
            "table": t,
            "passed": "yes" if c.passed else "NO",
            "checks": format_count(c.checks),
            "names": ", ".join(c.names) or "-",
        }
        for t, c in summary.contracts.items()
    ]
    create_table_artifact(contracts, key=CONTRACTS_KEY, description="Silver data contracts")
    create_markdown_artifact(
        key=SUMMARY_KEY, description="STEDI lakehouse run summary", markdown=_markdown(summary, lake)
    )


def _markdown(summary: RunSummary, lake: str) -> str:
    sources = summary.sources.values()
    accepted = [s.accepted for s in sources if s.accepted is not None]
    training_set = summary.table("machine_learning_curated")
    error = f"\n**Error:** `{summary.error}`\n" if summary.error else ""
    files = "".join(
        f"\n- {name}: `{q['path']}`: {q['rule']} ({q['detail']})"
        for name, s in summary.sources.items()
        for q in (s.files or Files()).quarantined_files
    )
    skipped = "".join(
        f"\n- {name}: `{e['path']}`: {e['reason']}"
        for name, s in summary.sources.items()
        for e in (s.files or Files()).skipped
    )
    zones = "".join(
        f"\n- {zone}: {'this run' if z.this_run else z.run_id or 'not published yet'}"
        for zone, z in (summary.zones or {}).items()
    )
    warnings = "".join(f"\n- {w}" for w in summary.warnings) or "\nnone"
    warehouse = summary.warehouse.url if summary.warehouse is not None else "-"
    artifacts = f"/runs/flow-run/{summary.run_id}?tab=Artifacts"
    stages = " ".join(f"{stage} {seconds:.1f} s," for stage, seconds in summary.seconds.items()).rstrip(",") or "-"
    return f"""# STEDI lakehouse run `{summary.run_id}`: {summary.status}
{error}
Consent policy: **{summary.consent_policy}**. Warehouse: `{warehouse}`.
Quarantine: `{join(lake, "quarantine")}/` (a folder per source, and `files/`). Time per stage: {stages}.

| | |
|---|---|
| machine-learning training set | **{training_set.rows if training_set else 0:,}** rows |
| landing records | {sum(s.landing or 0 for s in sources):,} |
| accepted | {f"{sum(accepted):,}" if accepted else "-"} |
| filtered (business rules, duplicates) | {sum(sum(s.filtered.values()) for s in sources):,} |
| quarantined | {sum(sum(s.quarantined.values()) for s in sources):,} |

Details: [this run's rows per table, accounting per source and data contracts]({artifacts}).

Which run each zone of the lake holds:{zones or chr(10) + "-"}

Files quarantined whole:{files or chr(10) + "none"}

Entries skipped in the landing:{skipped or chr(10) + "none"}

Warnings:{warnings}
"""
