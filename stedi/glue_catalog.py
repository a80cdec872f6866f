"""The Glue Data Catalog: every zone of the lake as a table Athena can query.

Columns come from the code that writes each zone, never from a second list: landing from stedi/sources.py,
bronze and quarantine from the bronze transform, silver from the pandera contracts, gold from sql/gold/.
sql/athena/ holds the landing tables' DDL for the Athena console; a test keeps it equal to these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from stedi.pii import personal_columns

Format = Literal["json", "parquet"]
Action = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class Change:
    """What a deploy (or the flow keeping the catalog current) did to one AWS resource, so that a second
    deploy can show it changed nothing."""

    action: Action
    kind: str  # object, job, database, table
    name: str
    dry_run: bool = False  # compared only: `action` is what a deploy would do

    def __str__(self) -> str:
        if self.dry_run:  # every line of a dry run says what would be done, in the same columns
            action = self.action if self.action == "unchanged" else f"would be {self.action}"
            return f"{action:16}  {self.kind:8}  {self.name}"
        return f"{self.action:9}  {self.kind:8}  {self.name}"


JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
_FORMATS: dict[Format, dict[str, Any]] = {
    "json": {
        "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        # Landing holds lines the bronze job quarantines; Athena should skip them, not fail the query.
        "SerdeInfo": {"SerializationLibrary": JSON_SERDE, "Parameters": {"ignore.malformed.json": "true"}},
    },
    "parquet": {
        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
    },
}
# What a landing field holds as delivered (before bronze coerces it): dates arrive as text.
LANDING_TYPES = {"string": "string", "epoch_ms": "bigint", "double": "double", "long": "bigint", "date": "string"}


@dataclass(frozen=True)
class CatalogTable:
    name: str
    zone: str
    location: str
    format: Format
    columns: tuple[tuple[str, str], ...]  # (name, Hive type)

    @property
    def personal_columns(self) -> list[str]:
        return personal_columns(name for name, _ in self.columns)

    def table_input(self) -> dict[str, Any]:
        """The table as Glue takes it. Tables with personal data (stedi/pii.py) say so, and which columns, in
        their parameters (`stedi.pii`, `stedi.pii_columns`) and on each such column (`stedi.pii`), for Lake
        Formation tags, IAM conditions or a reviewer to act on."""
        personal = self.personal_columns
        pii = {"stedi.pii": "true", "stedi.pii_columns": ",".join(personal)} if personal else {"stedi.pii": "false"}
        return {
            "Name": self.name,
            "Description": f"STEDI lakehouse, {self.zone} zone"
            + (f"; personal data in {', '.join(personal)}: restricted (README, who gets what)" if personal else ""),
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": self.format, "EXTERNAL": "TRUE", "stedi.zone": self.zone, **pii},
            "StorageDescriptor": {
                "Columns": [
                    {
                        "Name": name,
                        "Type": hive_type,
                        **({"Parameters": {"stedi.pii": "true"}} if name in personal else {}),
                    }
                    for name, hive_type in self.columns
                ],
                "Location": self.location,
                **_FORMATS[self.format],
            },
        }


def catalog_tables(landing: str, lake: str, versions: Mapping[str, str] | None = None) -> list[CatalogTable]:
    """Every table of every zone, with the location it is read from under `landing` and `lake`.

    On S3 a zone's tables live in the zone's current version (stedi/lake.py, Zone): `versions` names it
    per zone; a zone not named there (none published yet) is placed where the zone's name says.
    """
    from schemas.silver import CONTRACTS
    from stedi import lake as paths
    from stedi.sources import SOURCES
    from stedi.transforms.bronze import (
        QUARANTINE_COLUMNS,
        QUARANTINED_FILES_TABLE,
        bronze_schema,
        quarantined_files_schema,
    )
    from stedi.warehouse.catalog import load_catalog

    def folder(uri: str) -> str:
        return uri.rstrip("/") + "/"

    def in_zone(zone: str, table: str) -> str:
        version = (versions or {}).get(zone)
        path = paths.version_table_path(lake, zone, version, table) if version else paths.table_path(lake, zone, table)
        return folder(path)

    tables = []
    for source in SOURCES.values():
        landing_columns = tuple((f.name, LANDING_TYPES[f.kind]) for f in source.fields)
        tables += [
            CatalogTable(
                f"{source.name}_landing",
                "landing",
                folder(paths.landing_folder(landing, source.name)),
                "json",
                landing_columns,
            ),
            CatalogTable(
                f"bronze_{source.name}",
                "bronze",
                in_zone("bronze", source.name),
                "parquet",
                _spark_columns(bronze_schema(source)),
            ),
            # Spark writes quarantine as JSON lines, its timestamps as ISO text
            CatalogTable(
                f"quarantine_{source.name}",
                "quarantine",
                in_zone("quarantine", source.name),
                "json",
                tuple((name, "string") for name in QUARANTINE_COLUMNS),
            ),
        ]
    # Files quarantined whole (stedi/landing.py), one row each
    tables.append(
        CatalogTable(
            f"quarantine_{QUARANTINED_FILES_TABLE}",
            "quarantine",
            in_zone("quarantine", QUARANTINED_FILES_TABLE),
            "json",
            tuple(
                (f.name, "bigint" if f.name == "size_bytes" else "string") for f in quarantined_files_schema().fields
            ),
        )
    )
    tables += [
        CatalogTable(name, "silver", in_zone("silver", name), "parquet", _spark_columns(model.to_structtype()))
        for name, model in CONTRACTS.items()
    ]
    tables += [
        CatalogTable(
            f"gold_{table.name}",
            "gold",
            in_zone("gold", table.name),
            "parquet",
            tuple((c.name, hive_type(c.sql_type)) for c in table.columns),
        )
        for table in load_catalog().tables
    ]
    return tables


def _spark_columns(schema: Any) -> tuple[tuple[str, str], ...]:
    # Spark's simple strings are Hive's type names, but for TIMESTAMP_NTZ (a plain timestamp to Hive)
    return tuple((f.name, f.dataType.simpleString().replace("timestamp_ntz", "timestamp")) for f in schema.fields)


def hive_type(redshift_type: str) -> str:
    """A gold column's Redshift type (sql/gold/) as the catalog's Hive type."""
    lowered = " ".join(redshift_type.lower().split())
    renamed = {
        "double precision": "double",
        "float8": "double",
        "float4": "float",
        "real": "float",
        "integer": "int",
        "int4": "int",
        "int8": "bigint",
        "int2": "smallint",
        "bool": "boolean",
        "timestamp without time zone": "timestamp",
    }
    if lowered in renamed:
        return renamed[lowered]
    if lowered in ("bigint", "smallint", "boolean", "date", "timestamp") or lowered.startswith(
        ("varchar(", "char(", "decimal(")
    ):
        return lowered
    if lowered.startswith("numeric("):
        return lowered.replace("numeric", "decimal", 1)
    raise ValueError(f"no Glue catalog type for the gold column type {redshift_type!r}")


def register_catalog(glue: Any, database: str, landing: str, lake: str, dry_run: bool = False) -> list[Change]:
    """Create or update the database and its tables; unchanged definitions are left alone. Each zone's
    tables point at its current version, so a deploy never moves them away from what runs published.
    With `dry_run`, compare only."""
    from stedi import lake as paths

    versions = {zone: v for zone in paths.ZONES if (v := paths.current_version(lake, zone)) is not None}
    changes = [_put_database(glue, database, dry_run)]
    changes += [
        _put_table(glue, database, table.table_input(), dry_run) for table in catalog_tables(landing, lake, versions)
    ]
    return changes


class CatalogMissingError(RuntimeError):
    """The catalog database the flow should keep current does not exist."""


def follow_zones(glue: Any, database: str, landing: str, lake: str, zones: Sequence[str]) -> list[Change]:
    """Point the catalog tables of `zones` at the zones' current versions, once a run published them.

    Athena reads through the catalog, which has no multi-table transaction: the tables of one zone are
    repointed one after the other, a few milliseconds apart, right after the zone's pointer changed.
    Tables the deploy never registered are left to it.
    """
    from stedi import lake as paths

    try:
        glue.get_database(Name=database)
    except glue.exceptions.EntityNotFoundException:
        raise CatalogMissingError(
            f"the Glue Data Catalog has no database {database!r}: run `stedi deploy glue`, or set "
            "STEDI_GLUE_DATABASE to the database it registered (--database)"
        ) from None
    versions = {zone: v for zone in zones if (v := paths.current_version(lake, zone)) is not None}
    changes = []
    for table in catalog_tables(landing, lake, versions):
        if table.zone not in versions:
            continue
        try:
            current = glue.get_table(DatabaseName=database, Name=table.name)["Table"]
        except glue.exceptions.EntityNotFoundException:
            continue
        if not _same_table(current, table.table_input()):
            glue.update_table(DatabaseName=database, TableInput=table.table_input())
            changes.append(Change("updated", "table", f"{database}.{table.name}"))
    return changes


def _put_database(glue: Any, database: str, dry_run: bool = False) -> Change:
    try:
        glue.get_database(Name=database)
    except glue.exceptions.EntityNotFoundException:
        if not dry_run:
            glue.create_database(DatabaseInput={"Name": database, "Description": "STEDI lakehouse: every zone"})
        return Change("created", "database", database, dry_run)
    return Change("unchanged", "database", database, dry_run)


def _put_table(glue: Any, database: str, table_input: dict[str, Any], dry_run: bool = False) -> Change:
    name = f"{database}.{table_input['Name']}"
    try:
        current = glue.get_table(DatabaseName=database, Name=table_input["Name"])["Table"]
    except glue.exceptions.EntityNotFoundException:
        if not dry_run:
            glue.create_table(DatabaseName=database, TableInput=table_input)
        return Change("created", "table", name, dry_run)
    if _same_table(current, table_input):
        return Change("unchanged", "table", name, dry_run)
    if not dry_run:
        glue.update_table(DatabaseName=database, TableInput=table_input)
    return Change("updated", "table", name, dry_run)


def _same_table(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    stored = current.get("StorageDescriptor", {})
    return all(current.get(k) == wanted[k] for k in ("TableType", "Parameters", "Description")) and all(
        stored.get(k) == v for k, v in wanted["StorageDescriptor"].items()
    )
