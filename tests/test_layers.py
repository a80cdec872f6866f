"""Every module of the project sits in one layer of the layers contract (pyproject.toml), which
`make lint` checks with lint-imports: a module outside every layer would escape the contract."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def layer_entries() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return [name.strip() for layer in contract["layers"] for name in re.split(r"[|:]", layer)]


def project_modules() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    modules = []
    for root in config["root_packages"]:
        for path in (REPO / root).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(modules)


def test_every_module_is_in_a_layer():
    entries = layer_entries()
    roots = {entry.split(".")[0] for entry in entries}
    outside = [
        m for m in project_modules() if m not in roots and not any(m == e or m.startswith(e + ".") for e in entries)
    ]
    assert outside == []


def test_the_layers_run_from_the_entry_points_to_the_domain_model():
    entries = layer_entries()
    assert entries.index("stedi.cli") < entries.index("flows") < entries.index("tasks") < entries.index("stedi.runners")
    assert entries.index("stedi.runners") < entries.index("stedi.jobs") < entries.index("stedi.transforms")
    assert entries.index("stedi.transforms") < entries.index("schemas") < entries.index("stedi.rules")
