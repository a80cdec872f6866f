"""stedi/generate.py: a production-like landing whose expected counts are known by construction.

These tests read the generated files back to check that each case is really in them; they never derive the
expected counts from the files (tests/flows/test_generated_landing.py checks those against a real run).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.silver import EMAIL, SERIAL
from stedi.generate import BROKEN_KINDS, CONFLICTING_READING, SOURCE_NAMES, add_parser, generate, run_command
from stedi.rules import CONSENT_POLICIES, MALFORMED_JSON, PLAUSIBLE_READINGS_FROM, VALUE_RULES
from stedi.sources import SOURCES
from tests.reports import unaccounted

READINGS_FROM_MS = int(datetime(PLAUSIBLE_READINGS_FROM.year, 1, 1, tzinfo=UTC).timestamp() * 1000)
FILTER_REASONS = {
    "customer": {"duplicate_record", "superseded_by_newer_record", "no_research_consent"},
    "accelerometer": {"duplicate_record", "unknown_customer", "customer_not_consenting", "before_research_consent"},
    "step_trainer": {"duplicate_record", "unknown_device", "owner_not_curated", "before_research_consent"},
}


@pytest.fixture(scope="module")
def landings(tmp_path_factory) -> dict[float, Path]:
    """Landings at a tenth of the sample's size and at its size."""
    roots = {}
    for scale in (0.1, 1):
        roots[scale] = tmp_path_factory.mktemp(f"scale-{scale}")
        generate(roots[scale], scale, seed=0)
    return roots


