"""Loading gold into the warehouse: one transaction that creates what is missing, COPYs each table into
a staging table, MERGEs it into the target, deletes what the snapshot no longer has, and checks keys
and counts before it commits. A failure anywhere rolls everything back: the target stays as it was."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from stedi import lake
from stedi.lake import CHANGES, ZONES_DIR, zone_manifest
from stedi.warehouse.backends import Backend, backend_for
from stedi.warehouse.catalog import Catalog, Table, load_catalog, load_statement, render
from stedi.warehouse.checks import (
    CheckResult,
    WarehouseCheckError,
    check_statements,
    retracted_table,
    run_checks,
    staging_table,
)
from stedi.warehouse.stage import Stage

log = logging.getLogger(__name__)


class GoldSchemaError(RuntimeError):
    """A gold Parquet table's columns differ from its DDL (Redshift COPY maps columns by position)."""


def merge_sql(table: Table, target: str, staging: str) -> str:
    non_key = [c for c in table.column_names if c not in table.primary_key]
    when_matched = ""
    if non_key:
        assignments = ", ".join(f"{c} = source.{c}" for c in non_key)
        when_matched = f"when matched then\n    update set {assignments}\n"
    return load_statement("merge").format(
        target=target,
        staging=staging,
        key_match=" and ".join(f"target.{k} = source.{k}" for k in table.primary_key),
        when_matched=when_matched,
        columns=", ".join(table.column_names),
        source_columns=", ".join(f"source.{c}" for c in table.column_names),
    )


def delete_missing_sql(table: Table, target: str, staging: str) -> str:
    return load_statement("delete_missing").format(
        target=target,
        staging=staging,
        key_match_target=" and ".join(f"source.{k} = {table.name}.{k}" for k in table.primary_key),
    )


def delete_retracted_sql(table: Table, target: str, staging: str, retracted: str) -> str:
    return load_statement("delete_retracted").format(
        target=target,
        staging=staging,
        retracted=retracted,
        key_match_retracted=" and ".join(f"retracted.{k} = {table.name}.{k}" for k in table.primary_key),
        key_match_target=" and ".join(f"source.{k} = {table.name}.{k}" for k in table.primary_key),
    )


def gold_columns(gold_path: str) -> list[str]:
    import pyarrow.dataset as ds

    return ds.dataset(gold_path, format="parquet").schema.names


def verify_gold_layout(catalog: Catalog, lake_root: str) -> None:
    """Check every gold table's Parquet columns against its DDL, name for name and in order."""
    for table in catalog.tables:
        columns = gold_columns(lake.current_table_path(lake_root, "gold", table.name))
        if columns != table.column_names:
            raise GoldSchemaError(
                f"gold table {table.name}: Parquet columns {columns} != DDL columns {table.column_names}"
            )


class _Recorder:
    """Runs statements on a cursor, keeping the text of each (tests parse them as Redshift SQL)."""

    def __init__(self, cursor: Any) -> None:
        self.cursor, self.statements = cursor, []

    def execute(self, sql: str) -> Any:
        self.statements.append(sql)
        self.cursor.execute(sql)
        return self.cursor

    def copy(self, sql: str) -> Any:
        self.statements.append(sql)
        return self.cursor.copy(sql)


