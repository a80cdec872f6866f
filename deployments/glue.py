"""`stedi deploy glue`: package the Spark jobs, upload them, and create or update one Glue job per zone.

Everything is compared before it is written, so a second deploy of the same code changes nothing:
an object is uploaded only when its SHA-256 differs from the one stored with it, a job is updated only
when a setting differs, a catalog table only when its definition does.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stedi.glue_catalog import Change, register_catalog
from stedi.runners import DEFAULT_JOB_PREFIX, glue_job_name

ROOT = Path(__file__).resolve().parents[1]
JOBS = ("bronze", "silver", "gold")  # one Glue job per zone transition, run in this order by the flow
# What the jobs import, and nothing else: the lower layers of pyproject.toml's layers contract (jobs, lake
# I/O, transforms, domain). The CLI, the flow, its tasks, the warehouse load and Prefect stay behind.
PACKAGED = (
    "stedi/__init__.py",
    "stedi/jobs",
    "stedi/ingestion.py",
    "stedi/lake.py",
    "stedi/landing.py",
    "stedi/spark.py",
    "stedi/aws.py",
    "stedi/secrets.py",
    "stedi/transforms",
    "schemas",
    "stedi/rules.py",
    "stedi/sources.py",
    "stedi/pii.py",
    "stedi/report.py",
    "stedi/text.py",
)
GLUE_VERSION = "5.0"  # Spark 3.5, Python 3.11: `make test-spark35` runs the job tests on the same Spark
# Glue 5.0 brings pyspark, pandas and boto3; these are what the jobs import beyond them, within the pins
# of pyproject.toml (tests/deployments/test_glue_deploy.py holds the two together). Not pandera[pyspark]:
# that extra would install a second pyspark over Glue's own. One specifier each: Glue splits the list on
# commas.
GLUE_PYTHON_MODULES = ("pandera==0.35.0", "pandas<3")
DEFAULT_SECRET_ID = "stedi/pseudonym-key"
DEFAULT_PREFIX = "stedi"  # the key prefix in the bucket: PREFIX/landing, PREFIX/lake, PREFIX/glue


@dataclass(frozen=True)
class GlueTarget:
    """Where and how the jobs are deployed; every name the deploy writes derives from these."""

    bucket: str
    prefix: str
    role_arn: str
    job_prefix: str = DEFAULT_JOB_PREFIX
    database: str = "stedi"
    landing: str | None = None  # default s3://BUCKET/PREFIX/landing
    lake: str | None = None  # default s3://BUCKET/PREFIX/lake
    worker_type: str = "G.1X"
    workers: int = 2
    timeout_minutes: int = 60
    pseudonym_secret_id: str = DEFAULT_SECRET_ID

    @property
    def root(self) -> str:
        return "/".join(part for part in (f"s3://{self.bucket}", self.prefix.strip("/")) if part)

    @property
    def landing_uri(self) -> str:
        return (self.landing or f"{self.root}/landing").rstrip("/")

    @property
    def lake_uri(self) -> str:
        return (self.lake or f"{self.root}/lake").rstrip("/")

    def key(self, *parts: str) -> str:
        return "/".join(part for part in (self.prefix.strip("/"), "glue", *parts) if part)

    def uri(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}"

    def job_name(self, job: str) -> str:
        return glue_job_name(self.job_prefix, job)


def package() -> bytes:
    """The job code as a zip for --extra-py-files, byte-identical for identical sources."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in _package_files():
            info = zipfile.ZipInfo(path.relative_to(ROOT).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def _package_files() -> Iterator[Path]:
    for name in PACKAGED:
        path = ROOT / name
        if path.is_file():
            yield path
        else:
            yield from sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)


def entry_script(job: str) -> bytes:
    """A job module is its own Glue entry script: it runs `main()` when executed as __main__."""
    return (ROOT / "stedi" / "jobs" / f"{job}.py").read_bytes()


def job_definition(target: GlueTarget, job: str) -> dict[str, Any]:
    """The Glue job for one zone transition, as create_job takes it (update_job takes it without Name)."""
    return {
        "Name": target.job_name(job),
        "Description": f"STEDI lakehouse: the {job} job (stedi/jobs/{job}.py); deployed by `stedi deploy glue`",
        "Role": target.role_arn,
        "Command": {"Name": "glueetl", "ScriptLocation": target.uri("jobs", f"{job}.py"), "PythonVersion": "3"},
        "DefaultArguments": {
            "--job-language": "python",
            "--extra-py-files": target.uri("stedi_jobs.zip"),
            "--additional-python-modules": ",".join(GLUE_PYTHON_MODULES),
            # Off: every run reads the whole landing snapshot and rewrites the zones, so that the same
            # input gives the same lake. Bookmarks would make a run's output depend on earlier runs.
            "--job-bookmark-option": "job-bookmark-disable",
            "--enable-glue-datacatalog": "true",
            "--enable-continuous-cloudwatch-log": "true",
            "--enable-metrics": "true",
            "--TempDir": target.uri("temp") + "/",
            "--pseudonym-secret-id": target.pseudonym_secret_id,
        },
        # One run at a time: two runs would overwrite the same S3 prefixes (across jobs, the deployment's
        # concurrency limit in prefect.yaml keeps to one flow run). Retries belong to the flow, which knows
        # whether a run of the same flow run already exists (stedi/runners.py).
        "ExecutionProperty": {"MaxConcurrentRuns": 1},
        "MaxRetries": 0,
        "Timeout": target.timeout_minutes,
        "GlueVersion": GLUE_VERSION,
        "WorkerType": target.worker_type,
        "NumberOfWorkers": target.workers,
    }


def deploy(target: GlueTarget, s3: Any, glue: Any, dry_run: bool = False) -> list[Change]:
    """Upload the code, create or update the jobs and the catalog; returns what was done to each. With
    `dry_run`, everything is compared and nothing written: the changes say what a deploy would do."""
    objects = {target.key("stedi_jobs.zip"): package()}
    objects |= {target.key("jobs", f"{job}.py"): entry_script(job) for job in JOBS}
    changes = [_put_if_changed(s3, target.bucket, key, body, dry_run) for key, body in objects.items()]
    changes += [_put_job(glue, job_definition(target, job), dry_run) for job in JOBS]
    changes += register_catalog(glue, target.database, target.landing_uri, target.lake_uri, dry_run)
    return changes


def _put_if_changed(s3: Any, bucket: str, key: str, body: bytes, dry_run: bool = False) -> Change:
    from botocore.exceptions import ClientError

    digest = hashlib.sha256(body).hexdigest()
    name = f"s3://{bucket}/{key}"
    try:
        stored = s3.head_object(Bucket=bucket, Key=key)["Metadata"].get("sha256")
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
            raise
        stored = None
    if stored == digest:
        return Change("unchanged", "object", name, dry_run)
    if not dry_run:
        s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"sha256": digest})
    return Change("created" if stored is None else "updated", "object", name, dry_run)


def _put_job(glue: Any, definition: dict[str, Any], dry_run: bool = False) -> Change:
    name = definition["Name"]
    try:
        current = glue.get_job(JobName=name)["Job"]
    except glue.exceptions.EntityNotFoundException:
        if not dry_run:
            glue.create_job(**definition)
        return Change("created", "job", name, dry_run)
    if all(current.get(field) == value for field, value in definition.items()):
        return Change("unchanged", "job", name, dry_run)
    if not dry_run:
        update = {field: value for field, value in definition.items() if field != "Name"}
        glue.update_job(JobName=name, JobUpdate=update)
    return Change("updated", "job", name, dry_run)
