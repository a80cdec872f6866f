"""Secrets: where each comes from, and the masking of every one the process knows.

The pseudonymisation key (the secret of `customer_key`, stedi/transforms/pseudonyms.py), first found wins:
    1. STEDI_PSEUDONYM_KEY in the environment;
    2. the Prefect Secret block `stedi-pseudonym-key`, read inside the flow run's task; on Glue, the
       Secrets Manager secret the job names (`--pseudonym-secret-id`);
    3. for a local lake only: this machine's own key, generated at random on first use and kept outside
       the lake, readable by its owner only (STEDI_PSEUDONYM_KEY_FILE, default
       $XDG_CONFIG_HOME/stedi/pseudonym-key, i.e. ~/.config/stedi/pseudonym-key). The run report and
       `lake_snapshot` mark keys made with it as local: another machine's key gives other pseudonyms.
    A lake that is not local requires 1 or 2. No key is written in the code.

Warehouse passwords: REDSHIFT_PASSWORD or PGPASSWORD in the environment, else the Prefect Secret block
`stedi-warehouse-password` when a flow runs. A password given in a URL is taken out of it before the URL
goes anywhere (`stedi run` hands it to the load through the environment), and masked wherever text leaves
the process (`redact`: logs, the terminal, summaries, Prefect's API).
"""

from __future__ import annotations

import os
import re
import secrets as random
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse, urlunparse

SECRET_ENV = "STEDI_PSEUDONYM_KEY"
SECRET_BLOCK = "stedi-pseudonym-key"
KEY_FILE_ENV = "STEDI_PSEUDONYM_KEY_FILE"
WAREHOUSE_PASSWORD_BLOCK = "stedi-warehouse-password"
MASK = "***"


class MissingSecretError(RuntimeError):
    pass


# Masking --------------------------------------------------------------------------------------------------
_known: set[str] = set()


def register(value: str | None) -> None:
    """Mask `value` wherever this process's text leaves it from now on (see `redact`)."""
    if value and len(value) >= 3:  # shorter ones would mask ordinary words
        _known.add(value)


def redact(text: str) -> str:
    """`text` with every registered secret, and any password in a URL, replaced by ***."""
    for value in sorted(_known, key=len, reverse=True):
        text = text.replace(value, MASK)
    return _URL_PASSWORD.sub(rf"\1{MASK}@", text)


_URL_PASSWORD = re.compile(r"(\w://[^/\s:@]+:)[^@\s/]+@")


def masked_url(url: str) -> str:
    """`url` with its password, if any, as ***: what may be printed, logged or stored."""
    password = urlparse(url).password
    if not password:
        return url
    parsed = urlparse(url)
    return urlunparse(parsed._replace(netloc=parsed.netloc.replace(f":{password}@", f":{MASK}@", 1)))


