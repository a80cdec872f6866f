"""How `stedi` and the processes it starts end together, however `stedi` ends.

Children: each is given a pipe on its standard input whose only writer is `stedi`. When `stedi` exits,
by any means, SIGKILL included, the kernel closes the pipe and the child reads end-of-file, and ends.
Spark's gateway JVM already does so (pyspark starts it that way, and the JVM exits on EOF); other
children run under `python -m stedi.lifecycle -m MODULE ARGS...`, which does the same for any Python
module that ends cleanly on SIGTERM (the temporary Prefect API's uvicorn). Nothing to clean up, no
process to poll: the end of the parent is the signal.

The one process meant to outlive `stedi`, the local Prefect server (stedi.prefect_api.LocalServer), runs
under `python -m stedi.lifecycle --idle-minutes M --lease FILE --state FILE -m ...` instead: it ends once
no run has held the lease for M minutes (`end_when_idle`).

The parent: SIGINT and SIGTERM raise `Interrupted` in the main thread, so that the run unwinds (Prefect
records the crash, the JVM and the API are stopped) instead of dying where it stands, as Python's default
SIGTERM would, leaving no chance to stop anything.
"""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

TERMINATION_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# A child told to end that has not ended after this long is stuck in its shutdown: it is killed. The
# temporary API ends in well under a second, unless a client of an interrupted run still holds a
# connection open, which uvicorn would wait for without end.
_CHILD_GRACE_S = 3


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM; a KeyboardInterrupt, so that code that lets Ctrl-C through lets it through too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_received: int | None = None
_unwinding = False
_announce = ""


def exit_code(signum: int) -> int:
    """The shell's convention for a process ended by a signal: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signum


def interruption(signum: int) -> str:
    return f"interrupted by {signal.Signals(signum).name}"


def raise_on_termination_signals(announce: str) -> None:
    """From now on the first SIGINT or SIGTERM raises `Interrupted` in the main thread.

    A second one, or one after `stop_raising`, ends the process at once by the first one (its default
    action: the shell shows 130 or 143), after the line `{announce}: interrupted by SIG...` on stderr:
    a user who presses Ctrl-C twice means it, and the children end by themselves when this process does.
    """
    global _announce
    _announce = announce
    for signum in TERMINATION_SIGNALS:
        signal.signal(signum, _on_signal)
    sys.unraisablehook = _on_unraisable


_report_unraisable = sys.unraisablehook


def _on_unraisable(unraisable: Any) -> None:
    """Where Python reports an exception and drops it (a weakref callback such as importlib's module-lock
    one, a __del__), an Interrupted raised there would not end the run: the signal comes again a moment
    later, and raises where the main thread is then."""
    global _dropped
    if isinstance(unraisable.exc_value, Interrupted) and not _unwinding:
        _dropped = True
        threading.Timer(_AGAIN_S, os.kill, (os.getpid(), unraisable.exc_value.signum)).start()
        return
    _report_unraisable(unraisable)


def stop_raising() -> int | None:
    """The process is unwinding: further signals end it at once. Returns the signal received, if any."""
    global _unwinding
    _unwinding = True
    return _received


_on_interrupt: list[Callable[[], None]] = []


def on_interrupt(callback: Callable[[], None]) -> None:
    """Call `callback` (in a thread of its own) when the first SIGINT or SIGTERM arrives: work that blocks
    the unwinding, such as Spark jobs that threads of a job wait for, is cancelled there."""
    _on_interrupt.append(callback)


_AGAIN_S = 0.05
_dropped = False  # the Interrupted raised was reported and dropped (see _on_unraisable): raise it again


def _on_signal(signum: int, frame: object) -> None:
    global _received, _dropped
    first = _received is None
    if first:
        _received = signum
    if (first or _dropped) and not _unwinding:
        if first:
            for callback in _on_interrupt:
                threading.Thread(target=callback, name="on-interrupt", daemon=True).start()
        _dropped = False
        raise Interrupted(signum)
    # Only plain system calls from here: the main thread may be anywhere, holding any lock. The first
    # signal is delivered again, with its default action: the process ends at once, as the signal says.
    if first:
        os.write(sys.stderr.fileno(), f"{_announce}: {interruption(signum)}\n".encode())
    signal.signal(_received, signal.SIG_DFL)
    os.kill(os.getpid(), _received)


def end_on_stdin_eof(grace_s: float = _CHILD_GRACE_S) -> threading.Thread:
    """End this process as SIGTERM does once its standard input (a pipe from the parent) reaches EOF.

    The parent never writes: EOF means it has closed the pipe to stop this process, or has exited.
    """

    def watch() -> None:
        sys.stdin.buffer.read()
        _end_this_process(grace_s)

    return _watching(watch, "end-on-stdin-eof")


def _end_this_process(grace_s: float) -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace_s)
    os.kill(os.getpid(), signal.SIGKILL)  # stuck in its shutdown


def _watching(watch: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=watch, name=name, daemon=True)
    thread.start()
    return thread


def end_when_idle(lease: Path, state: Path, idle_s: float, grace_s: float = _CHILD_GRACE_S) -> threading.Thread:
    """End this process as SIGTERM does once no process has used it for `idle_s` seconds.

    Its users hold a shared flock on `lease` while they use it, and touch the file when they take and
    leave it. When this process can lock it exclusively (no user) and it was last touched `idle_s` ago,
    it removes `state` (the file that names it to users) and ends, keeping the lock until it has ended:
    a user arriving meanwhile waits, then finds no state and starts a new server.
    """

    def watch() -> None:
        import fcntl

        step = min(5.0, max(idle_s / 4, 0.1))
        with lease.open("a") as handle:
            while True:
                time.sleep(step)
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # in use
                if time.time() - os.stat(handle.fileno()).st_mtime >= idle_s:
                    break
                fcntl.flock(handle, fcntl.LOCK_UN)
            forget_state(state, os.getpid())
            _end_this_process(grace_s)

    return _watching(watch, "end-when-idle")


def forget_state(state: Path, pid: int) -> None:
    """Remove the state file `state` if it names the server `pid` (and not a server started since)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        if json.loads(state.read_text()).get("pid") == pid:
            state.unlink()


_USAGE = (
    "usage: python -m stedi.lifecycle [--idle-minutes M --lease FILE --state FILE] -m MODULE [ARGS...]\n"
    "(without --idle-minutes, standard input is a pipe from the parent)"
)


def main(argv: Sequence[str]) -> None:
    """`python -m stedi.lifecycle -m MODULE ARGS...`: run MODULE as `python -m` would, ending on stdin EOF
    or, with `--idle-minutes M --lease FILE --state FILE` first, once idle for M minutes."""
    argv = list(argv)
    if argv[:1] == ["--idle-minutes"]:
        if len(argv) < 6 or argv[2] != "--lease" or argv[4] != "--state":
            sys.exit(_USAGE)
        end_when_idle(Path(argv[3]), Path(argv[5]), float(argv[1]) * 60)
        argv = argv[6:]
    else:
        end_on_stdin_eof()
    if len(argv) < 2 or argv[0] != "-m":
        sys.exit(_USAGE)
    module, *args = argv[1:]
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
