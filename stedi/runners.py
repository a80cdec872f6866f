"""Where a job runs: in this process on the run's SparkSession, or as an AWS Glue job run."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from importlib import import_module
from typing import Any, Protocol

from stedi import lake
from stedi.jobs.common import JobArgs
from stedi.report import JobReport
from stedi.settings import DEFAULT_ENGINE

logger = logging.getLogger(__name__)

ACTIVE_STATES = ("STARTING", "RUNNING", "STOPPING", "WAITING")
ATTACHABLE_STATES = ("STARTING", "RUNNING", "WAITING", "SUCCEEDED")  # not STOPPING: that run will not succeed
DEFAULT_JOB_PREFIX = "stedi"
GRACE_MINUTES = 5  # past the job's own timeout, after which Glue itself ends the run as TIMEOUT


class Runner(Protocol):
    def run(self, job: str, args: JobArgs) -> JobReport:
        """Run `job` to completion and return the run report it wrote."""


class LocalRunner:
    """Runs jobs in-process on the one SparkSession of the run, on `engine` (stedi/local_session.py)."""

    def __init__(self, engine: str) -> None:
        self.engine = engine

    def run(self, job: str, args: JobArgs) -> JobReport:
        from stedi.local_session import get_session
        from stedi.secrets import pseudonym_key

        module = import_module(f"stedi.jobs.{job}")
        return module.run(get_session(self.engine), args, pseudonym_key(args.lake))


def glue_job_name(job_prefix: str, job: str) -> str:
    """The Glue job of one zone transition: what `stedi deploy glue` creates and the runner starts."""
    return f"{job_prefix}-{job}"


class GlueJobError(RuntimeError):
    """A Glue job run failed, timed out or could not start; the message carries Glue's own words."""


