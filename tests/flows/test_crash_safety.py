"""A run killed at any moment leaves every zone of the lake wholly one run's, and the next run heals it.

Two runs that differ (the consent policies give different silver tables) take turns on one lake; each is
killed with SIGKILL at a random moment. After every kill, each silver table must hold the figures of one
policy, the same policy for all of them: never the new accelerometer_trusted beside the old training set.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from stedi import lake
from tests.conftest import processes_with_env, stedi_run

pytestmark = pytest.mark.integration

SILVER = (
    "customer_trusted",
    "accelerometer_trusted",
    "customer_curated",
    "step_trainer_trusted",
    "machine_learning_curated",
)
GOLD = ("accelerometer_readings", "step_trainer_readings")
TRIALS = 8
SEED = 20261123


def rows(lake_dir: Path, zone: str, table: str) -> int:
    return ds.dataset(str(lake_dir / zone / table), format="parquet").count_rows()


def zone_figures(lake_dir: Path) -> dict[str, tuple[int, ...]]:
    return {
        "silver": tuple(rows(lake_dir, "silver", t) for t in SILVER),
        "gold": tuple(rows(lake_dir, "gold", t) for t in GOLD),
    }


def policy_run(tmp_path: Path, lake_dir: Path, warehouse: Path, policy: str) -> dict:
    summary = tmp_path / f"summary-{policy}-{time.monotonic_ns()}.json"
    result = stedi_run(
        tmp_path,
        "--consent-policy",
        policy,
        "--lake",
        str(lake_dir),
        "--warehouse",
        f"duckdb:///{warehouse}",
        "--summary",
        str(summary),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(summary.read_text())


def killed_run(tmp_path: Path, lake_dir: Path, warehouse: Path, policy: str, after_s: float, trial: int) -> list[str]:
    """`stedi run` killed with SIGKILL `after_s` seconds in; the processes of the run still alive 15 s later."""
    home = tmp_path / f"prefect-home-{trial}"
    env = {**os.environ, "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    command = [
        str(Path(sys.executable).with_name("stedi")),
        "run",
        "--consent-policy",
        policy,
        "--lake",
        str(lake_dir),
        "--warehouse",
        f"duckdb:///{warehouse}",
    ]
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=after_s)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 15
    while (survivors := processes_with_env("PREFECT_HOME", str(home))) and time.monotonic() < deadline:
        time.sleep(0.5)
    return survivors or []


def test_killed_runs_never_leave_a_mixed_zone_and_the_next_run_heals(tmp_path):
    lake_dir, warehouse = tmp_path / "lake", tmp_path / "warehouse" / "stedi_test.duckdb"
    started = time.monotonic()
    as_of = policy_run(tmp_path, tmp_path / "as-of-lake", tmp_path / "as-of.duckdb", "as-of")
    full_run_s = time.monotonic() - started
    figures = {"as-of": zone_figures(tmp_path / "as-of-lake")}
    ever = policy_run(tmp_path, lake_dir, warehouse, "ever")
    figures["ever"] = zone_figures(lake_dir)
    assert figures["ever"] != figures["as-of"]  # the trials could not tell the runs apart otherwise

    moments = random.Random(SEED)
    holds = "ever"
    outcomes = []
    for trial in range(TRIALS):
        policy = "as-of" if holds == "ever" else "ever"  # a run that differs from what the lake holds
        after_s = moments.uniform(1.0, full_run_s)
        survivors = killed_run(tmp_path, lake_dir, warehouse, policy, after_s, trial)
        now = zone_figures(lake_dir)
        silver = [p for p, f in figures.items() if f["silver"] == now["silver"]]
        gold = [p for p, f in figures.items() if f["gold"] == now["gold"]]
        outcomes.append((round(after_s, 1), policy, silver, gold, survivors))
        assert len(silver) == 1 and len(gold) == 1, f"trial {trial}: a zone mixes two runs: {outcomes[-1]}"
        assert not survivors, f"trial {trial}: processes outlived the killed run: {survivors}"
        holds = silver[0]
        assert lake.zone_run_id(str(lake_dir), "silver") is not None

    # The healing run builds what the kills left behind (all of it, or nothing when the last killed run
    # had finished the lake): the lake, its accounting and the warehouse are the as-of run's.
    healed = policy_run(tmp_path, lake_dir, warehouse, "as-of")
    assert zone_figures(lake_dir) == figures["as-of"]
    figures_of = ("landing", "accepted", "filtered", "quarantined")
    for name, source in healed["sources"].items():
        assert {f: source[f] for f in figures_of} == {f: as_of["sources"][name][f] for f in figures_of}, name
    assert warehouse_rows(warehouse) == as_of["warehouse"]["tables"]
    silver, gold = lake.zone_manifest(str(lake_dir), "silver"), lake.zone_manifest(str(lake_dir), "gold")
    assert silver["built_from"]["bronze"] == lake.current_version(str(lake_dir), "bronze")
    assert gold["built_from"]["silver"] == silver["version"]
    assert ever["status"] == "succeeded"
    # no published version is left behind but the current one and the one before it (and, for quarantine,
    # the one bronze's ingestion state names, kept until bronze moves on); what a killed run wrote and never
    # published goes at the zone's next publication, which the healing run need not make
    for zone in ("bronze", "quarantine", "silver", "gold"):
        published = [v for v in (lake_dir / "_zones" / zone).iterdir() if (v / "_zone.json").is_file()]
        assert len(published) <= (3 if zone == "quarantine" else 2), zone


def warehouse_rows(warehouse: Path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as db:
        tables = [row[0] for row in db.execute(
            "select table_name from information_schema.tables where table_schema = 'stedi'"
        ).fetchall()]  # fmt: skip
        return {name: db.execute(f"select count(*) from stedi.{name}").fetchone()[0] for name in tables}
