"""The landing's files: which a run reads, which it quarantines whole, which it skips, and why.

Every entry under `<root>/<source>/landing/` is looked at, in nested folders too (landings are often
partitioned by date: `customer/landing/2023/06/...`), and ends in exactly one of three lists:

    read         regular files whose bytes can be read as JSON lines: plain text, or gzip named `.gz`;
    quarantined  files that cannot be read as such (stedi/rules.py, FILE_RULES: unreadable, corrupt or
                 truncated gzip, not what the name says, ...): recorded with the path and the reason in
                 <lake>/quarantine/files/, counted per source, under the quarantine threshold;
    skipped      what is not a landing file: hidden files and folders (`.DS_Store`, `_SUCCESS`, `.tmp/`),
                 symbolic links to folders or to nothing, FIFOs, sockets and devices; each is listed with
                 its reason in the run summary.

A file is checked here, before Spark opens it, so that one bad file costs a quarantine record instead
of the whole run: a gzip file is decompressed once to its end (its checksum and length verified), any
other file is opened and its first bytes read. Local folders are walked with os.scandir, S3 prefixes
listed with boto3: no engine's file system is needed.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import os
import re
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import IO, Any
from urllib.parse import urlparse

from stedi.report import Files
from stedi.rules import (
    CORRUPT_GZIP,
    GZIP_WITHOUT_SUFFIX,
    NOT_GZIP,
    TRUNCATED_GZIP,
    UNREADABLE_FILE,
    UNREADABLE_FOLDER,
    UNSUPPORTED_COMPRESSION,
    UNSUPPORTED_FILE_NAME,
)

GZIP_MAGIC = b"\x1f\x8b"
# Compressions Spark, Sail and Glue do not all read alike; an export in one of them is quarantined with
# a reason that says so, rather than read as binary lines.
UNSUPPORTED_SUFFIXES = (
    ".bz2",
    ".zip",
    ".zst",
    ".zstd",
    ".xz",
    ".lz4",
    ".snappy",
    ".deflate",
    ".7z",
    ".tar",
    ".tgz",
    ".br",
)
_CHUNK = 1 << 20
_CHECKERS = 8  # files checked side by side: gzip decompression and S3 reads release the GIL


@dataclass(frozen=True)
class LandingFile:
    path: str  # as the reader opens it: an absolute local path, or s3://bucket/key
    size: int
    version: str | None = None  # what changes when its bytes do: local times and inode, or S3's ETag
    # False when some of its bytes are not UTF-8 (a Latin-1 export): the engines' text readers disagree
    # on such a file (Sail fails the job, Spark keeps the bytes), so it is decoded here (read_text).
    utf8: bool = True


@dataclass(frozen=True)
class QuarantinedFile:
    path: str
    rule: str  # a FILE_RULES name
    detail: str  # what the operating system, zlib or S3 said
    size: int | None = None
    version: str | None = None


@dataclass(frozen=True)
class SkippedEntry:
    path: str
    reason: str


@dataclass
class SourceFiles:
    """One source's landing folder, entry by entry."""

    folder: str
    read: list[LandingFile] = field(default_factory=list)
    quarantined: list[QuarantinedFile] = field(default_factory=list)
    skipped: list[SkippedEntry] = field(default_factory=list)
    delivered: int = 0  # files met while walking the folder, each to end up read or quarantined
    # Files already ingested and unchanged since (the `known` of inspect_source): not checked again.
    unchecked: list[LandingFile] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.read]

    @property
    def not_utf8(self) -> list[str]:
        return [f.path for f in self.read if not f.utf8]

    def report(self) -> Files:
        """The run report's figures: every file delivered (`landing`, counted as the walk met it) is read or
        quarantined, which the run's accounting checks (skipped entries are not landing files)."""
        by_rule: dict[str, int] = {}
        for problem in self.quarantined:
            by_rule[problem.rule] = by_rule.get(problem.rule, 0) + 1
        return Files(
            landing=self.delivered,
            read=len(self.read),
            quarantined=dict(sorted(by_rule.items())),
            quarantined_files=[asdict(q) for q in self.quarantined],
            skipped=[asdict(s) for s in self.skipped],
        )


