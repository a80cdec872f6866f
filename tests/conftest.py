"""Fixtures shared by the whole suite: one local SparkSession, the shipped sample."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import types
import uuid
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from stedi.settings import DEFAULT_ENGINE
from stedi.spark import build_session, start_sail

# The suite's `stedi run`s each start a temporary Prefect API that ends with them, so that no test leaves a
# process behind; the local server that lasts between runs has tests of its own (tests/stedi/test_prefect_api.py).
os.environ["STEDI_PREFECT_API_IDLE_MINUTES"] = "0"

# Spark turns naive Python datetimes into instants with the process's zone; the pipeline runs in UTC.
os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture(scope="session", autouse=True)
def local_pseudonym_key(tmp_path_factory) -> Path:
    """The suite's own local pseudonymisation key (stedi/secrets.py), made on first use like a user's: the
    tests and the `stedi` commands they start never touch the user's ~/.config/stedi key."""
    path = tmp_path_factory.mktemp("pseudonym-key") / "pseudonym-key"
    os.environ["STEDI_PSEUDONYM_KEY_FILE"] = str(path)
    return path


# The engine the suite's `spark` fixture, and the `stedi run`s it starts, run on (stedi/settings.py,
# ENGINES): CI runs the Spark tests once per engine (.ci/run).
ENGINE = os.environ.setdefault("STEDI_ENGINE", DEFAULT_ENGINE)


@pytest.fixture(scope="session")
def spark() -> SparkSession:
    if ENGINE == "sail":
        session, server = start_sail(app_name="stedi-tests")
        yield session
        session.stop()
        server.stop()
        return
    session = build_session(master="local[2]", app_name="stedi-tests", **{"spark.sql.shuffle.partitions": "2"})
    yield session
    session.stop()


def stedi_run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`stedi run` as a user runs it, with its own Prefect home so nothing leaks into the user's profile.

    Returns as soon as `stedi` exits: its output goes to files, which a process it left running could not
    hold open. `.survivors` lists the processes of the run (the JVM, the temporary API) alive then.
    """
    home = tmp_path / "prefect-home"
    env = {**os.environ, "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    command = [str(Path(sys.executable).with_name("stedi")), "run", *args]
    name = f"stedi-{uuid.uuid4().hex[:8]}"
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        code = subprocess.run(command, env=env, stdout=stdout, stderr=stderr, timeout=600, cwd=tmp_path).returncode
    result = subprocess.CompletedProcess(command, code, out.read_text(), err.read_text())
    result.survivors = processes_with_env("PREFECT_HOME", str(home))
    return result


def processes_with_env(name: str, value: str) -> list[str] | None:
    """Command lines of the processes whose environment sets `name` to `value`; None without /proc."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    marker = f"{name}={value}".encode()
    found = []
    for environ in proc.glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                found.append((environ.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:  # ended meanwhile, or not ours to read
            continue
    return found


@pytest.fixture(scope="session")
def sample_runs(tmp_path_factory) -> dict:
    """Two `stedi run`s on the shipped sample into one lake and DuckDB warehouse, with a copy of both
    as the first run left them."""
    tmp_path = tmp_path_factory.mktemp("sample-run")
    lake, warehouse = tmp_path / "lake", tmp_path / "warehouse" / "stedi_warehouse.duckdb"
    args = ["--lake", str(lake), "--warehouse", f"duckdb:///{warehouse}"]
    first = stedi_run(tmp_path, *args, "--summary", str(tmp_path / "first.json"))
    assert first.returncode == 0, first.stderr[-3000:]
    shutil.copytree(lake, tmp_path / "lake-after-first-run")
    shutil.copy(warehouse, tmp_path / "warehouse-after-first-run.duckdb")
    second = stedi_run(tmp_path, *args, "--summary", str(tmp_path / "second.json"))
    assert second.returncode == 0, second.stderr[-3000:]
    return {
        "lake": lake,
        "first_lake": tmp_path / "lake-after-first-run",
        "warehouse": warehouse,
        "first_warehouse": tmp_path / "warehouse-after-first-run.duckdb",
        "first": json.loads((tmp_path / "first.json").read_text()),
        "second": json.loads((tmp_path / "second.json").read_text()),
        "stdout": first.stdout,
        "survivors": [first.survivors, second.survivors],
        "stderr": [first.stderr, second.stderr],
    }


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL server on 127.0.0.1:5432; CI must have it, elsewhere its tests skip."""
    import psycopg

    url = os.environ.get("STEDI_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        message = f"PostgreSQL is not reachable at {url}: {error}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message + " (its tests run in CI)")
    return url


@pytest.fixture
def postgres_database(postgres_server: str):
    """A database of its own for one test, dropped afterwards."""
    import psycopg

    name = f"stedi_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"create database {name}")
    yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"drop database if exists {name} with (force)")


@pytest.fixture(scope="session")
def moto_endpoint() -> str:
    """moto's server, in this process so that tests can decide how its Glue job runs end (tests/aws.py)."""
    from moto.server import ThreadedMotoServer

    from stedi.prefect_api import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint, monkeypatch):
    """An empty AWS stand-in with one bucket; boto3 reaches it through AWS_ENDPOINT_URL, as a user's would."""
    import boto3
    import requests

    from tests.aws import REGION, GlueStandIn

    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    s3, glue = boto3.client("s3"), boto3.client("glue")
    s3.create_bucket(Bucket="stedi-test")
    yield types.SimpleNamespace(
        endpoint=moto_endpoint,
        s3=s3,
        glue=glue,
        bucket="stedi-test",
        stand_in=GlueStandIn(monkeypatch, moto_endpoint, s3),
    )
    requests.post(
        f"{moto_endpoint}/moto-api/state-manager/unset-transition", json={"model_name": "glue::job_run"}, timeout=10
    )


@pytest.fixture
def glue_deployed(aws):
    """The stand-in after `infra/` and `stedi deploy glue`: the pseudonym key's secret, code on S3, the three
    jobs, the catalog."""
    import boto3

    from deployments.glue import DEFAULT_SECRET_ID, GlueTarget, deploy
    from tests.aws import ROLE_ARN

    boto3.client("secretsmanager").create_secret(Name=DEFAULT_SECRET_ID, SecretString="the glue jobs' key")
    deploy(GlueTarget(bucket=aws.bucket, prefix="prod", role_arn=ROLE_ARN), aws.s3, aws.glue)
    return aws
