"""infra/ agrees with the code it provisions for: the bucket's layout, the names, and IAM grants that cover
every AWS call the Glue jobs and the operator (`stedi deploy glue`, the flow) make.

Nothing here reaches AWS or needs Terraform's providers (`terraform init` cannot download them on these
machines): the HCL is parsed with python-hcl2 and compared with the code; `make lint-infra` runs
`terraform fmt -check` and checkov on the same files.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

from deployments.glue import DEFAULT_PREFIX, DEFAULT_SECRET_ID, JOBS, PACKAGED, GlueTarget, job_definition
from stedi import lake
from stedi.runners import DEFAULT_JOB_PREFIX, glue_job_name

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
BUCKET = "stedi-test"
ACCOUNT = "123456789012"
REGION = "us-east-1"


def _clean(value: Any) -> Any:
    """python-hcl2's tree without its markers, strings without their quotes."""
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@cache
def terraform() -> dict[str, Any]:
    """Every block of infra/*.tf: {"variable": {name: body}, "locals": {...}, "data"/"resource": {type: {name: body}},
    "output": {name: body}}."""
    merged: dict[str, Any] = {"variable": {}, "locals": {}, "data": {}, "resource": {}, "output": {}}
    for path in sorted(INFRA.glob("*.tf")):
        with path.open() as file:
            parsed = _clean(hcl2.load(file))
        for block in parsed.get("variable", []) + parsed.get("output", []):
            kind = "variable" if block in parsed.get("variable", []) else "output"
            merged[kind].update(block)
        for block in parsed.get("locals", []):
            merged["locals"].update(block)
        for kind in ("data", "resource"):
            for block in parsed.get(kind, []):
                for type_, named in block.items():
                    merged[kind].setdefault(type_, {}).update(named)
    return merged


def resolve(text: str) -> str:
    """`text` with the variables at their defaults and the locals and account facts filled in."""
    tf = terraform()
    known = {f"var.{name}": body.get("default") for name, body in tf["variable"].items()}
    known |= {f"local.{name}": value for name, value in tf["locals"].items() if isinstance(value, str)}
    known |= {"var.region": REGION, "local.account": ACCOUNT, "local.partition": "aws"}
    known |= {"local.bucket": f"arn:aws:s3:::{BUCKET}", "var.bucket_name": BUCKET}
    for _ in range(5):
        text = re.sub(r"\$\{([a-z_.]+)\}", lambda m: str(known.get(m.group(1), m.group(0))), text)
    return text


def resolve_list(value: str | list[str]) -> list[str]:
    """A list in HCL resolved: a literal list, a local holding one, or `[for x in LIST : "template"]`."""
    if isinstance(value, list):
        return [resolve(item) for item in value]
    local = re.fullmatch(r"\$\{local\.(\w+)\}", value)
    if local:
        return resolve_list(terraform()["locals"][local.group(1)])
    loop = re.fullmatch(r'\$\{\[for (\w+) in (.+?) : "(.+)"\]\}', value)
    assert loop, f"no list: {value}"
    name, items, template = loop.groups()
    items = json.loads(items) if items.startswith("[") else resolve_list(f"${{{items}}}")
    return [resolve(template.replace(f"${{{name}}}", item)) for item in items]


def statements(policy: str) -> list[dict[str, Any]]:
    """A policy document's statements, those of the documents it builds on (source_policy_documents) included."""
    documents = terraform()["data"]["aws_iam_policy_document"]
    document = documents[policy]
    sources = [re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", ref).group(1)
               for ref in document.get("source_policy_documents", [])]  # fmt: skip
    return [s for source in sources for s in statements(source)] + document.get("statement", [])


def granted(policy: str) -> dict[str, list[str]]:
    """IAM action -> the resources a policy grants it on, resolved (a local list is spread)."""
    grants: dict[str, list[str]] = {}
    for statement in statements(policy):
        if statement.get("effect", "Allow") != "Allow":
            continue
        for action in statement["actions"]:
            grants.setdefault(action, []).extend(resolve_list(statement["resources"]))
    return grants


def test_the_names_default_as_the_code_does():
    variables = {name: body.get("default") for name, body in terraform()["variable"].items()}
    assert variables["prefix"] == DEFAULT_PREFIX
    assert variables["job_prefix"] == DEFAULT_JOB_PREFIX
    assert variables["glue_database"] == GlueTarget(bucket="", prefix="", role_arn="").database
    assert variables["pseudonym_secret_name"] == DEFAULT_SECRET_ID


