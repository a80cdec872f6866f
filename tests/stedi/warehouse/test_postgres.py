"""Loads into PostgreSQL (the server on 127.0.0.1:5432), each test in a database of its own."""

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stedi.warehouse.backends import backend_for
from stedi.warehouse.catalog import load_catalog
from stedi.warehouse.checks import WarehouseCheckError
from stedi.warehouse.load import load_gold
from stedi.warehouse.reports import list_reports, run_report

pytestmark = pytest.mark.integration


def expected_rows(summary: dict) -> dict:
    return dict(summary["warehouse"]["tables"])


def snapshot(url: str) -> dict:
    import psycopg

    with psycopg.connect(url) as connection:
        return {
            t.name: sorted(connection.execute(f"select * from stedi.{t.name}").fetchall(), key=repr)
            for t in load_catalog().tables
        }


def test_load_twice_gives_the_same_tables_and_every_report_answers(sample_runs, postgres_database):
    backend = backend_for(postgres_database)
    first = load_gold(backend, str(sample_runs["lake"]), expected_rows(sample_runs["first"]))
    before = snapshot(postgres_database)
    second = load_gold(backend, str(sample_runs["lake"]), expected_rows(sample_runs["first"]))
    assert first["tables"] == second["tables"] == sample_runs["first"]["warehouse"]["tables"]
    assert all(check["passed"] for check in second["checks"])
    assert snapshot(postgres_database) == before
    for report in list_reports():
        columns, rows = run_report(backend, report)
        assert columns and rows, report.name


def test_load_failing_half_way_leaves_the_previous_tables(sample_runs, postgres_database, tmp_path):
    backend = backend_for(postgres_database)
    load_gold(backend, str(sample_runs["lake"]), expected_rows(sample_runs["first"]))
    before = snapshot(postgres_database)

    # A changed customers table that MERGEs fine, then a step_trainer_readings file COPY cannot read.
    broken = tmp_path / "lake"
    shutil.copytree(sample_runs["lake"] / "gold", broken / "gold")
    customers = pq.read_table(broken / "gold" / "customers")
    renamed = customers.set_column(2, "customer_name", pa.array(["Renamed"] * customers.num_rows))
    for part in (broken / "gold" / "customers").glob("*.parquet"):
        part.unlink()
    pq.write_table(renamed, broken / "gold" / "customers" / "part-0.parquet")
    for part in (broken / "gold" / "step_trainer_readings").glob("*.parquet"):
        part.write_bytes(b"not parquet")

    with pytest.raises(pa.ArrowInvalid, match="Parquet magic bytes not found"):  # the COPY's input, mid-load
        load_gold(backend, str(broken), expected_rows(sample_runs["first"]))
    assert snapshot(postgres_database) == before


def test_failed_check_names_the_table_and_count_and_commits_nothing(sample_runs, postgres_database):
    backend = backend_for(postgres_database)
    wrong = expected_rows(sample_runs["first"]) | {"devices": 957}
    with pytest.raises(WarehouseCheckError, match="devices: row_count: 956 rows in the warehouse, 957 expected"):
        load_gold(backend, str(sample_runs["lake"]), wrong)
    import psycopg

    with psycopg.connect(postgres_database) as connection:
        assert connection.execute("select count(*) from pg_tables where schemaname = 'stedi'").fetchone()[0] == 0