# A file already ingested: its (size, version) then, or None for a file never ingested.
Known = Callable[[str], "tuple[int | None, str | None] | None"]


def inspect_source(folder: str, known: Known | None = None) -> SourceFiles:
    """Walk `folder` (local or s3://), sort each entry into read, quarantined or skipped; a folder that
    does not exist has no entries. A file `known` with the same size and version is not checked again:
    it goes to `unchecked`."""
    found = SourceFiles(folder)
    if folder.startswith("s3://"):
        s3 = _s3()  # one client for the folder: each makes a session of its own
        walk, check = (lambda root: _walk_s3(s3, root)), (lambda candidate: _check_s3(s3, candidate))
    else:
        walk, check = _walk_local, _check_local
    candidates = []
    for entry in walk(folder):
        if isinstance(entry, SkippedEntry):
            found.skipped.append(entry)
            continue
        found.delivered += 1
        if isinstance(entry, QuarantinedFile):
            found.quarantined.append(entry)
        elif known is not None and known(entry.path) == (entry.size, entry.version):
            found.unchecked.append(entry)
        else:
            candidates.append(entry)
    with ThreadPoolExecutor(max_workers=_CHECKERS, thread_name_prefix="landing-check") as pool:
        for checked in pool.map(check, candidates):
            (found.quarantined if isinstance(checked, QuarantinedFile) else found.read).append(checked)
    found.read.sort(key=lambda f: f.path)
    found.quarantined.sort(key=lambda q: q.path)
    found.skipped.sort(key=lambda s: s.path)
    found.unchecked.sort(key=lambda f: f.path)
    return found


_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # as Spark's text reader breaks lines


def read_text(path: str) -> list[str]:
    """The lines of a landing file decoded here, each byte that is not UTF-8 replaced by U+FFFD (which the
    not_utf8 rule then quarantines): for the files whose `utf8` is False."""
    if path.startswith("s3://"):
        parsed = urlparse(path)
        data = _s3().get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"].read()
    else:
        with open(path, "rb") as handle:
            data = handle.read()
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    lines = _LINE_BREAK.split(data.decode("utf-8", errors="replace"))
    return lines[:-1] if lines and lines[-1] == "" else lines


def reader_path(path: str) -> str:
    """`path` as Spark's file reader takes it: Hadoop expands `[]{}*?` as a glob, so they are escaped
    (`c[1].json` would otherwise name `c1.json`, or list the folder)."""
    return "".join(f"\\{c}" if c in "[]{}*?\\" else c for c in path)


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))


# Walking: entries are yielded as LandingFile (to be checked), QuarantinedFile or SkippedEntry.
Entry = LandingFile | QuarantinedFile | SkippedEntry


def _walk_local(folder: str) -> Iterator[Entry]:
    if not os.path.lexists(folder):
        return
    if not os.path.isdir(folder):
        yield SkippedEntry(folder, "not a folder: a source's landing is a folder of files")
        return
    yield from _scan(folder)


