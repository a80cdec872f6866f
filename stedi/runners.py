"""Where a job runs: in this process on the run's SparkSession, or (later) as an AWS Glue job run."""

from __future__ import annotations

from importlib import import_module
from typing import Any, Protocol

from stedi import lake
from stedi.jobs.common import JobArgs
from stedi.spark import get_session


class Runner(Protocol):
    def run(self, job: str, args: JobArgs) -> dict[str, Any]:
        """Run `job` to completion and return the run report it wrote."""


class LocalRunner:
    """Runs jobs in-process on the one SparkSession of the run."""

    def run(self, job: str, args: JobArgs) -> dict[str, Any]:
        module = import_module(f"stedi.jobs.{job}")
        module.run(get_session(), args)
        return lake.read_json(lake.report_path(args.lake, args.run_id, job))


def runner_for(name: str) -> Runner:
    if name == "local":
        return LocalRunner()
    raise NotImplementedError(f"the {name!r} runner is not available yet")
