"""`prefect deployment run 'stedi-lakehouse/local'` end to end, exactly as a user does it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest

from stedi.prefect_api import free_port, stop_process, wait_until_healthy

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_deployment_run_local_completes_and_fills_lake_and_warehouse(tmp_path):
    api = f"http://127.0.0.1:{free_port()}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PWD": str(REPO),
    }
    prefect = str(BIN / "prefect")

    def run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
        result = subprocess.run([prefect, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"prefect {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    port = api.split(":")[2].split("/")[0]
    server = subprocess.Popen(
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", port],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = None
    try:
        wait_until_healthy(api, server, timeout_s=90)
        run("work-pool", "create", "stedi-local", "--type", "process")
        run("work-pool", "create", "stedi-glue", "--type", "process")
        run("--no-prompt", "deploy", "--all")
        glue = run("deployment", "inspect", "stedi-lakehouse/glue").stdout
        assert "'runner': 'glue'" in glue and "'work_pool_name': 'stedi-glue'" in glue, glue
        assert "'limit': 1" in glue and "ENQUEUE" in glue, glue  # one flow run at a time writes the lake
        worker = subprocess.Popen(
            [prefect, "worker", "start", "--pool", "stedi-local"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        lake, warehouse = tmp_path / "lake", tmp_path / "warehouse.duckdb"
        params = f'{{"lake": "{lake}", "warehouse": "duckdb:///{warehouse}"}}'
        result = run("deployment", "run", "stedi-lakehouse/local", "--params", params, "--watch", timeout=900)
        assert "Completed" in result.stdout + result.stderr
    finally:
        if worker is not None:
            stop_process(worker, timeout_s=20)
        stop_process(server, timeout_s=20)

    assert ds.dataset(str(lake / "silver" / "machine_learning_curated"), format="parquet").count_rows() == 40_981
    assert ds.dataset(str(lake / "silver" / "customer_trusted"), format="parquet").count_rows() == 482
    with duckdb.connect(str(warehouse), read_only=True) as db:
        assert db.execute("select count(*) from stedi.machine_learning_training_set").fetchone()[0] == 40_981
        assert db.execute("select count(*) from stedi.step_trainer_readings").fetchone()[0] == 14_460
