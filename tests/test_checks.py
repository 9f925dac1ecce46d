"""The three-way verification: backprop against SymPy (symbolic_check) and against
centred finite differences (numeric_check), their verdicts and summary, and the
options and outputs of the command line that show them.

Each check is made to fail on purpose, by putting a wrong local-gradient rule into
the primitive table; the symbolic check runs in a forked child process, which
inherits the patched table.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support import formula_value, hang_in_child, run, run_json, sin_with_wrong_sign, trace_of

import symgrad
from symgrad import checks as C
from symgrad import primitives as P
from symgrad.verdicts import worst

ROOT = Path(__file__).resolve().parents[1]
GOOD = ("excellent", "fine", "zero")
STAGED = "f(x,y) = (x + sigmoid(y)) / (sigmoid(x) + (x+y)^2)"


# ---------------------------------------------------------------------------
# helpers


def both(text: str, *, timeout: float = 20.0, eps: float | None = None, upstream: Any = None,
         **at: Any) -> tuple[C.Check, C.Check, symgrad.Trace]:
    """The symbolic and the numeric check of `text` at a point."""
    trace = trace_of(text, upstream=upstream, **at)
    return C.symbolic_check(trace.graph, trace, timeout=timeout), C.numeric_check(trace, eps), trace


def verdicts(check: C.Check) -> dict[str, str]:
    return {label: r.verdict for label, r in check.inputs.items()}


def assert_agree(sym: C.Check, num: C.Check, labels: list[str] | None = None) -> None:
    for check in (sym, num):
        assert check.status == "pass", (check.kind, check.status, check.reason, verdicts(check))
        assert check.inputs, check.kind
        assert all(v in GOOD for v in verdicts(check).values()), (check.kind, verdicts(check))
        if labels is not None:
            assert list(check.inputs) == labels, check.kind
    agree, line = C.summary([sym, num])
    assert agree
    assert line.startswith("checks: backprop, symbolic and numeric agree for ")


def line_starting(text: str, start: str) -> str:
    found = [line for line in text.splitlines() if line.startswith(start)]
    assert found, (start, text)
    return found[0]


def check_row(text: str, label: str) -> str:
    """The row of the checks table (after its header "input  backprop ...") for one input element."""
    lines = text.splitlines()
    start = next(k for k, line in enumerate(lines) if re.match(r"input +backprop", line))
    return line_starting("\n".join(lines[start + 1:]), label + " ").rstrip()


def constant_kink_gate(trace: symgrad.Trace) -> bool:
    """Is a gate with a kink applied to a constant (abs(-2))? Its own test is below."""
    return any(node.op not in ("input", "const") and P.PRIMITIVES[node.op].branch is not None
               and not trace.dep[i] for i, node in enumerate(trace.graph.nodes))


def matmul_doubling_left(monkeypatch: pytest.MonkeyPatch) -> None:
    """A matmul whose vjp sends twice the right gradient to its left input."""
    prim = P.PRIMITIVES["matmul"]
    right = prim.vjp
    assert right is not None

    def wrong(k: int, g: Any, out: Any, a: Any, b: Any) -> Any:
        d = right(k, g, out, a, b)
        return 2 * d if k == 0 else d

    monkeypatch.setitem(P.PRIMITIVES, "matmul", dataclasses.replace(prim, vjp=wrong))


def sigmoid_tower(levels: int) -> str:
    body = "x*y"
    for _ in range(levels):
        body = f"sigmoid({body}*y + x)"
    return f"f(x,y) = {body}"


# ---------------------------------------------------------------------------
# judge and summary on their own


@pytest.mark.parametrize(("rel", "verdict"), [
    (0.0, "excellent"), (5e-8, "excellent"), (2e-7, "fine"), (5e-6, "fine"),
    (2e-5, "suspicious"), (5e-4, "suspicious"), (2e-3, "wrong"), (0.5, "wrong"),
])
def test_judge_thresholds(rel: float, verdict: str) -> None:
    ref = np.array([1.0])
    r = C.judge(ref, ref * (1 + rel), scale=1.0, kink=False)
    assert r.verdict == verdict
    assert r.rel_error == pytest.approx(rel / (1 + rel), rel=1e-6, abs=1e-15)
    assert r.reference == [1.0]
    assert r.kink is False


def test_judge_thresholds_are_the_documented_ones() -> None:
    assert (C.EXCELLENT, C.FINE, C.SUSPICIOUS, C.FLOOR) == (1e-7, 1e-5, 1e-3, 1e-10)


def test_judge_kink_excuses_a_large_difference_but_not_a_small_one() -> None:
    assert C.judge(np.array([1.5]), np.array([0.0]), 1.0, kink=True).verdict == "kink"
    assert C.judge(np.array([1.0]), np.array([1.0]), 1.0, kink=True).verdict == "excellent"
    assert C.judge(np.array([1.5]), np.array([0.0]), 1.0, kink=False).verdict == "wrong"


def test_judge_absolute_floor_scales_with_the_computation() -> None:
    # a true zero against rounding noise: relative error 1, but far below the floor
    # is "zero" (≈0), with the absolute difference and no relative error (it would be 1.0, and mean nothing)
    r = C.judge(np.array([0.0]), np.array([1e-12]), scale=100.0, kink=False)
    assert (r.verdict, r.rel_error, r.abs_error) == ("zero", None, 1e-12)
    # the same difference in a computation of scale 1e-6 is not excused
    assert C.judge(np.array([0.0]), np.array([1e-12]), scale=1e-6, kink=False).verdict == "wrong"
    # the floor is 1e-10 times the scale: just under it and just over it
    assert C.judge(np.array([0.0]), np.array([0.9e-10]), scale=1.0, kink=False).verdict == "zero"
    assert C.judge(np.array([0.0]), np.array([1.1e-10]), scale=1.0, kink=False).verdict == "wrong"
    # equal numbers are excellent, zeros included
    assert C.judge(np.array([0.0]), np.array([0.0]), scale=1.0).verdict == "excellent"


def test_judge_non_finite() -> None:
    nan = float("nan")
    # nan against nan is undefined, never excellent; inf against inf of one sign is infinite
    assert C.judge(np.array([nan]), np.array([nan]), 1.0, False).verdict == "undefined"
    assert C.judge(np.array([np.inf]), np.array([np.inf]), 1.0, False).verdict == "infinite"
    assert C.judge(np.array([-np.inf]), np.array([np.inf]), 1.0, False).verdict == "wrong"
    assert C.judge(np.array([nan]), np.array([1.0]), 1.0, False).verdict == "wrong"
    assert C.judge(np.array([np.inf]), np.array([1.0]), 1.0, True).verdict == "kink"


def test_judge_takes_the_worst_output_element() -> None:
    r = C.judge(np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.0, 4.1]), 1.0, False)
    assert r.verdict == "wrong"
    assert r.rel_error == pytest.approx(0.1 / 4.1)


def test_summary_lines() -> None:
    good = C.ElementCheck("excellent", 2e-12, False)
    sym = C.Check("symbolic", "pass", inputs={"x": good, "y": good})
    num = C.Check("numeric", "pass", inputs={"x": C.ElementCheck("fine", 3e-6, False),
                                            "y": C.ElementCheck("kink", 1.0, True)})
    assert C.summary([sym, num]) == (
        True, "checks: backprop, symbolic and numeric agree for x (largest relative error 3.0e-06); "
        "y at a kink, where the conventions differ: not a failure")
    odd = C.Check("numeric", "pass", inputs={"x": C.ElementCheck("suspicious", 2e-4, False)})
    agree, line = C.summary([odd])
    assert agree and "suspicious" in line and "x" in line
    bad = C.Check("numeric", "fail", inputs={"x": C.ElementCheck("wrong", 0.5, False), "y": good})
    agree, line = C.summary([sym, bad])
    assert not agree
    assert line == "checks: FAILED: backprop disagrees for x (numeric, relative error 5.0e-01)"
    skipped = C.Check("symbolic", "skipped", "over the time budget of 1 s")
    assert C.summary([skipped]) == (True, "checks: symbolic check skipped: over the time budget of 1 s")


def test_summary_shortens_many_failures() -> None:
    wrong = {f"W[0,{k}]": C.ElementCheck("wrong", 1.0, False) for k in range(9)}
    agree, line = C.summary([C.Check("numeric", "fail", inputs=wrong)])
    assert not agree
    assert line.startswith("checks: FAILED: backprop disagrees for W[0,0] (numeric")
    assert line.endswith(" and 3 more")


# ---------------------------------------------------------------------------
# agreement on every scalar primitive

SCALAR_CASES: dict[str, tuple[str, list[dict[str, float]]]] = {
    "add": ("f(a, b) = a + b", [{"a": 1.5, "b": -0.3}, {"a": -2.0, "b": 7.0}]),
    "sub": ("f(a, b) = a - b", [{"a": 1.5, "b": -0.3}, {"a": -2.0, "b": 7.0}]),
    "mul": ("f(a, b) = a * b", [{"a": 1.5, "b": -0.3}, {"a": -2.0, "b": 7.0}]),
    "div": ("f(a, b) = a / b", [{"a": 1.5, "b": -0.3}, {"a": -2.0, "b": 7.0}, {"a": 0.2, "b": 0.9}]),
    "neg": ("f(a) = -a", [{"a": 1.5}, {"a": -0.7}]),
    "pow": ("f(a, b) = a^b", [{"a": 1.5, "b": 2.5}, {"a": 0.7, "b": -1.3}, {"a": 2.0, "b": 3.0}]),
    "exp": ("f(x) = exp(x)", [{"x": -1.2}, {"x": 0.4}, {"x": 2.5}]),
    "log": ("f(x) = log(x)", [{"x": 0.3}, {"x": 1.7}, {"x": 12.0}]),
    "log2": ("f(x) = log2(x)", [{"x": 0.3}, {"x": 1.7}, {"x": 12.0}]),
    "log10": ("f(x) = log10(x)", [{"x": 0.3}, {"x": 1.7}, {"x": 12.0}]),
    "sqrt": ("f(x) = sqrt(x)", [{"x": 0.3}, {"x": 1.7}, {"x": 12.0}]),
    "sin": ("f(x) = sin(x)", [{"x": -1.2}, {"x": 0.4}, {"x": 2.5}]),
    "cos": ("f(x) = cos(x)", [{"x": -1.2}, {"x": 0.4}, {"x": 2.5}]),
    "tan": ("f(x) = tan(x)", [{"x": -1.2}, {"x": 0.4}, {"x": 2.5}]),
    "asin": ("f(x) = asin(x)", [{"x": -0.8}, {"x": 0.1}, {"x": 0.6}]),
    "acos": ("f(x) = acos(x)", [{"x": -0.8}, {"x": 0.1}, {"x": 0.6}]),
    "atan": ("f(x) = atan(x)", [{"x": -3.0}, {"x": 0.4}, {"x": 2.5}]),
    "atan2": ("f(y, x) = atan2(y, x)", [{"y": 1.0, "x": -2.0}, {"y": -0.5, "x": 0.3}, {"y": 2.0, "x": 0.0}]),
    "log1p": ("f(x) = log1p(x)", [{"x": -0.5}, {"x": 1e-9}, {"x": 3.0}]),
    "sinh": ("f(x) = sinh(x)", [{"x": -1.2}, {"x": 0.4}, {"x": 2.5}]),
    "cosh": ("f(x) = cosh(x)", [{"x": -1.2}, {"x": 0.4}, {"x": 2.5}]),
    "tanh": ("f(x) = tanh(x)", [{"x": -1.2}, {"x": 0.4}, {"x": 2.5}]),
    "sigmoid": ("f(x) = sigmoid(x)", [{"x": -1.2}, {"x": 0.4}, {"x": 2.5}]),
    "softplus": ("f(x) = softplus(x)", [{"x": -1.2}, {"x": 0.4}, {"x": 2.5}]),
    "relu": ("f(x) = relu(x)", [{"x": -1.2}, {"x": 0.4}, {"x": 2.5}]),
    "abs": ("f(x) = abs(x)", [{"x": -1.2}, {"x": 0.4}, {"x": 2.5}]),
    "sign": ("f(x) = sign(x) + x", [{"x": -1.2}, {"x": 0.4}]),
    "step": ("f(x) = step(x) + x", [{"x": -1.2}, {"x": 0.4}]),
    "max": ("f(a, b) = max(a, b)", [{"a": 1.5, "b": -0.3}, {"a": -2.0, "b": 7.0}]),
    "min": ("f(a, b) = min(a, b)", [{"a": 1.5, "b": -0.3}, {"a": -2.0, "b": 7.0}]),
    "id": ("f(x) = x", [{"x": -1.2}, {"x": 2.5}]),
    "ones_like": ("f(x) = ones_like(x) * x + ones_like(x)", [{"x": -1.2}, {"x": 2.5}]),
}


def test_every_scalar_primitive_has_a_case() -> None:
    scalar = {name for name, prim in P.PRIMITIVES.items() if prim.elementwise}
    assert set(SCALAR_CASES) == scalar


@pytest.mark.parametrize("name", sorted(SCALAR_CASES))
def test_scalar_primitive_agrees(name: str) -> None:
    text, points = SCALAR_CASES[name]
    graph = symgrad.parse(text)
    assert name in {node.op for node in graph.nodes}
    for at in points:
        trace = symgrad.evaluate(graph, at)
        assert not trace.kinks
        sym, num = C.symbolic_check(graph, trace, timeout=20), C.numeric_check(trace)
        assert_agree(sym, num, list(at))
        for label, r in sym.inputs.items():  # what SymPy found is backprop's number
            assert r.reference == pytest.approx([float(trace.gradient[label])], rel=1e-12, abs=1e-300)


def test_scalar_check_references_are_independent() -> None:
    # the checks' own numbers, against derivatives written by hand
    sym, num, _ = both("f(x, y) = sin(x) * y + log(y)", x=0.5, y=2.0)
    assert sym.inputs["x"].reference == pytest.approx([2 * math.cos(0.5)], rel=1e-15)
    assert sym.inputs["y"].reference == pytest.approx([math.sin(0.5) + 0.5], rel=1e-15)
    assert num.inputs["x"].reference == pytest.approx([2 * math.cos(0.5)], rel=1e-9)
    assert num.inputs["y"].reference == pytest.approx([math.sin(0.5) + 0.5], rel=1e-9)
    # the derivatives shown are in the graph's own names (n1 = sin(x)), from symbolic reverse mode
    assert sym.derivatives == {"x": "y*cos(x)", "y": "n1 + 1/y"}


# ---------------------------------------------------------------------------
# agreement on the tensor primitives

W23 = [[0.1, 0.5, -0.2], [-0.3, 0.8, 0.4]]
V3 = [0.2, 0.4, -0.7]

TENSOR_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("f(W, x) = sum((W @ x)^2)", {"W": W23, "x": V3}, "matmul"),
    ("f(W, x) = W @ x", {"W": W23, "x": V3}, "matmul"),  # the Jacobian
    ("f(A, B) = sum((A @ B)^2)", {"A": W23, "B": [[1.0, -0.5], [0.3, 0.2], [0.7, 1.1]]}, "matmul"),
    ("f(W) = sum(W.T @ W)", {"W": W23}, "transpose"),
    ("f(W) = sum(exp(W))", {"W": W23}, "sum"),
    ("f(W) = sum(W, 0)", {"W": W23}, "sum_axis"),
    ("f(W) = mean(W^2)", {"W": W23}, "mean"),
    ("f(W) = sum(mean(W, 1)^2)", {"W": W23}, "mean_axis"),
    ("f(a, b) = dot(a, b)", {"a": V3, "b": [1.0, 2.0, -3.0]}, "dot"),
    ("f(a) = norm(a)", {"a": V3}, "norm"),
    ("f(W) = norm(W)", {"W": W23}, "norm"),
    ("f(a) = softmax(a)", {"a": V3}, "softmax"),  # the Jacobian
    ("f(a) = softmax(a)[1]", {"a": V3}, "softmax"),
    ("f(W) = sum(softmax(W) * [[1, 2, 3], [4, 5, 6]])", {"W": W23}, "softmax"),
    ("f(a) = logsumexp(a)", {"a": V3}, "logsumexp"),
    ("f(W) = sum(logsumexp(W))", {"W": W23}, "logsumexp"),
    ("f(W) = W[1, 2] * W[0, 0] + W[-1, 0]", {"W": W23}, "index"),
    ("f(s, y) = -log(softmax(s)[y])", {"s": V3, "y": 1}, "index"),
    ("f(a) = max(a)", {"a": V3}, "amax"),
    ("f(a) = min(a) * 2", {"a": V3}, "amin"),
    ("f(a, b) = sum([a, b, a * b]^2)", {"a": 1.5, "b": -0.5}, "stack"),
    ("f(W, y) = -sum(log(softmax(W)[arange(2), y]))", {"W": W23, "y": [2, 0]}, "arange"),
    ("f(W, y) = sum(W * onehot(y, 3))^2", {"W": W23, "y": [2, 0]}, "onehot"),
    ("f(a, b) = sum(outer(a, b)^2 * [[1, 2, 3], [4, 5, 6], [7, 8, 9]])", {"a": V3, "b": [1.0, 2.0, -3.0]}, "outer"),
]


@pytest.mark.parametrize(("text", "at", "op"), TENSOR_CASES, ids=[c[0] for c in TENSOR_CASES])
def test_tensor_primitive_agrees(text: str, at: dict[str, Any], op: str) -> None:
    sym, num, trace = both(text, **at)
    assert op in {node.op for node in trace.graph.nodes}
    assert not trace.kinks
    expected = [label for _, _, label in C.elements(trace)]
    assert_agree(sym, num, expected)


def test_tensor_primitives_all_covered() -> None:
    tensor = {name for name, prim in P.PRIMITIVES.items() if not prim.elementwise}
    assert {op for _, _, op in TENSOR_CASES} == tensor


def test_vector_jacobian_product_is_checked() -> None:
    sym, num, trace = both("f(W, x) = W @ x", upstream=[1.0, -2.0], W=W23, x=V3)
    assert trace.mode == "point"
    assert_agree(sym, num)
    # d(g . (W x))/dW[1,2] = g[1] * x[2]
    assert sym.inputs["W[1,2]"].reference == pytest.approx([-2.0 * -0.7])
    assert num.inputs["W[1,2]"].reference == pytest.approx([-2.0 * -0.7], rel=1e-8)


def test_jacobian_is_checked_per_output_element() -> None:
    sym, num, _ = both("f(a) = softmax(a)", a=V3)
    s = np.exp(V3) / np.exp(V3).sum()
    column = [(s[i] * ((i == 0) - s[0])) for i in range(3)]  # d softmax_i / d a_0
    assert sym.inputs["a[0]"].reference == pytest.approx(column, rel=1e-12)
    assert num.inputs["a[0]"].reference == pytest.approx(column, rel=1e-8)


def test_index_variable_gets_no_check() -> None:
    sym, num, trace = both("f(s, y) = s[y] * 2", s=V3, y=2)
    assert "y" in trace.graph.index_only
    assert list(sym.inputs) == list(num.inputs) == ["s[0]", "s[1]", "s[2]"]
    assert sym.inputs["s[2]"].reference == [2.0]


# ---------------------------------------------------------------------------
# property-based: random programs over every scalar primitive


def _shift_up(text: str, v: float, low: float = 0.25) -> tuple[str, float]:
    """Keep an argument above `low` (logarithms, square roots, real powers)."""
    if v >= low:
        return text, v
    c = math.ceil(2 * low - v)
    return f"({text} + {c})", v + c


def _shrink(text: str, v: float, limit: float) -> tuple[str, float]:
    if abs(v) <= limit:
        return text, v
    c = math.ceil(abs(v) / (limit / 2))
    return f"({text} / {c})", v / c


def _off_kink(text: str, v: float) -> tuple[str, float]:
    return (f"({text} + 0.5)", v + 0.5) if abs(v) < 0.25 else (text, v)


def _off_tan_pole(text: str, v: float) -> tuple[str, float]:
    return (f"({text} + 1)", v + 1) if abs(math.cos(v)) < 0.3 else (text, v)


def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


# name -> (how it is written, the guard on its argument, its value)
UNARY: dict[str, tuple[str, Callable[[str, float], tuple[str, float]], Callable[[float], float]]] = {
    "neg": ("(-{0})", lambda t, v: (t, v), lambda v: -v),
    "exp": ("exp({0})", lambda t, v: _shrink(t, v, 3), math.exp),
    "log": ("log({0})", _shift_up, math.log),
    "log2": ("log2({0})", _shift_up, math.log2),
    "log10": ("log10({0})", _shift_up, math.log10),
    "sqrt": ("sqrt({0})", _shift_up, math.sqrt),
    "sin": ("sin({0})", lambda t, v: (t, v), math.sin),
    "cos": ("cos({0})", lambda t, v: (t, v), math.cos),
    "tan": ("tan({0})", _off_tan_pole, math.tan),
    "asin": ("asin({0})", lambda t, v: _shrink(t, v, 0.8), math.asin),
    "acos": ("acos({0})", lambda t, v: _shrink(t, v, 0.8), math.acos),
    "atan": ("atan({0})", lambda t, v: (t, v), math.atan),
    "log1p": ("log1p({0})", _shift_up, math.log1p),
    "sinh": ("sinh({0})", lambda t, v: _shrink(t, v, 3), math.sinh),
    "cosh": ("cosh({0})", lambda t, v: _shrink(t, v, 3), math.cosh),
    "tanh": ("tanh({0})", lambda t, v: _shrink(t, v, 3), math.tanh),
    "sigmoid": ("sigmoid({0})", lambda t, v: _shrink(t, v, 3), _sigmoid),
    "softplus": ("softplus({0})", lambda t, v: _shrink(t, v, 3), lambda v: math.log1p(math.exp(v))),
    "relu": ("relu({0})", _off_kink, lambda v: max(v, 0.0)),
    "abs": ("abs({0})", _off_kink, abs),
    "sign": ("sign({0})", _off_kink, lambda v: float(np.sign(v))),
    "step": ("step({0})", _off_kink, lambda v: 1.0 if v > 0 else 0.0),
    "ones_like": ("ones_like({0})", lambda t, v: (t, v), lambda v: 1.0),
}
BINARY = ["add", "sub", "mul", "div", "pow", "max", "min", "atan2"]
GENERATED = set(UNARY) | set(BINARY) | {"id"}  # id: from an alias statement, b = a0


def _binary(name: str, a: tuple[str, float], b: tuple[str, float], form: int) -> tuple[str, float]:
    (ta, va), (tb, vb) = a, b
    if name == "add":
        return f"({ta} + {tb})", va + vb
    if name == "sub":
        return f"({ta} - {tb})", va - vb
    if name == "mul":
        return f"({ta} * {tb})", va * vb
    if name == "div":
        if abs(vb) < 0.5:
            tb, vb = (f"({tb} + 1)", vb + 1) if vb >= 0 else (f"({tb} - 1)", vb - 1)
        return f"({ta} / {tb})", va / vb
    if name == "pow":
        if form < 2:  # a small whole power of anything
            k = 2 + form
            ta, va = _shrink(ta, va, 3)
            return f"(({ta})^{k})", va**k
        ta, va = _shift_up(ta, va)
        tb, vb = _shrink(tb, vb, 2)
        written = f"pow({ta}, {tb})" if form == 2 else f"({ta} ** {tb})"
        return written, va**vb
    if name == "atan2":  # away from the origin and from the cut along the negative x axis
        if vb < 0.25:
            tb, vb = f"({tb} * {tb} + 0.5)", vb * vb + 0.5
        return f"atan2({ta}, {tb})", math.atan2(va, vb)
    if abs(va - vb) < 0.25:  # max, min: no tie
        tb, vb = f"({tb} + 0.5)", vb + 0.5
    return f"{name}({ta}, {tb})", (max if name == "max" else min)(va, vb)


@st.composite
def expressions(draw: st.DrawFn, env: dict[str, float], depth: int) -> tuple[str, float]:
    """An expression over the names in env, written in symgrad's language, and its value."""
    if depth == 0 or draw(st.integers(0, 4)) == 0:
        if draw(st.integers(0, 3)) == 0:
            text = draw(st.sampled_from(["2", "0.5", "3", "1.25", "pi", "e"]))
            return text, {"pi": math.pi, "e": math.e}.get(text) or float(text)
        name = draw(st.sampled_from(sorted(env)))
        return name, env[name]
    op = draw(st.sampled_from(sorted(UNARY) + BINARY))
    if op in UNARY:
        written, guard, value = UNARY[op]
        text, v = guard(*draw(expressions(env, depth - 1)))
        result = written.format(text), value(v)
    else:
        a = draw(expressions(env, depth - 1))
        b = draw(expressions(env, depth - 1))
        result = _binary(op, a, b, draw(st.integers(0, 3)))
    return _shrink(*result, 6)


