"""Building a SparkSession with the settings every environment shares: locally, in tests, and on Glue
(`configure` applies them to the session Glue provides)."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

# Semantics the transformations rely on, pinned here so Spark 3.5 (Glue 5.0) and Spark 4.x agree:
# - ANSI off: a value that cannot be cast becomes NULL and is then quarantined by a rule, instead of
#   failing the whole job (Spark 4 turns ANSI on by default, Spark 3.5 does not).
# - UTC: epoch milliseconds map to the same timestamps on every machine.
# - LAST_WIN: a record carrying the same key twice in different letter cases keeps the last one.
# - CORRECTED datetime rebase: dates are written and read as the proleptic Gregorian calendar, as
#   DuckDB, pyarrow and Redshift read them. Spark 4 does so by default; Spark 3.5 refuses to write the
#   sample's birthdays in the year 967 without it.
SESSION_CONF = {
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.mapKeyDedupPolicy": "LAST_WIN",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.sources.partitionOverwriteMode": "static",
}

# Local runs are short-lived JVMs on small data, where JIT warm-up and code generation cost more than
# they save: C1-only JIT and no whole-stage codegen take about a fifth off the sample run.
LOCAL_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseParallelGC"
# A class-data-sharing archive of the classes a pipeline run loads (built once per environment by
# `python -m stedi.jvm_archive`, which `make` runs after installing): the JVM maps them pre-parsed and
# pre-verified instead of loading thousands of classes from Spark's jars, which halves JVM start-up and
# takes about 4 s off the first jobs. The JVM checks the archive itself and ignores one that does not
# match its version or class path.
JVM_ARCHIVE = Path(sys.prefix) / "share" / "stedi" / "spark-classes.jsa"
QUIET_CDS = "-Xlog:cds=off -Xlog:cds+dynamic=off"  # the archive's own messages are not the run's
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")
LOCAL_CONF = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Off: on a few MB, adaptive execution's re-planning after every shuffle stage (a Spark job each)
    # costs more than it saves.
    "spark.sql.adaptive.enabled": "false",
    "spark.driver.memory": "2g",
    "spark.sql.warehouse.dir": os.path.join(os.environ.get("TMPDIR", "/tmp"), "stedi-spark-warehouse"),
}


class JavaMissingError(RuntimeError):
    pass


def require_java() -> None:
    """Fail with an installable hint instead of py4j's opaque 'Java gateway exited'."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.path.exists(os.path.join(java_home, "bin", "java")):
        return
    if shutil.which("java") is None:
        raise JavaMissingError(
            "Java 17 is required by Spark but was not found: install OpenJDK 17 "
            "(apt-get install openjdk-17-jre-headless, or brew install openjdk@17) or set JAVA_HOME"
        )


@dataclass(frozen=True)
class JvmLog:
    """Where the JVM's warnings and errors go: a file, and the terminal from `console_level` up (log4j's
    levels: off, error, warn, ...)."""

    file: Path | None = None
    console_level: str = "error"

    def java_options(self) -> str:
        options = {"log4j2.configurationFile": str(LOG4J_CONFIG), "stedi.spark.console": self.console_level}
        if self.file is not None:
            options["stedi.spark.log"] = str(self.file)
        return " ".join(_java_property(name, value) for name, value in options.items())


def _java_property(name: str, value: str) -> str:
    return _quoted(f"-D{name}={value}")


def _quoted(option: str) -> str:
    """One JVM option as Spark splits extraJavaOptions: quoted when it holds a space or a quote."""
    if not any(c in option for c in " \t'\"\\"):
        return option
    return '"' + option.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_session(
    master: str = "local[*]",
    app_name: str = "stedi-lakehouse",
    java_options: str | None = None,
    jvm_log: JvmLog = JvmLog(),
    **overrides: str,
) -> SparkSession:
    """The in-process session for local runs and tests; on Glue the job uses the session Glue provides.

    `java_options`: the JVM's options (default: java_options_for_local_runs); `jvm_log`: where its log goes.
    """
    require_java()
    _forget_connect_settings()
    builder = SparkSession.builder.master(master).appName(app_name)
    options = f"{java_options or java_options_for_local_runs()} {jvm_log.java_options()}"
    for key, value in {**SESSION_CONF, **LOCAL_CONF, "spark.driver.extraJavaOptions": options, **overrides}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if "spark.sql.shuffle.partitions" not in overrides:
        # One shuffle partition per task slot (a core, as the JVM counts them): the default 200, or
        # any count above the slots, only adds tasks to the small shuffles of a local run.
        spark.conf.set("spark.sql.shuffle.partitions", str(spark.sparkContext.defaultParallelism))
    return spark


def _forget_connect_settings() -> None:
    """The engine setting decides where the jobs run, not Spark Connect's variables a parent process or the
    shell set (pyspark sets SPARK_CONNECT_MODE_ENABLED in a process that opened a Connect session, and its
    children inherit it): the spark engine is a local JVM, and Sail's session goes to its own server."""
    for name in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED"):
        os.environ.pop(name, None)


def start_sail(app_name: str = "stedi-lakehouse", log_level: str = "error") -> tuple[SparkSession, Any]:
    """A Sail server in this process (pysail: a Spark Connect server written in Rust, no JVM) and a Spark
    Connect session on it, with the shared semantics; returns both, as the server is stopped after it.

    `log_level` is the server's (RUST_LOG: error, warn, info): what it prints goes to standard error.
    """
    # Read once, when the server's logging starts. Its actors' warnings on shutdown ("aborting 11 task(s)")
    # are how it always ends, not news.
    os.environ["RUST_LOG"] = log_level if log_level in ("off", "error") else f"{log_level},sail_common::actor=error"
    _forget_connect_settings()
    from pysail.spark import SparkConnectServer

    server = SparkConnectServer(ip="127.0.0.1", port=0)
    server.start(background=True)
    host, port = server.listening_address
    spark = SparkSession.builder.remote(f"sc://{host}:{port}").appName(app_name).getOrCreate()
    # The server lives in this process: one that does not answer has ended (Ctrl-C ends Sail's), and the
    # client's default of retrying for ten minutes would only keep an interrupted run from ending.
    from pyspark.sql.connect.client.retries import DefaultPolicy

    spark.client.set_retry_policies([DefaultPolicy(max_retries=3, max_backoff=1000)])
    return configure(spark), server


def java_options_for_local_runs(archive: Path = JVM_ARCHIVE) -> str:
    if not archive.is_file():
        return LOCAL_JAVA_OPTIONS
    return f"{LOCAL_JAVA_OPTIONS} {_quoted(f'-XX:SharedArchiveFile={archive}')} {QUIET_CDS}"


def configure(spark: SparkSession) -> SparkSession:
    """Apply the shared semantics to a session built elsewhere (Glue's)."""
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    return spark
