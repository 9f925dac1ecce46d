"""JSON Schemas of the records symgrad writes: result, error, check, homework, batch, point, worksheet and
class (a class report)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

NAMES = ("result", "error", "check", "homework", "batch", "point", "worksheet", "class")


def load(name: str) -> dict[str, Any]:
    """The schema of one kind of record, as shipped in the package."""
    if name not in NAMES:
        raise ValueError(f"no schema {name!r}; there are {', '.join(NAMES)}")
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
