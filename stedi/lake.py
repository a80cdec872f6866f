"""The lake's edges: where tables live, reading landing files, publishing tables, run reports.

Paths are local folders or s3:// URIs (on Glue). Tables are published a zone at a time (see Zone), so a
reader never sees a half-written table, nor a zone whose tables come from different runs.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import string
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from stedi.landing import SourceFiles, read_text, reader_path
from stedi.transforms.cells import CELL

REPORTS_DIR = "_reports"  # <lake>/_reports/<run_id>/: each job's run report and the run summary


def is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def _local(path: str) -> Path:
    return Path(urlparse(path).path if path.startswith("file://") else path)


def join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def table_path(lake: str, zone: str, table: str) -> str:
    return join(lake, zone, table)


def landing_folder(landing: str, source: str) -> str:
    return join(landing, source, "landing")


def report_path(lake: str, run_id: str, job: str) -> str:
    return join(lake, REPORTS_DIR, run_id, f"{job}.json")


def read_landing(spark: SparkSession, files: SourceFiles) -> DataFrame:
    """Landing lines of the files stedi/landing.py found readable, with the file each came from."""
    return with_file_names(read_landing_ranked(spark, files), files).drop("_batch")


def read_landing_ranked(spark: SparkSession, files: SourceFiles, batch_of: dict[str, int] | None = None) -> DataFrame:
    """read_landing's lines as (`value`, `_file`, `_batch`), where `_file` sorts as the file's name does: the
    name itself on a JVM Spark, its rank among the names through Spark Connect, where the files are read
    one by one (Sail takes the least of a number per text twice as fast as the least name); `_batch` is the
    file's number in `batch_of` (default 0). with_file_names gives the names back, best once the lines
    are few."""
    ranks = _ranks(spark, files)
    batch_of = batch_of or {}
    schema = f"value string, _file {'int' if ranks else 'string'}, _batch int"
    batches: dict[int, list[str]] = {}
    for f in files.read:
        if f.utf8:
            batches.setdefault(batch_of.get(f.path, 0), []).append(f.path)
    lines = [_read_with_engine(spark, paths, ranks, batch) for batch, paths in sorted(batches.items())]
    lines += [
        spark.createDataFrame(
            [(line, ranks.get(path, _as_spark_names(path)), batch_of.get(path, 0)) for line in read_text(path)], schema
        )
        for path in files.not_utf8
    ]
    return _union_all(lines) if lines else spark.createDataFrame([], schema)


def with_file_names(frame: DataFrame, files: SourceFiles) -> DataFrame:
    """`frame` (from read_landing_ranked) with `_source_file`, the file's name, in place of `_file`."""
    ranks = _ranks(frame.sparkSession, files)
    if not ranks:
        return frame.withColumnRenamed("_file", "_source_file")
    names = frame.sparkSession.createDataFrame(
        [(rank, _as_spark_names(path)) for path, rank in ranks.items()], "_file int, _source_file string"
    )
    named = frame.join(F.broadcast(names), "_file")
    return named.select(*["_source_file" if c == "_file" else c for c in frame.columns])


def _ranks(spark: SparkSession, files: SourceFiles) -> dict[str, int]:
    """Through Spark Connect, each file's path -> its name's rank; on a JVM Spark nothing: names are kept."""
    if not files.read or not _through_spark_connect(spark):
        return {}
    by_name = sorted(files.read, key=lambda f: _as_spark_names(f.path))
    return {f.path: rank for rank, f in enumerate(by_name)}


def _read_with_engine(spark: SparkSession, files: list[str], ranks: dict[str, int], batch: int) -> DataFrame:
    """(`value`, `_file`, `_batch`) of `files`, a batch: in each file's own projection (Sail 0.7 loses track
    of a column added to a union of reads)."""
    batch_column = F.lit(batch).cast("int").alias("_batch")
    if not _through_spark_connect(spark):
        return spark.read.text([reader_path(f) for f in files]).select(
            F.col("value"), F.col("_metadata.file_path").alias("_file"), batch_column
        )
    # A Spark Connect server may lack Spark's file metadata column and Hadoop's glob escapes (Sail 0.7
    # does): one read per file, ranked by its name as Spark names it, so the lineage is the same.
    per_file = [
        spark.read.text(_as_glob_literal(f)).select(F.col("value"), F.lit(ranks[f]).alias("_file"), batch_column)
        for f in files
    ]
    return _union_all(per_file)


