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


REDSHIFT = "redshift://loader@cluster:5439/analytics"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        # Redshift's COPY reads only S3: a folder lake needs somewhere on S3 to put gold first
        ({"warehouse": REDSHIFT}, "Redshift COPYs from S3 and the lake .* is a folder"),
        # the embedded and PostgreSQL warehouses read the Parquet themselves
        ({"warehouse_stage": "s3://stedi/stage"}, "only a redshift:// warehouse loads from a warehouse stage"),
        # gold on S3 already is COPYed where it is
        ({**S3, "warehouse": REDSHIFT, "warehouse_stage": "s3://stedi/stage"}, "is on S3 already"),
        ({"warehouse": REDSHIFT, "warehouse_stage": "/tmp/stage"}, r"must be s3://BUCKET\[/PREFIX\]"),
        ({"warehouse": REDSHIFT, "warehouse_stage": "s3://"}, r"must be s3://BUCKET\[/PREFIX\]"),
        ({"warehouse": REDSHIFT, "warehouse_stage": "s3:///stage"}, r"must be s3://BUCKET\[/PREFIX\]"),
    ],
)
def test_a_warehouse_stage_is_what_redshift_needs_or_refused(monkeypatch, values, message):
    monkeypatch.setenv("STEDI_REDSHIFT_IAM_ROLE", "arn:aws:iam::123456789012:role/stedi-redshift")
    monkeypatch.delenv("STEDI_WAREHOUSE_STAGE", raising=False)
    with pytest.raises(SettingsError, match=message):
        Settings.resolve(runner="local", **values)


def test_a_local_run_loads_redshift_through_a_stage(monkeypatch):
    monkeypatch.setenv("STEDI_REDSHIFT_IAM_ROLE", "arn:aws:iam::123456789012:role/stedi-redshift")
    monkeypatch.setenv("STEDI_WAREHOUSE_STAGE", "s3://stedi/stage")
    settings = Settings.resolve(runner="local", warehouse=REDSHIFT)
    assert settings.stages_gold and settings.warehouse_stage == "s3://stedi/stage"
    on_s3 = Settings.resolve(runner="local", warehouse=REDSHIFT, lake="s3://stedi/lake", warehouse_stage="none")
    assert not on_s3.stages_gold


def test_only_known_sources_may_be_allowed_empty():
    assert Settings.resolve(runner="local", allow_empty=["step_trainer", "step_trainer"]).allow_empty == (
        "step_trainer",
    )
    with pytest.raises(SettingsError, match="unknown source 'steps' to allow empty"):
        Settings.resolve(runner="local", allow_empty=["steps"])
