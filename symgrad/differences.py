"""Finite differences that know where they are: the numeric check's estimator.

Used by the numeric check of one point (one row per input element) and by
`--points --check` (one row per point), so that both reach the same verdicts.

A row is one input element moved by steps h, h/4, h/16 and h/64 on each side
(h = 6e-6 times max(1, |x|) unless given).  The estimate is, in order:

- the centred difference (f(x+h) - f(x-h)) / 2h at the largest step where both
  sides are finite and no kinked gate changes sides (a kink near the point is
  stepped over by a smaller step); where it disagrees with backprop, the
  smaller steps and their Richardson extrapolation get a say, and differences
  that do not settle as the step shrinks are a check that cannot judge;
- at a kink (the point is on one, or one lies within the smallest step), the
  one-sided derivatives on each side, Richardson-extrapolated from the two
  smallest steps: where they agree the function is differentiable there
  (x*abs(x) at 0) and their mean is the estimate, else the verdict is ``kink``;
- at the edge of a domain (one side nan or infinite: sqrt, log, x^y at x = 0),
  the one-sided derivative on the side that stays inside; one-sided
  differences that grow without bound as the step shrinks (1/sqrt(h) for sqrt
  at 0) mean an infinite slope: ``infinite`` where backprop gives inf of that
  sign, ``undefined`` where backprop gives a finite convention.

Only the rows that need it are evaluated at the smaller steps.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .engine import prim_args
from .graph import Graph
from .numbers import short
from .verdicts import EXCELLENT, FINE, NOTHING, Known, Verdict, decide

Array = np.ndarray

STEPS = 4  # h, h/4, h/16, h/64
SHRINK = 4.0
DEFAULT_STEP = float(np.cbrt(np.finfo(float).eps))  # about 6e-6, relative to max(1, |x|)
GROWTH = 1.4  # one-sided differences growing by this much over the steps: an infinite slope


@dataclass
class Probe:
    """The output at x + h_k and x - h_k for some rows at one step k.

    plus, minus: (rows, m) outputs (m: 1, or the Jacobian row's length);
    crossed_plus, crossed_minus: (rows,) did a kinked gate change sides from x;
    step_plus, step_minus: (rows,) the steps actually taken, after rounding.
    """

    plus: Array
    minus: Array
    crossed_plus: Array
    crossed_minus: Array
    step_plus: Array
    step_minus: Array


# probe(h, rows) -> Probe: evaluates the rows (indices) at x + h and x - h, h one step per row.
Prober = Callable[[Array, Array], Probe]


def estimate_all(f0: Array, backprop: Array, at_kink: Array, x: Array, base: float, probe: Prober,
                 scale: float | Array, known: list[Known] | None = None) -> list[tuple[Verdict, Array | None]]:
    """The verdict of every row, and the estimate it was judged against (None where there is none).

    f0: (rows, m) the output at the point; backprop: (rows, m) backprop's gradient for each row;
    at_kink: (rows,) is the row's point on a kink of a gate its gradient passes through;
    x: (rows,) the input element's value, and base the relative step (6e-6): the steps are base
    times max(1, |x|), then divided by 4, 16 and 64; where that ladder cannot judge and 0 < |x| < 1,
    a second ladder relative to |x| itself (a function can change on the scale of x: 1/x at 1e-8);
    scale: per row, the size of the numbers a difference below 1e-10 times which is noise;
    known: per row, what else is known (float64 trouble, a domain edge), or None.
    """
    rows = f0.shape[0]
    scales = np.broadcast_to(np.asarray(scale, dtype=float), (rows,))
    h0 = base * np.maximum(1.0, np.abs(x))
    first = probe(h0, np.arange(rows))
    with np.errstate(all="ignore"):
        centred = (first.plus - first.minus) / (first.step_plus + first.step_minus)[:, None]
        diff = np.abs(centred - backprop)
        size = np.maximum(np.abs(centred), np.abs(backprop))
        rel = np.where(size > 0, diff / np.where(size > 0, size, 1.0), 0.0)
        clean = (np.isfinite(centred).all(axis=1) & np.isfinite(backprop).all(axis=1) & np.isfinite(f0).all(axis=1)
                 & ~first.crossed_plus & ~first.crossed_minus & ~at_kink)
        floor = 1e-10 * scales[:, None]
        agree = clean & ((rel < FINE) | (size <= floor) | (diff <= floor)).all(axis=1)
    out: list[tuple[Verdict, Array | None]] = [(Verdict("skipped"), None)] * rows
    easy = np.flatnonzero(agree)
    for r in easy:
        out[r] = (decide(centred[r], backprop[r], float(scales[r])), centred[r])
    hard = np.flatnonzero(~agree)
    if hard.size == 0:
        return out
    probes = [Probe(first.plus[hard], first.minus[hard], first.crossed_plus[hard], first.crossed_minus[hard],
                    first.step_plus[hard], first.step_minus[hard])]
    probes += [probe(h0[hard] / SHRINK ** k, hard) for k in range(1, STEPS)]
    for n, r in enumerate(hard):
        out[r] = judge_row(f0[r], backprop[r], bool(at_kink[r]), _ladder(probes, n), float(scales[r]),
                           known[r] if known is not None else NOTHING)
    small = np.array([r for r in hard if 0 < abs(x[r]) < 1 and out[r][0].name not in _AGREE], dtype=int)
    if small.size:  # the second ladder, relative to |x|
        h1 = base * np.abs(x[small])
        second = [probe(h1 / SHRINK ** k, small) for k in range(STEPS)]
        for n, r in enumerate(small):
            again = judge_row(f0[r], backprop[r], bool(at_kink[r]), _ladder(second, n), float(scales[r]),
                              known[r] if known is not None else NOTHING)
            if again[0].name != "skipped" or out[r][0].name == "wrong":
                out[r] = again
    for r in np.flatnonzero(~np.isfinite(x)):  # x ± h is x again, or nan: nothing to compare with
        out[r] = (Verdict("skipped", reason=f"the input is {'nan' if np.isnan(x[r]) else 'infinite'} here: finite "
                          "differences need a finite point (the check failed, not backprop)"), None)
    return out


_AGREE = ("excellent", "fine", "zero")


def _ladder(probes: list[Probe], n: int) -> list[Probe]:
    """Row n's numbers, one Probe per step."""
    return [Probe(p.plus[n], p.minus[n], p.crossed_plus[n], p.crossed_minus[n], p.step_plus[n], p.step_minus[n])
            for p in probes]


def judge_row(f0: Array, g: Array, at_kink: bool, ladder: list[Probe], scale: float,
              known: Known) -> tuple[Verdict, Array | None]:
    """One row from its ladder of steps (each Probe holds this row's numbers only)."""
    with np.errstate(all="ignore"):
        if not np.isfinite(f0).all():
            return _not_finite_here(f0, g, ladder, scale, known), None
        ok_plus = [bool(np.isfinite(p.plus).all()) for p in ladder]
        ok_minus = [bool(np.isfinite(p.minus).all()) for p in ladder]
        if not at_kink:
            both = [k for k, p in enumerate(ladder) if ok_plus[k] and ok_minus[k]
                    and not p.crossed_plus and not p.crossed_minus]
            if both:
                overflowed = both[0] > 0 and bool(np.isinf(ladder[0].plus).any() or np.isinf(ladder[0].minus).any())
                return _centred(ladder, both, g, scale, known, overflowed, f0)
        if not at_kink and all(ok_plus) and all(ok_minus):  # every step straddles a kink near the point
            return Verdict("kink", reason=f"a kink lies within {_text(ladder[-1].step_plus)} of the point: every "
                           "step of the finite differences straddles it"), None
        # On a kink, or at the edge of a domain: one side at a time.
        right = [(ladder[k].plus - f0) / ladder[k].step_plus for k in range(len(ladder)) if ok_plus[k]]
        left = [(f0 - ladder[k].minus) / ladder[k].step_minus for k in range(len(ladder)) if ok_minus[k]]
    if not right and not left:
        return Verdict("skipped", reason="the function is not finite at x ± h for every step tried "
                       f"(down to h/{int(SHRINK ** (STEPS - 1))}): float64 overflowed"), None
    sides = {"right": right, "left": left}
    # Differences that grow as the step shrinks say "infinite slope" only where a gate is known to be at
    # its edge or kink; elsewhere (sqrt near, not at, 0) the steps are too coarse for the function.
    growing = {name: _grows(seq) for name, seq in sides.items() if len(seq) >= 3 and (known.edge or at_kink)}
    unbounded = {name: sign for name, sign in growing.items() if sign is not None}
    if unbounded:
        return _unbounded(unbounded, g, at_kink, known), None
    limits = {name: _richardson(seq) for name, seq in sides.items() if seq}
    if at_kink and "right" in limits and "left" in limits:
        lo, hi = limits["left"], limits["right"]
        if decide(lo, hi, scale).name in ("excellent", "fine", "zero"):
            mean = (lo + hi) / 2
            return decide(mean, g, scale, known), mean
        text = f"at a kink: the one-sided derivatives are {_text(lo)} (left) and {_text(hi)} (right)"
        return Verdict("kink", reason=text, sides=(lo, hi)), None
    value = limits.get("right", limits.get("left"))
    assert value is not None
    return decide(value, g, scale, known), value


def _not_finite_here(f0: Array, g: Array, ladder: list[Probe], scale: float, known: Known) -> Verdict:
    """The function itself is nan or infinite at the point.  Where it is infinite (log at 0, 1/x at
    0) and the slopes of the secants between the steps grow without bound, all with the sign of
    backprop's inf, the gradient is infinite; otherwise it is undefined."""
    nan_here = Known(unstable=known.unstable, undefined="the function is nan at this point")
    if np.isnan(f0).any():
        return decide(np.full_like(g, np.nan), g, scale, nan_here)
    signs: list[Array] = []
    for side in ("right", "left"):
        points = [(p.plus, p.step_plus) if side == "right" else (p.minus, -p.step_minus) for p in ladder]
        slopes = [(fa - fb) / (ha - hb) for (fa, ha), (fb, hb) in itertools.pairwise(points)
                  if np.isfinite(fa).all() and np.isfinite(fb).all()]
        if len(slopes) >= 2:
            grows = _grows(slopes)
            if grows is None:
                signs = []
                break
            signs.append(grows)
    expected = [np.where(s > 0, np.inf, -np.inf) for s in signs]
    if expected and all(np.array_equal(e, g) for e in expected):
        return Verdict("infinite", reason=f"the function is infinite here and its slope grows without bound "
                       f"towards it{': ' + known.edge if known.edge else ''}")
    return decide(np.full_like(g, np.nan), g, scale, Known(
        unstable=known.unstable, undefined="the function is infinite at this point"))


def _text(v: Array | float) -> str:
    a = np.asarray(v)
    return short(a.reshape(-1)[0] if a.size == 1 else a, 6, oneline=True)


def rounding(p: Probe, f0: Array) -> float:
    """How far float64's rounding of f alone can move a centred difference at this step: about
    10 eps |f| / 2h.  A disagreement within ten times it is beyond what the differences resolve."""
    size = max(float(np.max(np.abs(f0))), float(np.max(np.abs(p.plus))), float(np.max(np.abs(p.minus))))
    return float(10 * np.finfo(float).eps * size / float(p.step_plus + p.step_minus))


def _unresolved(estimate: Array, g: Array, noise: float) -> Verdict | None:
    """skipped, where backprop's disagreement with the differences is within their own rounding."""
    if np.all(np.isfinite(g)) and float(np.max(np.abs(estimate - g))) <= 10 * noise:
        return Verdict("skipped", reason=f"the finite differences cannot resolve this gradient: float64's rounding "
                       f"of the function moves them by about {noise:.1g} here (the check failed, not backprop)")
    return None


def _centred(ladder: list[Probe], usable: list[int], g: Array, scale: float, known: Known,
             overflowed: bool = False, f0: Array | None = None) -> tuple[Verdict, Array | None]:
    """The centred difference at the largest clean step; where it disagrees with backprop, the
    smaller steps and their Richardson extrapolation; "wrong" only where two successive steps have
    settled (they agree to 1e-3, or within float64's rounding of f) and backprop is ten times
    further off than that; else the check cannot judge this element."""
    centre = f0 if f0 is not None else np.zeros(1)
    with np.errstate(all="ignore"):
        values = [(ladder[k].plus - ladder[k].minus) / (ladder[k].step_plus + ladder[k].step_minus) for k in usable]
    kept = [n for n, v in enumerate(values) if np.isfinite(v).all()]  # a difference that overflowed says nothing
    if not kept:
        return Verdict("skipped", reason="the finite differences themselves overflow float64 here (the check "
                       "failed, not backprop)"), None
    values, usable = [values[n] for n in kept], [usable[n] for n in kept]
    noises = [rounding(ladder[k], centre) for k in usable]
    verdict = decide(values[0], g, scale, known)
    if verdict.name not in ("suspicious", "wrong"):
        return verdict, values[0]
    if len(values) < 2:  # nothing to show that the one difference settled: it cannot call backprop wrong
        unresolved = _unresolved(values[0], g, noises[0])
        return unresolved or Verdict("skipped", reason="only the smallest step of the finite differences stays "
                                     "inside the function's domain, and one difference alone cannot be trusted "
                                     "here"), None
    candidates = values[1:] + [(SHRINK ** 2 * b - a) / (SHRINK ** 2 - 1) for a, b in itertools.pairwise(values)]
    for c in candidates:
        better = decide(c, g, scale, known)
        if better.name in _AGREE:
            return better, c
    if np.all(np.isfinite(g)) and (not np.any(g) or float(np.max(np.abs(g))) <= 1e-10 * scale):
        # backprop says 0: is the sequence shrinking to zero within its own resolution (the gap between
        # the last two steps, and float64's rounding)?  log(1 + x)^2 at 0
        resolution = 2 * float(np.max(np.abs(values[-2] - values[-1]))) + 10 * noises[-1]
        if float(np.max(np.abs(values[-1]))) <= resolution:
            return Verdict("zero", None, float(np.max(np.abs(values[-1] - g))),
                           f"both within the finite differences' resolution ({resolution:.1g}) of zero"), values[-1]
    unresolved = _unresolved(values[0], g, noises[0])
    if unresolved is not None:
        return unresolved, None
    grows = _grows(values) if len(values) >= 3 and known.edge else None
    if grows is not None:  # at a gate's edge, differences that grow without bound: a jump or a pole
        return _unbounded({"centred": grows}, g, False, known), None
    for k in range(len(values) - 1):
        a, b = values[k], values[k + 1]
        tolerance = max(1e-3 * float(np.max(np.abs(b))), 10 * noises[k + 1])
        if float(np.max(np.abs(a - b))) <= tolerance:  # settled at these two steps
            if float(np.max(np.abs(b - g))) > 10 * tolerance:
                return decide(b, g, scale, known), b
            break
    first = "the function overflows float64 at x ± h, and at smaller steps " if overflowed else "the "
    return Verdict("skipped", reason=f"{first}finite differences do not settle as the step shrinks: the "
                   "function changes too fast here for float64 (the check failed, not backprop)"), None


def _grows(seq: list[Array]) -> Array | None:
    """The sign of one-sided differences that grow without bound as the step shrinks, or None."""
    mags = np.array([np.abs(s) for s in seq])  # (steps, m)
    signs = np.array([np.sign(s) for s in seq])
    rising = np.all(mags[1:] > mags[:-1] * 1.1, axis=0) & (mags[-1] > GROWTH * mags[0]) & np.all(
        signs == signs[-1], axis=0) & (mags[0] > 0)
    if not rising.any():
        return None
    return np.where(rising, signs[-1], 0.0)


def _richardson(seq: list[Array]) -> Array:
    """The one-sided derivative, from the two smallest steps (first-order error removed)."""
    if len(seq) < 2:
        return seq[-1]
    return np.asarray((SHRINK * seq[-1] - seq[-2]) / (SHRINK - 1))


def _unbounded(unbounded: dict[str, Array], g: Array, at_kink: bool, known: Known) -> Verdict:
    signs = next(iter(unbounded.values()))
    where = known.edge or "the finite differences grow without bound as the step shrinks"
    if at_kink:
        return Verdict("kink", reason="at a kink where the function jumps or its slope is infinite: the "
                       "one-sided differences grow without bound")
    expected = np.where(signs > 0, np.inf, np.where(signs < 0, -np.inf, np.nan))
    grows = signs != 0
    if np.all(g[grows] == expected[grows]):
        return Verdict("infinite", reason=f"the gradient is infinite here: {where}")
    if np.isfinite(g[grows]).all():
        return Verdict("undefined", reason=f"the slope is unbounded here, so the derivative does not exist and "
                       f"backprop's value is a convention: {where}")
    if np.isnan(g[grows]).any():
        return Verdict("undefined", reason=f"backprop gives nan where the slope is unbounded: {where}")
    return Verdict("wrong", reason="backprop's infinite gradient has the wrong sign")


def kinks_crossed(graph: Graph, centre: list[Array], moved: list[Array], count: int) -> Array:
    """For each of `count` moved points: is some gate with a kink or a jump (relu, abs, max, the cut
    of atan2) on another side of it than at the centre?  `centre` has a leading axis of 1 or `count`."""
    crossed = np.zeros(count, dtype=bool)
    with np.errstate(all="ignore"):
        for node in graph.nodes:
            prim = node.prim
            if prim is None or prim.branch is None:
                continue
            here = np.asarray(prim.branch(*prim_args(prim, [centre[j] for j in node.inputs])))
            there = np.asarray(prim.branch(*prim_args(prim, [moved[j] for j in node.inputs])))
            shape = np.broadcast_shapes(here.shape, there.shape)
            differs = np.broadcast_to(here, shape) != np.broadcast_to(there, shape)
            crossed |= np.broadcast_to(differs.reshape(shape[0], -1).any(axis=1), (count,))
    return crossed


__all__ = ["DEFAULT_STEP", "EXCELLENT", "STEPS", "Probe", "estimate_all", "judge_row", "kinks_crossed"]