_URI_PATH = set(string.ascii_letters + string.digits + "/!$&'()*+,;=:@-._~")


def _union_all(frames: list[DataFrame]) -> DataFrame:
    """One frame of all `frames`, unioned as a balanced tree: a chain of a thousand unions (a file each)
    is a plan a thousand levels deep, and Sail 0.7 overflows its stack planning one (SIGSEGV)."""
    while len(frames) > 1:
        frames = [functools.reduce(DataFrame.unionAll, frames[i : i + 2]) for i in range(0, len(frames), 2)]
    return frames[0]


def _through_spark_connect(spark: SparkSession) -> bool:
    return type(spark).__module__.startswith("pyspark.sql.connect")


def _as_glob_literal(path: str) -> str:
    """`path` as a glob that names only itself, for readers that take no backslash escapes (Sail's)."""
    return "".join(f"[{c}]" if c in "[{}*?" else c for c in path)


def _as_spark_names(path: str) -> str:
    """A file's path as Spark's `_metadata.file_path` gives it: for a local file `file:/abs/path`, each
    ASCII character a URI path may not hold percent-encoded, as java.net.URI does (`c[1].json` is
    `c%5B1%5D.json`)."""
    if not is_local(path):
        return path
    absolute = os.path.abspath(_local(path))
    return "file:" + "".join(c if c in _URI_PATH or ord(c) > 127 else quote(c) for c in absolute)


def read_table(spark: SparkSession, path: str, schema: T.StructType | None = None) -> DataFrame:
    """The Parquet table at `path`. Given its `schema`, Spark skips inferring it, a job of its own."""
    reader = spark.read if schema is None else spark.read.schema(schema)
    return reader.parquet(path)


def count_rows(spark: SparkSession, path: str) -> int:
    """Rows of the Parquet table at `path`, as published (read from the files, not from the plan)."""
    if is_local(path):  # footers only, without a Spark job
        import pyarrow.dataset as ds

        return ds.dataset(str(_local(path)), format="parquet").count_rows()
    return read_table(spark, path).count()


def write_table(df: DataFrame, path: str, fmt: str = "parquet") -> None:
    """Write `df` as the table at `path` (in a zone version, see Zone)."""
    df.write.mode("overwrite").format(fmt).save(path)
    _ensure_table(df, path, fmt)


def carry_table(source: str, target: str) -> None:
    """The table at `source` (a published version's) as the table at `target` (a version being written),
    without an engine and without reading it: locally its files hard-linked, on S3 copied inside S3."""
    for name in _list_files(source):
        _link(join(source, name), join(target, name))
    if is_local(target):
        _local(target).mkdir(parents=True, exist_ok=True)


# A reading table is kept in cells, one per UTC day of its readings (CELL, a column of the frame written,
# not of the table). It is still one flat folder, as every reader of a table expects, whose files are
# named <cell>--<part>: a run writes only the cells its new records fall in and carries the others from
# the previous version (carry_cells), as bronze carries a source without new files.
_CELL_SEP = "--"


def write_cells(df: DataFrame, path: str, scratch: str) -> None:
    """`df`, which has a CELL column, as cells of the table at `path` (a zone version's, maybe holding
    carried cells already): each cell's rows in one file of its own, CELL not stored. `scratch` is a
    Zone.scratch folder for the engine's partitioned write, whose files are then moved into `path`."""
    df.repartition(CELL).write.mode("overwrite").partitionBy(CELL).parquet(scratch)
    prefix = f"{CELL}="
    for name in _list_files(scratch):
        folder, _, file = name.rpartition("/")
        if not folder.startswith(prefix) or file.startswith(("_", ".")):
            continue
        _move(join(scratch, name), join(path, f"{folder[len(prefix) :]}{_CELL_SEP}{file}"))
    _ensure_table(df.drop(CELL), path, "parquet")


