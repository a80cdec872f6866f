"""Landing lines -> typed bronze records, or quarantine records with the rule they broke."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from stedi.rules import CONFLICTING_READING, EPOCH_MS_RANGE, MALFORMED_JSON, NOT_UTF8, stripped, value_rules
from stedi.sources import Field, Kind, Source

LINEAGE_COLUMNS = ["_source_file", "_ingest_run_id", "_ingested_at"]
QUARANTINE_COLUMNS = ["source", "rule", "raw_record", *LINEAGE_COLUMNS]
# Files quarantined whole (stedi/landing.py): one row each in <lake>/quarantine/files/.
QUARANTINED_FILES_TABLE = "files"

SPARK_TYPES: dict[Kind, T.DataType] = {
    "string": T.StringType(),
    "epoch_ms": T.LongType(),
    "double": T.DoubleType(),
    "long": T.LongType(),
    "date": T.DateType(),
}

# Every value is read as text first, so drift in how a number is written ("1655564376361",
# 1655564376361, 1655564376361.0) cannot fail the parse; coercion below decides what is a number.
_AS_TEXT = T.MapType(T.StringType(), T.StringType())
# What a decoder puts in place of bytes that are not UTF-8: a line holding it was mangled upstream.
_REPLACEMENT_CHARACTER = "\ufffd"
_ISO_DATE = r"^\s*(\d{1,4})-(\d{1,2})-(\d{1,2})\s*$"


def bronze_schema(source: Source) -> T.StructType:
    """The bronze table's schema: the source's typed fields, unknown extra fields, lineage."""
    fields = [T.StructField(f.name, SPARK_TYPES[f.kind]) for f in source.fields]
    return T.StructType(
        [
            *fields,
            T.StructField("_extra_fields", _AS_TEXT),
            T.StructField("_source_file", T.StringType()),
            T.StructField("_ingest_run_id", T.StringType()),
            T.StructField("_ingested_at", T.TimestampType()),
            # The line as delivered: a later file may carry another version of this reading, and the
            # conflict then quarantines both with their raw text (quarantine_conflicts).
            T.StructField("_raw_record", T.StringType()),
        ]
    )


def quarantined_files_schema() -> T.StructType:
    """The quarantine zone's `files` table: a file's source, path, rule, what the system said, its size."""
    return T.StructType(
        [
            T.StructField("source", T.StringType()),
            T.StructField("path", T.StringType()),
            T.StructField("rule", T.StringType()),
            T.StructField("detail", T.StringType()),
            T.StructField("size_bytes", T.LongType()),
            T.StructField("_ingest_run_id", T.StringType()),
            T.StructField("_ingested_at", T.TimestampType()),
        ]
    )


_LONG_LIMIT = 2.0**63  # doubles at or beyond it do not fit a long (Spark would saturate them silently)


def _finite(number: Column) -> Column:
    """NULL for NaN and the infinities: `"NaN"` and `"Infinity"` are text, not measurements."""
    return F.when(~F.isnan(number) & (F.abs(number) < F.lit(float("inf"))), number)


# A number as JSON writes one, in text: only such text is cast. Engines disagree on the rest: Spark
# (ANSI off) casts "1.5d" and " 7 " and gives NULL for "n/a", Sail fails the whole job on "n/a".
_NUMBER = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$"


def _number(raw: Column) -> Column:
    """The text as a finite double; NULL when it is not a JSON number."""
    return _finite(F.when(raw.rlike(_NUMBER), raw.cast("double")))


def coerce(raw: Column, kind: Kind) -> Column:
    """Text -> typed value; NULL when the text is not a value of that kind."""
    if kind == "string":
        return raw
    # Numbers go through double, so that 1655564376361.0 (a float export) is the same as 1655564376361.
    number = _number(raw)
    if kind == "double":
        return number
    if kind == "epoch_ms":
        earliest, latest = EPOCH_MS_RANGE
        return F.when(number.between(earliest, latest), number.cast("long"))
    if kind == "long":  # a number beyond a long's range is none (Spark would clamp it to the largest one)
        return F.when(F.abs(number) < F.lit(_LONG_LIMIT), number.cast("long"))
    if kind == "date":
        year, month, day = [F.regexp_extract(raw, _ISO_DATE, i).cast("int") for i in (1, 2, 3)]
        # Only a day of the calendar reaches make_date: Spark makes NULL of 1990-13-45, Sail fails the job.
        return F.when(raw.rlike(_ISO_DATE) & _is_calendar_day(year, month, day), F.make_date(year, month, day))
    raise ValueError(f"unknown field kind {kind!r}")


def _is_calendar_day(year: Column, month: Column, day: Column) -> Column:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    days = F.when(month == 2, F.when(leap, 29).otherwise(28)).when(month.isin(4, 6, 9, 11), 30).otherwise(31)
    return year.between(1, 9999) & month.between(1, 12) & day.between(1, days)


def _not_utf8(line: Column) -> Column:
    """True for a line whose bytes are not UTF-8 (a Latin-1 `J\\xfcrgen`), or that holds U+FFFD.

    Spark's text reader keeps a line's bytes as they are, valid or not: the line cast to binary is those
    bytes. Encoding it to UTF-8 decodes it first, each invalid sequence becoming U+FFFD, so the two differ
    exactly when some bytes were not UTF-8. (Spark 4's is_valid_utf8 says the same; Glue's 3.5 lacks it.)
    """
    return (F.encode(line, "UTF-8") != line.cast("binary")) | line.contains(_REPLACEMENT_CHARACTER)


def _malformed(line: Column) -> Column:
    """True for a line that is not one JSON object. Spark's JSON parser alone would take the object at the
    start of `{"a": 1} and more`, Sail's would not: a line must also begin with `{` and end with `}`."""
    text = F.trim(line)
    return F.from_json(line, _AS_TEXT).isNull() | ~text.startswith("{") | ~text.endswith("}")


