"""Loads into DuckDB beyond the sample run: a warehouse left by an older release."""

import duckdb
import pytest

from stedi.warehouse.backends import backend_for
from stedi.warehouse.load import load_gold

pytestmark = pytest.mark.integration


def test_table_with_columns_of_an_older_release_is_recreated(sample_runs, tmp_path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as old:  # customers as it was before the birthday flag existed
        old.execute("create schema stedi")
        old.execute("create table stedi.customers (customer_key varchar primary key, customer_email varchar)")
        old.execute("insert into stedi.customers values ('k', 'gone@x.com')")
    expected = dict(sample_runs["first"]["warehouse"]["tables"])
    result = load_gold(backend_for(f"duckdb:///{path}"), str(sample_runs["lake"]), expected)
    assert result["recreated"] == ["customers"]
    assert result["tables"] == expected
    again = load_gold(backend_for(f"duckdb:///{path}"), str(sample_runs["lake"]), expected)
    assert again["recreated"] == []