def _scan(folder: str) -> Iterator[Entry]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as error:
        yield QuarantinedFile(folder, UNREADABLE_FOLDER, error.strerror or str(error))
        return
    for entry in entries:
        if _hidden(entry.name):
            kind = "folder" if entry.is_dir(follow_symlinks=False) else "file"
            yield SkippedEntry(entry.path, f"hidden {kind} (its name starts with {entry.name[0]!r})")
            continue
        try:
            info = os.stat(entry.path)  # through a symbolic link, to what it names
        except OSError as error:
            if entry.is_symlink():
                reason = (
                    "symbolic link to nothing"
                    if isinstance(error, FileNotFoundError)
                    else (f"symbolic link that cannot be followed: {error.strerror}")
                )
                yield SkippedEntry(entry.path, reason)
            else:
                yield QuarantinedFile(entry.path, UNREADABLE_FILE, error.strerror or str(error))
            continue
        if stat.S_ISDIR(info.st_mode):
            if entry.is_symlink():  # not followed: a link up the tree would walk forever
                yield SkippedEntry(entry.path, "symbolic link to a folder (not followed)")
            else:
                yield from _scan(entry.path)
        elif stat.S_ISREG(info.st_mode):
            yield LandingFile(entry.path, info.st_size, local_version(info))
        else:
            yield SkippedEntry(entry.path, f"{_special_kind(info.st_mode)}, not a regular file")


def local_version(info: os.stat_result) -> str:
    """What changes when a local file's bytes do: its modification and change times and its inode. A copy
    that keeps the old modification time (cp -p, rsync -t) still changes the change time, and a file
    replaced by a rename is another inode."""
    return f"{info.st_mtime_ns}-{info.st_ctime_ns}-{info.st_ino}"


def _special_kind(mode: int) -> str:
    kinds = {
        stat.S_ISFIFO: "FIFO (named pipe)",
        stat.S_ISSOCK: "socket",
        stat.S_ISCHR: "character device",
        stat.S_ISBLK: "block device",
    }
    return next((name for test, name in kinds.items() if test(mode)), "special file")


def _walk_s3(s3: Any, folder: str) -> Iterator[Entry]:
    parsed = urlparse(folder)
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/").rstrip("/") + "/"
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for item in page.get("Contents", []):
            key = item["Key"]
            relative = key[len(prefix) :].split("/")
            path = f"s3://{bucket}/{key}"
            hidden = next((part for part in relative if _hidden(part)), None)
            if key.endswith("/"):
                if item["Size"]:  # a zero-byte `folder/` object is how consoles show folders: no file
                    yield SkippedEntry(path, "an object named like a folder")
            elif hidden is not None:
                kind = "file" if hidden == relative[-1] else "folder"
                yield SkippedEntry(path, f"in a hidden {kind} (its name starts with {hidden[0]!r})")
            else:
                yield LandingFile(path, item["Size"], item.get("ETag", "").strip('"') or None)


# Checking: the file as it can be read as JSON lines, or why it cannot.


def _check_local(candidate: LandingFile) -> LandingFile | QuarantinedFile:
    def open_file() -> IO[bytes]:
        return open(candidate.path, "rb")

    return _check(candidate, open_file)


def _check_s3(s3: Any, candidate: LandingFile) -> LandingFile | QuarantinedFile:
    parsed = urlparse(candidate.path)

    def open_object() -> IO[bytes]:
        return s3.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"]

    return _check(candidate, open_object)


def _check(candidate: LandingFile, open_file: Callable[[], IO[bytes]]) -> LandingFile | QuarantinedFile:
    name = candidate.path.rsplit("/", 1)[-1]

    def problem(rule: str, detail: str) -> QuarantinedFile:
        return QuarantinedFile(candidate.path, rule, detail, candidate.size, candidate.version)

    if ":" in candidate.path.removeprefix("s3://"):
        return problem(
            UNSUPPORTED_FILE_NAME,
            "Spark's file reader cannot open a path holding ':' (Hadoop reads "
            "what comes before it as a scheme); rename the file or folder",
        )
    if name.lower().endswith(UNSUPPORTED_SUFFIXES):
        return problem(
            UNSUPPORTED_COMPRESSION, f"{name.rsplit('.', 1)[-1]} is not read; deliver JSON lines, plain or gzip (.gz)"
        )
    try:
        with contextlib.closing(open_file()) as stream:
            head = stream.read(len(GZIP_MAGIC))
            named_gzip = name.endswith(".gz")  # as Spark chooses the codec: by this suffix, in lower case
            if named_gzip and head and head != GZIP_MAGIC:
                return problem(NOT_GZIP, "named .gz, but its bytes are not gzip data")
            if not named_gzip and head == GZIP_MAGIC:
                return problem(
                    GZIP_WITHOUT_SUFFIX,
                    "gzip data in a file whose name does not end in .gz (in lower "
                    "case), which Spark would read as text: rename it",
                )
            text = _Utf8Check()
            if named_gzip and head:
                failure = gzip_problem(head, stream, text)
                if failure:
                    return problem(*failure)
            else:
                text(head)
                while chunk := stream.read(_CHUNK):
                    text(chunk)
    except OSError as error:
        return problem(UNREADABLE_FILE, error.strerror or str(error))
    except Exception as error:  # an S3 refusal (AccessDenied, ...), said as S3 says it
        return problem(UNREADABLE_FILE, f"{type(error).__name__}: {error}")
    return candidate if text.valid() else replace(candidate, utf8=False)


