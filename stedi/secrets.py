"""The pseudonymisation secret: from the environment, never from code or config files."""

from __future__ import annotations

import os

SECRET_ENV = "STEDI_PSEUDONYM_KEY"
# Local runs on the bundled sample need no setup; their keys are marked as development keys in the
# run report. Any lake that is not a local folder requires the real secret.
LOCAL_DEVELOPMENT_SECRET = b"stedi-local-development-only"


class MissingSecretError(RuntimeError):
    pass


SECRET_BLOCK = "stedi-pseudonym-key"
_provided: str | None = None


def provide(value: str | None) -> None:
    """Hand the secret to in-process jobs (the flow loads it from a Prefect Secret block)."""
    global _provided
    _provided = value


def load_from_prefect() -> str | None:
    """The Prefect Secret block `stedi-pseudonym-key`, if the workspace has one."""
    from prefect.blocks.system import Secret

    try:
        return Secret.load(SECRET_BLOCK).get()
    except ValueError:  # no such block
        return None


def load_from_aws(secret_id: str) -> str:
    """The secret string of an AWS Secrets Manager secret: how Glue job runs get the key."""
    import boto3

    client = boto3.client("secretsmanager")
    try:
        return client.get_secret_value(SecretId=secret_id)["SecretString"]
    except client.exceptions.ResourceNotFoundException:
        raise MissingSecretError(
            f"the Secrets Manager secret {secret_id!r} does not exist: create it with the pseudonymisation key"
        ) from None


def pseudonym_secret(local: bool) -> tuple[bytes, bool]:
    """(secret, is_development_secret): the environment first, then what the flow provided."""
    value = os.environ.get(SECRET_ENV) or _provided
    if value:
        return value.encode(), False
    if local:
        return LOCAL_DEVELOPMENT_SECRET, True
    raise MissingSecretError(
        f"{SECRET_ENV} is not set: the pseudonymous customer key needs a secret outside local mode "
        "(set it in the environment, or store it in the Prefect Secret block 'stedi-pseudonym-key')"
    )
