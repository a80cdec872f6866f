"""Plain-text tables for the terminal."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [[str(c) for c in header], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()

    return [line(cells[0]), line(["-" * w for w in widths]), *map(line, cells[1:])]


def format_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str:
    """Query results as `table` (aligned, for people), `csv` (header line first) or `json` (a list of
    objects; numbers stay numbers, dates and times ISO-8601)."""
    if fmt == "table":
        return "\n".join(format_table(columns, rows))
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_plain(value) for value in row] for row in rows])
        return buffer.getvalue().rstrip("\n")
    if fmt == "json":
        return json.dumps([dict(zip(columns, map(_plain, row), strict=True)) for row in rows], indent=2)
    raise ValueError(f"unknown format {fmt!r}; expected table, csv or json")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def format_count(n: int | None) -> str:
    """`81,273`, or `-` for a figure never measured."""
    return "-" if n is None else f"{n:,}"


def format_counts(counts: dict[str, int], separator: str = " ") -> str:
    """`reason 12, other 3`, or `-` when there are none."""
    return ", ".join(f"{name}{separator}{n:,}" for name, n in counts.items()) or "-"


def one_line(error: BaseException) -> str:
    """The error as one line, `Type: what and where`, for the terminal and the summary (the traceback
    goes to the log file). A Java error that py4j passes through as `An error occurred while calling
    o71.collectToPython.` is named by the Java exception on its next line, without the stack trace."""
    lines = [line.strip() for line in str(error).strip().splitlines()]
    lines = [line for line in lines if line and not line.startswith(("at ", "... "))]
    if len(lines) > 1 and lines[0].startswith("An error occurred while calling"):
        return lines[1].lstrip(": ")
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
