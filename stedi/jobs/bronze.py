"""Bronze job: landing JSON lines -> typed bronze tables, and quarantine for records that break a rule."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from stedi import ingestion, lake
from stedi.jobs.common import JobArgs, job_main, write_report
from stedi.landing import SourceFiles, inspect_landing
from stedi.report import AccountingError, Files, JobReport, SourceCounts, TableRows, quarantine_breaches
from stedi.rules import CONFLICTING_READING, DUPLICATE_RECORD
from stedi.secrets import PseudonymKey
from stedi.sources import SOURCES, Source
from stedi.text import format_counts
from stedi.transforms.bronze import (
    QUARANTINED_FILES_TABLE,
    bronze_records,
    bronze_schema,
    distinct_lines,
    flags,
    held_conflicts,
    held_fields,
    held_records,
    new_records,
    one_copy_per_record,
    parse_landing,
    quarantine_conflicts,
    quarantine_records,
    quarantine_schema,
    quarantined_files_schema,
    quarantined_lines,
    touched_by,
    unsettled,
    with_lineage,
)
from stedi.transforms.cells import CELL, bronze_day

JOB = "bronze"


class EmptySourceError(RuntimeError):
    """A source has no readable landing files although the lake holds its records from earlier runs."""


def landing_files(spark: SparkSession, args: JobArgs, state: ingestion.IngestionState | None) -> dict[str, SourceFiles]:
    """Each source's landing files (stedi/landing.py); those the lake ingested unchanged (`state`) are not
    checked again. A source without any it can read, whose bronze table holds records from earlier runs,
    fails the run before anything is published: a missing folder or an empty export would otherwise empty
    its tables, the training set and the warehouse, in a run that reports success. A user who means it
    names the source in `allow_empty`."""
    known = {name: ingestion.known_files(state, name) for name in SOURCES} if state is not None else None
    found = inspect_landing(args.landing, SOURCES, known)
    empty = [
        name
        for name, files in found.items()
        if not files.read and not _readable_unchecked(files, state, name) and name not in args.allowed_empty
    ]
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


def _readable_unchecked(files: SourceFiles, state: ingestion.IngestionState | None, source: str) -> bool:
    known = state.files.get(source, {}) if state is not None else {}
    return any(known[f.path].rule is None for f in files.unchecked if f.path in known)


@dataclass(frozen=True)
class Held:
    """What bronze and quarantine hold of a source before this run: the tables an incremental run merges into."""

    bronze: str
    quarantine: str


@dataclass
class Ingested:
    counts: SourceCounts  # this run's lines
    totals: ingestion.Totals  # the lake's, since its first run
    files: dict[str, ingestion.IngestedFile]
    # The day cells of a reading source written this run, which silver rebuilds (None: all, a full build)
    cells: list[str] | None = None
    carried: bool = False  # the source's tables are the previous version's files: nothing new to merge


def ingest_source(
    spark: SparkSession,
    args: JobArgs,
    source: Source,
    plan: ingestion.SourcePlan,
    known: dict[str, ingestion.IngestedFile] | None,
    held: Held | None,
    earlier_totals: ingestion.Totals | None,
    zones: tuple[lake.Zone, lake.Zone],
) -> Ingested:
    """One source's new lines (`plan.read`) into bronze and quarantine: merged with what they hold (`held`),
    or, without it, as the source's whole content."""
    bronze, quarantine = zones
    files = ingestion.ingested_files(plan, known, args.run_id, args.ingested_at)
    batches = ingestion.lineage_batches(files, plan.read)
    batch_of = {f.path: i for i, group in enumerate(batches.values()) for f in group}
    lineage = [(run_id, ingestion.parse_instant(instant)) for run_id, instant in batches]
    to_read = SourceFiles(lake.landing_folder(args.landing, source.name), read=plan.read)
    # Parsed texts and distinct records each feed several Spark jobs: staged once each (lake.stage).
    lines = lake.read_landing_ranked(spark, to_read, batch_of)
    texts = lake.with_file_names(lines.transform(distinct_lines), to_read).transform(with_lineage(lineage))
    parsed = lake.stage(texts.transform(parse_landing(source)), bronze.scratch(f"{source.name}-texts"))
    lines_by_rule = parsed.groupBy("_rule").agg(F.sum("_lines").alias("lines")).collect()
    by_rule = {row["_rule"]: row["lines"] for row in lines_by_rule}
    landing, valid = sum(by_rule.values()), by_rule.pop(None, 0)
    candidates, kept_bronze, kept_quarantine = new_records(parsed), None, None
    cells = None  # the day cells of a reading source this run writes; None: all of them
    if held is not None:
        if source.read_at is None:
            earlier_bronze = lake.read_table(spark, held.bronze, bronze_schema(source))
        else:  # a held record a new one touches shares its reading key, instant included: its day
            days = _cells_of(candidates.select(bronze_day(source).alias(CELL)))
            # Exports repeat lines of earlier days: those days are read narrow, and only the days where a
            # new record may change something go through the exact merge below, whole.
            narrow = lake.read_cells(spark, held.bronze, days, held_fields(source))
            cells = _cells_of(candidates.transform(unsettled(source, narrow)).select(bronze_day(source).alias(CELL)))
            candidates = candidates.filter(bronze_day(source).isin(sorted(cells)) if cells else F.lit(False))
            earlier_bronze = lake.read_cells(spark, held.bronze, cells, bronze_schema(source))
        earlier_quarantine = spark.read.schema(quarantine_schema()).json(held.quarantine)
        split = touched_by(source, candidates)
        touched_bronze, kept_bronze = split(earlier_bronze)
        touched, kept_quarantine = touched_bronze.transform(held_records(source)), earlier_quarantine
        if source.key:  # conflicting versions, which quarantine holds and a new record may join, need a key
            touched_conflicts, kept_conflicts = split(earlier_quarantine.transform(held_conflicts(source)))
            kept_quarantine = earlier_quarantine.filter(F.col("rule") != CONFLICTING_READING).unionByName(
                kept_conflicts.withColumn("_rule", F.lit(CONFLICTING_READING)).transform(quarantine_records(source))
            )
            touched = touched.unionByName(touched_conflicts)
        candidates = candidates.unionByName(touched)
    distinct = candidates.transform(one_copy_per_record(source))
    records = lake.stage(distinct.transform(quarantine_conflicts(source)), bronze.scratch(f"{source.name}-records"))
    measured = _measure(records, source)
    drift = extra_field_counts(records) if measured["drifted"] else {}
    table = records.transform(bronze_records(source))
    table_path = bronze.path(source.name)
    merged = table if kept_bronze is None else kept_bronze.unionByName(table)
    if source.read_at is None:
        lake.write_table(merged, table_path)
    else:
        by_day = merged.withColumn(CELL, bronze_day(source))
        if cells is not None:
            # Only the days whose records change: a new record, a held one moved to quarantine, a held one
            # now first delivered by a new file. A copy of a held record changes no day: it stays as held.
            changes = (F.col("_ingest_run_id") == args.run_id) | (
                (F.col("_held_in_bronze") == 1) & (F.col("_rule") == CONFLICTING_READING)
            )
            cells = _cells_of(records.filter(changes).select(bronze_day(source).alias(CELL)))
            lake.carry_cells(held.bronze, table_path, rewritten=cells)
            by_day = by_day.filter(F.col(CELL).isin(sorted(cells)))
        lake.write_cells(by_day, table_path, bronze.scratch(f"{source.name}-cells"))
    broken = records.filter(F.col("_rule").isNotNull()).transform(quarantine_records(source))
    if by_rule:  # a broken text is quarantined once per line holding it, with that line's file
        per_line = lake.with_file_names(lines.transform(quarantined_lines(source, parsed)), to_read)
        broken = per_line.unionByName(broken)
    if kept_quarantine is not None:
        broken = kept_quarantine.unionByName(broken)
    lake.write_table(broken, quarantine.path(source.name), fmt="json")
    # This run's lines: a line of a record new to the lake is its copy (kept or quarantined as a conflicting
    # version); every other valid line is a duplicate. Held records that now conflict move to quarantine.
    conflicting = measured["new_conflicting"]
    quarantined = by_rule | ({CONFLICTING_READING: conflicting} if conflicting else {})
    duplicates = valid - measured["new"]
    moved = {f"bronze -> quarantined ({CONFLICTING_READING})": measured["moved"]} if measured["moved"] else {}
    counts = SourceCounts(
        files=plan.files_report(),
        landing=landing,
        bronze=measured["new"] - conflicting,
        quarantined=dict(sorted(quarantined.items())),
        filtered={DUPLICATE_RECORD: duplicates} if duplicates else {},
        flagged={name: measured[name] for name in flags(source) if measured[name]},
        extra_fields=drift,
        moved=moved,
        warnings=plan.warnings + _empty_warning(files, to_read.folder),
    )
    totals = ingestion.Totals() if held is None else earlier_totals
    totals = totals.plus(counts, duplicates, measured["moved"], bronze=lake.count_rows(spark, table_path))
    if totals.unaccounted:
        raise AccountingError(
            f"{source.name}: the lake's records do not add up after this run ({totals}); nothing was published"
        )
    return Ingested(counts, totals, files, None if cells is None else sorted(cells))


