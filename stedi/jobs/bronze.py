"""Bronze job: landing JSON lines -> typed bronze tables, and quarantine for records that break a rule."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from stedi import lake
from stedi.jobs.common import JobArgs, job_main, write_report
from stedi.landing import SourceFiles, inspect_landing
from stedi.report import JobReport, SourceCounts, TableRows
from stedi.rules import CONFLICTING_READING, DUPLICATE_RECORD
from stedi.secrets import PseudonymKey
from stedi.sources import SOURCES, Source
from stedi.text import format_counts
from stedi.transforms.bronze import (
    QUARANTINED_FILES_TABLE,
    bronze_records,
    distinct_lines,
    flags,
    one_copy_per_record,
    parse_landing,
    quarantine_conflicts,
    quarantine_records,
    quarantined_files_schema,
    quarantined_lines,
)

JOB = "bronze"


class EmptySourceError(RuntimeError):
    """A source has no readable landing files although the lake holds its records from earlier runs."""


def landing_files(spark: SparkSession, args: JobArgs) -> dict[str, SourceFiles]:
    """Each source's landing files (stedi/landing.py). A source without any it can read, whose bronze
    table holds records from earlier runs, fails the run before anything is published: a missing folder
    or an empty export would otherwise empty its tables, the training set and the warehouse, in a run
    that reports success. A user who means it names the source in `allow_empty`."""
    found = inspect_landing(args.landing, SOURCES)
    empty = [name for name, files in found.items() if not files.read and name not in args.allowed_empty]
    if not empty or lake.current_version(args.lake, "bronze") is None:  # a first run may find a source empty
        return found
    for name in empty:
        held = lake.count_rows(spark, lake.current_table_path(args.lake, "bronze", name))
        if held:
            files = found[name]
            quarantined = format_counts(files.report().quarantined)
            what = f"readable landing files (quarantined: {quarantined})" if files.quarantined else "landing files"
            raise EmptySourceError(
                f"{name}: no {what} in {files.folder}, but the lake holds {held:,} of its records from "
                f"earlier runs; nothing was published (to publish it empty, pass --allow-empty {name})"
            )
    return found


def ingest_source(
    spark: SparkSession, args: JobArgs, source: Source, files: SourceFiles, bronze: lake.Zone, quarantine: lake.Zone
) -> SourceCounts:
    # Parsed texts and distinct records each feed several Spark jobs: staged once each (lake.stage).
    parse = parse_landing(source, args.run_id, args.ingested_at_dt)
    lines = lake.read_landing_ranked(spark, files)
    texts = lake.with_file_names(lines.transform(distinct_lines), files)
    parsed = lake.stage(texts.transform(parse), bronze.scratch(f"{source.name}-texts"))
    lines_by_rule = parsed.groupBy("_rule").agg(F.sum("_lines").alias("lines")).collect()
    by_rule = {row["_rule"]: row["lines"] for row in lines_by_rule}
    landing, valid = sum(by_rule.values()), by_rule.pop(None, 0)
    distinct = parsed.filter(F.col("_rule").isNull()).transform(one_copy_per_record(source))
    records = lake.stage(distinct.transform(quarantine_conflicts(source)), bronze.scratch(f"{source.name}-records"))
    measured = _measure(records, source)
    drift = extra_field_counts(records) if measured["drifted"] else {}
    lake.write_table(records.transform(bronze_records(source)), bronze.path(source.name))
    broken = records.transform(quarantine_records(source))
    if by_rule:  # a broken text is quarantined once per line holding it, with that line's file
        per_line = lake.with_file_names(lines.transform(quarantined_lines(source, parsed)), files)
        broken = per_line.unionByName(broken)
    lake.write_table(broken, quarantine.path(source.name), fmt="json")
    quarantined = by_rule | ({CONFLICTING_READING: measured["conflicting"]} if measured["conflicting"] else {})
    duplicates = valid - measured["distinct"]
    return SourceCounts(
        files=files.report(),
        landing=landing,
        bronze=measured["distinct"] - measured["conflicting"],
        quarantined=dict(sorted(quarantined.items())),
        filtered={DUPLICATE_RECORD: duplicates} if duplicates else {},
        flagged={name: measured[name] for name in flags(source) if measured[name]},
        extra_fields=drift,
        warnings=[]
        if files.read
        else [f"no {'readable ' if files.quarantined else ''}landing files in {files.folder}"],
    )


def _measure(records: DataFrame, source: Source) -> dict[str, int]:
    """In one pass over the distinct records: how many, how many conflict, and, among those kept in bronze,
    how many drifted and how many break each warn rule."""
    kept = F.col("_rule").isNull()
    measures = {
        "distinct": F.count(F.lit(1)),
        "conflicting": F.count(F.col("_rule")),
        "drifted": F.count(F.when(kept, F.col("_extra_fields"))),
    }
    measures |= {name: F.sum(F.when(kept, flag).otherwise(0)) for name, flag in flags(source).items()}
    row = records.agg(*[m.alias(n) for n, m in measures.items()]).collect()[0]
    return {name: row[name] or 0 for name in measures}


def extra_field_counts(records: DataFrame) -> dict[str, int]:
    """Records per field the source does not declare (schema drift), among records kept in bronze."""
    keys = records.filter(F.col("_rule").isNull()).select(F.explode(F.map_keys(F.col("_extra_fields"))).alias("key"))
    return {row["key"]: row["count"] for row in keys.groupBy("key").count().orderBy("key").collect()}


def write_quarantined_files(args: JobArgs, files: dict[str, SourceFiles], path: str) -> None:
    """One row per file quarantined whole, with its source, path, rule and what the system said: a handful
    of rows, written as JSON lines without a Spark job (columns: quarantined_files_schema)."""
    columns = quarantined_files_schema().fieldNames()
    rows = [
        dict(zip(columns, (name, q.path, q.rule, q.detail, q.size, args.run_id, args.ingested_at_dt), strict=True))
        for name, found in files.items()
        for q in found.quarantined
    ]
    lake.write_json_lines(path, rows)


def run(spark: SparkSession, args: JobArgs, key: PseudonymKey | None = None) -> JobReport:
    """Bronze from the landing; `key` is not needed: bronze keeps the landing's emails (a PII zone)."""
    started = time.monotonic()
    files = landing_files(spark, args)
    bronze, quarantine = lake.Zone(args.lake, "bronze", args.run_id), lake.Zone(args.lake, "quarantine", args.run_id)
    # The sources are independent; ingesting them side by side keeps both cores busy where one source
    # has too few files to use them (the customer landing is a single file).
    with ThreadPoolExecutor(max_workers=len(SOURCES), thread_name_prefix="bronze") as pool:
        ingested = pool.map(
            lambda source: ingest_source(spark, args, source, files[source.name], bronze, quarantine), SOURCES.values()
        )
        sources = dict(zip(SOURCES, ingested, strict=True))
    write_quarantined_files(args, files, quarantine.path(QUARANTINED_FILES_TABLE))
    bronze.publish()
    quarantine.publish()
    tables = [TableRows("landing", f"{name}_landing", s.landing) for name, s in sources.items()]
    tables += [TableRows("bronze", name, s.bronze) for name, s in sources.items()]
    return write_report(args, JOB, started, tables=tables, sources=sources)


def main(argv: Sequence[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":  # spark-submit, and Glue (stedi deploy glue uploads this file as the job's script)
    main()  # an exception fails the run; no SystemExit, which some Glue runtimes report as a failure
