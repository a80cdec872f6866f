"""A load of changes checks keys on the rows it merged and the parents it retracted, and still fails, rolled
back, on each kind of broken key: the checks scoped to the changes are not weaker than the whole ones."""

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stedi.warehouse.backends import backend_for
from stedi.warehouse.catalog import SQL_DIR, load_catalog
from stedi.warehouse.checks import check_queries
from stedi.warehouse.load import WarehouseCheckError, load_gold
from tests.stedi.warehouse.synthetic_gold import write_gold

CUSTOMERS, READINGS = 4, 12


@pytest.fixture
def loaded(tmp_path) -> tuple[Path, str, dict[str, int]]:
    """A synthetic gold zone, loaded whole into a DuckDB warehouse."""
    lake, url = tmp_path / "lake", f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    expected = write_gold(lake, customers=CUSTOMERS, readings=READINGS)
    load_gold(backend_for(url), str(lake), expected)
    return lake, url, expected


def gold_rows(lake: Path, table: str) -> list[dict]:
    return pq.read_table(lake / "gold" / table).to_pylist()


def changes(lake: Path, upserts: dict[str, list[dict]], retracted: dict[str, list[dict]] | None = None) -> str:
    """A changes folder as gold writes one: every table's upserts and retracted rows (most of them none)."""
    folder = lake / "changes"
    for table in load_catalog().tables:
        schema = pq.read_schema(next((lake / "gold" / table.name).glob("*.parquet")))
        for kind, rows in (("upserts", upserts), ("retracted", retracted or {})):
            (folder / table.name / kind).mkdir(parents=True, exist_ok=True)
            part = pa.Table.from_pylist(rows.get(table.name, []), schema)
            pq.write_table(part, folder / table.name / kind / "part-00000.parquet")
    return str(folder)


def warehouse_rows(url: str) -> dict[str, int]:
    with duckdb.connect(url.removeprefix("duckdb:///"), read_only=True) as db:
        return {t.name: db.sql(f"select count(*) from stedi.{t.name}").fetchone()[0] for t in load_catalog().tables}


def failed_checks(url: str, lake: Path, folder: str, expected: dict[str, int]) -> set[tuple[str, str]]:
    before = warehouse_rows(url)
    with pytest.raises(WarehouseCheckError) as failure:
        load_gold(backend_for(url), str(lake), expected, changes=folder)
    assert warehouse_rows(url) == before  # rolled back
    return {(r.table, r.check) for r in failure.value.failed}


def test_a_clean_load_of_changes_passes_every_check(loaded):
    lake, url, expected = loaded
    reading = gold_rows(lake, "accelerometer_readings")[0]
    moved = {**reading, "x": 42.0}
    result = load_gold(
        backend_for(url), str(lake), expected, changes=changes(lake, {"accelerometer_readings": [moved]})
    )
    assert all(check["passed"] for check in result["checks"]) and len(result["checks"]) > len(expected)


def test_a_merged_reading_of_an_unknown_customer_fails_its_foreign_key(loaded):
    lake, url, expected = loaded
    reading = {**gold_rows(lake, "accelerometer_readings")[0], "customer_key": "f" * 64}
    folder = changes(lake, {"accelerometer_readings": [reading]})
    expected = {**expected, "accelerometer_readings": expected["accelerometer_readings"] + 1}
    assert failed_checks(url, lake, folder, expected) == {
        ("accelerometer_readings", "foreign_key_customer_key_resolves")
    }


def test_a_retracted_customer_whose_rows_stay_fails_their_foreign_keys(loaded):
    lake, url, expected = loaded
    customer = gold_rows(lake, "customers")[0]
    folder = changes(lake, {}, {"customers": [customer]})
    expected = {**expected, "customers": expected["customers"] - 1}
    assert failed_checks(url, lake, folder, expected) == {
        (table, "foreign_key_customer_key_resolves")
        for table in ("customer_consents", "device_ownerships", "accelerometer_readings", "step_trainer_readings")
    }