@st.composite
def programs(draw: st.DrawFn) -> tuple[str, dict[str, float], float]:
    """A program of a few statements (named intermediates, an alias), its point and its value."""
    names = draw(st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=3, unique=True))
    point = {n: draw(st.floats(-2.0, 2.0, allow_nan=False).map(lambda v: round(v, 3))) for n in names}
    env = dict(point)
    lines = []
    for k in range(draw(st.integers(0, 2))):
        text, v = draw(expressions(env, 2))
        lines.append(f"a{k} = {text}")
        env[f"a{k}"] = v
        if draw(st.booleans()):
            lines.append(f"b{k} = a{k}")
            env[f"b{k}"] = v
    text, v = draw(expressions(env, 3))
    lines.append(f"f = {text}")
    sep = draw(st.sampled_from(["; ", "\n"]))
    return sep.join(lines), point, v


def test_generator_covers_every_scalar_primitive() -> None:
    assert {name for name, prim in P.PRIMITIVES.items() if prim.elementwise} == GENERATED


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(programs())
def test_random_programs_agree_with_sympy_and_finite_differences(case: tuple[str, dict[str, float], float]) -> None:
    text, point, value = case
    graph = symgrad.parse(text)
    at = {name: point[name] for name in graph.variables}
    assume(at)  # some input is read
    trace = symgrad.evaluate(graph, at)
    assume(trace.dep[graph.output] and not constant_kink_gate(trace))  # these have their own tests below
    # the generator's arithmetic is symgrad's: every guard kept the program in its domain
    assert float(trace.value) == pytest.approx(value, rel=1e-9, abs=1e-12), text
    assert not trace.warnings and not trace.kinks, text
    assert all(np.isfinite(g).all() for g in trace.gradient.values())
    assume(all(abs(float(g)) < 1e4 for g in trace.gradient.values()))
    # the default budget: only a safety net, the work is bounded by size (a short one skipped it on a busy machine)
    sym, num = C.symbolic_check(graph, trace), C.numeric_check(trace)
    assert sym.status == "pass", (text, at, sym.reason)
    assert num.status == "pass", (text, at, verdicts(num))
    assert list(sym.inputs) == list(num.inputs) == list(at)
    # SymPy leaves d/dx sign(log(x)) unevaluated: that element is skipped (its own test is below)
    sym_ok = GOOD + (("skipped",) if {"sign", "step"} & {node.op for node in graph.nodes} else ())
    assert all(v in sym_ok for v in verdicts(sym).values()), (text, at, verdicts(sym))
    assert all(v in GOOD for v in verdicts(num).values()), (text, at, verdicts(num))
    assert not any(r.kink for r in num.inputs.values()), (text, at)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(programs())
