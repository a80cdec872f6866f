"""The local session's JVM options: the class-data-sharing archive when the environment has one."""

from stedi.spark import JVM_ARCHIVE, LOCAL_JAVA_OPTIONS, java_options_for_local_runs


def test_without_an_archive_the_jvm_starts_as_usual(tmp_path):
    assert java_options_for_local_runs(tmp_path / "missing.jsa") == LOCAL_JAVA_OPTIONS


def test_with_an_archive_the_jvm_maps_it_and_keeps_quiet_about_it(tmp_path):
    archive = tmp_path / "spark-classes.jsa"
    archive.write_bytes(b"")
    options = java_options_for_local_runs(archive).split()
    assert options[: len(LOCAL_JAVA_OPTIONS.split())] == LOCAL_JAVA_OPTIONS.split()
    assert f"-XX:SharedArchiveFile={archive}" in options and "-Xlog:cds=off" in options


def test_the_test_session_s_jvm_runs_with_the_environment_s_options(spark):
    management = spark.sparkContext._jvm.java.lang.management.ManagementFactory
    arguments = list(management.getRuntimeMXBean().getInputArguments())
    assert "-XX:TieredStopAtLevel=1" in arguments
    # `make test` builds the archive first; a bare `pytest` in a fresh environment runs without it
    assert (f"-XX:SharedArchiveFile={JVM_ARCHIVE}" in arguments) == JVM_ARCHIVE.is_file()
