"""Bad files and operator mistakes, as a user makes them: each gives a quarantine record with its reason, or
one line before anything is changed. None costs data, stops a run for one record, or leaks a secret.

Each test builds its case from the shipped sample and runs `stedi run` as a user does, onto a copy of a
lake and DuckDB warehouse that one clean run made.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import time
import types
import uuid
from pathlib import Path

import duckdb
import pytest

from stedi import lake
from stedi.settings import SAMPLE_LANDING
from stedi.sources import SOURCES
from tests.conftest import stedi_run
from tests.reports import check_accounting

pytestmark = pytest.mark.integration

SAMPLE = Path(SAMPLE_LANDING)
BASELINE_ROWS = {
    "customers": 956,
    "accelerometer_readings": 40_981,
    "step_trainer_readings": 14_460,
    "machine_learning_training_set": 40_981,
}
ONE_LINE_FAILURE = re.compile(
    r"stedi run: failed: (?P<error>.+) \(details: (?P<log>\S+/stedi\.log); or run with --verbose\)"
)


def copy_sample(root: Path, without: tuple[str, ...] = ()) -> Path:
    for name in SOURCES:
        folder = root / name / "landing"
        folder.mkdir(parents=True)
        if name not in without:
            for path in (SAMPLE / name / "landing").iterdir():
                shutil.copy(path, folder / path.name)
    return root


def warehouse_rows(warehouse: Path) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return {
            table: connection.sql(f"select count(*) from stedi.{table}").fetchall()[0][0] for table in BASELINE_ROWS
        }


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def zones(lake_dir: Path) -> dict[str, str | None]:
    return {zone: lake.current_version(str(lake_dir), zone) for zone in lake.ZONES}


JAVA_LAUNCHER_NOTICE = "WARNING: Using incubator modules: jdk.incubator.vector\n"


def no_traceback(stderr: str) -> None:
    """What a user sees: no Python traceback, no Java stack frame, whatever failed."""
    assert "Traceback" not in stderr and not re.search(r"^\s+at [\w.$]+\(", stderr, re.M), stderr[-3000:]
    assert "Exception in task" not in stderr and "ERROR Executor" not in stderr


def failed_in_one_line(result: subprocess.CompletedProcess, error: str) -> re.Match:
    assert result.returncode == 1, result.stderr[-3000:]
    no_traceback(result.stderr)
    match = ONE_LINE_FAILURE.fullmatch(result.stderr.strip().splitlines()[-1])
    assert match, result.stderr[-2000:]
    assert re.fullmatch(error, match["error"]), match["error"]
    assert Path(match["log"]).is_file()  # the details are kept
    return match


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> types.SimpleNamespace:
    """One clean run of the sample; a second run started on the same lake meanwhile must fail at once."""
    tmp_path = tmp_path_factory.mktemp("baseline")
    lake_dir, warehouse = tmp_path / "lake", tmp_path / "warehouse.duckdb"
    args = ["run", "--lake", str(lake_dir), "--warehouse", f"duckdb:///{warehouse}"]
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-first")}
    env.pop("PREFECT_API_URL", None)
    stedi = str(Path(sys.executable).with_name("stedi"))
    with (tmp_path / "first.err").open("w") as first_err:
        # On the JVM engine: a first run long enough for the second to find it still going
        first = subprocess.Popen(
            [stedi, *args, "--engine", "spark"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=first_err
        )
        deadline = time.monotonic() + 120
        while "run " not in ((lake_dir / ".lock").read_text() if (lake_dir / ".lock").is_file() else ""):
            assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "first.err").read_text()
            time.sleep(0.2)
        second = stedi_run(tmp_path, *args[1:])
        assert first.wait(timeout=300) == 0, (tmp_path / "first.err").read_text()[-3000:]
    return types.SimpleNamespace(lake=lake_dir, warehouse=warehouse, second=second)


@pytest.fixture
def published(baseline, tmp_path) -> types.SimpleNamespace:
    """A copy of the baseline's lake and warehouse, for one test to run onto."""
    lake_dir, warehouse = tmp_path / "lake", tmp_path / "warehouse.duckdb"
    shutil.copytree(baseline.lake, lake_dir, symlinks=True)
    shutil.copy(baseline.warehouse, warehouse)
    return types.SimpleNamespace(
        lake=lake_dir,
        warehouse=warehouse,
        zones=zones(lake_dir),
        digest=digest(warehouse),
        args=["--lake", str(lake_dir), "--warehouse", f"duckdb:///{warehouse}"],
    )


