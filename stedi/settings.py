"""The run's settings: one typed object, and the one declaration of the run parameters.

Each field of `Settings` is a run parameter. The flow's parameters (flows/stedi_lakehouse.py), the
options of `stedi run` and `stedi doctor` (stedi/cli.py) and the worker's environment variables
(STEDI_<NAME>) all derive from these fields, their help and their defaults. A value given explicitly
wins, then STEDI_<NAME>, then the runner's default: local runs default to the bundled sample, ./lake and
an embedded DuckDB warehouse; the glue runner has no defaults for where the data is.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from stedi.rules import CONSENT_POLICIES, QUARANTINE_THRESHOLD
from stedi.sources import SOURCES

Runner = Literal["local", "glue"]
RUNNERS: tuple[Runner, ...] = ("local", "glue")
# The local runner's Spark engines (stedi/local_session.py). The default is the fastest one proven to give
# the same tables as Apache Spark (tests/stedi/test_engines.py); Glue runs Glue's own Spark.
ENGINES = ("sail", "spark")
DEFAULT_ENGINE = "sail"

SAMPLE_LANDING = str(Path(__file__).parent / "sample")
DEFAULT_WAREHOUSE = "duckdb:///./warehouse/stedi_warehouse.duckdb"
NO_WAREHOUSE = "none"  # the lake only (queried through Athena and the Glue Data Catalog): no load
NO_STAGE = "none"  # the warehouse COPYs from the lake itself
DEFAULT_KEEP_RUNS = 30  # run reports (and `stedi run` logs, temporary API flow runs) kept: the newest 30 runs


class SettingsError(ValueError):
    """A setting is missing or wrong: the message says which and how to set it."""


@dataclass(frozen=True)
class Parameter:
    """How one field of Settings is given: its help, and what the command line and the environment take."""

    help: str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    local_default: Any = None  # the local runner's default, where the field's own default is None
    on_command_line: bool = True  # `stedi run --<name>`
    repeatable: bool = False  # the option may be given more than once; STEDI_<NAME> is comma-separated
    parse: Callable[[Any], Any] | None = None  # text (or a value) to the field's type, or SettingsError
    flag: bool = False  # on the command line an option without a value (`--full-refresh`)

    def env(self, name: str) -> str:
        return f"STEDI_{name.upper()}"


def _parameter(help: str, default: Any = None, **how: Any) -> Any:
    return field(default=default, metadata={"parameter": Parameter(help, **how)})


def _fraction(value: Any) -> float:
    try:
        fraction = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"quarantine threshold must be a fraction between 0 and 1, got {value!r}") from None
    if not 0 <= fraction <= 1:
        raise SettingsError(f"quarantine threshold must be a fraction between 0 and 1, got {value!r}")
    return fraction


def _count(value: Any) -> int:
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"runs to keep must be a whole number of at least 1, got {value!r}") from None
    if count < 1:
        raise SettingsError(f"runs to keep must be a whole number of at least 1, got {value!r}")
    return count


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise SettingsError(f"expected true or false, got {value!r}")


def _sources(value: Any) -> tuple[str, ...]:
    names = [name for name in (value.split(",") if isinstance(value, str) else value) if name]
    unknown = [name for name in names if name not in SOURCES]
    if unknown:
        raise SettingsError(f"unknown source {unknown[0]!r} to allow empty; expected one of {', '.join(SOURCES)}")
    return tuple(sorted(set(names)))


@dataclass(frozen=True)
class Settings:
    runner: Runner = _parameter(
        "local (Spark in-process) or glue (AWS Glue job runs deployed by `stedi deploy glue`)",
        default="local",
        choices=RUNNERS,
        on_command_line=False,
    )
    engine: str = _parameter(
        "the local runner's Spark engine: sail (Sail, a Spark Connect server written in Rust: no JVM, the "
        "fastest) or spark (Apache Spark in a local JVM, the reference; needs Java 17); Glue job runs use "
        "Glue's Spark whatever this says",
        default=DEFAULT_ENGINE,
        choices=ENGINES,
    )
    landing: str = _parameter(
        "landing root, a folder or s3:// laid out like the S3 bucket: customer/landing/, "
        "accelerometer/landing/, step_trainer/landing/ holding JSON lines (.json or .json.gz, in nested "
        "folders too)",
        metavar="PATH",
        local_default=SAMPLE_LANDING,
    )
    lake: str = _parameter(
        "where the zones are written, a folder or s3://: <lake>/bronze/<source>/, <lake>/silver/<table>/, "
        "<lake>/quarantine/<source>/",
        metavar="PATH",
        local_default="lake",
    )
    warehouse: str = _parameter(
        "where gold is loaded: duckdb:///PATH (embedded, created if missing), "
        "postgresql://USER@HOST:PORT/DB (password in PGPASSWORD), redshift://USER@HOST:PORT/DB (password in "
        "REDSHIFT_PASSWORD, IAM role in STEDI_REDSHIFT_IAM_ROLE, lake on s3:// or a warehouse stage), or none to "
        "stop at the lake",
        metavar="URL",
        local_default=DEFAULT_WAREHOUSE,
    )
    warehouse_stage: str = _parameter(
        "s3://BUCKET/PREFIX where a local lake's gold is uploaded for Redshift's COPY, which reads only S3 "
        "(stedi/warehouse/stage.py); none: the warehouse reads the lake itself (a folder for duckdb:// and "
        "postgresql://, s3:// for redshift://)",
        default=NO_STAGE,
        metavar="S3_URI",
    )
    consent_policy: str = _parameter(
        "ever: readings of customers who gave research consent at any time; as-of: only readings taken at "
        "or after the customer's research consent (the consent rule, stedi/rules.py)",
        default="ever",
        choices=CONSENT_POLICIES,
    )
    quarantine_threshold: float = _parameter(
        "the share of a source's landing files, or of its records, in the lake as a whole, that may be "
        "quarantined before the run fails and publishes nothing (the quarantine threshold, stedi/rules.py)",
        default=QUARANTINE_THRESHOLD,
        metavar="FRACTION",
        parse=_fraction,
    )
    allow_empty: tuple[str, ...] = _parameter(
        "sources whose landing may be empty although earlier runs ingested records from them (their tables "
        "are then published empty); without it such a run fails before publishing anything",
        default=(),
        metavar="SOURCE",
        choices=tuple(SOURCES),
        repeatable=True,
        parse=_sources,
    )
    full_refresh: bool = _parameter(
        "rebuild every zone and the warehouse from all landing files; without it a run ingests only the "
        "files the lake has not ingested (stedi/ingestion.py)",
        default=False,
        flag=True,
        parse=_flag,
    )
    keep_runs: int = _parameter(
        "how many runs' reports and logs the lake keeps, and flow runs the temporary Prefect API keeps, "
        "this one's included",
        default=DEFAULT_KEEP_RUNS,
        metavar="N",
        parse=_count,
    )

    @classmethod
    def resolve(cls, **given: Any) -> Settings:
        """The settings from the values given (None or empty: not given), STEDI_<NAME>, then the defaults."""
        unknown = set(given) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        env = os.environ
        runner = given.get("runner") or env.get("STEDI_RUNNER") or "local"
        if runner not in RUNNERS:
            raise SettingsError(f"unknown runner {runner!r}; expected one of {', '.join(RUNNERS)}")
        values: dict[str, Any] = {"runner": runner}
        for setting, parameter in parameters(cls):
            if setting.name == "runner":
                continue
            value = given.get(setting.name)
            if value is None or value == [] or value == ():
                value = env.get(parameter.env(setting.name))
            if value is None or value == "":
                value = setting.default
                if value is None and runner == "local":
                    value = parameter.local_default
            if value is None:
                raise SettingsError(
                    f"{setting.name} is required for the {runner} runner: pass it or set {parameter.env(setting.name)}"
                )
            values[setting.name] = parameter.parse(value) if parameter.parse else value
        return cls(**values).validated()

    def as_parameters(self) -> dict[str, Any]:
        """The settings as the flow's parameters (JSON-like: lists, not tuples)."""
        return {name: list(value) if isinstance(value, tuple) else value for name, value in vars(self).items()}

    @property
    def loads_warehouse(self) -> bool:
        return self.warehouse != NO_WAREHOUSE

    @property
    def stages_gold(self) -> bool:
        return self.warehouse_stage != NO_STAGE

    def validated(self) -> Settings:
        for setting, parameter in parameters(type(self)):
            value = getattr(self, setting.name)
            if parameter.choices and not parameter.repeatable and value not in parameter.choices:
                name = setting.name.replace("_", " ")
                raise SettingsError(f"unknown {name} {value!r}; expected one of {', '.join(parameter.choices)}")
        if self.loads_warehouse:  # a URL that cannot work is refused before any work, not after the lake
            from stedi.warehouse.backends import WarehouseConfigError, backend_for

            try:
                backend_for(self.warehouse)
            except WarehouseConfigError as error:
                raise SettingsError(str(error)) from None
        self._check_stage()
        if self.runner == "local":
            return replace(
                self,
                landing=_absolute(self.landing),
                lake=_absolute(self.lake),
                warehouse=_absolute_duckdb(self.warehouse),
            )
        # Glue job runs cannot see this machine's folders, and only Redshift loads gold from S3.
        for name in ("landing", "lake"):
            if not getattr(self, name).startswith("s3://"):
                raise SettingsError(f"the glue runner needs an s3:// {name}, got {getattr(self, name)!r}")
        if self.loads_warehouse and not self.warehouse.startswith("redshift://"):
            raise SettingsError(f"the glue runner loads gold into redshift://... (or none), got {self.warehouse!r}")
        return self

    def _check_stage(self) -> None:
        """Redshift COPYs from S3 only: a folder lake needs a stage, an s3:// lake none; no other warehouse has one."""
        lake_on_s3, redshift = self.lake.startswith("s3://"), self.warehouse.startswith("redshift://")
        if not self.loads_warehouse:  # nothing is loaded, so nothing is staged: a stage set for other runs waits
            return
        if not self.stages_gold:
            if redshift and not lake_on_s3:
                raise SettingsError(
                    f"Redshift COPYs from S3 and the lake {self.lake!r} is a folder: give an s3:// lake, or a "
                    "warehouse stage (--warehouse-stage s3://BUCKET/PREFIX) to upload gold to before the COPY"
                )
            return
        if not redshift:
            raise SettingsError(f"only a redshift:// warehouse loads from a warehouse stage, not {self.warehouse!r}")
        if lake_on_s3:
            raise SettingsError(
                f"the lake {self.lake!r} is on S3 already: Redshift COPYs from it; leave the warehouse stage unset"
            )
        if not self.warehouse_stage.startswith("s3://") or not urlparse(self.warehouse_stage).netloc:
            raise SettingsError(f"the warehouse stage must be s3://BUCKET[/PREFIX], got {self.warehouse_stage!r}")