def table_cells(path: str) -> dict[str, list[str]]:
    """The cells of a table kept in cells: cell -> its files' paths."""
    cells: dict[str, list[str]] = {}
    for name in _list_files(path):
        if _CELL_SEP in name and "/" not in name:
            cells.setdefault(name.split(_CELL_SEP, 1)[0], []).append(join(path, name))
    return cells


def carry_cells(source: str, target: str, rewritten: set[str]) -> None:
    """The cells of the table at `source` (a published version's) but those in `rewritten`, into the table
    at `target` (a version being written), by hard link (S3: a copy inside S3), never read."""
    for cell, files in table_cells(source).items():
        if cell not in rewritten:
            for file in files:
                _link(file, join(target, file.rsplit("/", 1)[-1]))


def read_cells(spark: SparkSession, path: str, cells: set[str], schema: T.StructType) -> DataFrame:
    """The rows of the table at `path` in `cells` only (its files are named by cell: no other file is read)."""
    files = [file for cell, names in table_cells(path).items() if cell in cells for file in names]
    if not files:
        return spark.createDataFrame([], schema)
    return spark.read.schema(schema).parquet(*[reader_path(file) for file in files])


def _list_files(folder: str) -> list[str]:
    """Every file under `folder`, as a path relative to it ('/'-separated)."""
    if is_local(folder):
        root = _local(folder)
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    client, bucket_key = _s3_client(), _bucket_key(folder.rstrip("/") + "/")
    pages = client.get_paginator("list_objects_v2").paginate(**_prefix(bucket_key))
    return sorted(item["Key"][len(bucket_key["Key"]) :] for page in pages for item in page.get("Contents", []))


def _link(source: str, target: str) -> None:
    if is_local(source):
        _local(target).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(_local(source), _local(target))
        except OSError:  # a file system without hard links
            shutil.copy2(_local(source), _local(target))
        return
    origin, destination = _bucket_key(source), _bucket_key(target)
    _s3_client().copy_object(**destination, CopySource={"Bucket": origin["Bucket"], "Key": origin["Key"]})


def _move(source: str, target: str) -> None:
    if is_local(source):
        _local(target).parent.mkdir(parents=True, exist_ok=True)
        os.replace(_local(source), _local(target))
        return
    _link(source, target)
    _s3_client().delete_object(**_bucket_key(source))


def stage(df: DataFrame, path: str) -> DataFrame:
    """`df` computed once: written as Parquet to `path` (a Zone.scratch folder) and read back.

    Where a frame feeds several Spark jobs (counts, then two tables), this is the engine-neutral
    form of `cache()`: Spark Connect servers such as Sail do not cache, and recompute the whole plan
    for each job instead.
    """
    write_table(df, path)
    return read_table(df.sparkSession, path, df.schema)


def _ensure_table(df: DataFrame, path: str, fmt: str) -> None:
    """An empty frame still leaves a table readers can open, as Spark's writer leaves one: some engines
    (Sail 0.7) write no file at all for it."""
    if _has_files(path):
        return
    if fmt == "json":
        write_json_lines(path, [])
        return
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql.pandas.types import to_arrow_schema

    sink = pa.BufferOutputStream()
    pq.write_table(to_arrow_schema(df.schema).empty_table(), sink)
    _put_bytes(join(path, "part-00000.parquet"), sink.getvalue().to_pybytes())


def table_exists(path: str) -> bool:
    """Whether a table was written at `path` (it holds a data file)."""
    return _has_files(path)


def _has_files(folder: str) -> bool:
    if is_local(folder):
        local = _local(folder)
        return local.is_dir() and any(not p.name.startswith(("_", ".")) for p in local.iterdir())
    bucket_key = _bucket_key(folder.rstrip("/") + "/")
    listed = _s3_client().list_objects_v2(MaxKeys=10, **_prefix(bucket_key))
    return any(not item["Key"].rsplit("/", 1)[-1].startswith(("_", ".")) for item in listed.get("Contents", []))


