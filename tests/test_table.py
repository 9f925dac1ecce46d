"""The table of primitives is the one place that knows an op: every entry's forward, local
gradient (NumPy), SymPy form and local-gradient text agree with each other at random points, and
the table of functions in docs/language.md lists exactly the callable entries.  atan2 and log1p were added as
one table entry each; their tests are here, with hand-derived values."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from support import run

import symgrad
from symgrad import checks as C
from symgrad import primitives as P
from symgrad.engine import forward
from symgrad.graph import build

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(7)

# Points inside every elementwise primitive's domain, away from its kinks.
DOMAIN = {"log": (0.2, 3.0), "log2": (0.2, 3.0), "log10": (0.2, 3.0), "sqrt": (0.2, 3.0), "asin": (-0.9, 0.9),
          "acos": (-0.9, 0.9), "log1p": (-0.9, 3.0), "pow": (0.2, 3.0), "div": (0.5, 3.0), "tan": (-1.2, 1.2)}
ELEMENTWISE = [p for p in P.PRIMITIVES.values() if p.elementwise and p.arity in (1, 2) and p.name != "id"]


def points(prim: P.Primitive, n: int = 12) -> list[np.ndarray]:
    lo, hi = DOMAIN.get(prim.name, (-3.0, 3.0))
    args = [RNG.uniform(lo, hi, n) for _ in range(prim.arity)]
    if prim.name in ("relu", "abs", "sign", "step"):
        args = [np.where(np.abs(a) < 0.1, a + 0.5, a) for a in args]
    if prim.name in ("max", "min"):
        args[1] = args[0] + np.where(RNG.random(n) < 0.5, -1.0, 1.0) * RNG.uniform(0.2, 1.0, n)
    return args


@pytest.mark.parametrize("prim", ELEMENTWISE, ids=[p.name for p in ELEMENTWISE])
def test_forward_partials_and_sympy_agree(prim: P.Primitive) -> None:
    args = points(prim)
    symbols = [sp.Symbol(f"a{k}", real=True) for k in range(prim.arity)]
    assert prim.sympy is not None
    form = prim.sympy(sp, *symbols)
    out = np.asarray(prim.forward(*args), dtype=float)
    for n in range(len(args[0])):
        at = {s: sp.Float(float(a[n]), 30) for s, a in zip(symbols, args)}
        assert float(form.evalf(30, subs=at)) == pytest.approx(out[n], rel=1e-12, abs=1e-12)
    for k in range(prim.arity):
        partial = np.broadcast_to(np.asarray(prim.partials[k](out, *args), dtype=float), out.shape)
        derivative = sp.diff(form, symbols[k])
        h = 1e-6
        moved = [a.copy() for a in args]
        moved[k] = args[k] + h
        up = np.asarray(prim.forward(*moved), dtype=float)
        moved[k] = args[k] - h
        down = np.asarray(prim.forward(*moved), dtype=float)
        for n in range(len(args[0])):
            at = {s: sp.Float(float(a[n]), 30) for s, a in zip(symbols, args)}
            assert float(derivative.evalf(30, subs=at)) == pytest.approx(partial[n], rel=1e-9, abs=1e-12)
            assert (up[n] - down[n]) / (2 * h) == pytest.approx(partial[n], rel=1e-5, abs=1e-7)


TEXT_FREE = [p for p in ELEMENTWISE if p.local_text and not any(c in t for t in p.local_text for c in "[½")]


@pytest.mark.parametrize("prim", TEXT_FREE, ids=[p.name for p in TEXT_FREE])
def test_local_gradient_text_means_what_the_partials_compute(prim: P.Primitive) -> None:
    """The text shown for each local gradient, parsed by symgrad's own grammar, gives the partial."""
    args = points(prim)
    out = np.asarray(prim.forward(*args), dtype=float)
    names = [f"a{k}" for k in range(prim.arity)]
    for k, text in enumerate(prim.local_text):
        formula = build(text.format(*names, out="o"), start="value")
        inputs = {v: (out if v == "o" else args[names.index(v)])[None].T.reshape(-1) for v in formula.variables}
        values, _ = forward(formula, {v: a for v, a in inputs.items()})
        shown = np.broadcast_to(values[formula.output], out.shape)
        partial = np.broadcast_to(np.asarray(prim.partials[k](out, *args), dtype=float), out.shape)
        np.testing.assert_allclose(shown, partial, rtol=1e-12, atol=1e-12, err_msg=f"{prim.name}: {text}")


