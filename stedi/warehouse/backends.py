"""Warehouse connections, chosen by URL. Each backend says only how it connects, stages and COPYs;
the DDL, MERGE and checks are the same text for all of them (see catalog.py and load.py).

    duckdb:///./warehouse/stedi_warehouse.duckdb   embedded file (created if missing, readable by DuckDB 1.2 on)
    postgresql://user@host:5432/db             psycopg; COPY FROM STDIN
    redshift://user@cluster.example:5439/db    redshift_connector; COPY FROM S3 with an IAM role

Passwords come from the environment or a Prefect Secret block (stedi/secrets.py: REDSHIFT_PASSWORD,
PGPASSWORD, `stedi-warehouse-password`), the IAM role from STEDI_REDSHIFT_IAM_ROLE; never from a file in
the repository. A URL is shown only masked (`display_url`).
"""

from __future__ import annotations

import io
import os
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from stedi import lake
from stedi.secrets import WAREHOUSE_PASSWORD_BLOCK, masked_url, register, warehouse_password
from stedi.text import one_line
from stedi.warehouse.catalog import DEFAULT_SCHEMA, Table, identifier, load_statement

CONNECT_TIMEOUT_S = 10  # an unreachable warehouse is reported in seconds, not after the TCP timeout


class WarehouseConfigError(ValueError):
    pass


class WarehouseUnavailableError(RuntimeError):
    """The warehouse cannot be reached, refuses the connection, or its file is locked: found before any work."""


class Backend(ABC):
    dialect: str

    def __init__(self, url: str, schema: str = DEFAULT_SCHEMA) -> None:
        self.url = url
        self.schema = identifier(schema)
        register(urlparse(url).password)

    @property
    def display_url(self) -> str:
        """The URL without any password, for logs and summaries."""
        return masked_url(self.url)

    def qualified(self, table: str) -> str:
        return f"{self.schema}.{identifier(table)}"

    @abstractmethod
    def connect(self, read_only: bool = False) -> Any:
        """A DB-API connection with autocommit off; `read_only` for readers such as reports."""

    def check(self) -> None:
        """Connect and disconnect, so that a load that could not even begin fails before any work, in one
        line: an unreachable host, a refused login, a locked file."""
        try:
            self.connect().close()
        except WarehouseConfigError:
            raise
        except Exception as error:
            raise WarehouseUnavailableError(
                f"cannot connect to the warehouse {self.display_url}: {one_line(error)}"
            ) from None

    def create_staging(self, cursor: Any, staging: str, table: Table) -> None:
        statement = load_statement(f"create_staging_{self.dialect}")
        cursor.execute(statement.format(staging=staging, target=self.qualified(table.name)))

    @abstractmethod
    def copy_into(self, cursor: Any, staging: str, table: Table, gold_path: str) -> None:
        """Load the table's gold Parquet (columns in DDL order) into `staging`."""

    def begin(self, connection: Any) -> None:  # noqa: B027 - a default that does nothing, on purpose
        """Start the load's transaction (DB-API drivers start one implicitly)."""


