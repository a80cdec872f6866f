"""A failed load is retried only when trying again may pass: never for SQL or data that fail the same way."""

from __future__ import annotations

import duckdb
import psycopg
import pytest
import redshift_connector

from stedi.warehouse.backends import is_transient
from stedi.warehouse.checks import WarehouseCheckError
from stedi.warehouse.load import GoldSchemaError


def duckdb_error(sql: str) -> Exception:
    with pytest.raises(duckdb.Error) as caught:
        duckdb.connect().execute(sql)
    return caught.value


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (duckdb_error("select * from no_such_table"), False),  # a deterministic SQL error: fails every time
        (duckdb_error("select 1 +"), False),
        (duckdb.IOException('IO Error: Could not set lock on file "w.duckdb": Conflicting lock is held'), True),
        (duckdb.IOException("IO Error: No space left on device"), False),
        (psycopg.errors.UndefinedTable("relation does not exist"), False),
        (psycopg.errors.InvalidPassword("password authentication failed"), False),
        (psycopg.OperationalError("connection failed: server closed the connection unexpectedly"), True),
        (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
        (psycopg.errors.DeadlockDetected("deadlock detected"), True),
        (redshift_connector.InterfaceError("communication error"), True),
        (redshift_connector.ProgrammingError({"S": "ERROR", "C": "42P01"}), False),
        (WarehouseCheckError([]), False),  # the data failed its checks
        (GoldSchemaError("columns differ"), False),
        (ConnectionResetError(104, "Connection reset by peer"), True),
    ],
)
def test_only_what_may_pass_when_tried_again_is_transient(error, transient):
    assert is_transient(error) is transient
