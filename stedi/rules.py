"""Every file- and row-level rule of the pipeline, declared once with its action.

quarantine: the record goes to <lake>/quarantine/<source>/ with its raw line and the rule's name, and
            is counted as quarantined; the rest of the landing flows on.
warn:       the record stays; it is counted under the rule's name in the run report and flagged where
            the value is published (gold nulls an implausible birthday and sets a flag).

Structural rules (the line is a JSON object, key fields are present, values have their declared type)
follow from stedi/sources.py and come first; the value rules below run on the typed values. A record
is quarantined for the first rule it breaks. A whole file that cannot be read as JSON lines is
quarantined as a file (FILE_RULES below), before any of its records is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Literal

from pyspark.sql import Column
from pyspark.sql import functions as F

from stedi.sources import CUSTOMER, Source

Action = Literal["quarantine", "warn"]

MALFORMED_JSON = "malformed_json"
# A line whose bytes are not UTF-8 text (a Latin-1 export: `J\xfcrgen`): its text cannot be trusted, and
# publishing it would spread replacement characters through silver and gold.
NOT_UTF8 = "not_utf8"
# Instants a timestamp field can hold (0001-01-01 to 9999-12-31, UTC; Spark's, Redshift's and DuckDB's
# range). An epoch outside is no instant, whatever its unit (a nanosecond timestamp is 10^6 times too big):
# `<field>_out_of_range`.
EPOCH_MS_RANGE = (-62_135_596_800_000, 253_402_300_799_999)

# Records delivered more than once. Among the records of a source that break no rule, two are the SAME
# record when every declared field has the same typed value (strings trimmed, emails case-insensitive;
# how a value was written does not matter: "1655564376361", 1655564376361.0). One copy is kept, the one
# from the first file by path (then by its text); every other copy is filtered with this reason. This
# covers repeated lines and whole files delivered again under another name.
DUPLICATE_RECORD = "duplicate_record"
# Different records with the same reading key (stedi/sources.py: a step trainer at one millisecond with
# two distances): no rule can tell which one the device meant, so every version is quarantined with
# this rule (extra exact copies of a version are still duplicate_record).
CONFLICTING_READING = "conflicting_reading"
# Files that cannot be read as JSON lines are quarantined whole (stedi/landing.py checks each before Spark
# opens it), recorded in <lake>/quarantine/files/ with the path and this rule, and counted per source;
# the rest of the landing flows on. The quarantine threshold applies to a source's files as to its records.
UNREADABLE_FILE = "unreadable_file"  # the operating system or S3 refuses to read it (permissions, I/O error)
UNREADABLE_FOLDER = "unreadable_folder"  # a folder of the landing whose files cannot even be listed
CORRUPT_GZIP = "corrupt_gzip"  # gzip data that fails to decompress, or whose checksum or length is wrong
TRUNCATED_GZIP = "truncated_gzip"  # gzip data that ends before its last member does
NOT_GZIP = "not_gzip"  # named .gz, holding something else
GZIP_WITHOUT_SUFFIX = "gzip_without_gz_suffix"  # gzip data not named .gz: Spark would read its bytes as text
UNSUPPORTED_COMPRESSION = "unsupported_compression"  # .bz2, .zip, .zst, ...: deliver plain or gzip JSON lines
UNSUPPORTED_FILE_NAME = "unsupported_file_name"  # a path holding ':', which Hadoop's readers cannot open
FILE_RULES = (
    UNREADABLE_FILE,
    UNREADABLE_FOLDER,
    CORRUPT_GZIP,
    TRUNCATED_GZIP,
    NOT_GZIP,
    GZIP_WITHOUT_SUFFIX,
    UNSUPPORTED_COMPRESSION,
    UNSUPPORTED_FILE_NAME,
)
# STEDI's devices and app did not exist before 2015; a reading dated before is a clock or export fault.
PLAUSIBLE_READINGS_FROM = date(2015, 1, 1)
PLAUSIBLE_BIRTH_DATES_FROM = date(1900, 1, 1)
MAX_CLOCK_SKEW_DAYS = 1  # readings may be stamped up to a day after ingestion (device clocks drift)


@dataclass(frozen=True)
class Rule:
    source: str
    name: str
    action: Action
    field: str  # the bronze field the rule reads
    broken: Callable[[Column, Column], Column]  # (value, ingested_at) -> true when the record breaks it
    description: str

    def breaks(self, value: Column, ingested_at: Column) -> Column:
        """True where the rule is broken; NULL values break no value rule (presence is structural)."""
        return value.isNotNull() & self.broken(value, ingested_at)


def _epoch_ms_outside_plausible_range(value: Column, ingested_at: Column) -> Column:
    # Compared as numbers: an epoch that is no instant at all (years past 9999) must not overflow here.
    earliest = F.lit(int(datetime.combine(PLAUSIBLE_READINGS_FROM, time(), UTC).timestamp() * 1000))
    latest = F.unix_millis(ingested_at) + MAX_CLOCK_SKEW_DAYS * 86_400_000
    return (value < earliest) | (value > latest)


def _birth_date_implausible(value: Column, ingested_at: Column) -> Column:
    return (value < F.lit(PLAUSIBLE_BIRTH_DATES_FROM)) | (value > F.to_date(ingested_at))


VALUE_RULES: tuple[Rule, ...] = (
    Rule(
        "accelerometer",
        "timestamp_out_of_range",
        "quarantine",
        "timestamp",
        _epoch_ms_outside_plausible_range,
        f"reading time before {PLAUSIBLE_READINGS_FROM} or more than a day after ingestion",
    ),
    Rule(
        "step_trainer",
        "sensorReadingTime_out_of_range",
        "quarantine",
        "sensorReadingTime",
        _epoch_ms_outside_plausible_range,
        f"reading time before {PLAUSIBLE_READINGS_FROM} or more than a day after ingestion",
    ),
    Rule(
        "step_trainer",
        "negative_distance",
        "quarantine",
        "distanceFromObject",
        lambda value, _: value < 0,
        "a distance cannot be negative",
    ),
    # A customer's dates follow the same bounds: a registration or consent in 1970 is an epoch in seconds
    # (or a default), and would make every reading "after consent" under the as-of policy.
    *(
        Rule(
            "customer",
            f"{field.name}_out_of_range",
            "quarantine",
            field.name,
            _epoch_ms_outside_plausible_range,
            f"a date before {PLAUSIBLE_READINGS_FROM} or more than a day after ingestion (seconds, not milliseconds?)",
        )
        for field in CUSTOMER.fields
        if field.kind == "epoch_ms"
    ),
    # 906 of the 956 sample customers have a birthday before 1900 (some in the year 967): a data-entry
    # default, not a reason to lose the customer or their readings.
    Rule(
        "customer",
        "birth_date_implausible",
        "warn",
        "birthDay",
        _birth_date_implausible,
        f"birthday before {PLAUSIBLE_BIRTH_DATES_FROM} or in the future",
    ),
)


# The quarantine threshold. A run fails, before bronze publishes anything, when a source's quarantine
# would hold more than this share of the lake's landing files, or of its landing records, as a full
# rebuild measures them: a broken export, not stray records (--quarantine-threshold,
# STEDI_QUARANTINE_THRESHOLD).
QUARANTINE_THRESHOLD = 0.05


def over_threshold(quarantined: int, landing: int, threshold: float) -> bool:
    return landing > 0 and quarantined / landing > threshold


# The consent rule. A customer's readings are research data only when the customer's newest record
# (silver's newest-record rule) has a research consent (`shareWithResearchAsOfDate`); the policy says
# which of their readings count:
#   ever   every reading of the customer (the seed rule, the default);
#   as-of  only the readings taken at or after the consent.
# It is written once, as SQL, for Spark to filter silver with (stedi/transforms/silver.py) and for the
# warehouse to check gold with (sql/checks/, where `{{ consented(...) }}` stands for it).
ConsentPolicy = Literal["ever", "as-of"]
CONSENT_POLICIES: tuple[ConsentPolicy, ...] = ("ever", "as-of")


def consented(policy: ConsentPolicy, reading_at: str, consent_at: str) -> str:
    """The consent rule as a SQL condition on a reading's time and its customer's research consent."""
    if policy not in CONSENT_POLICIES:
        raise ValueError(f"unknown consent policy {policy!r}; expected one of {', '.join(CONSENT_POLICIES)}")
    given = f"{consent_at} is not null"
    return given if policy == "ever" else f"{given} and {reading_at} >= {consent_at}"


# The shared-serial ownership rule. Earlier data reused serial numbers across customers: a reading
# belongs to the customer who registered the device most recently at or before the reading, and a
# reading older than every registration to the first registrant (the sample has 5,411 such readings,
# so a registration date cannot be a lower bound). Each serial's owners hold non-overlapping intervals,
# owned_from to owned_until, NULL meaning unbounded (stedi/transforms/silver.py, device_ownership), so
# a reading falls in one owner's interval at most.
def owned_at(reading_at: str, owned_from: str, owned_until: str) -> str:
    """The ownership rule as a SQL condition: the reading lies in the owner's interval."""
    since, until = (
        f"{owned_from} is null or {reading_at} >= {owned_from}",
        f"{owned_until} is null or {reading_at} < {owned_until}",
    )
    return f"({since}) and ({until})"