def test_random_programs_fail_with_a_wrong_sine(case: tuple[str, dict[str, float], float]) -> None:
    """A wrong rule for sin is caught wherever it matters: no input can agree by accident."""
    text = case[0]
    graph = symgrad.parse(text)
    at = {name: case[1][name] for name in graph.variables}
    assume(at)
    right = symgrad.evaluate(graph, at)
    assume(right.dep[graph.output] and not constant_kink_gate(right))  # these have their own tests below
    with pytest.MonkeyPatch.context() as mp:
        sin_with_wrong_sign(mp)
        trace = symgrad.evaluate(graph, at)
        sym, num = C.symbolic_check(graph, trace), C.numeric_check(trace)
    changed = [v for v in at if abs(float(trace.gradient[v]) - float(right.gradient[v]))
               > 1e-3 * max(1.0, abs(float(right.gradient[v])))]
    assume(sym.status != "skipped")
    for v in changed:
        assert sym.inputs[v].verdict == "wrong", (text, at, verdicts(sym))
        assert num.inputs[v].verdict in ("wrong", "suspicious"), (text, at, verdicts(num))
    assert (sym.status == "fail") == bool(changed)


# ---------------------------------------------------------------------------
# the checks fail when backprop is wrong


def test_wrong_sine_rule_fails_both_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    sin_with_wrong_sign(monkeypatch)
    sym, num, trace = both("f(x, y) = sin(x) * y", x=0.5, y=2.0)
    assert float(trace.gradient["x"]) == pytest.approx(-2 * math.cos(0.5))  # the patch took
    for check in (sym, num):
        assert check.status == "fail" and check.failed
        assert check.inputs["x"].verdict == "wrong"
        assert check.inputs["x"].rel_error == pytest.approx(2.0, rel=1e-6)
        assert check.inputs["y"].verdict == "excellent"
    # the forked SymPy child computed the true derivative, not the patched one
    assert sym.inputs["x"].reference == pytest.approx([2 * math.cos(0.5)])
    agree, line = C.summary([sym, num])
    assert not agree
    assert line.startswith("checks: FAILED: backprop disagrees for x (symbolic, relative error 2.0e+00)")
    assert "y (" not in line


