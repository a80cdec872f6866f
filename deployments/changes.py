"""What a deploy did to each resource, so that a second deploy can show it changed nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class Change:
    action: Action
    kind: str  # object, job, database, table
    name: str
    dry_run: bool = False  # compared only: `action` is what a deploy would do

    def __str__(self) -> str:
        if self.dry_run:  # every line of a dry run says what would be done, in the same columns
            action = self.action if self.action == "unchanged" else f"would be {self.action}"
            return f"{action:16}  {self.kind:8}  {self.name}"
        return f"{self.action:9}  {self.kind:8}  {self.name}"
