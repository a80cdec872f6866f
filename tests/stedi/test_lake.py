"""Zones published whole: a run's version of a zone becomes current in one step, or not at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stedi import lake


def write_zone(lake_root: str, zone: str, run_id: str, tables: dict[str, str]) -> lake.Zone:
    """A version of `zone` holding one file per table (what a job writes with Spark)."""
    version = lake.Zone(lake_root, zone, run_id)
    for table, text in tables.items():
        folder = Path(version.path(table))
        folder.mkdir(parents=True)
        (folder / "part-0.txt").write_text(text)
    return version


def read_zone(lake_root: Path, zone: str) -> dict[str, str]:
    return {
        table.name: (table / "part-0.txt").read_text()
        for table in sorted((lake_root / zone).iterdir())
        if table.is_dir()
    }


def test_a_zone_is_invisible_until_published_then_current_as_a_whole(tmp_path):
    first = write_zone(str(tmp_path), "silver", "run-1", {"a": "1", "b": "1"})
    assert not (tmp_path / "silver").exists() and lake.zone_run_id(str(tmp_path), "silver") is None
    first.publish()
    assert read_zone(tmp_path, "silver") == {"a": "1", "b": "1"}

    second = write_zone(str(tmp_path), "silver", "run-2", {"a": "2"})
    assert read_zone(tmp_path, "silver") == {"a": "1", "b": "1"}  # half-written: readers still see run-1
    second.publish()
    assert read_zone(tmp_path, "silver") == {"a": "2"}
    assert lake.zone_run_id(str(tmp_path), "silver") == "run-2"
    assert (tmp_path / "silver").is_symlink() and not Path(str(tmp_path / "silver")).readlink().is_absolute()


def test_the_previous_version_is_kept_for_readers_and_older_ones_and_leftovers_go(tmp_path):
    for run in ("run-1", "run-2"):
        write_zone(str(tmp_path), "gold", run, {"t": run}).publish()
    write_zone(str(tmp_path), "gold", "killed", {"t": "half"})  # a run killed before it published
    write_zone(str(tmp_path), "gold", "run-3", {"t": "run-3"}).publish()
    versions = sorted(p.name.split(".")[0] for p in (tmp_path / "_zones" / "gold").iterdir())
    assert versions == ["run-2", "run-3"]


def test_a_retried_job_never_writes_into_the_version_readers_see(tmp_path):
    write_zone(str(tmp_path), "bronze", "run-1", {"t": "first attempt"}).publish()
    retry = write_zone(str(tmp_path), "bronze", "run-1", {"t": "second attempt"})
    assert read_zone(tmp_path, "bronze") == {"t": "first attempt"}
    retry.publish()
    assert read_zone(tmp_path, "bronze") == {"t": "second attempt"}


def test_a_lake_written_before_versioned_zones_becomes_a_version(tmp_path):
    (tmp_path / "silver" / "a").mkdir(parents=True)
    (tmp_path / "silver" / "a" / "part-0.txt").write_text("old layout")
    write_zone(str(tmp_path), "silver", "run-1", {"a": "new"}).publish()
    assert read_zone(tmp_path, "silver") == {"a": "new"}
    assert (tmp_path / "_zones" / "silver" / "before-versioned-zones" / "a" / "part-0.txt").read_text() == "old layout"


def test_a_zone_on_s3_is_current_through_its_pointer(aws):
    root = f"s3://{aws.bucket}/prod/lake"
    for run in ("run-1", "run-2", "run-3"):
        version = lake.Zone(root, "silver", run)
        bucket, _, key = version.path("customer_trusted").removeprefix("s3://").partition("/")
        aws.s3.put_object(Bucket=bucket, Key=f"{key}/part-0.parquet", Body=run.encode())
        if run != "run-3":
            version.publish()
    assert lake.zone_run_id(root, "silver") == "run-2"
    current = lake.current_table_path(root, "silver", "customer_trusted")
    bucket, _, key = current.removeprefix("s3://").partition("/")
    assert aws.s3.get_object(Bucket=bucket, Key=f"{key}/part-0.parquet")["Body"].read() == b"run-2"
    pointer = json.loads(aws.s3.get_object(Bucket=bucket, Key="prod/lake/_zones/silver/CURRENT.json")["Body"].read())
    assert pointer["run_id"] == "run-2" and pointer["tables"] == ["customer_trusted"]
    listed = aws.s3.list_objects_v2(Bucket=bucket, Prefix="prod/lake/_zones/silver/")["Contents"]
    # run-1 is the previous version and stays; run-3 never published and is not touched until the next publish
    assert {o["Key"].split("/")[4].split(".")[0] for o in listed} == {"run-1", "run-2", "run-3", "CURRENT"}


def test_no_zone_on_s3_is_a_clear_error(aws):
    with pytest.raises(FileNotFoundError, match="no version of the gold zone"):
        lake.current_table_path(f"s3://{aws.bucket}/empty", "gold", "customers")


def test_a_second_run_on_a_locked_lake_fails_at_once_naming_the_first(tmp_path):
    with (
        lake.lock(str(tmp_path), "run-1"),
        pytest.raises(lake.LakeBusyError, match=r"is being written by run run-1 \(pid \d+"),
        lake.lock(str(tmp_path), "run-2"),
    ):
        pass
    with lake.lock(str(tmp_path), "run-3"):  # released when the first run ends
        pass


def test_readers_resolve_a_table_to_the_version_current_when_they_ask(tmp_path):
    write_zone(str(tmp_path), "silver", "run-1", {"a": "1"}).publish()
    resolved = Path(lake.current_table_path(str(tmp_path), "silver", "a"))
    write_zone(str(tmp_path), "silver", "run-2", {"a": "2"}).publish()
    # the first version is kept through the next publication: a reader who resolved it still reads it whole
    assert (resolved / "part-0.txt").read_text() == "1"
    assert (Path(lake.current_table_path(str(tmp_path), "silver", "a")) / "part-0.txt").read_text() == "2"


def test_a_table_in_cells_is_one_flat_folder_whose_files_name_their_cell(spark, tmp_path):
    from pyspark.sql import functions as F

    from stedi.transforms.cells import CELL

    rows = spark.range(12).select(F.col("id"), (F.col("id") % 3).cast("string").alias(CELL))
    first = str(tmp_path / "v1" / "readings")
    lake.write_cells(rows, first, str(tmp_path / "v1" / "_scratch"))
    files = sorted(p.name for p in Path(first).iterdir())
    assert [name.split("--")[0] for name in files] == ["0", "1", "2"]  # one file per cell, no subfolder
    assert sorted(r.id for r in lake.read_table(spark, first).collect()) == list(range(12))
    assert lake.read_table(spark, first).columns == ["id"]  # the cell is in the name, not in the rows

    # The next version rewrites cell 1 and carries the others as the same files (hard links)
    second = str(tmp_path / "v2" / "readings")
    lake.carry_cells(first, second, rewritten={"1", "3"})
    lake.write_cells(rows.filter(F.col(CELL) == "1").withColumn("id", F.col("id") * 10), second, str(tmp_path / "s2"))
    cells = lake.table_cells(second)
    assert sorted(cells) == ["0", "1", "2"]
    for cell in ("0", "2"):
        (carried,) = cells[cell]
        (held,) = lake.table_cells(first)[cell]
        assert Path(carried).stat().st_ino == Path(held).stat().st_ino
    rewritten = lake.read_cells(spark, second, {"1"}, lake.read_table(spark, first).schema)
    assert sorted(r.id for r in rewritten.collect()) == [10, 40, 70, 100]
    assert lake.read_cells(spark, second, {"9"}, rewritten.schema).count() == 0


def test_an_empty_table_in_cells_is_still_a_table(spark, tmp_path):
    from pyspark.sql import functions as F

    from stedi.transforms.cells import CELL

    empty = spark.range(3).select(F.col("id"), F.lit("0").alias(CELL)).filter(F.col("id") < 0)
    path = str(tmp_path / "v1" / "readings")
    lake.write_cells(empty, path, str(tmp_path / "scratch"))
    assert lake.table_exists(path) and lake.table_cells(path) == {}
    assert lake.read_table(spark, path).count() == 0


def test_cells_on_s3_are_carried_inside_s3(aws):
    root = f"s3://{aws.bucket}/lake"
    for cell in ("2023-03-01", "2023-03-02"):
        aws.s3.put_object(Bucket=aws.bucket, Key=f"lake/v1/readings/{cell}--part-0.parquet", Body=cell.encode())
    aws.s3.put_object(Bucket=aws.bucket, Key="lake/v1/readings/_SUCCESS", Body=b"")
    lake.carry_cells(f"{root}/v1/readings", f"{root}/v2/readings", rewritten={"2023-03-02"})
    listed = aws.s3.list_objects_v2(Bucket=aws.bucket, Prefix="lake/v2/")["Contents"]
    assert [o["Key"] for o in listed] == ["lake/v2/readings/2023-03-01--part-0.parquet"]
    assert sorted(lake.table_cells(f"{root}/v1/readings")) == ["2023-03-01", "2023-03-02"]
