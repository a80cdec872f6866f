"""The run summary: figures from the jobs' run reports, the accounting identity, a printable table."""

from __future__ import annotations

from typing import Any

SOURCE_TABLES = ("customer", "accelerometer", "step_trainer")


class AccountingError(RuntimeError):
    """Some landing records are neither accepted, filtered nor quarantined (or are counted twice)."""


def build_summary(run_id: str, consent_policy: str, bronze: dict[str, Any], silver: dict[str, Any]) -> dict[str, Any]:
    sources = {
        name: {
            "landing": bronze["sources"][name]["landing"],
            "accepted": silver["sources"][name]["accepted"],
            "filtered": dict(sorted(silver["sources"][name]["filtered"].items())),
            "quarantined": dict(sorted(bronze["sources"][name]["quarantined"].items())),
        }
        for name in SOURCE_TABLES
    }
    tables = {f"{name}_landing": bronze["tables"][f"{name}_landing"] for name in SOURCE_TABLES}
    tables |= silver["tables"]
    warnings = [w for name in SOURCE_TABLES for w in bronze["sources"][name].get("warnings", [])]
    return {
        "status": "succeeded",
        "run_id": run_id,
        "consent_policy": consent_policy,
        "tables": tables,
        "sources": sources,
        "warnings": warnings,
    }


def unaccounted(source: dict[str, Any]) -> int:
    """Landing records minus those accepted, filtered and quarantined: 0 when every record is accounted for."""
    return source["landing"] - source["accepted"] - sum(source["filtered"].values()) - sum(
        source["quarantined"].values()
    )


def check_accounting(summary: dict[str, Any]) -> None:
    gaps = {name: unaccounted(source) for name, source in summary["sources"].items()}
    broken = {name: gap for name, gap in gaps.items() if gap != 0}
    if broken:
        detail = ", ".join(f"{name}: {gap:+d} records unaccounted" for name, gap in broken.items())
        raise AccountingError(f"landing != accepted + filtered + quarantined ({detail})")


def render(summary: dict[str, Any]) -> str:
    """The summary as plain-text tables for a terminal."""
    lines = [f"run {summary['run_id']}: {summary['status']} (consent policy: {summary.get('consent_policy')})", ""]
    lines += _table(["table", "rows"], [[name, f"{t['rows']:,}"] for name, t in summary["tables"].items()])
    lines.append("")
    rows = [
        [name, f"{s['landing']:,}", f"{s['accepted']:,}", _reasons(s["filtered"]), _reasons(s["quarantined"])]
        for name, s in summary["sources"].items()
    ]
    lines += _table(["source", "landing", "accepted", "filtered", "quarantined"], rows)
    lines += [f"warning: {w}" for w in summary.get("warnings", [])]
    return "\n".join(lines)


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason} {n:,}" for reason, n in counts.items()) or "-"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        return "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()

    return [fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)]
