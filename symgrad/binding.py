"""Values for the variables: `--at x=-2,y=pow(2,3)` and the like.

Each value goes through the grammar as a constant expression; nothing here
evaluates user text any other way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .engine import forward
from .errors import Source, SymgradError
from .graph import Graph, build

_NAME = re.compile(r"[^\W\d]\w*\Z")


def split_top(text: str) -> list[tuple[int, str]]:
    """Split at commas outside brackets; each piece with its offset."""
    pieces: list[tuple[int, str]] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            pieces.append((start, text[start:i]))
            start = i + 1
    pieces.append((start, text[start:]))
    return pieces


def constant_value(text: str, offset: int, source: Source, name: str) -> np.ndarray:
    """Evaluate a constant expression such as -2, 1e-3 or pi/4 through the grammar."""
    padded = " " * offset + text  # so that positions line up with the whole --at text
    try:
        graph = build(padded, source.name, start="value")
    except SymgradError as err:
        if err.source is not None:
            err.source = source
        raise
    if graph.variables:
        var = graph.variables[0]
        raise SymgradError(
            "binding", f"the value of {name} must be a number or a constant expression, "
            f"but it uses {var}", source=source, span=(offset, offset + len(text)),
            hint="values may use numbers, pi, e and functions, like pi/4 or exp(-1)",
        )
    values, _ = forward(graph, {})
    return values[graph.output]


def parse_at(texts: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, tuple[Source, tuple[int, int]]]]:
    """Bindings from one or more --at texts, and where each name was given."""
    point: dict[str, np.ndarray] = {}
    where: dict[str, tuple[Source, tuple[int, int]]] = {}
    for text in texts:
        source = Source(text, "--at")
        for offset, piece in split_top(text):
            if not piece.strip():
                raise SymgradError("binding", "an empty binding in --at", source=source,
                                   span=(offset, offset + 1), hint="write --at x=1,y=2")
            if "=" not in piece:
                raise SymgradError("binding", f"'{piece.strip()}' is not of the form name=value",
                                   source=source, span=(offset, offset + len(piece)), hint="write --at x=1,y=2")
            name_text, value_text = piece.split("=", 1)
            name = name_text.strip()
            lead = len(name_text) - len(name_text.lstrip())
            span = (offset + lead, offset + lead + max(1, len(name)))
            if not _NAME.match(name):
                raise SymgradError("binding", f"'{name}' is not a variable name", source=source, span=span)
            if name in point:
                raise SymgradError("binding", f"{name} is given twice in --at", source=source, span=span,
                                   hint="give each variable one value")
            value_offset = offset + len(name_text) + 1
            if not value_text.strip():
                raise SymgradError("binding", f"no value after {name}=", source=source,
                                   span=(value_offset - 1, value_offset), hint=f"write {name}=1")
            point[name] = constant_value(value_text, value_offset, source, name)
            where[name] = (source, span)
    return point, where


def check_bindings(graph: Graph, point: dict[str, np.ndarray],
                   where: dict[str, tuple[Source, tuple[int, int]]]) -> None:
    """Every variable has a value, and every value a variable."""
    for name in point:
        if name not in graph.variables:
            source, span = where[name]
            known = ", ".join(graph.variables) or "none"
            raise SymgradError(
                "binding", f"--at gives {name}, but {graph.header} has no variable {name}",
                source=source, span=span, hint=f"its variables are: {known}",
            )
    missing = [v for v in graph.variables if v not in point]
    if missing:
        example = ",".join(f"{v}=1" for v in missing)
        raise SymgradError(
            "binding", f"no value for {', '.join(missing)}",
            hint=f"give every variable a value with --at, e.g. --at {example}",
        )
