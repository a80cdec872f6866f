"""The outputs of the Terraform in infra/, as `stedi deploy glue --from-terraform` takes them: no ARN is
copied by hand from `terraform output`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

# infra/outputs.tf's outputs -> the deploy's options (GlueTarget's fields, and the AWS region)
DEPLOY_OPTIONS = {
    "bucket": "bucket",
    "prefix": "prefix",
    "glue_role_arn": "role_arn",
    "job_prefix": "job_prefix",
    "glue_database": "database",
    "pseudonym_secret_id": "pseudonym_secret_id",
    "landing": "landing",
    "lake": "lake",
    "region": "region",
}


class TerraformOutputsError(RuntimeError):
    pass


def outputs(source: Path) -> dict[str, Any]:
    """The outputs of the configuration in the folder `source` (`terraform output -json` on its state), or
    of a file holding what that command printed; output name -> value."""
    if source.is_dir():
        if shutil.which("terraform") is None:
            raise TerraformOutputsError(
                f"terraform is not on PATH: run `terraform -chdir={source} output -json > outputs.json` where it "
                "is, and pass that file"
            )
        done = subprocess.run(
            ["terraform", f"-chdir={source}", "output", "-json"], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise TerraformOutputsError(f"terraform output in {source} failed: {done.stderr.strip()}")
        text = done.stdout
    elif source.is_file():
        text = source.read_text()
    else:
        raise TerraformOutputsError(f"{source}: neither a Terraform folder nor a file of `terraform output -json`")
    data = json.loads(text or "{}")
    if not data:
        raise TerraformOutputsError(f"{source}: no outputs (has `terraform apply` run there?)")
    return {name: entry["value"] if isinstance(entry, dict) else entry for name, entry in data.items()}


def deploy_options(source: Path) -> dict[str, Any]:
    """The deploy's options that the outputs of `source` give: option name -> value."""
    values = outputs(source)
    missing = sorted(name for name in ("bucket", "glue_role_arn") if name not in values)
    if missing:
        raise TerraformOutputsError(f"{source}: outputs {', '.join(missing)} missing; is it infra/'s state?")
    return {option: values[name] for name, option in DEPLOY_OPTIONS.items() if name in values}
