"""The Prefect API of `stedi run` when no server is configured, started before anything else.

Prefect would start a temporary server itself on the first API call, after the flow module and
Prefect's server package are imported (about 3 s of CPU on the critical path), and would leave it
running if this process were killed. Here the API is started first, as `prefect server start` in a
process of its own, and boots while the engine starts and the flow is imported. Two kinds:

- `LocalServer` (the default): a local server with the UI that lasts between runs. The first `stedi run`
  that finds none starts it; later runs use it (no start-up: the sample runs in about half the time),
  and the run's `View at` link opens. It ends by itself once no run has used it for
  `STEDI_PREFECT_API_IDLE_MINUTES` (30 by default). The runs using it hold a shared flock on
  `<PREFECT_HOME>/stedi-api.lease`; the server ends only while it can take that lock exclusively, so
  never under a run. `<PREFECT_HOME>/stedi-api.json` names it (URL, pid); `stedi-api.log` is its log.
- `TemporaryAPI` (`STEDI_PREFECT_API_IDLE_MINUTES=0`): the API alone, ended with this process however
  that ends (`stedi.lifecycle`). Its runs cannot be watched in a UI.

Either way the flow talks to it as to any server (`serving()` sets PREFECT_API_URL for the call).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import random
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from stedi.lifecycle import forget_state

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

IDLE_MINUTES_ENV = "STEDI_PREFECT_API_IDLE_MINUTES"
DEFAULT_IDLE_MINUTES = 30.0


def idle_minutes() -> float:
    """How long the local server lasts with no run using it; 0: a temporary API per run."""
    text = os.environ.get(IDLE_MINUTES_ENV, "").strip()
    try:
        minutes = float(text) if text else DEFAULT_IDLE_MINUTES
    except ValueError:
        minutes = -1.0
    if not minutes >= 0:
        raise ValueError(f"{IDLE_MINUTES_ENV}={text!r}: give minutes, 0 or more (0: the API ends with each run)")
    return minutes


def _server_command(port: int, *options: str) -> list[str]:
    return [
        sys.executable, "-m", "stedi.lifecycle", *options,
        "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip


class _API:
    """What a run needs of the API it uses; `url` is set by the subclass."""

    url: str
    serves_ui = False

    process: subprocess.Popen | _Running
    starts: int

    def wait_until_healthy(self) -> None:
        """Wait for the server, within the start-up timeout; one that exits or does not answer first is
        replaced (`_replace`), up to _STARTS starts in all."""
        while True:
            try:
                wait_until_healthy(self.url, self.process, _STARTUP_TIMEOUT_S)
                return
            except (ServerExited, ServerSilent) as error:
                if self.starts >= _STARTS:
                    raise
                logging.getLogger(__name__).info("%s: starting another", error)
                self._replace()

    def _replace(self) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def serving(self):
        """Within the block, Prefect clients of this process use this API.

        Flow runs send no heartbeats to it: heartbeats let a server's services mark a run whose process
        died as crashed, and neither of these servers runs that service. Prefect's heartbeat thread sleeps in
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
        raise NotImplementedError

    def withdraw(self) -> None:
        """Not needed after all: the profile names another API."""
        self.stop()