def _put_bytes(path: str, data: bytes, content_type: str = "application/octet-stream") -> None:
    """One small file written whole, without an engine: locally, or as one S3 object."""
    if is_local(path):
        _local(path).parent.mkdir(parents=True, exist_ok=True)
        _local(path).write_bytes(data)
        return
    _s3_client().put_object(**_bucket_key(path), Body=data, ContentType=content_type)


def write_json_lines(folder: str, rows: list[dict[str, Any]]) -> None:
    """A small table written without an engine: one file of JSON lines, `part-00000.json`, in `folder` (a
    table folder of a zone version, see Zone), read as Spark's JSON tables are; empty when there are no rows."""
    text = "".join(json.dumps(row, default=_json_value) + "\n" for row in rows)
    _put_bytes(join(folder, "part-00000.json"), text.encode(), content_type="application/json")


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):  # as Spark's JSON writer writes instants
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(value)


# A zone (bronze, quarantine, silver, gold) is published whole: a job writes every table of the zone
# into a version of its own, <lake>/_zones/<zone>/<run_id>.<attempt>/, then makes that version the zone's
# current one in a single atomic step. Readers therefore see each zone's tables from one run or from the previous
# one, never a mix, and a run that dies half-way leaves the previous version in place.
#   locally: <lake>/<zone> is a relative symlink to the version's folder, replaced by rename(2);
#            Spark, DuckDB and pyarrow read <lake>/<zone>/<table>/ through it as a folder.
#   on S3:   <lake>/_zones/<zone>/CURRENT.json names the current version and is replaced by one PUT;
#            the job's readers resolve tables through it (current_table_path), and the flow points the
#            Glue Data Catalog's tables at the new version (deployments/catalog.py).
# The previous version is kept, so that a reader still going through it is not cut off; older ones go.
ZONES = ("bronze", "quarantine", "silver", "gold")
ZONES_DIR = "_zones"
_POINTER = "CURRENT.json"
_MANIFEST = "_zone.json"
_SCRATCH = "_scratch"
# <gold version>/_changes/<table>/{upserts,retracted}/: a gold table's rows against the previous version
# (stedi/jobs/gold.py), which a warehouse holding that version loads instead of the whole table.
CHANGES = "_changes"
# Beside a version's reading tables: the customers and devices whose rows its patched cells rebuilt
# (stedi/jobs/silver.py), one key column each, and each reading table's rows of those keys in the patched
# cells as the previous version held them and as this one holds them (stedi/jobs/common.py, patch_cells),
# from which gold patches its own reading tables.
PATCHES = "_patches"


# A patched cell that only gains rows takes them in a file of its own beside its earlier files, until it
# holds this many: it is then written whole again, in one file.
MAX_CELL_FILES = 8


def patch_keys_path(version_root: str, keys: str) -> str:
    return join(version_root, PATCHES, keys)


def patch_rows_path(version_root: str, table: str) -> str:
    return join(version_root, PATCHES, "rows", table)


class Zone:
    """One run's version of a zone: written table by table, invisible until `publish()`."""

    def __init__(self, lake_root: str, zone: str, run_id: str) -> None:
        self.lake_root, self.zone, self.run_id = lake_root, zone, run_id
        # A version of its own for every attempt: a retried job never writes into what readers may see.
        self.version = f"{run_id}.{uuid.uuid4().hex[:8]}"
        self.root = join(lake_root, ZONES_DIR, zone, self.version)  # version_table_path's folder
        self.tables: list[str] = []
        self.built_from: dict[str, Any] = {}  # what the version was made of (zone_manifest): versions, settings

    def path(self, table: str) -> str:
        if table not in self.tables:
            self.tables.append(table)
        return join(self.root, table)

    def scratch(self, name: str) -> str:
        """A folder for intermediate data of this version (stage), removed when the version is published."""
        return join(self.root, _SCRATCH, name)

    def publish(self, keep: set[str] | None = None) -> None:
        """Make this version the zone's current one, atomically; then drop versions older than the previous,
        but those named in `keep`."""
        remove_tree(join(self.root, _SCRATCH))
        manifest = {"zone": self.zone, "run_id": self.run_id, "version": self.version, "tables": sorted(self.tables),
                    "built_from": self.built_from}  # fmt: skip
        write_json(join(self.root, _MANIFEST), manifest)
        previous = current_version(self.lake_root, self.zone)
        if is_local(self.lake_root):
            previous = _point_link(_local(self.lake_root), self.zone, self.version) or previous
        else:
            write_json(join(self.lake_root, ZONES_DIR, self.zone, _POINTER), manifest)
        for version in _versions(self.lake_root, self.zone):
            if version not in {self.version, previous, *(keep or ())}:  # a killed run's leftovers too
                remove_tree(join(self.lake_root, ZONES_DIR, self.zone, version))


