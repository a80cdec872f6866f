"""The ingestion state and the run's plan (stedi/ingestion.py), locally and on S3: which files a run reads,
when it rebuilds a source, and what it keeps of each file's first run."""

from __future__ import annotations

import os

from stedi import ingestion, lake
from stedi.ingestion import BuiltWith, IngestedFile, IngestionState, Totals, plan_lake, plan_source
from stedi.landing import inspect_source, local_version

POLICY = BuiltWith("ever", None)


def export(folder, name: str, lines: str = '{"a": 1}\n', mtime_ns: int = 1_700_000_000_000_000_000):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(lines)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def held(path, run_id: str = "run-1", rule: str | None = None) -> IngestedFile:
    stat = path.stat()
    return IngestedFile(str(path), stat.st_size, local_version(stat), run_id, "2026-12-01T00:00:00+00:00", rule)


def test_only_files_never_ingested_are_read_and_known_ones_are_not_even_opened(tmp_path):
    known = {str(p): held(p) for p in (export(tmp_path, "a.json"), export(tmp_path, "b.json"))}
    export(tmp_path, "c.json")
    found = inspect_source(str(tmp_path), lambda path: known[path].identity if path in known else None)
    assert [f.path.rsplit("/", 1)[1] for f in found.read] == ["c.json"]  # the only one checked
    plan = plan_source(found, known)
    assert (plan.rebuild, plan.new, [f.path.rsplit("/", 1)[1] for f in plan.read]) == (False, 1, ["c.json"])
    assert plan.warnings == []


def test_a_file_changed_in_place_rebuilds_its_source_from_every_file_and_says_so(tmp_path):
    a, b = export(tmp_path, "a.json"), export(tmp_path, "b.json")
    known = {str(p): held(p) for p in (a, b)}
    export(tmp_path, "b.json", '{"a": 2}\n{"a": 3}\n')  # the same name, other bytes
    found = inspect_source(str(tmp_path), lambda path: known[path].identity if path in known else None)
    plan = plan_source(found, known)
    assert plan.rebuild and plan.changed == [str(b)] and plan.removed == []
    assert [f.path for f in plan.read] == [str(a), str(b)]  # a unchanged, read again without a check
    assert plan.warnings == [
        f"{b} changed after it was ingested: its source was rebuilt from the files the landing holds now"
    ]
    files = ingestion.ingested_files(plan, known, "run-2", "2026-12-02T00:00:00+00:00")
    assert (files[str(a)].run_id, files[str(b)].run_id) == ("run-1", "run-2")  # lineage: the first run of each


def test_a_removed_file_rebuilds_its_source_without_it(tmp_path):
    a, b = export(tmp_path, "a.json"), export(tmp_path, "b.json")
    known = {str(p): held(p) for p in (a, b)}
    b.unlink()
    found = inspect_source(str(tmp_path), lambda path: known[path].identity if path in known else None)
    plan = plan_source(found, known)
    assert plan.rebuild and plan.removed == [str(b)] and [f.path for f in plan.read] == [str(a)]


def test_a_rebuild_keeps_each_unchanged_file_s_first_run(tmp_path):
    a = export(tmp_path, "a.json")
    known = {str(a): held(a, "run-1")}
    plan = plan_source(inspect_source(str(tmp_path)), None)  # a full refresh: every file checked and read
    files = ingestion.ingested_files(plan, known, "run-9", "2026-12-09T00:00:00+00:00")
    assert files[str(a)].run_id == "run-1"


def published_state(root: str, files: dict[str, dict[str, IngestedFile]]) -> None:
    bronze = lake.Zone(root, "bronze", "run-1")
    lake.write_json(ingestion.state_path(bronze), IngestionState(files, {"customer": Totals()}, None).to_json())
    bronze.publish()


def test_the_plan_compares_the_landing_with_the_state_published_with_bronze(tmp_path):
    landing, root = tmp_path / "landing", str(tmp_path / "lake")
    folder = landing / "customer" / "landing"
    a = export(folder, "a.json")
    assert plan_lake(str(landing), root, False, POLICY).reason == "the lake's first run"
    published_state(root, {"customer": {str(a): held(a)}})
    plan = plan_lake(str(landing), root, False, POLICY)
    assert (plan.mode, plan.bronze, plan.new_files["customer"]) == ("incremental", False, 0)
    assert plan.silver  # silver was never built from this bronze
    export(folder, "b.json")
    assert plan_lake(str(landing), root, False, POLICY).new_files["customer"] == 1
    assert plan_lake(str(landing), root, True, POLICY).reason == "--full-refresh"


