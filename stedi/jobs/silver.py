"""Silver job: bronze -> trusted and curated tables, with every left-out record counted by reason.

Customer tables are small and built whole. The reading tables are kept in day cells (stedi/lake.py,
write_cells): after a bronze run that merged new files, silver rebuilds the days those files wrote. The
days of every other reading whose fate may have changed with a customer (a newer record, a withdrawn or
given consent, a first trusted reading that curates them) or a device (another owner) are patched: those
readings are classified again, and the day's other rows are the previous version's. The other days are
carried from the previous version. A full build rebuilds every day.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from schemas.enforce import enforce_contract
from schemas.silver import CONTRACTS
from stedi import ingestion, lake
from stedi.jobs.common import JobArgs, Rows, job_main, patch_cells, reason_counts, write_report
from stedi.report import Contract, JobReport, SourceCounts, TableRows
from stedi.rules import stripped
from stedi.secrets import PseudonymKey, pseudonym_key
from stedi.sources import ACCELEROMETER, SOURCES, STEP_TRAINER, Source
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
    and returns them as read back, so downstream steps start from the lake. A check runs on the `pool`
    beside the steps after it, on files no step changes again; `contracts` waits for them all, and a
    violated contract raises there: the zone's version is then never published, and readers keep the
    previous run's silver."""

    def __init__(
        self, spark: SparkSession, zone: lake.Zone, args: JobArgs, basis: Basis | None, pool: ThreadPoolExecutor
    ) -> None:
        self.spark, self.zone, self.args, self.basis, self.pool = spark, zone, args, basis, pool
        self.rows: dict[str, int] = {}
        self.checks: dict[str, Future[dict[str, Any]]] = {}
        self.patched: dict[str, set[str]] = {}  # of a reading table, the cells its patch changed

    def check(self, table: str, written: DataFrame) -> None:
        self.checks[table] = self.pool.submit(enforce_contract, table, written)

    def contracts(self) -> dict[str, dict[str, Any]]:
        """Every table's contract results, once all are checked; the first violated contract raises."""
        return {table: self.checks[table].result() for table in CONTRACTS}

    def __call__(self, table: str, df: DataFrame) -> DataFrame:
        path = self.zone.path(table)
        lake.write_table(df, path)
        written = lake.read_table(self.spark, path, df.schema)
        self.check(table, written)
        self.rows[table] = lake.count_rows(self.spark, path)
        return written

    def carry(self, table: str) -> DataFrame:
        """A table built from the very records the previous version's was: that version's files, linked
        into this one, not built again; its contract is checked on them all the same."""
        assert self.basis is not None
        path = self.zone.path(table)
        lake.carry_table(self.basis.table(self.args, table), path)
        carried = lake.read_table(self.spark, path, CONTRACTS[table].to_structtype())
        self.check(table, carried)
        self.rows[table] = lake.count_rows(self.spark, path)
        return carried

    def cells(self, table: str, df: DataFrame, rebuilt: Cells, patch: _Written | None = None) -> DataFrame:
        """A reading table: `df` (with CELL) as its cells `rebuilt`, the cells a `patch` changes patched
        (common.patch_cells), the others carried from the previous version. The contract is checked on the
        cells rebuilt, and on the patch's rows in the cells it changed (as staged: the rows written there):
        the carried cells, and a patched cell's other rows, passed it when they were written; every key of
        a reading table holds an instant, so no key spans two cells, and the columns a patch is by are part
        of the table's key, so no key spans a patch's rows and the others."""
        path, schema = self.zone.path(table), df.drop(CELL).schema
        applied = None
        if patch is not None and patch.cells:
            assert self.basis is not None and patch.rows is not None
            key = getattr(CONTRACTS[table].Config, "unique", None) or []
            if key and not set(patch.columns) <= set(key):
                raise ValueError(f"{table}: a patch by {patch.columns} may split its key {key} (schemas/silver.py)")
            earlier, staged = self.basis.table(self.args, table), lake.patch_rows_path(self.zone.root, table)
            contract = CONTRACTS[table].to_structtype()
            applied = patch_cells(
                self.spark, earlier, contract, patch.cells, patch.rows, patch.split, staged, patch.before
            )
            if applied.rows is not None:
                df = df.unionByName(applied.rows)
        changed = applied.changed if applied is not None else set()
        self.patched[table] = changed
        if rebuilt is not None and self.basis is not None:
            rewritten = applied.rewritten if applied is not None else set()
            lake.carry_cells(self.basis.table(self.args, table), path, rebuilt | rewritten)
        lake.write_cells(df, path, self.zone.scratch(f"{table}-cells"))
        written = self.read(table, rebuilt)
        if applied is not None and changed:
            written = written.unionByName(applied.now.filter(F.col(CELL).isin(sorted(changed))).drop(CELL))
        self.check(table, written)
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


