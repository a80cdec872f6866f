"""Every landing entry is read, quarantined whole with its reason, or skipped with its reason."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import unquote

import pytest

from stedi import lake
from stedi.landing import inspect_source, reader_path
from stedi.rules import (
    CORRUPT_GZIP,
    GZIP_WITHOUT_SUFFIX,
    NOT_GZIP,
    TRUNCATED_GZIP,
    UNREADABLE_FILE,
    UNSUPPORTED_COMPRESSION,
    UNSUPPORTED_FILE_NAME,
)

LINES = b'{"x": 1}\n{"x": 2}\n'
GZ = gzip.compress(LINES, mtime=0)


def write(folder: Path, relative: str, data: bytes) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def names(paths: list[str], root: Path) -> list[str]:
    return [os.path.relpath(p, root) for p in paths]


def test_nested_folders_are_read_and_hidden_entries_skipped_with_their_reason(tmp_path):
    write(tmp_path, "top.json", LINES)
    write(tmp_path, "2023/06/01/part-1.json", LINES)  # a date-partitioned landing
    write(tmp_path, "2023/06/02/part-2.json.gz", GZ)
    write(tmp_path, "2023/.DS_Store", b"\0")
    write(tmp_path, "_SUCCESS", b"")
    write(tmp_path, ".staging/half-uploaded.json", LINES)  # a hidden folder is not walked

    found = inspect_source(str(tmp_path))

    assert names(found.paths, tmp_path) == ["2023/06/01/part-1.json", "2023/06/02/part-2.json.gz", "top.json"]
    assert [(os.path.relpath(s.path, tmp_path), s.reason) for s in found.skipped] == [
        (".staging", "hidden folder (its name starts with '.')"),
        ("2023/.DS_Store", "hidden file (its name starts with '.')"),
        ("_SUCCESS", "hidden file (its name starts with '_')"),
    ]
    assert found.quarantined == [] and found.delivered == 3


def test_links_and_special_files_are_skipped_with_their_reason_and_a_link_to_a_file_is_read(tmp_path):
    landing, elsewhere = tmp_path / "landing", tmp_path / "elsewhere"
    target = write(elsewhere, "delivered.json", LINES)
    write(landing, "a.json", LINES)
    (landing / "link-to-file.json").symlink_to(target)
    (landing / "dangling.json").symlink_to(tmp_path / "gone.json")
    (landing / "link-to-folder").symlink_to(elsewhere, target_is_directory=True)
    (landing / "loop.json").symlink_to(landing / "loop.json")
    os.mkfifo(landing / "pipe.json")

    found = inspect_source(str(landing))

    assert names(found.paths, landing) == ["a.json", "link-to-file.json"]
    assert {os.path.relpath(s.path, landing): s.reason for s in found.skipped} == {
        "dangling.json": "symbolic link to nothing",
        "link-to-folder": "symbolic link to a folder (not followed)",
        "loop.json": "symbolic link that cannot be followed: Too many levels of symbolic links",
        "pipe.json": "FIFO (named pipe), not a regular file",
    }


@pytest.mark.parametrize(
    ("name", "data", "rule"),
    [
        ("not-gzip.json.gz", LINES, NOT_GZIP),  # named .gz, plain text inside
        ("truncated.json.gz", GZ[:-6], TRUNCATED_GZIP),  # an interrupted upload: no trailer
        ("cut-mid-stream.json.gz", GZ[:12], TRUNCATED_GZIP),
        ("bad-checksum.json.gz", GZ[:-8] + b"\0\0\0\0" + GZ[-4:], CORRUPT_GZIP),  # CRC32 no longer matches
        ("garbage.json.gz", GZ[:10] + b"\xff" * 20 + GZ[30:], CORRUPT_GZIP),  # deflate data overwritten
        ("trailing-bytes.json.gz", GZ + b"trailing", CORRUPT_GZIP),  # Spark fails on bytes after the last member
        ("zero-padded.json.gz", GZ + b"\0" * 16, CORRUPT_GZIP),  # so does Hadoop's gzip reader on padding
        ("gzip-named-json.json", GZ, GZIP_WITHOUT_SUFFIX),  # Spark picks the codec by name: binary lines
        ("EXPORT.JSON.GZ", GZ, GZIP_WITHOUT_SUFFIX),  # ... by the suffix .gz, in lower case
        ("export.json.bz2", b"BZh91AY&SY", UNSUPPORTED_COMPRESSION),
        ("export.zip", b"PK\x03\x04", UNSUPPORTED_COMPRESSION),
        ("2023-06-01T12:00:00.json", LINES, UNSUPPORTED_FILE_NAME),  # Hadoop reads `2023-06-01T12` as a scheme
    ],
)
def test_a_file_that_cannot_be_read_as_json_lines_is_quarantined_with_its_rule(tmp_path, name, data, rule):
    write(tmp_path, "good.json", LINES)
    write(tmp_path, name, data)

    found = inspect_source(str(tmp_path))

    assert names(found.paths, tmp_path) == ["good.json"]
    assert [(os.path.basename(q.path), q.rule, q.size) for q in found.quarantined] == [(name, rule, len(data))]
    assert found.quarantined[0].detail  # says what is wrong, in words
    assert found.report().quarantined == {rule: 1} and found.report().landing == 2


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("two-members.json.gz", GZ + gzip.compress(b'{"x": 3}\n')),  # concatenated members are one stream
        ("empty.json.gz", b""),  # no records, as Spark reads it
        ("empty.json", b""),
        ("large.json.gz", gzip.compress(os.urandom(3 << 20).hex().encode())),  # many read chunks
        ("expands-a-thousandfold.json.gz", gzip.compress(b" " * (64 << 20))),  # held a chunk at a time
    ],
)
def test_gzip_files_spark_reads_whole_are_read(tmp_path, name, data):
    write(tmp_path, name, data)
    found = inspect_source(str(tmp_path))
    assert names(found.paths, tmp_path) == [name] and found.quarantined == []


GZIP_CASES = {
    "whole.json.gz": GZ,
    "two-members.json.gz": GZ + gzip.compress(b'{"x": 3}\n'),
    "empty.json.gz": b"",
    "truncated.json.gz": GZ[:-6],
    "bad-checksum.json.gz": GZ[:-8] + b"\0\0\0\0" + GZ[-4:],
    "trailing-bytes.json.gz": GZ + b"trailing",
    "zero-padded.json.gz": GZ + b"\0" * 16,
    "not-gzip.json.gz": LINES,
}


@pytest.mark.parametrize("name", list(GZIP_CASES))
def test_spark_reads_exactly_the_gzip_files_the_check_lets_through(spark, tmp_path, name):
    """The check's premise, tested on Spark itself: what it quarantines Spark cannot read; what it lets
    through, Spark reads whole."""
    write(tmp_path, name, GZIP_CASES[name])
    found = inspect_source(str(tmp_path))
    try:
        lines = [row.value for row in spark.read.text(str(tmp_path / name)).collect()]
    except Exception:  # Spark failed on the file
        lines = None
    if found.read:
        data = GZIP_CASES[name]
        assert lines == (gzip.decompress(data).decode().splitlines() if data else [])
    else:
        assert lines is None, found.quarantined


def test_a_missing_folder_has_no_files(tmp_path):
    found = inspect_source(str(tmp_path / "nothing-here"))
    assert (found.read, found.quarantined, found.skipped) == ([], [], [])


def test_a_file_the_system_refuses_to_read_is_quarantined(tmp_path, tmp_path_factory):
    """chmod 000 as a user who is not root (root reads anything, so the check runs as `nobody` then)."""
    write(tmp_path, "good.json", LINES)
    write(tmp_path, "secret.json", LINES).chmod(0)
    pytest_root = tmp_path_factory.getbasetemp().parent  # pytest-of-<user>, owner-only
    for folder in (tmp_path, *[p for p in tmp_path.parents if p.is_relative_to(pytest_root)]):
        if folder.stat().st_mode & 0o005 != 0o005:
            folder.chmod(folder.stat().st_mode | 0o005)  # let the other user walk down to the landing
    (tmp_path / "good.json").chmod(0o644)
    check = textwrap.dedent(f"""
        import os
        from stedi.landing import inspect_source  # imported first: `nobody` may not read the interpreter's home
        if os.geteuid() == 0:
            os.setgid(65534); os.setuid(65534)
        found = inspect_source({str(tmp_path)!r})
        print([os.path.basename(p) for p in found.paths])
        print([(os.path.basename(q.path), q.rule, q.detail) for q in found.quarantined])
    """)
    result = subprocess.run(
        [sys.executable, "-c", check],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "['good.json']",
        f"[('secret.json', '{UNREADABLE_FILE}', 'Permission denied')]",
    ]


def test_reader_paths_escape_what_hadoop_would_expand_as_a_glob():
    assert reader_path("/landing/c[1]{a,b}*?.json") == r"/landing/c\[1\]\{a,b\}\*\?.json"
    assert reader_path("s3://bucket/landing/plain name.json") == "s3://bucket/landing/plain name.json"


def test_files_whose_names_hadoop_would_expand_are_read_as_themselves(spark, tmp_path):
    write(tmp_path, "c[1].json", b'{"x": 1}\n')
    write(tmp_path, "c1.json", b'{"x": 2}\n')  # what the glob `c[1].json` would name instead
    write(tmp_path, "all*.json", b'{"x": 3}\n')
    write(tmp_path, "für alle.json", b'{"x": 4}\n')
    rows = lake.read_landing(spark, inspect_source(str(tmp_path))).collect()
    # the lineage names each file as Spark does, as a URI: `c%5B1%5D.json`
    assert sorted((r.value, unquote(r._source_file.rsplit("/", 1)[1])) for r in rows) == [
        ('{"x": 1}', "c[1].json"),
        ('{"x": 2}', "c1.json"),
        ('{"x": 3}', "all*.json"),
        ('{"x": 4}', "für alle.json"),
    ]
    # every engine encodes alike: URI-illegal ASCII percent-encoded, other characters as they are
    assert {r._source_file.rsplit("/", 1)[1] for r in rows} >= {"c%5B1%5D.json", "für%20alle.json"}


def test_an_s3_landing_is_walked_to_every_depth(aws):
    prefix = "landing/customer/landing"
    objects = {
        f"{prefix}/a.json": LINES,
        f"{prefix}/2023/06/b.json.gz": GZ,
        f"{prefix}/2023/06/broken.json.gz": GZ[:-6],
        f"{prefix}/2023/": b"",  # how the S3 console shows a folder: not a file
        f"{prefix}/_temporary/0/part.json": LINES,
        f"{prefix}/.hidden.json": LINES,
        "landing/customer/landing-old/c.json": LINES,  # beside the folder, not in it
    }
    for key, body in objects.items():
        aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=body)

    found = inspect_source(f"s3://{aws.bucket}/{prefix}")

    root = f"s3://{aws.bucket}/{prefix}"
    assert found.paths == [f"{root}/2023/06/b.json.gz", f"{root}/a.json"]
    assert [(q.path, q.rule) for q in found.quarantined] == [(f"{root}/2023/06/broken.json.gz", TRUNCATED_GZIP)]
    assert [(s.path, s.reason) for s in found.skipped] == [
        (f"{root}/.hidden.json", "in a hidden file (its name starts with '.')"),
        (f"{root}/_temporary/0/part.json", "in a hidden folder (its name starts with '_')"),
    ]
