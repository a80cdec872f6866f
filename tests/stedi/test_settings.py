"""The settings object: what each runner accepts, and the one-line errors for what it does not."""

import pytest

from stedi.settings import Settings, SettingsError

S3 = {"landing": "s3://stedi/landing", "lake": "s3://stedi/lake"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        # a Glue job run cannot read or write the flow machine's folders
        ({**S3, "lake": "/tmp/lake", "warehouse": "none"}, "needs an s3:// lake"),
        ({**S3, "landing": "./landing", "warehouse": "none"}, "needs an s3:// landing"),
        # DuckDB and PostgreSQL load gold from local Parquet; only Redshift COPYs it from S3
        ({**S3, "warehouse": "duckdb:///w.duckdb"}, "loads gold into redshift://"),
        ({**S3}, "warehouse is required for the glue runner"),
    ],
)
def test_the_glue_runner_refuses_what_glue_cannot_reach(monkeypatch, values, message):
    for name in ("STEDI_LANDING", "STEDI_LAKE", "STEDI_WAREHOUSE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SettingsError, match=message):
        Settings.resolve(runner="glue", **values)


@pytest.mark.parametrize("warehouse", ["none", "redshift://loader@cluster:5439/analytics"])
def test_the_glue_runner_takes_s3_and_redshift_or_no_warehouse(warehouse, monkeypatch):
    monkeypatch.setenv("STEDI_REDSHIFT_IAM_ROLE", "arn:aws:iam::123456789012:role/stedi-redshift")
    settings = Settings.resolve(runner="glue", warehouse=warehouse, **S3)
    assert (settings.lake, settings.loads_warehouse) == ("s3://stedi/lake", warehouse != "none")


@pytest.mark.parametrize(
    ("warehouse", "message"),
    [
        ("mysql://x", "unsupported warehouse URL 'mysql://x'"),  # no such backend
        # a typo in the scheme; the password is never repeated
        ("postgress://u:s3cret@h/db", r"unsupported warehouse URL 'postgress://u:\*\*\*@h/db'"),
        # named like its schema: `stedi.<table>` would be ambiguous for whoever opens the file
        ("duckdb:///w/stedi.duckdb", "named like its schema"),
        ("redshift://loader@cluster:5439/analytics", "STEDI_REDSHIFT_IAM_ROLE is not set"),
    ],
)
def test_a_warehouse_url_that_cannot_work_is_refused_before_any_work(monkeypatch, warehouse, message):
    monkeypatch.delenv("STEDI_REDSHIFT_IAM_ROLE", raising=False)
    with pytest.raises(SettingsError, match=message):
        Settings.resolve(runner="local", warehouse=warehouse)


def test_only_known_sources_may_be_allowed_empty():
    assert Settings.resolve(runner="local", allow_empty=["step_trainer", "step_trainer"]).allow_empty == (
        "step_trainer",
    )
    with pytest.raises(SettingsError, match="unknown source 'steps' to allow empty"):
        Settings.resolve(runner="local", allow_empty=["steps"])