def test_wrong_matmul_vjp_fails_both_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    matmul_doubling_left(monkeypatch)
    sym, num, _ = both("f(W, x) = sum(W @ x)", W=[[1.0, 2.0], [3.0, 4.0]], x=[0.5, -1.5])
    for check in (sym, num):
        assert check.status == "fail"
        assert {k: v for k, v in verdicts(check).items() if k.startswith("W")} == {
            "W[0,0]": "wrong", "W[0,1]": "wrong", "W[1,0]": "wrong", "W[1,1]": "wrong"}
        assert verdicts(check)["x[0]"] == verdicts(check)["x[1]"] == "excellent"
    agree, line = C.summary([sym, num])
    assert not agree and "FAILED" in line and "W[0,0]" in line and "x[0]" not in line


def test_wrong_rule_makes_the_command_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    sin_with_wrong_sign(monkeypatch)
    result = run("f(x, y) = sin(x) * y", "--at", "x=0.5,y=2")
    assert result.exit_code == 1, result.stdout
    assert line_starting(result.stdout, "checks: ").startswith("checks: FAILED: backprop disagrees for x")
    assert check_row(result.stdout, "x").endswith("WRONG")
    assert check_row(result.stdout, "y").endswith("excellent")
    data = run_json("f(x, y) = sin(x) * y", "--at", "x=0.5,y=2", code=1)
    assert data["checks"]["agree"] is False
    assert data["checks"]["symbolic"]["status"] == data["checks"]["numeric"]["status"] == "fail"
    assert data["checks"]["symbolic"]["inputs"]["x"]["verdict"] == "wrong"
    assert data["checks"]["numeric"]["inputs"]["x"]["verdict"] == "wrong"
    assert "FAILED" in data["checks"]["summary"]


def test_wrong_matmul_makes_the_command_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    matmul_doubling_left(monkeypatch)
    result = run("f(W, x) = sum(W @ x)", "--at", "W=[[1,2],[3,4]],x=[0.5,-1.5]")
    assert result.exit_code == 1, result.stdout
    assert "FAILED" in line_starting(result.stdout, "checks: ")
    assert check_row(result.stdout, "W[0,1]").endswith("WRONG")


