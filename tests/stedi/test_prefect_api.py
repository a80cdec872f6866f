"""The temporary Prefect API of `stedi run`: it starts on a port nobody holds, and its database keeps the newest
runs only."""

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


def test_a_server_whose_port_was_taken_before_it_bound_starts_again_on_another(tmp_path, monkeypatch):
    """The port is chosen seconds before the server binds it; whoever takes it meanwhile costs a restart."""
    import socket

    from stedi import prefect_api

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = iter([taken.getsockname()[1]])
    choose = prefect_api.free_port
    monkeypatch.setattr(prefect_api, "free_port", lambda: next(ports, None) or choose())
    api = TemporaryAPI(tmp_path / "api.log")
    try:
        with api.serving():
            assert api.starts == 2 and api.port != taken.getsockname()[1]
        assert "already in use" in (tmp_path / "api.log").read_text()  # what the first start said
    finally:
        api.stop()
        taken.close()


def test_free_ports_lie_below_the_ephemeral_range():
    from stedi.prefect_api import free_port

    assert all(20000 <= free_port() < 32768 for _ in range(20))