def unchanged(published: types.SimpleNamespace) -> None:
    assert zones(published.lake) == published.zones
    assert digest(published.warehouse) == published.digest
    assert warehouse_rows(published.warehouse) == BASELINE_ROWS


def test_a_second_run_on_the_same_lake_fails_at_once_naming_the_first(baseline):
    failed_in_one_line(
        baseline.second,
        r"LakeBusyError: the lake \S+ is being written by run [0-9a-f-]{36} "
        r"\(pid \d+, since .+\): wait for it to end, or stop it",
    )
    assert warehouse_rows(baseline.warehouse) == BASELINE_ROWS  # the first run was not disturbed


def test_a_source_missing_from_the_landing_publishes_nothing(published, tmp_path):
    landing = copy_sample(tmp_path / "landing", without=("step_trainer",))
    shutil.rmtree(landing / "step_trainer")  # no folder at all
    result = stedi_run(tmp_path, "--landing", str(landing), *published.args)
    failed_in_one_line(
        result,
        r"EmptySourceError: step_trainer: no landing files in \S+/step_trainer/landing, but the "
        r"lake holds 28,680 of its records from earlier runs; nothing was published \(to "
        r"publish it empty, pass --allow-empty step_trainer\)",
    )
    unchanged(published)


def test_a_landing_without_any_file_publishes_nothing(published, tmp_path):
    landing = copy_sample(tmp_path / "landing", without=tuple(SOURCES))  # three empty folders
    result = stedi_run(tmp_path, "--landing", str(landing), *published.args)
    failed_in_one_line(
        result,
        r"EmptySourceError: customer: no landing files in \S+, but the lake holds 956 of its "
        r"records from earlier runs; .*",
    )
    unchanged(published)


def trusted_email(lake_dir: Path) -> str:
    import pyarrow.dataset as ds

    return ds.dataset(str(lake_dir / "silver" / "accelerometer_trusted"), format="parquet").head(1)[0][0].as_py()


