"""`stedi run` leaves no process behind however it ends: killed, terminated, interrupted or failed.

Every process of a run (the JVM and any shell that starts it, the temporary Prefect API) carries the
run's own PREFECT_HOME in its environment; none may outlive the run by more than a few seconds.
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stedi.settings import SAMPLE_LANDING
from tests.conftest import processes_with_env, stedi_run

pytestmark = pytest.mark.integration

SURVIVAL_S = 15  # from the end of `stedi` to the last process of the run gone
SIGNAL_TO_EXIT_S = 30  # an interrupted run unwinds, reports its crash to Prefect and stops the JVM


@pytest.fixture(autouse=True)
def _needs_proc():
    if processes_with_env("PREFECT_HOME", "/") is None:
        pytest.skip("needs /proc to see other processes' environments")


class Run:
    """`stedi run` on the bundled sample into a tmp lake, in a session of its own as from a terminal."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path / "prefect-home"
        self.lake = tmp_path / "lake"
        self.stderr_path = tmp_path / "stderr"
        env = {**os.environ, "PREFECT_HOME": str(self.home)}
        env.pop("PREFECT_API_URL", None)
        command = [str(Path(sys.executable).with_name("stedi")), "run", "--lake", str(self.lake), "--warehouse", "none"]
        with self.stderr_path.open("w") as stderr:
            self.process = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=stderr, cwd=tmp_path, start_new_session=True
            )

    def processes(self) -> list[str]:
        return processes_with_env("PREFECT_HOME", str(self.home))

    def wait_for(self, moment: str, timeout_s: float = 120) -> None:
        """launch: the run has started its first child (its API, or the shell that launches the JVM);
        start-up: 1.5 s later, the JVM, the API and the flow's imports under way;
        bronze: the flow runs, and its first Spark job writes to the lake."""
        reached = {
            "launch": lambda: len(self.processes()) > 1,
            "start-up": lambda: len(self.processes()) > 1,
            # the bronze job has begun writing its zone's version (the zone appears only once published)
            "bronze": lambda: (self.lake / "_zones" / "bronze").is_dir(),
        }[moment]
        deadline = time.monotonic() + timeout_s
        while not reached():
            assert self.process.poll() is None, f"the run ended before {moment}: {self.stderr()[-3000:]}"
            assert time.monotonic() < deadline, f"no {moment} within {timeout_s} s"
            time.sleep(0.05)
        if moment == "start-up":
            time.sleep(1.5)

    def send(self, signum: int) -> None:
        if signum == signal.SIGINT:  # Ctrl-C in a terminal: the whole foreground process group
            os.killpg(self.process.pid, signum)
        else:  # kill, timeout, a service manager: the process
            self.process.send_signal(signum)

    def survivors_after(self, timeout_s: float) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while (survivors := self.processes()) and time.monotonic() < deadline:
            time.sleep(0.2)
        return survivors

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def end_leftovers(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        kill_processes_with_home(self.home)


def kill_processes_with_home(home: Path) -> None:
    """What a failing test leaves running is killed: nothing of it may slow down the next tests."""
    marker = f"PREFECT_HOME={home}".encode()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                os.kill(int(environ.parent.name), signal.SIGKILL)
        except (OSError, ValueError):  # ended meanwhile, or not ours
            continue


@pytest.fixture
def run(tmp_path):
    started = []
    yield lambda: started.append(Run(tmp_path)) or started[-1]
    for each in started:
        each.end_leftovers()


@pytest.mark.parametrize(
    ("signum", "moment"),
    [
        (signal.SIGKILL, "launch"),  # the JVM is still a spark-submit shell: what it starts must end too
        (signal.SIGTERM, "launch"),
        (signal.SIGINT, "launch"),
        (signal.SIGKILL, "start-up"),
        (signal.SIGTERM, "start-up"),
        (signal.SIGINT, "start-up"),
        (signal.SIGKILL, "bronze"),  # the JVM is running jobs, and exits on its own
        (signal.SIGTERM, "bronze"),  # Prefect's own SIGTERM handler is in place during the flow run
        (signal.SIGINT, "bronze"),
    ],
    ids=lambda value: value.name if isinstance(value, signal.Signals) else value,
)
def test_no_process_of_the_run_outlives_a_signal(run, signum, moment):
    stedi = run()
    stedi.wait_for(moment)
    stedi.send(signum)
    code = stedi.process.wait(timeout=SIGNAL_TO_EXIT_S)
    survivors = stedi.survivors_after(SURVIVAL_S)
    assert survivors == [], f"still running {SURVIVAL_S} s after {signum.name} ended stedi: {survivors}"
    if signum == signal.SIGKILL:
        assert code == -signal.SIGKILL
        return
    # an orderly end: the shell's code for the signal, one line that says so, no traceback
    assert code == 128 + signum, stedi.stderr()[-3000:]
    assert stedi.stderr().splitlines().count(f"stedi run: interrupted by {signum.name}") == 1, stedi.stderr()[-3000:]
    assert "Traceback" not in stedi.stderr()


def test_a_failed_run_leaves_no_process_behind(tmp_path):
    """A run that fails (the quarantine threshold: every accelerometer line is malformed) ends its processes
    before it returns, as a successful run does."""
    landing = tmp_path / "landing"
    for source in ("customer", "step_trainer"):
        shutil.copytree(Path(SAMPLE_LANDING) / source, landing / source)
    (landing / "accelerometer" / "landing").mkdir(parents=True)
    with gzip.open(landing / "accelerometer" / "landing" / "accelerometer-1.json.gz", "wt") as malformed:
        malformed.write("".join(f"{{not json {n}\n" for n in range(100)))

    result = stedi_run(tmp_path, "--landing", str(landing), "--lake", str(tmp_path / "lake"), "--warehouse", "none")

    assert result.returncode == 1, result.stderr[-3000:]
    assert "stedi run: failed" in result.stderr, result.stderr[-3000:]
    assert result.survivors == []


def test_a_child_under_the_launcher_ends_when_its_parent_is_killed(tmp_path):
    """`python -m stedi.lifecycle -m MODULE` ends MODULE once its parent dies, SIGKILL included: the
    parent runs no code then, the closed pipe is the only news."""
    home = tmp_path / "home"
    env = {**os.environ, "PREFECT_HOME": str(home)}
    parent = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-m', 'stedi.lifecycle', '-m', 'http.server', '--bind', '127.0.0.1', "
        "'0'], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "time.sleep(600)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", parent], env=env)
    try:
        deadline = time.monotonic() + 30
        while len(processes_with_env("PREFECT_HOME", str(home))) < 2:
            assert time.monotonic() < deadline, "the child did not start"
            time.sleep(0.05)
        process.kill()
        process.wait()
        deadline = time.monotonic() + 10
        while (survivors := processes_with_env("PREFECT_HOME", str(home))) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert survivors == []
    finally:
        process.kill()
        kill_processes_with_home(home)
