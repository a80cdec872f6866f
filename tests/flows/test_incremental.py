"""Incremental runs end with exactly what a full rebuild of the same files gives, in every zone and in the
warehouse, however the files arrive; a run with nothing new changes nothing.

A generated landing (stedi/generate.py: customer updates that withdraw and grant consent, re-registered
devices, late readings, duplicates, conflicts, drift, broken lines and files) is delivered in three
batches: by date, as exports arrive, and at random (seeded). The last batch also carries a copy of an
earlier file under a new name. After each batch a run; after the last, every table is compared with one
full run on all the files.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from prefect.testing.utilities import prefect_test_harness

from stedi.generate import generate
from tests.conftest import processes_with_env, stedi_run
from tests.lakes import differences, tables, warehouse_differences

pytestmark = pytest.mark.integration

SCALE = 1  # about 115,000 lines in 60 files: three batches of runs take about a minute
SPLITS = ("by-date", "random-1", "random-2")
LATER = 1_704_000_000_000  # 2023-12-31, after the generated landing's last day


@pytest.fixture(scope="module")
def prefect_api():
    with prefect_test_harness():
        yield


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("incremental") / "landing"
    generate(root, SCALE, seed=3)
    return root


def landing_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/landing/**/*") if p.is_file())


def run(landing: Path, lake: Path, warehouse: Path, **parameters) -> dict:
    from flows.stedi_lakehouse import stedi_lakehouse

    summary = stedi_lakehouse(
        landing=str(landing), lake=str(lake), warehouse=f"duckdb:///{warehouse}", runner="local", **parameters
    )
    assert summary.status == "succeeded", summary.error
    return summary.to_json()


def deliver(files: list[Path], source: Path, landing: Path) -> None:
    for file in files:
        target = landing / file.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target)


def batches(files: list[Path], split: str) -> list[list[Path]]:
    """Three batches of the files: by the date in their names (as exports arrive), or at random."""
    if split == "by-date":
        ordered = sorted(files, key=lambda p: (p.name.split("-", 1)[-1], p.name))
        third = len(ordered) // 3
        return [ordered[:third], ordered[third : 2 * third], ordered[2 * third :]]
    rng = random.Random(split)
    chosen: list[list[Path]] = [[], [], []]
    for file in files:
        chosen[rng.randrange(3)].append(file)
    return chosen


def early_file(files: list[Path]) -> Path:
    """The first accelerometer export by date: the last batch delivers it again under another name."""
    readings = [p for p in files if "accelerometer" in p.parts]
    return min(readings, key=lambda p: (p.name.split("-", 1)[-1], p.name))


def again(file: Path) -> Path:
    return file.with_name("again-" + file.name)


@pytest.fixture(scope="module", params=SPLITS)
def incremental(request, prefect_api, generated, tmp_path_factory) -> dict:
    """The three batches run one after another into one lake and warehouse. The last batch also brings,
    written from what the lake holds after the second run, the cases that change earlier records' fate
    (later_cases), an exact copy of an early file under another name, and a file of the first batch held
    back until then (late readings)."""
    tmp_path = tmp_path_factory.mktemp(f"incremental-{request.param}")
    landing, lake, warehouse = tmp_path / "landing", tmp_path / "lake", tmp_path / "warehouse.duckdb"
    files = landing_files(generated)
    chosen = batches(files, request.param)
    early = early_file(files)
    late = next(p for p in chosen[0] if "accelerometer" in p.parts and p != early)
    chosen = [[p for p in chosen[0] if p != late], chosen[1], [*chosen[2], late]]
    summaries, snapshots, cases = [], [], {}
    for number, batch in enumerate(chosen):
        deliver(batch, generated, landing)
        if number == 2:
            copy = landing / early.relative_to(generated)
            shutil.copy2(copy, again(copy))
            cases = later_cases(lake, landing)
        summaries.append(run(landing, lake, warehouse))
        snapshots.append(tmp_path / f"after-{number}")
        shutil.copytree(lake, snapshots[-1], symlinks=True)
        shutil.copy(warehouse, snapshots[-1] / "warehouse.duckdb")
    return {"split": request.param, "lake": lake, "warehouse": warehouse, "landing": landing, "cases": cases,
            "summaries": summaries, "snapshots": snapshots, "batches": chosen}  # fmt: skip


def later_cases(lake: Path, landing: Path) -> dict:
    """New exports, written from the lake as it is, that change the fate of records it holds: a customer
    with trusted readings withdraws research consent; one whose readings were filtered gives it; another
    customer registers a device that has readings (the ownership rule re-attributes those after the
    registration); a step-trainer reading the lake holds comes in a second version (both then conflict)."""
    db = duckdb.connect()
    newest = db.sql(
        f"select _raw_record, lower(trim(email)) as customer_email from '{lake}/bronze/customer/*.parquet' "
        "qualify row_number() over (partition by lower(trim(email)) order by lastUpdateDate desc, _raw_record) = 1"
    ).fetchall()
    records = {email: json.loads(raw) for raw, email in newest}
    silver = f"{lake}/silver"
    trusted = db.sql(f"select distinct customer_email from '{silver}/accelerometer_trusted/*.parquet' order by 1")
    withdrawing = trusted.fetchall()[0][0]
    held = db.sql(
        f"select distinct lower(trim(\"user\")) from '{lake}/bronze/accelerometer/*.parquet' "
        f"where lower(trim(\"user\")) in (select customer_email from '{silver}/customer_current/*.parquet' "
        "where research_consent_at is null) order by 1"
    )
    consenting = held.fetchall()[0][0]
    serial, owner, first, last = db.sql(
        f"select serial_number, any_value(customer_email), epoch_ms(min(reading_at)), epoch_ms(max(reading_at)) "
        f"from '{silver}/step_trainer_trusted/*.parquet' group by 1 having count(*) > 10 order by 1"
    ).fetchall()[0]
    newcomer = next(email for email in sorted(records) if email not in (owner, withdrawing, consenting))
    updates = []
    for email, change in (
        (withdrawing, {"shareWithResearchAsOfDate": None}),
        (consenting, {"shareWithResearchAsOfDate": records[consenting]["registrationDate"]}),
        (newcomer, {"serialNumber": serial, "registrationDate": (first + last) // 2}),
    ):
        updated = {**records[email], **change}
        updated["lastUpdateDate"] = LATER  # newer than any record the generator writes
        updates.append(json.dumps(updated))
    (landing / "customer" / "landing" / "customer-updates-later.json").write_text("\n".join(updates) + "\n")
    held_steps = f"'{lake}/bronze/step_trainer/*.parquet' where distanceFromObject is not null"
    raw, distance = db.sql(f"select _raw_record, distanceFromObject from {held_steps} order by 1 limit 1").fetchall()[0]
    version = json.loads(raw) | {"distanceFromObject": distance + 1}
    (landing / "step_trainer" / "landing" / "step-trainer-second-version.json").write_text(json.dumps(version) + "\n")
    return {"withdrawing": withdrawing, "consenting": consenting, "serial": serial, "owner": owner,
            "newcomer": newcomer, "registered": (first + last) // 2}  # fmt: skip


@pytest.fixture(scope="module")
def full(incremental, tmp_path_factory) -> dict:
    """One full run on the files the batches delivered, in the same landing (lineage names its paths)."""
    tmp_path = tmp_path_factory.mktemp(f"full-{incremental['split']}")
    summary = run(incremental["landing"], tmp_path / "lake", tmp_path / "warehouse.duckdb")
    assert summary["mode"] == "full"
    return {"lake": tmp_path / "lake", "warehouse": tmp_path / "warehouse.duckdb", "summary": summary}


def test_incremental_runs_end_with_the_tables_of_a_full_rebuild(incremental, full):
    assert differences(full["lake"], incremental["lake"]) == {}
    assert warehouse_differences(full["warehouse"], incremental["warehouse"]) == {}
    figures = ("landing", "accepted", "filtered", "quarantined")
    for name, source in incremental["summaries"][-1]["sources"].items():
        expected = full["summary"]["sources"][name]
        assert {f: source[f] for f in figures} == {f: expected[f] for f in figures}, name


def test_each_run_reads_only_its_new_files(incremental):
    modes = [s["mode"] for s in incremental["summaries"]]
    assert modes == ["full", "incremental", "incremental"]
    for number, (summary, batch) in enumerate(zip(incremental["summaries"], incremental["batches"], strict=True)):
        exports = [p for p in batch if not p.name.startswith(("_", "."))]  # markers (_SUCCESS) are no landing files
        delivered = {name: sum(name in p.parts for p in exports) for name in summary["new_files"]}
        if number == 2:  # the copy of an early file, and the exports later_cases wrote
            delivered = {name: count + 1 for name, count in delivered.items()}
        assert summary["new_files"] == delivered


def test_the_lake_accounts_for_every_record_since_its_first_run(incremental):
    for summary in incremental["summaries"]:
        for name, source in summary["sources"].items():
            filtered, quarantined = sum(source["filtered"].values()), sum(source["quarantined"].values())
            assert source["landing"] == source["accepted"] + filtered + quarantined, name
        for name, run in summary["this_run"].items():
            counted = run["bronze"] + sum(run["filtered"].values()) + sum(run["quarantined"].values())
            assert run["landing"] == counted, name


def test_a_full_refresh_of_an_incremental_lake_gives_its_tables_lineage_included(incremental, tmp_path):
    """--full-refresh on the same files: the same tables, lineage included (each file keeps its first run)."""
    lake = tmp_path / "lake"
    shutil.copytree(incremental["lake"], lake, symlinks=True)
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(incremental["warehouse"], warehouse)
    summary = run(incremental["landing"], lake, warehouse, full_refresh=True)
    assert (summary["mode"], summary["mode_reason"]) == ("full", "--full-refresh")
    assert differences(incremental["lake"], lake, stamps={"gold_version"}) == {}
    assert warehouse_differences(incremental["warehouse"], warehouse, stamps={"gold_version"}) == {}


def test_later_files_change_the_fate_of_earlier_records(incremental):
    """The last batch's cases (later_cases) took effect in its run, as a full rebuild has them."""
    cases, (before, after) = incremental["cases"], incremental["snapshots"][1:]
    db = duckdb.connect()

    def readings(lake: Path, email: str) -> int:
        table = f"'{lake}/silver/accelerometer_trusted/*.parquet'"
        return db.sql(f"select count(*) from {table} where customer_email = '{email}'").fetchall()[0][0]

    assert readings(before, cases["withdrawing"]) > 0 and readings(after, cases["withdrawing"]) == 0
    assert readings(before, cases["consenting"]) == 0 and readings(after, cases["consenting"]) > 0

    def owners(lake: Path) -> set[str]:
        table = f"'{lake}/silver/step_trainer_trusted/*.parquet'"
        since = f"epoch_ms(reading_at) >= {cases['registered']}"
        query = f"select distinct customer_email from {table} where serial_number = '{cases['serial']}' and {since}"
        return {row[0] for row in db.sql(query).fetchall()}

    assert cases["newcomer"] not in owners(before)
    assert owners(after) <= {cases["newcomer"]}  # re-attributed (or filtered, were the newcomer not curated)
    this_run = incremental["summaries"][-1]["this_run"]
    assert this_run["step_trainer"]["moved"].get("bronze -> quarantined (conflicting_reading)", 0) >= 1
    assert this_run["accelerometer"]["filtered"].get("duplicate_record", 0) > 0  # the file delivered again


