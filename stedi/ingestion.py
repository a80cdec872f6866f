"""What the lake has ingested, and what a run must do about the landing as it is now.

The ingestion state is one JSON file, `_ingestion.json`, inside bronze's published version: every landing
file bronze holds (path, size, version: its modification time or ETag; the run that first ingested it and
that run's instant), whole-file quarantines included, and the lake's running totals per source. It is
published with bronze in the same rename (lake.Zone), so it never runs ahead of the zone it describes; the
quarantine version that goes with it is named inside it.

A run plans from it (plan_run):
- `full`: no state yet, `--full-refresh`, or the settings that shape silver and gold (consent policy,
  pseudonym key) differ from those the lake was built with. Every file is read.
- `incremental`: only the files bronze has not ingested are read. A file changed in place (same path,
  another size or version) or removed since it was ingested makes ITS SOURCE rebuild from the files its
  landing holds now, since its old records may no longer be delivered: the summary names the file, and a
  warning says what was done. Nothing is ever silently ignored.

Every file keeps the run and instant that first ingested it, through any number of full refreshes: the
lineage columns, and the rules that read the run's instant (a reading from the future), then give the
same rows whichever way the lake was reached.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from stedi import lake
from stedi.landing import LandingFile, QuarantinedFile, SourceFiles
from stedi.report import Files, SourceCounts
from stedi.rules import CONFLICTING_READING, DUPLICATE_RECORD, UNREADABLE_FILE, UNREADABLE_FOLDER

STATE_FILE = "_ingestion.json"
STATE_FORMAT = 1

Mode = Literal["full", "incremental"]


@dataclass(frozen=True)
class IngestedFile:
    path: str
    size: int | None
    version: str | None  # local: modification time in ns; S3: the ETag
    run_id: str  # the run that first ingested it
    ingested_at: str  # that run's instant (ISO-8601 UTC)
    rule: str | None = None  # a FILE_RULES name when the file was quarantined whole
    detail: str | None = None  # for a file quarantined whole: what the system said
    utf8: bool = True  # as stedi/landing.py found it (LandingFile.utf8)

    @property
    def identity(self) -> tuple[int | None, str | None]:
        return self.size, self.version


@dataclass
class Totals:
    """A source's records since the lake's first run, as bronze accounts for them: every landing line is in
    bronze, a duplicate of a record there, or quarantined."""

    landing: int = 0
    bronze: int = 0
    duplicates: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)

    @property
    def unaccounted(self) -> int:
        return self.landing - self.bronze - self.duplicates - sum(self.quarantined.values())

    def plus(self, run: SourceCounts, duplicates: int, moved: int, bronze: int) -> Totals:
        """These totals after a run that ingested `run`'s lines and moved `moved` records held in bronze to
        quarantine (conflicting versions); `bronze` is the bronze table's rows as published."""
        quarantined = dict(self.quarantined)
        for rule, lines in run.quarantined.items():
            quarantined[rule] = quarantined.get(rule, 0) + lines
        if moved:
            quarantined[CONFLICTING_READING] = quarantined.get(CONFLICTING_READING, 0) + moved
        return Totals(
            self.landing + (run.landing or 0), bronze, self.duplicates + duplicates, dict(sorted(quarantined.items()))
        )

    def as_counts(self) -> SourceCounts:
        filtered = {DUPLICATE_RECORD: self.duplicates} if self.duplicates else {}
        return SourceCounts(
            landing=self.landing, bronze=self.bronze, filtered=filtered, quarantined=dict(self.quarantined)
        )


