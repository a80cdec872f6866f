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

    def __str__(self) -> str:
        return f"{self.action:9}  {self.kind:8}  {self.name}"
