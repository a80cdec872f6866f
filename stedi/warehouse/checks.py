"""Checks after a load, inside its transaction: keys, foreign keys, invariants, row counts.

Generic checks come from the catalog (every primary and foreign key declared in sql/gold); invariants are
the queries in sql/checks/<table>__<name>.sql. Each query returns the number of offending rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from stedi.rules import render_rules
from stedi.warehouse.catalog import SQL_DIR, Catalog, identifier, render_query


@dataclass(frozen=True)
class CheckResult:
    table: str
    check: str
    observed: int
    expected: int = 0

    @property
    def passed(self) -> bool:
        return self.observed == self.expected

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def describe(self) -> str:
        if self.check == "row_count":
            return (
                f"{self.table}: row_count: {self.observed} rows in the warehouse, {self.expected} expected "
                "from the lake"
            )
        return f"{self.table}: {self.check}: {self.observed} offending rows"


class WarehouseCheckError(RuntimeError):
    def __init__(self, failed: list[CheckResult]) -> None:
        self.failed = failed
        super().__init__("warehouse checks failed: " + "; ".join(r.describe() for r in failed))


@cache
def _template(name: str) -> str:
    return (SQL_DIR / "checks" / f"{name}.sql").read_text()


def invariant_files() -> list[tuple[str, str, str]]:
    """(table, check, sql) for every sql/checks/<table>__<check>.sql, the rules it names written out."""
    found = []
    for path in sorted((SQL_DIR / "checks").glob("*__*.sql")):
        table, check = path.stem.split("__", 1)
        found.append((identifier(table), identifier(check), render_rules(path.read_text())))
    return found


def check_queries(catalog: Catalog, qualified, dialect: str, schema: str) -> list[tuple[str, str, str]]:
    """(table, check, sql) for every check of the catalog, ready to run."""
    queries = []
    for table in catalog.tables:
        name, keys = qualified(table.name), table.primary_key
        queries.append(
            (
                table.name,
                "primary_key_not_null",
                _template("primary_key_not_null").format(
                    table=name, any_key_null=" or ".join(f"{k} is null" for k in keys)
                ),
            )
        )
        queries.append(
            (
                table.name,
                "primary_key_unique",
                _template("primary_key_unique").format(table=name, key_columns=", ".join(keys)),
            )
        )
        for fk in table.foreign_keys:
            queries.append(
                (
                    table.name,
                    f"foreign_key_{'_'.join(fk.columns)}_resolves",
                    _template("foreign_key_resolves").format(
                        child=name,
                        parent=qualified(fk.parent),
                        key_match=" and ".join(
                            f"parent.{p} = child.{c}" for c, p in zip(fk.columns, fk.parent_columns, strict=True)
                        ),
                        parent_key_null=" and ".join(f"parent.{p} is null" for p in fk.parent_columns),
                        child_key_not_null=" and ".join(f"child.{c} is not null" for c in fk.columns),
                    ),
                )
            )
    queries += [(t, c, render_query(q, dialect, schema)) for t, c, q in invariant_files()]
    return queries


def check_statements(catalog: Catalog, backend: Any, expected_rows: dict[str, int]) -> list[tuple[str, str, str, int]]:
    """(table, check, query, expected) for every check a load runs: the catalog's, then each row count."""
    statements = [
        (table, check, query, 0)
        for table, check, query in check_queries(catalog, backend.qualified, backend.dialect, backend.schema)
    ]
    for name in [t.name for t in catalog.tables] + [v.name for v in catalog.views if v.name in expected_rows]:
        statements.append((name, "row_count", f"select count(*) from {backend.qualified(name)}", expected_rows[name]))
    return statements


def run_checks(sql: Any, catalog: Catalog, backend: Any, expected_rows: dict[str, int]) -> list[CheckResult]:
    return [
        CheckResult(table, check, _scalar(sql, query), expected)
        for table, check, query, expected in check_statements(catalog, backend, expected_rows)
    ]


def _scalar(sql: Any, query: str) -> int:
    return int(sql.execute(query).fetchone()[0])