def _raw(field: Field) -> Column:
    return F.col("_json")[field.name]


def _broken_rule(source: Source, ingested_at: Column) -> Column:
    """The first quarantine rule a record breaks (see stedi/rules.py), or NULL when it breaks none."""
    typed = {f.name: coerce(_raw(f), f.kind) for f in source.fields}
    checks: list[tuple[Column, str]] = [
        (_not_utf8(F.col("value")), NOT_UTF8),
        (_malformed(F.col("value")), MALFORMED_JSON),
    ]
    checks += [(_raw(f).isNull(), f"missing_{f.name}") for f in source.fields if f.required]
    checks += [  # a number, but no instant: years past 9999, or nanoseconds where milliseconds belong
        (_number(_raw(f)).isNotNull() & typed[f.name].isNull(), f"{f.name}_out_of_range")
        for f in source.fields
        if f.kind == "epoch_ms"
    ]
    checks += [
        (_raw(f).isNotNull() & typed[f.name].isNull(), f"uncoercible_{f.name}")
        for f in source.fields
        if f.kind != "string"
    ]
    checks += [(r.breaks(typed[r.field], ingested_at), r.name) for r in value_rules(source, "quarantine")]
    return F.coalesce(*[F.when(failed, F.lit(rule)) for failed, rule in checks])


def flags(source: Source) -> dict[str, Column]:
    """Per warn rule of `source`: 1 where a bronze record breaks it, else 0."""
    return {
        r.name: F.when(r.breaks(F.col(r.field), F.col("_ingested_at")), 1).otherwise(0)
        for r in value_rules(source, "warn")
    }


def _with_canonical_keys(source: Source, text: Column) -> Column:
    """Rewrites declared keys in any letter case (`timeStamp`) to their declared spelling (`timestamp`)."""
    for name in source.field_names:
        text = F.regexp_replace(text, rf'(?i)"{re.escape(name)}"\s*:', f'"{name}":')
    return text


def _extra_fields(source: Source) -> Column:
    """Fields the source does not declare, with their values; NULL when there are none.

    A second, map-shaped parse finds them, but only for records that may have any: those with more
    key-like tokens (`"` then `:`) than declared fields with a value. A record with an unknown key always
    has more; one with an explicit null or a `":` inside a value merely takes the exact path too.
    """
    known = [name.lower() for name in source.field_names]
    key_tokens = F.size(F.split(F.col("value"), r'"\s*:')) - 1
    declared_present = sum(F.when(_raw(f).isNotNull(), 1).otherwise(0) for f in source.fields)
    fields = F.from_json(F.col("value"), _AS_TEXT)
    undeclared = F.map_filter(fields, lambda k, _: ~F.lower(k).isin(known))
    extra = F.map_from_entries(
        F.transform(
            F.map_entries(undeclared), lambda e: F.struct(F.lower(e["key"]).alias("key"), e["value"].alias("value"))
        )
    )
    return F.when((key_tokens > declared_present) & (F.size(extra) > 0), extra)


