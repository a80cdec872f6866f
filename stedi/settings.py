"""One typed settings object: the environment (local or glue) decides paths and connections."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from stedi.transforms.silver import CONSENT_POLICIES

Runner = Literal["local", "glue"]
RUNNERS: tuple[Runner, ...] = ("local", "glue")

SAMPLE_LANDING = str(Path(__file__).parent / "sample")
DEFAULT_WAREHOUSE = "duckdb:///./warehouse/stedi_warehouse.duckdb"
NO_WAREHOUSE = "none"  # the lake only (queried through Athena and the Glue Data Catalog): no load
DEFAULT_QUARANTINE_THRESHOLD = 0.05  # a run fails when a source quarantines more than 5% of its files or records
DEFAULT_KEEP_RUNS = 30  # run reports (and `stedi run` logs, temporary API flow runs) kept: the newest 30 runs


class SettingsError(ValueError):
    """A setting is missing or wrong: the message says which and how to set it."""


@dataclass(frozen=True)
class Settings:
    runner: Runner
    landing: str
    lake: str
    warehouse: str
    consent_policy: str = "ever"
    quarantine_threshold: float = DEFAULT_QUARANTINE_THRESHOLD
    allow_empty: tuple[str, ...] = ()  # sources whose landing may be empty although earlier runs had records
    keep_runs: int = DEFAULT_KEEP_RUNS

    @classmethod
    def resolve(
        cls,
        runner: str | None = None,
        landing: str | None = None,
        lake: str | None = None,
        warehouse: str | None = None,
        consent_policy: str | None = None,
        quarantine_threshold: float | None = None,
        allow_empty: Sequence[str] | None = None,
        keep_runs: int | None = None,
    ) -> Settings:
        """Explicit values win, then STEDI_* environment variables, then the runner's defaults."""
        env = os.environ
        chosen = runner or env.get("STEDI_RUNNER", "local")
        if chosen not in RUNNERS:
            raise SettingsError(f"unknown runner {chosen!r}; expected one of {', '.join(RUNNERS)}")
        defaults = _LOCAL_DEFAULTS if chosen == "local" else {}
        values = {
            "landing": landing or env.get("STEDI_LANDING") or defaults.get("landing"),
            "lake": lake or env.get("STEDI_LAKE") or defaults.get("lake"),
            "warehouse": warehouse or env.get("STEDI_WAREHOUSE") or defaults.get("warehouse"),
        }
        for name, value in values.items():
            if not value:
                raise SettingsError(f"{name} is required for the {chosen} runner: pass it or set STEDI_{name.upper()}")
        threshold = quarantine_threshold if quarantine_threshold is not None else env.get("STEDI_QUARANTINE_THRESHOLD")
        settings = cls(
            runner=chosen,
            consent_policy=consent_policy or env.get("STEDI_CONSENT_POLICY", "ever"),
            quarantine_threshold=_fraction(threshold) if threshold is not None else DEFAULT_QUARANTINE_THRESHOLD,
            allow_empty=tuple(sorted(set(allow_empty or ()))),
            keep_runs=_count(keep_runs if keep_runs is not None else env.get("STEDI_KEEP_RUNS", DEFAULT_KEEP_RUNS)),
            **values,
        )
        return settings.validated()

    @property
    def loads_warehouse(self) -> bool:
        return self.warehouse != NO_WAREHOUSE

    def validated(self) -> Settings:
        from stedi.sources import SOURCES

        unknown = [name for name in self.allow_empty if name not in SOURCES]
        if unknown:
            raise SettingsError(f"unknown source {unknown[0]!r} to allow empty; expected one of {', '.join(SOURCES)}")
        if self.consent_policy not in CONSENT_POLICIES:
            raise SettingsError(
                f"unknown consent policy {self.consent_policy!r}; expected one of {', '.join(CONSENT_POLICIES)}"
            )
        if self.loads_warehouse:  # a URL that cannot work is refused before any work, not after the lake
            from stedi.warehouse.backends import WarehouseConfigError, backend_for

            try:
                backend_for(self.warehouse)
            except WarehouseConfigError as error:
                raise SettingsError(str(error)) from None
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


_LOCAL_DEFAULTS = {"landing": SAMPLE_LANDING, "lake": "lake", "warehouse": DEFAULT_WAREHOUSE}


def _fraction(value: float | str) -> float:
    try:
        fraction = float(value)
    except ValueError:
        raise SettingsError(f"quarantine threshold must be a fraction between 0 and 1, got {value!r}") from None
    if not 0 <= fraction <= 1:
        raise SettingsError(f"quarantine threshold must be a fraction between 0 and 1, got {value!r}")
    return fraction


def _count(value: int | str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise SettingsError(f"runs to keep must be a whole number of at least 1, got {value!r}") from None
    if count < 1:
        raise SettingsError(f"runs to keep must be a whole number of at least 1, got {value!r}")
    return count


def _absolute(path: str) -> str:
    return path if "://" in path else str(Path(path).resolve())


def _absolute_duckdb(url: str) -> str:
    """duckdb:///relative/path -> duckdb:////absolute/path, so a flow run's cwd cannot move the file."""
    prefix = "duckdb:///"
    return prefix + str(Path(url.removeprefix(prefix)).resolve()) if url.startswith(prefix) else url
