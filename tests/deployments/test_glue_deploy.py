"""`stedi deploy glue` against moto's server: code on S3, one Glue job per zone, the Data Catalog."""

from __future__ import annotations

import io
import json
import tomllib
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
import sqlglot
from packaging.requirements import Requirement
from sqlglot import exp

from deployments.glue import GLUE_PYTHON_MODULES, JOBS, GlueTarget, deploy, package
from stedi.cli import main
from stedi.glue_catalog import JSON_SERDE, catalog_tables
from stedi.warehouse.catalog import load_catalog
from tests.aws import ROLE_ARN

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def target(aws) -> GlueTarget:
    return GlueTarget(bucket=aws.bucket, prefix="prod", role_arn=ROLE_ARN)


def test_deploy_uploads_the_code_and_creates_a_job_per_zone(aws, target):
    changes = deploy(target, aws.s3, aws.glue)
    assert {(c.kind, c.action) for c in changes} == {
        ("object", "created"),
        ("job", "created"),
        ("database", "created"),
        ("table", "created"),
    }

    archive = zipfile.ZipFile(
        io.BytesIO(aws.s3.get_object(Bucket=aws.bucket, Key="prod/glue/stedi_jobs.zip")["Body"].read())
    )
    names = set(archive.namelist())
    assert {"stedi/jobs/bronze.py", "stedi/transforms/silver.py", "schemas/silver.py", "schemas/enforce.py"} <= names
    assert not any(n.startswith(("flows/", "tasks/", "stedi/sample/")) or "__pycache__" in n for n in names)

    for job in JOBS:
        script = aws.s3.get_object(Bucket=aws.bucket, Key=f"prod/glue/jobs/{job}.py")["Body"].read()
        assert script == (ROOT / "stedi" / "jobs" / f"{job}.py").read_bytes()
        definition = aws.glue.get_job(JobName=f"stedi-{job}")["Job"]
        assert definition["Role"] == ROLE_ARN
        assert definition["Command"] == {
            "Name": "glueetl",
            "ScriptLocation": f"s3://{aws.bucket}/prod/glue/jobs/{job}.py",
            "PythonVersion": "3",
        }
        assert (definition["GlueVersion"], definition["WorkerType"], definition["NumberOfWorkers"]) == (
            "5.0",
            "G.1X",
            2,
        )
        assert definition["ExecutionProperty"] == {"MaxConcurrentRuns": 1} and definition["MaxRetries"] == 0
        arguments = definition["DefaultArguments"]
        assert arguments["--extra-py-files"] == f"s3://{aws.bucket}/prod/glue/stedi_jobs.zip"
        assert arguments["--additional-python-modules"] == "pandera==0.35.0,pandas<3"
        assert arguments["--job-bookmark-option"] == "job-bookmark-disable"
        assert arguments["--pseudonym-secret-id"] == "stedi/pseudonym-key"


def test_a_second_deploy_changes_nothing(aws, target):
    deploy(target, aws.s3, aws.glue)
    objects = {o["Key"]: o["LastModified"] for o in aws.s3.list_objects_v2(Bucket=aws.bucket)["Contents"]}
    jobs = {job: aws.glue.get_job(JobName=f"stedi-{job}")["Job"]["LastModifiedOn"] for job in JOBS}

    again = deploy(target, aws.s3, aws.glue)

    assert [c for c in again if c.action != "unchanged"] == []
    assert {o["Key"]: o["LastModified"] for o in aws.s3.list_objects_v2(Bucket=aws.bucket)["Contents"]} == objects
    assert {job: aws.glue.get_job(JobName=f"stedi-{job}")["Job"]["LastModifiedOn"] for job in JOBS} == jobs


def test_a_changed_setting_updates_the_jobs_and_nothing_else(aws, target):
    deploy(target, aws.s3, aws.glue)
    changes = deploy(replace(target, workers=4), aws.s3, aws.glue)
    assert {c.name for c in changes if c.action == "updated"} == {f"stedi-{job}" for job in JOBS}
    assert {c.action for c in changes if c.kind != "job"} == {"unchanged"}
    assert aws.glue.get_job(JobName="stedi-silver")["Job"]["NumberOfWorkers"] == 4


