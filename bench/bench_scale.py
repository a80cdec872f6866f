"""`stedi run` at volume beside the plain references, measured in one run: `make bench-scale`.

    .venv/bin/python bench/bench_scale.py [--scales 10 100] [--work DIR] [--references ../shared/bench]

For each scale N it builds a landing of N copies of the bundled sample (each copy's files under a name
of their own, decompressed: the references read `*.json`), then times, one after the other:

    stedi run                the default engine, every guarantee, the warehouse loaded into DuckDB
    stedi run --engine spark the same on Apache Spark in a local JVM
    reference_duckdb.py      the same curation in one DuckDB process: the single-machine floor
    plain_pyspark.py         the same curation as one plain PySpark application

and prints wall seconds, peak memory (the resident memory of the whole process tree, sampled), the ratios
the issue's targets are stated in, and where `stedi run`'s time went, per stage. An unmeasured first run
starts the local Prefect server (stedi/prefect_api.py), which the measured runs use, as a user's later
runs do: it is not in their process tree (about 0.2 GB resident); the bench stops it at the end.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from stedi.prefect_api import IDLE_MINUTES_ENV, stop_local_server

ROOT = Path(__file__).resolve().parent.parent
STEDI = Path(sys.executable).with_name("stedi")
SAMPLE = ROOT / "stedi" / "sample"
SOURCES = ("customer", "accelerometer", "step_trainer")


@dataclass
class Measured:
    label: str
    wall_s: float
    peak_gb: float
    stages: dict[str, float] | None = None


def copies_landing(root: Path, copies: int) -> Path:
    """`copies` copies of the sample's files (hard links to one decompressed copy: no disk per copy)."""
    landing = root / f"landing-{copies}x"
    if (landing / ".complete").exists():
        return landing
    shutil.rmtree(landing, ignore_errors=True)
    plain = root / "sample-plain"
    for source in SOURCES:
        (plain / source).mkdir(parents=True, exist_ok=True)
        folder = landing / source / "landing"
        folder.mkdir(parents=True)
        for packed in sorted((SAMPLE / source / "landing").glob("*.json.gz")):
            text = plain / source / packed.name.removesuffix(".gz")
            if not text.exists():
                text.write_bytes(gzip.decompress(packed.read_bytes()))
            for copy in range(copies):
                os.link(text, folder / f"{text.stem}-copy{copy:04d}.json")
    (landing / ".complete").touch()
    return landing


def measure(label: str, command: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run `command`, sampling the resident memory of it and every process it starts."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        parent = psutil.Process(process.pid)
        while not done.is_set():
            try:
                tree = [parent, *parent.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        sys.exit(f"{label} failed ({process.returncode}):\n{output[-3000:]}")
    return Measured(label, wall, peak / 1e9)


def stedi_run(landing: Path, work: Path, engine: str | None) -> Measured:
    name = engine or "default"
    lake, summary = work / f"lake-{landing.name}-{name}", work / f"summary-{landing.name}-{name}.json"
    shutil.rmtree(lake, ignore_errors=True)
    warehouse = work / f"warehouse-{landing.name}-{name}.duckdb"
    warehouse.unlink(missing_ok=True)
    command = [str(STEDI), "run", "--quiet", "--landing", str(landing), "--lake", str(lake)]
    command += ["--warehouse", f"duckdb:///{warehouse}", "--summary", str(summary)]
    command += ["--engine", engine] if engine else []
    env = {**os.environ, "PREFECT_HOME": str(work / "prefect-home")}
    env.pop(IDLE_MINUTES_ENV, None)
    env.pop("PREFECT_API_URL", None)
    measured = measure(f"stedi run{f' --engine {engine}' if engine else ''}", command, env)
    measured.stages = json.loads(summary.read_text()).get("seconds", {})
    shutil.rmtree(lake, ignore_errors=True)
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--work", type=Path, default=None, help="where landings and lakes go (default: a temp dir)")
    parser.add_argument("--references", type=Path, default=ROOT.parent / "shared" / "bench")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="stedi-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    duckdb_ref, pyspark_ref = args.references / "reference_duckdb.py", args.references / "plain_pyspark.py"
    for reference in (duckdb_ref, pyspark_ref):
        if not reference.is_file():
            sys.exit(f"reference not found: {reference} (pass --references)")
    try:
        # One unmeasured run: Prefect's database and local server, the first imports.
        stedi_run(copies_landing(work, 1), work, None)
        print(f"{'':4}{'workload':<30}{'wall s':>9}{'peak GB':>9}   stages (s)")
        for scale in args.scales:
            landing = copies_landing(work, scale)
            out = work / f"out-{scale}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            results = [
                stedi_run(landing, work, None),
                stedi_run(landing, work, "spark"),
                measure("reference_duckdb.py", [sys.executable, str(duckdb_ref), str(landing)]),
                measure("plain_pyspark.py", [sys.executable, str(pyspark_ref), str(landing), str(out / "plain")]),
            ]
            print(f"{scale}x the sample ({landing_size(landing) / 1e9:.2f} GB of JSON):")
            for r in results:
                stages = ", ".join(f"{k} {v:.1f}" for k, v in (r.stages or {}).items())
                print(f"{'':4}{r.label:<30}{r.wall_s:>9.1f}{r.peak_gb:>9.2f}   {stages}")
            default, spark, floor, plain = results
            print(f"{'':4}stedi run / DuckDB reference:          {default.wall_s / floor.wall_s:6.2f}  (target <= 5)")
            print(f"{'':4}--engine spark / plain PySpark:        {spark.wall_s / plain.wall_s:6.2f}  (target <= 1.0)")
            print(f"{'':4}stedi run / plain PySpark:             {default.wall_s / plain.wall_s:6.2f}")
            print(f"{'':4}peak memory, stedi run:                {default.peak_gb:6.2f} GB (target <= 4)")
            shutil.rmtree(out, ignore_errors=True)
        samples = sorted((stedi_run(SAMPLE, work, None) for _ in range(3)), key=lambda m: m.wall_s)
        sample = samples[1]  # the median of three
        print(f"the bundled sample, end to end (Prefect included, its local server up), median of 3: "
              f"{sample.wall_s:.1f} s (target <= 5; {samples[0].wall_s:.1f} to {samples[-1].wall_s:.1f}); stages: "
              + ", ".join(f"{k} {v:.1f}" for k, v in (sample.stages or {}).items()))  # fmt: skip
    finally:
        stop_local_server(work / "prefect-home")


def landing_size(landing: Path) -> int:
    return sum(f.stat().st_size for f in landing.rglob("*.json"))


if __name__ == "__main__":
    main()