def parameters(settings: type[Settings] = Settings) -> list[tuple[Any, Parameter]]:
    """(field, Parameter) for every run parameter, in their declared order."""
    return [(f, f.metadata["parameter"]) for f in fields(settings)]


def default_of(setting: Any, parameter: Parameter) -> Any:
    """What a local run uses when the parameter is not given."""
    default = None if setting.default is MISSING else setting.default
    return parameter.local_default if default is None else default


def taking_run_parameters(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function(**parameters)` with a signature and an Args docstring of every run parameter: what Prefect
    reads for the flow's parameters (their form in the UI, `--params`). Each defaults to None: not given."""
    signature = inspect.Signature(
        [
            inspect.Parameter(setting.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=_optional(setting))
            for setting, _ in parameters()
        ],
        return_annotation=inspect.signature(function).return_annotation,
    )
    arguments = "".join(f"\n    {setting.name}: {parameter.help}" for setting, parameter in parameters())
    function.__signature__ = signature  # type: ignore[attr-defined]
    function.__doc__ = f"{inspect.cleandoc(function.__doc__ or '')}\n\nArgs:{arguments}\n"
    return function


def _optional(setting: Any) -> Any:
    types = {"float": float | None, "int": int | None, "bool": bool | None, "tuple[str, ...]": list[str] | None}
    return types.get(setting.type, str | None)


def _absolute(path: str) -> str:
    return path if "://" in path else str(Path(path).resolve())


def _absolute_duckdb(url: str) -> str:
    """duckdb:///relative/path -> duckdb:////absolute/path, so a flow run's cwd cannot move the file."""
    prefix = "duckdb:///"
    return prefix + str(Path(url.removeprefix(prefix)).resolve()) if url.startswith(prefix) else url