@dataclass
class IngestionState:
    files: dict[str, dict[str, IngestedFile]]  # source -> path -> file
    totals: dict[str, Totals]
    quarantine_version: str | None = None  # the quarantine zone's version that holds these files' records

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "quarantine_version": self.quarantine_version,
            "files": {s: [asdict(f) for f in files.values()] for s, files in self.files.items()},
            "totals": {s: asdict(t) for s, t in self.totals.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IngestionState:
        files = {s: {f["path"]: IngestedFile(**f) for f in entries} for s, entries in data["files"].items()}
        totals = {s: Totals(**t) for s, t in data["totals"].items()}
        return cls(files, totals, data.get("quarantine_version"))


def read_state(lake_root: str) -> IngestionState | None:
    """The state published with the lake's current bronze; None before the first run (or for a lake
    whose bronze predates incremental runs, which then gets a full run)."""
    version = lake.current_version(lake_root, "bronze")
    if version is None:
        return None
    try:
        return IngestionState.from_json(
            lake.read_json(lake.join(lake_root, lake.ZONES_DIR, "bronze", version, STATE_FILE))
        )
    except FileNotFoundError:
        return None


def state_path(zone: lake.Zone) -> str:
    return lake.join(zone.root, STATE_FILE)


def key_id(secret: bytes) -> str:
    """A name for a pseudonym key that reveals nothing of it: which key built silver and gold."""
    return hmac.new(secret, b"stedi pseudonym key id", hashlib.sha256).hexdigest()[:16]


def logic_id() -> str:
    """A name for the code that decides what becomes of a record and where it is kept: the rules, the sources,
    how landing files are read (landing.py), the lake's layout (lake.py: day cells, versions), the
    transforms, the jobs and the contracts. A lake built by other code is rebuilt in full (plan_lake):
    records ingested earlier would otherwise keep the old rules, or the old layout, beside new ones."""
    from importlib.resources import files

    digest = hashlib.sha256()
    modules = ("rules.py", "sources.py", "ingestion.py", "landing.py", "lake.py")
    for package, names in (("stedi", modules), ("stedi.transforms", None), ("stedi.jobs", None),
                           ("schemas", None)):  # fmt: skip
        folder = files(package)
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".py") and (names is None or entry.name in names):
                digest.update(entry.name.encode() + b"\0" + entry.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class BuiltWith:
    """The settings and code silver and gold depend on, recorded in their zone manifests."""

    consent_policy: str
    key_id: str | None  # None where the planner cannot know the key (it is read by the Glue job)
    logic: str | None = None  # logic_id(); None in a zone built before it was recorded

    def as_json(self) -> dict[str, Any]:
        return {"consent_policy": self.consent_policy, "key_id": self.key_id, "logic": self.logic}

    def differs_from(self, other: dict[str, Any] | None) -> str | None:
        """Why a zone built with `other` is not this one's, or None."""
        if other is None:
            return None
        if self.logic is not None and other.get("logic") != self.logic:
            return "the pipeline's rules, transforms or contracts changed since the lake was built"
        if other.get("consent_policy") != self.consent_policy:
            return f"the consent policy changed ({other.get('consent_policy')} -> {self.consent_policy})"
        if self.key_id is not None and other.get("key_id") not in (None, self.key_id):
            return "the pseudonym key changed"
        return None


@dataclass
class SourcePlan:
    """What bronze reads of one source: `read` (new files, or all in a rebuild), and why it rebuilds."""

    read: list[LandingFile]
    rebuild: bool  # the source is rebuilt from all its files
    new: int = 0
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    quarantined: list[QuarantinedFile] = field(default_factory=list)  # new files quarantined whole
    skipped: list[dict[str, Any]] = field(default_factory=list)  # what is not a landing file (SourceFiles)

    def files_report(self) -> Files:
        """This run's files: those it met for the first time (or all, in a rebuild), each read or quarantined."""
        by_rule: dict[str, int] = {}
        for problem in self.quarantined:
            by_rule[problem.rule] = by_rule.get(problem.rule, 0) + 1
        return Files(
            landing=len(self.read) + len(self.quarantined),
            read=len(self.read),
            quarantined=dict(sorted(by_rule.items())),
            quarantined_files=[asdict(q) for q in self.quarantined],
            skipped=self.skipped,
        )

    @property
    def warnings(self) -> list[str]:
        notes = [f"{path} changed after it was ingested" for path in self.changed]
        notes += [f"{path} was ingested but is no longer in the landing" for path in self.removed]
        return [f"{note}: its source was rebuilt from the files the landing holds now" for note in notes]


def plan_source(found: SourceFiles, known: dict[str, IngestedFile] | None) -> SourcePlan:
    """One source's part of a run: its files as found now (inspect_source, given `known`) against those
    bronze holds (`known`; None when the source is rebuilt anyway)."""
    skipped = [asdict(s) for s in found.skipped]
    if known is None:
        return SourcePlan(list(found.read), True, found.delivered, quarantined=list(found.quarantined), skipped=skipped)
    checked = {f.path: (f.size, f.version) for f in [*found.read, *found.quarantined]}
    # Changed: other bytes, or another outcome (a file quarantined whole now readable, or the reverse).
    outcome = {f.path: None for f in found.read} | {q.path: q.rule for q in found.quarantined}
    changed = sorted(
        path
        for path, old in known.items()
        if path in checked and (checked[path] != old.identity or (outcome[path] is None) != (old.rule is None))
    )
    present = {*checked, *(f.path for f in found.unchecked)}
    removed = sorted(path for path in known if path not in present)
    new_read = [f for f in found.read if f.path not in known]
    new_quarantined = [q for q in found.quarantined if q.path not in known]
    new = len(new_read) + len(new_quarantined)
    if not (changed or removed):
        return SourcePlan(new_read, False, new, quarantined=new_quarantined, skipped=skipped)
    # The source is rebuilt: its unchanged files are read too, as they were found when first ingested.
    earlier = [known[f.path] for f in found.unchecked]
    read = [*found.read, *(LandingFile(f.path, f.size or 0, f.version, f.utf8) for f in earlier if f.rule is None)]
    quarantined = [*found.quarantined]
    quarantined += [QuarantinedFile(f.path, f.rule, f.detail or "", f.size, f.version) for f in earlier if f.rule]
    by_path = lambda f: f.path  # noqa: E731
    return SourcePlan(sorted(read, key=by_path), True, new, changed, removed, sorted(quarantined, key=by_path), skipped)


# Files quarantined whole for a reason that may pass (a permission, a lost connection): checked again every
# run, although unchanged, so that a file made readable is read.
RETRIED_RULES = (UNREADABLE_FILE, UNREADABLE_FOLDER)


def known_files(state: IngestionState | None, source: str):
    """inspect_source's `known` for a source: what the state says of each path (nothing of a file to check
    again, RETRIED_RULES)."""
    files = state.files.get(source, {}) if state is not None else {}
    return lambda path: files[path].identity if path in files and files[path].rule not in RETRIED_RULES else None


def ingested_files(
    plan: SourcePlan, known: dict[str, IngestedFile] | None, run_id: str, ingested_at: str
) -> dict[str, IngestedFile]:
    """The source's files bronze holds after this run: each keeps the run that first ingested it."""
    earlier = dict(known or {})
    files: dict[str, IngestedFile] = {} if plan.rebuild else dict(earlier)
    for f in plan.read:
        first = earlier.get(f.path)
        run, instant = (
            (first.run_id, first.ingested_at)
            if first and first.identity == (f.size, f.version)
            else (run_id, ingested_at)
        )
        files[f.path] = IngestedFile(f.path, f.size, f.version, run, instant, utf8=f.utf8)
    for q in plan.quarantined:
        first = earlier.get(q.path)
        run, instant = (first.run_id, first.ingested_at) if first and first.rule == q.rule else (run_id, ingested_at)
        files[q.path] = IngestedFile(q.path, q.size, q.version, run, instant, q.rule, q.detail)
    return dict(sorted(files.items()))


def lineage_batches(
    files: dict[str, IngestedFile], read: list[LandingFile]
) -> dict[tuple[str, str], list[LandingFile]]:
    """The files to read grouped by the run that first ingested them: (run id, instant) -> files."""
    batches: dict[tuple[str, str], list[LandingFile]] = {}
    for f in read:
        ingested = files[f.path]
        batches.setdefault((ingested.run_id, ingested.ingested_at), []).append(f)
    return batches


@dataclass
class RunPlan:
    """What a run must do, decided before any engine starts: which zones to build, and why."""

    mode: Mode
    reason: str  # why this mode: a first run, --full-refresh, settings changed, new files, nothing new
    new_files: dict[str, int]
    bronze: bool  # new, changed or removed landing files (or a full run)
    silver: bool  # bronze is built this run, or silver was built from another bronze version or settings
    gold: bool  # silver is built this run, or gold was built from another silver version


def plan_lake(landing: str, lake_root: str, full_refresh: bool, built_with: BuiltWith) -> RunPlan:
    """The run's plan from the lake's state and zone manifests and a listing of the landing (no file is
    opened). A zone behind the one it is built from (a run killed between their publications) is built
    again, so any run converges on the result of one that was never interrupted."""
    from stedi.landing import list_source
    from stedi.sources import SOURCES

    state = read_state(lake_root)
    silver, gold = lake.zone_manifest(lake_root, "silver"), lake.zone_manifest(lake_root, "gold")
    changed_settings = built_with.differs_from((silver or {}).get("built_from"))
    if state is None or full_refresh or changed_settings:
        reason = "the lake's first run" if state is None else "--full-refresh" if full_refresh else changed_settings
        new = {name: len(list_source(lake.landing_folder(landing, name))) for name in SOURCES}
        return RunPlan("full", reason, new, True, True, True)
    new, touched = {}, False
    for name in SOURCES:
        known = state.files.get(name, {})
        listed = {f.path: (f.size, f.version) for f in list_source(lake.landing_folder(landing, name))}
        new[name] = sum(path not in known for path in listed)
        touched |= (
            bool(new[name])
            or set(known) - set(listed) != set()
            or any(path in known and known[path].identity != identity for path, identity in listed.items())
        )
    # A file quarantined whole for a reason that may pass is checked again (RETRIED_RULES); quarantine
    # published ahead of bronze (a run killed between the two) is set back to the version bronze names.
    retried = any(f.rule in RETRIED_RULES for files in state.files.values() for f in files.values())
    ahead = state.quarantine_version not in (None, lake.current_version(lake_root, "quarantine"))
    touched |= retried or ahead
    bronze_version = lake.current_version(lake_root, "bronze")
    silver_behind = touched or (silver or {}).get("built_from", {}).get("bronze") != bronze_version
    gold_behind = silver_behind or (gold or {}).get("built_from", {}).get("silver") != lake.current_version(
        lake_root, "silver"
    )
    reason = (
        "new or changed landing files"
        if touched
        else "a zone behind the one it is built from"
        if gold_behind
        else "nothing new"
    )
    return RunPlan("incremental", reason, new, touched, silver_behind, gold_behind)


def parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text)