class GlueRunner:
    """Runs each job as a run of the Glue job `<job_prefix>-<job>` that `stedi deploy glue` created.

    A job run is tagged with the flow run (its --run-id argument). Before starting one, the runner looks
    for a run of the same flow run and attaches to it if it is still going or succeeded, so a task that
    is retried after losing sight of its run never starts a second one beside it.
    """

    def __init__(
        self,
        glue: Any,
        job_prefix: str = DEFAULT_JOB_PREFIX,
        timeout_s: float | None = None,  # default: the Glue job's own timeout plus GRACE_MINUTES
        poll_s: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.glue, self.job_prefix, self.timeout_s, self.poll_s = glue, job_prefix, timeout_s, poll_s
        self._clock, self._sleep = clock, sleep

    @classmethod
    def from_environment(cls) -> GlueRunner:
        """AWS credentials from stedi.aws (a Prefect block, or as boto3 finds them); AWS_ENDPOINT_URL points
        the client at a stand-in."""
        from stedi import aws

        timeout_minutes = os.environ.get("STEDI_GLUE_TIMEOUT_MINUTES")
        return cls(
            aws.client("glue"),
            job_prefix=os.environ.get("STEDI_GLUE_JOB_PREFIX", DEFAULT_JOB_PREFIX),
            timeout_s=float(timeout_minutes) * 60 if timeout_minutes else None,
            poll_s=float(os.environ.get("STEDI_GLUE_POLL_SECONDS", 15)),
        )

    def pseudonym_secret_id(self, job: str = "silver") -> str | None:
        """The Secrets Manager secret the Glue job `job` keys pseudonyms with (`stedi deploy glue` sets it)."""
        name = glue_job_name(self.job_prefix, job)
        try:
            arguments = self.glue.get_job(JobName=name)["Job"].get("DefaultArguments", {})
        except self.glue.exceptions.EntityNotFoundException:
            raise GlueJobError(f"Glue job {name} does not exist: run `stedi deploy glue` first") from None
        return arguments.get("--pseudonym-secret-id")

    def run(self, job: str, args: JobArgs) -> JobReport:
        name = glue_job_name(self.job_prefix, job)
        run_id = self.start_or_attach(name, args)
        self.wait(name, run_id)
        return JobReport.from_json(lake.read_json(lake.report_path(args.lake, args.run_id, job)))

    def start_or_attach(self, name: str, args: JobArgs) -> str:
        try:
            return self._start_or_attach(name, args)
        except self.glue.exceptions.EntityNotFoundException:
            raise GlueJobError(f"Glue job {name} does not exist: run `stedi deploy glue` first") from None

    def _start_or_attach(self, name: str, args: JobArgs) -> str:
        existing = self._run_of_flow_run(name, args.run_id)
        if existing is not None and existing["JobRunState"] in ATTACHABLE_STATES:
            logger.info(
                "Glue job %s: attaching to run %s (%s) of this flow run", name, existing["Id"], existing["JobRunState"]
            )
            return existing["Id"]
        if existing is not None and existing["JobRunState"] == "STOPPING":
            self._wait_until(name, existing["Id"], lambda state: state != "STOPPING")
        arguments = dict(zip(args.to_argv()[::2], args.to_argv()[1::2], strict=True))
        try:
            run_id = self.glue.start_job_run(JobName=name, Arguments=arguments)["JobRunId"]
        except self.glue.exceptions.ConcurrentRunsExceededException:
            raise GlueJobError(
                f"Glue job {name} is already running for another flow run; one run at a time writes the lake"
            ) from None
        logger.info("Glue job %s: started run %s", name, run_id)
        return run_id

    def _run_of_flow_run(self, name: str, flow_run_id: str) -> dict[str, Any] | None:
        """The latest run of job `name` started for this flow run, if any."""
        runs = [
            job_run
            for page in self.glue.get_paginator("get_job_runs").paginate(JobName=name)
            for job_run in page["JobRuns"]
            if job_run.get("Arguments", {}).get("--run-id") == flow_run_id
        ]
        return max(runs, key=lambda job_run: job_run["StartedOn"], default=None)

    def wait(self, name: str, run_id: str) -> dict[str, Any]:
        job_run = self._wait_until(name, run_id, lambda state: state not in ACTIVE_STATES)
        state = job_run["JobRunState"]
        if state != "SUCCEEDED":
            message = job_run.get("ErrorMessage") or "Glue gave no error message; see the job run's logs"
            raise GlueJobError(f"Glue job {name} run {run_id} ended {state}: {message}")
        logger.info("Glue job %s: run %s succeeded in %s s", name, run_id, job_run.get("ExecutionTime"))
        return job_run

    def _wait_until(self, name: str, run_id: str, done: Callable[[str], bool]) -> dict[str, Any]:
        timeout_s = self.timeout_s if self.timeout_s is not None else self._job_timeout_s(name)
        deadline = self._clock() + timeout_s
        while True:
            job_run = self.glue.get_job_run(JobName=name, RunId=run_id)["JobRun"]
            state = job_run["JobRunState"]
            if done(state):
                return job_run
            if self._clock() >= deadline:
                self._stop(name, run_id)
                raise GlueJobError(
                    f"Glue job {name} run {run_id} still {state} after {timeout_s / 60:g} minutes; "
                    "asked Glue to stop it"
                )
            self._sleep(self.poll_s)

    def _job_timeout_s(self, name: str) -> float:
        minutes = self.glue.get_job(JobName=name)["Job"].get("Timeout") or 2880  # Glue's own default: 48 h
        return (minutes + GRACE_MINUTES) * 60

    def _stop(self, name: str, run_id: str) -> None:
        try:
            self.glue.batch_stop_job_run(JobName=name, JobRunIds=[run_id])
        except Exception as error:  # the timeout is the error to report; a failed stop is logged beside it
            logger.warning("Glue job %s: could not stop run %s: %s", name, run_id, error)


def runner_for(name: str, engine: str = DEFAULT_ENGINE) -> Runner:
    """The runner `name`; `engine` is the local runner's (Glue runs its own Spark)."""
    if name == "local":
        return LocalRunner(engine)
    if name == "glue":
        return GlueRunner.from_environment()
    raise ValueError(f"unknown runner {name!r}; expected local or glue")