def test_no_check_does_not_fail_on_a_wrong_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    sin_with_wrong_sign(monkeypatch)
    assert run("f(x) = sin(x)", "--at", "x=0.5", "--no-check").exit_code == 0


def test_a_kink_elsewhere_does_not_excuse_a_wrong_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    """relu(x) at x = 0 is a kink for x only: the wrong gradient of sin(y) is still wrong."""
    sin_with_wrong_sign(monkeypatch)
    sym, num, _ = both("f(x, y) = relu(x) + sin(y)", x=0.0, y=0.5)
    assert sym.inputs["y"].verdict == "wrong", verdicts(sym)
    assert num.inputs["y"].verdict == "wrong", verdicts(num)
    assert num.inputs["y"].kink is False  # the step in y crosses no kink
    assert sym.status == num.status == "fail"
    assert run("f(x, y) = relu(x) + sin(y)", "--at", "x=0,y=0.5").exit_code == 1


@pytest.mark.parametrize(("text", "gradient"), [
    ("f(x) = 2", [0.0]),
    ("a = x; f = 2", [0.0]),
    ("f(x) = [1, 2]", [0.0, 0.0]),
])
def test_output_that_does_not_depend_on_the_input(text: str, gradient: list[float]) -> None:
    """A parameter nothing uses gets gradient 0, and the checks agree with that."""
    sym, num, trace = both(text, x=1.0)
    assert np.asarray(trace.gradient["x"]).reshape(-1).tolist() == gradient
    assert sym.inputs["x"].reference == gradient
    assert num.status == "pass", verdicts(num)
    assert num.inputs["x"].reference == gradient
    assert run(text, "--at", "x=1").exit_code == 0


@pytest.mark.parametrize("text", ["f(x) = x + abs(-2)", "f(x) = x * max(2, 3)", "f(x) = x * relu(pi)",
                                  "f(x) = x * norm([3, 4])"])
def test_gate_with_a_kink_applied_to_a_constant(text: str) -> None:
    sym, num, _ = both(text, x=1.0)
    assert_agree(sym, num, ["x"])
    assert not num.inputs["x"].kink
    assert run(text, "--at", "x=1").exit_code == 0


# ---------------------------------------------------------------------------
# the absolute floor


def test_exact_cancellation_is_not_wrong() -> None:
    sym, num, trace = both("f(x, y) = x*y - y*x", x=1.3, y=2.7)
    assert float(trace.gradient["x"]) == 0.0
    assert_agree(sym, num, ["x", "y"])


def test_rounding_noise_around_a_true_zero_is_not_wrong() -> None:
    # SymPy finds exactly 0 (the constants are read exactly); backprop rounds
    sym, num, trace = both("f(x) = (x + 0.1)^2 - x^2 - 0.2*x", x=1.3)
    assert abs(float(trace.gradient["x"])) < 1e-14
    assert sym.inputs["x"].reference == [0.0]
    assert_agree(sym, num, ["x"])


def test_tiny_gradient_among_large_values_is_judged_fairly() -> None:
    # f is about 1e8; the finite difference in y is swamped by rounding in f, but that is no error
    sym, num, trace = both("f(x, y) = x^2 + 1e-9*y", x=1e4, y=2.7)
    assert float(trace.gradient["y"]) == pytest.approx(1e-9)
    assert sym.inputs["y"].verdict == "excellent"
    # the differences cannot resolve 1e-9 against a function of 1e8: the numeric check says so, and
    # neither calls it zero nor wrong
    assert num.inputs["y"].verdict == "skipped" and "cannot resolve" in num.inputs["y"].reason
    assert num.status == "pass"
    assert C.summary([sym, num])[0]


def test_the_floor_does_not_hide_an_error_of_the_scale_of_the_computation(monkeypatch: pytest.MonkeyPatch) -> None:
    sin_with_wrong_sign(monkeypatch)
    sym, num, _ = both("f(x, y) = 1e6*y + sin(x)", x=1.0, y=3.0)
    assert sym.inputs["x"].verdict == num.inputs["x"].verdict == "wrong"


# ---------------------------------------------------------------------------
# kinks


def test_relu_at_its_kink() -> None:
    sym, num, trace = both("f(x) = relu(x) * 3", x=0.0)
    assert trace.kinks
    assert float(trace.gradient["x"]) == 0.0  # PyTorch's relu'(0) = 0
    for check in (sym, num):
        assert check.status == "pass"
        assert check.inputs["x"].verdict == "kink" and check.inputs["x"].kink
    assert sym.inputs["x"].reference == [1.5]  # SymPy's Heaviside(0) = 1/2
    assert C.summary([sym, num]) == (True, "checks: x at a kink, where the conventions differ: not a failure")


def test_relu_near_its_kink_is_judged_with_steps_relative_to_x() -> None:
    # x = 1e-9 is not on the kink; every step of 6e-6 down to 9.4e-8 straddles it, the steps relative to
    # |x| (6e-15) do not: relu' = 1 there
    sym, num, trace = both("f(x) = relu(x)", x=1e-9)
    assert not trace.kinks  # not on the kink itself
    assert sym.inputs["x"].verdict == "excellent"
    assert num.inputs["x"].verdict == "excellent" and not num.inputs["x"].kink
    assert num.inputs["x"].reference == pytest.approx([1.0], rel=1e-9)
    agree, line = C.summary([sym, num])
    assert agree and line.startswith("checks: backprop, symbolic and numeric agree for x")


@pytest.mark.parametrize(("x", "verdict"), [("0", "kink"), ("1e-9", "excellent"), ("-1e-9", "excellent")])
def test_relu_kink_exit_status_is_zero(x: str, verdict: str) -> None:
    result = run("f(x) = relu(x) * 3", "--at", f"x={x}")
    assert result.exit_code == 0, result.stdout
    assert check_row(result.stdout, "x").endswith(verdict)


def test_max_at_a_tie() -> None:
    sym, num, trace = both("f(x, y) = max(x, y)", x=1.0, y=1.0)
    assert trace.kinks
    assert {k: float(v) for k, v in trace.gradient.items()} == {"x": 0.5, "y": 0.5}
    for check in (sym, num):
        assert check.status == "pass"
        assert all(r.kink for r in check.inputs.values())
        assert all(v in (*GOOD, "kink") for v in verdicts(check).values())
    assert run("f(x, y) = max(x, y)", "--at", "x=1,y=1").exit_code == 0


def test_abs_at_zero() -> None:
    sym, num, trace = both("f(x) = abs(x) + 2*x", x=0.0)
    assert trace.kinks and float(trace.gradient["x"]) == 2.0
    for check in (sym, num):
        assert check.status == "pass"
        assert check.inputs["x"].kink
        assert check.inputs["x"].verdict in (*GOOD, "kink")
    assert run("f(x) = abs(x) + 2*x", "--at", "x=0").exit_code == 0


def test_derivative_through_sign_is_evaluated() -> None:
    """d/dx sign(log(x)) is 0 at x = 0.5; SymPy leaves Derivative(sign(log(x)), x) unevaluated,
    and the symbolic check must still give x a verdict rather than skip it."""
    sym, num, trace = both("f(x) = sign(log(x))", x=0.5)
    assert float(trace.gradient["x"]) == 0.0
    assert num.inputs["x"].verdict == "excellent"
    assert sym.inputs["x"].verdict == "excellent", (verdicts(sym), sym.derivatives)


def test_summary_mentions_an_element_a_check_could_not_evaluate() -> None:
    sym = C.Check("symbolic", "pass", inputs={"x": C.ElementCheck("skipped", None, False)})
    num = C.Check("numeric", "pass", inputs={"x": C.ElementCheck("excellent", 0.0, False)})
    agree, line = C.summary([sym, num])
    assert agree
    assert line.strip() != "checks:" and "x" in line, line
    result = run("f(x) = sign(log(x))", "--at", "x=0.5")
    assert result.exit_code == 0
    assert line_starting(result.stdout, "checks:").strip() != "checks:"