@dataclass(frozen=True)
class _Patch:
    """The days of a reading table, beyond those bronze rewrote, that hold readings of a changed customer
    or device: there only those readings are classified again (`rows`, bronze's), and every other row is
    the previous version's, whose fate nothing changed."""

    cells: set[str]
    rows: DataFrame | None


@dataclass(frozen=True)
class _Written:
    """A reading table's patch as `_Publisher.cells` applies it: the `cells` that hold rows of its keys (the
    values of each one-column frame in `by`, in the column named beside it), and those rows as built now
    (`rows`, with CELL) and, where known without reading it, as the previous version holds them (`before`)."""

    cells: set[str]
    by: tuple[tuple[DataFrame, str], ...]
    rows: DataFrame | None
    before: DataFrame | None = None  # those rows as the previous version holds them, where known unread

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(column for _, column in self.by)

    @property
    def split(self) -> tuple[Rows, Rows]:
        """Of a table's rows, those of the patch's keys, and the others."""
        return _either(*self.by), _neither(*self.by)


def _either(*by: tuple[DataFrame, str]) -> Callable[[DataFrame], DataFrame]:
    """Rows whose column is one of its keys, for any (keys, column) of `by`."""

    def transform(rows: DataFrame) -> DataFrame:
        flags = []
        for number, (keys, column) in enumerate(by):
            flag = f"_by_{number}"
            wanted = keys.select(F.col(keys.columns[0]).alias(column), F.lit(True).alias(flag)).distinct()
            rows = rows.join(F.broadcast(wanted), column, "left")
            flags.append(F.coalesce(F.col(flag), F.lit(False)))
        either = flags[0]
        for flag in flags[1:]:
            either = either | flag
        return rows.filter(either).drop(*[f"_by_{n}" for n in range(len(by))])

    return transform


def _neither(*by: tuple[DataFrame, str]) -> Callable[[DataFrame], DataFrame]:
    """Rows whose column is none of its keys, for every (keys, column) of `by`."""

    def transform(rows: DataFrame) -> DataFrame:
        for keys, column in by:
            rows = rows.join(F.broadcast(keys.select(F.col(keys.columns[0]).alias(column))), column, "left_anti")
        return rows

    return transform


def _none(spark: SparkSession, column: str) -> DataFrame:
    return spark.createDataFrame([], f"{column} string")


def _patch(
    records: Callable[[], DataFrame], key: Column, keys: DataFrame, source: Source, rebuilt: Cells, zone: lake.Zone
) -> _Patch:
    """Bronze's `records` whose `key` is one of `keys` (a one-column frame), in the days not `rebuilt`: the
    source's fields only, all that classifying them reads. Lineage, the raw line above all, is most of a
    bronze row, and an engine reads every column a join's output keeps for every row it scans."""
    if rebuilt is None or keys.isEmpty():
        return _Patch(set(), None)
    wanted = F.broadcast(keys.select(F.col(keys.columns[0]).alias("_key")))
    fields = records().select(*source.field_names)
    # The day after the join: an engine may compute a column below a join for every row it scans
    theirs = fields.join(wanted, key == F.col("_key"), "left_semi").withColumn(CELL, bronze_day(source))
    staged = lake.stage(theirs, zone.scratch(f"{source.name}-patch"))
    cells = _cells_of(staged) - rebuilt
    return _Patch(cells, staged.filter(F.col(CELL).isin(sorted(cells))).drop(CELL))


