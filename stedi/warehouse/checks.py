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


def invariant_files(changes: bool = False) -> list[tuple[str, str, str]]:
    """(table, check, sql) for every sql/checks/<table>__<check>.sql, the rules it names written out. With
    `changes`, an invariant that has a form scoped to a load of changes (sql/checks/among_changed/, same
    name: the rows the load merged or retracted, and the rows those bear on) takes that form."""
    found = []
    for path in sorted((SQL_DIR / "checks").glob("*__*.sql")):
        table, check = path.stem.split("__", 1)
        scoped = path.parent / "among_changed" / path.name
        chosen = scoped if changes and scoped.exists() else path
        found.append((identifier(table), identifier(check), render_rules(chosen.read_text())))
    return found


def staging_table(table: str) -> str:
    """The staging table a load COPYs a gold table's rows into before merging them (stedi/warehouse/load.py)."""
    return f"staging_{table}"


def retracted_table(table: str) -> str:
    """The staging table of a gold table's retracted rows, in a load of changes."""
    return f"retracted_{table}"


def check_queries(
    catalog: Catalog, qualified, dialect: str, schema: str, changes: bool = False
) -> list[tuple[str, str, str]]:
    """(table, check, sql) for every check of the catalog, ready to run. With `changes` (a load of the
    changes against the version the warehouse held, whose load passed every check), the key checks look
    at the rows the load merged and the parents it retracted, which its staging tables still hold, and so
    do the invariants written for it (sql/checks/among_changed/); the others and the row counts still read
    every row."""
    queries = []
    for table in catalog.tables:
        name, keys, staging = qualified(table.name), table.primary_key, staging_table(table.name)
        any_key_null = " or ".join(f"{k} is null" for k in keys)
        queries.append(
            (
                table.name,
                "primary_key_not_null",
                _template("primary_key_not_null").format(table=staging if changes else name, any_key_null=any_key_null),
            )
        )
        unique = (
            _template("primary_key_unique_among_changed").format(
                table=name,
                staging=staging,
                key_columns=", ".join(keys),
                target_key_columns=", ".join(f"target.{k}" for k in keys),
                key_match=" and ".join(f"target.{k} = changed.{k}" for k in keys),
            )
            if changes
            else _template("primary_key_unique").format(table=name, key_columns=", ".join(keys))
        )
        queries.append((table.name, "primary_key_unique", unique))
        for fk in table.foreign_keys:
            pairs = list(zip(fk.columns, fk.parent_columns, strict=True))
            fields = {
                "parent": qualified(fk.parent),
                "key_match": " and ".join(f"parent.{p} = child.{c}" for c, p in pairs),
                "parent_key_null": " and ".join(f"parent.{p} is null" for p in fk.parent_columns),
                "child_key_not_null": " and ".join(f"child.{c} is not null" for c in fk.columns),
            }
            if changes:
                query = _template("foreign_key_resolves_among_changed").format(
                    **fields,
                    child=name,
                    staging=staging,
                    retracted=retracted_table(fk.parent),
                    child_columns=", ".join(fk.columns),
                    held_child_columns=", ".join(f"held.{c}" for c in fk.columns),
                    gone_match=" and ".join(f"gone.{p} = held.{c}" for c, p in pairs),
                )
            else:
                query = _template("foreign_key_resolves").format(**fields, child=name)
            queries.append((table.name, f"foreign_key_{'_'.join(fk.columns)}_resolves", query))
    queries += [(t, c, render_query(q, dialect, schema)) for t, c, q in invariant_files(changes)]
    return queries


def check_statements(
    catalog: Catalog, backend: Any, expected_rows: dict[str, int], changes: bool = False
) -> list[tuple[str, str, str, int]]:
    """(table, check, query, expected) for every check a load runs: the catalog's, then each row count."""
    statements = [
        (table, check, query, 0)
        for table, check, query in check_queries(catalog, backend.qualified, backend.dialect, backend.schema, changes)
    ]
    for name in [t.name for t in catalog.tables] + [v.name for v in catalog.views if v.name in expected_rows]:
        statements.append((name, "row_count", f"select count(*) from {backend.qualified(name)}", expected_rows[name]))
    return statements


def run_checks(
    sql: Any, catalog: Catalog, backend: Any, expected_rows: dict[str, int], changes: bool = False
) -> list[CheckResult]:
    return [
        CheckResult(table, check, _scalar(sql, query), expected)
        for table, check, query, expected in check_statements(catalog, backend, expected_rows, changes)
    ]


def _scalar(sql: Any, query: str) -> int:
    return int(sql.execute(query).fetchone()[0])
