"""Where a `stedi` command's messages go: one line each on the terminal, everything in a log file.

The terminal shows Prefect's progress lines and, for a failure, one line that says what and where;
the log file holds every record in full, tracebacks included, and the Spark JVM's warnings and errors
(stedi/log4j2.properties). `--verbose` shows tracebacks and the JVM's warnings on the terminal too;
`--quiet` shows nothing but the final error line. Every handler, the one that sends logs to Prefect's
API included, masks the secrets the run knows (stedi.secrets.redact).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Verbosity = Literal["quiet", "normal", "verbose"]
LOGS_DIR = "_logs"  # <lake>/_logs/<started>-<pid>/, pruned by the run holding the lake (`prune`)


@dataclass(frozen=True)
class RunLog:
    """The log files of one `stedi` command."""

    folder: Path
    verbosity: Verbosity = "normal"

    @property
    def python(self) -> Path:
        return self.folder / "stedi.log"

    @property
    def spark(self) -> Path:
        return self.folder / "spark.log"

    @property
    def prefect_api(self) -> Path:
        """What the temporary Prefect API prints (the local server has a log of its own: stedi.prefect_api)."""
        return self.folder / "prefect-api.log"

    @property
    def spark_console_level(self) -> str:
        return "warn" if self.verbosity == "verbose" else "off"

    def record(self, error: BaseException) -> None:
        """Write `error` with its traceback to the log file (and, with --verbose, to the terminal)."""
        from stedi.secrets import redact

        text = redact("".join(traceback.format_exception(error)))
        with self.python.open("a", encoding="utf-8") as handle:
            handle.write(text)
        if self.verbosity == "verbose":
            sys.stderr.write(text)


def log_root(lake: str) -> Path:
    """Where a command's logs go: beside the lake's run reports for a local lake, else this user's state."""
    from stedi.lake import is_local

    if is_local(lake):
        return Path(lake.removeprefix("file://")) / LOGS_DIR
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "stedi" / LOGS_DIR


def new_run_log(lake: str, verbosity: Verbosity) -> RunLog:
    folder = log_root(lake) / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    return RunLog(folder, verbosity)


def prune(lake: str, keep: int) -> list[Path]:
    """Remove the logs of all `stedi` commands on `lake` but the `keep` newest, and never one of a command
    still running (commands refused by the lake's lock meanwhile must not push out the running one's);
    returns what went. A folder is named `<started, UTC>-<pid>`, so names sort by age."""
    root = log_root(lake)
    folders = sorted((p for p in root.iterdir() if p.is_dir()), reverse=True) if root.is_dir() else []
    removed = [folder for folder in folders[keep:] if not _running(folder)]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def _running(folder: Path) -> bool:
    """Whether the command that writes `folder` still runs on this machine."""
    pid = folder.name.rsplit("-", 1)[-1]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class OneLineFormatter(logging.Formatter):
    """Formats as `inner` does, without the traceback, and only the first line of a long message."""

    def __init__(self, inner: logging.Formatter | None, log: RunLog) -> None:
        super().__init__()
        self.inner, self.log = inner or logging.Formatter(), log

    def format(self, record: logging.LogRecord) -> str:
        brief = logging.makeLogRecord(record.__dict__)
        text = record.getMessage()
        lines = text.strip().splitlines() or [""]
        detail = record.exc_info is not None or len(lines) > 1
        brief.msg, brief.args, brief.exc_info, brief.exc_text, brief.stack_info = lines[0], None, None, None, None
        formatted = self.inner.format(brief)
        return f"{formatted} (details: {self.log.python})" if detail else formatted


class RedactingFormatter(logging.Formatter):
    """Formats as `inner` does, then masks every secret the run knows."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        from stedi.secrets import redact

        return redact(self.inner.format(record))


class _NoLinkToTemporaryApi(logging.Filter):
    """Drops Prefect's `View at http://...` line: it would point at a temporary API, which serves no UI
    and is gone once the command ends."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("View at ")


def configure(log: RunLog, links: bool = True) -> None:
    """Route this process's logging as the module docstring says; call after Prefect set up its logging.
    Without `links` (the API serves no UI), no log line links to it."""
    from prefect.logging.formatters import PrefectFormatter
    from prefect.logging.handlers import PrefectConsoleHandler

    file_handler = logging.FileHandler(log.python, encoding="utf-8")
    file_handler.setFormatter(
        PrefectFormatter(  # as on the terminal, with the date and every detail
            format="%(asctime)s %(levelname)-7s %(name)s - %(message)s",
            flow_run_fmt="%(asctime)s %(levelname)-7s Flow run %(flow_run_name)r - %(message)s",
            task_run_fmt="%(asctime)s %(levelname)-7s Task run %(task_run_name)r - %(message)s",
        )
    )
    root = logging.getLogger()
    root.addHandler(file_handler)
    if not links:
        for handler in _all_handlers():
            handler.addFilter(_NoLinkToTemporaryApi())
    for name in ("stedi", "flows", "tasks", "schemas", "deployments"):  # the project's own records, INFO up
        logging.getLogger(name).setLevel(logging.INFO)
    for handler in _all_handlers():
        if isinstance(handler, PrefectConsoleHandler):
            if log.verbosity == "quiet":
                handler.setLevel(logging.CRITICAL + 1)
            elif log.verbosity == "normal":
                handler.setFormatter(OneLineFormatter(handler.formatter, log))
    mask_secrets()


def mask_secrets() -> None:
    """Make every logging handler of this process (Prefect's API handler, which fills its database,
    included) mask the secrets it knows (stedi.secrets.redact). The flow calls it too, for runs that a
    worker starts; calling it again changes nothing."""
    for handler in _all_handlers():
        if not isinstance(handler.formatter, RedactingFormatter):
            handler.setFormatter(RedactingFormatter(handler.formatter))


def _all_handlers() -> list[logging.Handler]:
    loggers = [logging.getLogger(), *[logging.getLogger(name) for name in list(logging.Logger.manager.loggerDict)]]
    seen: dict[int, logging.Handler] = {}
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            seen.setdefault(id(handler), handler)
    return list(seen.values())