def zone_manifest(lake_root: str, zone: str) -> dict[str, Any] | None:
    """The manifest of the zone's current version (run id, version, tables, built_from); None before the
    zone's first publication or for a folder of an older lake layout."""
    version = current_version(lake_root, zone)
    if version is None:
        return None
    try:
        return read_json(join(lake_root, ZONES_DIR, zone, version, _MANIFEST))
    except FileNotFoundError:
        return None


def zone_run_id(lake_root: str, zone: str) -> str | None:
    """The run whose version of `zone` is current; None before the zone's first publication."""
    version = current_version(lake_root, zone)
    if version is None:
        return None
    try:
        return read_json(join(lake_root, ZONES_DIR, zone, version, _MANIFEST))["run_id"]
    except FileNotFoundError:  # the folder of a lake written before zones were versioned
        return None


def current_version(lake_root: str, zone: str) -> str | None:
    """The folder name (under <lake>/_zones/<zone>/) of the zone's current version; None before the first."""
    if is_local(lake_root):
        link = _local(lake_root) / zone
        return Path(os.readlink(link)).name if link.is_symlink() else None
    try:
        return read_json(join(lake_root, ZONES_DIR, zone, _POINTER))["version"]
    except FileNotFoundError:
        return None


def current_table_path(lake_root: str, zone: str, table: str) -> str:
    """The folder of a table in the zone's current version, resolved now: a reader that lists a table's
    files and opens them later keeps reading that version (kept through the next publication), where a
    path through the zone's link would lead into the next one."""
    version = current_version(lake_root, zone)
    if version is None:
        if is_local(lake_root):  # a folder of an older lake layout, read as it is
            return table_path(lake_root, zone, table)
        raise FileNotFoundError(f"no version of the {zone} zone is published in {lake_root}")
    return version_table_path(lake_root, zone, version, table)


def version_table_path(lake_root: str, zone: str, version: str, table: str) -> str:
    return join(lake_root, ZONES_DIR, zone, version, table)


_UNVERSIONED = "before-versioned-zones"


def _point_link(lake_root: Path, zone: str, version: str) -> str | None:
    """Point the zone's link at `version`; the name given to a folder of an older lake layout, if any."""
    link = lake_root / zone
    migrated = None
    if link.exists() and not link.is_symlink():
        # A lake written before zones were versioned: its folder becomes the previous version (readers
        # see no zone for this one moment, once).
        link.rename(lake_root / ZONES_DIR / zone / _UNVERSIONED)
        migrated = _UNVERSIONED
    temporary = lake_root / f".{zone}.link-{version}"
    temporary.unlink(missing_ok=True)
    os.symlink(os.path.join(ZONES_DIR, zone, version), temporary)
    os.replace(temporary, link)  # rename(2): readers see the old version or the new one
    return migrated


def _versions(lake_root: str, zone: str) -> list[str]:
    folder = join(lake_root, ZONES_DIR, zone)
    if is_local(lake_root):
        path = _local(folder)
        return sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
    bucket_key = _bucket_key(folder + "/")
    pages = _s3_client().get_paginator("list_objects_v2").paginate(Delimiter="/", **_prefix(bucket_key))
    return sorted(p["Prefix"].rstrip("/").rsplit("/", 1)[-1] for page in pages for p in page.get("CommonPrefixes", []))


