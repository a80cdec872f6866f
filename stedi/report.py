"""The run report, typed: what each job measured (`JobReport`), and the run summary the flow builds from
the jobs' reports (`RunSummary`). The jobs write them, the flow reads them, the summary, the CLI's tables
and the Prefect artifacts render them; each table carries its zone, never guessed from its name.

On disk and in Prefect both are JSON (`to_json`, `from_json`): a job's report is written beside its
output, <lake>/_reports/<run_id>/<job>.json, and read back from there wherever the job ran (locally or on
Glue); the summary is <lake>/_reports/<run_id>/summary.json and `stedi run --summary FILE`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Zone = Literal["landing", "bronze", "silver", "gold"]
Counts = dict[str, int]  # records (or files) by rule or reason


@dataclass(frozen=True)
class TableRows:
    zone: Zone
    name: str
    rows: int

    @property
    def key(self) -> str:
        """The table as the JSON names it: `customer_landing`, `bronze.customer`, `customer_trusted`,
        `gold.customers`."""
        return f"{self.zone}.{self.name}" if self.zone in ("bronze", "gold") else self.name

    @classmethod
    def from_key(cls, key: str, rows: int, zone: Zone) -> TableRows:
        return cls(zone, key.split(".", 1)[1] if "." in key else key, rows)


def _tables_json(tables: list[TableRows]) -> dict[str, dict[str, int]]:
    return {table.key: {"rows": table.rows} for table in tables}


def _zone_of_key(key: str, zone: Zone) -> Zone:
    """A JSON table key's zone: its prefix (bronze., gold.), the landing tables' suffix, else `zone`."""
    prefix = key.split(".", 1)[0]
    if "." in key and prefix in ("bronze", "gold"):
        return prefix  # type: ignore[return-value]
    return "landing" if key.endswith("_landing") else zone


def _tables(data: dict[str, dict[str, int]], zone: Zone) -> list[TableRows]:
    return [TableRows.from_key(key, value["rows"], _zone_of_key(key, zone)) for key, value in data.items()]


class AccountingError(RuntimeError):
    """Some landing records are neither accepted, filtered nor quarantined (or are counted twice)."""


def quarantine_breaches(sources: dict[str, SourceCounts], threshold: float) -> list[str]:
    """Per source whose run quarantined more than `threshold` (a fraction) of its landing files or records,
    what it quarantined (the quarantine threshold, stedi/rules.py)."""
    from stedi.rules import over_threshold
    from stedi.text import format_counts

    over = []
    for name, source in sources.items():
        files = source.files or Files()
        measures = [("records", source.landing or 0, source.quarantined), ("files", files.landing, files.quarantined)]
        for what, landing, by_rule in measures:
            quarantined = sum(by_rule.values())
            if over_threshold(quarantined, landing, threshold):
                reasons = format_counts(dict(sorted(by_rule.items())))
                over.append(f"{name}: {quarantined:,} of {landing:,} {what} ({quarantined / landing:.1%}: {reasons})")
    return over


@dataclass
class Files:
    """A source's landing files: every one delivered is read or quarantined whole (stedi/landing.py)."""

    landing: int = 0
    read: int = 0
    quarantined: Counts = field(default_factory=dict)
    quarantined_files: list[dict[str, Any]] = field(default_factory=list)  # path, rule, detail, size
    skipped: list[dict[str, Any]] = field(default_factory=list)  # path, reason

    @property
    def unaccounted(self) -> int:
        """Files delivered minus those read and those quarantined: 0 when every file is accounted for."""
        return self.landing - self.read - sum(self.quarantined.values())


@dataclass
class SourceCounts:
    """One source's figures. Bronze measures the files, the landing records, those quarantined and the
    duplicates; silver those accepted and filtered for a business reason. None: never measured."""

    landing: int | None = None
    accepted: int | None = None
    bronze: int | None = None  # records kept in bronze
    filtered: Counts = field(default_factory=dict)
    quarantined: Counts = field(default_factory=dict)
    flagged: Counts = field(default_factory=dict)  # warn rules: counted, kept
    extra_fields: Counts = field(default_factory=dict)  # schema drift: fields the source does not declare
    files: Files | None = None
    warnings: list[str] = field(default_factory=list)
    # Records of earlier runs whose bucket this run changed, by "from -> to (reason)": a held reading that a
    # new version of it now conflicts with, a reading whose customer withdrew consent.
    moved: Counts = field(default_factory=dict)

    @property
    def unaccounted(self) -> int:
        """Landing records minus those accepted, filtered and quarantined: 0 when every record is accounted for."""
        return (self.landing or 0) - (self.accepted or 0) - sum(self.filtered.values()) - sum(self.quarantined.values())

    def accounting(self) -> dict[str, Any]:
        """The figures of the accounting identity."""
        return {
            "landing": self.landing,
            "accepted": self.accepted,
            "filtered": self.filtered,
            "quarantined": self.quarantined,
        }

    def then(self, curated: SourceCounts | None) -> SourceCounts:
        """Bronze's figures with silver's: accepted, and the business reasons beside the duplicates."""
        if curated is None:
            return self
        filtered = dict(sorted((self.filtered | curated.filtered).items()))
        return SourceCounts(
            self.landing,
            curated.accepted,
            self.bronze,
            filtered,
            self.quarantined,
            self.flagged,
            self.extra_fields,
            self.files,
            self.warnings,
            self.moved,
        )


