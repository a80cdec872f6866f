"""The three landing sources and the fields each delivers: the one place that says what a record is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["string", "epoch_ms", "double", "long", "date"]


@dataclass(frozen=True)
class Field:
    name: str  # the key as documented by the source (matched case-insensitively)
    kind: Kind
    required: bool = False  # a record without it cannot be placed: it is quarantined
    is_email: bool = False  # names a customer: compared trimmed and case-insensitively


@dataclass(frozen=True)
class Source:
    name: str
    fields: tuple[Field, ...]
    # The fields that identify one reading: two different records with the same key conflict (see
    # stedi/rules.py). Customers have none here (newer records supersede older ones in silver), nor have
    # accelerometer readings (the app reports several x/y/z at one instant, each a reading of its own).
    key: tuple[str, ...] = ()
    # The field that places a reading in time: its tables are kept in day cells (stedi/transforms/cells.py).
    read_at: str | None = None

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]


CUSTOMER = Source(
    "customer",
    (
        Field("customerName", "string"),
        Field("email", "string", required=True, is_email=True),
        Field("phone", "string"),
        Field("birthDay", "date"),
        Field("serialNumber", "string"),
        Field("registrationDate", "epoch_ms"),
        Field("lastUpdateDate", "epoch_ms"),
        Field("shareWithResearchAsOfDate", "epoch_ms"),
        Field("shareWithPublicAsOfDate", "epoch_ms"),
        Field("shareWithFriendsAsOfDate", "epoch_ms"),
    ),
)

ACCELEROMETER = Source(
    "accelerometer",
    (
        Field("user", "string", required=True, is_email=True),
        Field("timestamp", "epoch_ms", required=True),
        Field("x", "double"),
        Field("y", "double"),
        Field("z", "double"),
    ),
    read_at="timestamp",
)

STEP_TRAINER = Source(
    "step_trainer",
    (
        Field("sensorReadingTime", "epoch_ms", required=True),
        Field("serialNumber", "string", required=True),
        Field("distanceFromObject", "long"),
    ),
    key=("serialNumber", "sensorReadingTime"),
    read_at="sensorReadingTime",
)

SOURCES: dict[str, Source] = {s.name: s for s in (CUSTOMER, ACCELEROMETER, STEP_TRAINER)}