def remove_tree(path: str) -> None:
    if is_local(path):
        shutil.rmtree(_local(path), ignore_errors=True)
        return
    client = _s3_client()
    bucket_key = _bucket_key(path.rstrip("/") + "/")
    for page in client.get_paginator("list_objects_v2").paginate(**_prefix(bucket_key)):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket_key["Bucket"], Delete={"Objects": keys, "Quiet": True})


def prune_runs(lake_root: str, keep: int, current: str) -> list[str]:
    """Remove the run reports of all runs but the `keep` newest (`current`, this run's, always stays),
    so that a lake's reports never grow without bound; returns the run ids removed."""
    runs = _run_report_times(lake_root)  # run id -> when its reports were last written
    newest = sorted(runs, key=lambda run: (runs[run], run), reverse=True)
    kept = set(newest[: max(keep, 1)]) | {current}
    removed = [run for run in newest if run not in kept]
    for run in removed:
        remove_tree(join(lake_root, REPORTS_DIR, run))
    return removed


def _run_report_times(lake_root: str) -> dict[str, float]:
    folder = join(lake_root, REPORTS_DIR)
    if is_local(lake_root):
        path = _local(folder)
        return {p.name: p.stat().st_mtime for p in path.iterdir() if p.is_dir()} if path.is_dir() else {}
    bucket_key = _bucket_key(folder + "/")
    times: dict[str, float] = {}
    for page in _s3_client().get_paginator("list_objects_v2").paginate(**_prefix(bucket_key)):
        for item in page.get("Contents", []):
            run = item["Key"][len(bucket_key["Key"]) :].split("/", 1)[0]
            times[run] = max(times.get(run, 0.0), item["LastModified"].timestamp())
    return times


def _prefix(bucket_key: dict[str, str]) -> dict[str, str]:
    return {"Bucket": bucket_key["Bucket"], "Prefix": bucket_key["Key"]}


def write_json(path: str, payload: dict[str, Any]) -> None:
    text = json.dumps(payload, indent=2, default=str)
    if is_local(path):
        local = _local(path)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.tmp")
        tmp.write_text(text + "\n")
        tmp.replace(local)
        return
    _s3_client().put_object(**_bucket_key(path), Body=text.encode(), ContentType="application/json")


def read_json(path: str) -> dict[str, Any]:
    if is_local(path):
        return json.loads(_local(path).read_text())
    client = _s3_client()
    try:
        body = client.get_object(**_bucket_key(path))["Body"].read()
    except client.exceptions.NoSuchKey:
        raise FileNotFoundError(path) from None
    return json.loads(body)


def _bucket_key(uri: str) -> dict[str, str]:
    parsed = urlparse(uri)
    return {"Bucket": parsed.netloc, "Key": parsed.path.lstrip("/")}


def _s3_client():  # boto3 only where the lake is on S3
    from stedi import aws

    return aws.client("s3")


class LakeBusyError(RuntimeError):
    """Another run is writing the lake."""


_LOCK = ".lock"


def lock_holder(lake_root: str) -> str | None:
    """Who holds a local lake's lock now (`run <id> (pid ..., since ...)`), or None: for `stedi doctor`."""
    import fcntl

    path = _local(lake_root) / _LOCK
    if not is_local(lake_root) or not path.is_file():
        return None
    with path.open("r") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return handle.read().strip() or "another run"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


@contextlib.contextmanager
def lock(lake_root: str, run_id: str) -> Iterator[None]:
    """Hold the lake for one run: a second run on the same lake fails at once, naming the first.

    Locally an exclusive flock on <lake>/.lock, which the kernel releases however the holder ends,
    SIGKILL included. On S3 there is no lock to take: Glue runs one job run at a time per job
    (MaxConcurrentRuns 1) and each deployment one flow run (prefect.yaml's concurrency limit).
    """
    if not is_local(lake_root):
        yield
        return
    import fcntl

    root = _local(lake_root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / _LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another run"
            raise LakeBusyError(
                f"the lake {lake_root} is being written by {holder}: wait for it to end, or stop it"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"run {run_id} (pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S %Z')})\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
