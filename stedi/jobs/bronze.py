"""Bronze job: landing JSON lines -> typed bronze tables, and quarantine for records that break a rule."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from stedi import lake
from stedi.jobs.common import JobArgs, job_main, write_report
from stedi.sources import SOURCES, Source
from stedi.transforms.bronze import bronze_records, flags, parse_landing, quarantine_records

JOB = "bronze"


def ingest_source(spark: SparkSession, args: JobArgs, source: Source) -> dict[str, Any]:
    folder = lake.landing_folder(args.landing, source.name)
    files = lake.list_files(spark, folder)
    parsed = lake.read_landing(spark, files).transform(parse_landing(source, args.run_id, args.ingested_at_dt))
    parsed = parsed.cache()
    try:
        # One pass counts records per broken rule, drifted records and, per warn rule, flagged records.
        warn_flags = flags(source)
        measures = {"records": F.count(F.lit(1)), "drifted": F.count(F.col("_extra_fields"))}
        measures |= {name: F.sum(flag) for name, flag in warn_flags.items()}
        by_rule = parsed.groupBy("_rule").agg(*[m.alias(n) for n, m in measures.items()]).collect()
        quarantined = {row["_rule"]: row["records"] for row in by_rule if row["_rule"] is not None}
        landing = sum(row["records"] for row in by_rule)
        in_bronze = next((row for row in by_rule if row["_rule"] is None), None)
        flagged = {name: in_bronze[name] for name in warn_flags if in_bronze and in_bronze[name]}
        drift = extra_field_counts(parsed) if in_bronze and in_bronze["drifted"] else {}  # counted among bronze
        lake.publish(parsed.transform(bronze_records(source)), lake.table_path(args.lake, "bronze", source.name))
        lake.publish(
            parsed.transform(quarantine_records(source)),
            lake.table_path(args.lake, "quarantine", source.name),
            fmt="json",
        )
    finally:
        parsed.unpersist()
    return {
        "files": len(files),
        "landing": landing,
        "bronze": landing - sum(quarantined.values()),
        "quarantined": quarantined,
        "flagged": flagged,
        "extra_fields": drift,
        "warnings": [] if files else [f"no landing files in {folder}"],
    }


def extra_field_counts(parsed: DataFrame) -> dict[str, int]:
    """Records per field the source does not declare (schema drift), among records kept in bronze."""
    keys = parsed.filter(F.col("_rule").isNull()).select(F.explode(F.map_keys(F.col("_extra_fields"))).alias("key"))
    return {row["key"]: row["count"] for row in keys.groupBy("key").count().orderBy("key").collect()}


def run(spark: SparkSession, args: JobArgs) -> dict[str, Any]:
    started = time.monotonic()
    # The sources are independent; ingesting them side by side keeps both cores busy where one source
    # has too few files to use them (the customer landing is a single file).
    with ThreadPoolExecutor(max_workers=len(SOURCES), thread_name_prefix="bronze") as pool:
        ingested = pool.map(lambda source: ingest_source(spark, args, source), SOURCES.values())
        sources = dict(zip(SOURCES, ingested, strict=True))
    tables = {f"{name}_landing": {"rows": s["landing"]} for name, s in sources.items()}
    tables |= {f"bronze.{name}": {"rows": s["bronze"]} for name, s in sources.items()}
    return write_report(args, JOB, started, {"sources": sources, "tables": tables})


def main(argv: Sequence[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":  # spark-submit, and Glue (stedi deploy glue uploads this file as the job's script)
    main()  # an exception fails the run; no SystemExit, which some Glue runtimes report as a failure