def _cells_of(rows: DataFrame) -> set[str]:
    return {row[CELL] for row in rows.distinct().collect()}


def _empty_warning(files: dict[str, ingestion.IngestedFile], folder: str) -> list[str]:
    if any(f.rule is None for f in files.values()):
        return []
    return [f"no {'readable ' if files else ''}landing files in {folder}"]


def _measure(records: DataFrame, source: Source) -> dict[str, int]:
    """In one pass over the distinct records: how many are new to the lake, how many of those conflict,
    how many held in bronze now conflict (`moved`), and, among the new ones kept in bronze, how many
    drifted and how many break each warn rule."""
    new = F.col("_held") == 0
    kept = F.col("_rule").isNull() & new
    conflicting = F.col("_rule") == CONFLICTING_READING
    measures = {
        "new": F.count(F.when(new, 1)),
        "new_conflicting": F.count(F.when(new & conflicting, 1)),
        "moved": F.count(F.when((F.col("_held_in_bronze") == 1) & conflicting, 1)),
        "drifted": F.count(F.when(kept, F.col("_extra_fields"))),
    }
    measures |= {name: F.sum(F.when(kept, flag).otherwise(0)) for name, flag in flags(source).items()}
    row = records.agg(*[m.alias(n) for n, m in measures.items()]).collect()[0]
    return {name: row[name] or 0 for name in measures}


