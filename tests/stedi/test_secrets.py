import os
import stat

import pytest

from stedi import secrets
from stedi.secrets import KEY_FILE_ENV, SECRET_ENV, MissingSecretError, PseudonymKey, pseudonym_key


@pytest.fixture(autouse=True)
def no_secret(monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)


def test_a_lake_that_is_not_local_needs_the_secret():
    with pytest.raises(MissingSecretError, match=SECRET_ENV):
        pseudonym_key("s3://bucket/lake")


def test_local_runs_fall_back_to_this_machines_own_key_marked_as_local(monkeypatch, tmp_path):
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "config" / "stedi" / "pseudonym-key"))
    key = pseudonym_key(str(tmp_path / "lake"))
    assert key.is_local and len(key.value) == 64 and int(key.value, 16)  # 256 random bits, as hex
    assert pseudonym_key(str(tmp_path / "other-lake")) == key  # made once, then kept
    assert "value" not in repr(key) or key.value.decode() not in repr(key)  # never printed


def test_the_local_key_is_made_at_random_owner_only_in_the_users_config(monkeypatch, tmp_path):
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    keys = []
    for user in ("ann", "bo"):
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / user))
        keys.append(secrets.local_key())
        path = tmp_path / user / "stedi" / "pseudonym-key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert keys[0] != keys[1]  # no key is written in the code: every machine makes its own


def test_a_local_key_others_can_read_is_refused(monkeypatch, tmp_path):
    path = tmp_path / "pseudonym-key"
    monkeypatch.setenv(KEY_FILE_ENV, str(path))
    secrets.local_key()
    path.chmod(0o644)
    with pytest.raises(MissingSecretError, match=rf"{path} is readable by others \(mode -rw-r--r--\): run `chmod 600"):
        secrets.local_key()


def test_a_local_key_inside_the_lake_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "lake" / "key"))
    with pytest.raises(MissingSecretError, match="lies inside the lake"):
        pseudonym_key(str(tmp_path / "lake"))
    assert not (tmp_path / "lake" / "key").exists()


@pytest.mark.parametrize(
    ("url", "stripped", "password"),
    [
        ("postgresql://loader:s3cr%40t@db:5432/x", "postgresql://loader@db:5432/x", "s3cr@t"),  # URL-encoded
        ("redshift://loader@cluster:5439/db", "redshift://loader@cluster:5439/db", None),
        ("duckdb:///./warehouse/w.duckdb", "duckdb:///./warehouse/w.duckdb", None),
    ],
)
def test_a_password_is_taken_out_of_a_url(url, stripped, password):
    assert secrets.without_password(url) == (stripped, password)


@pytest.mark.parametrize(
    ("url", "variable"),
    [
        ("postgresql://loader:p%40ss@db:5432/x", "PGPASSWORD"),
        ("redshift://loader:p%40ss@cluster:5439/db", "REDSHIFT_PASSWORD"),
    ],
)
def test_a_password_written_in_a_url_moves_to_the_environment_the_load_reads(monkeypatch, url, variable):
    monkeypatch.delenv(variable, raising=False)
    stripped = secrets.move_password_to_environment(url)
    assert "p%40ss" not in stripped and "p@ss" not in stripped and stripped.startswith(url.split(":", 1)[0])
    assert os.environ[variable] == "p@ss" and secrets.warehouse_password(variable) == "p@ss"
    assert secrets.redact("the password p@ss") == "the password ***"


def test_the_postgresql_load_connects_with_the_password_it_was_given(monkeypatch):
    import psycopg

    from stedi.warehouse.backends import backend_for

    seen = {}
    monkeypatch.setattr(psycopg, "connect", lambda url, **options: seen.update(url=url, **options))
    monkeypatch.setenv("PGPASSWORD", "from-the-environment")
    backend_for(secrets.move_password_to_environment("postgresql://loader:from-the-url@db:5432/x")).connect()
    assert seen["url"] == "postgresql://loader@db:5432/x" and seen["password"] == "from-the-url"


def test_every_known_secret_and_any_url_password_is_masked():
    secrets.register("key-material-123")
    text = "key-material-123 in postgresql://u:other-pw@h/db and redshift://loader:xyz@c:5439/d"
    assert secrets.redact(text) == "*** in postgresql://u:***@h/db and redshift://loader:***@c:5439/d"


@pytest.mark.parametrize("source", ["environment", "prefect block"])
def test_the_secret_comes_from_the_environment_or_the_prefect_block(monkeypatch, source):
    if source == "environment":
        monkeypatch.setenv(SECRET_ENV, "s3cret")
    else:  # read inside a flow run (tests/flows/test_stedi_run_sample.py saves a real block)
        monkeypatch.setattr(secrets, "_in_a_flow_run", lambda: True)
        monkeypatch.setattr(secrets, "load_from_prefect", lambda name=secrets.SECRET_BLOCK: "s3cret")
    assert pseudonym_key("s3://bucket/lake") == PseudonymKey(b"s3cret", is_local=False)


def glue_argv(secret_id: str) -> list[str]:
    return [
        "--JOB_NAME",
        "stedi-gold",
        "--landing",
        "s3://b/landing",
        "--lake",
        "s3://b/lake",
        "--run-id",
        "r",
        "--ingested-at",
        "2026-11-22T00:00:00+00:00",
        "--pseudonym-secret-id",
        secret_id,
    ]


def test_a_glue_job_run_reads_the_secret_named_by_its_job_from_secrets_manager(aws, spark, monkeypatch):
    import boto3
    from pyspark.sql import SparkSession

    from stedi.jobs.common import job_main

    # The session Glue's runtime has active, whichever sessions earlier tests of this process made and ended
    monkeypatch.setattr(SparkSession, "getActiveSession", staticmethod(lambda: spark))

    boto3.client("secretsmanager").create_secret(Name="stedi/pseudonym-key", SecretString="from-secrets-manager")
    seen = []
    job_main("gold", lambda session, args, key: seen.append(key), glue_argv("stedi/pseudonym-key"))
    assert seen == [PseudonymKey(b"from-secrets-manager", is_local=False)]


def test_a_missing_secrets_manager_secret_is_named(aws, spark):
    from stedi.jobs.common import job_main

    with pytest.raises(MissingSecretError, match="'stedi/missing' does not exist"):
        job_main("gold", lambda session, args, key: None, glue_argv("stedi/missing"))
