"""The one SparkSession of a local run: started in the background, ended before the command ends.

`stedi run` starts the JVM while Prefect's API starts and the flow is imported, so that the start-ups
overlap; the local runner's jobs use it (stedi/runners.py); the command ends it beside Prefect's last
writes, and waits for it (stedi/cli.py). An interrupted run cancels its Spark jobs (stedi/lifecycle.py).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import psutil
from pyspark.sql import SparkSession

from stedi import lifecycle
from stedi.spark import JvmLog, build_session

_session: Future[SparkSession] | None = None


def start_session_in_background(master: str = "local[*]", jvm_log: JvmLog = JvmLog()) -> Future[SparkSession]:
    """Start the JVM while Prefect boots its API, so the two start-ups overlap instead of adding up.

    In a daemon thread: an interrupted run does not wait for a start-up it no longer needs (the JVM
    ends by itself when this process does: its gateway exits on EOF).
    """
    global _session
    if _session is None:
        _session = Future()
        threading.Thread(target=_build_into, args=(_session, master, jvm_log), name="spark-start", daemon=True).start()
        lifecycle.on_interrupt(_cancel_jobs)
    return _session


def _cancel_jobs() -> None:
    """An interrupted run does not wait for the Spark jobs its job's threads are waiting for."""
    if _session is not None and _session.done() and _session.exception() is None:
        # Best effort: the JVM may be ending already (its gateway closes as the run unwinds), and then
        # there is nothing left to cancel.
        with contextlib.suppress(Exception):
            _session.result().sparkContext.cancelAllJobs()


def _build_into(session: Future[SparkSession], master: str, jvm_log: JvmLog) -> None:
    session.set_running_or_notify_cancel()
    try:
        session.set_result(build_session(master, jvm_log=jvm_log))
    except BaseException as error:
        session.set_exception(error)


def get_session() -> SparkSession:
    """The run's session: the one started in the background, or a new one."""
    return start_session_in_background().result()


_ending = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spark-end")  # joined at exit, as any
_JVM_EXIT_TIMEOUT_S = 30
_JVM_MAIN_CLASS = "org.apache.spark.deploy.SparkSubmit"  # how pyspark starts the local JVM


def end_session_in_background(wait_for_start: bool = True) -> None:
    """End the run's session and its JVM while the process does its last work (Prefect's last writes).

    Python waits for this at exit, as for any executor's thread: the command ends with its JVM ended.
    Without `wait_for_start`, a JVM still starting is left to end by itself at the process's exit (its
    input, a pipe from this process, then closes).
    """
    if _session is None or (not wait_for_start and not _session.done()):
        return
    _ending.submit(_end_session, _session)


def _end_session(session: Future[SparkSession]) -> None:
    if session.exception() is not None:  # one that never started has nothing to end
        return
    jvms = [child for child in psutil.Process().children() if _JVM_MAIN_CLASS in _command_line(child)]
    for jvm in jvms:
        with contextlib.suppress(psutil.NoSuchProcess):
            jvm.terminate()  # Spark's shutdown hook runs, as at the end of its input
    _, alive = psutil.wait_procs(jvms, timeout=_JVM_EXIT_TIMEOUT_S)
    for jvm in alive:
        print(f"warning: the Spark JVM did not exit within {_JVM_EXIT_TIMEOUT_S} s; it was killed", file=sys.stderr)
        jvm.kill()


def _command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return ""