def extra_field_counts(records: DataFrame) -> dict[str, int]:
    """Records per field the source does not declare (schema drift), among records kept in bronze."""
    new_kept = F.col("_rule").isNull() & (F.col("_held") == 0)
    keys = records.filter(new_kept).select(F.explode(F.map_keys(F.col("_extra_fields"))).alias("key"))
    return {row["key"]: row["count"] for row in keys.groupBy("key").count().orderBy("key").collect()}


def write_quarantined_files(files: dict[str, dict[str, ingestion.IngestedFile]], path: str) -> None:
    """One row per file the lake holds quarantined whole, with its source, path, rule, what the system said
    and the run that met it: a handful of rows, written as JSON lines without a Spark job (columns:
    quarantined_files_schema)."""
    columns = quarantined_files_schema().fieldNames()
    rows = [
        dict(
            zip(
                columns,
                (name, f.path, f.rule, f.detail, f.size, f.run_id, ingestion.parse_instant(f.ingested_at)),
                strict=True,
            )
        )
        for name, held in files.items()
        for f in held.values()
        if f.rule is not None
    ]
    lake.write_json_lines(path, rows)


def plan_run(
    spark: SparkSession, args: JobArgs
) -> tuple[ingestion.IngestionState | None, dict[str, SourceFiles], dict[str, ingestion.SourcePlan]]:
    """The lake's state, the landing as it is now, and what bronze reads of each source."""
    state = ingestion.read_state(args.lake)
    incremental = state is not None and not args.is_full_refresh
    found = landing_files(spark, args, state if incremental else None)
    plans = {
        name: ingestion.plan_source(found[name], state.files.get(name, {}) if incremental else None) for name in SOURCES
    }
    return state, found, plans


