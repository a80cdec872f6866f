"""Landing lines -> typed bronze records, or quarantine records with the rule they broke."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from stedi.sources import Field, Kind, Source

LINEAGE_COLUMNS = ["_source_file", "_ingest_run_id", "_ingested_at"]
QUARANTINE_COLUMNS = ["source", "rule", "raw_record", *LINEAGE_COLUMNS]
MALFORMED_JSON = "malformed_json"

SPARK_TYPES: dict[Kind, T.DataType] = {
    "string": T.StringType(),
    "epoch_ms": T.LongType(),
    "double": T.DoubleType(),
    "long": T.LongType(),
    "date": T.DateType(),
}

# Every value is first read as text so that drift in how a number is written ("1655564376361",
# 1655564376361, 1655564376361.0) cannot fail the parse; coercion below decides what is a number.
_AS_TEXT = T.MapType(T.StringType(), T.StringType())
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


def coerce(raw: Column, kind: Kind) -> Column:
    """Text -> typed value; NULL when the text is not a value of that kind."""
    if kind == "string":
        return raw
    if kind == "double":
        return raw.cast("double")
    if kind in ("epoch_ms", "long"):
        # Through double so that 1655564376361.0 (a float export) is the same instant as 1655564376361.
        return raw.cast("double").cast("long")
    if kind == "date":
        part = [F.regexp_extract(raw, _ISO_DATE, i).cast("int") for i in (1, 2, 3)]
        return F.make_date(*part)
    raise ValueError(f"unknown field kind {kind!r}")


def _raw(field: Field) -> Column:
    return F.col("_fields")[field.name.lower()]


def _broken_rule(source: Source) -> Column:
    """The first rule a record breaks, or NULL when it breaks none."""
    checks: list[tuple[Column, str]] = [(F.col("_fields").isNull(), MALFORMED_JSON)]
    checks += [(_raw(f).isNull(), f"missing_{f.name}") for f in source.fields if f.required]
    checks += [
        (_raw(f).isNotNull() & coerce(_raw(f), f.kind).isNull(), f"uncoercible_{f.name}")
        for f in source.fields
        if f.kind != "string"
    ]
    return F.coalesce(*[F.when(failed, F.lit(rule)) for failed, rule in checks])


def parse_landing(source: Source, run_id: str, ingested_at: datetime) -> Callable[[DataFrame], DataFrame]:
    """Lines (`value`, `_source_file`) -> one row per record: typed fields, `_rule`, `raw_record`, lineage.

    Keys are matched case-insensitively (`timeStamp` is `timestamp`); keys the source does not declare
    are kept in `_extra_fields`. Blank lines are not records and are dropped.
    """
    known = [f.name.lower() for f in source.fields]

    def transform(lines: DataFrame) -> DataFrame:
        parsed = (
            lines.filter(F.trim(F.col("value")) != "")
            .withColumn("_json", F.from_json(F.col("value"), _AS_TEXT))
            .withColumn("_fields", F.transform_keys(F.col("_json"), lambda k, _: F.lower(k)))
            .withColumn("_rule", _broken_rule(source))
        )
        return parsed.select(
            *[coerce(_raw(f), f.kind).alias(f.name) for f in source.fields],
            F.map_filter(F.col("_fields"), lambda k, _: ~k.isin(known)).alias("_extra_fields"),
            F.col("_source_file"),
            F.lit(run_id).alias("_ingest_run_id"),
            F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
            F.col("_rule"),
            F.col("value").alias("raw_record"),
        )

    return transform


def bronze_records(source: Source) -> Callable[[DataFrame], DataFrame]:
    """The records that broke no rule, shaped as the bronze table."""
    columns = bronze_schema(source).fieldNames()

    def transform(parsed: DataFrame) -> DataFrame:
        return parsed.filter(F.col("_rule").isNull()).select(*columns)

    return transform


def quarantine_records(source: Source) -> Callable[[DataFrame], DataFrame]:
    """The records that broke a rule: the raw text, the rule, lineage."""

    def transform(parsed: DataFrame) -> DataFrame:
        return parsed.filter(F.col("_rule").isNotNull()).select(
            F.lit(source.name).alias("source"), F.col("_rule").alias("rule"), "raw_record", *LINEAGE_COLUMNS
        )

    return transform