def distinct_lines(lines: DataFrame) -> DataFrame:
    """Lines (`value`, `_file`, `_batch`) -> one row per distinct text of a batch: the least `_file` holding
    it, and how many lines hold it (`_lines`). `_file` is the file's name or anything that sorts as names
    do (see lake.read_landing_ranked), so the least is the first file by path. A batch is the files first
    ingested by one run (stedi/ingestion.py), whose instant the rules read. Blank lines are not records and
    are dropped.

    Every rule reads a line's text alone (and its run's instant), so a text delivered a hundred times,
    in overlapping exports or a file sent twice, is parsed and checked once, and counted a hundred times.
    """
    texts = lines.groupBy("value", "_batch").agg(F.min("_file").alias("_file"), F.count(F.lit(1)).alias("_lines"))
    return texts.filter(F.trim(F.col("value")) != "")  # checked per text, not per line


def with_lineage(batches: list[tuple[str, datetime]]) -> Callable[[DataFrame], DataFrame]:
    """Rows with `_batch` (an index into `batches`: the run that first ingested the file, and its instant)
    -> the same rows with that run's `_ingest_run_id` and `_ingested_at`."""
    runs = F.create_map(*[F.lit(x) for i, (run_id, _) in enumerate(batches) for x in (i, run_id)])
    instants = F.create_map(*[F.lit(x) for i, (_, instant) in enumerate(batches) for x in (i, instant)])

    def transform(rows: DataFrame) -> DataFrame:
        if not batches:
            return rows.select("*", F.lit(None).cast("string").alias("_ingest_run_id"),
                               F.lit(None).cast("timestamp").alias("_ingested_at"))  # fmt: skip
        return rows.select(
            "*",
            runs[F.col("_batch")].alias("_ingest_run_id"),
            instants[F.col("_batch")].cast("timestamp").alias("_ingested_at"),
        )

    return transform


def parse_landing(source: Source) -> Callable[[DataFrame], DataFrame]:
    """Distinct lines with their lineage (distinct_lines, with_lineage) -> one row per record: typed fields,
    `_rule`, `raw_record`, lineage, `_lines` (the landing lines that hold it) and `_batch`.

    Keys are matched case-insensitively (`timeStamp` is `timestamp`); keys the source does not declare
    are kept in `_extra_fields`.
    """
    as_text = T.StructType([T.StructField(n, T.StringType()) for n in source.field_names])

    def transform(lines: DataFrame) -> DataFrame:
        json = F.from_json(_with_canonical_keys(source, F.col("value")), as_text)
        parsed = lines.withColumn("_json", json).withColumn("_rule", _broken_rule(source, F.col("_ingested_at")))
        return parsed.select(
            *[coerce(_raw(f), f.kind).alias(f.name) for f in source.fields],
            _extra_fields(source).alias("_extra_fields"),
            *LINEAGE_COLUMNS,
            F.col("_rule"),
            F.col("value").alias("raw_record"),
            F.col("_lines"),
            F.col("_batch"),
        )

    return transform


def bronze_records(source: Source) -> Callable[[DataFrame], DataFrame]:
    """The records that broke no rule, shaped as the bronze table."""
    columns = bronze_schema(source).fieldNames()

    def transform(parsed: DataFrame) -> DataFrame:
        records = parsed.filter(F.col("_rule").isNull()).withColumn("_raw_record", F.col("raw_record"))
        return records.select(*columns)

    return transform


def quarantine_records(source: Source) -> Callable[[DataFrame], DataFrame]:
    """The records that broke a rule: the raw text, the rule, lineage; one row per parsed record."""

    def transform(parsed: DataFrame) -> DataFrame:
        return parsed.filter(F.col("_rule").isNotNull()).select(
            F.lit(source.name).alias("source"), F.col("_rule").alias("rule"), "raw_record", *LINEAGE_COLUMNS
        )

    return transform