class TemporaryAPI(_API):
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
            *_server_command(self.port),
            "--no-ui", "--no-services", "--analytics-off", "--log-level", "ERROR",
        ]  # fmt: skip
        output = log.open("ab") if log is not None else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                command, env=env, stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            if log is not None:
                output.close()  # the server holds its own copy

    def _replace(self) -> None:
        """One that exited before it answered (its port taken between free_port and its bind, by a process
        starting beside it), or that does not answer, is started again on another port."""
        self.stop()
        self._start()

    def stop(self) -> None:
        """Close the server's input, as this process's exit would: it shuts down, and is killed if stuck."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# The local server records what the UI shows of a run: its task runs and events (both come to the API as
# events, stored by these services), and vacuums old events; the services for deployments, schedules,
# automations and crashed-run detection stay off: `stedi run` uses none, and each polls on the two cores
# a run has.
_ONLY_RECORDING_SERVICES = {
    f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false"
    for name in (
        "CANCELLATION_CLEANUP", "CLEANUP_RECONCILER", "FOREMAN", "LATE_RUNS", "PAUSE_EXPIRATIONS",
        "REPOSSESSOR", "SCHEDULER", "TRIGGERS",
    )
}  # fmt: skip
_STATE, _LEASE, _START, _LOG = "stedi-api.json", "stedi-api.lease", "stedi-api.start", "stedi-api.log"
# What the lasting server must not carry from the run that started it: the warehouse passwords and the
# pseudonymisation secret the run holds in its environment, and credentials of any kind.
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|_KEY$", re.IGNORECASE)


def _server_environment() -> dict[str, str]:
    kept = {name: value for name, value in os.environ.items() if not _SECRET_NAME.search(name)}
    return {**kept, **WITHOUT_BLOCK_REGISTRATION, **_ONLY_RECORDING_SERVICES}


def prefect_home() -> Path:
    """Prefect's home as its settings would find it from the environment (read without importing them)."""
    return Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()


