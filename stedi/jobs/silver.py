"""Silver job: bronze -> trusted and curated tables, with every left-out record counted by reason.

Customer tables are small and built whole. The reading tables are kept in day cells (stedi/lake.py,
write_cells): after a bronze run that merged new files, silver rebuilds only the days those files wrote,
and the days of every reading whose fate may have changed with a customer (a newer record, a withdrawn
or given consent, a first trusted reading that curates them) or a device (another owner); the other
days are carried from the previous version. A full build rebuilds every day.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from schemas.enforce import enforce_contract
from schemas.silver import CONTRACTS
from stedi import ingestion, lake
from stedi.jobs.common import JobArgs, job_main, reason_counts, write_report
from stedi.report import Contract, JobReport, SourceCounts, TableRows
from stedi.rules import stripped
from stedi.secrets import PseudonymKey, pseudonym_key
from stedi.sources import ACCELEROMETER, SOURCES, STEP_TRAINER
from stedi.transforms.bronze import bronze_schema
from stedi.transforms.cells import CELL, bronze_day, reading_day
from stedi.transforms.changes import changed_keys
from stedi.transforms.pseudonyms import keyed_hash
from stedi.transforms.silver import (
    FILTER_REASON,
    READING_FATE,
    accepted,
    classify_accelerometer,
    classify_customers,
    classify_step_trainer,
    curate_customers,
    current_customers,
    device_ownership,
    normalize_email,
    pair_readings,
)

JOB = "silver"
# A source's `accepted` records are the rows of its trusted table.
TRUSTED_TABLE = {
    "customer": "customer_trusted",
    "accelerometer": "accelerometer_trusted",
    "step_trainer": "step_trainer_trusted",
}
Cells = set[str] | None  # the day cells a step rebuilds; None: all of them


@dataclass(frozen=True)
class Basis:
    """What an incremental silver builds on: the previous version, and the cells bronze rewrote since."""

    version: str
    built_from: dict[str, Any]
    bronze_cells: dict[str, Cells]
    carried: set[str]  # the sources whose bronze table is the very one the previous version was built from

    def table(self, args: JobArgs, name: str) -> str:
        return lake.version_table_path(args.lake, "silver", self.version, name)


def basis(args: JobArgs, bronze_version: str | None, settings: ingestion.BuiltWith) -> Basis | None:
    """The previous silver, if this one can build on it: same settings, and built from the bronze version
    this one's came from (or from this one). None: a full build."""
    previous = None if args.is_full_refresh else lake.zone_manifest(args.lake, "silver")
    built = (previous or {}).get("built_from", {})
    if previous is None or "cells" not in built or settings.differs_from(built):
        return None
    if built.get("bronze") == bronze_version:
        return Basis(previous["version"], built, {name: set() for name in built["cells"]}, set(SOURCES))
    bronze = (lake.zone_manifest(args.lake, "bronze") or {}).get("built_from", {})
    if bronze.get("previous") != built.get("bronze") or "changed_cells" not in bronze:
        return None  # bronze moved more than once since: nothing says which cells
    cells = {name: None if c is None else set(c) for name, c in bronze["changed_cells"].items()}
    return Basis(previous["version"], built, cells, set(bronze.get("carried", [])))


class _Publisher:
    """Writes silver tables into the run's version of the zone, checks their contract on the written data,
    and returns them as read back, so downstream steps start from the lake. A violated contract raises:
    the zone's version is then never published, and readers keep the previous run's silver."""

    def __init__(self, spark: SparkSession, zone: lake.Zone, args: JobArgs, basis: Basis | None) -> None:
        self.spark, self.zone, self.args, self.basis = spark, zone, args, basis
        self.rows: dict[str, int] = {}
        self.contracts: dict[str, dict[str, Any]] = {}

    def __call__(self, table: str, df: DataFrame) -> DataFrame:
        path = self.zone.path(table)

        def check(written: DataFrame) -> None:
            self.contracts[table] = enforce_contract(table, written)

        lake.write_table(df, path, check=check)
        self.rows[table] = lake.count_rows(self.spark, path)
        return lake.read_table(self.spark, path, df.schema)

    def carry(self, table: str) -> DataFrame:
        """A table built from the very records the previous version's was: that version's files, linked
        into this one, not built again; its contract is checked on them all the same."""
        assert self.basis is not None
        path = self.zone.path(table)
        lake.carry_table(self.basis.table(self.args, table), path)
        carried = lake.read_table(self.spark, path, CONTRACTS[table].to_structtype())
        self.contracts[table] = enforce_contract(table, carried)
        self.rows[table] = lake.count_rows(self.spark, path)
        return carried

    def cells(self, table: str, df: DataFrame, rebuilt: Cells) -> DataFrame:
        """A reading table: `df` (with CELL) as its cells `rebuilt`, the others carried from the previous
        version. The contract is checked on the cells written: the carried ones passed it when they were,
        and every key of a reading table holds an instant, so no key spans two cells."""
        path, schema = self.zone.path(table), df.drop(CELL).schema
        if rebuilt is not None and self.basis is not None:
            lake.carry_cells(self.basis.table(self.args, table), path, rebuilt)
        lake.write_cells(df, path, self.zone.scratch(f"{table}-cells"))
        written = self.read(table, rebuilt)
        self.contracts[table] = enforce_contract(table, written)
        self.rows[table] = lake.count_rows(self.spark, path)
        return lake.read_table(self.spark, path, schema)

    def read(self, table: str, cells: Cells) -> DataFrame:
        """A reading table of this version, in `cells` only."""
        path, schema = self.zone.path(table), CONTRACTS[table].to_structtype()
        return (
            lake.read_table(self.spark, path, schema)
            if cells is None
            else lake.read_cells(self.spark, path, cells, schema)
        )


