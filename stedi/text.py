"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [[str(c) for c in header], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()

    return [line(cells[0]), line(["-" * w for w in widths]), *map(line, cells[1:])]


def format_counts(counts: dict[str, int], separator: str = " ") -> str:
    """`reason 12, other 3`, or `-` when there are none."""
    return ", ".join(f"{name}{separator}{n:,}" for name, n in counts.items()) or "-"
