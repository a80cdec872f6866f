"""The one SparkSession of a local run: started in the background, ended before the command ends.

The engine (stedi/settings.py, ENGINES) decides what runs it: `sail`, a Sail server in this process
(a Spark Connect server, no JVM), or `spark`, Apache Spark in a local JVM. `stedi run` starts it while
Prefect's API starts and the flow is imported, so that the start-ups overlap; the local runner's jobs use
it (stedi/runners.py); the command ends it beside Prefect's last writes, and waits for it
(stedi/cli.py). An interrupted run cancels its Spark jobs (stedi/lifecycle.py).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psutil
from pyspark.sql import SparkSession

from stedi import lifecycle
from stedi.spark import JvmLog, build_session, start_sail


@dataclass
class _Session:
    engine: str
    session: Future[SparkSession] = field(default_factory=Future)
    server: Any = None  # Sail's, stopped after the session


_current: _Session | None = None


def start_session_in_background(
    engine: str, master: str = "local[*]", jvm_log: JvmLog = JvmLog()
) -> Future[SparkSession]:
    """Start the engine while Prefect boots its API, so the two start-ups overlap instead of adding up.

    In a daemon thread: an interrupted run does not wait for a start-up it no longer needs (a JVM ends
    by itself when this process does: its gateway exits on EOF; Sail's server lives in this process).
    """
    global _current
    if _current is None:
        _current = _Session(engine)
        threading.Thread(target=_build_into, args=(_current, master, jvm_log), name="spark-start", daemon=True).start()
        lifecycle.on_interrupt(_cancel_jobs)
    elif _current.engine != engine:
        raise RuntimeError(f"this process runs its Spark jobs on {_current.engine}, not {engine}")
    return _current.session


def _build_into(current: _Session, master: str, jvm_log: JvmLog) -> None:
    current.session.set_running_or_notify_cancel()
    try:
        if current.engine == "sail":
            spark, current.server = start_sail(log_level=jvm_log.console_level)
        else:
            spark = build_session(master, jvm_log=jvm_log)
        current.session.set_result(spark)
    except BaseException as error:
        current.session.set_exception(error)


def _cancel_jobs() -> None:
    """An interrupted run does not wait for the Spark jobs its job's threads are waiting for."""
    if _current is None or not _current.session.done() or _current.session.exception() is not None:
        return
    spark = _current.session.result()
    # Best effort: the engine may be ending already (a JVM's gateway closes as the run unwinds), and then
    # there is nothing left to cancel.
    with contextlib.suppress(Exception):
        if _current.server is not None:
            spark.interruptAll()  # Spark Connect's way
        else:
            spark.sparkContext.cancelAllJobs()


def get_session(engine: str) -> SparkSession:
    """The run's session: the one started in the background, or a new one on `engine`."""
    return start_session_in_background(engine).result()


_ending = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spark-end")  # joined at exit, as any
_JVM_EXIT_TIMEOUT_S = 30
_JVM_MAIN_CLASS = "org.apache.spark.deploy.SparkSubmit"  # how pyspark starts the local JVM


def end_session_in_background(wait_for_start: bool = True) -> None:
    """End the run's session and its engine while the process does its last work (Prefect's last writes).

    Python waits for this at exit, as for any executor's thread: the command ends with its engine ended.
    Without `wait_for_start`, an engine still starting is left to end by itself at the process's exit (a
    JVM's input, a pipe from this process, then closes).
    """
    if _current is None or (not wait_for_start and not _current.session.done()):
        return
    _ending.submit(_end_session, _current)


def _end_session(current: _Session) -> None:
    if current.session.exception() is not None:  # one that never started has nothing to end
        return
    if current.server is not None:
        # The server ends with its sessions: the client's own stop() would ask it to release this one, and
        # retry for minutes against a server that Ctrl-C has ended already (Sail ends on SIGINT).
        current.server.stop()
        return
    # From here on the JVM is gone on purpose: a py4j call still in flight (a Java object's finalizer) fails,
    # and py4j logs that failure on the root logger, so a run that succeeded would end with a traceback.
    logging.getLogger().addFilter(_jvm_gone_on_purpose)
    jvms = [child for child in psutil.Process().children() if _JVM_MAIN_CLASS in _command_line(child)]
    for jvm in jvms:
        with contextlib.suppress(psutil.NoSuchProcess):
            jvm.terminate()  # Spark's shutdown hook runs, as at the end of its input
    _, alive = psutil.wait_procs(jvms, timeout=_JVM_EXIT_TIMEOUT_S)
    for jvm in alive:
        print(f"warning: the Spark JVM did not exit within {_JVM_EXIT_TIMEOUT_S} s; it was killed", file=sys.stderr)
        jvm.kill()


def _jvm_gone_on_purpose(record: logging.LogRecord) -> bool:
    """False for py4j's report of a call to the JVM this process has ended: the network error it raises."""
    from py4j.protocol import Py4JNetworkError

    error = record.exc_info[1] if record.exc_info else None
    return not isinstance(error, Py4JNetworkError)


def _command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return ""
