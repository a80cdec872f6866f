from datetime import datetime

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from stedi.transforms.pseudonyms import keyed_hash
from stedi.transforms.silver import (
    BEFORE_RESEARCH_CONSENT,
    CUSTOMER_NOT_CONSENTING,
    FILTER_REASON,
    MACHINE_LEARNING_COLUMNS,
    NO_RESEARCH_CONSENT,
    OWNER_NOT_CURATED,
    SUPERSEDED,
    UNKNOWN_CUSTOMER,
    UNKNOWN_DEVICE,
    accepted,
    classify_accelerometer,
    classify_customers,
    classify_step_trainer,
    curate_customers,
    current_customers,
    device_ownership,
    pair_readings,
)

CUSTOMER_BRONZE = (
    "customerName string, email string, phone string, birthDay date, serialNumber string, "
    "registrationDate long, lastUpdateDate long, shareWithResearchAsOfDate long, "
    "shareWithPublicAsOfDate long, shareWithFriendsAsOfDate long"
)
ACCELEROMETER_BRONZE = "user string, timestamp long, x double, y double, z double"
STEP_TRAINER_BRONZE = "sensorReadingTime long, serialNumber string, distanceFromObject long"
T0 = 1655564000000  # epoch ms; readings below are offsets from it


def at(ms: int) -> datetime:
    return datetime.utcfromtimestamp(ms / 1000)


def customers(spark, *rows):
    """rows: (email, serial, registered, last_updated, research_consent)."""
    data = [("Name", e, "8015551212", None, s, reg, upd, consent, None, None) for e, s, reg, upd, consent in rows]
    return spark.createDataFrame(data, CUSTOMER_BRONZE)


def reasons(classified, key):
    return {row[key]: row[FILTER_REASON] for row in classified.collect()}


def test_customer_without_research_consent_is_filtered(spark):
    bronze = customers(spark, ("a@x.com", "s-1", T0, T0, T0), ("b@x.com", "s-2", T0, T0, None))
    assert reasons(classify_customers(bronze), "customer_email") == {"a@x.com": None, "b@x.com": NO_RESEARCH_CONSENT}


def test_same_email_in_two_letter_cases_is_one_customer_the_newest_record(spark):
    bronze = customers(
        spark,
        ("Ann.Lee@x.com", "s-old", T0, T0 + 1, T0),
        (" ann.lee@X.COM ", "s-new", T0, T0 + 2, T0),  # updated later: this record wins
    )
    classified = classify_customers(bronze)
    assert sorted((r.serial_number, r[FILTER_REASON]) for r in classified.collect()) == [
        ("s-new", None),
        ("s-old", SUPERSEDED),
    ]
    assert [r.customer_email for r in accepted(classified).collect()] == ["ann.lee@x.com"]


def test_withdrawn_consent_in_the_newest_record_wins(spark):
    # an older record consented, the newest does not: the customer is not trusted
    bronze = customers(spark, ("a@x.com", "s-1", T0, T0 + 1, T0), ("a@x.com", "s-1", T0, T0 + 2, None))
    assert accepted(classify_customers(bronze)).count() == 0


def classify_readings(spark, customer_rows, readings, policy="ever"):
    current = current_customers(classify_customers(customers(spark, *customer_rows)))
    bronze = spark.createDataFrame(readings, ACCELEROMETER_BRONZE)
    return bronze.transform(classify_accelerometer(current, policy))


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        ("a@x.com", None),  # a consenting customer
        ("A@X.com", None),  # the app writes the same email in other letter cases
        (" a@x.com ", None),  # and pads it with spaces,
        ("\ta@x.com", None),  # tabs,
        ("\u00a0a@x.com\u00a0", None),  # no-break spaces
        ("a@x.com\u3000", None),  # or an ideographic space (a Japanese keyboard's)
        ("b@x.com", CUSTOMER_NOT_CONSENTING),  # a known customer who never consented
        ("ghost@x.com", UNKNOWN_CUSTOMER),  # a user no customer record knows
    ],
)
def test_accelerometer_reading_is_kept_only_for_a_consenting_customer(spark, user, reason):
    classified = classify_readings(
        spark, [("a@x.com", "s-1", T0, T0, T0), ("b@x.com", "s-2", T0, T0, None)], [(user, T0, 1.0, 0.0, 0.0)]
    )
    assert [r[FILTER_REASON] for r in classified.collect()] == [reason]


