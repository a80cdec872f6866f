"""What changed between two versions of a table: the rows to load, the rows to retract, the keys touched."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

UPSERT, RETRACTED = "upsert", "retracted"


def row_changes(previous: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """A table -> its rows that `previous` (the table's previous version, the same columns) lacks,
    `_change` "upsert", and the rows of `previous` it lacks, "retracted": whole rows, for a warehouse
    holding `previous` to load alone (gold), or to find what changed (silver).

    One full outer join on a hash of the row and then every column (NULL equal to NULL), so a hash
    collision never hides a change: on Sail five times faster than EXCEPT both ways. It cannot fan out:
    the tables compared are unique on their key, so each row matches at most one row of the other side.
    """

    def transform(current: DataFrame) -> DataFrame:
        columns = current.columns
        old = previous.select(F.xxhash64(*columns).alias("_hash"), *columns).alias("old")
        new = current.select(F.xxhash64(*columns).alias("_hash"), *columns).alias("new")
        same = [F.col("old._hash") == F.col("new._hash")]
        same += [F.col(f"old.{c}").eqNullSafe(F.col(f"new.{c}")) for c in columns]
        upsert = F.col("old._hash").isNull()
        changed = old.join(new, same, how="full_outer").filter(upsert | F.col("new._hash").isNull())
        return changed.select(
            F.when(upsert, F.lit(UPSERT)).otherwise(F.lit(RETRACTED)).alias("_change"),
            *[F.when(upsert, F.col(f"new.{c}")).otherwise(F.col(f"old.{c}")).alias(c) for c in columns],
        )

    return transform


def changed_keys(previous: DataFrame, key: list[str]) -> Callable[[DataFrame], DataFrame]:
    """A table -> the distinct `key` values of its rows that `previous` lacks, and of `previous`'s rows it
    lacks: every key whose rows differ in any column, appeared or went."""

    def transform(current: DataFrame) -> DataFrame:
        return current.transform(row_changes(previous)).select(*key).distinct()

    return transform
