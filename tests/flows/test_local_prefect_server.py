"""`stedi run` with no Prefect server configured: the local server that lasts between runs.

The first run starts it, the next one uses it; the `View at` link each run prints opens its page in the
UI, which shows the run's tasks; and once no run has used it for its idle time, it ends.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request

import psutil
import pytest

from stedi.prefect_api import IDLE_MINUTES_ENV, read_state, stop_local_server
from tests.conftest import stedi_run

pytestmark = pytest.mark.integration

IDLE_S = 10
TASKS = {
    "plan_run",
    "ingest_landing",
    "check_quarantine",
    "curate_silver",
    "account_records",
    "build_gold",
    "summarize_run",
    "publish_run_report",
}  # fmt: skip (no warehouse: no check_warehouse, no load_warehouse)


def _task_runs(api: str, flow_run_id: str) -> dict[str, str]:
    """The flow run's task runs as the server recorded them: name (without its suffix) -> state."""
    body = json.dumps({"flow_runs": {"id": {"any_": [flow_run_id]}}}).encode()
    request = urllib.request.Request(f"{api}/task_runs/filter", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return {run["name"].rsplit("-", 1)[0]: run["state_type"] for run in json.load(response)}


def test_runs_share_the_local_server_whose_ui_shows_them_and_which_ends_once_idle(tmp_path, monkeypatch):
    monkeypatch.setenv(IDLE_MINUTES_ENV, str(IDLE_S / 60))
    home = tmp_path / "prefect-home"  # stedi_run's
    try:
        runs = []
        for lake in ("lake-1", "lake-2"):
            run = stedi_run(tmp_path, "--lake", str(tmp_path / lake), "--warehouse", "none")
            assert run.returncode == 0, run.stderr[-3000:]
            runs.append((run, read_state(home)))
        (first, state), (second, state_then) = runs
        assert state is not None and state_then == state  # the second run used the first one's server

        output = second.stdout + second.stderr
        link = re.search(r"View at (http://127\.0\.0\.1:\d+)/runs/flow-run/([0-9a-f-]{36})", output)
        assert link, second.stdout[-2000:]
        ui, flow_run_id = link.groups()
        assert state["url"] == f"{ui}/api"
        page = urllib.request.Request(link.group(0).removeprefix("View at "), headers={"Accept": "text/html"})
        with urllib.request.urlopen(page, timeout=10) as response:
            assert response.status == 200
        deadline = time.monotonic() + IDLE_S / 2  # task runs reach the database as events, a moment later
        while (recorded := _task_runs(state["url"], flow_run_id)) != dict.fromkeys(TASKS, "COMPLETED"):
            assert time.monotonic() < deadline, recorded
            time.sleep(0.5)

        # Of each run's processes, only the server outlives it; once idle, it ends too.
        for run in (first, second):
            if run.survivors is not None:
                assert len(run.survivors) == 1 and "stedi.lifecycle --idle-minutes" in run.survivors[0], run.survivors
        deadline = time.monotonic() + IDLE_S + 20
        while psutil.pid_exists(state["pid"]) and psutil.Process(state["pid"]).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the local server did not end once idle"
            time.sleep(0.5)
        assert read_state(home) is None
    finally:
        stop_local_server(home)