class Landing:
    """A generated landing read back: raw lines per file, and records with keys in their declared case."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.expected = json.loads((root / "expected.json").read_text())
        broken = self.expected["cases"]["broken_files"]
        self.files = {
            source: {path.name: self._lines(path) for path in self._readable(root / source / "landing", broken[source])}
            for source in SOURCE_NAMES
        }

    @staticmethod
    def _readable(folder: Path, broken: list[str]) -> list[Path]:
        """The landing files a run reads: every file in the folder's tree but the hidden ones (the _SUCCESS
        markers of partitions) and those the generator broke on purpose."""
        files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(("_", ".")))
        return [p for p in files if str(p.relative_to(folder)) not in broken]

    @staticmethod
    def _lines(path: Path) -> list[str]:
        data = path.read_bytes()
        return (gzip.decompress(data) if path.suffix == ".gz" else data).decode().splitlines()

    def lines(self, source: str) -> list[str]:
        return [line for lines in self.files[source].values() for line in lines if line.strip()]

    def records(self, source: str) -> list[dict]:
        """The lines that are JSON objects, keys spelled as stedi/sources.py declares them."""
        declared = {name.lower(): name for name in SOURCES[source].field_names}
        parsed = []
        for line in self.lines(source):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                parsed.append({declared.get(k.lower(), k): v for k, v in record.items()})
        return parsed


def number(value) -> int | None:
    """A number as the sources deliver it (1677650505184, 1677650505184.0, "1677650505184")."""
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


@pytest.fixture(scope="module", params=[0.1, 1], ids=["scale-0.1", "scale-1"])
def landing(request, landings) -> Landing:
    return Landing(landings[request.param])


def test_same_seed_same_bytes_another_seed_other_bytes(tmp_path):
    def contents(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        generate(tmp_path / name, 0.1, seed)
    assert contents(tmp_path / "a") == contents(tmp_path / "b")
    a, c = contents(tmp_path / "a"), contents(tmp_path / "c")
    assert a != c
    assert a["expected.json"] != c["expected.json"]


def test_every_record_is_accounted_for_under_each_policy(landing):
    for policy in CONSENT_POLICIES:
        for source, accounting in landing.expected["policies"][policy]["sources"].items():
            assert unaccounted(accounting) == 0, (policy, source)
            assert set(accounting["filtered"]) <= FILTER_REASONS[source], (policy, source)
            assert all(n > 0 for n in [*accounting["filtered"].values(), *accounting["quarantined"].values()])


def test_landing_counts_are_the_non_blank_lines_written(landing):
    for source in SOURCE_NAMES:
        assert len(landing.lines(source)) == landing.expected["policies"]["ever"]["sources"][source]["landing"], source
        files = landing.expected["files"][source]
        assert len(landing.files[source]) == files["read"] == files["landing"] - sum(files["quarantined"].values())
    assert sum(line.strip() == "" for s in SOURCE_NAMES for lines in landing.files[s].values() for line in lines) > 0


def test_policies_differ_only_where_consent_time_matters(landing):
    ever, as_of = (landing.expected["policies"][p] for p in ("ever", "as-of"))
    assert ever["sources"]["customer"] == as_of["sources"]["customer"]
    for source in ("accelerometer", "step_trainer"):
        assert "before_research_consent" not in ever["sources"][source]["filtered"]
        assert as_of["sources"][source]["filtered"]["before_research_consent"] > 0
        assert as_of["sources"][source]["landing"] == ever["sources"][source]["landing"]
    assert as_of["tables"]["accelerometer_trusted"] < ever["tables"]["accelerometer_trusted"]
    # Consent after every reading: trusted, but no reading is kept as-of, so not curated.
    assert as_of["tables"]["customer_curated"] < ever["tables"]["customer_curated"] < ever["tables"]["customer_trusted"]


def test_tables_agree_with_the_sources(landing):
    for policy in CONSENT_POLICIES:
        expected = landing.expected["policies"][policy]
        tables, gold, sources = expected["tables"], expected["gold"], expected["sources"]
        assert tables["customer_trusted"] == sources["customer"]["accepted"]
        assert tables["accelerometer_trusted"] == sources["accelerometer"]["accepted"] == gold["accelerometer_readings"]
        assert tables["step_trainer_trusted"] == sources["step_trainer"]["accepted"] == gold["step_trainer_readings"]
        assert tables["customer_current"] == gold["customers"] == landing.expected["cases"]["customers"]
        assert gold["devices"] == gold["device_ownerships"] - landing.expected["cases"]["re_registered_devices"]
        assert gold["lake_snapshot"] == 1
        assert expected["warehouse"] == gold | {"machine_learning_training_set": tables["machine_learning_curated"]}


def test_quarantine_stays_far_under_the_threshold_and_uses_known_rules(landing):
    known = {MALFORMED_JSON, CONFLICTING_READING, *(r.name for r in VALUE_RULES if r.action == "quarantine")}
    for source in SOURCE_NAMES:
        fields = SOURCES[source].fields
        known |= {f"missing_{f.name}" for f in fields if f.required}
        known |= {f"uncoercible_{f.name}" for f in fields if f.kind != "string"}
        accounting = landing.expected["policies"]["ever"]["sources"][source]
        assert 0 < sum(accounting["quarantined"].values()) / accounting["landing"] < 0.05, source
        assert set(BROKEN_KINDS[source]) <= set(accounting["quarantined"]) <= known, source


def test_about_the_sample_at_scale_one(landings):
    expected = Landing(landings[1]).expected
    tables, sources = expected["policies"]["ever"]["tables"], expected["policies"]["ever"]["sources"]
    assert tables["customer_current"] == 956
    assert 0.4 < tables["customer_trusted"] / tables["customer_current"] < 0.6  # the sample: 482 of 956
    assert 81_273 * 0.9 < sources["accelerometer"]["landing"] < 81_273 * 1.1
    assert 28_680 * 0.9 < sources["step_trainer"]["landing"] < 28_680 * 1.1


def test_scale_multiplies_the_records(tmp_path):
    landing = {}
    for scale in (1, 3):
        expected = generate(tmp_path / str(scale), scale, seed=5)
        landing[scale] = {s: a["landing"] for s, a in expected["policies"]["ever"]["sources"].items()}
    for source in SOURCE_NAMES:
        assert 2.6 < landing[3][source] / landing[1][source] < 3.4, source


def test_customers_are_updated_withdraw_consent_and_write_their_email_in_other_ways(landing):
    by_email = defaultdict(list)
    for record in landing.records("customer"):
        if isinstance(record.get("email"), str) and number(record.get("lastUpdateDate")) is not None:
            by_email[record["email"].strip().lower()].append(record)
    assert all(re.match(EMAIL, email) for email in by_email)
    newest = {email: max(rs, key=lambda r: number(r["lastUpdateDate"])) for email, rs in by_email.items()}
    updated = [e for e, rs in by_email.items() if len({number(r["lastUpdateDate"]) for r in rs}) > 1]
    withdrawn = [
        e
        for e, rs in by_email.items()
        if newest[e].get("shareWithResearchAsOfDate") is None
        and any(r.get("shareWithResearchAsOfDate") is not None for r in rs)
    ]
    given_later = [
        e
        for e, rs in by_email.items()
        if newest[e].get("shareWithResearchAsOfDate") is not None
        and any(r.get("shareWithResearchAsOfDate") is None for r in rs)
    ]
    spellings = {e: {r["email"] for r in rs} for e, rs in by_email.items()}
    assert len(updated) >= landing.expected["cases"]["updated_customers"] > 0
    assert len(withdrawn) >= landing.expected["cases"]["withdrawn_consents"] > 0
    assert len(given_later) >= landing.expected["cases"]["consents_given_later"] > 0
    assert any(len({s.strip() for s in ss}) > 1 for ss in spellings.values())  # other letter case
    assert any(s != s.strip() for ss in spellings.values() for s in ss)  # surrounding spaces
    has_research = sum(r.get("shareWithResearchAsOfDate") is not None for r in newest.values())
    has_public = sum(r.get("shareWithPublicAsOfDate") is not None for r in newest.values())
    assert 0.3 < has_research / len(newest) < 0.7 and 0.3 < has_public / len(newest) < 0.7  # about half
    years = [int(str(r["birthDay"]).split("-")[0]) for r in newest.values()]
    assert 0 < sum(y < 1900 for y in years) < 0.1 * len(years)  # plausible for most, not all


def test_devices_are_re_registered_and_read_before_every_registration(landing):
    registrations = defaultdict(dict)  # serial -> email -> registrationDate of the newest record seen
    for record in sorted(landing.records("customer"), key=lambda r: number(r.get("lastUpdateDate")) or 0):
        if isinstance(record.get("serialNumber"), str) and isinstance(record.get("email"), str):
            serial = record["serialNumber"].strip()
            assert re.match(SERIAL, serial)
            registrations[serial][record["email"].strip().lower()] = number(record["registrationDate"])
    shared = {serial: sorted(by.values()) for serial, by in registrations.items() if len(by) > 1}
    assert len(shared) == landing.expected["cases"]["re_registered_devices"] > 0
    times = defaultdict(list)
    for record in landing.records("step_trainer"):
        if isinstance(record.get("serialNumber"), str) and number(record.get("sensorReadingTime")):
            times[record["serialNumber"].strip()].append(number(record["sensorReadingTime"]))
    for serial, (_first, second) in shared.items():
        # Readings on both sides of the second registration, one of them exactly at it
        assert min(times[serial]) < second <= max(times[serial]) and second in times[serial]
    before_every = sum(t < min(registrations[s].values()) for s, ts in times.items() if s in registrations for t in ts)
    assert before_every >= landing.expected["cases"]["step_readings_before_every_registration"] > 0


def test_readings_come_at_the_real_cadence_over_many_days_and_files(landing):
    for source in ("accelerometer", "step_trainer"):
        days = {name.split("-", 1)[1][:10] for name in landing.files[source]}
        assert len(days) == landing.expected["cases"]["reading_days"] >= 7
        assert all(re.fullmatch(rf"{source}-\d{{4}}-\d\d-\d\d-\d+\.json(\.gz)?", n) for n in landing.files[source])
        assert any(n.endswith(".gz") for n in landing.files[source])
    by_user = defaultdict(set)
    for record in landing.records("accelerometer"):
        if isinstance(record.get("user"), str) and (t := number(record.get("timestamp"))) and t >= READINGS_FROM_MS:
            by_user[record["user"].strip().lower()].add(t)
    gaps = sorted(b - a for ts in by_user.values() for a, b in zip(sorted(ts), sorted(ts)[1:], strict=False))
    assert 2_000 <= gaps[len(gaps) // 2] <= 5_000  # the sample's median gap is 3.4 s


def test_exact_duplicates_in_a_file_across_files_and_whole_files_twice(landing):
    for source in SOURCE_NAMES:
        in_one_file = [
            n
            for n, lines in landing.files[source].items()
            if any(c > 1 for line, c in Counter(lines).items() if line.strip())
        ]
        seen_in = defaultdict(set)
        for name, lines in landing.files[source].items():
            for line in lines:
                seen_in[line].add(name)
        contents = Counter(tuple(lines) for lines in landing.files[source].values())
        assert in_one_file, source
        assert any(len(names) > 1 for line, names in seen_in.items() if line.strip()), source
        assert sum(c - 1 for c in contents.values()) == landing.expected["cases"]["duplicate_files"][source] > 0


def test_conflicting_step_trainer_readings(landing):
    distances = defaultdict(set)
    for record in landing.records("step_trainer"):
        t, d = number(record.get("sensorReadingTime")), number(record.get("distanceFromObject"))
        if isinstance(record.get("serialNumber"), str) and t and d is not None and d >= 0:
            distances[(record["serialNumber"].strip(), t)].add(d)
    conflicts = [key for key, ds in distances.items() if len(ds) > 1]
    assert len(conflicts) == landing.expected["cases"]["conflicting_readings"] > 0


def test_drift_that_bronze_absorbs(landing):
    lines = {source: "\n".join(landing.lines(source)) for source in SOURCE_NAMES}
    assert re.search(r'"(timeStamp|User|X)":', lines["accelerometer"])
    assert re.search(r'"(SerialNumber|SensorReadingTime|distancefromobject)":', lines["step_trainer"])
    assert re.search(r'"timestamp":"\d{13}"', lines["accelerometer"])  # epoch ms as a string
    assert re.search(r'"sensorReadingTime": ?\d{13}\.0', lines["step_trainer"])  # epoch ms as a float
    assert re.search(r'"x":"-?\d\.0"', lines["accelerometer"])  # a double as a string
    assert re.search(r'"(appVersion|os|batteryLevel)":', lines["accelerometer"])  # unknown fields
    assert re.search(r'"shareWith\w+AsOfDate": null', lines["customer"])  # explicit nulls
    assert re.search(r'"phone": \d{10}[,}]', lines["customer"])  # a phone number as a number


def test_broken_lines_are_the_ones_quarantined(landing):
    quarantined = {s: landing.expected["policies"]["ever"]["sources"][s]["quarantined"] for s in SOURCE_NAMES}
    for source in SOURCE_NAMES:
        not_objects = 0
        for line in landing.lines(source):
            try:
                not_objects += not isinstance(json.loads(line), dict)
            except json.JSONDecodeError:
                not_objects += 1
        assert not_objects == quarantined[source][MALFORMED_JSON], source
    steps = landing.records("step_trainer")
    assert (
        sum((number(r.get("distanceFromObject")) or 0) < 0 for r in steps)
        == quarantined["step_trainer"]["negative_distance"]
    )
    early = sum(0 < (number(r.get("timestamp")) or 0) < READINGS_FROM_MS for r in landing.records("accelerometer"))
    assert early == quarantined["accelerometer"]["timestamp_out_of_range"]
    now = datetime.now(UTC).timestamp() * 1000
    assert all((number(r.get("lastUpdateDate")) or 0) < now for r in landing.records("customer"))


def test_refuses_a_landing_that_is_not_empty(tmp_path):
    generate(tmp_path, 0.05)
    with pytest.raises(FileExistsError, match="not empty"):
        generate(tmp_path, 0.05)


@pytest.mark.parametrize("scale", [0, -1])
def test_refuses_a_scale_that_is_not_positive(tmp_path, scale):
    with pytest.raises(ValueError, match="positive"):
        generate(tmp_path, scale)


def parser() -> argparse.ArgumentParser:
    """As stedi/cli.py wires it: one subcommand among others."""
    root = argparse.ArgumentParser(prog="stedi")
    add_parser(root.add_subparsers(dest="command", required=True))
    return root


def test_command_writes_the_landing_and_says_where(tmp_path, capsys):
    args = parser().parse_args(["generate", str(tmp_path / "landing"), "--scale", "0.05", "--seed", "3"])
    assert run_command(args) == 0
    out = capsys.readouterr().out
    expected = json.loads((tmp_path / "landing" / "expected.json").read_text())
    assert expected["seed"] == 3 and out.count("\n") == 1
    assert f"{expected['policies']['ever']['sources']['accelerometer']['landing']:,} accelerometer" in out
    assert (
        f"{sum(f['landing'] for f in expected['files'].values())} files" in out
        and str(tmp_path / "landing" / "expected.json") in out
    )
    assert run_command(args) == 2  # not into a landing that already holds files
    assert "not empty" in capsys.readouterr().err


def test_command_refuses_a_scale_that_is_not_a_positive_number():
    for scale in ("0", "-2", "big"):
        with pytest.raises(SystemExit):
            parser().parse_args(["generate", "somewhere", "--scale", scale])


def test_readings_are_partitioned_by_month_with_markers_and_broken_files_where_a_source_has_many(tmp_path):
    expected = generate(tmp_path / "landing", 10, seed=0)
    for source in ("accelerometer", "step_trainer"):
        folder = tmp_path / "landing" / source / "landing"
        partitions = {p.parent.relative_to(folder) for p in folder.rglob("*.json*")}
        assert all(re.fullmatch(r"\d{4}/\d\d", str(p)) for p in partitions) and len(partitions) > 1
        assert all((folder / p / "_SUCCESS").is_file() for p in partitions)
        files = expected["files"][source]
        assert files["skipped"] == len(partitions)
        assert set(files["quarantined"]) <= {"truncated_gzip", "not_gzip"} and sum(files["quarantined"].values()) >= 1
        assert sum(files["quarantined"].values()) / files["landing"] <= 0.05
        assert len(expected["cases"]["broken_files"][source]) == sum(files["quarantined"].values())
    assert expected["files"]["customer"]["quarantined"] == {}  # 27 files: too few to break one
