"""How numbers are written: short in tables, exact in machine formats."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def short(v: Any, digits: int = 4) -> str:
    """A number for a table: integers as integers, others to `digits` significant digits."""
    a = np.asarray(v, dtype=float)
    if a.ndim:
        return "[" + ", ".join(short(x, digits) for x in a) + "]"
    x = float(a)
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


def exact(v: Any) -> Any:
    """A value for JSON: full precision; nested lists for arrays; non-finite as strings."""
    a = np.asarray(v, dtype=float)
    if a.ndim:
        return [exact(x) for x in a]
    x = float(a)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x