def load_gold(
    backend: Backend,
    lake_root: str,
    expected_rows: dict[str, int],
    catalog: Catalog | None = None,
    changes: str | None = None,
    stage: Stage | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Load every gold table; returns the warehouse row counts and check results after the load. With
    `changes` (the folder of a gold version's changes against the version the warehouse holds), only the
    changed rows are staged and merged, and only the retracted ones deleted. With `stage`, the tables are
    uploaded to S3 before the warehouse is connected to, and COPYed from there; what was staged is removed
    once the load has ended. A `dry_run` connects to no warehouse (it still fills the stage, which it
    leaves): it returns the statements a load into a warehouse holding none of these tables would run."""
    catalog = catalog or load_catalog()
    try:
        if stage is not None:  # not inside the transaction: uploads from a laptop take a while
            for source in _sources(catalog, lake_root, changes):
                stage.put(source)
        connection = _DryRun() if dry_run else backend.connect()
        try:
            backend.begin(connection)
            sql = _Recorder(connection.cursor())
            checks, recreated = _load(backend, sql, catalog, lake_root, expected_rows, changes, stage, dry_run)
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.close()
    finally:
        if stage is not None and not dry_run:
            _remove_quietly(stage)
    return {
        "tables": {r.table: r.observed for r in checks if r.check == "row_count"},
        "checks": [r.as_dict() for r in checks],
        "recreated": recreated,
        "statements": sql.statements,
    }


def _sources(catalog: Catalog, lake_root: str, changes: str | None) -> list[str]:
    """The Parquet folders a load COPYs: every table's, or, with `changes`, their upserts and retractions."""
    if changes is None:
        return [lake.current_table_path(lake_root, "gold", table.name) for table in catalog.tables]
    return [lake.join(changes, table.name, part) for table in catalog.tables for part in ("upserts", "retracted")]


def _remove_quietly(stage: Stage) -> None:
    """What the load staged, removed; a failure to is logged, never raised over the load's own outcome
    (the stage's lifecycle rule in infra/ expires what is left)."""
    try:
        stage.remove()
    except Exception as error:
        log.warning("could not remove what was staged under %s (%s): it expires by the stage's lifecycle rule",
                    stage.root, error)  # fmt: skip


class _DryRun:
    """A connection that runs nothing: every query answers no rows, so the load plans as for a new warehouse."""

    def cursor(self) -> _DryRun:
        return self

    def execute(self, sql: str) -> _DryRun:
        return self

    def fetchall(self) -> list[Any]:
        return []

    def copy(self, sql: str) -> Any:
        return contextlib.nullcontext(_NoWrites())

    def commit(self) -> None:
        pass

    rollback = close = commit


class _NoWrites:
    def write(self, data: bytes) -> None:
        pass


def held_gold_version(backend: Backend) -> str | None:
    """The gold version the warehouse holds; None when it holds none it can tell (a new warehouse, a table of
    an older release, or one it cannot read now: then the load runs, and says why if it fails)."""
    try:
        connection = backend.connect(read_only=True)
    except Exception:
        return None
    try:
        rows = connection.cursor().execute(load_statement("held_gold_version").format(schema=backend.schema)).fetchall()
    except Exception:
        return None
    finally:
        connection.close()
    return rows[0][0] if len(rows) == 1 else None


@dataclass(frozen=True)
class LoadPlan:
    """What a load of the lake's current gold into a warehouse takes."""

    gold_version: str
    expected_rows: dict[str, int]
    changes: str | None  # the changes folder, when the warehouse holds the version they were computed against
    held: str | None  # the gold version the warehouse holds


def plan_load(backend: Backend | None, lake_root: str) -> LoadPlan:
    """The load of the lake's current gold; without a `backend` (a dry run), as into a new warehouse."""
    gold = zone_manifest(lake_root, "gold")
    if gold is None:
        raise FileNotFoundError(f"the lake {lake_root} has no gold zone to load")
    held = held_gold_version(backend) if backend is not None else None
    changes = None
    if held is not None and held == gold["built_from"].get("changes_from"):
        changes = lake.join(lake_root, ZONES_DIR, "gold", gold["version"], CHANGES)
    return LoadPlan(gold["version"], gold["built_from"]["expected_rows"], changes, held)


def load_lake(
    warehouse: str, lake_root: str, stage: str | None = None, dry_run: bool = False, plan: LoadPlan | None = None
) -> dict[str, Any]:
    """Load the lake's current gold into `warehouse` as `plan` says (by default, as planned now), COPYing
    from `stage` when given; load_gold's result, with the plan and the seconds it took."""
    started = time.monotonic()
    backend = backend_for(warehouse)
    plan = plan or plan_load(None if dry_run else backend, lake_root)
    catalog = load_catalog()
    if lake.is_local(lake_root):  # Redshift COPY maps Parquet columns by position: refuse a reordered table early
        verify_gold_layout(catalog, lake_root)
    staged = Stage(lake_root, stage) if stage else None
    loaded = load_gold(backend, lake_root, plan.expected_rows, catalog, plan.changes, staged, dry_run)
    return {**loaded, "plan": plan, "seconds": round(time.monotonic() - started, 2), "url": backend.display_url}


def outdated_tables(backend: Backend, sql: _Recorder, catalog: Catalog) -> list[str]:
    """Tables the warehouse has with other columns than their DDL now declares (an older release's)."""
    outdated = []
    for table in catalog.tables:
        query = load_statement("existing_columns").format(schema=backend.schema, table=table.name)
        existing = [row[0] for row in sql.execute(query).fetchall()]
        if existing and existing != table.column_names:
            outdated.append(table.name)
    return outdated


def _load(
    backend: Backend,
    sql: _Recorder,
    catalog: Catalog,
    lake_root: str,
    expected_rows: dict[str, int],
    changes: str | None = None,
    stage: Stage | None = None,
    dry_run: bool = False,
):
    sql.execute(load_statement("create_schema").format(schema=backend.schema))
    # Every load makes each table equal to its gold snapshot, so a table whose columns changed between
    # releases is recreated rather than altered (views go first: they depend on the tables).
    recreated = outdated_tables(backend, sql, catalog)
    if recreated:
        for view in catalog.views:
            sql.execute(load_statement("drop_view").format(view=backend.qualified(view.name)))
        for name in recreated:
            log.warning("recreating %s: its columns differ from sql/gold/%s.sql", backend.qualified(name), name)
            sql.execute(load_statement("drop_table").format(table=backend.qualified(name)))
    for table in catalog.tables:
        sql.execute(render(table.ddl, backend.dialect, backend.schema))
    for view in catalog.views:
        sql.execute(render(view.ddl, backend.dialect, backend.schema))
    if recreated:  # a recreated table is empty: it takes the whole snapshot
        changes = None
    stagings = []
    for table in catalog.tables:  # parents first
        staging = staging_table(table.name)
        backend.create_staging(sql, staging, table)
        source = lake.current_table_path(lake_root, "gold", table.name)
        source = source if changes is None else lake.join(changes, table.name, "upserts")
        backend.copy_into(sql, staging, table, stage.located(source) if stage else source)
        sql.execute(merge_sql(table, backend.qualified(table.name), staging))
        stagings.append(staging)
        if changes is not None:
            retracted = retracted_table(table.name)
            backend.create_staging(sql, retracted, table)
            source = lake.join(changes, table.name, "retracted")
            backend.copy_into(sql, retracted, table, stage.located(source) if stage else source)
            stagings.append(retracted)
    for table in reversed(catalog.tables):  # children first, so no parent is deleted under a child
        target, staging = backend.qualified(table.name), staging_table(table.name)
        if changes is None:
            sql.execute(delete_missing_sql(table, target, staging))
        else:
            sql.execute(delete_retracted_sql(table, target, staging, retracted_table(table.name)))
    # A load of changes checks keys on the rows it merged and retracted: its staging tables, dropped after.
    scoped = changes is not None
    if dry_run:  # the checks' queries, whose answers a dry run cannot have
        for _, _, query, _ in check_statements(catalog, backend, expected_rows, scoped):
            sql.execute(query)
        results = []
    else:
        results = run_checks(sql, catalog, backend, expected_rows, scoped)
    for staging in stagings:
        sql.execute(load_statement("drop_table").format(table=staging))
    failed = [r for r in results if not r.passed]
    if failed:
        raise WarehouseCheckError(failed)
    return results, recreated


__all__ = [
    "CheckResult",
    "GoldSchemaError",
    "WarehouseCheckError",
    "held_gold_version",
    "load_gold",
    "load_lake",
    "plan_load",
    "verify_gold_layout",
]
