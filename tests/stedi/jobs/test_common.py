from datetime import UTC, datetime

from pyspark.sql import functions as F

from stedi import lake
from stedi.jobs.common import JobArgs, patch_cells
from stedi.transforms.cells import CELL, reading_day


def test_job_arguments_survive_the_command_line_and_ignore_glue_extras():
    args = JobArgs(
        landing="s3://b/landing",
        lake="s3://b/lake",
        run_id="r-1",
        ingested_at="2026-11-22T00:00:00+00:00",
        consent_policy="as-of",
    )
    # Glue adds arguments of its own to every job run
    argv = ["--JOB_NAME", "stedi-bronze", *args.to_argv(), "--job-bookmark-option", "job-bookmark-disable"]
    assert JobArgs.parse(argv) == args


def test_consent_policy_defaults_to_ever():
    argv = ["--landing", "l", "--lake", "k", "--run-id", "r", "--ingested-at", "2026-11-22T00:00:00+00:00"]
    assert JobArgs.parse(argv).consent_policy == "ever"


def test_an_argument_glue_adds_is_never_taken_for_one_of_ours_by_its_prefix():
    args = JobArgs(landing="s3://b/landing", lake="s3://b/lake", run_id="r-1", ingested_at="2026-11-22T00:00:00+00:00")
    # argparse's default would take `--run` for an abbreviation of `--run-id` and overwrite the run id
    argv = [*args.to_argv(), "--run", "glue-run-7"]
    assert JobArgs.parse(argv) == args


READING = "serial_number string, reading_at timestamp, distance_cm int"


def _readings(spark, *rows):
    """Rows of a tiny reading table, with their day as CELL: (serial, day of March 2023, distance)."""
    frame = spark.createDataFrame(
        [(serial, datetime(2023, 3, day, 12, tzinfo=UTC), distance) for serial, day, distance in rows], READING
    )
    return frame.withColumn(CELL, reading_day(F.col("reading_at")))


def test_a_patch_carries_a_day_it_leaves_alone_adds_to_a_day_that_only_gains_and_rewrites_one_that_loses(
    spark, tmp_path
):
    # Device "a" is patched. Day 1: its reading is the same either way. Day 2: it gains one. Day 3: its
    # reading changed value (a row gone, one new). Day 4: it gains one, but the day holds MAX_CELL_FILES files.
    earlier = str(tmp_path / "v1" / "steps")
    held = [("a", 1, 10), ("b", 1, 11), ("a", 2, 20), ("b", 2, 21), ("a", 3, 30), ("b", 3, 31), ("b", 4, 41)]
    lake.write_cells(_readings(spark, *held), earlier, str(tmp_path / "v1" / "_scratch"))
    for number in range(lake.MAX_CELL_FILES - 1):  # day 4 crowded with files of other devices' readings
        lake.write_cells(_readings(spark, (f"c{number}", 4, number)), earlier, str(tmp_path / "v1" / f"s{number}"))
    now = _readings(spark, ("a", 1, 10), ("a", 2, 20), ("a", 2, 22), ("a", 3, 33), ("a", 4, 44))
    keys = spark.createDataFrame([("a",)], "serial string")
    split = (
        lambda rows: rows.join(keys.withColumnRenamed("serial", "serial_number"), "serial_number", "left_semi"),
        lambda rows: rows.join(keys.withColumnRenamed("serial", "serial_number"), "serial_number", "left_anti"),
    )
    schema = spark.createDataFrame([], READING).schema
    cells = {"2023-03-01", "2023-03-02", "2023-03-03", "2023-03-04"}

    patched = patch_cells(spark, earlier, schema, cells, now, split, str(tmp_path / "v2" / "_patch"))

    assert patched.changed == {"2023-03-02", "2023-03-03", "2023-03-04"}  # day 1 is carried as it is
    assert patched.rewritten == {"2023-03-03", "2023-03-04"}  # a row gone; too many files
    written = sorted((r[CELL], r["serial_number"], r["distance_cm"]) for r in patched.rows.collect())
    assert written == [
        ("2023-03-02", "a", 22),  # the one row the day gains, beside its linked files
        ("2023-03-03", "a", 33),  # the day whole: its other rows as they were, the device's as they are now
        ("2023-03-03", "b", 31),
        ("2023-03-04", "a", 44),
        ("2023-03-04", "b", 41),
        *[("2023-03-04", f"c{n}", n) for n in range(lake.MAX_CELL_FILES - 1)],
    ]


def test_a_patch_that_changes_nothing_changes_no_day(spark, tmp_path):
    earlier = str(tmp_path / "v1" / "steps")
    lake.write_cells(_readings(spark, ("a", 1, 10), ("b", 1, 11)), earlier, str(tmp_path / "v1" / "_scratch"))
    split = (
        lambda rows: rows.filter(F.col("serial_number") == "a"),
        lambda rows: rows.filter(F.col("serial_number") != "a"),
    )
    schema = spark.createDataFrame([], READING).schema
    now = _readings(spark, ("a", 1, 10))

    patched = patch_cells(spark, earlier, schema, {"2023-03-01"}, now, split, str(tmp_path / "v2" / "_patch"))

    assert (patched.changed, patched.rewritten, patched.rows) == (set(), set(), None)
