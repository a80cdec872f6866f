"""The gold schema as written in sql/gold/ (Redshift dialect), and its rendering for every backend.

Dialect differences in DDL live here and only here: Redshift keeps its DISTKEY/DISTSTYLE/SORTKEY and
its (unenforced) keys. PostgreSQL and DuckDB have no distribution or sort keys; they keep primary keys
(enforced, which is a bonus) but not foreign keys, which they would enforce row by row in the middle of
a load; the load checks foreign keys after the MERGE on every backend alike.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sqlglot
from sqlglot import exp

SQL_DIR = Path(os.environ.get("STEDI_SQL_DIR", Path(__file__).resolve().parents[2] / "sql"))
DEFAULT_SCHEMA = "stedi"
DIALECTS = ("redshift", "postgres", "duckdb")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_PHYSICAL_PROPERTIES = (exp.DistKeyProperty, exp.DistStyleProperty, exp.SortKeyProperty)


class CatalogError(ValueError):
    pass


@cache
def load_statement(name: str) -> str:
    """The statement template sql/load/<name>.sql as it is run, comments included; its `{placeholders}`
    are filled from the catalog and the settings, never from user input. The load's statements:

        create_schema, existing_columns, drop_view, drop_table   the schema and its tables
        create_staging_<dialect>, copy_<dialect>                  one gold table into its staging table
                                                                  (Redshift: COPY from S3 with an IAM role)
        merge, delete_missing                                     the staging table into its target
    """
    return (SQL_DIR / "load" / f"{name}.sql").read_text().strip()


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # as written for Redshift, e.g. VARCHAR(64), TIMESTAMP, DOUBLE PRECISION
    nullable: bool


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...]
    ddl: exp.Create

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class View:
    name: str
    ddl: exp.Create


@dataclass(frozen=True)
class Catalog:
    tables: tuple[Table, ...]  # parents before children
    views: tuple[View, ...]

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)


def identifier(name: str) -> str:
    """A name that may be placed into SQL text: lower-case letters, digits, underscores."""
    if not _IDENTIFIER.match(name):
        raise CatalogError(f"not a plain SQL identifier: {name!r}")
    return name


@cache
def load_catalog(sql_dir: Path = SQL_DIR) -> Catalog:
    tables, views = [], []
    for path in sorted((sql_dir / "gold").glob("*.sql")):
        ddl = sqlglot.parse_one(path.read_text(), read="redshift")
        if not isinstance(ddl, exp.Create) or ddl.this.find(exp.Table) is None:
            raise CatalogError(f"{path}: expected one CREATE TABLE or CREATE VIEW")
        name = ddl.this.find(exp.Table).name
        if name != path.stem:
            raise CatalogError(f"{path}: defines {name!r}; one object per file, named after the object")
        if ddl.kind == "VIEW":
            views.append(View(name, ddl))
        else:
            tables.append(_table(name, ddl))
    return Catalog(tuple(_parents_first(tables)), tuple(views))


def _table(name: str, ddl: exp.Create) -> Table:
    schema = ddl.this
    columns = tuple(
        Column(
            identifier(col.name),
            col.args["kind"].sql("redshift"),
            not any(isinstance(c.kind, exp.NotNullColumnConstraint) for c in col.constraints),
        )
        for col in schema.expressions
        if isinstance(col, exp.ColumnDef)
    )
    primary_key: tuple[str, ...] = ()
    foreign_keys = []
    for constraint in schema.expressions:
        if isinstance(constraint, exp.PrimaryKey):
            primary_key = tuple(identifier(c.name) for c in constraint.expressions)
        elif isinstance(constraint, exp.ForeignKey):
            reference = constraint.args["reference"].this
            foreign_keys.append(
                ForeignKey(
                    tuple(identifier(c.name) for c in constraint.expressions),
                    identifier(reference.find(exp.Table).name),
                    tuple(identifier(c.name) for c in reference.expressions),
                )
            )
    if not primary_key:
        raise CatalogError(f"table {name} declares no primary key")
    return Table(name, columns, primary_key, tuple(foreign_keys), ddl)


def _parents_first(tables: list[Table]) -> list[Table]:
    ordered: list[Table] = []
    pending = {t.name: t for t in tables}
    while pending:
        ready = [
            t for t in pending.values() if all(fk.parent not in pending or fk.parent == t.name for fk in t.foreign_keys)
        ]
        if not ready:
            raise CatalogError(f"foreign keys form a cycle among {sorted(pending)}")
        for table in sorted(ready, key=lambda t: t.name):
            ordered.append(pending.pop(table.name))
    return ordered


def _in_schema(tree: exp.Expression, schema: str) -> exp.Expression:
    for table in tree.find_all(exp.Table):
        if table.args.get("db") is not None and table.db == DEFAULT_SCHEMA:
            table.set("db", exp.to_identifier(identifier(schema)))
    return tree


def render_query(query: str, dialect: str, schema: str = DEFAULT_SCHEMA) -> str:
    """A query written for Redshift against the `stedi` schema, for `dialect` and `schema`."""
    return _in_schema(sqlglot.parse_one(query, read="redshift"), schema).sql(dialect=dialect)


def render(ddl: exp.Create, dialect: str, schema: str = DEFAULT_SCHEMA) -> str:
    """The DDL for `dialect`, with `schema` in place of the files' `stedi` schema."""
    if dialect not in DIALECTS:
        raise CatalogError(f"unknown dialect {dialect!r}")
    tree = _in_schema(ddl.copy(), schema)
    if dialect != "redshift":
        for node in list(tree.find_all(*_PHYSICAL_PROPERTIES, exp.ForeignKey)):
            node.pop()
    return tree.sql(dialect=dialect, pretty=True)
