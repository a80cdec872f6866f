"""The DuckDB warehouse file as its users open it: `duckdb.connect(path)`, the CLI, DBeaver."""

import struct
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from stedi.settings import DEFAULT_WAREHOUSE
from stedi.warehouse.backends import DuckDBBackend, WarehouseConfigError, backend_for
from stedi.warehouse.catalog import load_catalog
from stedi.warehouse.load import load_gold
from tests.stedi.warehouse.synthetic_gold import write_gold

# DuckDB's storage version 65 (STORAGE_VERSION 'v1.2.0'): every DuckDB from 1.2.0 on reads it. Left to
# itself, DuckDB 1.5.6 writes 64 and 2.0.0 writes 69 (which 1.5.6 refuses).
READABLE_FROM_1_2 = 65


def storage_version(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[8:12] == b"DUCK", header
    return struct.unpack("<Q", header[12:20])[0]


@pytest.fixture(scope="module")
def small_gold(tmp_path_factory) -> tuple[str, dict[str, int]]:
    lake = tmp_path_factory.mktemp("small") / "lake"
    return str(lake), write_gold(lake, customers=20, readings=500)


@pytest.fixture(scope="module")
def loaded_file(small_gold, tmp_path_factory) -> tuple[Path, dict[str, int]]:
    lake, expected = small_gold
    path = tmp_path_factory.mktemp("warehouse") / "stedi_warehouse.duckdb"
    load_gold(backend_for(f"duckdb:///{path}"), lake, expected)
    return path, expected


def test_file_opened_directly_answers_for_every_table_and_the_view(loaded_file):
    path, expected = loaded_file
    catalog = load_catalog()
    names = [t.name for t in catalog.tables] + [v.name for v in catalog.views]
    with duckdb.connect(str(path), read_only=True) as db:  # as a user opens it: catalog named after the file
        counts = {name: db.execute(f"select count(*) from stedi.{name}").fetchall()[0][0] for name in names}
    assert counts == expected


def test_file_is_written_in_the_storage_version_chosen(loaded_file):
    path, _ = loaded_file
    assert DuckDBBackend.storage_version == "v1.2.0"
    assert storage_version(path) == READABLE_FROM_1_2


def test_existing_file_keeps_its_storage_version(small_gold, tmp_path):
    # DuckDB cannot lower a file's version: a file created in a newer format (68, DuckDB 1.5) stays so.
    lake, expected = small_gold
    path = tmp_path / "newer.duckdb"
    with duckdb.connect() as db:
        db.execute(f"attach '{path}' as newer (storage_version 'v1.5.0')")
    load_gold(backend_for(f"duckdb:///{path}"), lake, expected)
    assert storage_version(path) == 68


LOAD_IN_A_PROCESS = """
import sys
from stedi.warehouse.backends import backend_for
from stedi.warehouse.load import load_gold
from tests.stedi.warehouse.synthetic_gold import write_gold
path, lake, readings, policy = sys.argv[1:]
expected = write_gold(__import__("pathlib").Path(lake), customers=20, readings=int(readings), consent_policy=policy)
print(load_gold(backend_for("duckdb:///" + path), lake, expected)["tables"])
"""


def test_loads_that_update_then_delete_rows_keep_the_file_usable(tmp_path):
    # In storage version 64, duckdb 1.4.5 and 1.5.6 died of SIGSEGV committing the third of these loads
    # (a new file, the same snapshot again, then a narrower snapshot: fewer readings, another consent
    # policy), as the README's Deploy walkthrough does after `make run`. Each load runs in a process of
    # its own, so that a crash fails this test instead of ending the test session.
    path = tmp_path / "stedi_warehouse.duckdb"
    repo = Path(__file__).resolve().parents[3]
    for number, (readings, policy) in enumerate([(500, "ever"), (500, "ever"), (390, "as-of")], start=1):
        load = subprocess.run(
            [
                sys.executable,
                "-c",
                LOAD_IN_A_PROCESS,
                str(path),
                str(tmp_path / f"lake-{number}"),
                str(readings),
                policy,
            ],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert load.returncode == 0, f"load {number} exited {load.returncode}:\n{load.stdout}\n{load.stderr[-3000:]}"
    with duckdb.connect(str(path), read_only=True) as db:
        assert db.execute("select count(*) from stedi.accelerometer_readings").fetchall() == [(390,)]
        assert db.execute("select consent_policy from stedi.lake_snapshot").fetchall() == [("as-of",)]


@pytest.mark.parametrize(
    ("url", "schema"),
    [
        ("duckdb:///warehouse/stedi.duckdb", "stedi"),  # the name this project used before
        ("duckdb:////tmp/STEDI.duckdb", "stedi"),  # DuckDB's identifiers ignore letter case
        ("duckdb:///analytics.duckdb", "analytics"),  # any schema, not only the default one
    ],
)
def test_file_named_like_the_schema_is_refused_in_one_line(url, schema):
    with pytest.raises(WarehouseConfigError, match="ambiguous") as error:
        backend_for(url, schema)
    assert "\n" not in str(error.value)


def test_default_warehouse_file_is_not_named_like_the_schema():
    backend = backend_for(DEFAULT_WAREHOUSE)
    assert backend.path.stem != backend.schema
