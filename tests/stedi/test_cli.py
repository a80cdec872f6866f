"""The CLI's contract with its users: options, one-line errors, exit codes."""

import re
import subprocess
import sys

import pytest


def stedi(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stedi.cli", *args], capture_output=True, text=True, timeout=120)


def test_help_explains_every_option():
    help_text = stedi("run", "--help").stdout
    for option in ("--landing", "--lake", "--summary", "--consent-policy"):
        assert option in help_text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--no-such-option"], "unrecognized arguments: --no-such-option"),
        (["run", "--consent-policy", "sometimes"], "invalid choice: 'sometimes'"),
        (["run", "--landing", "/no/such/folder"], "landing folder not found: /no/such/folder"),
    ],
)
def test_bad_invocation_is_a_one_line_error_with_exit_2(args, message):
    result = stedi(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert result.stdout == ""


def test_version_names_the_release_and_the_engines_it_runs_on():
    from importlib.metadata import version

    result = stedi("--version")
    assert result.returncode == 0
    assert result.stdout == (
        f"stedi {version('stedi-lakehouse')} (pyspark {version('pyspark')}, pysail {version('pysail')}, prefect "
        f"{version('prefect')}, Python {sys.version.split()[0]})\n"
    )


@pytest.mark.parametrize(
    "args", [["run", "--keep-runs", "0"], ["run", "--quarantine-threshold", "1.5"], ["run", "--quiet", "--verbose"]]
)
def test_settings_out_of_range_are_refused_before_any_work(args):
    result = stedi(*args)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr


def test_doctor_checks_the_warehouse_stage_a_redshift_load_needs(aws, monkeypatch, tmp_path):
    monkeypatch.setenv("STEDI_REDSHIFT_IAM_ROLE", "arn:aws:iam::123456789012:role/stedi-redshift-copy")
    redshift = ["--lake", str(tmp_path / "lake"), "--warehouse", "redshift://loader@127.0.0.1:1/analytics"]
    found = stedi("doctor", *redshift, "--warehouse-stage", f"s3://{aws.bucket}/prod/stage")
    assert re.search(rf"^ok    stage         s3://{aws.bucket}/prod/stage: listed", found.stdout, re.M)
    missing = stedi("doctor", *redshift, "--warehouse-stage", "s3://no-such-stedi-bucket/prod/stage")
    assert re.search(r"^FAIL  stage         s3://no-such-stedi-bucket/prod/stage: .*NoSuchBucket", missing.stdout, re.M)
    assert missing.returncode == 1


def test_doctor_says_what_is_ready_and_what_to_fix(tmp_path):
    from stedi.prefect_api import free_port

    ready = stedi("doctor", "--lake", str(tmp_path / "lake"), "--warehouse", f"duckdb:///{tmp_path}/w.duckdb")
    assert ready.returncode == 0, ready.stdout
    for name in ("python", "package", "settings", "landing", "lake", "pseudonyms", "warehouse", "prefect"):
        assert f"\nok    {name}" in "\n" + ready.stdout, name
    # without the JVM class archive (an environment `make` did not set up) Spark only starts slower
    assert re.search(r"^(ok  |warn)  java          openjdk version", ready.stdout, re.M)
    assert ready.stdout.endswith("stedi doctor: ready to run\n")
    assert not (tmp_path / "lake").exists() and not (tmp_path / "w.duckdb").exists()  # nothing is created

    broken = tmp_path / "landing"
    (broken / "customer" / "landing").mkdir(parents=True)
    (broken / "customer" / "landing" / "c.json.gz").write_bytes(b"not gzip")
    url = f"postgresql://postgres:hunter22@127.0.0.1:{free_port()}/postgres"
    failing = stedi("doctor", "--landing", str(broken), "--lake", str(tmp_path / "lake"), "--warehouse", url)
    assert failing.returncode == 1
    assert re.search(
        r"^warn  landing       customer: 0 files to read in \S+; would quarantine 1 \(not_gzip 1\)$",
        failing.stdout,
        re.M,
    )
    assert re.search(
        r"^FAIL  warehouse     cannot connect to the warehouse postgresql://postgres@127.0.0.1:\d+/postgres",
        failing.stdout,
        re.M,
    )
    assert "hunter22" not in failing.stdout + failing.stderr
    assert failing.stdout.endswith("stedi doctor: something must be fixed (FAIL above)\n")


def test_a_dry_run_is_for_redshift_whose_load_cannot_be_tried_here(tmp_path):
    refused = stedi("load", "--dry-run", "--lake", str(tmp_path / "lake"), "--warehouse", f"duckdb:///{tmp_path}/w.db")
    assert refused.returncode == 2
    assert "--dry-run prints what would reach Redshift" in refused.stderr


def test_the_local_prefect_server_is_stopped_on_request_and_a_bad_idle_time_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    stopped = stedi("ui", "--stop")
    assert stopped.returncode == 0 and stopped.stdout == "no local Prefect server up\n"
    monkeypatch.setenv("STEDI_PREFECT_API_IDLE_MINUTES", "soon")
    for command in (["ui"], ["run", "--lake", str(tmp_path / "lake")]):
        result = stedi(*command)
        assert result.returncode == 2 and "STEDI_PREFECT_API_IDLE_MINUTES='soon'" in result.stderr, result.stderr
    assert not (tmp_path / "lake").exists()
