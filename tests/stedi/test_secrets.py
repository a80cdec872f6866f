import pytest

from stedi.secrets import SECRET_ENV, MissingSecretError, provide, pseudonym_secret


@pytest.fixture(autouse=True)
def no_secret(monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    provide(None)
    yield
    provide(None)


def test_a_lake_that_is_not_local_needs_the_secret():
    with pytest.raises(MissingSecretError, match=SECRET_ENV):
        pseudonym_secret(local=False)


def test_local_runs_fall_back_to_a_marked_development_secret():
    secret, is_development = pseudonym_secret(local=True)
    assert secret and is_development


@pytest.mark.parametrize("source", ["environment", "prefect block"])
def test_the_secret_comes_from_the_environment_or_the_flow(monkeypatch, source):
    if source == "environment":
        monkeypatch.setenv(SECRET_ENV, "s3cret")
    else:
        provide("s3cret")
    assert pseudonym_secret(local=False) == (b"s3cret", False)


def glue_argv(secret_id: str) -> list[str]:
    return ["--JOB_NAME", "stedi-gold", "--landing", "s3://b/landing", "--lake", "s3://b/lake", "--run-id", "r",
            "--ingested-at", "2026-11-22T00:00:00+00:00", "--pseudonym-secret-id", secret_id]


def test_a_glue_job_run_reads_the_secret_named_by_its_job_from_secrets_manager(aws, spark):
    import boto3

    from stedi.jobs.common import job_main

    boto3.client("secretsmanager").create_secret(Name="stedi/pseudonym-key", SecretString="from-secrets-manager")
    seen = []
    job_main("gold", lambda session, args: seen.append(pseudonym_secret(local=False)), glue_argv("stedi/pseudonym-key"))
    assert seen == [(b"from-secrets-manager", False)]


def test_a_missing_secrets_manager_secret_is_named(aws, spark):
    from stedi.jobs.common import job_main

    with pytest.raises(MissingSecretError, match="'stedi/missing' does not exist"):
        job_main("gold", lambda session, args: None, glue_argv("stedi/missing"))
