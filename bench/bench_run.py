"""Times `stedi run` on the shipped sample: median wall time of several runs, as a user runs it.

    .venv/bin/python bench/bench_run.py [--runs N]

Each run is a fresh process (JVM start-up, Prefect's temporary API and all); one unmeasured run first
creates the Prefect database so that migrations are not counted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEDI = Path(sys.executable).with_name("stedi")


def time_run(workdir: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [str(STEDI), "run", "--lake", str(workdir / "lake")], env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"stedi run failed:\n{result.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="stedi-bench-") as tmp:
        workdir = Path(tmp)
        env = {**os.environ, "PREFECT_HOME": str(workdir / "prefect-home")}
        env.pop("PREFECT_API_URL", None)
        time_run(workdir, env)  # warm-up: creates the Prefect database
        times = [time_run(workdir, env) for _ in range(runs)]
    print(f"stedi run on the sample ({os.cpu_count()} cores), {runs} runs:")
    print(f"  median {statistics.median(times):.1f} s   min {min(times):.1f} s   max {max(times):.1f} s")


if __name__ == "__main__":
    main()
