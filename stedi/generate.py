"""`stedi generate`: a landing of any size that looks like production, and the counts a run must report.

`generate(root, scale, seed)` writes <root>/{customer,accelerometer,step_trainer}/landing/ (JSON lines, one
or more files a day, a few gzipped) and <root>/expected.json. scale=1 is about the real sample's size (956
customers, 81,273 accelerometer and 28,680 step-trainer readings); the same seed gives the same bytes.
Below about 0.1 the landing keeps 100 customers and 7 days: every case needs room.

Every record's fate (accepted, filtered for a reason, quarantined for a rule) is decided when the record is
made, and counted then: expected.json is known by construction, never by applying the pipeline's rules to
the files a second time. The rules followed are README's "The rules, made exact", plus the bronze rules on
duplicates: a record equal to another in every declared field (typed; strings trimmed, emails in any case)
is a `duplicate_record`, and step-trainer readings of one device at one instant with different distances
are all quarantined as `conflicting_reading`.

Generated, at every scale: customers updated several times (the newest lastUpdateDate wins), in other
letter cases or with spaces around the email, research consents withdrawn by a newer record or given
later; devices re-registered to another customer and readings older than every registration; readings at
the sample's cadence over many days; repeated lines and files delivered twice; conflicting readings;
schema drift that bronze absorbs; broken lines, far under the 5% quarantine threshold.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from stedi.rules import (
    CONFLICTING_READING,
    CONSENT_POLICIES,
    DUPLICATE_RECORD,
    MALFORMED_JSON,
    NOT_GZIP,
    PLAUSIBLE_BIRTH_DATES_FROM,
    PLAUSIBLE_READINGS_FROM,
    TRUNCATED_GZIP,
)
from stedi.transforms.silver import (
    BEFORE_RESEARCH_CONSENT,
    CUSTOMER_NOT_CONSENTING,
    NO_RESEARCH_CONSENT,
    OWNER_NOT_CURATED,
    SUPERSEDED,
    UNKNOWN_CUSTOMER,
    UNKNOWN_DEVICE,
)

SOURCE_NAMES = ("customer", "accelerometer", "step_trainer")

SAMPLE_CUSTOMERS = 956
# Below about a tenth of the sample, a landing could not hold every case and stay under the quarantine
# threshold (three broken customer lines in 50 would be 6%): smaller scales give this many.
MIN_CUSTOMERS = 100
MIN_DAYS = 7
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
READINGS_START = date(2023, 3, 1)
REGISTRATIONS_START = date(2021, 1, 1)
INSTANTS_PER_CUSTOMER = (20, 40)  # the sample: 30 step-trainer readings per customer
SESSIONS_PER_CUSTOMER = ((1, 2, 3), (0.4, 0.4, 0.2))
CADENCE_MS = (2_000, 5_000)  # between a session's readings; the sample's median gap is 3.4 s
SESSION_HOURS = (6, 22)  # sessions start in the day time (UTC)
# x/y/z readings per instant, 0 to 5: mean 2.9, the sample has 2.8 per (user, instant)
ACCELEROMETER_PER_INSTANT = (0.03, 0.10, 0.22, 0.35, 0.20, 0.10)
STEP_AT_INSTANT = 0.985  # the rest are app readings without a step-trainer reading
DISTANCE_CM = (201, 300)  # the sample's range
MIN_DRIFTED = 30  # drifted records per source at least: enough for every kind of drift at any scale
MAX_LINES_PER_FILE = 20_000  # the sample's files hold 10,000
CUSTOMER_EXPORT_LINES = 5_000  # the first export of all customers, in files of this size
# The readings' landings are partitioned by month (<source>/landing/2023/03/...), as export jobs write
# them, each partition with the empty _SUCCESS marker such jobs leave (a hidden file: skipped).
PARTITIONED = ("accelerometer", "step_trainer")
MARKER = "_SUCCESS"
# Broken files only where a source has this many: one in 40 is 2.5%, under the 5% quarantine threshold.
MIN_FILES_FOR_BROKEN = 40

# Shares of customers (roles) and of landing records (defects); each case exists at least `minimum` times.
SHARES = {
    "research_consent": 0.50,  # the sample: 482 of 956
    "public_consent": 0.51,
    "friends_consent": 0.53,
    "re_registered": 0.02,  # pairs of customers sharing a serial number
    "withdrawn": 0.03,
    "consent_later": 0.03,
    "updated": 0.10,
    "without_readings": 0.03,
    "without_device": 0.02,
    "early_readers": 0.10,  # readings before their device's registration (the sample: 5,411 of 28,680)
    "consent_mid_readings": 0.20,  # of research-consenting customers: as-of keeps part of their readings
    "consent_after_readings": 0.10,  # as-of keeps none of their readings
    "implausible_birthday": 0.05,
    "email_variant": 0.02,
    "unknown_users": 0.01,
    "unknown_devices": 0.01,
    "drifted": 0.02,
    "repeated_in_file": 0.004,
    "repeated_across_files": 0.004,
    "broken": 0.004,
    "conflicts": 0.001,
    "duplicate_files": 0.02,
    "broken_files": 0.01,  # uploads cut short, or plain text named .gz: quarantined whole
    "gzipped": 0.10,
    "blank_lines": 0.02,
}

FIRST_NAMES = (
    "Santosh",
    "Ben",
    "Frank",
    "David",
    "Edward",
    "Jane",
    "Jaya",
    "Jerry",
    "Jacob",
    "Sarah",
    "Liz",
    "Danny",
    "Angie",
    "Craig",
    "Chris",
    "Lyn",
    "Senthil",
    "Bobby",
    "Trevor",
    "Suresh",
    "Gail",
    "Spencer",
    "Steph",
    "Raul",
    "Neeraj",
    "Eric",
    "Mohammed",
    "Lisa",
    "Kate",
    "Rohan",
)
LAST_NAMES = (
    "Clayton",
    "Khatib",
    "Hansen",
    "Jones",
    "Staples",
    "Gonzalez",
    "Jackson",
    "Jefferson",
    "Habschied",
    "Lincoln",
    "Ahmed",
    "Fibonnaci",
    "Davis",
    "Mitra",
    "Sanchez",
    "Anandh",
    "Aristotle",
    "Doshi",
    "Mendoza",
    "Wu",
    "Hoover",
    "Stark",
    "Lee",
    "Smith",
    "Kumar",
    "Phillips",
    "Abdi",
    "Young",
)
DOMAINS = ("test.com", "test.com", "test.com", "example.com", "mail.test")

# Fields in the order each source writes them, with how a value is written (see _value).
CUSTOMER_FIELDS = (
    ("customerName", "string"),
    ("email", "email"),
    ("phone", "phone"),
    ("birthDay", "string"),
    ("serialNumber", "serial"),
    ("registrationDate", "epoch"),
    ("lastUpdateDate", "epoch"),
    ("shareWithResearchAsOfDate", "epoch"),
    ("shareWithPublicAsOfDate", "epoch"),
    ("shareWithFriendsAsOfDate", "epoch"),
)
ACCELEROMETER_FIELDS = (("user", "email"), ("timestamp", "epoch"), ("x", "double"), ("y", "double"), ("z", "double"))
STEP_TRAINER_FIELDS = (("sensorReadingTime", "epoch"), ("serialNumber", "serial"), ("distanceFromObject", "long"))
FIELDS = {"customer": CUSTOMER_FIELDS, "accelerometer": ACCELEROMETER_FIELDS, "step_trainer": STEP_TRAINER_FIELDS}
# Keys neither source declares: bronze keeps them in `_extra_fields`.
EXTRA_FIELDS = {
    "customer": (("source", '"website"'), ("marketingOptIn", "true"), ("locale", '"en-US"')),
    "accelerometer": (("appVersion", '"3.12.0"'), ("os", '"android"'), ("batteryLevel", "0.82")),
    "step_trainer": (("firmware", '"1.4.2"'), ("batteryLevel", "71"), ("rssi", "-61")),
}
KEY_VARIANTS = {
    "timestamp": "timeStamp",
    "serialNumber": "SerialNumber",
    "sensorReadingTime": "SensorReadingTime",
    "email": "Email",
    "user": "User",
    "distanceFromObject": "distancefromobject",
    "x": "X",
    "lastUpdateDate": "LastUpdateDate",
    "customerName": "CustomerName",
}
# One defect each, so that each line breaks exactly the rule it is counted under.
BROKEN_KINDS = {
    "customer": (MALFORMED_JSON, "missing_email", "uncoercible_lastUpdateDate"),
    "accelerometer": (
        MALFORMED_JSON,
        "missing_user",
        "uncoercible_timestamp",
        "uncoercible_x",
        "timestamp_out_of_range",
    ),
    "step_trainer": (
        MALFORMED_JSON,
        "missing_serialNumber",
        "uncoercible_distanceFromObject",
        "sensorReadingTime_out_of_range",
        "negative_distance",
    ),
}

ACCEPTED = "accepted"
Fate = str  # "accepted", "filtered:<reason>" or "quarantined:<rule>"


def filtered(reason: str) -> Fate:
    return f"filtered:{reason}"


def quarantined(rule: str) -> Fate:
    return f"quarantined:{rule}"


def epoch_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def at_least(minimum: int, share: float, of: float) -> int:
    return max(minimum, round(share * of))


# --- the ledger -------------------------------------------------------------------------------------------


class Ledger:
    """Landing records per source and consent policy, by fate: the figures expected.json reports."""

    def __init__(self) -> None:
        self.fates = {policy: {source: Counter() for source in SOURCE_NAMES} for policy in CONSENT_POLICIES}

    def add(self, source: str, fate: Fate, n: int = 1, policy: str | None = None) -> None:
        """Count `n` records of `source` with `fate`, under one policy or (policy None) both."""
        for p in [policy] if policy else CONSENT_POLICIES:
            self.fates[p][source][fate] += int(n)

    def accounting(self, policy: str, source: str) -> dict[str, Any]:
        """As the run summary reports a source: landing, accepted, filtered and quarantined by name."""
        counts = self.fates[policy][source]

        def by(kind: str) -> dict[str, int]:
            return {fate.split(":", 1)[1]: n for fate, n in sorted(counts.items()) if fate.startswith(f"{kind}:") and n}

        return {
            "landing": sum(counts.values()),
            "accepted": counts[ACCEPTED],
            "filtered": by("filtered"),
            "quarantined": by("quarantined"),
        }


# --- rendering lines --------------------------------------------------------------------------------------


def _value(kind: str, value: Any) -> str:
    if value is None:
        return "null"
    if kind in ("epoch", "long"):
        return str(value)
    if kind == "double":
        return repr(float(value))
    return json.dumps(value)


def _email_variant(email: str, r: random.Random) -> str:
    """The same email as another system writes it: other letter case, stray ASCII spaces."""
    local, domain = email.split("@")
    variants = [email.lower(), email.upper(), f"{local}@{domain.upper()}", f"  {email} ", f" {email.lower()}"]
    return r.choice([v for v in variants if v != email])


def _drifted_value(kind: str, value: Any, ops: set[str], r: random.Random) -> str:
    """`value` written as real exports drift: same typed value, other text."""
    if value is None:
        return "null"
    if kind == "email" and "identity" in ops:
        return json.dumps(_email_variant(value, r))
    if kind == "serial" and "identity" in ops:
        return json.dumps(f" {value}  ")
    if kind == "phone" and "numbers_as_text" in ops and value.isdigit():
        return value  # phone numbers delivered as numbers
    if kind in ("epoch", "long"):
        text = f"{value}.0" if "numbers_as_float" in ops else str(value)
        return f'"{text}"' if "numbers_as_text" in ops else text
    if kind == "double" and "numbers_as_text" in ops:
        return f'"{float(value)!r}"'
    if kind == "double" and "numbers_as_float" in ops:
        return str(int(value)) if float(value).is_integer() else repr(float(value))  # 1 instead of 1.0
    return _value(kind, value)


DRIFT_OPS = ("numbers_as_text", "numbers_as_float", "key_case", "extra_field", "explicit_null", "identity", "spaced")


def render(source: str, values: tuple, r: random.Random | None = None, override: dict[str, str] | None = None) -> str:
    """One record as a JSON line. With `r`, drifted the ways real exports drift, without changing a typed value.

    Absent values (None) are left out, as the sample does; `override` replaces a field's text (None drops
    the key), for broken lines.
    """
    fields = FIELDS[source]
    override = override or {}
    sep, colon = (", ", ": ") if source == "customer" else (",", ":")
    ops: set[str] = set(r.sample(DRIFT_OPS, r.randint(1, 3))) if r else set()
    if "spaced" in ops:
        sep, colon = (", ", ": ") if sep == "," else (",", ":")
    drifted_key = r.choice([k for k, _ in fields if k in KEY_VARIANTS]) if "key_case" in ops else None
    parts = []
    for (key, kind), value in zip(fields, values, strict=True):
        if key in override:
            if override[key] is not None:
                parts.append(f'"{key}"{colon}{override[key]}')
            continue
        if value is None and "explicit_null" not in ops:
            continue
        text = _drifted_value(kind, value, ops, r) if r else _value(kind, value)
        parts.append(f'"{KEY_VARIANTS[key] if key == drifted_key else key}"{colon}{text}')
    if "extra_field" in ops:
        name, text = r.choice(EXTRA_FIELDS[source])
        parts.insert(r.randint(0, len(parts)), f'"{name}"{colon}{text}')
    return "{" + sep.join(parts) + "}"


def broken_line(source: str, values: tuple, rule: str, r: random.Random) -> str:
    """A line that breaks exactly `rule` (see stedi/rules.py and the structural rules in bronze)."""
    clean = render(source, values)
    if rule == MALFORMED_JSON:
        not_an_object = json.dumps([str(v) for v in values if v is not None])
        return r.choice([clean[: r.randint(5, len(clean) - 2)], not_an_object])  # cut off, or not an object
    if rule.startswith("missing_"):
        return render(source, values, override={rule.removeprefix("missing_"): None})
    if rule.startswith("uncoercible_"):
        return render(source, values, override={rule.removeprefix("uncoercible_"): r.choice(['"n/a"', '"yesterday"'])})
    if rule.endswith("_out_of_range"):
        before = epoch_ms(PLAUSIBLE_READINGS_FROM) - r.randint(1, 2_000) * DAY_MS  # a device clock reset
        return render(source, values, override={rule.removesuffix("_out_of_range"): str(before)})
    if rule == "negative_distance":
        return render(source, values, override={"distanceFromObject": str(-r.randint(1, 300))})
    raise ValueError(f"no broken line for rule {rule!r}")


# --- the landing files ------------------------------------------------------------------------------------


@dataclass
class Special:
    """A line besides the source's records: a copy, a second version, a broken or a blank line."""

    text: str
    fate: Fate | None  # None for a blank line, which is not a record
    rule: str | None = None  # the row rule a broken line breaks (it breaks it again in a file delivered twice)
    position: float = 0.0  # where in the file, as a fraction of its records


