"""The production deployment on a worker that has no checkout: its pull steps clone the repository at the
commit pinned when it was deployed, install it, and run the flow from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from stedi.prefect_api import free_port, stop_process, wait_until_healthy

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def worker_environment(root: Path) -> Path:
    """A Python environment with the project's dependencies but not the project: a new venv that sees this
    one's installed packages through a .pth line (the .pth files there, the project's editable install
    among them, are not run), so `import stedi` there finds only what the pull step installs."""
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    site = Path(sysconfig.get_paths(vars={"base": str(root), "platbase": str(root)})["purelib"])
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = str(root / "bin" / "python")
    probe = subprocess.run([python, "-c", "import stedi"], cwd=root, capture_output=True, text=True)
    assert probe.returncode != 0, "the worker's environment must not hold the project before the pull step"
    return root / "bin"


def test_a_worker_without_a_checkout_runs_the_pinned_commit(tmp_path):
    bare = tmp_path / "stedi-lakehouse.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(REPO), str(bare)], check=True)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    commit = commit.stdout.strip()
    worker_bin = worker_environment(tmp_path / "worker-env")

    api = f"http://127.0.0.1:{free_port()}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    prefect = str(BIN / "prefect")

    def run(*args: str, timeout: int = 120, **extra: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [prefect, *args], env={**env, **extra}, cwd=REPO, capture_output=True, text=True, timeout=timeout
        )
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
    home = tmp_path / "worker-home"  # where the worker runs: no checkout of the project
    home.mkdir()
    try:
        wait_until_healthy(api, server, timeout_s=90)
        run("work-pool", "create", "stedi-glue", "--type", "process")
        run("--no-prompt", "deploy", "--name", "production",
            STEDI_GIT_REPOSITORY=f"file://{bare}", STEDI_GIT_COMMIT=commit)  # fmt: skip
        inspected = json.loads(run("deployment", "inspect", "stedi-lakehouse/production", "--output", "json").stdout)
        clone = inspected["pull_steps"][0]["prefect.deployments.steps.git_clone"]
        assert (clone["repository"], clone["commit_sha"]) == (f"file://{bare}", commit)  # pinned when deployed
        assert str(REPO) not in json.dumps(inspected["pull_steps"])  # nothing of the deploying checkout
        worker_env = {**env, "PATH": f"{worker_bin}{os.pathsep}{env['PATH']}", "VIRTUAL_ENV": str(worker_bin.parent)}
        worker_env.pop("PWD", None)
        worker = subprocess.Popen(
            [str(worker_bin / "python"), "-m", "prefect", "worker", "start", "--pool", "stedi-glue"],
            env=worker_env,
            cwd=home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        lake, warehouse = tmp_path / "lake", tmp_path / "warehouse.duckdb"
        # Glue needs AWS: the run takes the local runner, on the same pulled code
        params = json.dumps({"runner": "local", "lake": str(lake), "warehouse": f"duckdb:///{warehouse}"})
        result = run("deployment", "run", "stedi-lakehouse/production", "--params", params, "--watch", timeout=900)
        assert "Completed" in result.stdout + result.stderr
    finally:
        if worker is not None:
            stop_process(worker, timeout_s=20)
        stop_process(server, timeout_s=20)

    assert ds.dataset(str(lake / "silver" / "machine_learning_curated"), format="parquet").count_rows() == 40_981
    installed = subprocess.run(
        [str(worker_bin / "python"), "-c", "import stedi, sys; sys.stdout.write(stedi.__file__)"],
        cwd=home, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert installed.startswith(str(worker_bin.parent)), installed  # the pull step's install, not this checkout