def test_the_state_and_the_plan_work_on_s3(aws):
    landing, root = f"s3://{aws.bucket}/prod/landing", f"s3://{aws.bucket}/prod/lake"
    aws.s3.put_object(Bucket=aws.bucket, Key="prod/landing/customer/landing/a.json", Body=b'{"a": 1}\n')
    (listed,) = [f for f in ingestion_listing(landing)]
    assert listed.version  # the ETag
    first = IngestedFile(listed.path, listed.size, listed.version, "run-1", "2026-12-01T00:00:00+00:00")
    published_state(root, {"customer": {listed.path: first}})
    assert ingestion.read_state(root).files["customer"][listed.path] == first
    assert plan_lake(landing, root, False, POLICY).bronze is False
    aws.s3.put_object(Bucket=aws.bucket, Key="prod/landing/customer/landing/a.json", Body=b'{"a": 2}\n')  # changed
    assert plan_lake(landing, root, False, POLICY).bronze is True


def ingestion_listing(landing: str):
    from stedi.landing import list_source

    return list_source(lake.landing_folder(landing, "customer"))


def test_a_table_is_carried_into_a_new_version_without_reading_it_locally_and_on_s3(tmp_path, aws):
    source = tmp_path / "v1" / "t"
    export(source, "part-0.parquet", "data")
    lake.carry_table(str(source), str(tmp_path / "v2" / "t"))
    assert (tmp_path / "v2" / "t" / "part-0.parquet").read_text() == "data"
    assert os.path.samefile(source / "part-0.parquet", tmp_path / "v2" / "t" / "part-0.parquet")  # a hard link
    aws.s3.put_object(Bucket=aws.bucket, Key="lake/v1/t/part-0.parquet", Body=b"data")
    lake.carry_table(f"s3://{aws.bucket}/lake/v1/t", f"s3://{aws.bucket}/lake/v2/t")
    assert aws.s3.get_object(Bucket=aws.bucket, Key="lake/v2/t/part-0.parquet")["Body"].read() == b"data"


def test_a_publication_keeps_the_versions_it_is_asked_to(tmp_path):
    root = str(tmp_path)
    versions = []
    for run in ("run-1", "run-2", "run-3"):
        zone = lake.Zone(root, "quarantine", run)
        export(tmp_path / "_zones" / "quarantine" / zone.version / "t", "part-0.json", "{}")
        zone.publish(keep={versions[0]} if versions else set())
        versions.append(zone.version)
    assert sorted(p.name for p in (tmp_path / "_zones" / "quarantine").iterdir()) == sorted(versions)


def test_a_file_quarantined_for_a_passing_reason_is_checked_again_and_read_once_readable(tmp_path):
    from stedi.rules import UNREADABLE_FILE

    a = export(tmp_path, "a.json")
    state = IngestionState({"customer": {str(a): held(a, rule=UNREADABLE_FILE)}}, {"customer": Totals()})
    known = ingestion.known_files(state, "customer")
    assert known(str(a)) is None  # not taken as known: checked again
    plan = plan_source(inspect_source(str(tmp_path), known), state.files["customer"])
    assert plan.rebuild and plan.changed == [str(a)] and [f.path for f in plan.read] == [str(a)]


def test_a_lake_built_by_other_rules_gets_a_full_run(tmp_path):
    landing, root = tmp_path / "landing", str(tmp_path / "lake")
    a = export(landing / "customer" / "landing", "a.json")
    published_state(root, {"customer": {str(a): held(a)}})
    silver = lake.Zone(root, "silver", "run-1")
    silver.built_from = {"bronze": lake.current_version(root, "bronze"), **BuiltWith("ever", None, "old").as_json()}
    silver.publish()
    assert plan_lake(str(landing), root, False, BuiltWith("ever", None, "old")).mode == "incremental"
    plan = plan_lake(str(landing), root, False, BuiltWith("ever", None, ingestion.logic_id()))
    assert (plan.mode, plan.reason) == (
        "full",
        "the pipeline's rules, transforms or contracts changed since the lake was built",
    )
