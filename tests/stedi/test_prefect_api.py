"""The temporary Prefect API of `stedi run`: its database keeps the newest runs only."""

from __future__ import annotations

import logging

import anyio
from prefect import flow, get_client
from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.logging.handlers import APILogHandler

from stedi.prefect_api import TemporaryAPI


@flow(name="stedi-keep-runs-test")
def reporting_flow(number: int) -> None:
    create_markdown_artifact(f"run {number}", key="stedi-keep-runs-test")


def test_only_the_newest_flow_runs_and_their_artifacts_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    api = TemporaryAPI()
    try:
        with api.serving():
            for number in range(4):
                reporting_flow(number)
            api.keep_flow_runs("stedi-keep-runs-test", keep=2)  # and room for the run about to start

            async def left() -> tuple[list[int], int]:
                async with get_client() as client:
                    runs = await client.read_flow_runs(
                        flow_filter=FlowFilter(name=FlowFilterName(any_=["stedi-keep-runs-test"]))
                    )
                    artifacts = await client.read_artifacts()
                    return sorted(run.parameters["number"] for run in runs), len(artifacts)

            numbers, artifacts = anyio.run(left)
            for handler in logging.getLogger("prefect.flow_runs").handlers:  # the flows' logs reach the API first
                if isinstance(handler, APILogHandler):
                    handler.flush()
    finally:
        api.stop()
    assert numbers == [3] and artifacts == 1
