"""Times `stedi run` on the sample, and the warehouse load alone into DuckDB and into PostgreSQL.

    .venv/bin/python bench/bench_run.py [--runs N] [--postgres URL]

`stedi run` is timed as a user runs it: a fresh process each time (JVM start-up and Prefect's
temporary API included), after one unmeasured run that creates the Prefect database. The loads are
timed on the gold that run produced: a fresh DuckDB file, and a fresh PostgreSQL database, each time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

STEDI = Path(sys.executable).with_name("stedi")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def stedi_run(workdir: Path, env: dict[str, str]) -> None:
    command = [
        str(STEDI),
        "run",
        "--lake",
        str(workdir / "lake"),
        "--summary",
        str(workdir / "summary.json"),
        "--warehouse",
        f"duckdb:///{workdir / 'warehouse.duckdb'}",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"stedi run failed:\n{result.stderr[-2000:]}")


def load_duckdb(lake: str, expected: dict[str, int], folder: Path) -> None:
    from stedi.warehouse.backends import backend_for
    from stedi.warehouse.load import load_gold

    load_gold(backend_for(f"duckdb:///{folder / f'{uuid.uuid4().hex}.duckdb'}"), lake, expected)


def load_postgres(lake: str, expected: dict[str, int], server: str) -> None:
    import psycopg

    from stedi.warehouse.backends import backend_for
    from stedi.warehouse.load import load_gold

    name = f"stedi_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"create database {name}")
    try:
        load_gold(backend_for(server.rsplit("/", 1)[0] + f"/{name}"), lake, expected)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"drop database if exists {name} with (force)")


def report(label: str, times: list[float]) -> None:
    print(f"  {label:<38} median {statistics.median(times):6.2f} s   min {min(times):6.2f} s   max {max(times):6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get("STEDI_TEST_POSTGRES", DEFAULT_POSTGRES))
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stedi-bench-") as tmp:
        workdir = Path(tmp)
        env = {**os.environ, "PREFECT_HOME": str(workdir / "prefect-home")}
        env.pop("PREFECT_API_URL", None)
        stedi_run(workdir, env)  # unmeasured: creates the Prefect database
        runs = [timed(lambda: stedi_run(workdir, env)) for _ in range(options.runs)]
        expected = json.loads((workdir / "summary.json").read_text())["warehouse"]["tables"]
        lake = str(workdir / "lake")
        duckdb_loads = [timed(lambda: load_duckdb(lake, expected, workdir)) for _ in range(options.runs)]
        try:
            postgres_loads = [
                timed(lambda: load_postgres(lake, expected, options.postgres)) for _ in range(options.runs)
            ]
        except Exception as error:  # no server here: say so, keep the other figures
            postgres_loads, postgres_error = [], f"{type(error).__name__}: {error}".splitlines()[0]
    print(f"STEDI sample ({os.cpu_count()} cores), {options.runs} runs each:")
    report("stedi run (bronze..warehouse, DuckDB)", runs)
    report("load gold into DuckDB (new file)", duckdb_loads)
    if postgres_loads:
        report("load gold into PostgreSQL (new database)", postgres_loads)
    else:
        print(f"  load gold into PostgreSQL: skipped ({postgres_error})")


if __name__ == "__main__":
    main()
