"""Comparing lakes and warehouses table by table, row for row, over every column but what names a run."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

# What a run stamps on its rows: its run id and instant (lineage), the gold version it built.
RUN_STAMPS = {"_ingest_run_id", "_ingested_at", "gold_version"}
ZONES = ("bronze", "quarantine", "silver", "gold")


def tables(lake: Path) -> dict[str, str]:
    """`zone.table` -> a DuckDB reader of the table's files, for every table a zone's manifest lists."""
    found = {}
    for zone in ZONES:
        manifest = json.loads((lake / zone / "_zone.json").read_text())
        for table in manifest["tables"]:
            folder = lake / zone / table
            parquet = sorted(folder.glob("*.parquet"))
            found[f"{zone}.{table}"] = (
                f"read_parquet('{folder}/*.parquet')" if parquet else f"read_json_auto('{folder}/*.json')"
            )
    return found


def differences(reference: Path, other: Path, stamps: set[str] = RUN_STAMPS) -> dict[str, str]:
    """Per table that differs: how. Rows are compared as multisets, over every column but the run stamps."""
    db = duckdb.connect()
    expected, found = tables(reference), tables(other)
    problems = {name: "missing" for name in expected.keys() - found.keys()}
    for name in sorted(expected.keys() & found.keys()):
        a, b = expected[name], found[name]
        if db.sql(f"select count(*) from {a}").fetchall()[0][0] == 0 and "read_json" in a:
            if db.sql(f"select count(*) from {b}").fetchall()[0][0] != 0:
                problems[name] = "rows where the reference has none"
            continue  # an empty JSON table has no columns to compare
        types_a = [row[:2] for row in db.sql(f"describe select * from {a}").fetchall()]
        types_b = [row[:2] for row in db.sql(f"describe select * from {b}").fetchall()]
        if types_a != types_b:
            problems[name] = f"columns {types_a} != {types_b}"
            continue
        columns = ", ".join(f'"{column}"' for column, _ in types_a if column not in stamps)
        if difference := row_difference(db, a, b, columns):
            problems[name] = difference
    return problems


def row_difference(db: duckdb.DuckDBPyConnection, a: str, b: str, columns: str) -> str | None:
    """How the rows of `a` and `b` differ as multisets over `columns`, or None when they do not."""
    only_a = db.sql(f"select count(*) from (select {columns} from {a} except all select {columns} from {b})")
    only_b = db.sql(f"select count(*) from (select {columns} from {b} except all select {columns} from {a})")
    missing, extra = only_a.fetchall()[0][0], only_b.fetchall()[0][0]
    return f"{missing} rows of the reference missing, {extra} rows it lacks" if missing or extra else None


def warehouse_differences(reference: Path, other: Path, stamps: set[str] = RUN_STAMPS) -> dict[str, str]:
    """Per table of two DuckDB warehouses (schema stedi) that differs: how, as `differences` says it."""
    db = duckdb.connect()
    db.execute(f"attach '{reference}' as a (read_only)")
    db.execute(f"attach '{other}' as b (read_only)")
    listed = "select table_name from information_schema.tables where table_catalog = '{}' and table_schema = 'stedi'"
    names_a = {row[0] for row in db.sql(listed.format("a")).fetchall()}
    names_b = {row[0] for row in db.sql(listed.format("b")).fetchall()}
    problems = {name: "missing" for name in names_a - names_b}
    for name in sorted(names_a & names_b):
        a, b = f"a.stedi.{name}", f"b.stedi.{name}"
        columns = ", ".join(
            f'"{row[0]}"' for row in db.sql(f"describe select * from {a}").fetchall() if row[0] not in stamps
        )
        if difference := row_difference(db, a, b, columns):
            problems[name] = difference
    return problems
