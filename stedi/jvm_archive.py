"""Build the JVM's class-data-sharing archive for local runs: `python -m stedi.jvm_archive`.

Runs the three Spark jobs once on the bundled sample in a JVM that records every class it loads and
writes them to the archive when it exits (-XX:ArchiveClassesAtExit); later sessions map that archive
(stedi/spark.py). `make` builds it once after installing; it belongs to this environment's Java and
pyspark, and is rebuilt with them.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from stedi.spark import JVM_ARCHIVE, LOCAL_JAVA_OPTIONS, QUIET_CDS, build_session, end_jvm

_EXIT_TIMEOUT_S = 300


def build(archive: Path = JVM_ARCHIVE) -> Path:
    from stedi.jobs import bronze, gold, silver
    from stedi.jobs.common import JobArgs
    from stedi.settings import SAMPLE_LANDING

    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.unlink(missing_ok=True)  # an archive is recorded on top of no other
    partial = archive.with_name(f".{archive.name}.partial")
    partial.unlink(missing_ok=True)
    options = f"{LOCAL_JAVA_OPTIONS} -XX:ArchiveClassesAtExit={partial} {QUIET_CDS}"
    spark = build_session(java_options=options)
    with tempfile.TemporaryDirectory(prefix="stedi-jvm-archive-") as lake:
        args = JobArgs(
            landing=SAMPLE_LANDING, lake=lake, run_id="jvm-archive", ingested_at=datetime.now(UTC).isoformat()
        )
        for job in (bronze, silver, gold):
            job.run(spark, args)
    code = end_jvm(spark, timeout_s=_EXIT_TIMEOUT_S)  # the JVM writes the archive as it exits
    if not partial.is_file():
        raise RuntimeError(f"the JVM exited ({code}) without writing {partial}")
    partial.rename(archive)
    return archive


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
