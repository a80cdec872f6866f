"""Gold job: silver -> the warehouse's 3NF tables as Parquet under <lake>/gold/<table>/."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from schemas.silver import CONTRACTS
from stedi import ingestion, lake
from stedi.jobs.common import JobArgs, job_main, patch_cells, write_report
from stedi.report import JobReport, TableRows
from stedi.secrets import SECRET_BLOCK, SECRET_ENV, PseudonymKey, local_key_file, pseudonym_key
from stedi.transforms import changes, gold
from stedi.transforms.cells import CELL, reading_day
from stedi.transforms.pseudonyms import keyed_hash

JOB = "gold"


# Gold's reading tables are kept in day cells like the silver tables they come from: a gold built on the
# previous version rebuilds the cells silver rebuilt, patches those silver patched (the rows of silver's
# changed customers or devices built again, the others kept; a cell that only gains rows takes them in a
# file of its own) and carries the others. The customer tables
# are small and built whole.
CELL_TABLES = {"accelerometer_readings": "accelerometer_trusted", "step_trainer_readings": "step_trainer_trusted"}
Cells = set[str] | None  # None: every cell
# Whose rows a patched cell of each reading table rebuilds: silver's changed customers, or devices.
PATCHED_BY = {"accelerometer_readings": "customers", "step_trainer_readings": "devices"}


def build_tables(
    silver: dict[str, DataFrame], secret: bytes, args: JobArgs, is_development_key: bool, version: str
) -> dict[str, DataFrame]:
    """Every gold table from silver's; a reading table with its CELL."""
    key = keyed_hash(secret)
    current = silver["customer_current"]
    snapshot = gold.lake_snapshot(args.consent_policy, is_development_key, version)
    readings = {name: silver[table].transform(reading_table(name, secret)) for name, table in CELL_TABLES.items()}
    return {
        "customers": current.transform(gold.customers(key, args.ingested_at_dt)),
        "customer_consents": current.transform(gold.customer_consents(key)),
        "devices": gold.devices(current),
        "device_ownerships": current.transform(gold.device_ownerships(key)),
        **{name: df.withColumn(CELL, reading_day(F.col("reading_at"))) for name, df in readings.items()},
        "lake_snapshot": current.sparkSession.range(1).transform(snapshot),
    }


# A gold reading table from its silver table's rows: built row by row, but for the numbering of a customer's
# readings at one instant, which stays within that customer's rows of one cell.
READING_TABLES = {
    "accelerometer_readings": gold.accelerometer_readings,
    "step_trainer_readings": gold.step_trainer_readings,
}


def reading_table(name: str, secret: bytes) -> Callable[[DataFrame], DataFrame]:
    return READING_TABLES[name](keyed_hash(secret))


@dataclass(frozen=True)
class Basis:
    """What a gold built on the previous version does to each reading table's cells: those silver rebuilt
    whole are built again whole; in those silver patched, only the rows of the changed customers' or
    devices' (`patch_keys`, silver's) are built again, from silver's rows of them before and now
    (`patch_rows`), the others kept from the previous version."""

    rebuilt: dict[str, Cells]
    patched: dict[str, set[str]]
    patch_keys: dict[str, str]  # the path of the key table each reading table's patch is by
    patch_rows: dict[str, str]  # the folder of silver's patch of each reading table (lake.patch_rows_path)


