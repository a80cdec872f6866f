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
    """Lines (`value`, `_file`) -> one row per distinct text: the least `_file` holding it, and how many
    lines hold it (`_lines`). `_file` is the file's name or anything that sorts as names do (see
    lake.read_landing_ranked), so the least is the first file by path. Blank lines are not records and are
    dropped.

    Every rule reads a line's text alone (and the run's instant), so a text delivered a hundred times,
    in overlapping exports or a file sent twice, is parsed and checked once, and counted a hundred times.
    """
    texts = lines.groupBy("value").agg(F.min("_file").alias("_file"), F.count(F.lit(1)).alias("_lines"))
    return texts.filter(F.trim(F.col("value")) != "")  # checked per text, not per line


def parse_landing(source: Source, run_id: str, ingested_at: datetime) -> Callable[[DataFrame], DataFrame]:
    """Distinct lines (distinct_lines) -> one row per record: typed fields, `_rule`, `raw_record`, lineage,
    and `_lines`, the landing lines that hold it.

    Keys are matched case-insensitively (`timeStamp` is `timestamp`); keys the source does not declare
    are kept in `_extra_fields`.
    """
    as_text = T.StructType([T.StructField(n, T.StringType()) for n in source.field_names])

    def transform(lines: DataFrame) -> DataFrame:
        json = F.from_json(_with_canonical_keys(source, F.col("value")), as_text)
        parsed = lines.withColumn("_json", json).withColumn(
            "_rule", _broken_rule(source, F.lit(ingested_at).cast("timestamp"))
        )
        return parsed.select(
            *[coerce(_raw(f), f.kind).alias(f.name) for f in source.fields],
            _extra_fields(source).alias("_extra_fields"),
            F.col("_source_file"),
            F.lit(run_id).alias("_ingest_run_id"),
            F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
            F.col("_rule"),
            F.col("value").alias("raw_record"),
            F.col("_lines"),
        )

    return transform


def bronze_records(source: Source) -> Callable[[DataFrame], DataFrame]:
    """The records that broke no rule, shaped as the bronze table."""
    columns = bronze_schema(source).fieldNames()

    def transform(parsed: DataFrame) -> DataFrame:
        return parsed.filter(F.col("_rule").isNull()).select(*columns)

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
        F.col("raw_record").alias("value"), F.col("_rule").alias("rule"), "_ingest_run_id", "_ingested_at"
    )

    def transform(lines: DataFrame) -> DataFrame:
        (file,) = [c for c in lines.columns if c != "value"]
        # The few broken texts on the left: the side a hash join builds its table from, on every engine.
        return (
            F.broadcast(broken)
            .join(lines, "value")
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
    number of landing lines delivering it in `_copies` (see DUPLICATE_RECORD in stedi/rules.py)."""
    # (file, text) as one string that sorts as the pair does: no file name holds a NUL. Each text is
    # one row (distinct_lines), so exactly one row of a record is its first.
    copy = F.concat_ws("\u0000", F.col("_source_file"), F.col("raw_record"))

    def transform(records: DataFrame) -> DataFrame:
        # Not `min_by` over a struct of the row, nor a window: the same result, Sail runs them 10 and 3
        # times slower.
        counted = with_group_aggregates(
            records, [_identity(f) for f in source.fields], {"_first": F.min(copy), "_copies": F.sum("_lines")}
        )
        return counted.filter(copy == F.col("_first")).drop("_first")

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
