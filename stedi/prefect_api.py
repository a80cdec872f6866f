"""Booting Prefect's temporary API early, so `stedi run` does not wait for it after Spark is up."""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor

_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefect-api")


def _start_temporary_api() -> None:
    # Prefect starts this same server (a per-port singleton) on the first API call when no
    # PREFECT_API_URL is set; starting it here only moves that wait to the beginning of the run.
    from prefect.server.api.server import SubprocessASGIServer

    SubprocessASGIServer().start()


def start_api_in_background() -> Future[None] | None:
    """Start the temporary Prefect API in the background unless a server is configured."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value() or os.environ.get("STEDI_NO_EARLY_API"):
        return None
    return _pool.submit(_start_temporary_api)