@pytest.mark.parametrize("gate", ["sign", "step"])
def test_sign_and_step_at_their_kink_give_a_verdict(gate: str) -> None:
    """SymPy's derivative there is a DiracDelta: no number, so a kink, not a crashed check."""
    sym, num, _ = both(f"f(x) = {gate}(x) * 2", x=0.0)
    assert sym.status == "pass", sym.reason
    assert sym.inputs["x"].verdict == "kink"
    assert num.inputs["x"].verdict == "kink"


def test_numeric_check_steps_over_a_kink_near_the_point() -> None:
    # the kink of relu(x - 1) is 1e-7 away: the step 6e-6 straddles it, h/64 = 9.4e-8 does not
    num = C.numeric_check(trace_of("f(x, y) = relu(x - 1) + y^2", x=1 + 1e-7, y=0.5))
    assert not num.inputs["x"].kink and num.inputs["x"].verdict == "excellent"
    assert num.inputs["x"].reference == pytest.approx([1.0], rel=1e-7)
    assert not num.inputs["y"].kink and num.inputs["y"].verdict == "excellent"
    assert num.status == "pass"
    # 1e-9 away, every step straddles it: a kink, with a reason that says so
    near = C.numeric_check(trace_of("f(x) = relu(x - 1)", x=1 + 1e-9)).inputs["x"]
    assert near.verdict == "kink" and near.kink and "a kink lies within" in near.reason


def test_numeric_check_notices_a_crossed_tie_in_max_over_elements() -> None:
    num = C.numeric_check(trace_of("f(a) = max(a)", a=[1.0, 1.0 + 1e-9, 0.0]))
    assert num.inputs["a[0]"].kink and num.inputs["a[1]"].kink
    assert not num.inputs["a[2]"].kink
    assert num.status == "pass"


@pytest.mark.parametrize(("text", "at"), [
    ("f(x) = relu(x)", {"x": 0.5}),
    ("f(x) = relu(x)", {"x": -1e-4}),
    ("f(x, y) = max(x, y) + abs(x - 2*y)", {"x": 1.0, "y": 1.1}),
    ("f(a) = max(a) + norm(a)", {"a": [1.0, 1.001, -2.0]}),
])
def test_numeric_check_reports_no_kink_away_from_kinks(text: str, at: dict[str, Any]) -> None:
    num = C.numeric_check(trace_of(text, **at))
    assert not any(r.kink for r in num.inputs.values()), verdicts(num)
    assert all(v in GOOD for v in verdicts(num).values())


# ---------------------------------------------------------------------------
# the time budget


def test_symbolic_check_stops_at_its_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """The time budget is a safety net: with the size limit lifted, a 40-level tower (whose
    derivative takes SymPy many seconds) is stopped at the budget and reported as skipped.
    SymPy's diff never returns here, so that the budget ends it however fast the machine is."""
    hang_in_child(monkeypatch, sympy, "diff")
    trace = trace_of(sigmoid_tower(40), x=0.3, y=0.2)
    sym = C.symbolic_check(trace.graph, trace, timeout=0.5, limit=10**12)
    assert sym.status == "skipped"
    assert "time budget of 0.5 s" in sym.reason
    assert sym.inputs == {}
    num = C.numeric_check(trace)
    assert num.status == "pass"
    agree, line = C.summary([sym, num])
    assert agree and line.endswith("symbolic check skipped: " + sym.reason)


def test_command_with_a_short_check_timeout_still_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    hang_in_child(monkeypatch, sympy, "diff")  # the budget ends the symbolic work, however fast the machine is
    args = (sigmoid_tower(40), "--at", "x=0.3,y=0.2", "--check-timeout", "0.5", "--symbolic-limit", "1000000000000")
    result = run(*args)
    assert result.exit_code == 0, result.stdout
    line = line_starting(result.stdout, "checks: ")
    assert "symbolic check skipped" in line and "time budget" in line
    data = run_json(*args)
    assert data["checks"]["symbolic"]["status"] == "skipped"
    assert "budget" in data["checks"]["symbolic"]["reason"]
    assert data["checks"]["numeric"]["status"] == "pass"


def test_very_deep_composition_is_skipped_by_its_size_not_crashed() -> None:
    result = run(sigmoid_tower(30), "--at", "x=0.3,y=0.2")
    assert result.exit_code == 0, result.stdout
    line = line_starting(result.stdout, "checks: ")
    assert "symbolic check skipped: the expression is too large for SymPy" in line
    assert "(--symbolic-limit raises it)" in line


def test_symbolic_gradient_alone_is_shown_or_skipped_by_size() -> None:
    """Without --at: the derivatives of a small tower are shown; a deep one is skipped by its size,
    with the reason, the same on every machine."""
    data = run_json(sigmoid_tower(3))
    assert set(data["derivatives"]) == {"x", "y"}
    # a derivative of more than 400 operations is not printed, and the note says so
    data = run_json(sigmoid_tower(8))
    assert data["derivatives"] == {}  # nor is one in the graph's names longer than 240 characters
    assert data["checks"]["symbolic"]["note"] == "2 derivatives not shown: more than 400 operations"
    result = run(sigmoid_tower(30))
    assert result.exit_code == 0
    assert "symbolic gradient skipped: the expression is too large for SymPy" in result.stdout


def test_check_timeout_option_is_validated() -> None:
    assert run("f(x) = x", "--at", "x=1", "--check-timeout", "0").exit_code == 2


# ---------------------------------------------------------------------------
# tensor inputs, element by element, and sampling


def test_tensor_inputs_are_checked_element_by_element() -> None:
    sym, num, _ = both("f(W, x) = sum((W @ x)^2)", W=W23, x=V3)
    labels = ["W[0,0]", "W[0,1]", "W[0,2]", "W[1,0]", "W[1,1]", "W[1,2]", "x[0]", "x[1]", "x[2]"]
    assert_agree(sym, num, labels)
    result = run("f(W, x) = sum((W @ x)^2)", "--at", "W=[[0.1,0.5,-0.2],[-0.3,0.8,0.4]],x=[0.2,0.4,-0.7]")
    assert result.exit_code == 0
    for label in labels:
        assert check_row(result.stdout, label).endswith("excellent")


def test_large_input_is_sampled_by_the_numeric_check() -> None:
    W = np.random.default_rng(0).normal(size=(40, 40))
    num = C.numeric_check(trace_of("f(W) = sum(sin(W))", W=W))
    assert num.note == "checked a random sample of 200 of 1600 input elements"
    assert len(num.inputs) == 200
    assert all(re.fullmatch(r"W\[\d+,\d+\]", label) for label in num.inputs)
    assert num.status == "pass" and all(v in GOOD for v in verdicts(num).values())
    g = np.cos(W)
    for label, r in num.inputs.items():
        i, j = map(int, label[2:-1].split(","))
        assert r.reference == pytest.approx([g[i, j]], rel=1e-7)


def test_large_input_is_sampled_by_the_symbolic_check() -> None:
    W = np.random.default_rng(1).normal(size=(9, 9))
    trace = trace_of("f(W) = sum(W^2) / 2", W=W)
    sym = C.symbolic_check(trace.graph, trace, timeout=20)
    assert sym.note == "checked a random sample of 64 of 81 input elements"
    assert len(sym.inputs) == 64 and sym.status == "pass"
    for label, r in sym.inputs.items():
        i, j = map(int, label[2:-1].split(","))
        assert r.reference == pytest.approx([W[i, j]], rel=1e-14)


def test_large_input_note_in_the_command(tmp_path: Path) -> None:
    W = np.random.default_rng(2).normal(size=(12, 12)).round(3)
    path = tmp_path / "w.json"
    path.write_text(json.dumps(W.tolist()))
    result = run("f(W) = sum(sin(W))", "--at", f"W=@{path}")
    assert result.exit_code == 0
    assert "note: symbolic: checked a random sample of 64 of 144 input elements" in result.stdout
    assert "... and 120 more input elements" in result.stdout
    data = run_json("f(W) = sum(sin(W))", "--at", f"W=@{path}")
    assert data["checks"]["symbolic"]["note"] == "checked a random sample of 64 of 144 input elements"
    assert len(data["checks"]["numeric"]["inputs"]) == 144


