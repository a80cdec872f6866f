"""The Prefect APIs of `stedi run`: the temporary one starts on a port nobody holds, and its database keeps the
newest runs only; the local server lasts between runs, serves the UI, and ends once idle, never under a run."""

from __future__ import annotations

import logging
import os
import socket
import time
import urllib.request
from pathlib import Path

import anyio
import psutil
import pytest
from prefect import flow, get_client
from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.logging.handlers import APILogHandler

from stedi.prefect_api import (
    LocalServer,
    ServerInUse,
    TemporaryAPI,
    read_state,
    stop_local_server,
    ui_url,
    write_state,
)


@flow(name="stedi-keep-runs-test")
def reporting_flow(number: int) -> None:
    create_markdown_artifact(f"run {number}", key="stedi-keep-runs-test")


def test_only_the_newest_flow_runs_and_their_artifacts_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    api = TemporaryAPI()
    try:
        with api.serving():
            for number in range(4):
                reporting_flow(number)
            api.keep_flow_runs("stedi-keep-runs-test", keep=2)  # and room for the run about to start

            async def left() -> tuple[list[int], int]:
                async with get_client() as client:
                    runs = await client.read_flow_runs(
                        flow_filter=FlowFilter(name=FlowFilterName(any_=["stedi-keep-runs-test"]))
                    )
                    artifacts = await client.read_artifacts()
                    return sorted(run.parameters["number"] for run in runs), len(artifacts)

            numbers, artifacts = anyio.run(left)
            for handler in logging.getLogger("prefect.flow_runs").handlers:  # the flows' logs reach the API first
                if isinstance(handler, APILogHandler):
                    handler.flush()
    finally:
        api.stop()
    assert numbers == [3] and artifacts == 1


def test_a_server_whose_port_was_taken_before_it_bound_starts_again_on_another(tmp_path, monkeypatch):
    """The port is chosen seconds before the server binds it; whoever takes it meanwhile costs a restart."""
    import socket

    from stedi import prefect_api

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = iter([taken.getsockname()[1]])
    choose = prefect_api.free_port
    monkeypatch.setattr(prefect_api, "free_port", lambda: next(ports, None) or choose())
    api = TemporaryAPI(tmp_path / "api.log")
    try:
        with api.serving():
            assert api.starts == 2 and api.port != taken.getsockname()[1]
        assert "already in use" in (tmp_path / "api.log").read_text()  # what the first start said
    finally:
        api.stop()
        taken.close()


def test_free_ports_lie_below_the_ephemeral_range():
    from stedi.prefect_api import free_port

    assert all(20000 <= free_port() < 32768 for _ in range(20))


# The local server that lasts between runs (stedi.prefect_api.LocalServer). One Prefect home for these
# tests: its database is created once.
@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("local-prefect-home")


@pytest.fixture
def local_home(prefect_home, monkeypatch) -> Path:
    monkeypatch.setenv("PREFECT_HOME", str(prefect_home))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    yield prefect_home
    stop_local_server(prefect_home)


def _ended(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.2)
    return False


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_later_runs_use_the_server_an_earlier_run_started_and_it_serves_the_ui(local_home, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "the-run's-warehouse-password")  # as `stedi run` holds it
    first = LocalServer(idle_minutes=5, home=local_home)
    first.wait_until_healthy()
    first.stop()
    assert "PGPASSWORD" not in psutil.Process(first.process.pid).environ()  # it outlives the run: no secrets
    second = LocalServer(idle_minutes=5, home=local_home)
    second.wait_until_healthy()
    second.stop()
    assert first.started and not second.started
    assert second.url == first.url and read_state(local_home)["pid"] == first.process.pid
    page = urllib.request.Request(ui_url(first.url) + "/runs", headers={"Accept": "text/html"})  # as a browser asks
    with urllib.request.urlopen(page, timeout=10) as response:
        assert response.status == 200 and b"<html" in response.read().lower()
    assert psutil.Process(first.process.pid).status() != psutil.STATUS_ZOMBIE  # it outlived its runs


def test_the_server_ends_once_idle_and_never_under_a_run(local_home):
    idle_s = 3
    user = LocalServer(idle_minutes=idle_s / 60, home=local_home)
    user.wait_until_healthy()
    pid = user.process.pid
    assert not _ended(pid, within_s=idle_s * 3)  # held (a run is using it) for three times its idle time
    with pytest.raises(ServerInUse):
        stop_local_server(local_home)
    user.stop()
    assert _ended(pid, within_s=idle_s + 15)
    assert read_state(local_home) is None  # the next run starts a new one
    after = LocalServer(idle_minutes=5, home=local_home)
    after.wait_until_healthy()
    after.stop()
    assert after.started and after.process.pid != pid


def test_a_state_file_naming_no_server_is_replaced(local_home):
    """A state file left by a server that was killed, naming a pid another process has taken since."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        silent = f"http://127.0.0.1:{closed.getsockname()[1]}/api"
    write_state(local_home, {"url": silent, "pid": os.getpid()})  # alive, and not a server
    server = LocalServer(idle_minutes=5, home=local_home)
    server.wait_until_healthy()
    server.stop()
    assert server.url != silent and _answers(server.url)
    assert read_state(local_home)["pid"] == server.process.pid


def test_stopping_the_local_server_ends_only_a_server_of_stedi(local_home):
    write_state(local_home, {"url": "http://127.0.0.1:9/api", "pid": os.getpid()})  # a stale pid: this process
    assert stop_local_server(local_home) is None and read_state(local_home) is None
    server = LocalServer(idle_minutes=5, home=local_home)
    server.wait_until_healthy()
    server.stop()
    assert stop_local_server(local_home) == server.url
    assert _ended(server.process.pid, within_s=10) and not _answers(server.url)


def test_the_idle_time_is_minutes_and_zero_means_a_temporary_api(monkeypatch):
    from stedi.prefect_api import IDLE_MINUTES_ENV, idle_minutes

    monkeypatch.delenv(IDLE_MINUTES_ENV, raising=False)
    assert idle_minutes() == 30
    monkeypatch.setenv(IDLE_MINUTES_ENV, "0")
    assert idle_minutes() == 0
    for wrong in ("-1", "soon", "nan"):
        monkeypatch.setenv(IDLE_MINUTES_ENV, wrong)
        with pytest.raises(ValueError, match=IDLE_MINUTES_ENV):
            idle_minutes()
