"""Values for the variables: `--at x=-2,y=pow(2,3),W=[[1,2],[3,4]],b=@b.json`.

A value is a constant expression of symgrad's language (numbers, constants,
functions, [bracketed] arrays), or `@file` naming a .json file of nested
lists or a .npy file, where the `Files` policy allows it (files.py: anywhere
from the command line, inside its folder from a homework file, under
--data-dir from a batch line).  Plain numeric arrays are read as JSON data
for speed; nothing here evaluates user text as code.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from .engine import forward
from .errors import Source, SymgradError
from .files import NO_FILES, Files, read_bytes
from .graph import Graph, build
from .numbers import json_loads

_NAME = re.compile(r"[^\W\d]\w*\Z")
# Nested lists of plain numbers: read as JSON data rather than parsed as an expression.
_NUMERIC_ARRAY = re.compile(r"\s*\[[\s\d.eE+\-,\[\]]*\]\s*\Z")


def array_value(data: object, name: str, where: str) -> np.ndarray:
    """Nested lists of numbers as an array; ragged or non-numeric data is an error naming the variable."""
    try:
        arr = np.array(data, dtype=float)
    except (ValueError, TypeError) as exc:
        ragged = "inhomogeneous" in str(exc) or "sequence" in str(exc)
        what = "is ragged: its rows have different lengths" if ragged else "is not made of numbers"
        raise SymgradError("binding", f"the value of {name} {what}",
                           hint=f"check {where}; every row of an array needs the same length") from None
    if arr.dtype == object:
        raise SymgradError("binding", f"the value of {name} is not made of numbers", hint=f"check {where}")
    return arr


def file_value(path: str, name: str, files: Files) -> np.ndarray:
    """A value from @file: .npy, or JSON (a number or nested lists), where `files` allows the
    path.  Raises SymgradError: "files" (refused), "io", "limit" (files.read_bytes), "binding"."""
    data: Any
    try:
        raw = read_bytes(files.path(path, f"the value of {name}"), files.limit, f" for {name}")
        if path.endswith(".npy"):
            try:
                arr = np.load(io.BytesIO(raw), allow_pickle=False)
            except (EOFError, OSError, ValueError) as exc:  # empty, truncated, or not a .npy file at all
                why = "it would need unpickling, which symgrad never does" if "pickle" in str(exc) else str(exc)
                raise SymgradError("binding", f"{path} (the value of {name}) is not a NumPy .npy file: {why}",
                                   hint="write it with numpy.save, or give the value as .json") from None
            if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
                raise SymgradError("binding", f"{path} (the value of {name}) does not hold numbers")
            return np.asarray(arr, dtype=float)
        data = json_loads(raw.decode("utf-8-sig"))
    except SymgradError:
        raise
    except UnicodeDecodeError as exc:
        raise SymgradError("io", f"cannot read {path} for {name}: it is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise SymgradError("binding", f"{path} (the value of {name}) is not valid JSON: {exc.msg} "
                           f"at line {exc.lineno}, column {exc.colno}",
                           hint="a .json value is a number or nested lists of numbers") from None
    except ValueError as exc:
        raise SymgradError("binding", f"{path} (the value of {name}) cannot be read: {exc}") from None
    return array_value(data, name, path)


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
    return np.asarray(values[graph.output][0])


def read_value(text: str, offset: int, source: Source, name: str, files: Files = NO_FILES) -> np.ndarray:
    """One value: @file (where `files` allows it), a plain numeric array, or a constant expression."""
    stripped = text.strip()
    try:
        if stripped.startswith("@"):
            return file_value(stripped[1:], name, files)
        if _NUMERIC_ARRAY.match(text):
            try:
                data = json_loads(stripped)
            except json.JSONDecodeError:
                return constant_value(text, offset, source, name)
            return array_value(data, name, f"{source.name} {name}=...")
        return constant_value(text, offset, source, name)
    except SymgradError as err:
        raise err.located(source, (offset, offset + len(text))) from None


def parse_at(texts: Sequence[str], files: Files = NO_FILES) -> tuple[dict[str, np.ndarray],
                                                          dict[str, tuple[Source, tuple[int, int]]]]:
    """Bindings from one or more --at texts, and where each name was given; `files` says which
    @file values may be read (by default none: the command line passes Files.anywhere())."""
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
            point[name] = read_value(value_text, value_offset, source, name, files)
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
                "binding", f"{name} is given a value, but {graph.header} has no variable {name}",
                source=source, span=span, hint=f"its variables are: {known}",
            )
    missing = [v for v in graph.variables if v not in point]
    if missing:
        example = ",".join(f"{v}=1" for v in missing)
        raise SymgradError(
            "binding", f"no value for {', '.join(missing)}",
            hint=f"give every variable a value with --at, e.g. --at {example}",
        )


def exact_values(texts: Sequence[str], files: Files) -> dict[str, Any]:
    """The --at values as exact SymPy numbers, for --exact: 0.1 is 1/10, pi/4 stays pi/4.
    Values read from .npy files (binary floats) are left out.  Imports SymPy."""
    import sympy as sp

    from .symbolic import symbolic_values

    exact: dict[str, Any] = {}
    for text in texts:
        for offset, piece in split_top(text):
            name, _, value_text = piece.partition("=")
            name, stripped = name.strip(), value_text.strip()
            if stripped.startswith("@") and stripped.endswith(".npy"):
                continue
            if stripped.startswith("@"):
                raw = read_bytes(files.path(stripped[1:], f"the value of {name}"), files.limit, f" for {name}")
                data = json_loads(raw.decode("utf-8-sig"), exact=True)
                exact[name] = _rationals(sp, data)
            elif _NUMERIC_ARRAY.match(value_text):
                exact[name] = _rationals(sp, json_loads(stripped, exact=True))
            else:
                graph = build(" " * (offset + len(piece) - len(value_text)) + value_text, "--at", start="value")
                exact[name] = symbolic_values(graph, sp, {})[graph.output][0]
    return exact


def _rationals(sp: Any, data: Any) -> Any:
    arr = np.array(data, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(*arr.shape):
        v: Any = arr[idx]
        out[idx] = sp.Rational(v.numerator, v.denominator) if isinstance(v, Fraction) else sp.Integer(int(v))
    return out if out.shape else out[()]