_SQL_RULES = {"consented": consented, "owned_at": owned_at}
_MACRO = re.compile(r"\{\{\s*(\w+)\((.*?)\)\s*\}\}")


def render_rules(sql: str) -> str:
    """`sql` with each `{{ rule("arg", ...) }}` replaced by that rule's SQL (consented, owned_at)."""

    def expand(match: re.Match[str]) -> str:
        name, arguments = match[1], [a.strip().strip("'\"") for a in match[2].split(",")]
        if name not in _SQL_RULES:
            raise ValueError(f"unknown rule {name!r} in SQL; rules: {', '.join(_SQL_RULES)}")
        return f"({_SQL_RULES[name](*arguments)})"

    return _MACRO.sub(expand, sql)


def value_rules(source: Source, action: Action) -> list[Rule]:
    return [r for r in VALUE_RULES if r.source == source.name and r.action == action]


def rule(name: str) -> Rule:
    return next(r for r in VALUE_RULES if r.name == name)


def stripped(text: Column) -> Column:
    """Text without surrounding whitespace of any kind: exports pad emails and serial numbers with spaces,
    tabs, no-break and ideographic spaces, and byte-order or zero-width marks; none of them is meant."""
    return F.regexp_replace(text, r"^[\s\p{Z}\x{FEFF}\x{200B}]+|[\s\p{Z}\x{FEFF}\x{200B}]+$", "")
