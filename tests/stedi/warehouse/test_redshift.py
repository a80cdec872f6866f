"""The Redshift backend without a cluster: every statement it issues, parsed as Redshift SQL."""

import re

import pytest
import sqlglot
from sqlglot import exp

from stedi.warehouse.backends import RedshiftBackend, WarehouseConfigError, backend_for
from stedi.warehouse.catalog import load_catalog
from stedi.warehouse.load import load_gold

ROLE = "arn:aws:iam::123456789012:role/stedi-redshift-copy"
LAKE = "s3://stedi-test/prod/lake"  # the `aws` fixture's bucket


class FakeCursor:
    """Answers every check and count with 0, as an empty warehouse would."""

    def __init__(self, log):
        self.log = log

    def execute(self, sql):
        self.log.append(sql)
        return self

    def fetchone(self):
        return (0,)

    def fetchall(self):
        return []  # no table exists yet


class FakeConnection:
    def __init__(self):
        self.log, self.committed, self.rolled_back = [], False, False

    def cursor(self):
        return FakeCursor(self.log)

    def commit(self):
        self.committed = True

    def rollback(self):
        self.rolled_back = True

    def close(self):
        pass


@pytest.fixture
def gold_version(aws) -> str:
    """A gold zone published on the stand-in's S3 (its tables' files are not needed: COPY is not run)."""
    from stedi import lake

    version = lake.Zone(LAKE, "gold", "run-1")
    version.publish()
    return version.version


@pytest.fixture
def redshift(monkeypatch, gold_version):
    monkeypatch.setenv("STEDI_REDSHIFT_IAM_ROLE", ROLE)
    backend = backend_for("redshift://loader@stedi.abc123.us-east-1.redshift.amazonaws.com:5439/analytics")
    connection = FakeConnection()
    monkeypatch.setattr(backend, "connect", lambda read_only=False: connection)
    catalog = load_catalog()
    load_gold(backend, LAKE, {t.name: 0 for t in catalog.tables}, catalog)
    return backend, connection


def test_every_statement_parses_as_redshift_sql(redshift):
    _, connection = redshift
    assert connection.committed and not connection.rolled_back
    for statement in connection.log:
        sqlglot.parse_one(statement, read="redshift", error_level=sqlglot.ErrorLevel.RAISE)


def test_ddl_keeps_redshift_distribution_and_sort_keys(redshift):
    _, connection = redshift
    creates = [s for s in connection.log if s.upper().startswith(("/*", "CREATE TABLE"))]
    assert creates and all("SORTKEY" in s for s in creates if "CREATE TABLE" in s)


def test_copy_reads_each_gold_prefix_with_the_iam_role_as_parquet(redshift, gold_version):
    _, connection = redshift
    copies = [s for s in connection.log if s.lower().startswith("copy ")]
    tables = [t.name for t in load_catalog().tables]
    assert len(copies) == len(tables)
    for table, copy in zip(tables, copies, strict=True):
        match = re.fullmatch(r"copy (\w+) from '([^']+)' iam_role '([^']+)' format as parquet", copy)
        assert match, copy
        # the version of the gold zone current when the load began, never a path through a moving pointer
        assert match.groups() == (f"staging_{table}", f"{LAKE}/_zones/gold/{gold_version}/{table}/", ROLE)


def test_merge_targets_each_table_on_its_primary_key(redshift):
    _, connection = redshift
    merges = [sqlglot.parse_one(s, read="redshift") for s in connection.log if s.lower().startswith("-- upsert")]
    assert {m.this.name for m in merges} == {t.name for t in load_catalog().tables}
    for merge in merges:
        assert isinstance(merge, exp.Merge)


def test_redshift_needs_an_s3_lake_and_a_role(monkeypatch):
    monkeypatch.setenv("STEDI_REDSHIFT_IAM_ROLE", ROLE)
    backend = backend_for("redshift://loader@host:5439/analytics")
    with pytest.raises(WarehouseConfigError, match="use an s3:// lake"):
        backend.copy_statement("staging_customers", "/tmp/lake/gold/customers")
    monkeypatch.delenv("STEDI_REDSHIFT_IAM_ROLE")
    with pytest.raises(WarehouseConfigError, match="STEDI_REDSHIFT_IAM_ROLE is not set"):
        RedshiftBackend("redshift://loader@host:5439/analytics")
