"""Silver -> gold: the warehouse's 3NF tables, each column in its DDL's order and type.

Redshift COPY maps Parquet columns by position, so each transformation's final `select` is the table's
contract; tests compare it with sql/gold/<table>.sql.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from stedi.rules import rule
from stedi.transforms.silver import device_ownership

CONSENT_TYPES = {"research": "research_consent_at", "public": "public_consent_at", "friends": "friends_consent_at"}


def _ts(column: str, name: str | None = None) -> Column:
    # Warehouse timestamps are UTC wall-clock without a zone (Redshift TIMESTAMP); NTZ Parquet says so.
    return F.col(column).cast("timestamp_ntz").alias(name or column)


def customers(key: Callable[[Column], Column], ingested_at: datetime) -> Callable[[DataFrame], DataFrame]:
    """An implausible birthday (a data-entry default such as 1900-01-01) is published as NULL, flagged."""
    implausible = rule("birth_date_implausible").breaks(F.col("birth_date"), F.lit(ingested_at).cast("timestamp"))

    def transform(customer_current: DataFrame) -> DataFrame:
        return customer_current.select(
            key(F.col("customer_email")).alias("customer_key"),
            F.col("customer_email"),
            F.col("customer_name"),
            F.col("phone_number"),
            F.when(~implausible, F.col("birth_date")).alias("birth_date"),
            F.coalesce(implausible, F.lit(False)).alias("is_birth_date_implausible"),
            _ts("registered_at"),
            _ts("last_updated_at"),
        )

    return transform


def lake_snapshot(
    consent_policy: str, uses_development_key: bool, gold_version: str
) -> Callable[[DataFrame], DataFrame]:
    """One row describing the snapshot, with the gold version it is (a warehouse then says which it holds);
    `one_row` is any single-row frame (no Python data to ship)."""

    def transform(one_row: DataFrame) -> DataFrame:
        return one_row.select(
            F.lit(consent_policy).alias("consent_policy"),
            F.lit(uses_development_key).alias("uses_development_key"),
            F.lit(gold_version).alias("gold_version"),
        )

    return transform


def customer_consents(key: Callable[[Column], Column]) -> Callable[[DataFrame], DataFrame]:
    """One row per consent given; a consent not given has no row."""

    def transform(customer_current: DataFrame) -> DataFrame:
        given = F.array(
            *[
                F.struct(F.lit(kind).alias("consent_type"), F.col(column).alias("consented_at"))
                for kind, column in CONSENT_TYPES.items()
            ]
        )
        return (
            customer_current.select(key(F.col("customer_email")).alias("customer_key"), F.explode(given).alias("c"))
            .filter(F.col("c.consented_at").isNotNull())
            .select(
                "customer_key", F.col("c.consent_type").alias("consent_type"), _ts("c.consented_at", "consented_at")
            )
        )

    return transform


def devices(customer_current: DataFrame) -> DataFrame:
    return (
        customer_current.filter(F.col("serial_number").isNotNull())
        .groupBy("serial_number")
        .agg(F.min("registered_at").alias("first_registered_at"))
        .select("serial_number", _ts("first_registered_at"))
    )


def device_ownerships(key: Callable[[Column], Column]) -> Callable[[DataFrame], DataFrame]:
    def transform(customer_current: DataFrame) -> DataFrame:
        return device_ownership(customer_current).select(
            "serial_number", key(F.col("customer_email")).alias("customer_key"), _ts("owned_from"), _ts("owned_until")
        )

    return transform


def accelerometer_readings(key: Callable[[Column], Column]) -> Callable[[DataFrame], DataFrame]:
    """Readings sharing (customer, instant) are numbered by x, y, z: a stable key for each."""
    same_instant = Window.partitionBy("customer_email", "reading_at").orderBy("x", "y", "z")

    def transform(accelerometer_trusted: DataFrame) -> DataFrame:
        return accelerometer_trusted.select(
            key(F.col("customer_email")).alias("customer_key"),
            _ts("reading_at"),
            F.row_number().over(same_instant).cast("int").alias("reading_seq"),
            "x",
            "y",
            "z",
        )

    return transform


def step_trainer_readings(key: Callable[[Column], Column]) -> Callable[[DataFrame], DataFrame]:
    def transform(step_trainer_trusted: DataFrame) -> DataFrame:
        return step_trainer_trusted.select(
            "serial_number",
            _ts("reading_at"),
            key(F.col("customer_email")).alias("customer_key"),
            F.col("distance_cm").cast("int").alias("distance_cm"),
        )

    return transform