@dataclass(frozen=True)
class Contract:
    table: str
    passed: bool
    checks: list[dict[str, Any]]  # column, check, offending


@dataclass
class JobReport:
    """What one job run measured: the tables it published, per source what became of the records, the
    silver contracts' results, warnings."""

    job: str
    run_id: str
    args: dict[str, str]
    elapsed_seconds: float
    tables: list[TableRows] = field(default_factory=list)
    sources: dict[str, SourceCounts] = field(default_factory=dict)
    contracts: list[Contract] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    mode: str | None = None  # bronze: "full" | "incremental"
    new_files: Counts = field(default_factory=dict)  # bronze: per source, the files it met for the first time
    # bronze: per source, the lake's records since its first run (landing, bronze, duplicates, quarantined)
    lake: dict[str, SourceCounts] = field(default_factory=dict)

    def table(self, name: str) -> TableRows:
        return next(t for t in self.tables if t.name == name)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "job": self.job,
            "run_id": self.run_id,
            "args": self.args,
            "elapsed_seconds": self.elapsed_seconds,
        }
        if self.sources:
            data["sources"] = {name: _job_source_json(self.job, source) for name, source in self.sources.items()}
        data["tables"] = _tables_json(self.tables)
        if self.contracts:
            data["contracts"] = {c.table: asdict(c) for c in self.contracts}
        if self.warnings or self.job == "gold":
            data["warnings"] = self.warnings
        if self.mode is not None:
            data["mode"], data["new_files"] = self.mode, self.new_files
        if self.lake:
            data["lake"] = {name: _job_source_json(self.job, source) for name, source in self.lake.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobReport:
        zone: Zone = {"bronze": "bronze", "silver": "silver", "gold": "gold"}.get(data["job"], "silver")  # type: ignore[assignment]
        return cls(
            job=data["job"],
            run_id=data["run_id"],
            args=data.get("args", {}),
            elapsed_seconds=data.get("elapsed_seconds", 0.0),
            tables=_tables(data.get("tables", {}), zone),
            sources={name: _source_from_json(s) for name, s in data.get("sources", {}).items()},
            contracts=[Contract(**c) for c in data.get("contracts", {}).values()],
            warnings=data.get("warnings", []),
            mode=data.get("mode"),
            new_files=data.get("new_files", {}),
            lake={name: _source_from_json(s) for name, s in data.get("lake", {}).items()},
        )


def _job_source_json(job: str, source: SourceCounts) -> dict[str, Any]:
    if job != "bronze":
        return {"accepted": source.accepted, "filtered": source.filtered}
    return {
        "files": asdict(source.files) if source.files else None,
        "landing": source.landing,
        "bronze": source.bronze,
        "quarantined": source.quarantined,
        "filtered": source.filtered,
        "flagged": source.flagged,
        "extra_fields": source.extra_fields,
        "moved": source.moved,
        "warnings": source.warnings,
    }


def _source_from_json(data: dict[str, Any]) -> SourceCounts:
    files = data.get("files")
    if files is not None:
        files = Files(
            **{key: files[key] for key in ("landing", "read", "quarantined") if key in files},
            quarantined_files=files.get("quarantined_files", data.get("quarantined_files", [])),
            skipped=files.get("skipped", data.get("skipped", [])),
        )
    return SourceCounts(
        landing=data.get("landing"), accepted=data.get("accepted"), bronze=data.get("bronze"),
        filtered=data.get("filtered", {}), quarantined=data.get("quarantined", {}), flagged=data.get("flagged", {}),
        extra_fields=data.get("extra_fields", {}), files=files, warnings=data.get("warnings", []),
        moved=data.get("moved", {}),
    )  # fmt: skip


@dataclass(frozen=True)
class ContractOutcome:
    """A silver contract in the run summary: whether it held, and how many checks it counted."""

    passed: bool
    checks: int
    names: list[str] = field(default_factory=list)  # each check: `column: check`, or the table's own


@dataclass(frozen=True)
class ZoneState:
    """Which run's version of a zone is current after this run: this run's, an earlier one's, or none."""

    run_id: str | None
    this_run: bool


@dataclass
class WarehouseLoad:
    url: str  # masked: never a password
    tables: dict[str, int]  # rows per warehouse table and view after the load
    checks: list[dict[str, Any]] = field(default_factory=list)
    recreated: list[str] = field(default_factory=list)  # tables whose columns differed from their DDL
    seconds: float = 0.0  # the load and its checks


@dataclass
class RunSummary:
    """The run's report: every figure the jobs measured, the warehouse, which run each zone holds. A failed
    run (`error`) has what was measured before it failed; a figure never measured is None, never a guess."""

    status: Literal["succeeded", "failed"]
    run_id: str
    consent_policy: str
    error: str | None = None
    tables: list[TableRows] = field(default_factory=list)
    sources: dict[str, SourceCounts] = field(default_factory=dict)
    contracts: dict[str, ContractOutcome] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    zones: dict[str, ZoneState] | None = None
    warehouse: WarehouseLoad | None = None
    log: str | None = None  # the folder of `stedi run`'s log files
    seconds: dict[str, float] = field(default_factory=dict)  # per stage that ran: bronze, silver, gold, warehouse
    mode: str | None = None  # "full" | "incremental" (stedi/ingestion.py)
    mode_reason: str | None = None  # why: the lake's first run, --full-refresh, settings changed, ...
    new_files: Counts = field(default_factory=dict)  # per source, files the lake had not ingested
    # Per source, this run's landing lines: to bronze, duplicates, quarantined (and records of earlier runs
    # bronze moved); `sources` holds the lake's accounting since its first run.
    this_run: dict[str, SourceCounts] = field(default_factory=dict)
    changes: dict[str, Counts] = field(default_factory=dict)  # per source, how each bucket of the lake moved

    def table(self, name: str) -> TableRows | None:
        return next((t for t in self.tables if t.name == name), None)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status, "run_id": self.run_id, "consent_policy": self.consent_policy}
        if self.error:
            data["error"] = self.error
        data["tables"] = _tables_json(self.tables)
        data["sources"] = {name: _summary_source_json(source) for name, source in self.sources.items()}
        data["contracts"] = {name: asdict(outcome) for name, outcome in self.contracts.items()}
        data["warnings"] = self.warnings
        if self.zones is not None:
            data["zones"] = {zone: asdict(state) for zone, state in self.zones.items()}
        if self.warehouse is not None:
            data["warehouse"] = {"url": self.warehouse.url, "tables": self.warehouse.tables}
        if self.log is not None:
            data["log"] = self.log
        data["seconds"] = self.seconds
        if self.mode is not None:
            data["mode"], data["mode_reason"], data["new_files"] = self.mode, self.mode_reason, self.new_files
            data["this_run"] = {name: _this_run_json(source) for name, source in self.this_run.items()}
            data["changes"] = self.changes
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSummary:
        zones = data.get("zones")
        warehouse = data.get("warehouse")
        return cls(
            status=data["status"],
            run_id=data["run_id"],
            consent_policy=data.get("consent_policy", "ever"),
            error=data.get("error"),
            tables=_tables(data.get("tables", {}), "silver"),
            sources={name: _source_from_json(s) for name, s in data.get("sources", {}).items()},
            contracts={name: ContractOutcome(**c) for name, c in data.get("contracts", {}).items()},
            warnings=data.get("warnings", []),
            zones={zone: ZoneState(**state) for zone, state in zones.items()} if zones is not None else None,
            warehouse=WarehouseLoad(warehouse["url"], warehouse["tables"]) if warehouse else None,
            log=data.get("log"),
            seconds=data.get("seconds", {}),
            mode=data.get("mode"),
            mode_reason=data.get("mode_reason"),
            new_files=data.get("new_files", {}),
            this_run={name: _source_from_json(s) for name, s in data.get("this_run", {}).items()},
            changes=data.get("changes", {}),
        )


def _this_run_json(source: SourceCounts) -> dict[str, Any]:
    return {
        "landing": source.landing,
        "bronze": source.bronze,
        "filtered": source.filtered,
        "quarantined": source.quarantined,
        "moved": source.moved,
    }


def _summary_source_json(source: SourceCounts) -> dict[str, Any]:
    files = source.files or Files()
    return {
        "files": {"landing": files.landing, "read": files.read, "quarantined": files.quarantined},
        "quarantined_files": files.quarantined_files,
        "skipped": files.skipped,
        "landing": source.landing,
        "accepted": source.accepted,
        "filtered": source.filtered,
        "quarantined": source.quarantined,
        "flagged": source.flagged,
        "extra_fields": source.extra_fields,
    }