def test_as_of_policy_drops_readings_before_consent(spark):
    classified = classify_readings(
        spark,
        [("a@x.com", "s-1", T0, T0, T0 + 10)],
        [("a@x.com", T0 + 9, 1.0, 0.0, 0.0), ("a@x.com", T0 + 10, 1.0, 0.0, 0.0)],
        policy="as-of",
    )
    assert reasons(classified, "reading_at") == {at(T0 + 9): BEFORE_RESEARCH_CONSENT, at(T0 + 10): None}


def test_customer_curated_needs_a_trusted_reading(spark):
    trusted = accepted(
        classify_customers(customers(spark, ("a@x.com", "s-1", T0, T0, T0), ("c@x.com", "s-3", T0, T0, T0)))
    )
    readings = spark.createDataFrame(
        [("a@x.com", at(T0), 1.0, 0.0, 0.0)],
        "customer_email string, reading_at timestamp, x double, y double, z double",
    )
    assert [r.customer_email for r in trusted.transform(curate_customers(readings)).collect()] == ["a@x.com"]


def test_serial_shared_by_two_customers_never_multiplies_readings(spark):
    # s-1 was registered by a@ first, then re-registered by b@ at T0 + 100.
    current = current_customers(
        classify_customers(customers(spark, ("a@x.com", "s-1", T0, T0, T0), ("b@x.com", "s-1", T0 + 100, T0, T0)))
    )
    steps = spark.createDataFrame(
        [(T0 - 50, "s-1", 10), (T0 + 99, "s-1", 11), (T0 + 100, "s-1", 12), (T0 + 500, "s-1", 13)], STEP_TRAINER_BRONZE
    )
    classified = steps.transform(classify_step_trainer(device_ownership(current), current, "ever"))
    # each reading once; before b@ registered the device it was a@'s (also before a@'s own registration)
    assert sorted((r.distance_cm, r.customer_email) for r in classified.collect()) == [
        (10, "a@x.com"),
        (11, "a@x.com"),
        (12, "b@x.com"),
        (13, "b@x.com"),
    ]


def test_step_trainer_reading_reasons(spark):
    current = current_customers(
        classify_customers(customers(spark, ("a@x.com", "s-1", T0, T0, T0), ("b@x.com", "s-2", T0, T0, T0)))
    )
    curated = current.filter(F.col("customer_email") == "a@x.com")  # b@ has no accelerometer readings
    steps = spark.createDataFrame([(T0, "s-1", 1), (T0, "s-2", 2), (T0, "s-9", 3)], STEP_TRAINER_BRONZE)
    classified = steps.transform(classify_step_trainer(device_ownership(current), curated, "ever"))
    assert reasons(classified, "serial_number") == {"s-1": None, "s-2": OWNER_NOT_CURATED, "s-9": UNKNOWN_DEVICE}


def test_readings_at_the_same_millisecond_pair_within_one_customer_only(spark):
    step_schema = "serial_number string, customer_email string, reading_at timestamp, distance_cm long"
    accel_schema = "customer_email string, reading_at timestamp, x double, y double, z double"
    steps = spark.createDataFrame([("s-a", "a@x.com", at(T0), 10), ("s-b", "b@x.com", at(T0), 20)], step_schema)
    accel = spark.createDataFrame(
        [("a@x.com", at(T0), 1.0, 1.0, 1.0), ("b@x.com", at(T0), 2.0, 2.0, 2.0), ("b@x.com", at(T0), 3.0, 3.0, 3.0)],
        accel_schema,
    )
    expected = spark.createDataFrame(
        [("s-a", at(T0), 10, 1.0, 1.0, 1.0), ("s-b", at(T0), 20, 2.0, 2.0, 2.0), ("s-b", at(T0), 20, 3.0, 3.0, 3.0)],
        "serial_number string, reading_at timestamp, distance_cm long, x double, y double, z double",
    )
    paired = steps.transform(pair_readings(accel, keyed_hash(b"k")))
    assert paired.columns == MACHINE_LEARNING_COLUMNS
    # a timestamp-only join would give 6 rows, 3 across customers
    assertDataFrameEqual(paired.drop("customer_key"), expected)
    keys = {r.serial_number: r.customer_key for r in paired.collect()}
    assert keys["s-a"] != keys["s-b"] and "@" not in keys["s-a"]