class _Utf8Check:
    """Fed a file's bytes in order: whether they are all UTF-8."""

    def __init__(self) -> None:
        self._decoder: Any = codecs.getincrementaldecoder("utf-8")()

    def __call__(self, chunk: bytes) -> None:
        if self._decoder is None:
            return
        try:
            self._decoder.decode(chunk)
        except UnicodeDecodeError:
            self._decoder = None

    def valid(self) -> bool:
        if self._decoder is None:
            return False
        try:
            self._decoder.decode(b"", final=True)  # a sequence cut off at the end
        except UnicodeDecodeError:
            return False
        return True


def gzip_problem(
    head: bytes, stream: IO[bytes], text: Callable[[bytes], None] = lambda _: None
) -> tuple[str, str] | None:
    """Decompress a gzip stream to its end, as Spark would, passing the text to `text`: (rule, detail) if it is
    corrupt (bad data, a checksum or length that does not match, bytes after the last member) or
    truncated, None if Spark can read it whole. Concatenated members are one stream, as gzip says.
    At most _CHUNK bytes of text are held at a time, however much a chunk expands."""
    decompressor = zlib.decompressobj(wbits=31)
    pending = head
    while True:
        while pending:
            try:
                text(decompressor.decompress(pending, _CHUNK))
            except zlib.error as error:
                return CORRUPT_GZIP, f"not valid gzip data: {error}"
            pending = decompressor.unconsumed_tail
            if decompressor.eof:
                pending = decompressor.unused_data
                if pending:  # the next member
                    decompressor = zlib.decompressobj(wbits=31)
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        pending = chunk
    try:  # text the last call held back for want of room, until the member's end
        while not decompressor.eof and (rest := decompressor.decompress(b"", _CHUNK)):
            text(rest)
    except zlib.error as error:
        return CORRUPT_GZIP, f"not valid gzip data: {error}"
    if not decompressor.eof:
        return TRUNCATED_GZIP, "the gzip data ends before its last member does (an interrupted upload or copy?)"
    return None


def _s3() -> Any:
    from stedi import aws

    return aws.client("s3")


def list_source(folder: str) -> list[LandingFile | QuarantinedFile]:
    """The landing files of `folder` as a walk finds them (sizes and versions), none of them opened: what a
    run compares with the files it ingested before."""
    entries = _walk_s3(_s3(), folder) if folder.startswith("s3://") else _walk_local(folder)
    return [entry for entry in entries if not isinstance(entry, SkippedEntry)]


def inspect_landing(
    landing: str, sources: Iterable[str], known: dict[str, Known] | None = None
) -> dict[str, SourceFiles]:
    """Every source's landing folder under `landing`; `known` per source, as inspect_source takes it."""
    from stedi.lake import landing_folder

    known = known or {}
    return {name: inspect_source(landing_folder(landing, name), known.get(name)) for name in sources}
