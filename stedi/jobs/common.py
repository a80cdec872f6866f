"""What every job shares: its arguments, its entry point, its run report."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import MISSING, asdict, dataclass, fields
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from stedi import lake, secrets
from stedi.report import Contract, JobReport, SourceCounts, TableRows
from stedi.spark import configure
from stedi.transforms.cells import CELL, reading_day


@dataclass(frozen=True)
class JobArgs:
    """Arguments of a job run, the same whether it runs in-process or as a Glue job run."""

    landing: str
    lake: str
    run_id: str
    ingested_at: str  # ISO-8601 UTC instant, one per run so that reruns stamp every row alike
    consent_policy: str = "ever"
    # Sources whose landing may be empty although earlier runs ingested some: comma-separated names. Without
    # it, such a run fails before it publishes anything (stedi/jobs/bronze.py).
    allow_empty: str = ""
    full_refresh: str = ""  # "true": every zone is rebuilt from all landing files (stedi/ingestion.py)
    # The quarantine threshold (stedi/rules.py): a run quarantining more of a source publishes nothing.
    quarantine_threshold: str = ""
    logic: str = ""  # stedi/ingestion.py, logic_id(): the code the flow planned with, recorded in the zones

    @property
    def threshold(self) -> float:
        from stedi.rules import QUARANTINE_THRESHOLD

        return float(self.quarantine_threshold) if self.quarantine_threshold else QUARANTINE_THRESHOLD

    def to_argv(self) -> list[str]:
        """The arguments as a job run receives them; an empty value is left out (Glue refuses empty ones), and
        `parse` gives it its default again."""
        return [
            part
            for f in fields(self)
            if str(getattr(self, f.name)) != ""
            for part in (f"--{f.name.replace('_', '-')}", str(getattr(self, f.name)))
        ]

    @classmethod
    def parse(cls, argv: Sequence[str]) -> JobArgs:
        parser = argparse.ArgumentParser(allow_abbrev=False)  # no prefix matching on arguments Glue adds
        for f in fields(cls):
            required = f.default is MISSING
            parser.add_argument(
                f"--{f.name.replace('_', '-')}", dest=f.name, required=required, default=None if required else f.default
            )
        known, _ = parser.parse_known_args(argv)  # Glue adds arguments of its own (--JOB_NAME, ...)
        return cls(**vars(known))

    @property
    def allowed_empty(self) -> set[str]:
        return {name for name in self.allow_empty.split(",") if name}

    @property
    def is_full_refresh(self) -> bool:
        return self.full_refresh == "true"

    @property
    def ingested_at_dt(self) -> datetime:
        return datetime.fromisoformat(self.ingested_at)

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def reason_counts(df: DataFrame, column: str) -> dict[str, int]:
    """Rows per non-NULL value of `column`: one Spark job."""
    rows = df.groupBy(column).count().collect()
    return {row[column]: row["count"] for row in rows if row[column] is not None}


Rows = Callable[[DataFrame], DataFrame]


@dataclass(frozen=True)
class CellPatch:
    """What a patch does to a reading table's patched cells (stedi/lake.py, write_cells), found by comparing the
    previous version's rows of the patch's keys there with those rows as built now. A cell where they are
    the same is carried as it is. A cell where they differ is `changed`: written whole (`rewritten`) where a
    previous row is gone or changed, or where it holds lake.MAX_CELL_FILES files already; otherwise it only
    gains rows, keeps its files and takes the new rows in a file of their own. `rows` (with CELL) is what
    to write: in a cell written whole, its other rows as they were and the keys' rows now; in a cell that
    gains, the rows it gains. `before` and `now` are the keys' rows in the patched cells, as staged."""

    changed: set[str]
    rewritten: set[str]
    rows: DataFrame | None
    before: DataFrame
    now: DataFrame


def patch_cells(
    spark: SparkSession,
    earlier: str,
    schema: T.StructType,
    cells: set[str],
    now: DataFrame,
    split: tuple[Rows, Rows],
    staged: str,
    before: DataFrame | None = None,
) -> CellPatch:
    """How the table at `earlier` (the previous version's) changes in `cells` when the rows of the patch's keys
    there become `now` (with CELL). `split` picks, of a table's rows, those of the keys and the others;
    `before` is the keys' rows in the previous version where the caller knows them without reading it
    (with CELL). Both are staged under `staged`, a folder of the zone version being written."""
    theirs, others = split

    def read(which: set[str]) -> DataFrame:
        return lake.read_cells(spark, earlier, which, schema).withColumn(CELL, reading_day(F.col("reading_at")))

    columns = [*schema.fieldNames(), CELL]
    held = theirs(read(cells)) if before is None else before
    before = lake.stage(held.select(*columns), lake.join(staged, "before"))
    now = lake.stage(now.select(*columns), lake.join(staged, "now"))
    gone, gained = before.exceptAll(now), now.exceptAll(before)
    marked = gone.select(CELL, F.lit(True).alias("_gone")).unionByName(gained.select(CELL, F.lit(False).alias("_gone")))
    by_cell = {row[CELL]: row["_gone"] for row in marked.groupBy(CELL).agg(F.max("_gone").alias("_gone")).collect()}
    if not by_cell:
        return CellPatch(set(), set(), None, before, now)
    crowded = {cell for cell, files in lake.table_cells(earlier).items() if len(files) >= lake.MAX_CELL_FILES}
    rewritten = {cell for cell, gone in by_cell.items() if gone} | (crowded & set(by_cell))
    whole = F.col(CELL).isin(sorted(rewritten)) if rewritten else F.lit(False)
    written = others(read(rewritten)).unionByName(now.filter(whole)).unionByName(gained.filter(~whole))
    return CellPatch(set(by_cell), rewritten, written, before, now)


def write_report(
    args: JobArgs,
    job: str,
    started: float,
    tables: list[TableRows],
    sources: dict[str, SourceCounts] | None = None,
    contracts: list[Contract] | None = None,
    warnings: list[str] | None = None,
    mode: str | None = None,
    new_files: dict[str, int] | None = None,
    lake_counts: dict[str, SourceCounts] | None = None,
) -> JobReport:
    """Write the job's run report beside its output; `started` is the job's `time.monotonic()` at start."""
    report = JobReport(job, args.run_id, args.as_dict(), round(time.monotonic() - started, 2), tables,
                       sources or {}, contracts or [], warnings or [], mode, new_files or {},
                       lake_counts or {})  # fmt: skip
    lake.write_json(lake.report_path(args.lake, args.run_id, job), report.to_json())
    return report


Job = Callable[[SparkSession, "JobArgs", "secrets.PseudonymKey | None"], JobReport]


def job_main(job: str, run: Job, argv: Sequence[str] | None) -> int:
    """Entry point for spark-submit and Glue: the session comes from the environment that launched us."""
    argv = sys.argv[1:] if argv is None else argv
    args = JobArgs.parse(argv)
    secret_id = _option(argv, "--pseudonym-secret-id")  # set on the Glue job by `stedi deploy glue`
    key = secrets.PseudonymKey.of(secrets.load_from_aws(secret_id)) if secret_id else None
    # The session of the environment that launched us: Glue's, spark-submit's, or one already active here
    active = SparkSession.getActiveSession()
    spark = configure(active or SparkSession.builder.appName(f"stedi-{job}").getOrCreate())
    run(spark, args, key)
    return 0


def _option(argv: Sequence[str], name: str) -> str | None:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument(name, default=None)
    return vars(parser.parse_known_args(argv)[0])[name.lstrip("-").replace("-", "_")]
