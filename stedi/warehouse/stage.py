"""Gold staged on S3 for a warehouse that loads only from S3 (Redshift's COPY) when the lake is a folder.

A table's Parquet files go to the same place under the stage as under the lake, so a staged COPY path
names the gold version it loads, as one from an s3:// lake does:

    <lake>/_zones/gold/<version>/<table>/                     -> <stage>/_zones/gold/<version>/<table>/
    <lake>/_zones/gold/<version>/_changes/<table>/upserts/    -> <stage>/_zones/gold/<version>/_changes/...

Only the Parquet files are staged: what COPY reads, not the engine's markers. The load stages every table
before it connects to the warehouse, and removes what it staged once it has ended, committed or not (a
retry stages again); a dry run leaves it for inspection.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from stedi import aws, lake
from stedi.warehouse.backends import WarehouseConfigError

UPLOADS_AT_ONCE = 4  # each file one managed upload (multipart above 8 MB); S3 takes them in parallel


@dataclass
class Stage:
    lake_root: str  # a local folder
    root: str  # s3://bucket/prefix
    staged: list[str] = field(default_factory=list)  # the s3:// folders put so far

    def __post_init__(self) -> None:
        if not self.root.startswith("s3://") or not urlparse(self.root).netloc:
            raise WarehouseConfigError(f"the warehouse stage must be s3://BUCKET[/PREFIX], got {self.root!r}")
        if not lake.is_local(self.lake_root):
            raise WarehouseConfigError(
                f"the lake {self.lake_root} is on S3 already: the warehouse COPYs from it; leave the stage unset"
            )
        self.root = self.root.rstrip("/")

    def path_of(self, table_path: str) -> str:
        """Where the table at `table_path`, a folder under the lake, is staged."""
        root = self.lake_root.rstrip("/")
        if not table_path.startswith(root + "/"):
            raise ValueError(f"{table_path} is not under the lake {self.lake_root}")
        return lake.join(self.root, table_path[len(root) + 1 :])

    def located(self, table_path: str) -> str:
        """The s3:// folder the COPY of the table at `table_path` reads: staged now if it is not yet (a load
        that recreates a table loads its whole snapshot, not the changes staged for it)."""
        target = self.path_of(table_path)
        return target if target in self.staged else self.put(table_path)

    def put(self, table_path: str) -> str:
        """Upload the table's Parquet files; returns the s3:// folder the COPY reads."""
        target = self.path_of(table_path)
        folder = Path(table_path)
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(".parquet"))
        if not files:  # every gold table and change set is written with at least one (maybe empty) file
            raise FileNotFoundError(f"no Parquet files to stage in {table_path}")
        parsed = urlparse(target)
        client, prefix = aws.client("s3"), parsed.path.strip("/")
        self.staged.append(target)  # before the uploads: a failed one leaves the others to remove
        with ThreadPoolExecutor(UPLOADS_AT_ONCE) as uploads:
            list(uploads.map(lambda p: client.upload_file(str(p), parsed.netloc, f"{prefix}/{p.name}"), files))
        return target

    def remove(self) -> None:
        """Remove every folder this stage put."""
        for target in self.staged:
            lake.remove_tree(target)
        self.staged.clear()