def test_late_readings_older_than_those_held_are_taken(incremental):
    """The last batch brings readings older than the newest the lake held (a file of the first batch held back
    until then, in every split): they enter bronze beside the held ones."""
    db = duckdb.connect()
    before, after = incremental["snapshots"][1:]
    last_run = incremental["summaries"][-1]["run_id"]
    newest = db.sql(f"select max(\"timestamp\") from '{before}/bronze/accelerometer/*.parquet'").fetchall()[0][0]
    late = db.sql(
        f"select count(*) from '{after}/bronze/accelerometer/*.parquet' "
        f"where _ingest_run_id = '{last_run}' and \"timestamp\" < {newest}"
    ).fetchall()[0][0]
    assert late > 0


def test_a_run_with_nothing_new_changes_no_file_of_the_lake_and_no_warehouse_row(incremental, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(incremental["lake"], lake, symlinks=True)
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(incremental["warehouse"], warehouse)
    before = _files(lake)
    summary = run(incremental["landing"], lake, warehouse)
    assert (summary["mode"], summary["mode_reason"]) == ("incremental", "nothing new")
    assert set(summary["new_files"].values()) == {0}
    assert _files(lake) == before  # every zone, the state and the quarantine: byte for byte
    assert warehouse_differences(incremental["warehouse"], warehouse, stamps=set()) == {}
    assert "warehouse" not in summary  # nothing was loaded


def _files(lake: Path) -> dict[str, bytes]:
    """Every file of the lake but the run reports and logs (a run with nothing new still reports)."""
    return {
        str(p.relative_to(lake)): p.read_bytes()
        for p in sorted(lake.rglob("*"))
        if p.is_file() and p.relative_to(lake).parts[0] not in ("_reports", "_logs")
    }


@pytest.mark.parametrize("incremental", ["by-date"], indirect=True)  # two runs more: one split
def test_a_new_day_of_readings_rebuilds_that_day_only(incremental, tmp_path):
    """A file of one new day's readings of a curated customer: silver and gold write that day's cells and
    link every other day's files from the previous version; the result is still a full rebuild's."""
    landing, lake, warehouse = incremental["landing"], tmp_path / "lake", tmp_path / "warehouse.duckdb"
    shutil.copytree(incremental["lake"], lake, symlinks=True)
    shutil.copy(incremental["warehouse"], warehouse)
    db = duckdb.connect()
    (email,) = db.sql(f"select min(customer_email) from '{lake}/silver/customer_curated/*.parquet'").fetchone()
    readings = [{"user": email, "timestamp": LATER + i * 3_000, "x": 1.0, "y": float(i), "z": 0.5} for i in range(5)]
    new_file = landing / "accelerometer" / "landing" / "accelerometer-later.json"
    new_file.write_text("".join(json.dumps(r) + "\n" for r in readings))
    try:
        summary, reference = run(landing, lake, warehouse), tmp_path / "full"
        full_summary = run(landing, reference / "lake", reference / "warehouse.duckdb")
    finally:  # the landing is the fixture's, which other tests compare with their full run
        new_file.unlink()
    assert summary["mode"] == "incremental" and summary["new_files"]["accelerometer"] == 1
    day = "2023-12-31"
    silver = json.loads((lake / "silver" / "_zone.json").read_text())["built_from"]
    assert silver["rebuilt_cells"] == {"accelerometer_trusted": [day], "step_trainer_trusted": [],
                                       "machine_learning_curated": [day]}  # fmt: skip
    for zone, table in (("silver", "accelerometer_trusted"), ("gold", "accelerometer_readings")):
        manifest = json.loads((lake / zone / "_zone.json").read_text())
        previous = next(v for v in (lake / "_zones" / zone).iterdir() if v.name != manifest["version"])
        earlier = {p.name: p.stat().st_ino for p in (previous / table).iterdir()}
        now = {p.name: p.stat().st_ino for p in (lake / zone / table).iterdir()}
        assert {name.split("--")[0] for name in set(now) - set(earlier)} == {day}, (zone, table)
        assert all(earlier[name] == inode for name, inode in now.items() if name in earlier), (zone, table)
    # No customer file came: bronze carried its customer table, and silver the tables built from it alone.
    carried = json.loads((lake / "bronze" / "_zone.json").read_text())["built_from"]["carried"]
    assert carried == ["customer", "step_trainer"]
    previous = lake / "_zones" / "silver" / silver["previous"]
    for table in ("customer_trusted", "customer_current"):
        assert {p.name: p.stat().st_ino for p in (lake / "silver" / table).iterdir()} == {
            p.name: p.stat().st_ino for p in (previous / table).iterdir()
        }, table
    in_silver = db.sql(
        f"select count(*) from '{lake}/silver/accelerometer_trusted/*.parquet' where customer_email = '{email}' "
        f"and reading_at >= make_timestamp({LATER} * 1000)"
    ).fetchone()[0]
    assert in_silver == len(readings)
    assert full_summary["mode"] == "full"
    assert differences(reference / "lake", lake) == {}
    assert warehouse_differences(reference / "warehouse.duckdb", warehouse) == {}


def _newer_record(lake: Path, email: str, change: dict) -> str:
    """The newest customer record of `email` that bronze holds, with `change`, newer than any."""
    (raw,) = duckdb.sql(
        f"select _raw_record from '{lake}/bronze/customer/*.parquet' where lower(trim(email)) = '{email}' "
        "order by lastUpdateDate desc limit 1"
    ).fetchone()
    return json.dumps(json.loads(raw) | change | {"lastUpdateDate": LATER + 1})


def _new_files_by_cell(lake: Path, zone: str, table: str) -> tuple[set[str], set[str]]:
    """The cells of the files the zone's current version wrote itself, and of those it linked (same inode
    as the previous version's)."""
    manifest = json.loads((lake / zone / "_zone.json").read_text())
    previous = next(v for v in (lake / "_zones" / zone).iterdir() if v.name != manifest["version"])
    earlier = {p.name: p.stat().st_ino for p in (previous / table).iterdir()}
    now = {p.name: p.stat().st_ino for p in (lake / zone / table).iterdir()}
    written = {name.split("--")[0] for name, inode in now.items() if earlier.get(name) != inode}
    linked = {name.split("--")[0] for name, inode in now.items() if earlier.get(name) == inode}
    return written, linked


@pytest.mark.parametrize("incremental", ["by-date"], indirect=True)  # four runs more: one split
@pytest.mark.parametrize("consent", ["withdrawn", "given"])
def test_a_changed_consent_patches_the_days_of_that_customers_readings(incremental, tmp_path, consent):
    """A newer record of one customer withdraws (or gives) research consent: silver and gold rebuild no
    day whole. The days of that customer's readings are patched: their readings are classified again,
    the day's other rows are the previous version's. A day that loses rows is written whole; one that
    only gains rows (a consent given) keeps its files, linked, and takes the new rows in a file of their
    own. Every other day's files are linked. The result is still a full rebuild's."""
    landing, lake, warehouse = incremental["landing"], tmp_path / "lake", tmp_path / "warehouse.duckdb"
    shutil.copytree(incremental["lake"], lake, symlinks=True)
    shutil.copy(incremental["warehouse"], warehouse)
    db = duckdb.connect()
    silver_rows, bronze_rows = (
        f"'{lake}/silver/accelerometer_trusted/*.parquet'",
        f"'{lake}/bronze/accelerometer/*.parquet'",
    )
    if consent == "withdrawn":  # the customer with the most trusted readings
        email, days = db.sql(
            f"select customer_email, list(distinct strftime(reading_at, '%Y-%m-%d') order by 1) "
            f"from {silver_rows} group by 1 order by count(*) desc, 1 limit 1"
        ).fetchone()
        record = _newer_record(lake, email, {"shareWithResearchAsOfDate": None})
    else:  # a known customer without consent, whose readings bronze holds
        email, days = db.sql(
            f'select lower(trim("user")) as email, list(distinct strftime(make_timestamp("timestamp" * 1000), '
            f"'%Y-%m-%d') order by 1) from {bronze_rows} where email in (select customer_email from "
            f"'{lake}/silver/customer_current/*.parquet' where research_consent_at is null) group by 1 "
            "order by count(*) desc, 1 limit 1"
        ).fetchone()
        record = _newer_record(lake, email, {"shareWithResearchAsOfDate": 1_600_000_000_000})
    new_file = landing / "customer" / "landing" / f"customer-consent-{consent}.json"
    new_file.write_text(record + "\n")
    try:
        summary, reference = run(landing, lake, warehouse), tmp_path / "full"
        full_summary = run(landing, reference / "lake", reference / "warehouse.duckdb")
    finally:  # the landing is the fixture's, which other tests compare with their full run
        new_file.unlink()
    assert summary["mode"] == "incremental" and summary["new_files"]["customer"] == 1
    silver = json.loads((lake / "silver" / "_zone.json").read_text())["built_from"]
    assert silver["rebuilt_cells"] == {name: [] for name in silver["rebuilt_cells"]}
    assert set(silver["patched_cells"]["accelerometer_trusted"]) >= set(days)
    for zone, table in (("silver", "accelerometer_trusted"), ("gold", "accelerometer_readings")):
        written, linked = _new_files_by_cell(lake, zone, table)
        assert written == set(days), (zone, table)
        # withdrawn: those days are written whole; given: they keep their earlier files too
        assert (linked & set(days) == set(days)) == (consent == "given"), (zone, table)
    theirs = db.sql(f"select count(*) from {silver_rows} where customer_email = '{email}'").fetchone()[0]
    assert (theirs == 0) == (consent == "withdrawn")
    moved = summary["changes"]["accelerometer"]
    assert moved["filtered: customer_not_consenting"] == -moved["accepted"] != 0
    assert full_summary["mode"] == "full"
    assert differences(reference / "lake", lake) == {}
    assert warehouse_differences(reference / "warehouse.duckdb", warehouse) == {}


def test_tables_are_what_the_zones_manifests_list(full):
    assert len(tables(full["lake"])) == 20


KILLS = 4


@pytest.mark.parametrize("incremental", ["by-date"], indirect=True)  # each trial costs a run: one split
def test_incremental_runs_killed_at_any_moment_then_run_again_end_with_the_full_result(incremental, full, tmp_path):
    """The last batch's run, killed with SIGKILL at random moments (during bronze, between two zones'
    publications, in the warehouse load), again and again on one lake; then run to its end: the lake and
    the warehouse are the full rebuild's, with no record ingested twice or skipped."""
    lake, warehouse = tmp_path / "lake", tmp_path / "warehouse.duckdb"
    shutil.copytree(incremental["snapshots"][1], lake, symlinks=True)
    (lake / "warehouse.duckdb").rename(warehouse)
    args = ["--landing", str(incremental["landing"]), "--lake", str(lake), "--warehouse", f"duckdb:///{warehouse}"]
    moments = random.Random(20261202)
    for trial in range(KILLS):
        home = tmp_path / f"prefect-home-{trial}"
        env = {**os.environ, "PREFECT_HOME": str(home)}
        env.pop("PREFECT_API_URL", None)
        command = [str(Path(sys.executable).with_name("stedi")), "run", *args]
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            process.wait(timeout=moments.uniform(3.0, 14.0))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
        deadline = time.monotonic() + 15
        while processes_with_env("PREFECT_HOME", str(home)) and time.monotonic() < deadline:
            time.sleep(0.5)
    result = stedi_run(tmp_path, *args, "--summary", str(tmp_path / "summary.json"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert differences(full["lake"], lake) == {}
    assert warehouse_differences(full["warehouse"], warehouse) == {}
    summary = json.loads((tmp_path / "summary.json").read_text())
    figures = ("landing", "accepted", "filtered", "quarantined")
    for name, source in summary["sources"].items():
        assert {f: source[f] for f in figures} == {f: full["summary"]["sources"][name][f] for f in figures}, name
