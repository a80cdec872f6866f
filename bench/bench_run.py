"""Times `stedi run` on the sample, and the warehouse load alone into DuckDB and into PostgreSQL.

    .venv/bin/python bench/bench_run.py [--runs N] [--postgres URL]

`stedi run` is timed as a user runs it, a fresh process and a new lake (a full run) each time, after one
unmeasured run that creates the Prefect database: with the local Prefect server up (any run within its
idle time of the one before), with it not up (the run starts it), with a temporary API per run
(STEDI_PREFECT_API_IDLE_MINUTES=0), and a run with nothing new (the same lake again, server up). The
loads are timed on the gold a run produced: a fresh DuckDB file, and a fresh PostgreSQL database, each
time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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


def stedi_run(workdir: Path, env: dict[str, str], new_lake: bool = True) -> None:
    if new_lake:
        shutil.rmtree(workdir / "lake", ignore_errors=True)
        (workdir / "warehouse.duckdb").unlink(missing_ok=True)
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
    print(f"  {label:<40} median {statistics.median(times):6.2f} s   min {min(times):6.2f} s   max {max(times):6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get("STEDI_TEST_POSTGRES", DEFAULT_POSTGRES))
    options = parser.parse_args()
    from stedi.prefect_api import IDLE_MINUTES_ENV, stop_local_server

    with tempfile.TemporaryDirectory(prefix="stedi-bench-") as tmp:
        workdir = Path(tmp)
        home = workdir / "prefect-home"
        env = {**os.environ, "PREFECT_HOME": str(home)}
        env.pop("PREFECT_API_URL", None)
        env.pop(IDLE_MINUTES_ENV, None)
        try:
            stedi_run(workdir, env)  # unmeasured: creates the Prefect database, starts the local server
            up = [timed(lambda: stedi_run(workdir, env)) for _ in range(options.runs)]
            nothing_new = [timed(lambda: stedi_run(workdir, env, new_lake=False)) for _ in range(options.runs)]

            def server_not_up() -> None:
                stop_local_server(home)
                stedi_run(workdir, env)

            not_up = [timed(server_not_up) for _ in range(options.runs)]  # the stop is timed too: ~0.1 s
        finally:
            stop_local_server(home)
        temporary = [timed(lambda: stedi_run(workdir, {**env, IDLE_MINUTES_ENV: "0"})) for _ in range(options.runs)]
        expected = json.loads((workdir / "summary.json").read_text())["warehouse"]["tables"]
        lake = str(workdir / "lake")
        duckdb_loads = [timed(lambda: load_duckdb(lake, expected, workdir)) for _ in range(options.runs)]
        try:
            postgres_loads = [
                timed(lambda: load_postgres(lake, expected, options.postgres)) for _ in range(options.runs)
            ]
        except Exception as error:  # no server here: say so, keep the other figures
            postgres_loads, postgres_error = [], f"{type(error).__name__}: {error}".splitlines()[0]
    print(f"STEDI sample ({os.cpu_count()} cores), {options.runs} runs each; stedi run: bronze..warehouse (DuckDB):")
    report("stedi run, local Prefect server up", up)
    report("stedi run, the server not up", not_up)
    report("stedi run, a temporary API", temporary)
    report("stedi run, nothing new (server up)", nothing_new)
    report("load gold into DuckDB (new file)", duckdb_loads)
    if postgres_loads:
        report("load gold into PostgreSQL (new database)", postgres_loads)
    else:
        print(f"  load gold into PostgreSQL: skipped ({postgres_error})")


if __name__ == "__main__":
    main()
