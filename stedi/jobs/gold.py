"""Gold job: silver -> the warehouse's 3NF tables as Parquet under <lake>/gold/<table>/."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from pyspark.sql import DataFrame, SparkSession

from schemas.silver import CONTRACTS
from stedi import lake
from stedi.jobs.common import JobArgs, job_main, write_report
from stedi.report import JobReport, TableRows
from stedi.secrets import SECRET_BLOCK, SECRET_ENV, PseudonymKey, local_key_file, pseudonym_key
from stedi.transforms import gold
from stedi.transforms.pseudonyms import keyed_hash

JOB = "gold"


def build_tables(
    silver: dict[str, DataFrame], secret: bytes, args: JobArgs, is_development_key: bool
) -> dict[str, DataFrame]:
    key = keyed_hash(secret)
    current = silver["customer_current"]
    snapshot = gold.lake_snapshot(args.consent_policy, is_development_key)
    return {
        "customers": current.transform(gold.customers(key, args.ingested_at_dt)),
        "customer_consents": current.transform(gold.customer_consents(key)),
        "devices": gold.devices(current),
        "device_ownerships": current.transform(gold.device_ownerships(key)),
        "accelerometer_readings": silver["accelerometer_trusted"].transform(gold.accelerometer_readings(key)),
        "step_trainer_readings": silver["step_trainer_trusted"].transform(gold.step_trainer_readings(key)),
        "lake_snapshot": current.sparkSession.range(1).transform(snapshot),
    }


def run(spark: SparkSession, args: JobArgs, key: PseudonymKey | None = None) -> JobReport:
    """Gold from the lake's current silver; `key` pseudonymises the customers (default: the run's key as
    stedi/secrets.py finds it)."""
    started = time.monotonic()
    key = key or pseudonym_key(args.lake)
    silver = {
        name: lake.read_table(
            spark, lake.current_table_path(args.lake, "silver", name), CONTRACTS[name].to_structtype()
        )
        for name in ("customer_current", "accelerometer_trusted", "step_trainer_trusted")
    }

    zone = lake.Zone(args.lake, "gold", args.run_id)

    def write(name: str, df: DataFrame) -> int:
        path = zone.path(name)
        lake.write_table(df, path)
        return lake.count_rows(spark, path)

    # The gold tables are independent of each other: writing them side by side keeps both cores busy.
    built = build_tables(silver, key.value, args, key.is_local)
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="gold") as pool:
        rows = dict(zip(built, pool.map(write, built, built.values()), strict=True))
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