def without_password(url: str) -> tuple[str, str | None]:
    """(`url` without its password, the password): a password given in a URL never travels with it."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url, None
    netloc = parsed.netloc.replace(f":{parsed.password}@", "@", 1)
    return urlunparse(parsed._replace(netloc=netloc)), unquote(parsed.password)


# Where a password written in a warehouse URL goes instead, for the load to find (warehouse_password).
PASSWORD_ENV = {"postgresql": "PGPASSWORD", "postgres": "PGPASSWORD", "redshift": "REDSHIFT_PASSWORD"}


def move_password_to_environment(url: str) -> str:
    """`url` without its password; the password is masked from now on and handed to the load through this
    process's environment, so that it never reaches a flow's parameters (which Prefect stores), logs or
    summaries."""
    stripped, password = without_password(url)
    if password is not None:
        register(password)
        scheme = urlparse(url).scheme
        if scheme in PASSWORD_ENV:
            os.environ[PASSWORD_ENV[scheme]] = password
    return stripped


# The pseudonymisation key ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PseudonymKey:
    """The secret of `customer_key`, handed explicitly to the jobs that pseudonymise (silver, gold)."""

    value: bytes = field(repr=False)
    is_local: bool  # this machine's own key, not one shared across machines

    @classmethod
    def of(cls, text: str, is_local: bool = False) -> PseudonymKey:
        register(text)
        return cls(text.encode(), is_local)


def pseudonym_key(lake: str) -> PseudonymKey:
    """The key for a run onto `lake`: STEDI_PSEUDONYM_KEY, else the Prefect Secret block
    `stedi-pseudonym-key` (inside a flow run), else, for a local lake only, this machine's key file."""
    value = os.environ.get(SECRET_ENV) or (load_from_prefect() if _in_a_flow_run() else None)
    if value:
        return PseudonymKey.of(value)
    if "://" not in lake or lake.startswith("file://"):
        return PseudonymKey.of(local_key(lake), is_local=True)
    raise MissingSecretError(
        f"{SECRET_ENV} is not set: the pseudonymous customer key needs a secret outside local mode "
        f"(set it in the environment, or store it in the Prefect Secret block {SECRET_BLOCK!r})"
    )


def load_from_prefect(name: str = SECRET_BLOCK) -> str | None:
    """The value of the Prefect Secret block `name`, if the workspace has one."""
    from prefect.blocks.system import Secret

    try:
        return Secret.load(name).get()
    except ValueError:  # no such block
        return None


def load_from_aws(secret_id: str, client: Any = None) -> str:
    """The secret string of an AWS Secrets Manager secret: how Glue job runs get the key (and the flow, the
    id of the key they get), with `client` or boto3's default one."""
    if client is None:
        import boto3

        client = boto3.client("secretsmanager")
    try:
        return client.get_secret_value(SecretId=secret_id)["SecretString"]
    except client.exceptions.ResourceNotFoundException:
        raise MissingSecretError(
            f"the Secrets Manager secret {secret_id!r} does not exist: create it with the pseudonymisation key"
        ) from None


def local_key_file() -> Path:
    configured = os.environ.get(KEY_FILE_ENV)
    if configured:
        return Path(configured).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "stedi" / "pseudonym-key"


def local_key(lake: str | None = None) -> str:
    """This machine's pseudonymisation key: made at random on first use (256 bits), owner-only, outside the
    lake. A key file that others may read, or one inside the lake, is refused, never used."""
    path = local_key_file()
    if lake is not None and "://" not in lake and path.resolve().is_relative_to(Path(lake).resolve()):
        raise MissingSecretError(
            f"the pseudonymisation key file {path} lies inside the lake {lake}: readers of "
            f"the lake could re-identify every customer; point {KEY_FILE_ENV} outside it"
        )
    if not path.exists():
        _create_key_file(path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise MissingSecretError(
            f"the pseudonymisation key file {path} is readable by others (mode "
            f"{stat.filemode(mode)}): run `chmod 600 {path}`"
        )
    value = path.read_text().strip()
    if not value:
        raise MissingSecretError(f"the pseudonymisation key file {path} is empty: remove it to make a new key")
    register(value)
    return value


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(random.token_hex(32) + "\n")
    try:
        os.link(temporary, path)  # atomic, and never over a key another process made meanwhile
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


# Warehouse passwords --------------------------------------------------------------------------------------
def warehouse_password(env: str) -> str | None:
    """The warehouse password: `env` in the environment, else the Prefect Secret block
    `stedi-warehouse-password` when this runs inside a flow run; None when neither has one."""
    value = os.environ.get(env)
    if not value and _in_a_flow_run():
        value = load_from_prefect(WAREHOUSE_PASSWORD_BLOCK)
    register(value)
    return value or None


def _in_a_flow_run() -> bool:
    try:
        from prefect.context import FlowRunContext
    except ImportError:  # the Glue package carries no Prefect
        return False
    return FlowRunContext.get() is not None