def basis(args: JobArgs, silver_version: str | None, settings: ingestion.BuiltWith) -> Basis | None:
    """How to build on the previous gold version, if this one can: same settings, and built from the
    silver version this one's came from (or from this one). None: a full build."""
    previous = None if args.is_full_refresh else lake.zone_manifest(args.lake, "gold")
    built = (previous or {}).get("built_from", {})
    if previous is None or not built.get("cells") or settings.differs_from(built):
        return None
    if built.get("silver") == silver_version:
        return Basis({name: set() for name in CELL_TABLES}, {name: set() for name in CELL_TABLES}, {}, {})
    manifest = lake.zone_manifest(args.lake, "silver") or {}
    silver = manifest.get("built_from", {})
    if silver.get("previous") != built.get("silver") or "rebuilt_cells" not in silver:
        return None
    rebuilt, patched = silver["rebuilt_cells"], silver.get("patched_cells", {})
    root = lake.join(args.lake, lake.ZONES_DIR, "silver", manifest["version"])
    return Basis(
        {name: None if rebuilt[table] is None else set(rebuilt[table]) for name, table in CELL_TABLES.items()},
        {name: set(patched.get(table, [])) for name, table in CELL_TABLES.items()},
        {name: lake.patch_keys_path(root, keys) for name, keys in PATCHED_BY.items()},
        {name: lake.patch_rows_path(root, table) for name, table in CELL_TABLES.items()},
    )


def changes_path(version_root: str, table: str, kind: str) -> str:
    return lake.join(version_root, lake.CHANGES, table, kind)


def write_changes(old: DataFrame, new: DataFrame, zone: lake.Zone, name: str) -> None:
    """Beside a gold table, its rows that the previous version lacks (`upserts`: new or changed) and the
    previous version's rows it lacks (`retracted`), whole rows: the warehouse matches them by key. `old`
    and `new` are the table's rows in both versions, or, for a reading table, in the cells rebuilt (the
    others are the same files). Nothing when the columns differ (an older release's): the warehouse then
    loads it all."""
    if [(f.name, f.dataType) for f in old.schema] != [(f.name, f.dataType) for f in new.schema]:
        return
    rows = lake.stage(new.transform(changes.row_changes(old)), zone.scratch(f"changes-{name}"))
    for kind, change in (("upserts", changes.UPSERT), ("retracted", changes.RETRACTED)):
        lake.write_table(rows.filter(F.col("_change") == change).drop("_change"), changes_path(zone.root, name, kind))


