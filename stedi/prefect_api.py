"""A temporary Prefect API for `stedi run` when no server is configured, started before anything else.

Prefect would start a temporary server itself on the first API call, after the flow module and
Prefect's server package are imported (about 3 s of CPU on the critical path), and would leave it
running if this process were killed. Started first, as `prefect server start` in a process of its own,
it boots while the JVM starts and the flow is imported, and it ends with this process however that
ends; the flow talks to it as to any server (`TemporaryAPI.serving()` sets PREFECT_API_URL for the call).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

_STARTUP_TIMEOUT_S = 60
_STOP_TIMEOUT_S = 8  # the server's own grace (stedi.lifecycle) is 3 s
# No block type registration at start-up: it imports every installed Prefect collection (about a
# second, on the run's critical path); the memoizing wrapper around it imports them even when
# registration is off, hence both settings. A block saved with `.save()` registers its own type, and
# `Block.load` of a type never registered finds no block, as it should.
WITHOUT_BLOCK_REGISTRATION = {
    "PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false",
    "PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",
}


_STARTS = 3  # a server that exits before it answers is started again on another port, this many times in all


class TemporaryAPI:
    def __init__(self, log: Path | None = None) -> None:
        """Start the server; what it prints goes to `log` (a file), or nowhere."""
        self.log, self.starts = log, 0
        self._start()
        atexit.register(self.stop)

    def _start(self) -> None:
        self.starts += 1
        log = self.log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        env = {**os.environ, **WITHOUT_BLOCK_REGISTRATION}
        # The API alone: no UI (nobody would see it: it ends with the run), no background services (a
        # run's flow, tasks, logs and artifacts are written by the API itself), no analytics (their
        # heartbeat races the run's writes to the SQLite database, and a laptop run has none to send).
        # Under stedi.lifecycle, with a pipe from this process on its input: the server ends when this
        # process closes the pipe (`stop`) or exits, however it exits, SIGKILL included. Its own session
        # keeps a Ctrl-C in the terminal from stopping it under the run, which still reports its end to it.
        command = [
            sys.executable,
            "-m",
            "stedi.lifecycle",
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-ui",
            "--no-services",
            "--analytics-off",
            "--log-level",
            "ERROR",
        ]
        output = log.open("ab") if log is not None else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                command, env=env, stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            if log is not None:
                output.close()  # the server holds its own copy

    def wait_until_healthy(self) -> None:
        """Wait for the server; one that exited before it answered (its port taken between free_port and
        its bind, by a process starting beside it) is started again on another port."""
        while True:
            try:
                wait_until_healthy(self.url, self.process, _STARTUP_TIMEOUT_S)
                return
            except ServerExited:
                if self.starts >= _STARTS:
                    raise
                logging.getLogger(__name__).info(
                    "the Prefect API on port %d exited (code %s) before it answered: starting it again",
                    self.port, self.process.returncode,
                )  # fmt: skip
                self._start()

    @contextlib.contextmanager
    def serving(self):
        """Within the block, Prefect clients of this process use this API.

        Flow runs send no heartbeats to it: heartbeats let a lasting server mark a run whose process
        died as crashed, and this API dies with the process. Prefect's heartbeat thread sleeps in
        one-second steps, and the end of every flow run waited up to a second for it to notice.
        """
        from prefect.settings import PREFECT_API_URL, temporary_settings

        self.wait_until_healthy()
        with temporary_settings(updates={PREFECT_API_URL: self.url, "flows.heartbeat_frequency": None}):
            yield self

    def keep_flow_runs(self, flow_name: str, keep: int) -> None:
        """Delete `flow_name`'s flow runs in this API's database but the `keep` - 1 newest, with their
        artifacts (the server deletes their logs), before the run about to start makes `keep`: the
        database of a laptop's runs never grows without bound. Housekeeping never fails a run."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, FlowFilter, FlowFilterName
        from prefect.client.schemas.sorting import FlowRunSort

        try:
            with get_client(sync_client=True) as client:
                old = client.read_flow_runs(
                    flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                    sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                    offset=max(keep - 1, 0),
                    limit=200,
                )
                if not old:
                    return
                owned = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id for run in old]))
                for artifact in client.read_artifacts(artifact_filter=owned):
                    client.delete_artifact(artifact.id)
                for run in old:
                    client.delete_flow_run(run.id)
        except Exception as error:  # the run matters, its housekeeping does not
            logging.getLogger(__name__).warning("old flow runs were not removed: %s", error)

    def stop(self) -> None:
        """Close the server's input, as this process's exit would: it shuts down, and is killed if stuck."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def stop_process(process: subprocess.Popen, timeout_s: float) -> None:
    """Terminate `process`, and kill it if it has not ended after `timeout_s`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()


class ServerExited(RuntimeError):
    """The API's process ended before it answered its health check."""


def wait_until_healthy(api_url: str, process: subprocess.Popen, timeout_s: float) -> None:
    """Wait until the Prefect API at `api_url`, served by `process`, answers its health check."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerExited(f"the Prefect API process exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the Prefect API at {api_url} did not answer within {timeout_s} s")


def start_temporary_api(log: Path | None = None) -> TemporaryAPI | None:
    """Start a temporary API, unless a server or Prefect Cloud is configured (environment or profile);
    what it prints goes to `log`.

    The profile is read after the start: reading it imports Prefect's settings (over a second), and the
    API's start-up is what the run waits for. A profile that names a server stops the API again.
    """
    if os.environ.get("PREFECT_API_URL"):
        return None
    api = TemporaryAPI(log)
    if _profile_has_api_url():
        api.stop()
        return None
    return api


def _profile_has_api_url() -> bool:
    """A PREFECT_API_URL set in the active Prefect profile (`prefect config set`) wins, as in Prefect."""
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


# Below the kernels' ephemeral ranges (Linux 32768-60999, macOS and Windows 49152-65535): the ports the
# JVM, Sail and every outgoing connection get from bind(0) and connect(). A port taken from there could be
# handed to one of them between free_port and the server's own bind, seconds later (seen: Errno 98).
_PORTS = range(20000, 32768)


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on now, outside the ephemeral range."""
    for port in random.sample(_PORTS, 50):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # the whole range in use: whatever the kernel gives
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
