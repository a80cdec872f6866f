"""Gold job: silver -> the warehouse's 3NF tables as Parquet under <lake>/gold/<table>/."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from schemas.silver import CONTRACTS
from stedi import ingestion, lake
from stedi.jobs.common import JobArgs, job_main, write_report
from stedi.report import JobReport, TableRows
from stedi.secrets import SECRET_BLOCK, SECRET_ENV, PseudonymKey, local_key_file, pseudonym_key
from stedi.transforms import gold
from stedi.transforms.pseudonyms import keyed_hash

JOB = "gold"


def build_tables(
    silver: dict[str, DataFrame], secret: bytes, args: JobArgs, is_development_key: bool, version: str
) -> dict[str, DataFrame]:
    key = keyed_hash(secret)
    current = silver["customer_current"]
    snapshot = gold.lake_snapshot(args.consent_policy, is_development_key, version)
    return {
        "customers": current.transform(gold.customers(key, args.ingested_at_dt)),
        "customer_consents": current.transform(gold.customer_consents(key)),
        "devices": gold.devices(current),
        "device_ownerships": current.transform(gold.device_ownerships(key)),
        "accelerometer_readings": silver["accelerometer_trusted"].transform(gold.accelerometer_readings(key)),
        "step_trainer_readings": silver["step_trainer_trusted"].transform(gold.step_trainer_readings(key)),
        "lake_snapshot": current.sparkSession.range(1).transform(snapshot),
    }


def changes_path(version_root: str, table: str, kind: str) -> str:
    return lake.join(version_root, lake.CHANGES, table, kind)


def write_changes(spark: SparkSession, previous: str, table: str, zone: lake.Zone, name: str) -> None:
    """Beside a gold table, its rows that the previous version lacks (`upserts`: new or changed) and the
    previous version's rows it lacks (`retracted`), whole rows: the warehouse matches them by key. Nothing
    when the previous version's columns differ (an older release's): the warehouse then loads it all."""
    if not lake.table_exists(previous):
        return
    new, old = lake.read_table(spark, table), lake.read_table(spark, previous)
    if [(f.name, f.dataType) for f in old.schema] != [(f.name, f.dataType) for f in new.schema]:
        return
    changes = lake.stage(new.transform(gold.row_changes(old)), zone.scratch(f"changes-{name}"))
    for kind, change in (("upserts", gold.UPSERT), ("retracted", gold.RETRACTED)):
        rows = changes.filter(F.col("_change") == change).drop("_change")
        lake.write_table(rows, changes_path(zone.root, name, kind))


def run(spark: SparkSession, args: JobArgs, key: PseudonymKey | None = None) -> JobReport:
    """Gold from the lake's current silver; `key` pseudonymises the customers (default: the run's key as
    stedi/secrets.py finds it)."""
    started = time.monotonic()
    key = key or pseudonym_key(args.lake)
    silver_version = lake.current_version(args.lake, "silver")
    silver = {
        name: lake.read_table(
            spark, lake.current_table_path(args.lake, "silver", name), CONTRACTS[name].to_structtype()
        )
        for name in ("customer_current", "accelerometer_trusted", "step_trainer_trusted")
    }

    zone = lake.Zone(args.lake, "gold", args.run_id)

    previous = lake.current_version(args.lake, "gold")

    def write(name: str, df: DataFrame) -> int:
        path = zone.path(name)
        lake.write_table(df, path)
        if previous is not None:
            write_changes(spark, lake.version_table_path(args.lake, "gold", previous, name), path, zone, name)
        return lake.count_rows(spark, path)

    # The gold tables are independent of each other: writing them side by side keeps both cores busy.
    built = build_tables(silver, key.value, args, key.is_local, zone.version)
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="gold") as pool:
        rows = dict(zip(built, pool.map(write, built, built.values()), strict=True))
    training_set = lake.count_rows(spark, lake.current_table_path(args.lake, "silver", "machine_learning_curated"))
    # What the warehouse must hold once it loads this version (its checks), whichever run loads it.
    expected = {**rows, "machine_learning_training_set": training_set}
    settings = ingestion.BuiltWith(args.consent_policy, ingestion.key_id(key.value), args.logic or None).as_json()
    zone.built_from = {"silver": silver_version, **settings, "expected_rows": expected}
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