def run(spark: SparkSession, args: JobArgs, key: PseudonymKey | None = None) -> JobReport:
    """Bronze from the landing's new files, or from all of them (a full run); `key` is not needed: bronze
    keeps the landing's emails (a PII zone). With nothing new, nothing is published."""
    started = time.monotonic()
    state, _, plans = plan_run(spark, args)
    mode = "full" if state is None or args.is_full_refresh else "incremental"
    new_files = {name: plan.new for name, plan in plans.items()}
    ahead = state is not None and state.quarantine_version not in (None, lake.current_version(args.lake, "quarantine"))
    if mode == "incremental" and not ahead and not any(p.read or p.quarantined or p.rebuild for p in plans.values()):
        tables = [TableRows("landing", f"{name}_landing", 0) for name in SOURCES]
        return write_report(args, JOB, started, tables=tables, mode=mode, new_files=new_files)
    bronze, quarantine = lake.Zone(args.lake, "bronze", args.run_id), lake.Zone(args.lake, "quarantine", args.run_id)

    def ingest(source: Source) -> Ingested | None:
        plan = plans[source.name]
        known = state.files.get(source.name, {}) if state is not None else None
        if mode == "incremental" and not plan.rebuild and not plan.read:
            # Nothing new to merge: the source's tables go into the new versions as they are.
            lake.carry_table(lake.current_table_path(args.lake, "bronze", source.name), bronze.path(source.name))
            lake.carry_table(_held_quarantine(args, state, source.name), quarantine.path(source.name))
            files = ingestion.ingested_files(plan, known, args.run_id, args.ingested_at)
            counts = SourceCounts(files=plan.files_report(), landing=0, bronze=0)
            return Ingested(counts, state.totals[source.name], files, [], carried=True)
        merge = mode == "incremental" and not plan.rebuild
        held = (
            Held(lake.current_table_path(args.lake, "bronze", source.name), _held_quarantine(args, state, source.name))
            if merge
            else None
        )
        earlier = state.totals[source.name] if merge else None
        return ingest_source(
            spark, args, source, plan, known if state is not None else None, held, earlier, (bronze, quarantine)
        )

    # The sources are independent; ingesting them side by side keeps both cores busy where one source
    # has too few files to use them (the customer landing is a single file).
    with ThreadPoolExecutor(max_workers=len(SOURCES), thread_name_prefix="bronze") as pool:
        ingested = dict(zip(SOURCES, pool.map(ingest, SOURCES.values()), strict=True))
    sources = {name: result.counts for name, result in ingested.items()}
    tables = [TableRows("landing", f"{name}_landing", s.landing) for name, s in sources.items()]
    held_files = {name: result.files for name, result in ingested.items()}
    totals = {name: result.totals for name, result in ingested.items()}
    lake_counts = {name: _lake_counts(t, held_files[name]) for name, t in totals.items()}
    report = {"tables": tables, "sources": sources, "mode": mode, "new_files": new_files, "lake_counts": lake_counts}
    # The threshold on the lake's share, as a full rebuild measures it: the same files pass or fail either way.
    if quarantine_breaches(lake_counts, args.threshold):
        # Nothing is published: the next run meets the same files as new (the flow fails this run).
        return write_report(args, JOB, started, **report)
    write_quarantined_files(held_files, quarantine.path(QUARANTINED_FILES_TABLE))
    # Quarantine first, then bronze with the state naming that quarantine version: a run killed between
    # the two leaves bronze and its state as they were, and the next run merges into the quarantine
    # version that state names (kept by the publication until bronze moves on).
    quarantine.publish(keep={state.quarantine_version} if state is not None and state.quarantine_version else set())
    new_state = ingestion.IngestionState(held_files, totals, quarantine.version)
    lake.write_json(ingestion.state_path(bronze), new_state.to_json())
    # What changed since the version before, for a silver built from that one (stedi/jobs/silver.py)
    bronze.built_from = {
        "previous": lake.current_version(args.lake, "bronze"),
        "changed_cells": {name: result.cells for name, result in ingested.items() if SOURCES[name].read_at},
        "carried": sorted(name for name, result in ingested.items() if result.carried),
    }
    bronze.publish()
    tables += [TableRows("bronze", name, totals[name].bronze) for name in SOURCES]
    return write_report(args, JOB, started, **report)


def _lake_counts(totals: ingestion.Totals, files: dict[str, ingestion.IngestedFile]) -> SourceCounts:
    """A source's records and files since the lake's first run."""
    counts = totals.as_counts()
    by_rule: dict[str, int] = {}
    for f in files.values():
        if f.rule is not None:
            by_rule[f.rule] = by_rule.get(f.rule, 0) + 1
    counts.files = Files(
        landing=len(files), read=len(files) - sum(by_rule.values()), quarantined=dict(sorted(by_rule.items()))
    )
    return counts


def _held_quarantine(args: JobArgs, state: ingestion.IngestionState | None, source: str) -> str:
    """A source's quarantine table in the version bronze's state names: the one its records go with."""
    if state is None or state.quarantine_version is None:
        return lake.current_table_path(args.lake, "quarantine", source)
    return lake.version_table_path(args.lake, "quarantine", state.quarantine_version, source)


def main(argv: Sequence[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":  # spark-submit, and Glue (stedi deploy glue uploads this file as the job's script)
    main()  # an exception fails the run; no SystemExit, which some Glue runtimes report as a failure
