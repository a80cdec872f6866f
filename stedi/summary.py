"""The run summary: built from the jobs' run reports (stedi/report.py), the accounting identity, the
quarantine threshold, and the summary as tables for a terminal."""

from __future__ import annotations

from stedi.report import (
    ContractOutcome,
    Files,
    JobReport,
    RunSummary,
    SourceCounts,
    WarehouseLoad,
    ZoneState,
)
from stedi.rules import over_threshold
from stedi.secrets import redact
from stedi.sources import SOURCES
from stedi.text import format_counts, format_table


class AccountingError(RuntimeError):
    """Some landing records are neither accepted, filtered nor quarantined (or are counted twice)."""


class QuarantineThresholdError(RuntimeError):
    """A source's landing is broken beyond what a run may absorb: a bad export, not stray records."""


def check_quarantine_share(bronze: JobReport, threshold: float, quarantine: str = "<lake>/quarantine") -> None:
    """Fail when any source quarantined more than `threshold` (a fraction) of its landing files or records."""
    over = []
    for name, source in bronze.sources.items():
        files = source.files or Files()
        measures = [("records", source.landing or 0, source.quarantined), ("files", files.landing, files.quarantined)]
        for what, landing, by_rule in measures:
            quarantined = sum(by_rule.values())
            if over_threshold(quarantined, landing, threshold):
                reasons = format_counts(dict(sorted(by_rule.items())))
                over.append(f"{name}: {quarantined:,} of {landing:,} {what} ({quarantined / landing:.1%}: {reasons})")
    if over:
        raise QuarantineThresholdError(
            f"quarantine share above {threshold:.0%}: " + "; ".join(over) + f" (see {quarantine}/)"
        )


class RunFailed(RuntimeError):
    """A run failed; `summary` holds every figure measured before the failure, and the error."""

    def __init__(self, summary: RunSummary) -> None:
        self.summary = summary
        super().__init__(summary.error)


def _check_name(check: dict) -> str:
    column = check.get("column")
    return f"{column}: {check.get('check')}" if column else str(check.get("check"))


def build_summary(
    run_id: str,
    consent_policy: str,
    bronze: JobReport | None,
    silver: JobReport | None = None,
    gold: JobReport | None = None,
    warehouse: WarehouseLoad | None = None,
    zones: dict[str, ZoneState] | None = None,
    error: str | None = None,
) -> RunSummary:
    """The run summary from the jobs' run reports (and the warehouse load, once it ran).

    A failed run (`error`) has the reports of the jobs that finished: a figure that was never measured
    is None (`accepted` before silver ran), never a guess.
    """
    summary = RunSummary("failed" if error else "succeeded", run_id, consent_policy, redact(error) if error else None)
    if bronze is not None:
        summary.sources = {
            name: bronze.sources[name].then(silver.sources[name] if silver is not None else None) for name in SOURCES
        }
        summary.tables = [t for t in bronze.tables if t.zone == "landing"]
        summary.warnings = [w for name in SOURCES for w in bronze.sources[name].warnings]
    if silver is not None:
        summary.tables += silver.tables
        summary.contracts = {
            c.table: ContractOutcome(c.passed, len(c.checks), [_check_name(check) for check in c.checks])
            for c in silver.contracts
        }
    if gold is not None:
        summary.tables += gold.tables
        summary.warnings += gold.warnings
    summary.zones = zones
    summary.seconds = {job.job: job.elapsed_seconds for job in (bronze, silver, gold) if job is not None}
    if warehouse is not None:
        summary.warehouse = warehouse
        summary.seconds["warehouse"] = warehouse.seconds
        summary.warnings += [
            f"warehouse table {name} was recreated: its columns differ from sql/gold/{name}.sql"
            for name in warehouse.recreated
        ]
    summary.warnings = [redact(warning) for warning in summary.warnings]
    return summary


def accounting(source: SourceCounts) -> dict[str, object]:
    """The figures of the accounting identity for one source."""
    return source.accounting()


def unaccounted(source: SourceCounts) -> int:
    """Landing records minus those accepted, filtered and quarantined: 0 when every record is accounted for."""
    return source.unaccounted


def check_accounting(summary: RunSummary) -> None:
    gaps = {
        name: (source.unaccounted, (source.files or Files()).unaccounted) for name, source in summary.sources.items()
    }
    broken = {name: gap for name, gap in gaps.items() if gap != (0, 0)}
    if broken:
        detail = ", ".join(
            f"{name}: {gap:+d} {what} unaccounted"
            for name, gaps_of_source in broken.items()
            for what, gap in zip(("records", "files"), gaps_of_source, strict=True)
            if gap
        )
        raise AccountingError(f"landing != accepted + filtered + quarantined ({detail})")


def render(summary: RunSummary) -> str:
    """The summary as plain-text tables for a terminal."""
    lines = [f"run {summary.run_id}: {summary.status} (consent policy: {summary.consent_policy})", ""]
    lines += format_table(["table", "rows"], [[t.key, f"{t.rows:,}"] for t in summary.tables])
    lines.append("")
    rows = [
        [
            name,
            describe_files(s.files),
            _count(s.landing),
            _count(s.accepted),
            format_counts(s.filtered),
            format_counts(s.quarantined),
        ]
        for name, s in summary.sources.items()
    ]
    lines += format_table(["source", "files", "landing", "accepted", "filtered", "quarantined"], rows)
    notes = [(name, "flagged (kept)", s.flagged) for name, s in summary.sources.items()]
    notes += [(name, "unknown fields (kept in bronze)", s.extra_fields) for name, s in summary.sources.items()]
    lines += [f"{name}: {what}: {format_counts(counts)}" for name, what, counts in notes if counts]
    for name, s in summary.sources.items():
        files = s.files or Files()
        lines += _listed(
            name, "file quarantined", [f"{q['path']}: {q['rule']} ({q['detail']})" for q in files.quarantined_files]
        )
        lines += _listed(name, "skipped", [f"{e['path']}: {e['reason']}" for e in files.skipped])
    if summary.warehouse is not None:
        lines += ["", f"warehouse {summary.warehouse.url}: all checks passed"]
        lines += format_table(["table", "rows"], [[n, f"{r:,}"] for n, r in summary.warehouse.tables.items()])
    if summary.status != "succeeded":
        lines += ["", *_zone_lines(summary.zones or {}), f"error: {summary.error}"]
    lines += [f"warning: {w}" for w in summary.warnings]
    return "\n".join(lines)


_LISTED = 10  # entries per source and kind on the terminal; the JSON summary holds them all


def _listed(source: str, what: str, entries: list[str]) -> list[str]:
    lines = [f"{source}: {what}: {entry}" for entry in entries[:_LISTED]]
    if len(entries) > _LISTED:
        lines.append(f"{source}: {what}: ... and {len(entries) - _LISTED:,} more (see the summary's JSON)")
    return lines


def describe_files(files: Files | None) -> str:
    """`9`, or `9 (1 quarantined)` when files were quarantined whole; `-` before bronze measured them."""
    if files is None:
        return "-"
    quarantined = sum(files.quarantined.values())
    return f"{files.landing:,}" + (f" ({quarantined:,} quarantined)" if quarantined else "")


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _zone_lines(zones: dict[str, ZoneState]) -> list[str]:
    """Which run's version each zone holds after a failed run: this run's, or an earlier one's."""
    return [
        f"zone {zone}: "
        + (
            "published by this run"
            if state.this_run
            else f"kept from run {state.run_id}"
            if state.run_id
            else "not published yet"
        )
        for zone, state in zones.items()
    ]
