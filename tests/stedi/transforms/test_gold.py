import hashlib
import hmac
from datetime import date, datetime

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from stedi.jobs.common import JobArgs
from stedi.jobs.gold import build_tables
from stedi.transforms.cells import CELL
from stedi.transforms.pseudonyms import keyed_hash
from stedi.transforms.silver import ACCELEROMETER_COLUMNS, CUSTOMER_COLUMNS, STEP_TRAINER_COLUMNS
from stedi.warehouse.catalog import load_catalog

# Redshift type (as sqlglot renders it) -> the Spark type its Parquet column must have for COPY
SPARK_TYPE_FOR = {
    "VARCHAR": T.StringType(),
    "TIMESTAMP": T.TimestampNTZType(),
    "DATE": T.DateType(),
    "INTEGER": T.IntegerType(),
    "BIGINT": T.LongType(),
    "DOUBLE PRECISION": T.DoubleType(),
    "BOOLEAN": T.BooleanType(),
    "BOOL": T.BooleanType(),
}
T0 = datetime(2022, 6, 18, 15, 0, 0)


@pytest.mark.parametrize(
    ("secret", "email"),
    [
        (b"k", "ann.lee@x.com"),  # a short key is zero-padded to the block
        (b"x" * 100, "ann.lee@x.com"),  # a key longer than the 64-byte block is hashed first
        (b"k", "jos\u00e9@x.com"),  # the message is hashed as UTF-8
    ],
)
def test_keyed_hash_is_hmac_sha256(spark, secret, email):
    df = spark.createDataFrame([(email,)], "email string")
    assert (
        df.select(keyed_hash(secret)(F.col("email"))).first()[0]
        == hmac.new(secret, email.encode(), hashlib.sha256).hexdigest()
    )


@pytest.fixture(scope="module")
def gold_tables(spark):
    customer = spark.createDataFrame(
        [
            ("a@x.com", "Ann", "8015551212", date(1990, 5, 1), "s-1", T0, T0, T0, None, T0),
            ("b@x.com", "Bo", "8015551212", date(967, 1, 1), "s-2", T0, T0, None, T0, None),
        ],
        "customer_email string, customer_name string, phone_number string, birth_date date, serial_number string, "
        "registered_at timestamp, last_updated_at timestamp, research_consent_at timestamp, "
        "public_consent_at timestamp, friends_consent_at timestamp",
    ).select(*CUSTOMER_COLUMNS)
    accel = spark.createDataFrame(
        [("a@x.com", T0, 1.0, 0.0, 0.0), ("a@x.com", T0, 0.0, 1.0, 0.0)],
        "customer_email string, reading_at timestamp, x double, y double, z double",
    ).select(*ACCELEROMETER_COLUMNS)
    steps = spark.createDataFrame(
        [("s-1", "a@x.com", T0, 230)],
        "serial_number string, customer_email string, reading_at timestamp, distance_cm long",
    ).select(*STEP_TRAINER_COLUMNS)
    silver = {"customer_current": customer, "accelerometer_trusted": accel, "step_trainer_trusted": steps}
    args = JobArgs(landing="-", lake="-", run_id="r", ingested_at="2026-11-22T00:00:00+00:00")
    built = build_tables(silver, b"test-secret", args, is_development_key=False, version="run-1.abcd")
    # A reading table comes with the day cell it is written in (stedi/lake.py, write_cells), not a column of it
    in_cells = {name for name, df in built.items() if CELL in df.columns}
    assert in_cells == {"accelerometer_readings", "step_trainer_readings"}
    assert {r[CELL] for r in built["accelerometer_readings"].select(CELL).collect()} == {T0.date().isoformat()}
    return {name: df.drop(CELL) for name, df in built.items()}


def test_every_gold_table_has_its_ddl_columns_in_order_and_type(gold_tables):
    catalog = load_catalog()
    assert set(gold_tables) == {t.name for t in catalog.tables}
    for table in catalog.tables:
        fields = gold_tables[table.name].schema.fields
        assert [f.name for f in fields] == table.column_names, table.name
        expected = [SPARK_TYPE_FOR[c.sql_type.split("(")[0]] for c in table.columns]
        assert [f.dataType for f in fields] == expected, table.name


def test_consents_are_one_row_per_consent_given(gold_tables):
    rows = gold_tables["customer_consents"].collect()
    keys = {r.customer_key for r in gold_tables["customers"].collect()}
    assert sorted(r.consent_type for r in rows) == ["friends", "public", "research"]
    assert {r.customer_key for r in rows} == keys


def test_readings_at_one_instant_get_distinct_sequence_numbers(gold_tables):
    assert sorted(r.reading_seq for r in gold_tables["accelerometer_readings"].collect()) == [1, 2]


def test_analyst_tables_carry_no_email(gold_tables):
    for name, df in gold_tables.items():
        if name != "customers":
            assert not {"customer_email", "customer_name", "phone_number", "birth_date"} & set(df.columns), name


def test_implausible_birthday_is_nulled_and_flagged_and_the_customer_stays(gold_tables):
    rows = {r.customer_name: (r.birth_date, r.is_birth_date_implausible) for r in gold_tables["customers"].collect()}
    # 1990 is plausible; year 967 is a data-entry default: the customer stays, the birthday does not
    assert rows == {"Ann": (date(1990, 5, 1), False), "Bo": (None, True)}


def test_lake_snapshot_records_the_consent_policy_and_the_gold_version(gold_tables):
    assert [tuple(r) for r in gold_tables["lake_snapshot"].collect()] == [("ever", False, "run-1.abcd")]


def test_customer_key_is_stable_for_a_secret_and_changes_with_it(spark):
    df = spark.createDataFrame([("ann.lee@x.com",)], "email string")
    first, again, other = (df.select(keyed_hash(k)(F.col("email"))).first()[0] for k in (b"s1", b"s1", b"s2"))
    assert first == again != other
    assert "ann" not in first and len(first) == 64


def test_row_changes_are_the_rows_either_version_lacks_nulls_compared_as_values(spark):
    from stedi.transforms.changes import row_changes

    schema = "customer_key string, phone_number string"
    previous = spark.createDataFrame([("k1", "555-1"), ("k2", "555-2"), ("k3", None)], schema)
    current = spark.createDataFrame([("k1", "555-1"), ("k2", "555-9"), ("k3", None), ("k4", "555-4")], schema)
    changes = current.transform(row_changes(previous))
    # k1 and k3 are unchanged (a NULL phone equals a NULL phone); k2 changed: its old row is retracted, its
    # new one upserted; k4 is new
    assert sorted(tuple(r) for r in changes.collect()) == [
        ("retracted", "k2", "555-2"),
        ("upsert", "k2", "555-9"),
        ("upsert", "k4", "555-4"),
    ]
