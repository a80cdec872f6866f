"""Build the JVM's class-data-sharing archive for local runs: `python -m stedi.jvm_archive`.

Runs the three Spark jobs once on the bundled sample in a JVM that records every class it loads and
writes them to the archive when it exits (-XX:ArchiveClassesAtExit); later sessions map that archive
(stedi/spark.py). The jobs run as a `spark-submit` application, so that the JVM is the process this
command starts and waits for: the archive is complete once it has exited. `make` builds it once after
installing; it belongs to this environment's Java and pyspark, and is rebuilt with them.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from stedi.secrets import SECRET_ENV
from stedi.spark import JVM_ARCHIVE, LOCAL_JAVA_OPTIONS, QUIET_CDS, configure

_TIMEOUT_S = 600


def build(archive: Path = JVM_ARCHIVE) -> Path:
    """Record the archive at `archive` (replacing any); fails, naming why, if the JVM wrote none."""
    import pyspark

    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.unlink(missing_ok=True)  # an archive is recorded on top of no other
    partial = archive.with_name(f".{archive.name}.partial")
    partial.unlink(missing_ok=True)
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    with tempfile.TemporaryDirectory(prefix="stedi-jvm-archive-") as folder:
        # The application's own script, in a folder of its own: run from stedi/, this module would be
        # imported as a script beside stedi/secrets.py, which would hide the standard library's secrets.
        script = Path(folder) / "record.py"
        script.write_text("import sys\nfrom stedi.jvm_archive import record\nrecord(sys.argv[1])\n")
        command = [
            str(submit),
            "--master",
            "local[*]",
            "--conf",
            "spark.ui.enabled=false",
            "--driver-java-options",
            f"{LOCAL_JAVA_OPTIONS} -XX:ArchiveClassesAtExit={partial} {QUIET_CDS}",
            str(script),
            str(Path(folder) / "lake"),
        ]
        # A key of its own for the throwaway lake: recording never makes the user's local key.
        env = {
            **os.environ,
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            SECRET_ENV: secrets.token_hex(32),
        }
        finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=_TIMEOUT_S)
    if finished.returncode != 0 or not partial.is_file():
        detail = (finished.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the JVM exited ({finished.returncode}) without writing {partial}: {detail}")
    partial.rename(archive)
    return archive


def record(lake: str) -> None:
    """The application `spark-submit` runs: the three jobs on the sample, in the JVM that records."""
    from pyspark.sql import SparkSession

    from stedi.jobs import bronze, gold, silver
    from stedi.jobs.common import JobArgs
    from stedi.settings import SAMPLE_LANDING

    spark = configure(SparkSession.builder.appName("stedi-jvm-archive").getOrCreate())
    args = JobArgs(landing=SAMPLE_LANDING, lake=lake, run_id="jvm-archive", ingested_at=datetime.now(UTC).isoformat())
    for job in (bronze, silver, gold):
        job.run(spark, args)


def main() -> int:
    started = time.monotonic()
    try:
        archive = build()
    except Exception as error:  # an optimisation: runs work without it, only slower
        print(
            f"warning: no JVM class archive, Spark will start slower: {type(error).__name__}: {error}", file=sys.stderr
        )
        return 0
    size_mb = archive.stat().st_size / 1e6
    print(f"JVM class archive: {archive} ({size_mb:.0f} MB, {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