@dataclass
class LandingFile:
    day: date
    records: int
    lines: Callable[[], list[str]]  # the records' lines, rendered when the file is written
    specials: list[Special] = field(default_factory=list)
    gzipped: bool = False
    name: str = ""

    def valid_lines(self) -> int:
        """Lines that break no row rule: records, copies, second versions."""
        return self.records + sum(1 for s in self.specials if s.fate and not s.rule)


class SourceLanding:
    """One source's landing folder: its files, the lines besides the records, the files delivered twice."""

    def __init__(self, root: Path, source: str, ledger: Ledger, r: random.Random) -> None:
        self.folder = root / source / "landing"
        self.source, self.ledger, self.r = source, ledger, r
        self.files: list[LandingFile] = []
        self.duplicate_files = self.drifted = 0
        self.broken_files: list[str] = []  # paths under the folder

    def add_file(self, day: date, records: int, lines: Callable[[], list[str]]) -> int:
        self.files.append(LandingFile(day, records, lines))
        return len(self.files) - 1

    def add_line(self, file: int, text: str, fate: Fate | None, rule: str | None = None) -> None:
        self.files[file].specials.append(Special(text, fate, rule, self.r.random()))
        if fate:
            self.ledger.add(self.source, fate)

    def other_file(self, file: int) -> int:
        """Another file (a copy re-sent with another delivery), or the same when there is only one."""
        if len(self.files) == 1:
            return file
        return (file + self.r.randint(1, len(self.files) - 1)) % len(self.files)

    def write(self) -> dict[str, Any]:
        """Writes every file, then the files delivered twice, then the broken ones; returns the files'
        figures as a run reports them: delivered, read, quarantined whole by rule, and entries skipped."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for position in self.r.sample(range(len(self.files)), at_least(1, SHARES["gzipped"], len(self.files))):
            self.files[position].gzipped = True
        per_day: Counter = Counter()
        for landing_file in self.files:
            landing_file.name = self._name(landing_file.day, per_day, landing_file.gzipped)
            self._write(landing_file.name, self._text(landing_file), landing_file.gzipped)
        # Re-sent deliveries are daily or weekly files, not the customers' first bulk export.
        usual = sorted(self.files, key=lambda f: f.records)[len(self.files) // 2].records
        smaller = [i for i, f in enumerate(self.files) if f.records <= usual]
        twice = self.r.sample(smaller, min(len(smaller), at_least(1, SHARES["duplicate_files"], len(self.files))))
        for position in sorted(twice):
            self._deliver_again(self.files[position], per_day)
        broken = self._deliver_broken(per_day) if len(self.files) >= MIN_FILES_FOR_BROKEN else Counter()
        markers = 0
        if self.source in PARTITIONED:
            for partition in sorted({self._partition(f.day) for f in self.files}):
                (self.folder / partition / MARKER).write_bytes(b"")
                markers += 1
        read = len(self.files) + len(twice)
        return {
            "landing": read + sum(broken.values()),
            "read": read,
            "quarantined": dict(sorted(broken.items())),
            "skipped": markers,
        }

    def _deliver_broken(self, per_day: Counter) -> Counter:
        """Files that cannot be read: a gzip upload cut short, and plain text named .gz. They hold copies of
        real files' lines, which are never landing records: a quarantined file is not read."""
        broken: Counter = Counter()
        for k in range(at_least(1, SHARES["broken_files"], len(self.files))):
            original = self.files[self.r.randrange(len(self.files))]
            data = self.path(original.name).read_bytes()
            text = gzip.decompress(data) if original.gzipped else data
            name = self._name(original.day, per_day, gzipped=True)
            if k % 2 == 0:
                compressed = gzip.compress(text, compresslevel=6, mtime=0)
                self._put(name, original.day, compressed[: len(compressed) // 2])
                broken[TRUNCATED_GZIP] += 1
            else:
                self._put(name, original.day, text)
                broken[NOT_GZIP] += 1
            self.broken_files.append(str(self.path(name).relative_to(self.folder)))
        return broken

    def _name(self, day: date, per_day: Counter, gzipped: bool) -> str:
        number = per_day[day]
        per_day[day] += 1
        return f"{self.source}-{day.isoformat()}-{number}.json" + (".gz" if gzipped else "")

    def _partition(self, day: date) -> str:
        return f"{day:%Y}/{day:%m}" if self.source in PARTITIONED else ""

    def path(self, name: str) -> Path:
        """Where the file `name` (`<source>-<day>-<n>.json[.gz]`) lies: in its month's partition."""
        return self.folder / self._partition(date.fromisoformat(name.split("-", 1)[1][:10])) / name

    def _put(self, name: str, day: date, data: bytes) -> None:
        path = self.folder / self._partition(day) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def _text(self, landing_file: LandingFile) -> bytes:
        lines = landing_file.lines()
        out: list[str] = []
        done = 0
        for special in sorted(landing_file.specials, key=lambda s: s.position):
            at = round(special.position * len(lines))
            out.extend(lines[done:at])
            out.append(special.text)
            done = max(done, at)
        out.extend(lines[done:])
        return ("\n".join(out) + "\n").encode()

    def _write(self, name: str, text: bytes, gzipped: bool) -> None:
        # mtime=0: the same input gives the same bytes
        self._put(
            name,
            date.fromisoformat(name.split("-", 1)[1][:10]),
            gzip.compress(text, compresslevel=6, mtime=0) if gzipped else text,
        )

    def _deliver_again(self, landing_file: LandingFile, per_day: Counter) -> None:
        """The same lines under another name (and the other compression): every record in it is a copy."""
        text = self.path(landing_file.name).read_bytes()
        text = gzip.decompress(text) if landing_file.gzipped else text
        name = self._name(landing_file.day, per_day, not landing_file.gzipped)
        self._write(name, text, not landing_file.gzipped)
        self.ledger.add(self.source, filtered(DUPLICATE_RECORD), landing_file.valid_lines())
        for special in landing_file.specials:
            if special.rule:
                self.ledger.add(self.source, quarantined(special.rule))
        self.duplicate_files += 1


# --- customers --------------------------------------------------------------------------------------------


@dataclass
class People:
    """Customers (indices 0..n-1), their roles, devices and, once readings exist, their dates."""

    n: int
    days: int
    names: list[str]
    emails: list[str]  # as the website first stored them (mixed case); normalised: lower case
    phones: list[str]
    birthdays: list[str]
    roles: dict[str, np.ndarray]  # role -> customer indices
    device: np.ndarray  # serial index per customer, -1 without a device
    serials: list[str]  # customers' devices, then devices nobody registered
    research: np.ndarray  # the newest record has research consent
    re_registered_at: np.ndarray  # per customer of role pair_b: when they registered the first owner's serial
    registered_at: np.ndarray | None = None  # set with research_at once readings exist (see _dates)
    research_at: np.ndarray | None = None  # -1 when none
    unknown_users: list[str] = field(default_factory=list)


def _roles(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Disjoint groups of customers, each playing one case; the rest are ordinary customers."""
    pairs = at_least(2, SHARES["re_registered"], n)
    sizes = {"pair_a": pairs, "pair_b": pairs}
    sizes |= {
        role: at_least(2, SHARES[role], n)
        for role in (
            "withdrawn",
            "consent_later",
            "updated",
            "without_readings",
            "without_device",
            "early_readers",
            "email_variant",
        )
    }
    order = rng.permutation(n)
    bounds = np.cumsum([0, *sizes.values()])
    return {role: np.sort(order[lo:hi]) for role, lo, hi in zip(sizes, bounds[:-1], bounds[1:], strict=True)}


def _people(scale: float, rng: np.random.Generator, r: random.Random) -> People:
    n = max(MIN_CUSTOMERS, round(SAMPLE_CUSTOMERS * scale))
    days = int(np.clip(round(21 * scale**0.5), MIN_DAYS, 90))
    roles = _roles(n, rng)
    first, last = rng.integers(len(FIRST_NAMES), size=n), rng.integers(len(LAST_NAMES), size=n)
    names = [f"{FIRST_NAMES[f]} {LAST_NAMES[s]}" for f, s in zip(first.tolist(), last.tolist(), strict=True)]
    emails = [f"{name.replace(' ', '.')}{i}@{r.choice(DOMAINS)}" for i, name in enumerate(names)]
    phones = [f"{r.randint(201, 989)}555{r.randint(0, 9999):04d}" for _ in range(n)]
    birthdays = [_birthday(r) for _ in range(n)]
    for i in r.sample(range(n), at_least(1, SHARES["implausible_birthday"], n)):
        birthdays[i] = f"{r.randint(967, 1899)}-01-01"  # the sample's data-entry defaults
    research = rng.random(n) < SHARES["research_consent"]
    research[roles["withdrawn"]] = False
    research[roles["consent_later"]] = True
    research[roles["without_readings"]] = True  # trusted, and never curated: no reading
    # A re-registration matters when the two owners differ in consent: alternate it.
    research[roles["pair_a"]] = np.arange(len(roles["pair_a"])) % 2 == 1
    research[roles["pair_b"]] = np.arange(len(roles["pair_b"])) % 2 == 0
    device = np.arange(n)
    device[roles["without_device"]] = -1
    device[roles["pair_b"]] = device[roles["pair_a"]]
    unknown_devices = at_least(1, SHARES["unknown_devices"], n)
    serials = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n + unknown_devices)]
    re_registered_at = np.full(n, -1, dtype=np.int64)
    start = epoch_ms(READINGS_START)
    for b in roles["pair_b"].tolist():  # inside the reading days, so that readings fall on both sides of it
        re_registered_at[b] = start + r.randint(1, days - 2) * DAY_MS + r.randint(8 * HOUR_MS, 16 * HOUR_MS)
    people = People(n, days, names, emails, phones, birthdays, roles, device, serials, research, re_registered_at)
    people.unknown_users = [
        f"{FIRST_NAMES[i % len(FIRST_NAMES)]}.Guest{i}@app.test" for i in range(at_least(1, SHARES["unknown_users"], n))
    ]
    return people


def _birthday(r: random.Random) -> str:
    return (date(1940, 1, 1) + timedelta(days=r.randint(0, 68 * 365))).isoformat()


# --- readings ---------------------------------------------------------------------------------------------


@dataclass
class Sessions:
    """Sessions of readings: who (accelerometer `user`), which device, whose reading, when, how many."""

    user: list[int] = field(default_factory=list)  # customer index, n + i for unknown user i, -1 for none
    serial: list[int] = field(default_factory=list)  # serial index, -1 when the app ran without the trainer
    owner: list[int] = field(default_factory=list)  # the customer the pipeline gives the readings, -1 for none
    start: list[int] = field(default_factory=list)  # epoch ms of the first reading
    instants: list[int] = field(default_factory=list)
    end_at: list[int] = field(default_factory=list)  # when >= 0, the session is shifted to end at this instant

    def add(self, user: int, serial: int, owner: int, start: int, instants: int, end_at: int = -1) -> None:
        for column, value in zip(
            (self.user, self.serial, self.owner, self.start, self.instants, self.end_at),
            (user, serial, owner, start, instants, end_at),
            strict=True,
        ):
            column.append(value)


def _session_start(day: int, r: random.Random) -> int:
    return epoch_ms(READINGS_START) + day * DAY_MS + r.randint(SESSION_HOURS[0] * HOUR_MS, SESSION_HOURS[1] * HOUR_MS)


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _sessions(people: People, r: random.Random) -> Sessions:
    """Every customer's sessions, in customer order and, per customer, in time order.

    A re-registered serial's readings are split at the second registration: the first owner's sessions
    end before it (one ends 1 ms before), the second owner's begin at it (one exactly then).
    """
    sessions = Sessions()
    idle = set(people.roles["without_readings"].tolist())
    first_owner_of = {int(b): int(a) for a, b in zip(people.roles["pair_a"], people.roles["pair_b"], strict=True)}
    second_owner_of = {a: b for b, a in first_owner_of.items()}
    for c in range(people.n):
        if c in idle:
            continue
        total = r.randint(*INSTANTS_PER_CUSTOMER)
        count = r.choices(*SESSIONS_PER_CUSTOMER)[0]
        serial = int(people.device[c])
        if c in second_owner_of:  # the first owner: every reading before the second registration
            split = int(people.re_registered_at[second_owner_of[c]])
            split_day = (split - epoch_ms(READINGS_START)) // DAY_MS
            days = sorted(r.sample(range(split_day), min(count - 1, split_day)))
            plan = [(_session_start(d, r), -1) for d in days] + [(split - HOUR_MS, split - 1)]
        elif c in first_owner_of:  # the second owner: every reading from their registration on
            split = int(people.re_registered_at[c])
            split_day = (split - epoch_ms(READINGS_START)) // DAY_MS
            later = range(split_day + 1, people.days)
            days = sorted(r.sample(later, min(count - 1, len(later))))
            plan = [(split, -1)] + [(_session_start(d, r), -1) for d in days]
        else:
            days = sorted(r.sample(range(people.days), min(count, people.days)))
            plan = [(_session_start(d, r), -1) for d in days]
        for (start, end_at), instants in zip(plan, _split(total, len(plan)), strict=True):
            sessions.add(c, serial, c, start, instants, end_at)
    for i in range(len(people.unknown_users)):  # app users the website never registered
        start = _session_start(r.randrange(people.days), r)
        sessions.add(people.n + i, -1, -1, start, r.randint(*INSTANTS_PER_CUSTOMER))
    for serial in range(people.n, len(people.serials)):  # step trainers nobody registered
        start = _session_start(r.randrange(people.days), r)
        sessions.add(-1, serial, -1, start, r.randint(*INSTANTS_PER_CUSTOMER))
    return sessions


@dataclass
class Instants:
    """One row per reading instant, in session order: time, the session, step reading, x/y/z count."""

    session: np.ndarray
    time: np.ndarray
    has_step: np.ndarray
    accelerometer: np.ndarray  # x/y/z readings at the instant
    distance: np.ndarray


def _instants(s: Sessions, rng: np.random.Generator) -> Instants:
    counts = np.asarray(s.instants)
    session = np.repeat(np.arange(len(counts)), counts)
    first = np.cumsum(counts) - counts
    gaps = rng.integers(CADENCE_MS[0], CADENCE_MS[1] + 1, size=len(session))
    gaps[first] = 0
    elapsed = np.cumsum(gaps)
    time = np.asarray(s.start, dtype=np.int64)[session] + elapsed - elapsed[first][session]
    end_at = np.asarray(s.end_at, dtype=np.int64)
    last = first + counts - 1
    shift = np.where(end_at >= 0, end_at - time[last], 0)
    time = time + shift[session]
    serial, user = np.asarray(s.serial)[session], np.asarray(s.user)[session]
    # A session's first and last instants always have a step-trainer reading: the readings just before
    # and exactly at a re-registration are cases the counts must show.
    edges = np.zeros(len(session), dtype=bool)
    edges[first], edges[last] = True, True
    has_step = (serial >= 0) & ((rng.random(len(session)) < STEP_AT_INSTANT) | (user < 0) | edges)
    accelerometer = np.where(
        user >= 0, rng.choice(len(ACCELEROMETER_PER_INSTANT), size=len(session), p=ACCELEROMETER_PER_INSTANT), 0
    )
    distance = rng.integers(DISTANCE_CM[0], DISTANCE_CM[1] + 1, size=len(session))
    return Instants(session, time, has_step, accelerometer, distance)


def _customer_spans(s: Sessions, inst: Instants, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per customer, the first instant index and the number of instants (customers' instants are contiguous)."""
    owner_of_instant = np.asarray(s.user)[inst.session]
    is_customer = (owner_of_instant >= 0) & (owner_of_instant < n)
    counts = np.bincount(owner_of_instant[is_customer], minlength=n)
    return np.cumsum(counts) - counts, counts


def _dates(people: People, s: Sessions, inst: Instants, r: random.Random) -> None:
    """Registration and research consent dates, set against each customer's reading instants."""
    first, count = _customer_spans(s, inst, people.n)
    before_readings = epoch_ms(READINGS_START) - DAY_MS
    registered = np.array(
        [r.randint(epoch_ms(REGISTRATIONS_START), before_readings) for _ in range(people.n)], dtype=np.int64
    )

    def an_instant_after_the_first(c: int) -> int:
        return int(inst.time[first[c] + r.randint(1, count[c] - 1)])

    # Some readings predate every registration of their device: the first registrant's.
    pair_a = people.roles["pair_a"].tolist()
    for c in people.roles["early_readers"].tolist() + pair_a[: (len(pair_a) + 1) // 2]:
        registered[c] = an_instant_after_the_first(c)
    pair_b = people.roles["pair_b"]
    registered[pair_b] = people.re_registered_at[pair_b]
    research_at = np.full(people.n, -1, dtype=np.int64)
    for c in np.flatnonzero(people.research).tolist():
        research_at[c] = registered[c]  # the sample: 459 of 482 consented when they registered
        if count[c] == 0:
            continue
        draw, last_reading = r.random(), int(inst.time[first[c] + count[c] - 1])
        if draw < SHARES["consent_after_readings"]:
            research_at[c] = max(registered[c], last_reading + r.randint(HOUR_MS, 3 * DAY_MS))
        elif draw < SHARES["consent_after_readings"] + SHARES["consent_mid_readings"]:
            exactly_then = r.random() < 0.5  # a reading at the consent's millisecond counts as after it
            before = 0 if exactly_then else r.randint(1, 999)
            research_at[c] = max(registered[c], an_instant_after_the_first(c) - before)
    for c in people.roles["consent_later"].tolist():  # an older record without it must fit before
        research_at[c] = max(research_at[c], registered[c] + r.randint(HOUR_MS, 30 * DAY_MS))
    people.registered_at, people.research_at = registered, research_at


# --- customer records -------------------------------------------------------------------------------------


def _customer_records(people: People, r: random.Random) -> list[tuple[int, tuple, Fate]]:
    """Every customer's records (lastUpdateDate, values, fate): older ones superseded, then the newest."""
    roles = {role: set(members.tolist()) for role, members in people.roles.items()}
    records = []
    for c in range(people.n):
        registered, research = int(people.registered_at[c]), int(people.research_at[c])
        public = _consent_after(registered, SHARES["public_consent"], r)
        friends = _consent_after(registered, SHARES["friends_consent"], r)
        research_or_none = research if research >= 0 else None
        newest_update = max(registered, research, public or 0, friends or 0)
        has_history = c in roles["withdrawn"] or c in roles["consent_later"] or c in roles["updated"]
        if has_history or r.random() < 0.2:
            newest_update += r.randint(HOUR_MS, 30 * DAY_MS)
        serial = people.serials[people.device[c]] if people.device[c] >= 0 else None
        email = _email_variant(people.emails[c], r) if c in roles["email_variant"] else people.emails[c]
        newest = (
            people.names[c],
            email,
            people.phones[c],
            people.birthdays[c],
            serial,
            registered,
            newest_update,
            research_or_none,
            public,
            friends,
        )
        for update in _older_updates(c, registered, research, newest_update, roles, r):
            older = list(newest)
            older[6] = update
            if c in roles["withdrawn"]:
                older[7] = registered  # consented then; the newest record withdraws it
            elif c in roles["consent_later"]:
                older[7] = None
            else:  # an older phone number, or the email as another system wrote it
                older[2] = f"{r.randint(201, 989)}555{r.randint(0, 9999):04d}" if r.random() < 0.5 else older[2]
                older[1] = _email_variant(people.emails[c], r) if r.random() < 0.5 else older[1]
            records.append((update, tuple(older), filtered(SUPERSEDED)))
        records.append((newest_update, newest, ACCEPTED if research >= 0 else filtered(NO_RESEARCH_CONSENT)))
    return records


def _consent_after(registered: int, share: float, r: random.Random) -> int | None:
    """Given with probability `share`: at registration (as in most of the sample) or up to 90 days later."""
    given_at = registered + r.choice([0, r.randint(0, 90) * DAY_MS])
    return given_at if r.random() < share else None


def _older_updates(
    c: int, registered: int, research: int, newest: int, roles: dict[str, set], r: random.Random
) -> list[int]:
    """lastUpdateDate of the customer's older records: distinct, after registration, before the newest."""
    if c in roles["withdrawn"]:
        return [r.randint(registered, newest - 1)]
    if c in roles["consent_later"]:
        return [r.randint(registered, research - 1)]
    if c in roles["updated"]:
        return sorted(r.sample(range(registered, newest), r.randint(1, 3)))
    return []


def _customer_landing(landing: SourceLanding, records: list[tuple[int, tuple, Fate]], r: random.Random) -> None:
    """A first export of every record updated before the reading days, then a weekly export of updates."""
    start = epoch_ms(READINGS_START)
    first_export = [rec for rec in records if rec[0] < start]
    later = sorted((rec for rec in records if rec[0] >= start), key=lambda rec: rec[0])
    chunks = [
        (READINGS_START - timedelta(days=1), first_export[i : i + CUSTOMER_EXPORT_LINES])
        for i in range(0, len(first_export), CUSTOMER_EXPORT_LINES)
    ]
    by_day: dict[date, list] = {}
    for rec in later:
        exported = READINGS_START + timedelta(days=7 * ((rec[0] - start) // (7 * DAY_MS) + 1))
        by_day.setdefault(exported, []).append(rec)
    how_many = min(len(records), at_least(MIN_DRIFTED, SHARES["drifted"], len(records)))
    drifted = set(r.sample(range(len(records)), how_many))
    landing.drifted = len(drifted)
    placed: list[tuple[int, tuple, str | None]] = []  # file, values and line of every record, for its copies
    for day, chunk in chunks + list(by_day.items()):
        lines = []
        for _, values, fate in chunk:
            lines.append(render("customer", values, r if len(placed) + len(lines) in drifted else None))
            landing.ledger.add("customer", fate)
        file = landing.add_file(day, len(lines), lambda lines=lines: lines)
        placed += [(file, values, line) for (_, values, _), line in zip(chunk, lines, strict=True)]
    _copies_and_broken_lines(landing, len(placed), placed.__getitem__, r)


def _copies_and_broken_lines(
    landing: SourceLanding, records: int, locate: Callable[[int], tuple[int, tuple, str | None]], r: random.Random
) -> None:
    """Copies of records (in their own file and in another), broken lines and a few blank lines.

    `locate(i)` is the file, the values and the line (None when drifted) of the source's record i. A copy
    in the record's own file repeats its line; half the copies in other files are drifted instead: a copy
    is the same record however it is written.
    """
    for share, same_file in (("repeated_in_file", True), ("repeated_across_files", False)):
        for i in r.sample(range(records), at_least(3, SHARES[share], records)):
            file, values, line = locate(i)
            if line is None or (not same_file and r.random() < 0.5):
                line = render(landing.source, values, r)
            landing.add_line(file if same_file else landing.other_file(file), line, filtered(DUPLICATE_RECORD))
    kinds = BROKEN_KINDS[landing.source]
    for k in range(at_least(len(kinds), SHARES["broken"], records)):
        file, values, _ = locate(r.randrange(records))
        rule = kinds[k % len(kinds)]
        landing.add_line(file, broken_line(landing.source, values, rule, r), quarantined(rule), rule)
    for file in r.sample(range(len(landing.files)), at_least(1, SHARES["blank_lines"], len(landing.files))):
        landing.add_line(file, r.choice(["", "   "]), None)


# --- reading fates ----------------------------------------------------------------------------------------


@dataclass
class ReadingFates:
    """Per instant and consent policy: the fate of its x/y/z readings and of its step-trainer reading."""

    accelerometer: dict[str, np.ndarray]  # policy -> code into ACCELEROMETER_FATES
    step: dict[str, np.ndarray]  # policy -> code into STEP_FATES (meaningful where the instant has one)
    curated: dict[str, np.ndarray]  # policy -> per customer


ACCELEROMETER_FATES = (
    ACCEPTED,
    filtered(UNKNOWN_CUSTOMER),
    filtered(CUSTOMER_NOT_CONSENTING),
    filtered(BEFORE_RESEARCH_CONSENT),
)
STEP_FATES = (
    ACCEPTED,
    filtered(UNKNOWN_DEVICE),
    filtered(OWNER_NOT_CURATED),
    filtered(BEFORE_RESEARCH_CONSENT),
    quarantined(CONFLICTING_READING),
)


def _reading_fates(people: People, s: Sessions, inst: Instants, conflicted: np.ndarray) -> ReadingFates:
    """What the pipeline does with each reading, from the customer it belongs to and its time.

    A session's readings belong to its customer by construction (see _sessions), so the owner of a
    step-trainer reading is the session's customer, and its x/y/z readings are that customer's too.
    """
    trusted = np.concatenate([people.research, np.zeros(len(people.unknown_users), dtype=bool)])
    consent_at = np.concatenate([people.research_at, np.full(len(people.unknown_users), -1)])
    user, owner = np.asarray(s.user)[inst.session], np.asarray(s.owner)[inst.session]
    fates = ReadingFates({}, {}, {})
    for policy in CONSENT_POLICIES:
        before_consent = (inst.time < consent_at[user]) & (policy == "as-of")
        code = np.select([user >= people.n, ~trusted[user], before_consent], [1, 2, 3], 0)
        accepted_readings = np.bincount(
            user[(code == 0) & (user >= 0)], weights=inst.accelerometer[(code == 0) & (user >= 0)], minlength=people.n
        )
        curated = people.research & (accepted_readings[: people.n] > 0)
        step_before_consent = (inst.time < people.research_at[owner]) & (policy == "as-of")
        step = np.select([conflicted, owner < 0, ~curated[owner], step_before_consent], [4, 1, 2, 3], 0)
        fates.accelerometer[policy], fates.step[policy], fates.curated[policy] = code, step, curated
    return fates


def _conflicts(s: Sessions, inst: Instants, r: random.Random) -> np.ndarray:
    """Instants whose step-trainer reading is delivered in two versions (two distances)."""
    candidates = np.flatnonzero(inst.has_step & (np.asarray(s.owner)[inst.session] >= 0))
    conflicted = np.zeros(len(inst.time), dtype=bool)
    conflicted[r.sample(candidates.tolist(), at_least(2, SHARES["conflicts"], len(candidates)))] = True
    return conflicted


def _count_readings(ledger: Ledger, inst: Instants, fates: ReadingFates) -> None:
    for policy in CONSENT_POLICIES:
        per_fate = np.bincount(
            fates.accelerometer[policy], weights=inst.accelerometer, minlength=len(ACCELEROMETER_FATES)
        )
        for fate, n in zip(ACCELEROMETER_FATES, per_fate.tolist(), strict=True):
            ledger.add("accelerometer", fate, round(n), policy)
        per_fate = np.bincount(fates.step[policy][inst.has_step], minlength=len(STEP_FATES))
        for fate, n in zip(STEP_FATES, per_fate.tolist(), strict=True):
            ledger.add("step_trainer", fate, n, policy)


# --- reading files ----------------------------------------------------------------------------------------


def _day_files(days: np.ndarray) -> list[tuple[int, int, int]]:
    """(day, first, end) of each file over records in time order: one or more files per day."""
    files = []
    values, starts = np.unique(days, return_index=True)
    ends = np.append(starts[1:], len(days))
    for day, lo, hi in zip(values.tolist(), starts.tolist(), ends.tolist(), strict=True):
        parts = -(-(hi - lo) // MAX_LINES_PER_FILE)
        bounds = np.linspace(lo, hi, parts + 1).round().astype(int).tolist()
        files += [(day, a, b) for a, b in itertools.pairwise(bounds)]
    return files


def _reading_files(
    landing: SourceLanding,
    time: np.ndarray,
    values: Callable[[int], tuple],
    clean: Callable[[int, int], list[str]],
    rng: np.random.Generator,
    drift: random.Random,
) -> Callable[[int], tuple[int, tuple, str | None]]:
    """Adds a reading source's files (records in time order) with a share of records drifted; returns
    `locate` for _copies_and_broken_lines."""
    drifted = np.sort(
        rng.choice(len(time), size=min(len(time), at_least(MIN_DRIFTED, SHARES["drifted"], len(time))), replace=False)
    )
    landing.drifted = len(drifted)

    def lines(lo: int, hi: int) -> list[str]:
        out = clean(lo, hi)
        for i in drifted[np.searchsorted(drifted, lo) : np.searchsorted(drifted, hi)].tolist():
            out[i - lo] = render(landing.source, values(i), drift)
        return out

    files = _day_files((time - epoch_ms(READINGS_START)) // DAY_MS)
    for day, lo, hi in files:
        landing.add_file(READINGS_START + timedelta(days=day), hi - lo, lambda lo=lo, hi=hi: lines(lo, hi))
    starts = np.asarray([lo for _, lo, _ in files])

    def locate(i: int) -> tuple[int, tuple, str | None]:
        is_drifted = np.searchsorted(drifted, i) < len(drifted) and drifted[np.searchsorted(drifted, i)] == i
        return int(np.searchsorted(starts, i, side="right") - 1), values(i), None if is_drifted else clean(i, i + 1)[0]

    return locate


_XYZ = [(x, y, z) for x in (-1.0, 0.0, 1.0) for y in (-1.0, 0.0, 1.0) for z in (-1.0, 0.0, 1.0)]
_XYZ_TEXT = [f',"x":{x!r},"y":{y!r},"z":{z!r}}}' for x, y, z in _XYZ]
# Strides that visit all 27 x/y/z combinations before repeating: one customer's x/y/z at one instant
# never repeat (the sample has no such duplicate), so they are distinct readings, not copies.
_XYZ_STRIDES = np.array([k for k in range(1, 27) if k % 3])


def _accelerometer_landing(
    landing: SourceLanding, people: People, s: Sessions, inst: Instants, rng: np.random.Generator, r: random.Random
) -> None:
    counts = inst.accelerometer
    instant = np.repeat(np.arange(len(counts)), counts)
    nth = np.arange(len(instant)) - np.repeat(np.cumsum(counts) - counts, counts)
    first_xyz, stride = rng.integers(27, size=len(counts)), rng.choice(_XYZ_STRIDES, size=len(counts))
    order = np.argsort(inst.time[instant], kind="stable")
    instant, xyz = instant[order], ((first_xyz[instant] + nth * stride[instant]) % 27)[order]
    user, time = np.asarray(s.user)[inst.session][instant], inst.time[instant]
    emails = people.emails + people.unknown_users
    prefixes = [f'{{"user":{json.dumps(e)},"timestamp":' for e in emails]

    def values(i: int) -> tuple:
        return (emails[user[i]], int(time[i]), *_XYZ[xyz[i]])

    def clean(lo: int, hi: int) -> list[str]:
        return [
            prefixes[u] + str(t) + _XYZ_TEXT[c]
            for u, t, c in zip(user[lo:hi].tolist(), time[lo:hi].tolist(), xyz[lo:hi].tolist(), strict=True)
        ]

    locate = _reading_files(landing, time, values, clean, rng, random.Random(r.random()))
    _copies_and_broken_lines(landing, len(time), locate, r)


def _step_landing(
    landing: SourceLanding,
    people: People,
    s: Sessions,
    inst: Instants,
    conflicted: np.ndarray,
    rng: np.random.Generator,
    r: random.Random,
) -> None:
    instant = np.flatnonzero(inst.has_step)
    instant = instant[np.argsort(inst.time[instant], kind="stable")]
    serial, time, distance = np.asarray(s.serial)[inst.session][instant], inst.time[instant], inst.distance[instant]
    middles = [f',"serialNumber":"{sn}","distanceFromObject":' for sn in people.serials]

    def values(i: int) -> tuple:
        return (int(time[i]), people.serials[serial[i]], int(distance[i]))

    def clean(lo: int, hi: int) -> list[str]:
        rows = zip(time[lo:hi].tolist(), serial[lo:hi].tolist(), distance[lo:hi].tolist(), strict=True)
        return ['{"sensorReadingTime":' + str(t) + middles[sn] + str(d) + "}" for t, sn, d in rows]

    locate = _reading_files(landing, time, values, clean, rng, random.Random(r.random()))
    # The second version of a conflicting reading: same device and instant, another distance, in the same
    # file or a later one. A third of them is delivered twice: that copy is only a duplicate.
    for i in np.flatnonzero(conflicted[instant]).tolist():
        file, (t, sn, d), _ = locate(i)
        other = (t, sn, d + r.choice([-1, 1]) * r.randint(1, 20))
        target = r.choice([file, landing.other_file(file)])
        landing.add_line(target, render("step_trainer", other), quarantined(CONFLICTING_READING))
        if r.random() < 1 / 3:
            landing.add_line(landing.other_file(target), render("step_trainer", other, r), filtered(DUPLICATE_RECORD))
    _copies_and_broken_lines(landing, len(time), locate, r)


# --- expected counts --------------------------------------------------------------------------------------


def _tables(
    people: People, newest: list[tuple], inst: Instants, fates: ReadingFates, policy: str
) -> tuple[dict[str, int], dict[str, int]]:
    """Silver and gold table rows under `policy`, from the fates decided above."""
    accelerometer_ok = fates.accelerometer[policy] == 0
    step_ok = inst.has_step & (fates.step[policy] == 0)
    silver = {
        "customer_trusted": int(people.research.sum()),
        "customer_current": people.n,
        "accelerometer_trusted": int(inst.accelerometer[accelerometer_ok].sum()),
        "customer_curated": int(fates.curated[policy].sum()),
        "step_trainer_trusted": int(step_ok.sum()),
        # Every x/y/z of the reading's customer at the reading's instant: in one session, one customer
        "machine_learning_curated": int(inst.accelerometer[step_ok & accelerometer_ok].sum()),
    }
    serials = [values[4] for values in newest if values[4] is not None]
    gold = {
        "customers": people.n,
        "customer_consents": sum(v is not None for values in newest for v in values[7:10]),
        "devices": len(set(serials)),
        "device_ownerships": len(serials),
        "accelerometer_readings": silver["accelerometer_trusted"],
        "step_trainer_readings": silver["step_trainer_trusted"],
        "lake_snapshot": 1,
    }
    return silver, gold


def _cases(
    people: People,
    records: list,
    s: Sessions,
    inst: Instants,
    conflicted: np.ndarray,
    landings: dict[str, SourceLanding],
    ledger: Ledger,
) -> dict[str, Any]:
    """How often each case occurs, for the reader (the counts above already follow from them)."""
    roles = {role: len(members) for role, members in people.roles.items()}
    owner = np.asarray(s.owner)[inst.session]
    first_registration = people.registered_at.copy()
    first_registration[people.roles["pair_b"]] = people.registered_at[people.roles["pair_a"]]
    is_step = inst.has_step & (owner >= 0)
    ever = ledger.fates["ever"]
    canonical = set(people.emails)
    return {
        "customers": people.n,
        "reading_days": people.days,
        "updated_customers": len(
            {values[1].strip().lower() for _, values, fate in records if fate == filtered(SUPERSEDED)}
        ),
        "withdrawn_consents": roles["withdrawn"],
        "consents_given_later": roles["consent_later"],
        "customer_lines_with_email_variants": sum(values[1] not in canonical for _, values, _ in records),
        "customers_without_device": roles["without_device"],
        "customers_without_readings": roles["without_readings"],
        "implausible_birthdays": sum(int(b.split("-")[0]) < PLAUSIBLE_BIRTH_DATES_FROM.year for b in people.birthdays),
        "re_registered_devices": roles["pair_a"],
        "step_readings_kept_by_first_owner": int(np.isin(owner[is_step], people.roles["pair_a"]).sum()),
        "step_readings_before_every_registration": int((inst.time[is_step] < first_registration[owner[is_step]]).sum()),
        "unknown_users": len(people.unknown_users),
        "unknown_devices": len(people.serials) - people.n,
        "conflicting_readings": int(conflicted.sum()),
        "duplicate_records": {src: ever[src][filtered(DUPLICATE_RECORD)] for src in SOURCE_NAMES},
        "duplicate_files": {src: landing.duplicate_files for src, landing in landings.items()},
        "broken_files": {src: landing.broken_files for src, landing in landings.items()},
        "drifted_lines": {src: landing.drifted for src, landing in landings.items()},
        "broken_lines": {
            src: sum(
                n
                for fate, n in ever[src].items()
                if fate.startswith("quarantined:") and fate != quarantined(CONFLICTING_READING)
            )
            for src in SOURCE_NAMES
        },
        "gzipped_files": {src: sum(f.gzipped for f in landing.files) for src, landing in landings.items()},
        "blank_lines": {
            src: sum(1 for f in landing.files for sp in f.specials if sp.fate is None)
            for src, landing in landings.items()
        },
    }


def generate(root: Path, scale: float, seed: int = 0) -> dict[str, Any]:
    """Writes a landing of about `scale` times the sample under `root`, and `root`/expected.json; returns it."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, not {scale}")
    root = Path(root)
    for source in SOURCE_NAMES:
        folder = root / source / "landing"
        if folder.is_dir() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} is not empty: generate into a new folder")
    rng, r = np.random.default_rng(seed), random.Random(seed)
    people = _people(scale, rng, r)
    sessions = _sessions(people, r)
    inst = _instants(sessions, rng)
    _dates(people, sessions, inst, r)
    conflicted = _conflicts(sessions, inst, r)
    fates = _reading_fates(people, sessions, inst, conflicted)
    ledger = Ledger()
    _count_readings(ledger, inst, fates)
    landings = {
        source: SourceLanding(root, source, ledger, random.Random(f"{seed}-{source}")) for source in SOURCE_NAMES
    }
    records = _customer_records(people, r)
    _customer_landing(landings["customer"], records, r)
    _accelerometer_landing(landings["accelerometer"], people, sessions, inst, rng, r)
    _step_landing(landings["step_trainer"], people, sessions, inst, conflicted, rng, r)
    files = {source: landing.write() for source, landing in landings.items()}
    newest = [values for _, values, fate in records if fate != filtered(SUPERSEDED)]
    policies = {}
    for policy in CONSENT_POLICIES:
        silver, gold = _tables(people, newest, inst, fates, policy)
        policies[policy] = {
            "sources": {source: ledger.accounting(policy, source) for source in SOURCE_NAMES},
            "tables": silver,
            "gold": gold,
            "warehouse": gold | {"machine_learning_training_set": silver["machine_learning_curated"]},
        }
    expected = {
        "scale": scale,
        "seed": seed,
        "files": files,
        "policies": policies,
        "cases": _cases(people, records, sessions, inst, conflicted, landings, ledger),
    }
    (root / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    return expected


# --- the command ------------------------------------------------------------------------------------------


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, not {text!r}")
    return value


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Adds `stedi generate ROOT --scale N [--seed S]` to the CLI's subcommands."""
    parser = commands.add_parser(
        "generate",
        help="write a production-like landing of any size, with the counts a run must report",
        description="Write a landing laid out like the S3 bucket (ROOT/customer/landing/, ROOT/accelerometer/"
        "landing/, ROOT/step_trainer/landing/) that looks like production: updates, withdrawn consents, "
        "re-registered devices, duplicates, conflicting readings, drift and broken lines. ROOT/expected.json "
        "holds the counts `stedi run --landing ROOT` must report under each consent policy.",
    )
    parser.add_argument("root", metavar="ROOT", help="where to write the landing (its landing folders must be empty)")
    parser.add_argument(
        "--scale",
        type=_positive,
        default=1.0,
        help="size relative to the sample: 1 is about 956 customers, 81k accelerometer and 29k "
        "step-trainer records (default: 1)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same files (default: 0)")
    return parser


def run_command(args: argparse.Namespace) -> int:
    """`stedi generate`: writes the landing and prints one line about it."""
    import sys

    try:
        expected = generate(Path(args.root), args.scale, args.seed)
    except (FileExistsError, ValueError) as error:
        print(f"stedi generate: error: {error}", file=sys.stderr)
        return 2
    records = ", ".join(f"{s['landing']:,} {name}" for name, s in expected["policies"]["ever"]["sources"].items())
    files = sum(f["landing"] for f in expected["files"].values())
    print(
        f"stedi generate: {records} records in {files} files under {args.root}; expected counts in "
        f"{Path(args.root) / 'expected.json'}"
    )
    return 0
