"""The README's local shell blocks, run exactly as written, in a copy of the repository.

A block is found by its heading: a `## ` section, or the bold lead of a paragraph inside one
(`**Reports**`). The AWS blocks and the Redshift smoke test need an account and are not run. Each block
runs as a bash script with `set -e`, in its own process session; whatever it leaves running (the
Prefect server and worker it starts with `&`) is stopped afterwards. The copy shares the real `.venv`
(symlinked), whose editable install imports the project's code from this checkout.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

# The blocks run, by heading, with how many ```sh blocks each has; they run in the README's order.
RUN = {"Quick start": 2, "Deploy with Prefect": 1, "Reports": 2, "Production-scale data": 1}
# `make test` runs this suite, this test included: run inside it, it would recurse. Exactly this line of
# the Quick start is skipped; the test fails when the README no longer has it, so a changed line cannot
# slip through untested.
SKIPPED_LINE = "make test    # the test suite (unit, integration on the sample, PostgreSQL loads)"
BLOCK_TIMEOUT_S = 600
PREFECT_PORT = 4200  # fixed in the Deploy block


def readme_blocks(text: str) -> list[tuple[str, str]]:
    """(heading, block) for every ```sh block of the README, in order."""
    blocks, heading, previous, lines = [], "", "", iter(text.splitlines())
    for line in lines:
        if line.startswith("## "):
            heading = line[3:].strip()
        elif line.startswith("**") and not previous.strip():
            heading = re.match(r"\*\*(.+?)\*\*", line).group(1).strip()
        elif line.strip() == "```sh":
            body = []
            for inner in lines:
                if inner.strip() == "```":
                    break
                body.append(inner)
            blocks.append((heading, "\n".join(body) + "\n"))
        previous = line
    return blocks


def blocks_to_run() -> list[tuple[str, str]]:
    blocks = readme_blocks(README.read_text())
    chosen = [(heading, block) for heading, block in blocks if heading in RUN]
    found = {heading: sum(1 for h, _ in chosen if h == heading) for heading in RUN}
    assert found == RUN, f"README.md's shell blocks per heading changed: {found}, this test expects {RUN}"
    quick_start = [line for heading, block in chosen if heading == "Quick start" for line in block.splitlines()]
    assert quick_start.count(SKIPPED_LINE) == 1, f"the Quick start lacks the line this test skips: {SKIPPED_LINE!r}"
    return [(heading, _without_skipped_line(block)) for heading, block in chosen]


def _without_skipped_line(block: str) -> str:
    return (
        "\n".join(
            "# skipped by tests/test_readme.py: `make test` would run this suite again"
            if line == SKIPPED_LINE
            else line
            for line in block.splitlines()
        )
        + "\n"
    )


def copy_repository(target: Path) -> None:
    """The files a commit would hold (tracked, and new ones git does not ignore) with their modification
    times, so that make sees .venv up to date; and .venv itself."""
    listing = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    files = subprocess.run(listing, cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the work tree is not part of what a user gets
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(REPO / ".venv")


def marked_processes(marker: bytes) -> list[int]:
    """Processes whose environment holds `marker`: whatever a block started, however deep."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:  # ended meanwhile, or not ours to read
            continue
    return found


def stop_block(process: subprocess.Popen, marker: bytes) -> None:
    """End the block's process group, then anything it started that left the group."""
    for sig, grace_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        for pid in marked_processes(marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while marked_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not marked_processes(marker):
            break
    process.wait(timeout=10)


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def postgres_reachable() -> bool:
    import psycopg

    try:
        psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=5).close()
    except psycopg.OperationalError:
        return False
    return True


def run_block(number: int, heading: str, block: str, repo: Path, env: dict[str, str], logs: Path) -> None:
    marker = f"STEDI_README_BLOCK={uuid.uuid4().hex}"
    script, log = logs / f"block-{number}.sh", logs / f"block-{number}.log"
    script.write_text("set -e\n" + block)
    name, value = marker.split("=")
    started = time.monotonic()
    with log.open("w") as output:
        process = subprocess.Popen(
            ["bash", str(script)],
            cwd=repo,
            env={**env, name: value},
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            code = process.wait(timeout=BLOCK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            stop_block(process, marker.encode())
    if code != 0:
        outcome = f"timed out after {BLOCK_TIMEOUT_S} s" if code is None else f"exited {code}"
        pytest.fail(
            f"README block {number} under {heading!r} {outcome} ({time.monotonic() - started:.0f} s):\n{block}\n"
            f"--- its output (the end) ---\n{log.read_text()[-6000:]}"
        )


def test_readme_local_blocks_run_as_written(tmp_path):
    blocks = blocks_to_run()
    repo = tmp_path / "repo"
    copy_repository(repo)
    reinstall = subprocess.run(["make", "-n", "run"], cwd=repo, capture_output=True, text=True, check=True).stdout
    assert "pip install" not in reinstall, (
        "make would reinstall the project from the copy into the shared .venv: run `make run` in the repository "
        f"first so .venv is newer than pyproject.toml\n{reinstall}"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STEDI_", "PREFECT_"))}
    env |= {
        "PWD": str(repo),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    left_out = []
    for number, (heading, block) in enumerate(blocks, start=1):
        if f"--port {PREFECT_PORT}" in block and port_in_use(PREFECT_PORT):
            pytest.fail(
                f"port {PREFECT_PORT} is in use: README block {number} under {heading!r} starts a Prefect "
                "server there; stop what listens on it and run the test again"
            )
        if "postgresql://" in block and not postgres_reachable():
            if os.environ.get("CI"):
                pytest.fail(f"PostgreSQL is not reachable at 127.0.0.1:5432 for README block {number} ({heading!r})")
            left_out.append(f"{number} under {heading!r}")
            continue
        run_block(number, heading, block, repo, env, logs)
    # The Quick start says where `make run` writes the warehouse.
    assert "`./warehouse/stedi_warehouse.duckdb`" in README.read_text()
    assert (repo / "warehouse" / "stedi_warehouse.duckdb").is_file()
    if left_out:
        pytest.skip(f"every other block passed; not run without PostgreSQL at 127.0.0.1:5432: {', '.join(left_out)}")