def messy_landing(root: Path, email: str) -> Path:
    """The sample as production delivers it: bad values, files twice, broken files, nested folders, debris."""
    copy_sample(root)
    customer, accelerometer, step_trainer = (root / name / "landing" for name in SOURCES)
    # instants days before the sample's: no step-trainer reading pairs with them
    reading = {"user": email, "timestamp": 1655000000010, "x": 0.125, "y": 0.25, "z": 0.5}
    lines = [
        # ASCII spaces and case were always normalised; tabs, no-break and ideographic spaces are too
        json.dumps(dict(reading, user=f"\t{email.upper()}")),
        json.dumps(dict(reading, user=f"\u00a0{email}\u00a0", timestamp=1655000000011)),
        json.dumps(dict(reading, user=f"\u3000{email}", timestamp=1655000000012)),
        json.dumps(dict(reading, timestamp=1655564376361000000)),  # nanoseconds: timestamp_out_of_range
        json.dumps(dict(reading)).replace("1655000000010", "1e20"),  # timestamp_out_of_range
        json.dumps(dict(reading, x="NaN", timestamp=1655000000013)),  # uncoercible_x
        json.dumps(dict(reading, y="Infinity", timestamp=1655000000014)),  # uncoercible_y
    ]
    latin1 = json.dumps(dict(reading, user="j\u00fcrgen.m\u00fcller@test.com"), ensure_ascii=False).encode("latin-1")
    (accelerometer / "extra.json").write_bytes("\n".join(lines).encode() + b"\n" + latin1 + b"\n")
    first = sorted(accelerometer.glob("accelerometer-*.json.gz"))[0]
    shutil.copy(first, accelerometer / "accelerometer-again.json.gz")  # one file delivered twice: 10,000 copies
    data = first.read_bytes()
    (accelerometer / "truncated.json.gz").write_bytes(data[: len(data) // 2])  # an upload cut short
    (accelerometer / "not-gzip.json.gz").write_bytes(gzip.decompress(data))  # plain text named .gz
    corrupt = bytearray(data)
    corrupt[len(corrupt) // 2 : len(corrupt) // 2 + 64] = bytes(64)
    (accelerometer / "corrupt.json.gz").write_bytes(bytes(corrupt))
    shutil.copy(first, accelerometer / "UPPER.JSON.GZ")  # Spark would read its bytes as text
    smallest = min(step_trainer.glob("*.json.gz"), key=lambda p: p.stat().st_size)  # 8,680 readings
    (step_trainer / "2023" / "06").mkdir(parents=True)
    shutil.copy(smallest, step_trainer / "2023" / "06" / "step_trainer-again.json.gz")  # nested, and twice
    (step_trainer / ".upload.json.tmp").write_text("{}\n")
    (step_trainer / "gone.json").symlink_to(root / "nowhere.json")
    os.mkfifo(step_trainer / "pipe.json")
    (customer / "2023" / "06").mkdir(parents=True)
    shutil.copy(next(customer.glob("*.json.gz")), customer / "2023" / "06" / "customer-again.json.gz")
    customer_line = json.dumps(
        {"customerName": "J\u00fcrgen M\u00fcller", "email": "jurgen@test.com"}, ensure_ascii=False
    )
    (customer / "customer-extra.json").write_bytes(customer_line.encode("latin-1") + b"\n")
    return root


# Four old runs; their commands are long gone (no process has pid 999999999)
OLD_RUNS = {
    "_reports": [f"old-run-{i}" for i in range(4)],
    "_logs": [f"20200101T00000{i}Z-999999999" for i in range(4)],
}


@pytest.fixture(scope="module")
def messy(baseline, tmp_path_factory) -> types.SimpleNamespace:
    """One run of the messy landing onto a copy of the baseline, whose lake also holds the reports and logs
    of four old runs; each test below asserts one finding of it."""
    tmp_path = tmp_path_factory.mktemp("messy")
    lake_dir, warehouse = tmp_path / "lake", tmp_path / "warehouse.duckdb"
    shutil.copytree(baseline.lake, lake_dir, symlinks=True)
    shutil.copy(baseline.warehouse, warehouse)
    for folder, names in OLD_RUNS.items():
        for i, name in enumerate(names):
            (lake_dir / folder / name).mkdir(parents=True)
            os.utime(lake_dir / folder / name, (1_600_000_000 + i, 1_600_000_000 + i))
    landing = messy_landing(tmp_path / "landing", trusted_email(lake_dir))
    summary_file = tmp_path / "summary.json"
    result = stedi_run(
        tmp_path,
        "--landing",
        str(landing),
        "--lake",
        str(lake_dir),
        "--warehouse",
        f"duckdb:///{warehouse}",
        "--quarantine-threshold",
        "0.3",
        "--keep-runs",
        "2",
        "--summary",
        str(summary_file),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(summary_file.read_text())
    return types.SimpleNamespace(
        result=result, summary=summary, sources=summary["sources"], lake=lake_dir, warehouse=warehouse
    )


def accounting_of(source: dict) -> tuple:
    return source["landing"], source["accepted"], source["filtered"], source["quarantined"]


def test_values_that_are_no_values_are_quarantined_and_the_run_flows_on(messy):
    # nanoseconds and 1e20 as timestamps, "NaN" and "Infinity" as numbers: one record each, never the run
    assert messy.sources["accelerometer"]["quarantined"] == {
        "not_utf8": 1,
        "timestamp_out_of_range": 2,
        "uncoercible_x": 1,
        "uncoercible_y": 1,
    }
    assert messy.summary["status"] == "succeeded"


def test_a_latin1_line_is_quarantined_and_never_reaches_silver_or_gold(messy):
    assert messy.sources["customer"]["quarantined"] == {"not_utf8": 1}
    with duckdb.connect(str(messy.warehouse), read_only=True) as connection:
        names = [row[0] for row in connection.sql("select customer_name from stedi.customers").fetchall()]
    assert len(names) == 956 and not [name for name in names if name and "\ufffd" in name]


def test_emails_padded_with_tabs_no_break_or_ideographic_spaces_name_their_customer(messy):
    # the three padded readings are the trusted customer's: accepted, not unknown_customer
    assert accounting_of(messy.sources["accelerometer"])[1] == 40_984
    assert "unknown_customer" not in messy.sources["accelerometer"]["filtered"]
    assert warehouse_rows(messy.warehouse) == dict(BASELINE_ROWS, accelerometer_readings=40_984)


def test_a_file_delivered_twice_counts_once_for_every_source(messy):
    assert {name: s["filtered"].get("duplicate_record") for name, s in messy.sources.items()} == {
        "customer": 956,
        "accelerometer": 10_000,
        "step_trainer": 8_680,
    }
    assert messy.summary["tables"]["machine_learning_curated"]["rows"] == 40_981  # no reading twice


def test_files_in_nested_folders_are_read(messy):
    # the copies in 2023/06/ were read: their every record is a duplicate of one in the folder above
    assert messy.sources["customer"]["files"]["read"] == 3 and messy.sources["step_trainer"]["files"]["read"] == 4


def test_a_broken_file_is_quarantined_whole_with_its_path_and_reason(messy):
    assert messy.sources["accelerometer"]["files"] == {
        "landing": 15,
        "read": 11,
        "quarantined": {"corrupt_gzip": 1, "gzip_without_gz_suffix": 1, "not_gzip": 1, "truncated_gzip": 1},
    }
    expected = {
        "corrupt.json.gz": "corrupt_gzip",
        "not-gzip.json.gz": "not_gzip",
        "truncated.json.gz": "truncated_gzip",
        "UPPER.JSON.GZ": "gzip_without_gz_suffix",
    }
    assert {Path(q["path"]).name: q["rule"] for q in messy.sources["accelerometer"]["quarantined_files"]} == expected
    recorded = [
        json.loads(text)
        for path in (messy.lake / "quarantine" / "files").glob("*.json")
        for text in path.read_text().splitlines()
    ]
    assert {Path(r["path"]).name: (r["source"], r["rule"]) for r in recorded} == {
        name: ("accelerometer", rule) for name, rule in expected.items()
    }
    assert all(r["detail"] and r["size_bytes"] > 0 for r in recorded)


def test_what_is_not_a_landing_file_is_skipped_and_listed_with_its_reason(messy):
    assert {Path(s["path"]).name: s["reason"] for s in messy.sources["step_trainer"]["skipped"]} == {
        ".upload.json.tmp": "hidden file (its name starts with '.')",
        "gone.json": "symbolic link to nothing",
        "pipe.json": "FIFO (named pipe), not a regular file",
    }


def test_every_file_and_record_is_accounted_for(messy):
    check_accounting(messy.summary)
    assert {name: accounting_of(s) for name, s in messy.sources.items()} == {
        "customer": (1_913, 482, {"duplicate_record": 956, "no_research_consent": 474}, {"not_utf8": 1}),
        "accelerometer": (
            91_281,
            40_984,
            {"customer_not_consenting": 40_292, "duplicate_record": 10_000},
            {"not_utf8": 1, "timestamp_out_of_range": 2, "uncoercible_x": 1, "uncoercible_y": 1},
        ),
        "step_trainer": (37_360, 14_460, {"duplicate_record": 8_680, "owner_not_curated": 14_220}, {}),
    }


def test_quiet_prints_nothing_but_errors(messy):
    # the Java launcher's own notice of the incubator module Spark's launcher asks for is printed before the
    # JVM runs any code, so no logging setting reaches it
    assert messy.result.stdout == "" and messy.result.stderr in ("", JAVA_LAUNCHER_NOTICE), messy.result.stderr


def test_reports_and_logs_are_kept_for_the_newest_runs_only(messy):
    # --keep-runs 2: this run's and the newest before it (the baseline's reports; for logs, the baseline's
    # second command, refused by the lake's lock)
    for folder, names in OLD_RUNS.items():
        kept = {p.name for p in (messy.lake / folder).iterdir()}
        assert len(kept) == 2 and not kept & set(names), folder
    assert messy.summary["run_id"] in {p.name for p in (messy.lake / "_reports").iterdir()}
    assert Path(messy.summary["log"]).name in {p.name for p in (messy.lake / "_logs").iterdir()}


def test_a_password_never_leaves_its_place(postgres_database, tmp_path):
    password = f"pw-{uuid.uuid4().hex}"  # the test server trusts local logins: any password connects
    url = postgres_database.replace("postgres@", f"postgres:{password}@")
    summary_file = tmp_path / "summary.json"
    result = stedi_run(tmp_path, "--lake", str(tmp_path / "lake"), "--warehouse", url, "--summary", str(summary_file))

    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(summary_file.read_text())["warehouse"]["url"] == postgres_database
    leaks = [str(p) for p in tmp_path.rglob("*") if p.is_file() and password.encode() in p.read_bytes()]
    assert leaks == []  # the lake, its logs, the summary, Prefect's database (flow parameters, logs, events)
    assert password not in result.stdout + result.stderr


def test_a_mistyped_scheme_fails_at_once_with_the_password_masked(published, tmp_path):
    result = stedi_run(tmp_path, "--lake", str(published.lake), "--warehouse", "postgress://loader:hunter22@db:5432/x")
    assert result.returncode == 2
    assert result.stderr == (
        "stedi run: error: unsupported warehouse URL 'postgress://loader@db:5432/x': use "
        "duckdb:///PATH, postgresql://USER@HOST:PORT/DB or redshift://USER@HOST:PORT/DB\n"
    )
    assert "hunter22" not in result.stdout and result.survivors == []
    unchanged(published)


def test_an_unreachable_warehouse_fails_before_any_work(published, tmp_path):
    from stedi.prefect_api import free_port

    url = f"postgresql://postgres:hunter22@127.0.0.1:{free_port()}/postgres"  # nobody listens there
    result = stedi_run(tmp_path, "--lake", str(published.lake), "--warehouse", url, "--verbose")
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "stedi run: failed: WarehouseUnavailableError: cannot connect to the warehouse "
            "postgresql://postgres@127.0.0.1:"
        )
    )
    assert "Traceback" in result.stderr  # --verbose shows the details on the terminal too
    assert "hunter22" not in result.stdout + result.stderr
    unchanged(published)


def test_a_locked_warehouse_file_fails_before_any_work(published, tmp_path):
    with duckdb.connect(str(published.warehouse), read_only=True):  # an analyst's open session holds the file
        result = stedi_run(tmp_path, *published.args)
    failed_in_one_line(
        result,
        r"WarehouseUnavailableError: cannot connect to the warehouse duckdb:///\S+: IOException: "
        r"IO Error: Could not set lock on file .*",
    )
    unchanged(published)


def test_the_local_pseudonym_key_is_random_owner_only_and_outside_the_lake(baseline, local_pseudonym_key):
    assert local_pseudonym_key.is_file() and not local_pseudonym_key.is_relative_to(baseline.lake)
    assert local_pseudonym_key.stat().st_mode & 0o077 == 0
    key = local_pseudonym_key.read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    with duckdb.connect(str(baseline.warehouse), read_only=True) as connection:
        rows = connection.sql("select customer_key, customer_email from stedi.customers").fetchall()
    keys = {k for k, _ in rows}
    for secret in (b"stedi-local-development-only", b""):  # the constant earlier releases used, and none
        guessed = {hmac.new(secret, email.encode(), hashlib.sha256).hexdigest() for _, email in rows}
        assert not keys & guessed
    assert keys == {hmac.new(key.encode(), email.encode(), hashlib.sha256).hexdigest() for _, email in rows}