def test_the_buckets_layout_is_the_one_the_deploy_and_the_jobs_use():
    target = GlueTarget(bucket=BUCKET, prefix=DEFAULT_PREFIX, role_arn="")
    root = f"s3://{BUCKET}/"
    assert resolve(terraform()["locals"]["landing"]) == target.landing_uri.removeprefix(root)
    assert resolve(terraform()["locals"]["lake"]) == target.lake_uri.removeprefix(root)
    assert resolve(terraform()["locals"]["code"]) == target.key()
    assert resolve_list(terraform()["locals"]["jobs"]) == [glue_job_name(DEFAULT_JOB_PREFIX, job) for job in JOBS]
    job_arns = [f"arn:aws:glue:{REGION}:{ACCOUNT}:job/{glue_job_name(DEFAULT_JOB_PREFIX, job)}" for job in JOBS]
    assert resolve_list("${local.job_arns}") == job_arns


def _object_arn(uri: str) -> str:
    return "arn:aws:s3:::" + uri.removeprefix("s3://").rstrip("/")


def _covered(arn: str, resources: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(arn, pattern) for pattern in resources)


def recording_s3_writes(monkeypatch) -> list[str]:
    """The object ARNs the code's S3 clients write or delete from now on, recorded as the client sends them
    (the lake's client and stedi.aws's, both made one recording client)."""
    import boto3

    from stedi import aws as stedi_aws

    written: list[str] = []

    def record(params, model, **_):
        if model.name in ("PutObject", "CreateMultipartUpload", "CopyObject", "DeleteObject"):
            written.append(f"arn:aws:s3:::{params['Bucket']}/{params['Key']}")
        if model.name == "DeleteObjects":
            written.extend(f"arn:aws:s3:::{params['Bucket']}/{o['Key']}" for o in params["Delete"]["Objects"])

    client = boto3.client("s3")
    client.meta.events.register("provide-client-params.s3.*", record)
    monkeypatch.setattr(stedi_aws, "client", lambda service: client)
    monkeypatch.setattr(lake, "_s3_client", lambda: client)
    return written


def test_the_warehouse_stage_is_the_operators_to_write_and_the_copy_roles_to_read(aws, monkeypatch, tmp_path):
    """A local run's Redshift load: what it stages and removes (recorded against moto, as the client sends
    it) falls under the operator's writes and the COPY role's reads; the stage output names that prefix."""
    from stedi.warehouse.stage import Stage

    stage = resolve(terraform()["output"]["warehouse_stage"]["value"]).replace("${aws_s3_bucket.lake.bucket}", BUCKET)
    assert stage == f"s3://{BUCKET}/{DEFAULT_PREFIX}/stage"
    table = tmp_path / "lake" / "_zones" / "gold" / "run-1" / "customers"
    table.mkdir(parents=True)
    (table / "part-0.parquet").write_bytes(b"rows")
    written = recording_s3_writes(monkeypatch)
    staged = Stage(str(tmp_path / "lake"), stage)
    assert staged.put(str(table)) == f"{stage}/_zones/gold/run-1/customers"
    staged.remove()
    assert len(written) == 2  # the upload and its removal
    operator, copy_role = granted("operator"), granted("redshift_copy")
    for action in ("s3:PutObject", "s3:DeleteObject"):
        assert all(_covered(arn, operator[action]) for arn in written), action
    assert all(_covered(arn, copy_role["s3:GetObject"]) for arn in written)
    assert not _covered(f"arn:aws:s3:::{BUCKET}/{DEFAULT_PREFIX}/landing/x.json", copy_role["s3:GetObject"])
    # removing lists the stage's prefix (list_objects_v2), as the COPY lists it to read
    listed = f"{DEFAULT_PREFIX}/stage/_zones/gold/run-1/customers/"
    for policy in ("operator", "redshift_copy"):
        assert any(fnmatch.fnmatchcase(listed, p) for p in listed_prefixes(policy)), policy


def listed_prefixes(policy: str) -> list[str]:
    """The s3:prefix patterns a policy's ListBucket statements allow, resolved."""
    patterns = []
    for statement in statements(policy):
        if "s3:ListBucket" in statement["actions"]:
            for condition in statement.get("condition", []):
                if condition["variable"] == "s3:prefix":
                    patterns += resolve_list(condition["values"])
    return patterns


def test_the_glue_role_reads_the_jobs_code_and_writes_only_the_lake_and_its_temp_dir():
    target = GlueTarget(bucket=BUCKET, prefix=DEFAULT_PREFIX, role_arn="")
    grants = granted("glue_jobs")
    for job in JOBS:
        arguments = job_definition(target, job)
        for uri in (arguments["Command"]["ScriptLocation"], arguments["DefaultArguments"]["--extra-py-files"]):
            assert _covered(_object_arn(uri), grants["s3:GetObject"]), uri
        assert _covered(_object_arn(arguments["DefaultArguments"]["--TempDir"]) + "/x", grants["s3:PutObject"])
    writable = {resolve(r) for r in grants["s3:PutObject"] + grants["s3:DeleteObject"]}
    lake_and_temp = {f"arn:aws:s3:::{BUCKET}/{DEFAULT_PREFIX}/{folder}/*" for folder in ("lake", "glue/temp")}
    assert writable == lake_and_temp
    assert not _covered(_object_arn(target.landing_uri) + "/x.json", grants["s3:PutObject"])  # landing: read only
    secret = terraform()["resource"]["aws_secretsmanager_secret"]["pseudonym_key"]
    assert resolve(secret["name"]) == DEFAULT_SECRET_ID