@pytest.mark.slow
def test_symbolic_check_of_a_large_input_finishes_in_the_default_budget() -> None:
    """64 sampled elements of a 60x60 sum of squares: building sum() in SymPy must not be quadratic
    in the number of elements (sympy.Add of 3600 terms takes a tenth of a second)."""
    W = np.random.default_rng(0).normal(size=(60, 60))
    trace = trace_of("f(W) = sum(W^2)", W=W)
    sym = C.symbolic_check(trace.graph, trace)  # the defaults, as on the command line
    assert sym.status == "pass", sym.reason
    # a large expression has fewer elements differentiated: as many as the size limit allows
    from symgrad import symbolic as S

    count = S.elements_within(S.cost(trace.graph, trace), S.SYMBOLIC_LIMIT)
    assert 1 <= count < 64
    assert sym.note == f"checked a random sample of {count} of 3600 input elements"


# ---------------------------------------------------------------------------
# the lecture's staged example


def test_staged_example_passes_both_checks() -> None:
    sym, num, trace = both(STAGED, x=3, y=-4)
    assert_agree(sym, num, ["x", "y"])
    assert float(trace.gradient["x"]) == pytest.approx(2.0596, abs=1e-3)
    assert float(trace.gradient["y"]) == pytest.approx(1.5922, abs=1e-3)
    assert set(sym.derivatives) == {"x", "y"}
    # in the graph's own names (n3 = sigmoid(x), n6 the denominator), meaning the gradient
    assert sym.derivatives == {"x": "(1 - 2*n2*n4/n6 - n2*n3*(1 - n3)/n6)/n6", "y": "(n1*(1 - n1) - 2*n2*n4/n6)/n6"}
    for v, text in sym.derivatives.items():
        assert float(formula_value(trace, text)) == pytest.approx(float(trace.gradient[v]), rel=1e-12)
    result = run(STAGED, "--at", "x=3,y=-4", "--check-timeout", "1")  # values first, derivatives after
    assert result.exit_code == 0
    assert line_starting(result.stdout, "checks: ").startswith(
        "checks: backprop, symbolic and numeric agree for x, y (largest relative error ")


# ---------------------------------------------------------------------------
# the command line: the symbolic gradient alone, named intermediates, --exact, --latex,
# --no-check, --eps, JSON


def test_without_a_point_the_symbolic_gradient_alone() -> None:
    result = run("f(x)=x^2")
    assert result.exit_code == 0
    assert "∂f/∂x = 2*x" in result.stdout.splitlines()
    assert "checks:" not in result.stdout
    assert "backprop" not in result.stdout
    assert "value" not in result.stdout  # no numbers: the graph has no value column
    data = run_json("f(x)=x^2")
    assert data["derivatives"] == {"x": "2*x"}
    assert "value" not in data and "gradient" not in data


def test_without_a_point_two_inputs() -> None:
    result = run("f(x, y) = x^2 * y + sin(x)")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-2:] == ["∂f/∂x = 2*x*y + cos(x)", "∂f/∂y = n1    where n1 = x^2"]


def test_without_a_point_and_without_checks_is_an_error() -> None:
    result = run("f(x)=x^2", "--no-check")
    assert result.exit_code == 2


def test_named_intermediate_in_a_derivative() -> None:
    result = run("q = x + y; f = q * z", "--at", "x=-2,y=5,z=-4")
    assert result.exit_code == 0
    assert "∂f/∂z = q    where q = x + y" in result.stdout.splitlines()
    assert "∂f/∂x = z" in result.stdout.splitlines()
    data = run_json("q = x + y; f = q * z", "--at", "x=-2,y=5,z=-4")
    assert data["checks"]["symbolic"]["derivatives"] == {"x": "z", "y": "z", "z": "q"}
    result = run("q = x + y; f = q * z")  # and without a point
    assert "∂f/∂z = q    where q = x + y" in result.stdout.splitlines()


def test_exact_values_of_the_headline_example() -> None:
    result = run("q = x + y; f = q * z", "--at", "x=-2,y=5,z=-4", "--exact")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "exact: f = -12, ∂f/∂x = -4, ∂f/∂y = -4, ∂f/∂z = 3"
    data = run_json("q = x + y; f = q * z", "--at", "x=-2,y=5,z=-4", "--exact")
    assert data["exact"] == {"f": "-12", "x": "-4", "y": "-4", "z": "3"}


def test_exact_rational_derivative() -> None:
    result = run("f(x) = x/(1+x)", "--at", "x=1/3", "--exact")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "exact: f = 1/4, ∂f/∂x = 9/16"
    data = run_json("f(x) = x/(1+x)", "--at", "x=1/3", "--exact")
    assert data["exact"] == {"f": "1/4", "x": "9/16"}


def test_exact_decimal_is_read_as_a_fraction() -> None:
    data = run_json("f(x) = x*x", "--at", "x=0.1", "--exact")
    assert data["exact"] == {"f": "1/100", "x": "1/5"}


def test_exact_value_with_e() -> None:
    data = run_json("f(x) = sigmoid(x)", "--at", "x=1", "--exact")
    value = data["exact"]["f"]
    assert re.search(r"\be\b", value), value
    assert "E" not in value and "exp" not in value
    assert "E" not in data["exact"]["x"]
    result = run("f(x) = sigmoid(x)", "--at", "x=1", "--exact")
    last = result.stdout.splitlines()[-1]
    assert last.startswith("exact: f = ") and "E" not in last


def test_exact_is_absent_without_the_option() -> None:
    data = run_json("q = x + y; f = q * z", "--at", "x=-2,y=5,z=-4")
    assert "exact" not in data
    result = run("q = x + y; f = q * z", "--at", "x=-2,y=5,z=-4")
    assert "exact:" not in result.stdout


def test_latex() -> None:
    result = run("f(x, y) = sin(x) * y", "--at", "x=0.5,y=2", "--latex")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "latex: \\frac{\\partial f}{\\partial x} = y \\cos{\\left(x \\right)}" in lines
    assert "latex: \\frac{\\partial f}{\\partial y} = n_{1}" in lines  # n1 = sin(x), a node of the graph
    data = run_json("f(x, y) = sin(x) * y", "--at", "x=0.5,y=2", "--latex")
    assert data["checks"]["symbolic"]["latex"] == {"x": "y \\cos{\\left(x \\right)}", "y": "n_{1}"}
    assert "latex" not in run_json("f(x, y) = sin(x) * y", "--at", "x=0.5,y=2")["checks"]["symbolic"]
    assert "latex:" not in run("f(x, y) = sin(x) * y", "--at", "x=0.5,y=2").stdout


def test_latex_without_a_point() -> None:
    result = run("f(x)=x^2", "--latex")
    assert "latex: \\frac{\\partial f}{\\partial x} = 2 x" in result.stdout.splitlines()


def test_no_check_removes_the_checks() -> None:
    result = run("f(x, y) = sin(x) * y", "--at", "x=0.5,y=2", "--no-check")
    assert result.exit_code == 0
    assert "checks:" not in result.stdout
    assert "symbolic" not in result.stdout and "∂f/∂x = y*cos(x)" not in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("f = ")
    data = run_json("f(x, y) = sin(x) * y", "--at", "x=0.5,y=2", "--no-check")
    assert "checks" not in data and "exact" not in data
    assert data["gradient"]["y"] == pytest.approx(math.sin(0.5))