class LocalServer(_API):
    """The local Prefect server that lasts between runs (see the module docstring); this process uses it
    from here until it exits (`stop`)."""

    serves_ui = True

    def __init__(self, idle_minutes: float, home: Path | None = None) -> None:
        import fcntl

        self.home = home or prefect_home()
        self.home.mkdir(parents=True, exist_ok=True)
        self.idle_minutes, self.starts, self.started = idle_minutes, 0, False
        self._lease = (self.home / _LEASE).open("a")
        try:
            fcntl.flock(self._lease, fcntl.LOCK_SH)  # waits while a server ends itself: it holds the lease alone
            os.utime(self._lease.fileno())
            self._use_or_start()
        except BaseException:
            self._lease.close()
            raise
        atexit.register(self.stop)

    def _use_or_start(self, replacing: int | None = None) -> None:
        """Use the server the state file names, if it is one and not `replacing`; else start one. Under the
        start lock: one run starts a server, the others use it."""
        with _locked(self.home / _START):
            state = read_state(self.home)
            if state is not None and state["pid"] != replacing and is_local_server(state["pid"], self.home):
                self.url, self.process = state["url"], _Running(state["pid"])
                self.idle_minutes = state.get("idle_minutes", self.idle_minutes)
            else:
                self._start()

    def _start(self) -> None:
        self.starts += 1
        self.started = True
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/api"
        idle = ["--idle-minutes", str(self.idle_minutes), "--lease", str(self.home / _LEASE)]
        command = [
            *_server_command(port, *idle, "--state", str(self.home / _STATE)),
            "--analytics-off", "--log-level", "ERROR",
        ]  # fmt: skip
        # Its own session, its input from nowhere: neither a Ctrl-C in the terminal nor this process's
        # end reaches it. It lasts until it has been idle long enough (stedi.lifecycle.end_when_idle).
        with (self.home / _LOG).open("wb") as output:  # this server's log only: it never grows without bound
            self.process = subprocess.Popen(
                command,
                env=_server_environment(),
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        write_state(self.home, {"url": self.url, "pid": self.process.pid, "idle_minutes": self.idle_minutes})

    def _replace(self) -> None:
        """One that exited or does not answer (whoever started it: one still starting answers within the
        start-up timeout) is replaced by a new one; one this process started is stopped first."""
        if self.started:
            stop_process(self.process, _STOP_TIMEOUT_S)
        self._use_or_start(replacing=self.process.pid)

    def stop(self) -> None:
        """This process is done with the server: it may end once it has been idle long enough."""
        if self._lease.closed:
            return
        os.utime(self._lease.fileno())  # the idle time counts from now
        self._lease.close()  # and with it the shared lock

    def withdraw(self) -> None:
        """Not needed after all (the profile names another API): a server this process started ends now."""
        if self.started:
            forget_state(self.home / _STATE, self.process.pid)
            stop_process(self.process, _STOP_TIMEOUT_S)
        self.stop()


@contextlib.contextmanager
def _locked(path: Path):
    import fcntl

    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def is_local_server(pid: int, home: Path) -> bool:
    """Whether `pid` is a live local server of `home` (not a process that took a stale pid since)."""
    import psutil

    try:
        command = psutil.Process(pid).cmdline() if pid > 0 else []
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return False
    return "stedi.lifecycle" in command and "--idle-minutes" in command and str(home / _STATE) in command


class ServerInUse(RuntimeError):
    """A run is using the local server."""


def stop_local_server(home: Path | None = None) -> str | None:
    """End the local server now, whatever its idle time (`stedi ui --stop`); the URL it served, or None when
    none was up. Never under a run (ServerInUse). Its runs' records stay in Prefect's database."""
    import fcntl

    import psutil

    home = home or prefect_home()
    state = read_state(home)
    if state is None:
        return None
    with (home / _LEASE).open("a") as lease:
        try:
            fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held until the server has ended, as its own end
        except BlockingIOError:
            raise ServerInUse(f"a run is using the local Prefect server at {ui_url(state['url'])}") from None
        ours = is_local_server(state["pid"], home)
        if ours:
            process = psutil.Process(state["pid"])
            process.terminate()
            try:
                process.wait(timeout=_STOP_TIMEOUT_S)
            except psutil.TimeoutExpired:
                process.kill()
        forget_state(home / _STATE, state["pid"])
    return state["url"] if ours else None


def ui_url(api_url: str) -> str:
    """The dashboard of the server whose API is at `api_url`."""
    return api_url.rstrip("/").removesuffix("/api")


class _Running:
    """A server process that another run started: Popen's `poll`, by its pid."""

    def __init__(self, pid: int) -> None:
        self.pid, self.returncode = pid, None

    def poll(self) -> int | None:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            self.returncode = -1  # not known: not this process's child
        except PermissionError:
            pass  # alive, another user's
        return self.returncode


def read_state(home: Path) -> dict | None:
    """The local server named in `<home>/stedi-api.json`, or None."""
    try:
        state = json.loads((home / _STATE).read_text())
        valid = isinstance(state.get("url"), str) and isinstance(state.get("pid"), int) and state["pid"] > 0
        return state if valid else None
    except (OSError, ValueError, AttributeError):
        return None


def write_state(home: Path, state: dict) -> None:
    partial = home / f"{_STATE}.{os.getpid()}"
    partial.write_text(json.dumps(state) + "\n")
    partial.replace(home / _STATE)


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


class ServerSilent(RuntimeError):
    """The API did not answer its health check in time."""


def wait_until_healthy(api_url: str, process: subprocess.Popen | _Running, timeout_s: float) -> None:
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
    raise ServerSilent(f"the Prefect API at {api_url} did not answer within {timeout_s} s")


def start_api(idle: float, log: Path | None = None) -> _API | None:
    """The API for this run, unless a server or Prefect Cloud is configured (environment or profile): the
    local server (started if none is up) or, with `idle` 0, a temporary API, printing to `log`.

    The profile is read after the start: reading it imports Prefect's settings (over a second), and the
    API's start-up is what the run waits for. A profile that names a server lets the API go again.
    """
    if os.environ.get("PREFECT_API_URL"):
        return None
    api = TemporaryAPI(log) if idle == 0 else LocalServer(idle)
    if configured_api_url():  # the profile names one: it wins, as in Prefect
        api.withdraw()
        return None
    return api


def configured_api_url() -> str | None:
    """The API that Prefect is configured to use (environment, or the active profile's
    `prefect config set PREFECT_API_URL`), or None."""
    from prefect.settings import PREFECT_API_URL

    return os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value() or None


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
