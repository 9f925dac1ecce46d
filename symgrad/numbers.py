"""How numbers are written: short in tables, exact in machine formats."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from typing import Any

import numpy as np

from .errors import SymgradError

# Arrays with more elements than this are summarised in tables.
SHOWN_ELEMENTS = 24
# The most characters one written number may have: float64 needs 17 significant digits and an
# exponent, and longer numbers (a 5,000-digit integer) would cost time to convert for nothing.
LONGEST_NUMBER = 1000


def too_long(text: str) -> SymgradError:
    """The error for a number longer than LONGEST_NUMBER characters."""
    return SymgradError("value", f"a number of {len(text):,} characters ({text[:12]}...): numbers may have at "
                        f"most {LONGEST_NUMBER:,}", hint="write it with an exponent, as in 7.77e4999")


def _int(text: str) -> int | float:
    if len(text) > LONGEST_NUMBER:
        raise too_long(text)
    return int(text)


def _float(text: str) -> float:
    if len(text) > LONGEST_NUMBER:
        raise too_long(text)
    return float(text)


def _fraction(text: str) -> Fraction:
    if len(text) > LONGEST_NUMBER:
        raise too_long(text)
    return Fraction(text)


def json_loads(text: str | bytes, *, exact: bool = False) -> Any:
    """JSON data, each number at most LONGEST_NUMBER characters long; with `exact`, numbers with
    a point or an exponent as Fractions (0.1 is 1/10).  Raises json.JSONDecodeError for text that
    is not JSON, and SymgradError ("value") for a number that is too long or brackets nested too deeply."""
    try:
        if not exact and len(text) <= LONGEST_NUMBER:  # no number in it can be too long: the C reader alone
            return json.loads(text)
        return json.loads(text, parse_int=_int, parse_float=_fraction if exact else _float)
    except RecursionError:  # Python's JSON reader recurses once per level of brackets
        raise SymgradError("value", "the JSON is nested too deeply (thousands of brackets)",
                           hint="a value is a number or nested lists of numbers, a few levels deep") from None


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