def run(spark: SparkSession, args: JobArgs, key: PseudonymKey | None = None) -> JobReport:
    """Gold from the lake's current silver; `key` pseudonymises the customers (default: the run's key as
    stedi/secrets.py finds it)."""
    started = time.monotonic()
    key = key or pseudonym_key(args.lake)
    settings = ingestion.BuiltWith(args.consent_policy, ingestion.key_id(key.value), args.logic or None)
    silver_version = lake.current_version(args.lake, "silver")
    base = basis(args, silver_version, settings)

    def silver_table(name: str, cells: Cells = None) -> DataFrame:
        path, schema = lake.current_table_path(args.lake, "silver", name), CONTRACTS[name].to_structtype()
        return lake.read_table(spark, path, schema) if cells is None else lake.read_cells(spark, path, cells, schema)

    def patch_keys(name: str) -> DataFrame:
        assert base is not None
        return lake.read_table(spark, base.patch_keys[name])

    def patched_rows(name: str, rows: DataFrame, how: str = "left_semi") -> DataFrame:
        """`rows` of a reading table (silver's or gold's) that its patch builds again ("left_anti": the others)."""
        keys = patch_keys(name)
        if "customer_email" in keys.columns and "customer_email" not in rows.columns:
            keys = keys.select(keyed_hash(key.value)(F.col("customer_email")).alias("customer_key"))
        return rows.join(F.broadcast(keys), keys.columns[0], how)

    def silver_rows(name: str) -> DataFrame:
        """Silver's rows of a reading table that gold builds whole: its rebuilt cells (the patched ones
        are built from silver's patch, `patch`)."""
        table = CELL_TABLES[name]
        return silver_table(table) if base is None else silver_table(table, base.rebuilt[name])

    def patch(name: str, when: str) -> DataFrame:
        """The gold rows of silver's patch of a reading table in its patched cells, as they were (`when`:
        "before") or are now ("now")."""
        assert base is not None
        cells = F.col(CELL).isin(sorted(base.patched[name]))
        rows = lake.read_table(spark, lake.join(base.patch_rows[name], when)).filter(cells)
        return rows.transform(reading_table(name, key.value)).withColumn(CELL, reading_day(F.col("reading_at")))

    silver = {
        "customer_current": silver_table("customer_current"),
        **{CELL_TABLES[n]: silver_rows(n) for n in CELL_TABLES},
    }
    zone = lake.Zone(args.lake, "gold", args.run_id)
    previous = lake.current_version(args.lake, "gold")

    def write(name: str, df: DataFrame) -> int:
        path = zone.path(name)
        earlier = None if previous is None else lake.version_table_path(args.lake, "gold", previous, name)
        if name not in CELL_TABLES:
            lake.write_table(df, path)
            if earlier is not None and not args.is_full_refresh and lake.table_exists(earlier):
                write_changes(lake.read_table(spark, earlier), lake.read_table(spark, path), zone, name)
            return lake.count_rows(spark, path)
        rebuilt = None if base is None else base.rebuilt[name]
        patched = set() if base is None else base.patched[name]
        schema = df.drop(CELL).schema
        rewritten: set[str] = set()
        applied = None
        if patched:
            assert earlier is not None
            split = (lambda rows: patched_rows(name, rows), lambda rows: patched_rows(name, rows, "left_anti"))
            staged, now, before = zone.scratch(f"{name}-patch"), patch(name, "now"), patch(name, "before")
            applied = patch_cells(spark, earlier, schema, patched, now, split, staged, before)
            rewritten = applied.rewritten
            if applied.rows is not None:
                df = df.unionByName(applied.rows)
        if rebuilt is not None:
            assert earlier is not None
            lake.carry_cells(earlier, path, rebuilt | rewritten)
        lake.write_cells(df, path, zone.scratch(f"{name}-cells"))
        if earlier is not None and not args.is_full_refresh and lake.table_exists(earlier):

            def rows(table: str, theirs: DataFrame | None) -> DataFrame:
                """The table's rows in the cells rebuilt, and the patch's keys' rows `theirs` in it."""
                if rebuilt is None:
                    return lake.read_table(spark, table, schema)
                whole = lake.read_cells(spark, table, rebuilt, schema)
                return whole if theirs is None else whole.unionByName(theirs.drop(CELL))

            before, now = (None, None) if applied is None else (applied.before, applied.now)
            write_changes(rows(earlier, before), rows(path, now), zone, name)
        return lake.count_rows(spark, path)

    # The gold tables are independent of each other: writing them side by side keeps both cores busy.
    built = build_tables(silver, key.value, args, key.is_local, zone.version)
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="gold") as pool:
        rows = dict(zip(built, pool.map(write, built, built.values()), strict=True))
    training_set = lake.count_rows(spark, lake.current_table_path(args.lake, "silver", "machine_learning_curated"))
    # What the warehouse must hold once it loads this version (its checks), whichever run loads it.
    expected = {**rows, "machine_learning_training_set": training_set}
    zone.built_from = {"silver": silver_version, **settings.as_json(), "expected_rows": expected, "cells": True}
    # A full refresh reloads the warehouse whole: no changes are offered, whatever the warehouse holds.
    if (
        not args.is_full_refresh
        and previous is not None
        and all(lake.table_exists(changes_path(zone.root, name, "upserts")) for name in built)
    ):
        zone.built_from["changes_from"] = previous  # a warehouse holding it loads only the changes
    zone.publish()
    tables = [TableRows("gold", name, count) for name, count in rows.items()]
    warnings = (
        [
            f"customer keys use this machine's own key ({local_key_file()}): another machine's gives other "
            f"keys; set {SECRET_ENV} or the Prefect Secret block {SECRET_BLOCK!r} to share one"
        ]
        if key.is_local
        else []
    )
    return write_report(args, JOB, started, tables=tables, warnings=warnings)


def main(argv: Sequence[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":  # spark-submit, and Glue (stedi deploy glue uploads this file as the job's script)
    main()  # an exception fails the run; no SystemExit, which some Glue runtimes report as a failure
