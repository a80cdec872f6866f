from datetime import datetime

import pytest
from pyspark.sql import functions as F

from schemas.enforce import ContractViolation, enforce_contract

T0 = datetime(2022, 6, 18, 15, 0, 0)
SERIAL = "50f7b4f3-7af5-4b07-a421-7b902c8d2b7c"
STEP_SCHEMA = "serial_number string, customer_email string, reading_at timestamp, distance_cm long"


def steps(spark, *rows):
    return spark.createDataFrame(list(rows), STEP_SCHEMA)


def test_valid_table_passes_with_every_check_counted(spark):
    result = enforce_contract("step_trainer_trusted", steps(spark, (SERIAL, "a@x.com", T0, 230)))
    assert result["passed"] and all(c["offending"] == 0 for c in result["checks"])
    assert {c["check"] for c in result["checks"]} >= {"not_null", "unique"}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        # the same device reading twice: the key (serial_number, reading_at) is not unique
        (
            [(SERIAL, "a@x.com", T0, 230), (SERIAL, "a@x.com", T0, 231)],
            "unique on serial_number, reading_at: 2 offending rows",
        ),
        # a serial that is not a UUID
        ([("SN-1", "a@x.com", T0, 230)], "str_matches"),
        # a reading from before STEDI existed
        ([(SERIAL, "a@x.com", datetime(2001, 1, 1), 230)], "greater_than_or_equal_to"),
        # a negative distance that slipped past bronze
        ([(SERIAL, "a@x.com", T0, -5)], "greater_than_or_equal_to(0) on distance_cm: 1 offending rows"),
        # an unnormalised email
        ([(SERIAL, "not an email", T0, 230)], "on customer_email: 1 offending rows"),
    ],
)
def test_violated_row_check_fails_with_table_check_and_count(spark, rows, message):
    with pytest.raises(ContractViolation, match="contract of step_trainer_trusted violated") as failure:
        enforce_contract("step_trainer_trusted", steps(spark, *rows))
    assert message in str(failure.value)


def test_wrong_type_reported_by_pandera_is_not_ignored(spark):
    # pandera's pyspark backend returns this in df.pandera.errors rather than raising
    wrong = steps(spark, (SERIAL, "a@x.com", T0, 230)).withColumn("distance_cm", F.col("distance_cm").cast("string"))
    with pytest.raises(ContractViolation, match="expected column 'distance_cm' to have type LongType"):
        enforce_contract("step_trainer_trusted", wrong)


def test_undeclared_pii_column_in_the_training_set_fails(spark):
    df = spark.createDataFrame(
        [("0" * 64, SERIAL, T0, 230, 1.0, 0.0, 0.0, "a@x.com")],
        "customer_key string, serial_number string, reading_at timestamp, distance_cm long, x double, y double, "
        "z double, customer_email string",
    )
    with pytest.raises(ContractViolation, match="customer_email"):
        enforce_contract("machine_learning_curated", df)
