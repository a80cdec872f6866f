"""Run summaries read as their users read them: the JSON of `stedi run --summary` (stedi/report.py)."""

from __future__ import annotations

from typing import Any

from stedi import summary as summaries
from stedi.report import RunSummary


def accounting(source: dict[str, Any]) -> dict[str, Any]:
    """The figures of one source's accounting identity, as the summary's JSON has them."""
    return {key: source[key] for key in ("landing", "accepted", "filtered", "quarantined")}


def unaccounted(source: dict[str, Any]) -> int:
    """Landing records minus those accepted, filtered and quarantined, counted here from the JSON."""
    return (
        source["landing"] - source["accepted"] - sum(source["filtered"].values()) - sum(source["quarantined"].values())
    )


def check_accounting(summary: dict[str, Any]) -> None:
    """The run's own accounting check, on a summary read back from its JSON."""
    summaries.check_accounting(RunSummary.from_json(summary))