class DuckDBBackend(Backend):
    dialect = "duckdb"
    # The storage format of a file this backend creates: DuckDB 1.2's (header version 65), which every
    # DuckDB client from 1.2.0 on opens (CLI, Python, JDBC as in DBeaver; checked: 1.2.2, 1.3.2, 1.4.5,
    # 1.5.6, 2.0.0). Left to itself, DuckDB picks the format by its own release: 1.5.6 writes 64, 2.0.0
    # writes 69, which older clients refuse (1.5.6: "version number 69, but we can only read versions
    # between 64 and 68"). Not 64 (v0.10.0 to v1.1.3): 1.4.5 and 1.5.6 crash (SIGSEGV at commit) on the
    # third load into such a file when it deletes rows (tests/stedi/warehouse/test_duckdb_file.py), and
    # DuckDB 1.0 cannot read the primary-key indexes they write into it anyway.
    storage_version = "v1.2.0"

    def __init__(self, url: str, schema: str = DEFAULT_SCHEMA) -> None:
        super().__init__(url, schema)
        self.path = Path(url.removeprefix("duckdb:///") or "warehouse/stedi_warehouse.duckdb")
        if self.path.stem.lower() == self.schema:
            raise WarehouseConfigError(
                f"warehouse file {self.path.name!r} is named like its schema {self.schema!r}: DuckDB names a file's "
                f"catalog after the file, so `{self.schema}.<table>` would be ambiguous for anyone who opens it; "
                "choose another file name, e.g. stedi_warehouse.duckdb"
            )

    def check(self) -> None:
        """An existing file is opened for writing (another process holding it fails here, naming itself);
        a new one needs a folder this process can create it in."""
        if self.path.exists():
            super().check()
            return
        folder = next(p for p in (self.path.parent, *self.path.parent.parents) if p.exists())
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise WarehouseUnavailableError(
                f"cannot create the warehouse {self.path}: {folder} is not a folder this user can write in"
            )

    def connect(self, read_only: bool = False) -> Any:
        import duckdb

        if read_only and not self.path.is_file():
            raise WarehouseConfigError(f"no warehouse at {self.path}: run `stedi run` first")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Attached under a fixed name, so the SQL never depends on the file's name. The storage version is
        # chosen only when the file is created: an existing file keeps its own (DuckDB cannot lower it).
        options = ["read_only"] if read_only else []
        if not self.path.exists():
            options.append(f"storage_version '{self.storage_version}'")
        connection = duckdb.connect()
        attach_options = f" ({', '.join(options)})" if options else ""
        connection.execute(f"attach '{_quote(str(self.path))}' as warehouse{attach_options}")
        connection.execute("use warehouse")
        return _DuckDBConnection(connection)

    def copy_into(self, cursor: Any, staging: str, table: Table, gold_path: str) -> None:
        # By position, as Redshift's COPY does: a column-order mismatch fails here too, not only in production.
        cursor.execute(load_statement("copy_duckdb").format(staging=staging, files=_quote(_parquet_glob(gold_path))))

    def begin(self, connection: Any) -> None:
        connection.execute("begin transaction")


class PostgresBackend(Backend):
    dialect = "postgres"

    def connect(self, read_only: bool = False) -> Any:
        import psycopg

        password = None if urlparse(self.url).password else warehouse_password("PGPASSWORD")
        return psycopg.connect(
            self.url, connect_timeout=CONNECT_TIMEOUT_S, **({"password": password} if password else {})
        )

    def copy_into(self, cursor: Any, staging: str, table: Table, gold_path: str) -> None:
        columns = ", ".join(table.column_names)
        statement = load_statement("copy_postgres").format(staging=staging, columns=columns)
        with cursor.copy(statement) as copy:  # `cursor` records it
            copy.write(_parquet_as_csv(gold_path, table))


class RedshiftBackend(Backend):
    dialect = "redshift"

    def __init__(self, url: str, schema: str = DEFAULT_SCHEMA) -> None:
        super().__init__(url, schema)
        parsed = urlparse(url)
        if not (parsed.hostname and parsed.path.strip("/") and parsed.username):
            raise WarehouseConfigError("redshift URL must be redshift://USER@HOST[:PORT]/DATABASE")
        self.host, self.port = parsed.hostname, parsed.port or 5439
        self.database, self.user = parsed.path.strip("/"), unquote(parsed.username)
        self.iam_role = _required_env("STEDI_REDSHIFT_IAM_ROLE", "the IAM role Redshift assumes to read the lake")

    def connect(self, read_only: bool = False) -> Any:
        import redshift_connector

        password = warehouse_password("REDSHIFT_PASSWORD")
        if not password:
            raise WarehouseConfigError(
                "REDSHIFT_PASSWORD is not set, nor the Prefect Secret block "
                f"{WAREHOUSE_PASSWORD_BLOCK!r}: one must hold the Redshift user's password"
            )
        return redshift_connector.connect(
            host=self.host,
            port=self.port,
            database=self.database,
            user=self.user,
            password=password,
            timeout=CONNECT_TIMEOUT_S,
        )

    def copy_into(self, cursor: Any, staging: str, table: Table, gold_path: str) -> None:
        cursor.execute(self.copy_statement(staging, gold_path))

    def copy_statement(self, staging: str, gold_path: str) -> str:
        if not gold_path.startswith("s3://"):
            raise WarehouseConfigError(f"Redshift loads from S3; the gold table is at {gold_path} (use an s3:// lake)")
        prefix = gold_path.rstrip("/") + "/"
        return load_statement("copy_redshift").format(
            staging=staging, prefix=_quote(prefix), iam_role=_quote(self.iam_role)
        )