def quarantined_lines(source: Source, parsed: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """Landing lines (`value` and the file it came from) -> a quarantine record per line whose text broke a
    rule in `parsed` (parse_landing), each with its own file: a broken line in three files is three records.
    """
    broken = parsed.filter(F.col("_rule").isNotNull()).select(
        F.col("raw_record").alias("value"), "_batch", F.col("_rule").alias("rule"), "_ingest_run_id", "_ingested_at"
    )

    def transform(lines: DataFrame) -> DataFrame:
        (file,) = [c for c in lines.columns if c not in ("value", "_batch")]
        # The few broken texts on the left: the side a hash join builds its table from, on every engine.
        return (
            F.broadcast(broken)
            .join(lines, ["value", "_batch"], how="inner")
            .select(
                F.lit(source.name).alias("source"),
                "rule",
                F.col("value").alias("raw_record"),
                file,
                *LINEAGE_COLUMNS[1:],
            )
        )

    return transform


def _identity(field: Field) -> Column:
    """A field's value as records are compared (stedi/rules.py, DUPLICATE_RECORD)."""
    value = F.col(field.name)
    if field.kind != "string":
        return value
    return F.lower(stripped(value)) if field.is_email else stripped(value)


def with_group_aggregates(frame: DataFrame, keys: list[Column], aggregates: dict[str, Column]) -> DataFrame:
    """`frame` with `aggregates` over each row's group of equal `keys` (NULL equal to NULL), as a window
    partitioned by `keys` would give them: a hash aggregate joined back, which Sail runs three times
    faster than a window's sort of every row."""
    names = [f"_key{i}" for i in range(len(keys))]
    keyed = frame.select("*", *[key.alias(name) for key, name in zip(keys, names, strict=True)])
    groups = keyed.groupBy(*names).agg(*[a.alias(n) for n, a in aggregates.items()])
    groups = groups.select(*[F.col(n).alias(f"{n}_") for n in names], *aggregates)
    same = [groups[f"{n}_"].eqNullSafe(keyed[n]) for n in names]
    # The groups on the left, the side a hash join holds in memory: they are narrower than the rows.
    return groups.join(keyed, same).select(*frame.columns, *aggregates)


def one_copy_per_record(source: Source) -> Callable[[DataFrame], DataFrame]:
    """Records that broke no rule -> one row per distinct record, the first copy by (file, text), with the
    number of landing lines delivering it in `_copies` (see DUPLICATE_RECORD in stedi/rules.py), and, for
    records bronze already held (held_records), `_held` (1: it did) and `_held_in_bronze` (1: not as a
    conflicting version)."""
    # (file, text) as one string that sorts as the pair does: no file name holds a NUL. Each text is
    # one row (distinct_lines), so exactly one row of a record is its first.
    copy = F.concat_ws("\u0000", F.col("_source_file"), F.col("raw_record"))

    def transform(records: DataFrame) -> DataFrame:
        # Not `min_by` over a struct of the row, nor a window: the same result, Sail runs them 10 and 3
        # times slower.
        held = [name for name in ("_held", "_held_in_bronze") if name in records.columns]
        counted = with_group_aggregates(
            records,
            [_identity(f) for f in source.fields],
            {"_first": F.min(copy), "_copies": F.sum("_lines"), **{f"{n}_any": F.max(n) for n in held}},
        )
        first = counted.filter(copy == F.col("_first")).drop("_first", *held)
        for name in held:
            first = first.withColumnRenamed(f"{name}_any", name)
        return first

    return transform


def quarantine_conflicts(source: Source) -> Callable[[DataFrame], DataFrame]:
    """Distinct records (one_copy_per_record) sharing the source's reading key all break
    CONFLICTING_READING; a source without a key has no conflicts."""
    fields = {f.name: f for f in source.fields}

    def transform(records: DataFrame) -> DataFrame:
        if not source.key:
            return records
        key = [_identity(fields[name]) for name in source.key]
        versions = with_group_aggregates(records, key, {"_versions": F.count(F.lit(1))})
        conflicting = F.col("_versions") > 1
        rule = F.when(conflicting, F.lit(CONFLICTING_READING)).otherwise(F.col("_rule"))
        return versions.withColumn("_rule", rule).drop("_versions")

    return transform


# An incremental run merges the new records with those bronze holds whose key they touch (a source without
# a reading key: whose identity), and decides duplicates and conflicts again for those alone; every other
# record bronze holds is kept as it is. The result is what one run over all the files would decide.


def record_key(source: Source) -> list[Column]:
    """What a new record can change the fate of: records with the same reading key (a conflict), or, for
    a source without one, the same identity (a duplicate)."""
    fields = {f.name: f for f in source.fields}
    return [_identity(fields[name]) for name in (source.key or source.field_names)]


def touched_by(source: Source, new: DataFrame) -> Callable[[DataFrame], tuple[DataFrame, DataFrame]]:
    """Held records -> (those whose record_key a `new` record shares, the others)."""
    names = [f"_touch{i}" for i in range(len(record_key(source)))]

    def keyed(frame: DataFrame) -> DataFrame:
        return frame.select("*", *[key.alias(n) for key, n in zip(record_key(source), names, strict=True)])

    # A set of keys, so the semi and anti joins below cannot fan out.
    keys = keyed(new).select(*names).distinct()

    def split(held: DataFrame) -> tuple[DataFrame, DataFrame]:
        rows = keyed(held)
        same = [rows[n].eqNullSafe(keys[n]) for n in names]
        return (
            rows.join(F.broadcast(keys), same, how="left_semi").drop(*names),
            rows.join(F.broadcast(keys), same, how="left_anti").drop(*names),
        )

    return split


def held_fields(source: Source) -> T.StructType:
    """The bronze columns `unsettled` reads of held records: the source's fields and the first copy's file,
    not the raw text nor the lineage (most of a row's bytes)."""
    return T.StructType([f for f in bronze_schema(source) if f.name in {*source.field_names, "_source_file"}])


def unsettled(source: Source, held: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """New records -> those that may change what bronze holds (`held`, read as held_fields): all but the
    copies of a held record whose held copy stays the first, its file sorting before the new one's.

    A copy settled so changes nothing: one_copy_per_record keeps the held row, unchanged, and
    quarantine_conflicts finds no second version (bronze holds one record per key, and a new version is
    not a copy). Every other new record (new to bronze, a conflicting version, a copy from an earlier
    file, a copy of a version quarantine holds) is left to the exact merge, with its whole day."""
    identity = [_identity(f) for f in source.fields]
    names = [f"_same{i}" for i in range(len(identity))]
    # Fields compared as they are (not text): a join on them alone first cuts the held rows down to the
    # few that may be copies, before any held row's text is normalised for the comparison.
    exact = [f.name for f in source.fields if f.kind != "string"]

    def same(left: DataFrame, right: DataFrame, columns: list[str], suffix: str) -> list[Column]:
        return [left[c].eqNullSafe(right[f"{c}{suffix}"]) for c in columns]

    def transform(new: DataFrame) -> DataFrame:
        rows = new.select("*", *[key.alias(n) for key, n in zip(identity, names, strict=True)])
        values = new.select(*[F.col(c).alias(f"{c}_new") for c in exact]).distinct()
        maybe = held.join(F.broadcast(values), same(held, values, exact, "_new"), "left_semi")
        held_rows = maybe.select(*[key.alias(n) for key, n in zip(identity, names, strict=True)], "_source_file")
        copies = rows.select(*[F.col(c).alias(f"{c}_new") for c in [*names, "_source_file"]]).distinct()
        # The few new records on the broadcast side, the held rows streamed past them
        earlier = held_rows["_source_file"] < copies["_source_file_new"]
        settled = held_rows.join(F.broadcast(copies), [*same(held_rows, copies, names, "_new"), earlier])
        settled = settled.select(*[copies[f"{c}_new"] for c in [*names, "_source_file"]]).distinct()
        return rows.join(settled, same(rows, settled, [*names, "_source_file"], "_new"), "left_anti").drop(*names)

    return transform


def held_records(source: Source) -> Callable[[DataFrame], DataFrame]:
    """Bronze rows -> rows shaped as parse_landing's valid records, marked `_held`: copies of records the
    lake already counted (`_lines` 0)."""
    columns = bronze_schema(source).fieldNames()

    def transform(bronze: DataFrame) -> DataFrame:
        return bronze.select(
            *columns[:-1],
            F.lit(None).cast("string").alias("_rule"),
            F.col("_raw_record").alias("raw_record"),
            F.lit(0).cast("long").alias("_lines"),
            F.lit(-1).alias("_batch"),
            F.lit(1).alias("_held"),
            F.lit(1).alias("_held_in_bronze"),
        )

    return transform


def held_conflicts(source: Source) -> Callable[[DataFrame], DataFrame]:
    """Quarantine rows of CONFLICTING_READING -> the versions they quarantined, parsed again from their raw
    text with their own lineage (the same text and instant give the same record), marked `_held`."""
    parse = parse_landing(source)

    def transform(quarantined: DataFrame) -> DataFrame:
        lines = quarantined.filter(F.col("rule") == CONFLICTING_READING).select(
            F.col("raw_record").alias("value"),
            *LINEAGE_COLUMNS,
            F.lit(0).cast("long").alias("_lines"),
            F.lit(-1).alias("_batch"),
        )
        return lines.transform(parse).select("*", F.lit(1).alias("_held"), F.lit(0).alias("_held_in_bronze"))

    return transform


def new_records(parsed: DataFrame) -> DataFrame:
    """parse_landing's valid records, marked as not held."""
    valid = parsed.filter(F.col("_rule").isNull())
    return valid.select("*", F.lit(0).alias("_held"), F.lit(0).alias("_held_in_bronze"))


def quarantine_schema() -> T.StructType:
    """A source's quarantine table (quarantine_records, quarantined_lines): what each row holds."""
    return T.StructType(
        [
            T.StructField("source", T.StringType()),
            T.StructField("rule", T.StringType()),
            T.StructField("raw_record", T.StringType()),
            T.StructField("_source_file", T.StringType()),
            T.StructField("_ingest_run_id", T.StringType()),
            T.StructField("_ingested_at", T.TimestampType()),
        ]
    )