def test_a_merged_step_reading_of_a_customer_not_owning_the_device_fails_the_ownership_rule(loaded):
    lake, url, expected = loaded
    step = gold_rows(lake, "step_trainer_readings")[0]
    other = next(c["customer_key"] for c in gold_rows(lake, "customers") if c["customer_key"] != step["customer_key"])
    folder = changes(lake, {"step_trainer_readings": [{**step, "customer_key": other}]})
    # the step no longer pairs with its owner's motion at that instant
    expected = {**expected, "machine_learning_training_set": expected["machine_learning_training_set"] - 1}
    assert failed_checks(url, lake, folder, expected) == {("step_trainer_readings", "owner_at_reading_time")}


def test_a_retracted_ownership_under_held_readings_fails_the_ownership_rule(loaded):
    lake, url, expected = loaded
    ownership = gold_rows(lake, "device_ownerships")[0]
    folder = changes(lake, {}, {"device_ownerships": [ownership]})
    expected = {**expected, "device_ownerships": expected["device_ownerships"] - 1}
    assert failed_checks(url, lake, folder, expected) == {("step_trainer_readings", "owner_at_reading_time")}


def test_a_retracted_research_consent_under_held_examples_fails_consenting_customers_only(loaded):
    lake, url, expected = loaded
    consent = next(c for c in gold_rows(lake, "customer_consents") if c["consent_type"] == "research")
    folder = changes(lake, {}, {"customer_consents": [consent]})
    expected = {**expected, "customer_consents": expected["customer_consents"] - 1}
    assert failed_checks(url, lake, folder, expected) == {
        ("machine_learning_training_set", "consenting_customers_only")
    }


@pytest.mark.parametrize("merged", ["step_trainer_readings", "accelerometer_readings"])
def test_a_merged_example_of_a_customer_without_research_consent_fails_consenting_customers_only(loaded, merged):
    """A customer whose research consent went in an earlier load (the held warehouse is then made so):
    a reading merged now that pairs into an example of theirs is one the scoped check looks at."""
    lake, url, expected = loaded
    step = gold_rows(lake, "step_trainer_readings")[0]
    with duckdb.connect(url.removeprefix("duckdb:///")) as db:
        db.execute(f"delete from stedi.customer_consents where customer_key = '{step['customer_key']}'")
    row = (
        step
        if merged == "step_trainer_readings"
        else next(
            r
            for r in gold_rows(lake, merged)
            if (r["customer_key"], r["reading_at"]) == (step["customer_key"], step["reading_at"])
        )
    )
    folder = changes(lake, {merged: [row]})
    expected = {**expected, "customer_consents": expected["customer_consents"] - 1}
    assert failed_checks(url, lake, folder, expected) == {
        ("machine_learning_training_set", "consenting_customers_only")
    }


def test_the_key_checks_of_changes_count_the_merged_keys_redshift_would_not_refuse(tmp_path):
    """Redshift enforces no key (DuckDB and PostgreSQL refuse these rows themselves): the checks' queries
    count a merged key held twice and a merged row without its key, and not a duplicate the load did not
    touch, which the load that brought it would have refused."""
    queries = {
        (table, check): query
        for table, check, query in check_queries(load_catalog(), lambda name: f"stedi.{name}", "duckdb", "stedi", True)
    }
    db = duckdb.connect()
    db.execute("create schema stedi")
    db.execute("create table stedi.devices (serial_number varchar, first_registered_at timestamp)")
    db.execute("insert into stedi.devices values ('merged', null), ('merged', null), ('untouched', null), "
               "('untouched', null), (null, null)")  # fmt: skip
    db.execute("create table staging_devices as select * from stedi.devices where serial_number = 'merged' limit 1")
    db.execute("insert into staging_devices values (null, null)")

    def offending(check: str) -> int:
        return db.sql(queries[("devices", check)]).fetchone()[0]

    assert (offending("primary_key_unique"), offending("primary_key_not_null")) == (1, 1)


def test_every_scoped_invariant_replaces_one_of_the_whole_ones():
    """A file in sql/checks/among_changed/ whose name matches no invariant would never run."""
    checks = SQL_DIR / "checks"
    scoped = sorted(p.name for p in (checks / "among_changed").glob("*.sql"))
    assert scoped and all((checks / name).exists() for name in scoped), scoped
    queries = {(t, c): q for t, c, q in check_queries(load_catalog(), lambda n: f"stedi.{n}", "duckdb", "stedi", True)}
    for name in scoped:
        table, check = name.removesuffix(".sql").split("__", 1)
        assert "staging_" in queries[(table, check)], name
