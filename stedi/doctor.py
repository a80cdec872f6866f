"""`stedi doctor`: what `stedi run` needs, checked one by one without running anything, like `dbt debug`.

Each check says ok, warn (a run works, but not as well as it could) or FAIL (a run would fail), and for
the last two what to do about it. Nothing is written: no lake, no key, no warehouse file is created.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from stedi.settings import DEFAULT_ENGINE

Status = Literal["ok", "warn", "FAIL"]


@dataclass(frozen=True)
class Check:
    status: Status
    name: str
    detail: str
    fix: str = ""

    def __str__(self) -> str:
        return f"{self.status:4}  {self.name:13} {self.detail}" + (f"\n{'':19} fix: {self.fix}" if self.fix else "")


def run_checks(options: dict[str, Any], quiet: bool = False) -> int:
    """Print every check; 1 when one FAILed, else 0."""
    failed = False
    for check in checks(options):
        failed |= check.status == "FAIL"
        if not quiet or check.status != "ok":
            print(check, flush=True)
    if not quiet:
        print("\nstedi doctor: " + ("something must be fixed (FAIL above)" if failed else "ready to run"))
    return 1 if failed else 0


def checks(options: dict[str, Any]) -> Iterator[Check]:
    yield _python()
    yield _java(options.get("engine") or os.environ.get("STEDI_ENGINE") or DEFAULT_ENGINE)
    yield from _packages()
    settings = None
    try:
        settings = _settings(options)
        yield Check(
            "ok",
            "settings",
            f"landing {settings.landing}, lake {settings.lake}, consent policy {settings.consent_policy}, "
            f"engine {settings.engine}",
        )
    except Exception as error:
        yield Check("FAIL", "settings", str(error), "correct the option or STEDI_* variable it names")
    if settings is None:
        return
    yield from _landing(settings.landing)
    yield _lake(settings.lake)
    yield _pseudonym_key(settings.lake)
    yield _warehouse(settings)
    if settings.loads_warehouse and settings.stages_gold:
        yield _warehouse_stage(settings.warehouse_stage)
    yield _prefect()


def _python() -> Check:
    found = platform.python_version()
    if tuple(map(int, found.split(".")[:2])) < (3, 11):
        return Check("FAIL", "python", found, "install Python 3.11 or 3.12")
    return Check("ok", "python", found)


def _java(engine: str) -> Check:
    """Java is needed by the spark engine only (and by the Spark 3.5 tests)."""
    from stedi.spark import JVM_ARCHIVE, JavaMissingError, require_java

    try:
        require_java()
    except JavaMissingError as error:
        if engine != "spark":
            return Check("warn", "java", f"not found: needed for --engine spark only (this run: {engine})", str(error))
        return Check("FAIL", "java", "not found", str(error))
    java = os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else shutil.which("java")
    printed = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr.splitlines()
    found = printed[0] if printed else java
    if not JVM_ARCHIVE.is_file():
        return Check(
            "warn",
            "java",
            f"{found}; no JVM class archive, so Spark starts slower",
            "run `make` (or `.venv/bin/python -m stedi.jvm_archive`) once",
        )
    return Check("ok", "java", f"{found}, with the JVM class archive")


def _packages() -> Iterator[Check]:
    for package in ("pyspark", "pysail", "prefect", "pandera", "duckdb", "psycopg", "redshift-connector", "boto3"):
        try:
            yield Check("ok", "package", f"{package} {version(package)}")
        except PackageNotFoundError:
            yield Check("FAIL", "package", f"{package} is not installed", "run `make` to install the project")


def _settings(options: dict[str, Any]) -> Any:
    from stedi.settings import Settings

    return Settings.resolve(runner="local", **options)


def _landing(landing: str) -> Iterator[Check]:
    from stedi.lake import landing_folder
    from stedi.landing import inspect_source
    from stedi.sources import SOURCES
    from stedi.text import format_counts

    for name in SOURCES:
        folder = landing_folder(landing, name)
        found = inspect_source(folder)
        detail = f"{name}: {len(found.read):,} file{'' if len(found.read) == 1 else 's'} to read in {folder}"
        if found.quarantined:
            detail += f"; would quarantine {len(found.quarantined)} ({format_counts(found.report().quarantined)})"
        if found.skipped:
            detail += f"; would skip {len(found.skipped)}"
        if found.quarantined:
            first = found.quarantined[0]
            yield Check("warn", "landing", detail, f"{first.path}: {first.detail} (and see the run summary)")
        elif not found.read:
            yield Check(
                "warn",
                "landing",
                detail,
                f"deliver {name} files into {folder}; a run onto a lake that "
                f"holds {name} records fails without --allow-empty {name}",
            )
        else:
            yield Check("ok", "landing", detail)


def _lake(lake: str) -> Check:
    from stedi.lake import is_local, lock_holder

    if not is_local(lake):
        return Check(
            "FAIL",
            "lake",
            f"{lake}: `stedi run` writes local lakes; s3:// lakes are the glue deployment's",
            "use a folder, or the glue deployment",
        )
    root = Path(lake)
    existing = next(p for p in (root, *root.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return Check(
            "FAIL",
            "lake",
            f"{lake}: {existing} is not a folder this user can write in",
            "choose another --lake, or fix the folder's permissions",
        )
    holder = lock_holder(lake)
    if holder:
        return Check("warn", "lake", f"{lake} is being written by {holder}", "wait for that run to end")
    return Check("ok", "lake", f"{lake} ({'exists' if root.exists() else 'created by the first run'})")


def _pseudonym_key(lake: str) -> Check:
    import stat

    from stedi.secrets import SECRET_BLOCK, SECRET_ENV, local_key_file

    if os.environ.get(SECRET_ENV):
        return Check("ok", "pseudonyms", f"key from {SECRET_ENV}")
    path = local_key_file()
    hint = f"set {SECRET_ENV} or the Prefect Secret block {SECRET_BLOCK!r} to share one key across machines"
    if path.resolve().is_relative_to(Path(lake).resolve()):
        return Check("FAIL", "pseudonyms", f"the key file {path} lies inside the lake", "keep it outside the lake")
    if not path.exists():
        return Check(
            "ok",
            "pseudonyms",
            f"the Prefect Secret block {SECRET_BLOCK!r} if the workspace has one, else "
            f"this machine's key, made at the first run in {path}",
        )
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return Check("FAIL", "pseudonyms", f"{path} is readable by others ({stat.filemode(mode)})", f"chmod 600 {path}")
    return Check(
        "ok",
        "pseudonyms",
        f"the Prefect Secret block {SECRET_BLOCK!r} if the workspace has one, else "
        f"this machine's key in {path} ({hint})",
    )


def _warehouse(settings: Any) -> Check:
    from stedi.warehouse.backends import backend_for

    if not settings.loads_warehouse:
        return Check("ok", "warehouse", "none: runs stop at the lake")
    try:
        backend = backend_for(settings.warehouse)
        backend.check()
    except Exception as error:
        return Check(
            "FAIL",
            "warehouse",
            str(error).splitlines()[0],
            "start or reach the server, set its password variable, or close what holds the file",
        )
    return Check("ok", "warehouse", f"{backend.display_url} answers")


def _warehouse_stage(stage: str) -> Check:
    """The stage can be listed with these credentials, as a load lists it to remove what it staged (the
    operator policy of infra/ grants listing the stage's prefix, not the whole bucket)."""
    from urllib.parse import urlparse

    from stedi import aws

    parsed = urlparse(stage)
    try:
        prefix = parsed.path.strip("/") + "/"
        aws.client("s3").list_objects_v2(Bucket=parsed.netloc, Prefix=prefix, MaxKeys=1)
    except Exception as error:
        return Check(
            "FAIL",
            "stage",
            f"{stage}: {str(error).splitlines()[0]}",
            "create the bucket (infra/ does), or set AWS credentials and region that reach it",
        )
    return Check("ok", "stage", f"{stage}: listed; gold is staged there for the COPY")


def _prefect() -> Check:
    from stedi.prefect_api import DEFAULT_IDLE_MINUTES, configured_api_url

    url = configured_api_url()
    if not url:
        try:
            return Check("ok", "prefect", _local_api())
        except ValueError as error:
            return Check(
                "FAIL", "prefect", str(error), f"give minutes, or unset it (default: {DEFAULT_IDLE_MINUTES:g})"
            )
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=5) as response:
            healthy = response.status == 200
    except urllib.error.HTTPError as error:
        return Check(
            "FAIL",
            "prefect",
            f"the Prefect API at {url} answers {error.code} {error.reason}",
            "check PREFECT_API_KEY (`prefect cloud login`)" if error.code in (401, 403) else "check the URL",
        )
    except OSError as error:
        return Check(
            "FAIL",
            "prefect",
            f"PREFECT_API_URL {url} does not answer: {error}",
            "start the server (`prefect server start`), or unset PREFECT_API_URL",
        )
    return Check("ok" if healthy else "FAIL", "prefect", f"the Prefect API at {url} answers")


def _local_api() -> str:
    """What `stedi run` will use with no server configured: the local server (up or not), or a temporary API."""
    from stedi.prefect_api import IDLE_MINUTES_ENV, idle_minutes, is_local_server, prefect_home, read_state, ui_url

    if idle_minutes() == 0:
        return f"no server configured ({IDLE_MINUTES_ENV}=0): each `stedi run` starts a temporary Prefect API"
    home = prefect_home()
    state = read_state(home)
    up = state is not None and is_local_server(state["pid"], home)
    where = f"up, UI at {ui_url(state['url'])}" if up else "not up: the next `stedi run` starts it"
    return f"no server configured: `stedi run` uses the local Prefect server ({where})"
