"""Silver job: bronze -> trusted and curated tables, with every left-out record counted by reason."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from pyspark.sql import DataFrame, SparkSession

from schemas.enforce import enforce_contract
from schemas.silver import CONTRACTS
from stedi import ingestion, lake
from stedi.jobs.common import JobArgs, job_main, reason_counts, write_report
from stedi.report import Contract, JobReport, SourceCounts, TableRows
from stedi.secrets import PseudonymKey, pseudonym_key
from stedi.sources import SOURCES
from stedi.transforms.bronze import bronze_schema
from stedi.transforms.pseudonyms import keyed_hash
from stedi.transforms.silver import (
    FILTER_REASON,
    accepted,
    classify_accelerometer,
    classify_customers,
    classify_step_trainer,
    curate_customers,
    current_customers,
    device_ownership,
    pair_readings,
)

JOB = "silver"
# A source's `accepted` records are the rows of its trusted table.
TRUSTED_TABLE = {
    "customer": "customer_trusted",
    "accelerometer": "accelerometer_trusted",
    "step_trainer": "step_trainer_trusted",
}


class _Publisher:
    """Writes silver tables into the run's version of the zone, checks their contract on the written data,
    and returns them as read back, so downstream steps start from the lake. A violated contract raises:
    the zone's version is then never published, and readers keep the previous run's silver."""

    def __init__(self, spark: SparkSession, zone: lake.Zone) -> None:
        self.spark, self.zone, self.rows, self.contracts = spark, zone, {}, {}

    def __call__(self, table: str, df: DataFrame) -> DataFrame:
        path = self.zone.path(table)

        def check(written: DataFrame) -> None:
            self.contracts[table] = enforce_contract(table, written)

        lake.write_table(df, path, check=check)
        self.rows[table] = lake.count_rows(self.spark, path)
        return lake.read_table(self.spark, path, df.schema)


def run(spark: SparkSession, args: JobArgs, key: PseudonymKey | None = None) -> JobReport:
    """Silver from the lake's current bronze; `key` pseudonymises the training set (default: the run's
    key as stedi/secrets.py finds it)."""
    started = time.monotonic()
    bronze_version = lake.current_version(args.lake, "bronze")
    bronze = {
        name: lake.read_table(spark, lake.current_table_path(args.lake, "bronze", name), bronze_schema(source))
        for name, source in SOURCES.items()
    }
    zone = lake.Zone(args.lake, "silver", args.run_id)
    publish = _Publisher(spark, zone)
    key = key or pseudonym_key(args.lake)
    # Each step waits only for the tables it reads; what does not depend on it (the counts by reason, a
    # sibling table) runs beside it, so both cores stay busy along the chain of small Spark jobs.
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="silver") as pool:
        customers = classify_customers(bronze["customer"]).cache()
        customer_counts = pool.submit(reason_counts, customers, FILTER_REASON)
        customer_trusted = pool.submit(publish, "customer_trusted", accepted(customers))
        current = publish("customer_current", current_customers(customers))

        readings = bronze["accelerometer"].transform(classify_accelerometer(current, args.consent_policy)).cache()
        reading_counts = pool.submit(reason_counts, readings, FILTER_REASON)
        accelerometer_trusted = publish("accelerometer_trusted", accepted(readings))

        curate = curate_customers(accelerometer_trusted)
        customer_curated = publish("customer_curated", customer_trusted.result().transform(curate))

        classify_steps = classify_step_trainer(device_ownership(current), customer_curated, args.consent_policy)
        steps = bronze["step_trainer"].transform(classify_steps).cache()
        step_counts = pool.submit(reason_counts, steps, FILTER_REASON)
        step_trainer_trusted = publish("step_trainer_trusted", accepted(steps))

        pairs = pair_readings(accelerometer_trusted, keyed_hash(key.value))
        publish("machine_learning_curated", step_trainer_trusted.transform(pairs))
        filtered = {
            "customer": customer_counts.result(),
            "accelerometer": reading_counts.result(),
            "step_trainer": step_counts.result(),
        }

    for frame in (customers, readings, steps):
        frame.unpersist()
    sources = {
        name: SourceCounts(accepted=publish.rows[table], filtered=filtered[name])
        for name, table in TRUSTED_TABLE.items()
    }
    # What this version was made of, so a later run knows whether it is behind bronze or the settings
    # (stedi/ingestion.py, plan_lake), and what it accounts for without reading a pruned run report.
    zone.built_from = {
        "bronze": bronze_version,
        **ingestion.BuiltWith(args.consent_policy, ingestion.key_id(key.value), args.logic or None).as_json(),
        "accounting": {name: {"accepted": c.accepted, "filtered": c.filtered} for name, c in sources.items()},
    }
    zone.publish()
    # In the contracts' order, whichever thread published first
    tables = [TableRows("silver", table, publish.rows[table]) for table in CONTRACTS]
    contracts = [Contract(**publish.contracts[table]) for table in CONTRACTS]
    return write_report(args, JOB, started, tables=tables, sources=sources, contracts=contracts)


def main(argv: Sequence[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":  # spark-submit, and Glue (stedi deploy glue uploads this file as the job's script)
    main()  # an exception fails the run; no SystemExit, which some Glue runtimes report as a failure
