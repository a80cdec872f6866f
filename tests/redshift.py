"""A Redshift stand-in for loads that COPY from S3 (moto's, through AWS_ENDPOINT_URL): no SQL engine.

It records every statement. A COPY reads the Parquet under its S3 prefix at that moment, so the rows a
staging table holds are the rows that were really there. A warehouse table's count is its staging table's
(a first load into an empty warehouse: the MERGE inserts every staged row, nothing is deleted); a view's is
what the lake's gold recorded for it. Every other query answers 0 offending rows, and no columns for existing tables.
"""

from __future__ import annotations

import io
import re
from typing import Any
from urllib.parse import urlparse

COPY = re.compile(r"copy (\w+) from '(s3://[^']+)' iam_role '[^']+' format as parquet", re.IGNORECASE)
COUNT = re.compile(r"select count\(\*\) from \w+\.(\w+)", re.IGNORECASE)


def read_prefix(s3: Any, uri: str) -> tuple[list[str], Any]:
    """The object names under an s3:// prefix, and their Parquet rows as one pyarrow table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parsed = urlparse(uri)
    listed = s3.list_objects_v2(Bucket=parsed.netloc, Prefix=parsed.path.lstrip("/"))
    keys = sorted(item["Key"] for item in listed.get("Contents", []))
    tables = [pq.read_table(io.BytesIO(s3.get_object(Bucket=parsed.netloc, Key=key)["Body"].read())) for key in keys]
    return [key.rsplit("/", 1)[-1] for key in keys], pa.concat_tables(tables) if tables else None


class RedshiftStandIn:
    """A DB-API connection as redshift_connector gives one, for `RedshiftBackend.connect`."""

    def __init__(self, s3: Any, lake_root: str, fail_on: str | None = None) -> None:
        self.s3, self.lake_root, self.fail_on = s3, lake_root, fail_on
        self.statements: list[str] = []
        self.copied: dict[str, tuple[str, list[str], int]] = {}  # staging table -> (prefix, files, rows)
        self.committed = self.rolled_back = False
        self._answer: Any = (0,)

    def connect(self, read_only: bool = False) -> RedshiftStandIn:
        return self

    def cursor(self) -> RedshiftStandIn:
        return self

    def execute(self, sql: str) -> RedshiftStandIn:
        self.statements.append(sql)
        if self.fail_on and self.fail_on in sql:
            raise RuntimeError(f"the stand-in fails on {self.fail_on!r}")
        self._answer = (0,)
        if match := COPY.fullmatch(sql.strip()):
            staging, prefix = match.groups()
            files, rows = read_prefix(self.s3, prefix)
            self.copied[staging] = (prefix, files, 0 if rows is None else rows.num_rows)
        elif match := COUNT.fullmatch(sql.strip()):
            name = match.group(1)
            copied = self.copied.get(f"staging_{name}")
            self._answer = (copied[2] if copied else self._view_rows(name),)
        return self

    def _view_rows(self, name: str) -> int:
        from stedi import lake

        return lake.zone_manifest(self.lake_root, "gold")["built_from"]["expected_rows"][name]

    def fetchone(self) -> Any:
        return self._answer

    def fetchall(self) -> list[Any]:
        return []  # no table exists yet, nor a gold version it holds

    def commit(self) -> None:
        self.committed = True

    def rollback(self) -> None:
        self.rolled_back = True

    def close(self) -> None:
        pass
