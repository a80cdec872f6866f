"""The run summary: built from the jobs' run reports (stedi/report.py), the accounting identity, the
quarantine threshold, and the summary as tables for a terminal."""

from __future__ import annotations

from stedi.report import (
    AccountingError,
    ContractOutcome,
    Files,
    JobReport,
    RunSummary,
    SourceCounts,
    WarehouseLoad,
    ZoneState,
    quarantine_breaches,
)
from stedi.secrets import redact
from stedi.sources import SOURCES
from stedi.text import format_counts, format_table


class QuarantineThresholdError(RuntimeError):
    """A source's landing is broken beyond what a run may absorb: a bad export, not stray records."""


def check_quarantine_share(bronze: JobReport, threshold: float, quarantine: str = "<lake>/quarantine") -> None:
    """Fail when any source's quarantine holds more than `threshold` (a fraction) of the lake's landing files
    or records, as a full rebuild would measure it (the bronze job then published nothing)."""
    over = quarantine_breaches(bronze.lake or bronze.sources, threshold)
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


def lake_accounting(lake_root: str) -> dict[str, SourceCounts] | None:
    """Every source's records since the lake's first run, as its published zones account for them: bronze's
    totals (stedi/ingestion.py) and silver's accepted and filtered; None before both are published."""
    from stedi import ingestion, lake

    state, silver = ingestion.read_state(lake_root), lake.zone_manifest(lake_root, "silver")
    accounting = (silver or {}).get("built_from", {}).get("accounting")
    if state is None or accounting is None:
        return None
    return {
        name: state.totals[name].as_counts().then(SourceCounts(**accounting[name]))
        if name in state.totals
        else SourceCounts()
        for name in SOURCES
    }


def changes(before: dict[str, SourceCounts] | None, after: dict[str, SourceCounts] | None) -> dict[str, dict[str, int]]:
    """How each bucket of the lake's accounting moved in a run: landing, accepted, each reason filtered and
    each rule quarantined; only what moved. A withdrawn consent shows as accepted -n, a reason +n."""
    if after is None:
        return {}

    def buckets(counts: SourceCounts | None) -> dict[str, int]:
        if counts is None:
            return {}
        return {"landing": counts.landing or 0, "accepted": counts.accepted or 0,
                **{f"filtered: {r}": n for r, n in counts.filtered.items()},
                **{f"quarantined: {r}": n for r, n in counts.quarantined.items()}}  # fmt: skip

    moved = {}
    for name in SOURCES:
        old, new = buckets((before or {}).get(name)), buckets(after.get(name))
        delta = {bucket: new.get(bucket, 0) - old.get(bucket, 0) for bucket in sorted({*old, *new})}
        moved[name] = {bucket: n for bucket, n in delta.items() if n}
    return moved


def build_summary(
    run_id: str,
    consent_policy: str,
    bronze: JobReport | None,
    silver: JobReport | None = None,
    gold: JobReport | None = None,
    warehouse: WarehouseLoad | None = None,
    zones: dict[str, ZoneState] | None = None,
    error: str | None = None,
    accounting: dict[str, SourceCounts] | None = None,
) -> RunSummary:
    """The run summary from the jobs' run reports (and the warehouse load, once it ran), and the lake's
    `accounting` (lake_accounting) once its zones are published.

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
        summary.mode, summary.new_files = bronze.mode, bronze.new_files
        summary.this_run = dict(bronze.sources)
    if accounting is not None:  # the lake as a whole, with this run's files, flags and warnings
        runs = summary.sources
        summary.sources = {name: _with_this_run(accounting[name], runs.get(name)) for name in SOURCES}
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


def _with_this_run(lake: SourceCounts, run: SourceCounts | None) -> SourceCounts:
    if run is None:
        return lake
    return SourceCounts(lake.landing, lake.accepted, lake.bronze, lake.filtered, lake.quarantined, run.flagged,
                        run.extra_fields, run.files, run.warnings, run.moved)  # fmt: skip


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
    lines = [f"run {summary.run_id}: {summary.status} (consent policy: {summary.consent_policy})"]
    if summary.mode is not None:
        lines.append(f"{summary.mode} run ({summary.mode_reason}); new files: {format_counts(summary.new_files)}")
    lines.append("")
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
    if summary.mode == "incremental":
        lines += ["", "(files: this run's new files; the other figures: the lake's records since its first run)"]
        lines += [f"{name}: this run: {_describe_run(s)}" for name, s in summary.this_run.items() if s.landing]
        lines += [f"{name}: moved: {format_counts(moved)}" for name, moved in summary.changes.items() if moved]
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


def _describe_run(run: SourceCounts) -> str:
    """This run's lines of a source: `1,200 lines: 1,150 to bronze, duplicate_record 40, malformed_json 10`."""
    parts = [f"{run.bronze or 0:,} to bronze", *(f"{r} {n:,}" for r, n in {**run.filtered, **run.quarantined}.items())]
    parts += [f"{what} {n:,}" for what, n in run.moved.items()]
    return f"{run.landing or 0:,} lines: " + ", ".join(parts)


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
