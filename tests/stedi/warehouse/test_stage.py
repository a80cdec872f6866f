"""Redshift from a laptop: a folder lake's gold staged on S3 (moto's, through AWS_ENDPOINT_URL) before the
COPY, and the statements a load would run, shown by `stedi load --dry-run` and parsed as Redshift SQL."""

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import sqlglot
from sqlglot import exp

from stedi import lake
from stedi.warehouse.backends import RedshiftBackend
from stedi.warehouse.catalog import load_catalog
from stedi.warehouse.load import load_lake
from tests.redshift import COPY, RedshiftStandIn, read_prefix

pytestmark = pytest.mark.integration  # the sample's lake, built by `stedi run`

ROLE = "arn:aws:iam::123456789012:role/stedi-redshift-copy"
WAREHOUSE = "redshift://loader@stedi.abc123.us-east-1.redshift-serverless.amazonaws.com:5439/analytics"


@pytest.fixture
def stage(aws, monkeypatch) -> str:
    monkeypatch.setenv("STEDI_REDSHIFT_IAM_ROLE", ROLE)
    return f"s3://{aws.bucket}/prod/stage"


def gold_rows(lake_root: Path, table: str):
    path = lake.current_table_path(str(lake_root), "gold", table)
    return ds.dataset(path, format="parquet").to_table()


def sorted_rows(table) -> list[dict]:
    return sorted(table.to_pylist(), key=repr)


def dry_run(lake_root: Path, stage: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("stedi")), "load", "--dry-run"]
    command += ["--lake", str(lake_root), "--warehouse", WAREHOUSE, "--warehouse-stage", stage]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=dict(os.environ))


def test_a_dry_run_prints_redshift_sql_whose_copies_read_the_staged_gold(sample_runs, aws, stage):
    result = dry_run(sample_runs["lake"], stage)
    assert result.returncode == 0, result.stderr
    script = sqlglot.parse(result.stdout, read="redshift", error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(script[0], exp.Transaction) and isinstance(script[-1], exp.Commit)
    copies = [COPY.fullmatch(line.rstrip(";")) for line in result.stdout.splitlines() if line.startswith("copy ")]
    tables = [t.name for t in load_catalog().tables]
    assert [c.group(1) for c in copies] == [f"staging_{t}" for t in tables]  # each table once, parents first
    version = lake.current_version(str(sample_runs["lake"]), "gold")
    for table, copy in zip(tables, copies, strict=True):
        prefix = copy.group(2)
        assert prefix == f"{stage}/_zones/gold/{version}/{table}/"
        files, staged = read_prefix(aws.s3, prefix)
        local = Path(lake.current_table_path(str(sample_runs["lake"]), "gold", table))
        assert files == sorted(p.name for p in local.iterdir() if p.name.endswith(".parquet"))
        assert sorted_rows(staged) == sorted_rows(gold_rows(sample_runs["lake"], table)), table
    assert "nothing was sent to the warehouse" in result.stdout


def test_a_load_through_the_stage_copies_what_gold_holds_then_removes_it(sample_runs, aws, stage, monkeypatch):
    warehouse = RedshiftStandIn(aws.s3, str(sample_runs["lake"]))
    monkeypatch.setattr(RedshiftBackend, "connect", lambda self, read_only=False: warehouse)
    loaded = load_lake(WAREHOUSE, str(sample_runs["lake"]), stage)
    assert warehouse.committed and not warehouse.rolled_back
    assert all(check["passed"] for check in loaded["checks"])
    for table in load_catalog().tables:
        prefix, files, rows = warehouse.copied[f"staging_{table.name}"]
        assert prefix.startswith(f"{stage}/_zones/gold/") and files
        assert rows == gold_rows(sample_runs["lake"], table.name).num_rows == loaded["tables"][table.name]
    assert read_prefix(aws.s3, stage + "/")[0] == []  # the stage holds nothing once the load has ended


def test_a_failed_load_rolls_back_and_leaves_nothing_staged(sample_runs, aws, stage, monkeypatch):
    warehouse = RedshiftStandIn(aws.s3, str(sample_runs["lake"]), fail_on="merge into stedi.devices")
    monkeypatch.setattr(RedshiftBackend, "connect", lambda self, read_only=False: warehouse)
    with pytest.raises(RuntimeError, match="the stand-in fails"):
        load_lake(WAREHOUSE, str(sample_runs["lake"]), stage)
    assert warehouse.rolled_back and not warehouse.committed
    assert "staging_customers" in warehouse.copied  # it failed after staging had begun
    assert read_prefix(aws.s3, stage + "/")[0] == []


def test_an_incremental_load_stages_and_copies_the_changes_only(aws, stage, tmp_path):
    """Against the version the warehouse holds, a load COPYs each table's upserts and retractions: those,
    and nothing else, are staged, before any statement runs."""
    from stedi.warehouse.backends import backend_for
    from stedi.warehouse.load import load_gold
    from stedi.warehouse.stage import Stage

    root = str(tmp_path / "lake")
    gold = lake.Zone(root, "gold", "run-2")
    changes = lake.join(root, lake.ZONES_DIR, "gold", gold.version, lake.CHANGES)
    tables = [t.name for t in load_catalog().tables]
    for table in tables:
        for folder in (gold.path(table), *(lake.join(changes, table, part) for part in ("upserts", "retracted"))):
            Path(folder).mkdir(parents=True)
            (Path(folder) / "part-0.parquet").write_bytes(b"rows")
    gold.publish()
    staged = Stage(root, stage)
    expected = {table: 0 for table in tables}
    loaded = load_gold(backend_for(WAREHOUSE), root, expected, changes=changes, stage=staged, dry_run=True)
    copies = [COPY.fullmatch(s.strip()).groups() for s in loaded["statements"] if s.startswith("copy ")]
    staged_copies = [
        (f"{kind}_{table}", f"{stage}/_zones/gold/{gold.version}/{lake.CHANGES}/{table}/{part}/")
        for table in tables
        for kind, part in (("staging", "upserts"), ("retracted", "retracted"))
    ]
    assert copies == staged_copies
    assert sorted(read_prefix_keys(aws.s3, stage)) == sorted(
        f"{prefix.removeprefix(f's3://{aws.bucket}/')}part-0.parquet" for _, prefix in staged_copies
    )


def read_prefix_keys(s3, uri: str) -> list[str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
            for o in page.get("Contents", [])]  # fmt: skip
