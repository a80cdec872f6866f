"""Enforcing a silver table's pandera contract before the table is published.

pandera validates the structure (columns, types, no undeclared column) and reports failures in
`df.pandera.errors` instead of raising: every entry there fails the table here. Row-level checks (not
null, formats, ranges) and key uniqueness are then counted in one aggregation, from the checks the
pandera model declares: pandera's pyspark backend runs one Spark job per check (about 30 s for the
silver tables of the sample) and reports which check failed but not how many rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pandera.api.checks import Check
from pandera.config import ValidationDepth, config_context
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from schemas.silver import CONTRACTS


@dataclass(frozen=True)
class ContractCheck:
    column: str
    check: str
    offending: int

    def describe(self) -> str:
        return f"{self.check} on {self.column}: {self.offending:,} offending rows"


class ContractViolation(RuntimeError):
    def __init__(self, table: str, failures: list[str]) -> None:
        self.table, self.failures = table, failures
        super().__init__(f"contract of {table} violated, table not published: " + "; ".join(failures))


class UnsupportedCheck(ValueError):
    pass


def _violated(check: Check, value: Column) -> Column:
    """True where `value` breaks a pandera built-in check (NULLs break none: nullability is separate)."""
    stats = check.statistics
    predicates = {
        "greater_than_or_equal_to": lambda: value < F.lit(stats.get("min_value")),
        "greater_than": lambda: value <= F.lit(stats.get("min_value")),
        "less_than_or_equal_to": lambda: value > F.lit(stats.get("max_value")),
        "less_than": lambda: value >= F.lit(stats.get("max_value")),
        "isin": lambda: ~value.isin(list(stats.get("allowed_values", []))),
        "notin": lambda: value.isin(list(stats.get("forbidden_values", []))),
        "str_matches": lambda: ~value.rlike(str(stats.get("pattern"))),
    }
    if check.name not in predicates:
        raise UnsupportedCheck(f"check {check.name!r} has no row-level rule in schemas/enforce.py; add one")
    return value.isNotNull() & predicates[check.name]()


def _structure_errors(model: Any, df: DataFrame) -> list[str]:
    # Columns, types and no undeclared column: metadata only. Nullability and checks are counted below,
    # so they are lifted here, where pandera would run a Spark job for each.
    schema = model.to_schema()
    structure = schema.update_columns({name: {"nullable": True, "checks": []} for name in schema.columns})
    with config_context(validation_depth=ValidationDepth.SCHEMA_ONLY):
        validated = structure.validate(check_obj=df.limit(0))
    errors = validated.pandera.errors or {}
    return [
        f"{entry['check']} on {entry.get('column') or 'table'}: {entry['error']}"
        for kinds in errors.values()
        for entries in kinds.values()
        for entry in entries
    ]


def enforce_contract(table: str, df: DataFrame) -> dict[str, Any]:
    """Check `df` against the table's contract; raises ContractViolation, else returns the results."""
    model = CONTRACTS[table]
    structure = _structure_errors(model, df)
    if structure:
        raise ContractViolation(table, structure)
    schema = model.to_schema()
    rules: dict[tuple[str, str], Column] = {}
    for name, column in schema.columns.items():
        if not column.nullable:
            rules[(name, "not_null")] = F.col(name).isNull()
        for check in column.checks:
            rules[(name, check.error or check.name)] = _violated(check, F.col(name))
    keys = list(getattr(model.Config, "unique", None) or [])
    if keys:
        rules[(", ".join(keys), "unique")] = F.count(F.lit(1)).over(Window.partitionBy(*keys)) > 1
    counted = df.select(*[F.when(rule, 1).otherwise(0).alias(f"r{i}") for i, rule in enumerate(rules.values())])
    totals = counted.agg(*[F.sum(f"r{i}").alias(f"r{i}") for i in range(len(rules))]).collect()[0]
    checks = [ContractCheck(column, check, totals[f"r{i}"] or 0) for i, (column, check) in enumerate(rules)]
    failed = [c.describe() for c in checks if c.offending]
    if failed:
        raise ContractViolation(table, failed)
    return {"table": table, "passed": True, "checks": [asdict(c) for c in checks]}
