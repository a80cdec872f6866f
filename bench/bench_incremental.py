"""What an incremental run costs beside a full one, on a large lake: `make bench-incremental`.

    .venv/bin/python bench/bench_incremental.py [--scale 100] [--new-share 0.01] [--repeat 3] [--work DIR]

It generates a production-like landing (`stedi generate --scale N`) and holds back two deliveries of a
share of its files each (1%): the newest reading exports by date (a day of accelerometer and step-trainer
files) and the newest customer exports (weekly updates: consents withdrawn and given, devices
registered). Then it times `stedi run` on the default engine, one after the other:

    empty landing   a first run on a landing without files: what any run costs (Prefect, the engine)
    full            a run on every file but the held-back ones, into a new lake and warehouse
    no-op           the same again: nothing new
    new readings    the reading exports delivered, then a run
    new customers   the customer exports delivered, then a run

and prints wall seconds, peak memory, the stages, and the ratios the targets are stated in, for each
delivery: (incremental - no-op) / (full - no-op) <= 10 %; and no-op / empty landing <= 1.5.

Each run is repeated (`--repeat`, default 3) and the median counts, with the spread printed beside it:
a full run on a shared machine varies by a third from one run to the next. A full run is repeated into
new lakes; an incremental run on the lake and warehouse as they were before it, restored each time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from bench_scale import STEDI, Measured, measure

from stedi.prefect_api import IDLE_MINUTES_ENV, stop_local_server

SOURCES = ("customer", "accelerometer", "step_trainer")


def generated_landing(work: Path, scale: int) -> Path:
    landing = work / f"generated-{scale}x"
    if not (landing / "expected.json").exists():
        shutil.rmtree(landing, ignore_errors=True)
        measure("stedi generate", [str(STEDI), "generate", str(landing), "--scale", str(scale), "--seed", "7"])
    return landing


def exports(landing: Path) -> list[Path]:
    """The landing files, oldest first by the date in their names (as exports arrive)."""
    files = [p for p in landing.glob("*/landing/**/*") if p.is_file() and not p.name.startswith(("_", "."))]
    return sorted(files, key=lambda p: (p.name.split("-", 1)[-1], p.name))


def repeated(
    label: str, landing: Path, lake: Path, warehouse: Path, work: Path, times: int, fresh: bool = False
) -> tuple[Measured, dict]:
    """`run` `times` times: into a new lake and warehouse each time (`fresh`), or on the lake and warehouse
    as they are now, restored before each repeat. The run of median wall time, its spread in its label;
    the lake is left as the last repeat left it."""
    before = work / "before"
    if not fresh:
        shutil.rmtree(before, ignore_errors=True)
        shutil.copytree(lake, before / "lake", symlinks=True)
        shutil.copy(warehouse, before / "warehouse.duckdb")
    results = []
    for number in range(times):
        if number and fresh:
            shutil.rmtree(lake)
            warehouse.unlink()
        elif number:
            shutil.rmtree(lake)
            shutil.copytree(before / "lake", lake, symlinks=True)
            shutil.copy(before / "warehouse.duckdb", warehouse)
        results.append(run(label, landing, lake, warehouse, work))
    measured, summary = sorted(results, key=lambda r: r[0].wall_s)[len(results) // 2]
    walls = [m.wall_s for m, _ in results]
    if times > 1:
        measured.label = f"{label} ({min(walls):.0f}-{max(walls):.0f})"
    return measured, summary


def run(label: str, landing: Path, lake: Path, warehouse: Path, work: Path) -> tuple[Measured, dict]:
    summary = work / f"summary-{label}.json"
    command = [str(STEDI), "run", "--quiet", "--landing", str(landing), "--lake", str(lake)]
    command += ["--warehouse", f"duckdb:///{warehouse}", "--summary", str(summary)]
    env = {**os.environ, "PREFECT_HOME": str(work / "prefect-home")}  # the warm-up starts its local server
    env.pop(IDLE_MINUTES_ENV, None)
    env.pop("PREFECT_API_URL", None)
    measured = measure(label, command, env)
    result = json.loads(summary.read_text())
    measured.stages = result.get("seconds", {})
    manifest = lake / "silver" / "_zone.json"  # which day cells silver rebuilt, of how many
    if manifest.exists():
        built = json.loads(manifest.read_text())["built_from"]
        days = len(built["cells"]["accelerometer"])
        patched = built.get("patched_cells", {})
        result["rebuilt_cells"] = {
            table: f"{'all' if cells is None else len(cells)} rebuilt, {len(patched.get(table, []))} patched of {days}"
            for table, cells in built["rebuilt_cells"].items()
        }
    return measured, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100)
    parser.add_argument("--new-share", type=float, default=0.01, help="share of the files delivered last")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind, the median counts")
    parser.add_argument("--work", type=Path, default=None, help="where landings and lakes go (default: a temp dir)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="stedi-bench-incremental-"))
    work.mkdir(parents=True, exist_ok=True)
    source = generated_landing(work, args.scale)
    files = exports(source)
    count = max(1, round(len(files) * args.new_share))
    deliveries = {
        "new readings": [p for p in files if "customer" not in p.relative_to(source).parts[:1]][-count:],
        "new customers": [p for p in files if "customer" in p.relative_to(source).parts[:1]][-count:],
    }
    held_back = {p for delivery in deliveries.values() for p in delivery}

    landing, lake, warehouse = work / "landing", work / "lake", work / "warehouse.duckdb"
    for path in (landing, lake, work / "lake-empty", work / "lake-warm-up"):
        shutil.rmtree(path, ignore_errors=True)
    for path in (warehouse, work / "warehouse-empty.duckdb", work / "warehouse-warm-up.duckdb"):
        path.unlink(missing_ok=True)
    empty = work / "landing-empty"
    for name in SOURCES:
        (empty / name / "landing").mkdir(parents=True, exist_ok=True)
    deliver([p for p in files if p not in held_back], source, landing)

    try:
        run("warm-up (not counted)", empty, work / "lake-warm-up", work / "warehouse-warm-up.duckdb", work)
        times = args.repeat
        empty_lake, empty_warehouse = work / "lake-empty", work / "warehouse-empty.duckdb"
        results = [repeated("empty landing", empty, empty_lake, empty_warehouse, work, times, fresh=True)]
        results.append(repeated("full", landing, lake, warehouse, work, times, fresh=True))
        results.append(repeated("no-op", landing, lake, warehouse, work, times))
        for label, delivery in deliveries.items():
            deliver(delivery, source, landing)
            results.append(repeated(label, landing, lake, warehouse, work, times))
    finally:
        stop_local_server(work / "prefect-home")

    size = sum(f.stat().st_size for f in files) / 1e9
    print(f"{args.scale}x generated landing: {len(files)} files, {size:.2f} GB; "
          + ", ".join(f"{len(d)} delivered as {label}" for label, d in deliveries.items()))  # fmt: skip
    print(f"{'':4}{'run (spread)':<24}{'mode':<13}{'new files':>10}{'wall s':>9}{'peak GB':>9}   stages (s)")
    for measured, summary in results:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in (measured.stages or {}).items())
        new = sum(summary.get("new_files", {}).values())
        print(f"{'':4}{measured.label:<24}{summary.get('mode', '-'):<13}{new:>10}{measured.wall_s:>9.1f}"
              f"{measured.peak_gb:>9.2f}   {stages}")  # fmt: skip
    (empty_run, _), (full, _), (noop, _), *incremental = results
    for measured, summary in incremental:
        share = (measured.wall_s - noop.wall_s) / (full.wall_s - noop.wall_s)
        rebuilt = summary["rebuilt_cells"]
        print(f"{'':4}{measured.label}: (incremental - no-op) / (full - no-op) {share:6.1%}  (target <= 10%); "
              f"day cells: {rebuilt or '-'}")  # fmt: skip
    print(f"{'':4}no-op / empty landing: {noop.wall_s / empty_run.wall_s:6.2f}  (target <= 1.5)")


def deliver(files: list[Path], source: Path, landing: Path) -> None:
    for file in files:
        target = landing / file.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(file, target)


if __name__ == "__main__":
    main()