def _fate(customers: DataFrame) -> DataFrame:
    return customers.select(*READING_FATE)


def _cells_of(rows: DataFrame) -> set[str]:
    return {row[CELL] for row in rows.select(CELL).distinct().collect()}


def _union(*cells: Cells) -> Cells:
    return None if any(c is None for c in cells) else set().union(*cells)


def counts_by_cell(classified: DataFrame) -> dict[str, dict[str, int]]:
    """Left-out rows per cell and reason, so that a run rebuilding some cells counts the others unread."""
    counts: dict[str, dict[str, int]] = {}
    for row in classified.groupBy(CELL, FILTER_REASON).count().collect():
        reasons = counts.setdefault(row[CELL], {})
        if row[FILTER_REASON] is not None:
            reasons[row[FILTER_REASON]] = row["count"]
    return counts


def _merge_counts(earlier: dict[str, dict[str, int]], rebuilt: Cells, counted: dict[str, dict[str, int]]):
    kept = {} if rebuilt is None else {cell: c for cell, c in earlier.items() if cell not in rebuilt}
    return dict(sorted({**kept, **counted}.items()))


def _total(by_cell: dict[str, dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for reasons in by_cell.values():
        for reason, n in reasons.items():
            total[reason] = total.get(reason, 0) + n
    return dict(sorted(total.items()))


def run(spark: SparkSession, args: JobArgs, key: PseudonymKey | None = None) -> JobReport:
    """Silver from the lake's current bronze; `key` pseudonymises the training set (default: the run's
    key as stedi/secrets.py finds it)."""
    started = time.monotonic()
    key = key or pseudonym_key(args.lake)
    settings = ingestion.BuiltWith(args.consent_policy, ingestion.key_id(key.value), args.logic or None)
    bronze_version = lake.current_version(args.lake, "bronze")
    base = basis(args, bronze_version, settings)
    bronze_paths = {name: lake.current_table_path(args.lake, "bronze", name) for name in SOURCES}

    def bronze(name: str, cells: Cells = None) -> DataFrame:
        schema = bronze_schema(SOURCES[name])
        if cells is None:
            return lake.read_table(spark, bronze_paths[name], schema)
        return lake.read_cells(spark, bronze_paths[name], cells, schema)

    def earlier(table: str) -> DataFrame:
        assert base is not None
        return lake.read_table(spark, base.table(args, table), CONTRACTS[table].to_structtype())

    zone = lake.Zone(args.lake, "silver", args.run_id)
    publish = _Publisher(spark, zone, args, base)
    # Each step waits only for the tables it reads; what does not depend on it (the counts by reason, a
    # sibling table) runs beside it, so both cores stay busy along the chain of small Spark jobs.
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="silver") as pool:
        # Bronze's customer table unchanged: so are the customer tables built from it alone, and their counts.
        customers_carried = base is not None and "customer" in base.carried
        customers = None if customers_carried else classify_customers(bronze("customer")).cache()
        if customers_carried:
            customer_counts = pool.submit(lambda: base.built_from["accounting"]["customer"]["filtered"])
            customer_trusted = pool.submit(publish.carry, "customer_trusted")
            current = publish.carry("customer_current")
        else:
            customer_counts = pool.submit(reason_counts, customers, FILTER_REASON)
            customer_trusted = pool.submit(publish, "customer_trusted", accepted(customers))
            current = publish("customer_current", current_customers(customers))

        # Readings of a customer whose newest record changed (consent, or a first record) may change fate.
        reading_cells: Cells = None
        if base is not None:
            reading_cells = base.bronze_cells["accelerometer"]
            earlier_current = earlier("customer_current")
            people = _fate(current).transform(changed_keys(_fate(earlier_current), ["customer_email"]))
            if reading_cells is not None and not customers_carried and not people.isEmpty():
                theirs = bronze("accelerometer").select(
                    normalize_email(F.col("user")).alias("customer_email"), bronze_day(ACCELEROMETER).alias(CELL)
                )
                reading_cells |= _cells_of(theirs.join(F.broadcast(people), "customer_email", "left_semi"))
        readings = (
            bronze("accelerometer", reading_cells)
            .transform(classify_accelerometer(current, args.consent_policy))
            .withColumn(CELL, reading_day(F.col("reading_at")))
            .cache()
        )
        reading_counts = pool.submit(counts_by_cell, readings)
        accelerometer_trusted = publish.cells("accelerometer_trusted", accepted(readings), reading_cells)

        curate = curate_customers(accelerometer_trusted)
        customer_curated = publish("customer_curated", customer_trusted.result().transform(curate))

        # Steps of a device whose owners changed, or whose owner's curated record did, may change fate.
        ownership = device_ownership(current)
        step_cells: Cells = None
        if base is not None:
            step_cells = base.bronze_cells["step_trainer"]
            earlier_ownership = device_ownership(earlier_current)
            curated_changes = _fate(customer_curated).transform(
                changed_keys(_fate(earlier("customer_curated")), ["customer_email"])
            )
            owned = ownership.unionByName(earlier_ownership).join(curated_changes, "customer_email", "left_semi")
            devices = owned.select("serial_number")
            if not customers_carried:  # the owners of a device come from the customer records alone
                devices = ownership.transform(changed_keys(earlier_ownership, ["serial_number"])).unionByName(devices)
            devices = devices.distinct()
            if step_cells is not None and not devices.isEmpty():
                theirs = bronze("step_trainer").select(
                    stripped(F.col("serialNumber")).alias("serial_number"), bronze_day(STEP_TRAINER).alias(CELL)
                )
                step_cells |= _cells_of(theirs.join(F.broadcast(devices), "serial_number", "left_semi"))
        classify_steps = classify_step_trainer(ownership, customer_curated, args.consent_policy)
        steps = (
            bronze("step_trainer", step_cells)
            .transform(classify_steps)
            .withColumn(CELL, reading_day(F.col("reading_at")))
            .cache()
        )
        step_counts = pool.submit(counts_by_cell, steps)
        publish.cells("step_trainer_trusted", accepted(steps), step_cells)

        # A pair is a step and a motion at one instant: the days either side rebuilt.
        pair_cells = _union(reading_cells, step_cells)
        pairs = pair_readings(publish.read("accelerometer_trusted", pair_cells), keyed_hash(key.value))
        training = publish.read("step_trainer_trusted", pair_cells).transform(pairs)
        publish.cells(
            "machine_learning_curated", training.withColumn(CELL, reading_day(F.col("reading_at"))), pair_cells
        )
        earlier_counts = base.built_from["cells"] if base is not None else {}
        by_cell = {
            "accelerometer": _merge_counts(
                earlier_counts.get("accelerometer", {}), reading_cells, reading_counts.result()
            ),
            "step_trainer": _merge_counts(earlier_counts.get("step_trainer", {}), step_cells, step_counts.result()),
        }
        filtered = {"customer": customer_counts.result(), **{name: _total(c) for name, c in by_cell.items()}}

    for frame in (customers, readings, steps):
        if frame is not None:
            frame.unpersist()
    sources = {
        name: SourceCounts(accepted=publish.rows[table], filtered=filtered[name])
        for name, table in TRUSTED_TABLE.items()
    }
    rebuilt = {"accelerometer_trusted": reading_cells, "step_trainer_trusted": step_cells,
               "machine_learning_curated": pair_cells}  # fmt: skip
    # What this version was made of, so a later run knows whether it is behind bronze or the settings
    # (stedi/ingestion.py, plan_lake), what it accounts for without reading a pruned run report, and
    # which cells it rebuilt (gold rebuilds those, stedi/jobs/gold.py).
    zone.built_from = {
        "bronze": bronze_version,
        **settings.as_json(),
        "accounting": {name: {"accepted": c.accepted, "filtered": c.filtered} for name, c in sources.items()},
        "previous": base.version if base is not None else None,
        "rebuilt_cells": {table: None if cells is None else sorted(cells) for table, cells in rebuilt.items()},
        "cells": by_cell,
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
