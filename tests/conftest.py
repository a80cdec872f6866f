"""Fixtures shared by the whole suite: one local SparkSession, the shipped sample."""

from __future__ import annotations

import os
import time

import pytest
from pyspark.sql import SparkSession

from stedi.settings import SAMPLE_LANDING
from stedi.spark import build_session

# Spark turns naive Python datetimes into instants with the process's zone; the pipeline runs in UTC.
os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture(scope="session")
def spark() -> SparkSession:
    session = build_session(master="local[2]", app_name="stedi-tests", **{"spark.sql.shuffle.partitions": "2"})
    yield session
    session.stop()


@pytest.fixture(scope="session")
def sample_landing() -> str:
    return SAMPLE_LANDING
