"""One verdict ladder: how a gradient (or an answer) compares with a reference.

Every judgement symgrad makes about a number goes through `decide`: the
three-way checks of one point, `--points --check`, `batch --check`, and the
references that `symgrad check` grades against.  A verdict never contradicts
the numbers printed beside it, and ``wrong`` is reserved for a gradient that
is wrong: a point where the gradient is undefined, infinite, at a kink, or
beyond float64 gets a verdict of its own and a sentence saying which.

The relative error |a - b| / max(|a|, |b|) is read as gradient checks are read
in practice (CS231n's notes on gradient checking): below 1e-7 excellent,
below 1e-5 fine, below 1e-3 suspicious, above that wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray

# Relative error thresholds.
EXCELLENT, FINE, SUSPICIOUS = 1e-7, 1e-5, 1e-3
# Differences below this times the scale of the computation count as agreement; two values both
# below it are "zero" (≈0): their relative error means nothing.
FLOOR = 1e-10

# Every verdict, from the best to the worst; only "wrong" fails a check (exit status 1).
VERDICTS = ("excellent", "fine", "zero", "kink", "infinite", "undefined", "unstable", "skipped",
            "suspicious", "wrong")
FAILING = ("wrong",)
# Verdicts that mean agreement, judged by relative error or by the floor.
AGREE = ("excellent", "fine", "zero")

MEANING = {
    "excellent": "relative error below 1e-7",
    "fine": "relative error below 1e-5",
    "zero": "both are zero to within the floor (1e-10 times the scale of the computation)",
    "kink": "the point is on a kink, where the one-sided derivatives differ and conventions differ",
    "infinite": "the gradient is infinite here",
    "undefined": "the gradient is undefined here (nan in the mathematics)",
    "unstable": "float64 overflowed, underflowed or cancelled: the true value comes from 30 digits",
    "skipped": "this check could not judge this element",
    "suspicious": "relative error between 1e-5 and 1e-3",
    "wrong": "relative error above 1e-3: backprop is wrong",
}


@dataclass(frozen=True)
class Known:
    """What is known about the point, beyond the two numbers compared.

    kink: the one-sided derivatives differ here (a sentence naming the gate and convention), or "".
    infinite: the true gradient is infinite here (why), or "".
    undefined: the true gradient is undefined here (why), or "".
    unstable: float64 lost the value here (which node overflowed, and the true value), or "".
    skipped: the reference could not be computed (why), or "".
    edge: the point is at the edge of a gate's domain, in words ("sqrt has an infinite slope at
        n1 = 0"), or "": not a verdict by itself, it says why a slope is infinite or undefined.
    """

    kink: str = ""
    infinite: str = ""
    undefined: str = ""
    unstable: str = ""
    skipped: str = ""
    edge: str = ""


NOTHING = Known()


@dataclass(frozen=True)
class Verdict:
    """One element's verdict, with the numbers it was decided on.

    rel_error is set only where the verdict was decided by relative error
    (excellent, fine, suspicious, wrong); abs_error where two values were
    compared at all.  reason is a sentence for every verdict but the plain ones; sides, at a
    kink, the one-sided derivatives found there (left, right).
    """

    name: str
    rel_error: float | None = None
    abs_error: float | None = None
    reason: str = ""
    sides: tuple[Any, Any] | None = None  # at a kink: the one-sided derivatives (left, right)

    @property
    def failed(self) -> bool:
        return self.name in FAILING


def decide(reference: Any, value: Any, scale: float, known: Known = NOTHING) -> Verdict:
    """Judge `value` (backprop) against `reference` (what a check found).

    Both are arrays of one shape (or scalars); the worst element decides.
    `scale` is the size of the numbers of the computation (the largest finite
    |value| or |gradient|), which sets the floor below which two numbers both
    count as zero.  `known` carries what the caller found out about the point.

    The ladder, in order: a reference that could not be computed is
    ``skipped``.  Two finite numbers that agree are ``excellent`` (equal, or
    relative error below 1e-7), ``zero`` (both below the floor: their relative
    error means nothing) or ``fine``.  Where they disagree, or either is inf or
    nan, what is known about the point speaks first: ``kink``, ``unstable``,
    ``infinite``, ``undefined``; two infinities of one sign are ``infinite``
    and two nans ``undefined``.  Only then does the relative error give
    ``suspicious`` (below 1e-3) or ``wrong``.
    """
    ref = np.asarray(reference, dtype=float).reshape(-1)
    got = np.asarray(value, dtype=float).reshape(-1)
    if known.skipped:
        return Verdict("skipped", reason=known.skipped)
    if ref.size == 0:
        return Verdict("excellent", 0.0, 0.0)
    finite = bool(np.isfinite(ref).all() and np.isfinite(got).all())
    rel: float | None = None
    diff: float | None = None
    if finite:
        diff = float(np.max(np.abs(ref - got)))
        size = float(max(np.max(np.abs(ref)), np.max(np.abs(got))))
        floor = FLOOR * max(scale, 0.0)
        if diff == 0.0:
            return Verdict("excellent", 0.0, 0.0)
        if size <= floor:
            return Verdict("zero", None, diff)
        rel = diff / size
        if rel < EXCELLENT:
            return Verdict("excellent", rel, diff)
        if diff <= floor:
            return Verdict("zero", None, diff)
        if rel < FINE:
            return Verdict("fine", rel, diff)
    for name in ("kink", "unstable", "infinite", "undefined"):
        why = getattr(known, name)
        if why:
            return Verdict(name, rel if name == "kink" else None, diff, why)
    if finite:
        assert rel is not None
        return Verdict("suspicious" if rel < SUSPICIOUS else "wrong", rel, diff)
    if bool(np.all((ref == got) | (np.isnan(ref) & np.isnan(got)))):
        if np.isnan(ref).any():
            return Verdict("undefined", reason="both are nan: the gradient is undefined at this point")
        return Verdict("infinite", reason="both are infinite, with the same sign")
    if np.isnan(ref).any() or np.isnan(got).any():
        return Verdict("wrong", reason="one is nan and the other is not")
    return Verdict("wrong", reason="one is infinite and the other is not, or their signs differ")


@dataclass(frozen=True)
class Reference:
    """What is known about the true value of one gradient (or of the output's value) at a point,
    for grading answers.

    value: the true value, shaped like the variable; float64 where float64 holds it, else the
        30-digit value rounded to float64 (so 5.08e-435 becomes 0.0, and `exact` holds its text);
        elements may be inf (the gradient is infinite there) or nan (undefined there).
    accepted: other values that are right too, each shaped like `value`: at a kink, the one-sided
        derivatives (an answer equal, element by element, to any of them is right).
    note: a sentence for the teacher and the student ("relu at 0: 0 (symgrad, PyTorch) or 1
        accepted"; "the gradient is infinite here"), or "".
    exact: the value as text where float64 cannot hold it ("5.08e-435"), or "".
    """

    value: Array
    accepted: tuple[Array, ...] = ()
    note: str = ""
    exact: str = ""
    status: str = "finite"  # finite, infinite, undefined, kink or unstable
    # The size below which differences are noise (a difference under 1e-10 times it is float64's
    # rounding): set where it is not the graded input's own (checks.noise_scale), as for other nodes.
    scale: float | None = None
    # The same values in another shape that is right too: for a local gradient of an elementwise
    # gate, the elementwise one (the Jacobian's diagonal) beside the Jacobian.
    reshaped: tuple[Array, ...] = ()


# How much a verdict says, for combining the checks' verdicts on one element: the last wins.
SEVERITY = ("skipped", "zero", "excellent", "fine", "kink", "infinite", "undefined", "unstable", "suspicious",
            "wrong")


def worst(names: list[str]) -> str:
    """The verdict that speaks for several checks of one element: the most severe, a skipped check
    counting least."""
    return max(names, key=SEVERITY.index) if names else "skipped"