class _DuckDBConnection:
    """DuckDB's connection is its own cursor; this gives it the DB-API shape the load uses."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def cursor(self) -> Any:
        return self._connection

    def execute(self, sql: str) -> Any:
        return self._connection.execute(sql)

    def commit(self) -> None:
        self._connection.execute("commit")

    def rollback(self) -> None:
        self._connection.execute("rollback")

    def close(self) -> None:
        self._connection.close()


def is_transient(error: BaseException) -> bool:
    """Whether a failed load may pass when tried again: a lost connection, a file another process holds for
    a moment, a server shutting down or out of resources. SQL errors, failed checks and refused logins fail
    the same way every time: they are not retried."""
    drivers = sys.modules  # a driver never imported raised nothing
    if "duckdb" in drivers and isinstance(error, drivers["duckdb"].Error):
        return isinstance(error, drivers["duckdb"].IOException) and "Could not set lock" in str(error)
    if "psycopg" in drivers and isinstance(error, drivers["psycopg"].Error):
        if not isinstance(error, drivers["psycopg"].OperationalError):
            return False
        state = getattr(error, "sqlstate", None)
        if state is not None:  # 08: connection exception, 40: rollbacks (deadlock, serialization),
            return state[:2] in ("08", "40", "53", "57")  # 53: insufficient resources, 57: shutdown
        # No SQLSTATE: a connection that failed or was lost. When the server answered, it refused us
        # (a password, a database or role that does not exist), and will again, unless it was busy.
        text = str(error)
        return "FATAL:" not in text or any(passing in text for passing in _PASSING_REFUSALS)
    if "redshift_connector" in drivers and isinstance(error, drivers["redshift_connector"].Error):
        return isinstance(error, drivers["redshift_connector"].InterfaceError)  # the network, not the SQL
    return isinstance(error, (ConnectionError, TimeoutError))


# What PostgreSQL answers, at connection time, when trying again later may pass.
_PASSING_REFUSALS = (
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "too many clients already",
    "remaining connection slots are reserved",
)


def backend_for(url: str, schema: str = DEFAULT_SCHEMA) -> Backend:
    scheme = urlparse(url).scheme
    backends = {
        "duckdb": DuckDBBackend,
        "postgresql": PostgresBackend,
        "postgres": PostgresBackend,
        "redshift": RedshiftBackend,
    }
    if scheme not in backends:
        raise WarehouseConfigError(
            f"unsupported warehouse URL {masked_url(url)!r}: use duckdb:///PATH, postgresql://USER@HOST:PORT/DB "
            "or redshift://USER@HOST:PORT/DB"
        )
    return backends[scheme](url, schema)


def _required_env(name: str, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise WarehouseConfigError(f"{name} is not set: it must hold {what}")
    return value


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _parquet_glob(gold_path: str) -> str:
    return lake.join(gold_path, "*.parquet")


def _parquet_as_csv(gold_path: str, table: Table) -> bytes:
    """The table's Parquet as CSV for COPY FROM STDIN: NULL unquoted-empty, every value quoted."""
    import pyarrow.csv as pacsv
    import pyarrow.dataset as ds

    # One chunk per table: pyarrow's CSV writer emits NUL bytes for an empty chunk (an empty part file)
    # followed by a quoted boolean.
    data = ds.dataset(gold_path, format="parquet").to_table(columns=table.column_names).combine_chunks()
    buffer = io.BytesIO()
    pacsv.write_csv(data, buffer, pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))
    return buffer.getvalue()