def test_the_readme_lists_every_function_of_the_table() -> None:
    """The list of built-in functions moved from the README to docs/language.md."""
    page = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    table = page[page.index("Built-in functions:"):page.index("## Vectors and matrices")]
    listed = set(re.findall(r"`(\w+)(?:\(|`)", table))
    callable_names = set(P.function_names())
    assert callable_names - listed == set(), "in the table of primitives, missing from docs/language.md"
    aliases = set(P.FUNCTION_ALIASES)
    assert {n for n in listed - callable_names - aliases if n not in ("x", "y", "a", "b", "W")} <= {"pi", "e"}


# ---------------------------------------------------------------------------
# atan2 and log1p: one table entry each


def test_atan2_by_hand() -> None:
    # atan2(1, -2): the angle of (-2, 1) = π - atan(1/2); d/dy = x/(x²+y²) = -2/5, d/dx = -y/(x²+y²) = -1/5
    value, grad = symgrad.gradient("f(y, x) = atan2(y, x)", y=1.0, x=-2.0)
    assert value == pytest.approx(math.pi - math.atan(0.5), rel=1e-15)
    assert grad == pytest.approx({"y": -0.4, "x": -0.2}, rel=1e-15)
    verdicts = C.combined(C.run_checks(*(lambda t: (t.graph, t))(symgrad.evaluate(
        symgrad.parse("f(y, x) = atan2(y, x)"), {"y": 1.0, "x": -2.0}))))
    assert {v for v, _ in verdicts.values()} <= {"excellent", "fine"}


def test_atan2_at_its_edge_and_its_cut() -> None:
    def verdicts(y: float, x: float) -> dict[str, str]:
        trace = symgrad.evaluate(symgrad.parse("f(y, x) = atan2(y, x)"), {"y": y, "x": x})
        return {k: v for k, (v, _) in C.combined(C.run_checks(trace.graph, trace)).items()}

    assert verdicts(0.0, 0.0) == {"y": "undefined", "x": "undefined"}  # the origin: no angle
    assert verdicts(0.0, -2.0)["y"] == "kink"  # the jump of 2π across the negative x axis
    assert verdicts(3.0, 0.0) == {"y": "excellent", "x": "excellent"}  # crossing the y axis is smooth
    assert verdicts(0.0, 2.0) == {"y": "excellent", "x": "excellent"}


def test_log1p_by_hand() -> None:
    # log1p(1e-10) = 1e-10 - 5e-21 (log(1 + x) would lose it); its derivative 1/(1 + x)
    value, grad = symgrad.gradient("f(x) = log1p(x)", x=1e-10)
    assert value == pytest.approx(1e-10 - 5e-21, rel=1e-15)
    assert grad["x"] == pytest.approx(1 / (1 + 1e-10), rel=1e-15)
    trace = symgrad.evaluate(symgrad.parse("f(x) = log1p(x)"), {"x": -1.0})
    assert C.combined(C.run_checks(trace.graph, trace))["x"][0] == "infinite"  # log1p(-1) = -inf


def test_new_primitives_work_everywhere() -> None:
    """grad with steps, JSON, tensors, --points and --help, with no other file touched."""
    steps = run("f(y, x) = atan2(y, x) + log1p(x)", "--at", "y=1,x=2", "--steps", "--format", "plain", code=0)
    assert "atan2(y, x)" in steps.stdout and "log1p(x)" in steps.stdout
    tensor = symgrad.evaluate(symgrad.parse("f(v, w) = sum(atan2(v, w) * log1p(w))"),
                              {"v": [1.0, -1.0], "w": [0.5, 2.0]})
    want = [0.5 / 1.25 * math.log1p(0.5), 2 / 5 * math.log1p(2.0)]
    assert tensor.gradient["v"] == pytest.approx(want, rel=1e-14)
    pts = run("atan2(y, x)", "--points", "-", "--check", input="y,x\n1,2\n0,0\n", code=0)
    assert pts.stdout.splitlines()[1].endswith(",excellent,") and ",undefined," in pts.stdout.splitlines()[2]
    assert "atan2(y, x)" in run("--help", code=0).stdout
