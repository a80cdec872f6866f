"""A local AWS stand-in for the tests: moto's server on a free port, reached through AWS_ENDPOINT_URL.

moto runs no Spark: a job run reports SUCCEEDED at once and writes nothing; nor has it Glue's UpdateJob
and BatchStopJobRun, which GlueStandIn adds. `GlueStandIn` gives a job
run what the real job would leave behind (its run report on S3), or makes it end FAILED with a message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

REGION = "us-east-1"
ROLE_ARN = "arn:aws:iam::123456789012:role/stedi-glue"


class GlueStandIn:
    """Decides what each run of a Glue job does in moto, by job name."""

    def __init__(self, monkeypatch, endpoint: str, s3) -> None:
        from moto.core.responses import ActionResult
        from moto.core.utils import utcnow
        from moto.glue import models, responses

        self.endpoint, self.s3 = endpoint, s3
        self._behaviours: dict[str, Callable[[Any], None]] = {}
        start_job_run = models.FakeJob.start_job_run
        as_dict = models.FakeJobRun.as_dict

        def start_and_behave(job, **kwargs):
            run_id = start_job_run(job, **kwargs)
            job_run = next(r for r in job.job_runs if r.job_run_id == run_id)
            if job.name in self._behaviours:
                self._behaviours[job.name](job_run)
            return run_id

        def with_error_message(job_run):
            described = as_dict(job_run)
            if getattr(job_run, "error_message", None):
                described["ErrorMessage"] = job_run.error_message
            return described

        def update_job(response):  # Glue's UpdateJob, which moto lacks: JobUpdate replaces the job's settings
            body = json.loads(response.body)
            job = response.glue_backend.get_job(body["JobName"])
            for field, value in body["JobUpdate"].items():
                setattr(job, re.sub(r"(?<!^)(?=[A-Z])", "_", field).lower(), value)
            job.last_modified_on = utcnow()
            return ActionResult({"JobName": job.name})

        def batch_stop_job_run(response):  # nor BatchStopJobRun
            body = json.loads(response.body)
            job = response.glue_backend.get_job(body["JobName"])
            stopped = [r for r in job.job_runs if r.job_run_id in body["JobRunIds"]]
            for job_run in stopped:
                job_run.status = "STOPPED"
            return ActionResult(
                {
                    "SuccessfulSubmissions": [{"JobName": job.name, "JobRunId": r.job_run_id} for r in stopped],
                    "Errors": [],
                }
            )

        monkeypatch.setattr(responses.GlueResponse, "update_job", update_job, raising=False)
        monkeypatch.setattr(responses.GlueResponse, "batch_stop_job_run", batch_stop_job_run, raising=False)
        monkeypatch.setattr(models.FakeJob, "start_job_run", start_and_behave)
        monkeypatch.setattr(models.FakeJobRun, "as_dict", with_error_message)

    def writes_report(self, job_name: str, job: str, report: dict[str, Any], published: Path | None = None) -> None:
        """Runs of `job_name` succeed and leave `report` (a real job's report) where the job writes it; with
        `published` (the local lake of that job's run), they also publish its zones' versions as the job
        does on S3: each version's manifest and bronze's ingestion state, and the zone's pointer."""

        def behave(job_run) -> None:
            from stedi import lake
            from stedi.jobs.common import JobArgs

            args = JobArgs.parse([part for item in job_run.arguments.items() for part in item])
            replayed = {**report, "run_id": args.run_id, "args": args.as_dict()}
            bucket, _, key = lake.report_path(args.lake, args.run_id, job).removeprefix("s3://").partition("/")
            self.s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(replayed).encode())
            for zone in {"bronze": ("quarantine", "bronze")}.get(job, (job,)) if published else ():
                folder = published / zone
                manifest = (folder / "_zone.json").read_bytes()
                root = f"{key.split('/_reports/', 1)[0]}/_zones/{zone}"
                version = f"{root}/{json.loads(manifest)['version']}"
                for name in ("_zone.json", "_ingestion.json"):
                    if (folder / name).is_file():
                        self.s3.put_object(Bucket=bucket, Key=f"{version}/{name}", Body=(folder / name).read_bytes())
                self.s3.put_object(Bucket=bucket, Key=f"{root}/CURRENT.json", Body=manifest)

        self._behaviours[job_name] = behave

    def fails(self, job_name: str, message: str) -> None:
        """Runs of `job_name` end FAILED with Glue's `message`."""

        def behave(job_run) -> None:
            job_run.status = "FAILED"
            job_run.error_message = message

        self._behaviours[job_name] = behave

    def keeps_running(self) -> None:
        """Job runs stay STARTING until asked about 1,000 times (moto's manual state progression)."""
        requests.post(
            f"{self.endpoint}/moto-api/state-manager/set-transition",
            json={"model_name": "glue::job_run", "transition": {"progression": "manual", "times": 1000}},
            timeout=10,
        ).raise_for_status()


def sample_reports(lake: Path) -> dict[str, dict[str, Any]]:
    """The run reports of one local run of the sample, by job."""
    (run_folder,) = sorted((lake / "_reports").iterdir())[:1]
    return {job: json.loads((run_folder / f"{job}.json").read_text()) for job in ("bronze", "silver", "gold")}
