"""The run summary: figures from the jobs' run reports, the accounting identity, a printable table."""

from __future__ import annotations

from typing import Any

from stedi.rules import over_threshold
from stedi.secrets import redact
from stedi.text import format_counts, format_table

SOURCE_TABLES = ("customer", "accelerometer", "step_trainer")


class AccountingError(RuntimeError):
    """Some landing records are neither accepted, filtered nor quarantined (or are counted twice)."""


class QuarantineThresholdError(RuntimeError):
    """A source's landing is broken beyond what a run may absorb: a bad export, not stray records."""


def check_quarantine_share(bronze: dict[str, Any], threshold: float, quarantine: str = "<lake>/quarantine") -> None:
    """Fail when any source quarantined more than `threshold` (a fraction) of its landing files or records."""
    over = []
    for name, source in bronze["sources"].items():
        files = source.get("files", {})
        measures = [
            ("records", source["landing"], source["quarantined"]),
            ("files", files.get("landing", 0), files.get("quarantined", {})),
        ]
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

    def __init__(self, summary: dict[str, Any]) -> None:
        self.summary = summary
        super().__init__(summary["error"])


def build_summary(
    run_id: str,
    consent_policy: str,
    bronze: dict[str, Any] | None,
    silver: dict[str, Any] | None = None,
    gold: dict[str, Any] | None = None,
    warehouse: dict[str, Any] | None = None,
    zones: dict[str, dict[str, Any]] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The run summary from the jobs' run reports (and the warehouse load, once it ran).

    A failed run (`error`) has the reports of the jobs that finished: a figure that was never measured
    is None (`accepted` before silver ran), never a guess.
    """
    summary: dict[str, Any] = {
        "status": "failed" if error else "succeeded",
        "run_id": run_id,
        "consent_policy": consent_policy,
    }
    if error:
        summary["error"] = redact(error)
    summary |= {"tables": {}, "sources": {}, "contracts": {}, "warnings": []}
    if bronze is not None:
        summary["sources"] = {name: _source(name, bronze, silver) for name in SOURCE_TABLES}
        summary["tables"] = {f"{name}_landing": bronze["tables"][f"{name}_landing"] for name in SOURCE_TABLES}
        summary["warnings"] = [w for name in SOURCE_TABLES for w in bronze["sources"][name].get("warnings", [])]
    if silver is not None:
        summary["tables"] |= silver["tables"]
        summary["contracts"] = {
            table: {"passed": c["passed"], "checks": len(c["checks"])}
            for table, c in silver.get("contracts", {}).items()
        }
    if gold is not None:
        summary["tables"] |= gold["tables"]
        summary["warnings"] += gold.get("warnings", [])
    if zones is not None:
        summary["zones"] = zones
    if warehouse is not None:
        summary["warehouse"] = {"url": warehouse["url"], "tables": warehouse["tables"]}
        summary["warnings"] += [
            f"warehouse table {name} was recreated: its columns differ from sql/gold/{name}.sql"
            for name in warehouse.get("recreated", [])
        ]
    summary["warnings"] = [redact(warning) for warning in summary["warnings"]]
    return summary


def _source(name: str, bronze: dict[str, Any], silver: dict[str, Any] | None) -> dict[str, Any]:
    """One source's figures: bronze counts landing, quarantined and duplicate records; silver the rest."""
    ingested = bronze["sources"][name]
    curated = silver["sources"][name] if silver is not None else {"accepted": None, "filtered": {}}
    files = ingested.get("files", {})
    return {
        "files": {key: files[key] for key in ("landing", "read", "quarantined") if key in files},
        "quarantined_files": files.get("quarantined_files", []),
        "skipped": files.get("skipped", []),
        "landing": ingested["landing"],
        "accepted": curated["accepted"],
        "filtered": dict(sorted((ingested.get("filtered", {}) | curated["filtered"]).items())),
        "quarantined": dict(sorted(ingested["quarantined"].items())),
        "flagged": ingested.get("flagged", {}),
        "extra_fields": ingested.get("extra_fields", {}),
    }


def accounting(source: dict[str, Any]) -> dict[str, Any]:
    """The figures of the accounting identity for one source."""
    return {key: source[key] for key in ("landing", "accepted", "filtered", "quarantined")}


def unaccounted(source: dict[str, Any]) -> int:
    """Landing records minus those accepted, filtered and quarantined: 0 when every record is accounted for."""
    return (
        source["landing"] - source["accepted"] - sum(source["filtered"].values()) - sum(source["quarantined"].values())
    )


def unaccounted_files(source: dict[str, Any]) -> int:
    """Landing files minus those read and those quarantined whole: 0 when every file is accounted for."""
    files = source.get("files") or {"landing": 0, "read": 0, "quarantined": {}}
    return files["landing"] - files["read"] - sum(files["quarantined"].values())


def check_accounting(summary: dict[str, Any]) -> None:
    gaps = {name: (unaccounted(source), unaccounted_files(source)) for name, source in summary["sources"].items()}
    broken = {name: gap for name, gap in gaps.items() if gap != (0, 0)}
    if broken:
        detail = ", ".join(
            f"{name}: {gap:+d} {what} unaccounted"
            for name, gaps_of_source in broken.items()
            for what, gap in zip(("records", "files"), gaps_of_source, strict=True)
            if gap
        )
        raise AccountingError(f"landing != accepted + filtered + quarantined ({detail})")


def render(summary: dict[str, Any]) -> str:
    """The summary as plain-text tables for a terminal."""
    lines = [f"run {summary['run_id']}: {summary['status']} (consent policy: {summary.get('consent_policy')})", ""]
    lines += format_table(["table", "rows"], [[name, f"{t['rows']:,}"] for name, t in summary["tables"].items()])
    lines.append("")
    rows = [
        [
            name,
            describe_files(s.get("files")),
            f"{s['landing']:,}",
            _count(s["accepted"]),
            format_counts(s["filtered"]),
            format_counts(s["quarantined"]),
        ]
        for name, s in summary["sources"].items()
    ]
    lines += format_table(["source", "files", "landing", "accepted", "filtered", "quarantined"], rows)
    notes = [(name, "flagged (kept)", s.get("flagged", {})) for name, s in summary["sources"].items()]
    notes += [
        (name, "unknown fields (kept in bronze)", s.get("extra_fields", {})) for name, s in summary["sources"].items()
    ]
    lines += [f"{name}: {what}: {format_counts(counts)}" for name, what, counts in notes if counts]
    for name, s in summary["sources"].items():
        lines += _listed(
            name,
            "file quarantined",
            [f"{q['path']}: {q['rule']} ({q['detail']})" for q in s.get("quarantined_files", [])],
        )
        lines += _listed(name, "skipped", [f"{e['path']}: {e['reason']}" for e in s.get("skipped", [])])
    if "warehouse" in summary:
        lines += ["", f"warehouse {summary['warehouse']['url']}: all checks passed"]
        lines += format_table(["table", "rows"], [[n, f"{r:,}"] for n, r in summary["warehouse"]["tables"].items()])
    if summary["status"] != "succeeded":
        lines += ["", *_zone_lines(summary.get("zones", {})), f"error: {summary.get('error')}"]
    lines += [f"warning: {w}" for w in summary.get("warnings", [])]
    return "\n".join(lines)


_LISTED = 10  # entries per source and kind on the terminal; the JSON summary holds them all


def _listed(source: str, what: str, entries: list[str]) -> list[str]:
    lines = [f"{source}: {what}: {entry}" for entry in entries[:_LISTED]]
    if len(entries) > _LISTED:
        lines.append(f"{source}: {what}: ... and {len(entries) - _LISTED:,} more (see the summary's JSON)")
    return lines


def describe_files(files: dict[str, Any] | None) -> str:
    """`9`, or `9 (1 quarantined)` when files were quarantined whole; `-` before bronze measured them."""
    if not files:
        return "-"
    quarantined = sum(files["quarantined"].values())
    return f"{files['landing']:,}" + (f" ({quarantined:,} quarantined)" if quarantined else "")


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _zone_lines(zones: dict[str, dict[str, Any]]) -> list[str]:
    """Which run's version each zone holds after a failed run: this run's, or an earlier one's."""
    return [
        f"zone {zone}: "
        + (
            "published by this run"
            if z["this_run"]
            else f"kept from run {z['run_id']}"
            if z["run_id"]
            else "not published yet"
        )
        for zone, z in zones.items()
    ]
