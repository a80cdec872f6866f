"""The analysts' reports: sql/reports/<name>.sql, one question each, the same SQL on every backend."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stedi.warehouse.backends import Backend
from stedi.warehouse.catalog import SQL_DIR, render_query

REPORTS_DIR = SQL_DIR / "reports"


class UnknownReportError(LookupError):
    pass


@dataclass(frozen=True)
class Report:
    name: str
    description: str  # the file's first line, a `-- ` comment
    sql: str


def _report(path: Path) -> Report:
    text = path.read_text()
    first = text.splitlines()[0] if text else ""
    return Report(path.stem, first.removeprefix("--").strip(), text)


def list_reports() -> list[Report]:
    return [_report(path) for path in sorted(REPORTS_DIR.glob("*.sql"))]


def get_report(name: str) -> Report:
    path = REPORTS_DIR / f"{name}.sql"
    if "/" in name or not path.is_file():
        available = ", ".join(r.name for r in list_reports())
        raise UnknownReportError(f"no report named {name!r}; available: {available}")
    return _report(path)


def run_report(backend: Backend, report: Report) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of `report` on `backend`."""
    connection = backend.connect(read_only=True)
    try:
        cursor = connection.cursor()
        cursor.execute(render_query(report.sql, backend.dialect, backend.schema))
        columns = [d[0] for d in cursor.description]
        return columns, [tuple(row) for row in cursor.fetchall()]
    finally:
        connection.close()  # read-only: closing ends any transaction the driver opened
