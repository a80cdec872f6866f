"""Loads at volume into every local backend: half a million rows in each reading table, twice.

duckdb 2.0.0 merged nothing from a staging table of 122,880 rows or more (pyproject.toml); the sample's
tables are smaller than that, so only a load at volume can catch such a defect. The second load MERGEs
over the rows the first one inserted (every row matched, none inserted).
"""

import time

import pytest

from stedi.warehouse.backends import backend_for
from stedi.warehouse.load import load_gold
from tests.stedi.warehouse.synthetic_gold import write_gold

pytestmark = pytest.mark.integration

READINGS = 500_000  # rows in each reading table: four DuckDB row groups of 122,880 and more
CUSTOMERS = 2_000


@pytest.fixture(scope="module")
def volume_gold(tmp_path_factory) -> tuple[str, dict[str, int]]:
    lake = tmp_path_factory.mktemp("volume") / "lake"
    return str(lake), write_gold(lake, customers=CUSTOMERS, readings=READINGS)


def load_twice(url: str, lake: str, expected: dict[str, int]) -> list[float]:
    seconds = []
    for _ in range(2):
        started = time.monotonic()
        result = load_gold(backend_for(url), lake, expected)
        seconds.append(time.monotonic() - started)
        assert result["tables"] == expected  # load_gold has checked them too: this says which differ
        assert all(check["passed"] for check in result["checks"])
    return seconds


def test_expected_counts_are_the_volume_asked_for(volume_gold):
    _, expected = volume_gold
    assert expected["accelerometer_readings"] == expected["step_trainer_readings"] == READINGS
    assert expected["machine_learning_training_set"] == READINGS
    assert expected["customers"] == expected["devices"] == expected["device_ownerships"] == CUSTOMERS


def test_duckdb_loads_every_row_twice(volume_gold, tmp_path):
    lake, expected = volume_gold
    seconds = load_twice(f"duckdb:///{tmp_path / 'volume_warehouse.duckdb'}", lake, expected)
    print(f"duckdb: {READINGS:,} rows per reading table, loads took {seconds[0]:.1f} s and {seconds[1]:.1f} s")


def test_postgres_loads_every_row_twice(volume_gold, postgres_database):
    lake, expected = volume_gold
    seconds = load_twice(postgres_database, lake, expected)
    print(f"postgresql: {READINGS:,} rows per reading table, loads took {seconds[0]:.1f} s and {seconds[1]:.1f} s")