def test_the_catalog_has_every_zone_with_its_columns_format_and_location(aws, target):
    deploy(target, aws.s3, aws.glue)
    tables = {t["Name"]: t for t in aws.glue.get_tables(DatabaseName="stedi")["TableList"]}
    lake, landing = f"s3://{aws.bucket}/prod/lake", f"s3://{aws.bucket}/prod/landing"
    expected = {
        "customer_landing",
        "accelerometer_landing",
        "step_trainer_landing",
        "bronze_customer",
        "bronze_accelerometer",
        "bronze_step_trainer",
        "quarantine_customer",
        "quarantine_accelerometer",
        "quarantine_step_trainer",
        "quarantine_files",
        "customer_current",
        "customer_trusted",
        "customer_curated",
        "accelerometer_trusted",
        "step_trainer_trusted",
        "machine_learning_curated",
    } | {f"gold_{t.name}" for t in load_catalog().tables}
    assert set(tables) == expected

    def described(name):
        storage = tables[name]["StorageDescriptor"]
        return (
            [(c["Name"], c["Type"]) for c in storage["Columns"]],
            storage["Location"],
            storage["SerdeInfo"]["SerializationLibrary"],
        )

    assert described("accelerometer_landing") == (
        [("user", "string"), ("timestamp", "bigint"), ("x", "double"), ("y", "double"), ("z", "double")],
        f"{landing}/accelerometer/landing/",
        "org.openx.data.jsonserde.JsonSerDe",
    )
    assert described("machine_learning_curated") == (
        [
            ("customer_key", "string"),
            ("serial_number", "string"),
            ("reading_at", "timestamp"),
            ("distance_cm", "bigint"),
            ("x", "double"),
            ("y", "double"),
            ("z", "double"),
        ],
        f"{lake}/silver/machine_learning_curated/",
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
    )
    columns, location, _ = described("gold_customers")
    assert [name for name, _ in columns] == load_catalog().table("customers").column_names
    assert ("customer_key", "varchar(64)") in columns and ("is_birth_date_implausible", "boolean") in columns
    assert location == f"{lake}/gold/customers/"
    assert described("quarantine_files") == (
        [
            ("source", "string"),
            ("path", "string"),
            ("rule", "string"),
            ("detail", "string"),
            ("size_bytes", "bigint"),
            ("_ingest_run_id", "string"),
            ("_ingested_at", "string"),
        ],
        f"{lake}/quarantine/files/",
        "org.openx.data.jsonserde.JsonSerDe",
    )
    assert described("bronze_step_trainer")[0][-5:] == [
        ("_extra_fields", "map<string,string>"),
        ("_source_file", "string"),
        ("_ingest_run_id", "string"),
        ("_ingested_at", "timestamp"),
        ("_raw_record", "string"),
    ]


def test_the_cli_deploys_and_reports_a_second_deploy_as_unchanged(aws, capsys):
    argv = ["deploy", "glue", "--bucket", aws.bucket, "--prefix", "prod", "--role-arn", ROLE_ARN]
    assert main(argv) == 0
    assert "created    job       stedi-bronze" in capsys.readouterr().out
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "0 changed" in out and "created" not in out and "updated" not in out


def test_a_dry_run_shows_what_a_deploy_would_change_and_changes_nothing(aws, capsys):
    argv = ["deploy", "glue", "--bucket", aws.bucket, "--prefix", "prod", "--role-arn", ROLE_ARN]
    assert main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would be created  job       stedi-bronze" in out and "would be created  database  stedi" in out
    assert len({len(line) - len(line.split()[-1]) for line in out.splitlines()[:-1]}) == 1  # one column of names
    assert out.rstrip().endswith(
        "unchanged; landing s3://stedi-test/prod/landing, lake s3://stedi-test/prod/lake; "
        "nothing was changed (--dry-run)"
    )
    assert aws.glue.get_jobs()["Jobs"] == [] and "Contents" not in aws.s3.list_objects_v2(Bucket=aws.bucket)
    assert aws.glue.get_databases()["DatabaseList"] == []

    assert main(argv) == 0
    capsys.readouterr()
    assert main([*argv, "--workers", "4", "--dry-run"]) == 0  # after a deploy: only what differs
    out = capsys.readouterr().out
    assert {line.split()[-1] for line in out.splitlines() if line.startswith("would be updated")} == {
        "stedi-bronze",
        "stedi-silver",
        "stedi-gold",
    }
    assert aws.glue.get_job(JobName="stedi-silver")["Job"]["NumberOfWorkers"] == 2


def test_the_package_is_byte_identical_for_identical_code():
    assert package() == package()