# --- Every AWS call in the code, and the IAM action it needs ---------------------------------------------

SERVICES = ("s3", "glue", "secretsmanager")
# Where an S3 operation's IAM action is not its own name
S3_ACTIONS = {
    "ListObjectsV2": ["s3:ListBucket"],
    "ListObjects": ["s3:ListBucket"],
    "HeadObject": ["s3:GetObject"],
    "CopyObject": ["s3:GetObject", "s3:PutObject"],
    "DeleteObjects": ["s3:DeleteObject"],
}


@cache
def _operations() -> dict[str, list[str]]:
    """boto3 method name -> the IAM actions its call needs, for the services the pipeline uses."""
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    methods: dict[str, list[str]] = {}
    for service in SERVICES:
        model = session.get_service_model(service)
        for operation in model.operation_names:
            actions = S3_ACTIONS.get(operation, [f"s3:{operation}"]) if service == "s3" else [f"{service}:{operation}"]
            methods.setdefault(xform_name(operation), []).extend(actions)
    return methods | TRANSFER_METHODS


# boto3's managed transfers, which no service model lists: a multipart upload is s3:PutObject throughout
TRANSFER_METHODS = {
    "upload_file": ["s3:PutObject"],
    "upload_fileobj": ["s3:PutObject"],
    "download_file": ["s3:GetObject"],
}


def aws_calls(paths: list[Path]) -> dict[str, set[str]]:
    """IAM action -> where the code calls it: `<client>.<operation>(...)` and `get_paginator("<operation>")` on
    a receiver named like an AWS client (client, s3, glue, secrets...)."""
    found: dict[str, set[str]] = {}
    for path in paths:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = ast.unparse(node.func.value)
            if not re.search(r"client|s3|glue|secret", receiver, re.IGNORECASE):
                continue
            method = node.func.attr
            if method == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                method = node.args[0].value
            for action in _operations().get(method, []):
                found.setdefault(action, set()).add(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def _files(names: list[str]) -> list[Path]:
    paths = []
    for name in names:
        path = ROOT / name
        paths += [path] if path.is_file() else sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
    return paths


def test_the_scan_sees_the_calls_it_must_see():
    """The scan finds what is known to be there, so an empty result below cannot pass by accident."""
    jobs = aws_calls(_files(list(PACKAGED)))
    s3 = {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    assert s3 | {"secretsmanager:GetSecretValue"} <= set(jobs)
    operator = aws_calls(_files(["stedi", "deployments", "tasks", "flows"]))
    glue = {"glue:CreateJob", "glue:UpdateJob", "glue:StartJobRun", "glue:GetJobRun", "glue:CreateTable"}
    assert glue <= set(operator)


@pytest.mark.parametrize(
    ("policy", "code"),
    [("glue_jobs", list(PACKAGED)), ("operator", ["stedi", "deployments", "tasks", "flows"])],
    ids=["the Glue jobs' role", "the operator policy"],
)
def test_every_aws_call_of_the_code_is_granted(policy, code):
    calls = aws_calls(_files(code))
    missing = {action: sorted(where) for action, where in calls.items() if action not in granted(policy)}
    assert missing == {}, f"grant these in infra/main.tf ({policy}), or remove the calls"


def test_the_lakes_own_writes_on_s3_stay_in_the_granted_prefix(aws, monkeypatch):
    """The lake's S3 writes outside the engine (zone versions, pointers, manifests, carried cells, run
    reports, removals), recorded as the client sends them: each falls under what the Glue role may write."""
    written = recording_s3_writes(monkeypatch)
    root = GlueTarget(bucket=aws.bucket, prefix=DEFAULT_PREFIX, role_arn="").lake_uri
    for run in ("run-1", "run-2", "run-3"):
        zone = lake.Zone(root, "silver", run)
        lake._put_bytes(lake.join(zone.path("readings"), "2023-03-01--part-0.parquet"), b"rows")
        if run != "run-1":
            previous = lake.current_table_path(root, "silver", "readings")
            lake.carry_cells(previous, zone.path("carried"), rewritten=set())
        zone.publish()
        lake.write_json(lake.report_path(root, run, "silver"), {"run": run})
    lake.prune_runs(root, keep=1, current="run-3")
    assert written, "nothing recorded: the hook saw no call"
    grants = [p.replace(BUCKET, aws.bucket) for p in granted("glue_jobs")["s3:PutObject"]]
    outside = [arn for arn in written if not _covered(arn, grants)]
    assert outside == []
