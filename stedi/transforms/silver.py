"""Bronze -> trusted and curated tables, with the business reason for every record left out.

The `classify_*` transformations keep every input record and add `_filter_reason` (NULL = accepted), so
the run report can account for each landing record; `accepted` then keeps the trusted rows.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from stedi.rules import ConsentPolicy, consented, owned_at, stripped

FILTER_REASON = "_filter_reason"

CUSTOMER_COLUMNS = [
    "customer_email",
    "customer_name",
    "phone_number",
    "birth_date",
    "serial_number",
    "registered_at",
    "last_updated_at",
    "research_consent_at",
    "public_consent_at",
    "friends_consent_at",
]
ACCELEROMETER_COLUMNS = ["customer_email", "reading_at", "x", "y", "z"]
STEP_TRAINER_COLUMNS = ["serial_number", "customer_email", "reading_at", "distance_cm"]
# All of a customer's record that the fate of their readings depends on (classify_accelerometer,
# classify_step_trainer): a newer record that changes neither changes no reading (stedi/jobs/silver.py).
READING_FATE = ("customer_email", "research_consent_at")
MACHINE_LEARNING_COLUMNS = ["customer_key", "serial_number", "reading_at", "distance_cm", "x", "y", "z"]

# Business reasons a record is left out of the trusted zone (not errors: the record is valid).
SUPERSEDED = "superseded_by_newer_record"
NO_RESEARCH_CONSENT = "no_research_consent"
UNKNOWN_CUSTOMER = "unknown_customer"
CUSTOMER_NOT_CONSENTING = "customer_not_consenting"
BEFORE_RESEARCH_CONSENT = "before_research_consent"
UNKNOWN_DEVICE = "unknown_device"
OWNER_NOT_CURATED = "owner_not_curated"


def normalize_email(column: Column) -> Column:
    """Emails identify customers; the app and the website disagree on case and stray whitespace."""
    return F.lower(stripped(column))


def accepted(classified: DataFrame) -> DataFrame:
    """The rows no business rule filtered out."""
    return classified.filter(F.col(FILTER_REASON).isNull()).drop(FILTER_REASON)


def classify_customers(bronze: DataFrame) -> DataFrame:
    """One row per landing customer; keeps the newest record per email, then requires research consent.

    Deduplicating before the consent check respects a withdrawn consent: if the newest record of a
    customer has no research consent, an older record that had one does not make them trusted.
    """
    renamed = bronze.select(
        normalize_email(F.col("email")).alias("customer_email"),
        F.col("customerName").alias("customer_name"),
        F.col("phone").alias("phone_number"),
        F.col("birthDay").alias("birth_date"),
        stripped(F.col("serialNumber")).alias("serial_number"),
        F.timestamp_millis(F.col("registrationDate")).alias("registered_at"),
        F.timestamp_millis(F.col("lastUpdateDate")).alias("last_updated_at"),
        F.timestamp_millis(F.col("shareWithResearchAsOfDate")).alias("research_consent_at"),
        F.timestamp_millis(F.col("shareWithPublicAsOfDate")).alias("public_consent_at"),
        F.timestamp_millis(F.col("shareWithFriendsAsOfDate")).alias("friends_consent_at"),
    )
    # The record hash breaks ties between records updated at the same instant, so reruns pick the same one.
    newest_first = Window.partitionBy("customer_email").orderBy(
        F.col("last_updated_at").desc_nulls_last(),
        F.col("registered_at").desc_nulls_last(),
        F.xxhash64(*CUSTOMER_COLUMNS).desc(),
    )
    return (
        renamed.withColumn("_rank", F.row_number().over(newest_first))
        .withColumn(
            FILTER_REASON,
            F.when(F.col("_rank") > 1, F.lit(SUPERSEDED)).when(
                F.col("research_consent_at").isNull(), F.lit(NO_RESEARCH_CONSENT)
            ),
        )
        .select(*CUSTOMER_COLUMNS, FILTER_REASON)
    )


def current_customers(classified: DataFrame) -> DataFrame:
    """The newest record of every customer, consenting or not: unique on `customer_email`."""
    return classified.filter(F.col(FILTER_REASON).isNull() | (F.col(FILTER_REASON) != SUPERSEDED)).select(
        *CUSTOMER_COLUMNS
    )


def _consent_reason(policy: ConsentPolicy) -> Column:
    """BEFORE_RESEARCH_CONSENT for a reading of a consenting customer that the consent rule leaves out."""
    return F.when(~F.expr(consented(policy, "reading_at", "research_consent_at")), F.lit(BEFORE_RESEARCH_CONSENT))


def classify_accelerometer(customers: DataFrame, policy: ConsentPolicy) -> Callable[[DataFrame], DataFrame]:
    """Readings of trusted customers are accepted; `customers` is `current_customers` (unique email)."""
    owners = customers.select(*READING_FATE, F.lit(True).alias("_is_known"))

    def transform(bronze: DataFrame) -> DataFrame:
        readings = bronze.select(
            normalize_email(F.col("user")).alias("customer_email"),
            F.timestamp_millis(F.col("timestamp")).alias("reading_at"),
            F.col("x"),
            F.col("y"),
            F.col("z"),
        )
        reason = (
            F.when(F.col("_is_known").isNull(), F.lit(UNKNOWN_CUSTOMER))
            .when(F.col("research_consent_at").isNull(), F.lit(CUSTOMER_NOT_CONSENTING))
            .otherwise(_consent_reason(policy))
        )
        return (
            readings.join(owners, on="customer_email", how="left")
            .withColumn(FILTER_REASON, reason)
            .select(*ACCELEROMETER_COLUMNS, FILTER_REASON)
        )

    return transform


def curate_customers(accelerometer_trusted: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """Trusted customers with at least one trusted accelerometer reading."""

    def transform(customer_trusted: DataFrame) -> DataFrame:
        return customer_trusted.join(accelerometer_trusted, on="customer_email", how="left_semi").select(
            *CUSTOMER_COLUMNS
        )

    return transform


def device_ownership(customers: DataFrame) -> DataFrame:
    """Who owned each serial number when: one row per (serial, owner), intervals that never overlap, as
    the shared-serial ownership rule says (stedi/rules.py, owned_at). `owned_from` / `owned_until` NULL
    mean unbounded: the first registrant owns the device from the beginning of time.
    """
    registrations = Window.partitionBy("serial_number").orderBy(
        F.col("registered_at").asc_nulls_first(), F.col("customer_email")
    )
    return customers.filter(F.col("serial_number").isNotNull()).select(
        F.col("serial_number"),
        F.col("customer_email"),
        F.when(F.row_number().over(registrations) > 1, F.col("registered_at")).alias("owned_from"),
        F.lead(F.col("registered_at")).over(registrations).alias("owned_until"),
    )


def classify_step_trainer(
    ownership: DataFrame, customer_curated: DataFrame, policy: ConsentPolicy
) -> Callable[[DataFrame], DataFrame]:
    """Readings of devices owned (at reading time) by a curated customer are accepted.

    The join to `ownership` cannot fan out: a serial's ownership intervals are disjoint, so a reading
    falls in at most one. `customer_curated` is unique on `customer_email`.
    """
    curated = customer_curated.select(*READING_FATE, F.lit(True).alias("_is_curated"))

    def transform(bronze: DataFrame) -> DataFrame:
        readings = bronze.select(
            stripped(F.col("serialNumber")).alias("serial_number"),
            F.timestamp_millis(F.col("sensorReadingTime")).alias("reading_at"),
            F.col("distanceFromObject").alias("distance_cm"),
        )
        r, o = readings.alias("r"), ownership.alias("o")
        owned_then = (F.col("r.serial_number") == F.col("o.serial_number")) & F.expr(
            owned_at("r.reading_at", "o.owned_from", "o.owned_until")
        )
        reason = (
            F.when(F.col("customer_email").isNull(), F.lit(UNKNOWN_DEVICE))
            .when(F.col("_is_curated").isNull(), F.lit(OWNER_NOT_CURATED))
            .otherwise(_consent_reason(policy))
        )
        return (
            r.join(o, on=owned_then, how="left")
            .select("r.serial_number", "r.reading_at", "r.distance_cm", "o.customer_email")
            .join(curated, on="customer_email", how="left")
            .withColumn(FILTER_REASON, reason)
            .select(*STEP_TRAINER_COLUMNS, FILTER_REASON)
        )

    return transform


def pair_readings(
    accelerometer_trusted: DataFrame, key: Callable[[Column], Column]
) -> Callable[[DataFrame], DataFrame]:
    """Each step-trainer reading with the same customer's accelerometer readings at the same instant.

    Joining on the timestamp alone would pair one customer's step with another customer's motion
    whenever two customers read at the same millisecond (2,700 such pairs in the sample). The step side
    is unique on (customer_email, reading_at); the app may report several x/y/z at one instant, and each
    is a training example. The customer appears only as `key(email)`, a pseudonym.
    """

    def transform(step_trainer_trusted: DataFrame) -> DataFrame:
        return (
            step_trainer_trusted.join(accelerometer_trusted, on=["customer_email", "reading_at"], how="inner")
            .withColumn("customer_key", key(F.col("customer_email")))
            .select(*MACHINE_LEARNING_COLUMNS)
        )

    return transform
