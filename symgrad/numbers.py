"""How numbers are written: short in tables, exact in machine formats."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Arrays with more elements than this are summarised in tables.
SHOWN_ELEMENTS = 24


def _scalar(x: float, digits: int) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    text = f"{x:.{digits}g}"
    if "e" in text:
        mant, exp = text.split("e")
        text = f"{mant}e{int(exp)}"
    return text


def short(v: Any, digits: int = 4, *, oneline: bool = False) -> str:
    """A number or array for a table: integers as integers, others to `digits`
    significant digits; a matrix row by row unless `oneline`; a large array summarised."""
    a = np.asarray(v, dtype=float)
    if a.ndim == 0:
        return _scalar(float(a), digits)
    if a.size > SHOWN_ELEMENTS:
        first = ", ".join(_scalar(float(x), digits) for x in a.reshape(-1)[:4])
        return f"{a.shape} array [{first}, …]"
    return _nested(a, digits, oneline)


def _nested(a: np.ndarray, digits: int, oneline: bool) -> str:
    if a.ndim == 1:
        return "[" + ", ".join(_scalar(float(x), digits) for x in a) + "]"
    if oneline:
        return "[" + ", ".join(_nested(row, digits, True) for row in a) + "]"
    inner = [_nested(row, digits, False).replace("\n", "\n ") for row in a]
    return "[" + ",\n ".join(inner) + "]"


def exact(v: Any) -> Any:
    """A value for JSON: full precision; nested lists for arrays; non-finite as strings."""
    a = np.asarray(v, dtype=float)
    if a.ndim == 0:
        x = float(a)
        if math.isfinite(x):
            return x
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    if np.isfinite(a).all():
        return a.tolist()
    o = a.astype(object)
    o[np.isnan(a)] = "NaN"
    o[a == np.inf] = "Infinity"
    o[a == -np.inf] = "-Infinity"
    return o.tolist()


def signed_sum(terms: list[str]) -> str:
    """Terms written as a sum, a negative one with a minus: "6 + 1", "3 - 1.5"."""
    out = ""
    for text in terms:
        if out:
            text = f" - {text[1:]}" if text.startswith("-") else f" + {text}"
        out += text
    return out


def read_number(text: str) -> float:
    """A number as written in data: surrounding spaces and the Unicode minus allowed."""
    return float(text.strip().replace("−", "-"))


def is_number(text: str) -> bool:
    try:
        read_number(text)
    except ValueError:
        return False
    return True