def test_eps_changes_the_step() -> None:
    default = C.numeric_check(trace_of("f(x) = exp(x)", x=1.0))
    wide = C.numeric_check(trace_of("f(x) = exp(x)", x=1.0), eps=1e-2)
    assert default.note == ""
    assert wide.note == "step 0.01 times max(1, |x|)"
    assert default.inputs["x"].verdict == "excellent"
    # the centred difference of exp has relative error h^2/6: 1.7e-5 at h = 0.01, above "fine", so
    # the ladder of smaller steps speaks: at h/4 it is h^2/96 = 1.04e-6
    assert wide.inputs["x"].rel_error == pytest.approx(1e-4 / 96, rel=1e-2)
    assert wide.inputs["x"].verdict == "fine" and wide.status == "pass"
    result = run("f(x) = exp(x)", "--at", "x=1", "--eps", "1e-2")
    assert result.exit_code == 0
    assert "note: numeric: step 0.01 times max(1, |x|)" in result.stdout.splitlines()
    data = run_json("f(x) = exp(x)", "--at", "x=1", "--eps", "1e-3")
    assert data["checks"]["numeric"]["note"] == "step 0.001 times max(1, |x|)"
    # h^2/6 = 1.7e-7 at h = 1e-3
    assert data["checks"]["numeric"]["inputs"]["x"]["verdict"] == "fine"


def test_eps_step_scales_with_the_input() -> None:
    # relative to max(1, |x|): at x = 100 the step is 1, and the difference of x^3 is off by h^2 = 1,
    # relative error 3.3e-5; the next step, 1/4, is off by 1/16 (2.1e-6: fine), and gives the estimate
    num = C.numeric_check(trace_of("f(x) = x^3", x=100.0), eps=1e-2)
    assert num.inputs["x"].reference == pytest.approx([3e4 + 1 / 16], rel=1e-12)
    assert num.inputs["x"].verdict == "fine"


def test_eps_option_is_validated() -> None:
    assert run("f(x) = x", "--at", "x=1", "--eps", "0").exit_code == 2


def test_json_checks_structure() -> None:
    data = run_json("f(W, x) = sum(W @ x)", "--at", "W=[[1,2],[3,4]],x=[0.5,-1.5]")
    checks = data["checks"]
    assert set(checks) == {"symbolic", "numeric", "agree", "summary"}
    assert checks["agree"] is True
    assert isinstance(checks["summary"], str) and checks["summary"].startswith("checks: ")
    labels = ["W[0,0]", "W[0,1]", "W[1,0]", "W[1,1]", "x[0]", "x[1]"]
    for kind in ("symbolic", "numeric"):
        c = checks[kind]
        assert {"status", "reason", "derivatives", "inputs"} <= set(c)
        assert c["status"] == "pass" and c["reason"] == ""
        assert list(c["inputs"]) == labels
        for label, r in c["inputs"].items():
            assert set(r) == {"verdict", "rel_error", "abs_error", "kink", "value", "reason", "text", "sides"}
            assert r["verdict"] in GOOD and r["kink"] is False
            assert isinstance(r["rel_error"], float | int) and r["rel_error"] < 1e-7
            assert isinstance(r["value"], list) and len(r["value"]) == 1
            assert r["value"][0] == pytest.approx(data["gradient"][label[0]][int(label[2])]
                                                  if label[0] == "x" else
                                                  data["gradient"]["W"][int(label[2])][int(label[4])])
    # one derivative per input, in matrix form (the column sums of W: W.T @ ones)
    assert checks["symbolic"]["derivatives"] == {"W": "outer(ones_like(n1), x)", "x": "W.T @ ones_like(n1)"}
    assert checks["numeric"]["derivatives"] == {}


def test_json_checks_of_a_jacobian() -> None:
    data = run_json("f(a) = softmax(a)", "--at", "a=[0.2,0.4,-0.7]")
    for kind in ("symbolic", "numeric"):
        for r in data["checks"][kind]["inputs"].values():
            assert len(r["value"]) == 3  # one entry per output element
    # a Jacobian has no single derivative to print per input
    assert data["checks"]["symbolic"]["derivatives"] == {}


def test_json_checks_at_a_kink() -> None:
    data = run_json("f(x) = relu(x) * 3", "--at", "x=0")
    for kind in ("symbolic", "numeric"):
        r = data["checks"][kind]["inputs"]["x"]
        assert r["verdict"] == "kink" and r["kink"] is True
    assert data["checks"]["agree"] is True
    assert data["checks"]["symbolic"]["derivatives"] == {"x": "3*step(x)"}  # in symgrad's language


def test_wrt_limits_the_checks() -> None:
    data = run_json("f(x, y, z) = x*y*z", "--at", "x=1,y=2,z=3", "--wrt", "y")
    for kind in ("symbolic", "numeric"):
        assert list(data["checks"][kind]["inputs"]) == ["y"]
    assert data["checks"]["symbolic"]["derivatives"] == {"y": "x*z"}


# ---------------------------------------------------------------------------
# nan and inf at the point


@pytest.mark.parametrize(("text", "at", "verdict"), [
    ("f(x) = log(x)", "x=-1", "undefined"),  # log of a negative number: nan in the mathematics
    ("f(x) = exp(x)", "x=1000", "unstable"),  # e^1000 = 1.97e434 overflows float64
    ("f(x) = 1/x", "x=0", "infinite"),  # a pole: -1/x^2 is -inf from both sides
    ("f(x, y) = sqrt(x) * y", "x=-4,y=1", "undefined"),
])
def test_nan_or_inf_at_the_point_gets_its_own_verdict(text: str, at: str, verdict: str) -> None:
    result = run(text, "--at", at)
    assert result.exit_code == 0, result.stdout
    assert "warning:" in result.stderr
    line = line_starting(result.stdout, "checks: ")
    assert "FAILED" not in line and "skipped" not in line
    data = run_json(text, "--at", at)
    found = worst([r["verdict"] for kind in ("symbolic", "numeric")
                     for r in data["checks"][kind]["inputs"].values()])
    assert found == verdict, data["checks"]
    assert data["checks"]["agree"] is True


def test_nan_with_strict_is_an_error_not_a_check() -> None:
    assert run("f(x) = log(x)", "--at", "x=-1", "--strict").exit_code == 2


# ---------------------------------------------------------------------------
# SymPy stays off the plain gradient path


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


def test_gradient_api_does_not_import_sympy() -> None:
    done = _python("-c", "import symgrad, sys; symgrad.gradient('x*y', x=1, y=2); print('sympy' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def _imports(*argv: str) -> tuple[int, str]:
    done = _python("-X", "importtime", "-m", "symgrad", *argv)
    return done.returncode, done.stderr


def test_command_without_checks_does_not_import_sympy() -> None:
    code, imports = _imports("x*y", "--at", "x=1,y=2", "--no-check")
    assert code == 0
    assert "import time:" in imports  # -X importtime did report
    assert not re.search(r"\|\s*sympy\b", imports)
    # the same command with the checks does import it: the test can see it
    code, imports = _imports("x*y", "--at", "x=1,y=2")
    assert code == 0
    assert re.search(r"\|\s*sympy\b", imports)


def test_json_without_checks_does_not_import_sympy() -> None:
    code, imports = _imports("x*y", "--at", "x=1,y=2", "--no-check", "--format", "json", "--steps")
    assert code == 0
    assert not re.search(r"\|\s*sympy\b", imports)


def test_an_infinite_input_is_not_a_wrong_gradient() -> None:
    # at w0 = 1e400 (inf), sigmoid(w0 * x0) has d/dw0 = 0 (backprop and SymPy agree), but w0 ± h is inf again and the
    # finite differences were nan: the check said WRONG, and with --points --check the row failed
    data = run_json("f(w0,x0) = sigmoid(w0*x0)", "--at", "w0=1e400,x0=2", code=0)
    numeric = data["checks"]["numeric"]["inputs"]["w0"]
    assert numeric["verdict"] == "skipped" and "the input is infinite here" in numeric["reason"]
    assert data["checks"]["symbolic"]["inputs"]["w0"]["verdict"] == "excellent"
    rows = run("f(w0,x0) = sigmoid(w0*x0)", "--points", "-", "--check", input="w0,x0\n1e400,2\n1,2\n", code=0)
    assert [line.split(",")[5] for line in rows.stdout.splitlines()[1:]] == ["skipped", "excellent"]
