"""The local session's JVM options: the class-data-sharing archive when the environment has one."""

import os
from pathlib import Path

import pytest

from stedi.spark import JVM_ARCHIVE, LOCAL_JAVA_OPTIONS, java_options_for_local_runs
from tests.conftest import ENGINE


def test_without_an_archive_the_jvm_starts_as_usual(tmp_path):
    assert java_options_for_local_runs(tmp_path / "missing.jsa") == LOCAL_JAVA_OPTIONS


def test_with_an_archive_the_jvm_maps_it_and_keeps_quiet_about_it(tmp_path):
    archive = tmp_path / "spark-classes.jsa"
    archive.write_bytes(b"")
    options = java_options_for_local_runs(archive).split()
    assert options[: len(LOCAL_JAVA_OPTIONS.split())] == LOCAL_JAVA_OPTIONS.split()
    assert f"-XX:SharedArchiveFile={archive}" in options and "-Xlog:cds=off" in options


def jvm_arguments(parent: int) -> list[str]:
    """The command line of the Spark JVM this process started (read from /proc, as `ps` does)."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            status = (proc / "status").read_text()
            arguments = (proc / "cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        ppid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
        if ppid == parent and "org.apache.spark.deploy.SparkSubmit" in arguments:
            return arguments
    raise AssertionError("no Spark JVM among this process's children")


@pytest.mark.skipif(ENGINE != "spark", reason="the spark engine's JVM (make test-spark runs it)")
def test_the_test_session_s_jvm_runs_with_the_environment_s_options(spark):
    arguments = jvm_arguments(os.getpid())
    assert "-XX:TieredStopAtLevel=1" in arguments
    # `make test` builds the archive first; a bare `pytest` in a fresh environment runs without it
    assert (f"-XX:SharedArchiveFile={JVM_ARCHIVE}" in arguments) == JVM_ARCHIVE.is_file()


def test_py4j_reports_of_the_jvm_the_run_ended_are_dropped_and_nothing_else():
    import logging
    import sys

    from py4j.protocol import Py4JNetworkError

    from stedi.local_session import _jvm_gone_on_purpose

    def record(error: BaseException) -> logging.LogRecord:
        try:
            raise error
        except BaseException:
            return logging.LogRecord("root", logging.ERROR, __file__, 1, "Exception while sending command.", None,
                                     sys.exc_info())  # fmt: skip

    assert not _jvm_gone_on_purpose(record(Py4JNetworkError("Error while sending or receiving")))
    assert _jvm_gone_on_purpose(record(RuntimeError("a real failure")))