def test_glue_installs_the_jobs_dependencies_within_the_pins_of_pyproject():
    pinned = {
        r.name: r
        for r in map(Requirement, tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    }
    for module in map(Requirement, GLUE_PYTHON_MODULES):
        assert set(module.specifier) <= set(pinned[module.name].specifier), module
        assert len(module.specifier) == 1 and not module.extras  # Glue splits the list on commas


@pytest.mark.parametrize("source", ["customer", "accelerometer", "step_trainer"])
def test_the_athena_ddl_of_each_landing_table_matches_what_the_deploy_registers(source):
    landing = "s3://stedi-test/prod/landing"
    text = (ROOT / "sql" / "athena" / f"{source}_landing.sql").read_text().replace("{landing}", landing)
    create = sqlglot.parse_one(text, read="athena", error_level=sqlglot.ErrorLevel.RAISE)
    registered = {t.name: t for t in catalog_tables(landing, "s3://stedi-test/prod/lake")}[f"{source}_landing"]

    columns = [(c.name, c.args["kind"].sql(dialect="hive").lower()) for c in create.this.expressions]
    assert create.this.this.name == registered.name
    assert columns == list(registered.columns)
    assert create.find(exp.LocationProperty).this.name == registered.location
    assert create.find(exp.RowFormatSerdeProperty).this.name == JSON_SERDE


def test_the_catalog_follows_each_zone_a_run_publishes_and_a_deploy_keeps_it(aws, target):
    from stedi import lake
    from stedi.glue_catalog import follow_zones

    deploy(target, aws.s3, aws.glue)
    version = lake.Zone(target.lake_uri, "silver", "run-1")
    bucket, _, key = version.path("customer_trusted").removeprefix("s3://").partition("/")
    aws.s3.put_object(Bucket=bucket, Key=f"{key}/part-0.parquet", Body=b"rows")
    version.publish()

    changes = follow_zones(aws.glue, "stedi", target.landing_uri, target.lake_uri, ["silver"])

    silver = {
        "customer_current",
        "customer_trusted",
        "customer_curated",
        "accelerometer_trusted",
        "step_trainer_trusted",
        "machine_learning_curated",
    }
    assert {c.name for c in changes} == {f"stedi.{name}" for name in silver}
    location = aws.glue.get_table(DatabaseName="stedi", Name="customer_trusted")["Table"]["StorageDescriptor"][
        "Location"
    ]
    assert location == lake.version_table_path(target.lake_uri, "silver", version.version, "customer_trusted") + "/"
    bronze = aws.glue.get_table(DatabaseName="stedi", Name="bronze_customer")["Table"]["StorageDescriptor"]["Location"]
    assert bronze == f"{target.lake_uri}/bronze/customer/"  # no bronze version yet: left where the deploy put it
    assert [c for c in deploy(target, aws.s3, aws.glue) if c.action != "unchanged"] == []


def test_a_missing_catalog_database_is_an_error_not_a_silent_skip(aws, target):
    from stedi.glue_catalog import CatalogMissingError, follow_zones

    with pytest.raises(CatalogMissingError, match=r"no database 'analytics'.*STEDI_GLUE_DATABASE"):
        follow_zones(aws.glue, "analytics", target.landing_uri, target.lake_uri, ["silver"])


def test_the_catalog_marks_every_table_and_column_holding_personal_data(aws, target):
    deploy(target, aws.s3, aws.glue)
    tables = {t["Name"]: t for t in aws.glue.get_tables(DatabaseName="stedi")["TableList"]}
    marked = {name for name, t in tables.items() if t["Parameters"]["stedi.pii"] == "true"}
    # emails, names, phones and birthdays: the landing and bronze of customers and readings, every quarantine
    # (raw lines as delivered), the trusted silver tables, and gold's customers; nothing analysts read
    assert marked == {
        "customer_landing",
        "accelerometer_landing",
        "bronze_customer",
        "bronze_accelerometer",
        "quarantine_customer",
        "quarantine_accelerometer",
        "quarantine_step_trainer",
        "customer_current",
        "customer_trusted",
        "customer_curated",
        "accelerometer_trusted",
        "step_trainer_trusted",
        "gold_customers",
    }
    assert tables["gold_customers"]["Parameters"]["stedi.pii_columns"] == (
        "customer_email,customer_name,phone_number,birth_date"
    )
    columns = {c["Name"]: c for c in tables["gold_customers"]["StorageDescriptor"]["Columns"]}
    assert (
        columns["customer_email"]["Parameters"] == {"stedi.pii": "true"} and "Parameters" not in columns["customer_key"]
    )
    assert {"machine_learning_curated", "gold_accelerometer_readings", "gold_step_trainer_readings"} <= set(
        tables
    ) - marked


def test_the_glue_package_holds_the_jobs_and_what_they_import_only(tmp_path):
    """Its contents, listed; and the three jobs import from it alone: nothing of the CLI, the flow, its
    tasks, the warehouse load or Prefect."""
    import io
    import subprocess
    import sys
    import zipfile

    with zipfile.ZipFile(io.BytesIO(package())) as archive:
        names = sorted(archive.namelist())
        archive.extractall(tmp_path / "glue")
    assert names == [
        "schemas/__init__.py", "schemas/enforce.py", "schemas/silver.py",
        "stedi/__init__.py", "stedi/aws.py", "stedi/ingestion.py",
        "stedi/jobs/__init__.py", "stedi/jobs/bronze.py", "stedi/jobs/common.py", "stedi/jobs/gold.py",
        "stedi/jobs/silver.py",
        "stedi/lake.py", "stedi/landing.py", "stedi/pii.py", "stedi/report.py", "stedi/rules.py", "stedi/secrets.py",
        "stedi/sources.py", "stedi/spark.py", "stedi/text.py",
        "stedi/transforms/__init__.py", "stedi/transforms/bronze.py", "stedi/transforms/cells.py",
        "stedi/transforms/changes.py", "stedi/transforms/gold.py", "stedi/transforms/pseudonyms.py",
        "stedi/transforms/silver.py",
    ]  # fmt: skip
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import stedi.jobs.bronze, stedi.jobs.silver, stedi.jobs.gold\n"
        "ours = [m for m in sys.modules if m.split('.')[0] in ('stedi', 'schemas', 'flows', 'tasks', 'deployments')]\n"
        "outside = [m for m in ours if not (sys.modules[m].__file__ or '').startswith(sys.argv[1])]\n"
        "print(outside, sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "glue")], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] []"


def test_the_deploy_takes_its_names_from_terraforms_outputs_and_options_given_win(aws, capsys, tmp_path):
    """`terraform output -json` of infra/ (what outputs.tf declares), saved to a file, as --from-terraform."""
    outputs = {
        "bucket": aws.bucket, "prefix": "tf", "glue_role_arn": ROLE_ARN, "job_prefix": "team",
        "glue_database": "lakehouse", "pseudonym_secret_id": "team/key", "region": "us-east-1",
        "landing": f"s3://{aws.bucket}/tf/landing", "lake": f"s3://{aws.bucket}/tf/lake",
    }  # fmt: skip
    saved = tmp_path / "outputs.json"
    printed = {name: {"sensitive": False, "type": "string", "value": value} for name, value in outputs.items()}
    saved.write_text(json.dumps(printed))
    assert main(["deploy", "glue", "--from-terraform", str(saved), "--database", "given"]) == 0
    assert "created    job       team-bronze" in capsys.readouterr().out
    job = aws.glue.get_job(JobName="team-gold")["Job"]
    assert job["Role"] == ROLE_ARN and job["DefaultArguments"]["--pseudonym-secret-id"] == "team/key"
    assert job["Command"]["ScriptLocation"] == f"s3://{aws.bucket}/tf/glue/jobs/gold.py"
    assert [d["Name"] for d in aws.glue.get_databases()["DatabaseList"]] == ["given"]  # the option won


def test_the_deploy_says_what_it_lacks(aws, capsys, tmp_path, monkeypatch):
    assert main(["deploy", "glue", "--bucket", aws.bucket]) == 2
    assert "--role-arn required (or --from-terraform)" in capsys.readouterr().err
    (tmp_path / "empty.json").write_text("{}")
    assert main(["deploy", "glue", "--from-terraform", str(tmp_path / "empty.json")]) == 2
    assert "no outputs" in capsys.readouterr().err
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    assert main(["deploy", "glue", "--bucket", aws.bucket, "--role-arn", ROLE_ARN]) == 2
    assert "no AWS region: pass --region" in capsys.readouterr().err


def test_the_region_comes_from_aws_region_where_boto3_alone_ignores_it(aws, capsys, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    argv = ["deploy", "glue", "--bucket", aws.bucket, "--role-arn", ROLE_ARN, "--dry-run"]
    assert main(argv) == 0
    assert main([*argv, "--region", "us-east-1"]) == 0