@dataclass(frozen=True)
class _Patched:
    """What a patch makes of a reading source's readings in the patched cells: the rows accepted now (`rows`)
    and as the previous version accepted them (`before`), both with CELL, and the cells' left-out counts."""

    rows: DataFrame | None
    before: DataFrame | None
    counted: Future[dict[str, dict[str, int]]] | None

    @classmethod
    def none(cls) -> _Patched:
        return cls(None, None, None)

    def counts(self) -> dict[str, dict[str, int]]:
        return {} if self.counted is None else self.counted.result()


def _apply(
    pool: ThreadPoolExecutor,
    base: Basis | None,
    source: str,
    patch: _Patch,
    now: Callable[[DataFrame], DataFrame],
    then: Callable[[DataFrame], DataFrame],
) -> _Patched:
    """A source's `patch`: its bronze readings classified `now` (those accepted are written), and as the
    previous version classified them (`then`): the rows it holds of them, since bronze did not change
    these cells (the lake equals a full build of its bronze), and the counts they move."""
    assert base is not None and patch.rows is not None
    reclassified, before = patch.rows.transform(now), patch.rows.transform(then)
    counted = pool.submit(_patch_counts, base, source, before, reclassified)
    day = reading_day(F.col("reading_at"))
    return _Patched(accepted(reclassified).withColumn(CELL, day), accepted(before).withColumn(CELL, day), counted)


