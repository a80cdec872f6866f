"""The pseudonymous customer key: what analysts and the training set see instead of an email."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from pyspark.sql import Column
from pyspark.sql import functions as F

_BLOCK = 64  # SHA-256 block size, for HMAC


def keyed_hash(secret: bytes) -> Callable[[Column], Column]:
    """HMAC-SHA256 of a string column, as 64 hex digits, from Spark built-ins (no Python UDF).

    HMAC(k, m) = H((k ^ opad) || H((k ^ ipad) || m)); the padded keys are computed once here.
    """
    if not secret:
        raise ValueError("the pseudonymisation secret is empty")
    key = hashlib.sha256(secret).digest() if len(secret) > _BLOCK else secret
    key = key.ljust(_BLOCK, b"\0")
    inner_key = F.lit(bytearray(b ^ 0x36 for b in key))
    outer_key = F.lit(bytearray(b ^ 0x5C for b in key))

    def apply(value: Column) -> Column:
        inner = F.unhex(F.sha2(F.concat(inner_key, F.encode(value, "UTF-8")), 256))
        return F.sha2(F.concat(outer_key, inner), 256)

    return apply
