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