def _patch_counts(base: Basis, source: str, before: DataFrame, after: DataFrame) -> dict[str, dict[str, int]]:
    """The left-out counts of a patch's days: the previous version's, less the patched readings' as they
    were classified then (`before`), plus theirs now (`after`)."""
    day = reading_day(F.col("reading_at"))
    was, now = (counts_by_cell(rows.withColumn(CELL, day)) for rows in (before, after))
    earlier = base.built_from["cells"][source]
    counts: dict[str, dict[str, int]] = {}
    for cell in sorted(set(was) | set(now)):
        reasons = dict(earlier.get(cell, {}))
        for reason, n in was.get(cell, {}).items():
            reasons[reason] = reasons.get(reason, 0) - n
        for reason, n in now.get(cell, {}).items():
            reasons[reason] = reasons.get(reason, 0) + n
        if any(n < 0 for n in reasons.values()):
            raise RuntimeError(f"{source} {cell}: the previous version's counts lack the patched readings")
        counts[cell] = {reason: n for reason, n in sorted(reasons.items()) if n}
    return counts


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
    # Each step waits only for the tables it reads; what does not depend on it (the counts by reason, a
    # sibling table) runs beside it, so both cores stay busy along the chain of small Spark jobs.
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="silver") as pool:
        publish = _Publisher(spark, zone, args, base, pool)
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
        # Who owned each device when, now and as the previous version had it: a window over every customer
        # that each classification of steps joins, so staged once, beside the accelerometer's steps.
        staged_owners = pool.submit(lake.stage, device_ownership(current), zone.scratch("ownership"))
        staged_earlier_owners = staged_owners
        if base is not None:
            earlier_current = earlier("customer_current")
            if not customers_carried:
                earlier_owners = device_ownership(earlier_current)
                staged_earlier_owners = pool.submit(lake.stage, earlier_owners, zone.scratch("earlier-ownership"))

        # Readings of a customer whose newest record changed (consent, or a first record) may change fate:
        # in the days bronze did not rewrite, only theirs are classified again (a patch).
        reading_cells: Cells = None if base is None else base.bronze_cells["accelerometer"]
        people = _none(spark, "customer_email")
        if base is not None and not customers_carried:
            changed = _fate(current).transform(changed_keys(_fate(earlier_current), ["customer_email"]))
            people = lake.stage(changed, zone.scratch("people"))
        reading_patch = _patch(
            lambda: bronze("accelerometer"), normalize_email(F.col("user")), people, ACCELEROMETER, reading_cells, zone
        )
        readings = (
            bronze("accelerometer", reading_cells)
            .transform(classify_accelerometer(current, args.consent_policy))
            .withColumn(CELL, reading_day(F.col("reading_at")))
            .cache()
        )
        reading_counts = pool.submit(counts_by_cell, readings)
        reading_patched = _Patched.none()
        if reading_patch.cells:
            now, then = (classify_accelerometer(c, args.consent_policy) for c in (current, earlier_current))
            reading_patched = _apply(pool, base, "accelerometer", reading_patch, now, then)
        theirs = _Written(
            reading_patch.cells, ((people, "customer_email"),), reading_patched.rows, reading_patched.before
        )
        accelerometer_trusted = publish.cells("accelerometer_trusted", accepted(readings), reading_cells, theirs)

        curate = curate_customers(accelerometer_trusted)
        customer_curated = publish("customer_curated", customer_trusted.result().transform(curate))

        # Steps of a device whose owners changed, or whose owner's curated record did, may change fate:
        # likewise patched in the days bronze did not rewrite.
        step_cells: Cells = None if base is None else base.bronze_cells["step_trainer"]
        ownership, earlier_ownership = staged_owners.result(), staged_earlier_owners.result()
        devices = _none(spark, "serial_number")
        if base is not None:
            earlier_curated = earlier("customer_curated")
            curated_changes = _fate(customer_curated).transform(
                changed_keys(_fate(earlier_curated), ["customer_email"])
            )
            owned = ownership.unionByName(earlier_ownership).join(curated_changes, "customer_email", "left_semi")
            serials = owned.select("serial_number")
            if not customers_carried:  # the owners of a device come from the customer records alone
                serials = ownership.transform(changed_keys(earlier_ownership, ["serial_number"])).unionByName(serials)
            devices = lake.stage(serials.distinct(), zone.scratch("devices"))
        step_patch = _patch(
            lambda: bronze("step_trainer"), stripped(F.col("serialNumber")), devices, STEP_TRAINER, step_cells, zone
        )
        classify_steps = classify_step_trainer(ownership, customer_curated, args.consent_policy)
        steps = (
            bronze("step_trainer", step_cells)
            .transform(classify_steps)
            .withColumn(CELL, reading_day(F.col("reading_at")))
            .cache()
        )
        step_counts = pool.submit(counts_by_cell, steps)
        step_patched = _Patched.none()
        if step_patch.cells:
            then = classify_step_trainer(earlier_ownership, earlier_curated, args.consent_policy)
            step_patched = _apply(pool, base, "step_trainer", step_patch, classify_steps, then)
        theirs = _Written(step_patch.cells, ((devices, "serial_number"),), step_patched.rows, step_patched.before)
        publish.cells("step_trainer_trusted", accepted(steps), step_cells, theirs)

        # A pair is a step and a motion at one instant: the days either side rebuilt, built again; in a
        # patched day, the pairs of a patched step or motion (its device's, or its customer's).
        pair_cells = _union(reading_cells, step_cells)
        pseudonym = keyed_hash(key.value)
        pairs = pair_readings(publish.read("accelerometer_trusted", pair_cells), pseudonym)
        training = publish.read("step_trainer_trusted", pair_cells).transform(pairs)
        pair_patch: set[str] = set()
        if pair_cells is not None:
            changed_readings = publish.patched["accelerometer_trusted"] | publish.patched["step_trainer_trusted"]
            pair_patch = changed_readings - pair_cells
        keys = people.select(pseudonym(F.col("customer_email")).alias("customer_key"))
        patched_pairs = None
        if pair_patch:
            patched_steps = _either((devices, "serial_number"), (people, "customer_email"))(
                publish.read("step_trainer_trusted", pair_patch)
            )
            motions = publish.read("accelerometer_trusted", pair_patch).join(
                F.broadcast(patched_steps.select("customer_email").distinct()), "customer_email", "left_semi"
            )
            patched_pairs = patched_steps.transform(pair_readings(motions, pseudonym))
            patched_pairs = patched_pairs.withColumn(CELL, reading_day(F.col("reading_at")))
        theirs = _Written(pair_patch, ((devices, "serial_number"), (keys, "customer_key")), patched_pairs)
        publish.cells(
            "machine_learning_curated", training.withColumn(CELL, reading_day(F.col("reading_at"))), pair_cells, theirs
        )
        earlier_counts = base.built_from["cells"] if base is not None else {}
        counted = {"accelerometer": reading_counts.result(), "step_trainer": step_counts.result()}
        counted["accelerometer"] |= reading_patched.counts()
        counted["step_trainer"] |= step_patched.counts()
        by_cell = {
            "accelerometer": _merge_counts(
                earlier_counts.get("accelerometer", {}),
                _union(reading_cells, reading_patch.cells),
                counted["accelerometer"],
            ),
            "step_trainer": _merge_counts(
                earlier_counts.get("step_trainer", {}), _union(step_cells, step_patch.cells), counted["step_trainer"]
            ),
        }
        filtered = {"customer": customer_counts.result(), **{name: _total(c) for name, c in by_cell.items()}}
        checked = publish.contracts()

    for frame in (customers, readings, steps):
        if frame is not None:
            frame.unpersist()
    sources = {
        name: SourceCounts(accepted=publish.rows[table], filtered=filtered[name])
        for name, table in TRUSTED_TABLE.items()
    }
    rebuilt = {"accelerometer_trusted": reading_cells, "step_trainer_trusted": step_cells,
               "machine_learning_curated": pair_cells}  # fmt: skip
    patched = {table: publish.patched.get(table, set()) for table in rebuilt}
    if any(patched.values()):  # whose rows the patched cells rebuilt: gold patches its cells by them
        lake.write_table(people, lake.patch_keys_path(zone.root, "customers"))
        lake.write_table(devices, lake.patch_keys_path(zone.root, "devices"))
    # What this version was made of, so a later run knows whether it is behind bronze or the settings
    # (stedi/ingestion.py, plan_lake), what it accounts for without reading a pruned run report, and
    # which cells it rebuilt whole or patched (gold does the same with its own, stedi/jobs/gold.py).
    zone.built_from = {
        "bronze": bronze_version,
        **settings.as_json(),
        "accounting": {name: {"accepted": c.accepted, "filtered": c.filtered} for name, c in sources.items()},
        "previous": base.version if base is not None else None,
        "rebuilt_cells": {table: None if cells is None else sorted(cells) for table, cells in rebuilt.items()},
        "patched_cells": {table: sorted(cells) for table, cells in patched.items()},
        "cells": by_cell,
    }
    zone.publish()
    # In the contracts' order, whichever thread published first
    tables = [TableRows("silver", table, publish.rows[table]) for table in CONTRACTS]
    contracts = [Contract(**checked[table]) for table in CONTRACTS]
    return write_report(args, JOB, started, tables=tables, sources=sources, contracts=contracts)


def main(argv: Sequence[str] | None = None) -> int:
    return job_main(JOB, run, argv)


if __name__ == "__main__":  # spark-submit, and Glue (stedi deploy glue uploads this file as the job's script)
    main()  # an exception fails the run; no SystemExit, which some Glue runtimes report as a failure
