"""The lake's edges: where tables live, reading landing files, publishing tables, run reports.

Paths are local folders or s3:// URIs (on Glue). Locally a table is published by writing it beside the
target and renaming it into place, so a reader never sees a half-written table; on S3 the job overwrites.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T


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
    return join(lake, "_reports", run_id, f"{job}.json")


def list_files(spark: SparkSession, folder: str) -> list[str]:
    """Data files directly in `folder` (hidden and `_`-prefixed files skipped); [] if it does not exist."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(folder)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(path):
        return []
    statuses = fs.listStatus(path)
    files = [s.getPath() for s in statuses if s.isFile() and not s.getPath().getName().startswith((".", "_"))]
    return sorted(p.toString() for p in files)


def read_landing(spark: SparkSession, files: list[str]) -> DataFrame:
    """Landing lines of `files` (see list_files) with the file each came from; empty when there are none."""
    if not files:
        return spark.createDataFrame([], "value string, _source_file string")
    return spark.read.text(files).select(F.col("value"), F.col("_metadata.file_path").alias("_source_file"))


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


def publish(
    df: DataFrame,
    path: str,
    fmt: str = "parquet",
    check: Callable[[DataFrame], None] | None = None,
) -> None:
    """Write `df` as the table at `path`, replacing what was there only once `check` passes on the written data.

    A failing check (or write) leaves the previous table untouched.
    """
    if not is_local(path):
        # S3 has no atomic rename; check before writing, then overwrite in place. The checked frame is
        # kept, so that the write does not compute its plan (joins, hashes) a second time.
        if check is None:
            df.write.mode("overwrite").format(fmt).save(path)
            return
        df = df.persist()
        try:
            check(df)
            df.write.mode("overwrite").format(fmt).save(path)
        finally:
            df.unpersist()
        return
    target = _local(path)
    staging = target.with_name(f"_staging-{target.name}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        df.write.mode("overwrite").format(fmt).save(str(staging))
        if check is not None:
            check(df.sparkSession.read.schema(df.schema).format(fmt).load(str(staging)))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _swap_into_place(staging, target)


def _swap_into_place(staging: Path, target: Path) -> None:
    retired = target.with_name(f"_retired-{target.name}")
    shutil.rmtree(retired, ignore_errors=True)
    if target.exists():
        target.rename(retired)
    staging.rename(target)
    shutil.rmtree(retired, ignore_errors=True)


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
    body = _s3_client().get_object(**_bucket_key(path))["Body"].read()
    return json.loads(body)


def _bucket_key(uri: str) -> dict[str, str]:
    parsed = urlparse(uri)
    return {"Bucket": parsed.netloc, "Key": parsed.path.lstrip("/")}


def _s3_client():  # boto3 only where the lake is on S3
    from stedi import aws

    return aws.client("s3")
