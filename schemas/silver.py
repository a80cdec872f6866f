"""The silver tables' contracts, as pandera models: columns, types, nullability, value ranges, formats.

`Config.unique` names each table's key; schemas/enforce.py checks it (pandera's pyspark backend does not).
"""

from __future__ import annotations

from datetime import datetime

from pandera.pyspark import DataFrameModel, Field
from pyspark.sql import types as T

from stedi.rules import PLAUSIBLE_READINGS_FROM

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"  # normalised: trimmed, lower case, one @, a dotted domain
SERIAL = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"  # step trainers carry UUIDs
PSEUDONYM = r"^[0-9a-f]{64}$"  # HMAC-SHA256 in hex (stedi/transforms/pseudonyms.py)
READINGS_FROM = datetime.combine(PLAUSIBLE_READINGS_FROM, datetime.min.time())


class CustomerCurrent(DataFrameModel):
    customer_email: T.StringType() = Field(nullable=False, str_matches=EMAIL)
    customer_name: T.StringType() = Field(nullable=True)
    phone_number: T.StringType() = Field(nullable=True)
    birth_date: T.DateType() = Field(nullable=True)
    serial_number: T.StringType() = Field(nullable=True, str_matches=SERIAL)
    registered_at: T.TimestampType() = Field(nullable=True)
    last_updated_at: T.TimestampType() = Field(nullable=True)
    research_consent_at: T.TimestampType() = Field(nullable=True)
    public_consent_at: T.TimestampType() = Field(nullable=True)
    friends_consent_at: T.TimestampType() = Field(nullable=True)

    class Config:
        name = "customer_current"
        strict = True
        unique = ["customer_email"]


class CustomerTrusted(CustomerCurrent):
    research_consent_at: T.TimestampType() = Field(nullable=False)

    class Config(CustomerCurrent.Config):  # strict, same key; only the name differs
        name = "customer_trusted"


class CustomerCurated(CustomerTrusted):
    class Config(CustomerTrusted.Config):
        name = "customer_curated"


class AccelerometerTrusted(DataFrameModel):
    # No key: the app reports several x/y/z at one instant for one customer.
    customer_email: T.StringType() = Field(nullable=False, str_matches=EMAIL)
    reading_at: T.TimestampType() = Field(nullable=False, ge=READINGS_FROM)
    x: T.DoubleType() = Field(nullable=True)
    y: T.DoubleType() = Field(nullable=True)
    z: T.DoubleType() = Field(nullable=True)

    class Config:
        name = "accelerometer_trusted"
        strict = True


class StepTrainerTrusted(DataFrameModel):
    serial_number: T.StringType() = Field(nullable=False, str_matches=SERIAL)
    customer_email: T.StringType() = Field(nullable=False, str_matches=EMAIL)
    reading_at: T.TimestampType() = Field(nullable=False, ge=READINGS_FROM)
    distance_cm: T.LongType() = Field(nullable=True, ge=0)

    class Config:
        name = "step_trainer_trusted"
        strict = True
        unique = ["serial_number", "reading_at"]


class MachineLearningCurated(DataFrameModel):
    # No email, name, phone or birthday: `strict` refuses any column not declared here.
    customer_key: T.StringType() = Field(nullable=False, str_matches=PSEUDONYM)
    serial_number: T.StringType() = Field(nullable=False, str_matches=SERIAL)
    reading_at: T.TimestampType() = Field(nullable=False, ge=READINGS_FROM)
    distance_cm: T.LongType() = Field(nullable=True, ge=0)
    x: T.DoubleType() = Field(nullable=True)
    y: T.DoubleType() = Field(nullable=True)
    z: T.DoubleType() = Field(nullable=True)

    class Config:
        name = "machine_learning_curated"
        strict = True


CONTRACTS: dict[str, type[DataFrameModel]] = {
    model.Config.name: model
    for model in (
        CustomerCurrent,
        CustomerTrusted,
        CustomerCurated,
        AccelerometerTrusted,
        StepTrainerTrusted,
        MachineLearningCurated,
    )
}
