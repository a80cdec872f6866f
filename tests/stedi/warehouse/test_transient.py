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
        # what psycopg raises when connecting: no SQLSTATE, only the server's words
        (
            psycopg.OperationalError(
                'connection failed: connection to server at "db", port 5432 failed: FATAL:  '
                'password authentication failed for user "loader"'
            ),
            False,
        ),
        (
            psycopg.OperationalError(
                'connection failed: connection to server at "db", port 5432 failed: FATAL:  database "x" does not exist'
            ),
            False,
        ),
        (
            psycopg.OperationalError(
                'connection failed: connection to server at "db", port 5432 failed: FATAL:  '
                "the database system is starting up"
            ),
            True,
        ),
        (
            psycopg.OperationalError(
                'connection failed: connection to server at "db", port 5432 failed: Connection refused'
            ),
            True,
        ),
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


def test_a_database_the_server_does_not_have_is_not_worth_retrying(postgres_server):
    """What psycopg really raises when the server refuses a connection: no SQLSTATE, only its words."""
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(postgres_server.rsplit("/", 1)[0] + "/stedi_no_such_database", connect_timeout=5)
    assert refused.value.sqlstate is None and not is_transient(refused.value)
