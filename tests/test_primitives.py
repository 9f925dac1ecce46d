"""Every primitive in symgrad's table, checked three independent ways.

For each built-in function and operator the gradient symgrad backpropagates is
compared with (1) a derivative derived by hand and written here with the math
module, (2) SymPy's derivative of the table's own SymPy form, and (3) centred
finite differences of symgrad's forward pass.  Then: the lecture's sigmoid
example, the kink conventions (PyTorch's), the edges of pow, numerical
stability, domain errors (warnings, never exceptions), the table's own
consistency, the grouped gates' expansions, and property-based tests.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pytest
import sympy
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from support import close, finite_differences, trace_of

import symgrad
from symgrad import primitives as P

HAND_RTOL = 1e-9  # hand-derived and SymPy derivatives
FD_RTOL = 1e-6  # centred finite differences


@cache
def graph_of(text: str, expand: bool = False) -> symgrad.Graph:
    return symgrad.parse(text, expand=expand)


def run(text: str, expand: bool = False, **at: float) -> symgrad.Trace:
    return trace_of(graph_of(text, expand), **at)  # no NumPy RuntimeWarning may escape the engine


def value_of(text: str, **at: float) -> float:
    return float(run(text, **at).value)


def grads_of(trace: symgrad.Trace) -> dict[str, float]:
    return {k: float(v) for k, v in trace.gradient.items()}


def node_ids(graph: symgrad.Graph, op: str) -> list[int]:
    return [i for i, n in enumerate(graph.nodes) if n.op == op]


def named(graph: symgrad.Graph, name: str) -> int:
    return next(i for i, n in enumerate(graph.nodes) if n.name == name)


# ---- the cases: each primitive as a user writes it, with a hand-derived derivative ----------------


@dataclass(frozen=True)
class Case:
    prim: str  # the table entry this exercises
    text: str  # the program, as a user writes it
    args: tuple[str | float, ...]  # the primitive's arguments: a variable's name or a constant
    value: Callable[..., float]  # forward, with the math module
    grad: Callable[..., tuple[float, ...]]  # hand-derived partials, one per variable
    points: tuple[tuple[float, ...], ...]

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(a for a in self.args if isinstance(a, str))

    def at(self, point: tuple[float, ...]) -> dict[str, float]:
        return dict(zip(self.variables, point))


def _sigma(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _heaviside(x: float) -> float:
    return 1.0 if x > 0 else 0.0


GENERAL = ((-2.3,), (-0.5,), (0.0,), (0.8,), (3.1,))
POSITIVE = ((0.05,), (0.6,), (1.0,), (2.5,), (40.0,))
TRIG = ((-1.2,), (-0.3,), (0.0,), (0.7,), (1.4,))
UNIT = ((-0.9,), (-0.3,), (0.0,), (0.45,), (0.8,))
NONZERO = ((-2.5,), (-0.3,), (0.4,), (3.0,))
PAIRS = ((0.5, -1.25), (3.0, 2.0), (-2.5, 0.75), (1.75, 4.0))
POW_PAIRS = ((1.5, 2.5), (0.7, -1.3), (2.0, 3.0), (3.2, 0.5), (0.25, 0.0))
UNTIED = ((1.5, -2.0), (-0.5, 0.25), (3.0, 3.5), (-4.0, -6.0))


def _pow_grad(a: float, b: float) -> tuple[float, float]:
    return b * a ** (b - 1), a**b * math.log(a)


def _one(name: str, text: str, value: Callable[[float], float], grad: Callable[[float], float],
         points: tuple[tuple[float, ...], ...] = GENERAL) -> Case:
    return Case(name, text, ("x",), value, lambda x: (grad(x),), points)


CASES: list[Case] = [
    # Operators, in both arguments.
    Case("add", "f(a, b) = a + b", ("a", "b"), lambda a, b: a + b, lambda a, b: (1.0, 1.0), PAIRS),
    Case("sub", "f(a, b) = a - b", ("a", "b"), lambda a, b: a - b, lambda a, b: (1.0, -1.0), PAIRS),
    Case("mul", "f(a, b) = a * b", ("a", "b"), lambda a, b: a * b, lambda a, b: (b, a), PAIRS),
    Case("div", "f(a, b) = a / b", ("a", "b"), lambda a, b: a / b, lambda a, b: (1 / b, -a / b**2), PAIRS),
    _one("neg", "f(x) = -x", lambda x: -x, lambda x: -1.0),
    Case("pow", "f(a, b) = a ^ b", ("a", "b"), lambda a, b: a**b, _pow_grad, POW_PAIRS),
    Case("pow", "f(a, b) = a ** b", ("a", "b"), lambda a, b: a**b, _pow_grad, POW_PAIRS),
    Case("pow", "f(a, b) = pow(a, b)", ("a", "b"), lambda a, b: a**b, _pow_grad, POW_PAIRS),
    Case("pow", "f(a) = a ^ 3", ("a", 3), lambda a: a**3, lambda a: (3 * a**2,), ((-1.5,), (0.5,), (2.0,))),
    Case("pow", "f(x) = 2 ^ x", (2, "x"), lambda x: 2.0**x, lambda x: (2.0**x * math.log(2),), GENERAL),
    # Functions of one argument.
    _one("exp", "f(x) = exp(x)", math.exp, math.exp),
    _one("log", "f(x) = log(x)", math.log, lambda x: 1 / x, POSITIVE),
    _one("log", "f(x) = ln(x)", math.log, lambda x: 1 / x, POSITIVE),
    _one("log2", "f(x) = log2(x)", math.log2, lambda x: 1 / (x * math.log(2)), POSITIVE),
    _one("log10", "f(x) = log10(x)", math.log10, lambda x: 1 / (x * math.log(10)), POSITIVE),
    _one("sqrt", "f(x) = sqrt(x)", math.sqrt, lambda x: 1 / (2 * math.sqrt(x)),
         ((0.04,), (0.5,), (2.0,), (9.0,), (150.0,))),
    _one("sin", "f(x) = sin(x)", math.sin, math.cos, TRIG),
    _one("cos", "f(x) = cos(x)", math.cos, lambda x: -math.sin(x), TRIG),
    _one("tan", "f(x) = tan(x)", math.tan, lambda x: 1 / math.cos(x) ** 2, TRIG),
    _one("asin", "f(x) = asin(x)", math.asin, lambda x: 1 / math.sqrt(1 - x * x), UNIT),
    _one("acos", "f(x) = acos(x)", math.acos, lambda x: -1 / math.sqrt(1 - x * x), UNIT),
    _one("atan", "f(x) = atan(x)", math.atan, lambda x: 1 / (1 + x * x),
         ((-4.0,), (-0.6,), (0.0,), (1.1,), (7.0,))),
    _one("sinh", "f(x) = sinh(x)", math.sinh, math.cosh),
    _one("cosh", "f(x) = cosh(x)", math.cosh, math.sinh),
    _one("tanh", "f(x) = tanh(x)", math.tanh, lambda x: 1 / math.cosh(x) ** 2),
    _one("sigmoid", "f(x) = sigmoid(x)", _sigma, lambda x: math.exp(-x) / (1 + math.exp(-x)) ** 2,
         ((-6.0,), (-1.2,), (0.0,), (0.7,), (5.0,))),
    _one("sigmoid", "f(x) = σ(x)", _sigma, lambda x: math.exp(-x) / (1 + math.exp(-x)) ** 2,
         ((-6.0,), (0.0,), (0.7,))),
    _one("softplus", "f(x) = softplus(x)", lambda x: math.log1p(math.exp(x)), lambda x: 1 / (1 + math.exp(-x)),
         ((-6.0,), (-1.2,), (0.0,), (0.7,), (5.0,))),
    # Gates with kinks, away from the kinks.
    _one("relu", "f(x) = relu(x)", lambda x: max(x, 0.0), _heaviside, NONZERO),
    _one("abs", "f(x) = abs(x)", abs, lambda x: math.copysign(1.0, x), NONZERO),
    _one("sign", "f(x) = sign(x)", lambda x: math.copysign(1.0, x), lambda x: 0.0, NONZERO),
    _one("step", "f(x) = step(x)", _heaviside, lambda x: 0.0, NONZERO),
    _one("ones_like", "f(x) = ones_like(x)", lambda x: 1.0, lambda x: 0.0, NONZERO),
    Case("max", "f(a, b) = max(a, b)", ("a", "b"), max,
         lambda a, b: (_heaviside(a - b), _heaviside(b - a)), UNTIED),
    Case("min", "f(a, b) = min(a, b)", ("a", "b"), min,
         lambda a, b: (_heaviside(b - a), _heaviside(a - b)), UNTIED),
    # The angle of (x, y) and log(1 + x), by hand: d/dy atan2 = x/(x²+y²), d/dx = -y/(x²+y²); log1p' = 1/(1+x).
    Case("atan2", "f(y, x) = atan2(y, x)", ("y", "x"), math.atan2,
         lambda y, x: (x / (x * x + y * y), -y / (x * x + y * y)), ((1.0, -2.0), (-0.5, 0.3), (2.0, 0.0))),
    _one("log1p", "f(x) = log1p(x)", math.log1p, lambda x: 1 / (1 + x), ((-0.5,), (1e-9,), (3.0,))),
    # The identity that names an input.
    _one("id", "f(x) = x", lambda x: x, lambda x: 1.0),
]

CASE_POINTS = [pytest.param(c, p, id=f"{c.text.split('= ', 1)[1]}@{','.join(map(str, p))}")
               for c in CASES for p in c.points]


def sympy_expression(case: Case) -> tuple[sympy.Expr, list[sympy.Symbol]]:
    """The primitive's SymPy form, built from the table entry (never from text).

    Symbols are declared real: SymPy cannot differentiate Abs or sign of a
    complex symbol into something it can evaluate at a number.
    """
    symbols = {v: sympy.Symbol(v, real=True) for v in case.variables}
    args = [symbols[a] if isinstance(a, str) else sympy.sympify(a) for a in case.args]
    return P.PRIMITIVES[case.prim].sympy(sympy, *args), [symbols[v] for v in case.variables]


def test_every_builtin_function_and_operator_has_cases() -> None:
    covered = {c.prim for c in CASES}
    wanted = {"add", "sub", "mul", "div", "neg", "pow", "exp", "log", "log2", "log10", "sqrt", "sin", "cos",
              "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "sigmoid", "softplus", "relu", "abs",
              "sign", "step", "max", "min"}
    assert wanted <= set(P.PRIMITIVES)
    scalar_names = {p.called_as for p in P.PRIMITIVES.values() if p.callable and p.elementwise}
    assert scalar_names <= covered
    assert {p.name for p in P.PRIMITIVES.values() if p.operator and p.elementwise} <= covered
    assert wanted <= covered
    for alias, target in P.FUNCTION_ALIASES.items():
        assert P.function(alias) is P.PRIMITIVES[target]
        assert any(f"{alias}(" in c.text for c in CASES), alias


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.text)
def test_text_builds_the_intended_primitive(case: Case) -> None:
    graph = graph_of(case.text)
    assert node_ids(graph, case.prim), [n.op for n in graph.nodes]
    assert graph.variables == list(case.variables)


@pytest.mark.parametrize(("case", "point"), CASE_POINTS)
def test_value_matches_math(case: Case, point: tuple[float, ...]) -> None:
    trace = run(case.text, **case.at(point))
    close(trace.value, case.value(*point), rtol=1e-12, atol=1e-15)
    assert trace.warnings == []
    assert trace.kinks == {}


@pytest.mark.parametrize(("case", "point"), CASE_POINTS)
def test_gradient_matches_hand_derivation(case: Case, point: tuple[float, ...]) -> None:
    got = grads_of(run(case.text, **case.at(point)))
    expected = dict(zip(case.variables, case.grad(*point)))
    assert got.keys() == expected.keys()
    for name in expected:
        close(got[name], expected[name], rtol=HAND_RTOL)


@pytest.mark.parametrize(("case", "point"), CASE_POINTS)
def test_gradient_matches_sympy(case: Case, point: tuple[float, ...]) -> None:
    expr, symbols = sympy_expression(case)
    subs = dict(zip(symbols, point))
    got = grads_of(run(case.text, **case.at(point)))
    for name, sym in zip(case.variables, symbols):
        expected = float(sympy.diff(expr, sym).subs(subs).evalf(30))
        close(got[name], expected, rtol=HAND_RTOL)


@pytest.mark.parametrize(("case", "point"), CASE_POINTS)
def test_sympy_form_matches_forward(case: Case, point: tuple[float, ...]) -> None:
    expr, symbols = sympy_expression(case)
    expected = float(expr.subs(dict(zip(symbols, point))).evalf(30))
    close(run(case.text, **case.at(point)).value, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("case", "point"), CASE_POINTS)
def test_gradient_matches_finite_differences(case: Case, point: tuple[float, ...]) -> None:
    at = case.at(point)
    got = grads_of(run(case.text, **at))
    numeric = finite_differences(graph_of(case.text), at)
    for name in at:
        close(got[name], numeric[name], rtol=FD_RTOL, atol=1e-8)


@pytest.mark.parametrize(("text", "at", "expected"), [
    ("f(x) = x * x", {"x": -1.5}, {"x": -3.0}),
    ("f(x) = x / x", {"x": 2.5}, {"x": 0.0}),
    ("f(x) = x - x", {"x": 2.5}, {"x": 0.0}),
    ("f(x) = x + x", {"x": 2.5}, {"x": 2.0}),
    ("f(x) = x ^ x", {"x": 1.7}, {"x": 1.7**1.7 * (math.log(1.7) + 1)}),
    ("f(x) = pow(x, x)", {"x": 0.3}, {"x": 0.3**0.3 * (math.log(0.3) + 1)}),
    ("f(x) = max(x, 2 * x)", {"x": 1.5}, {"x": 2.0}),
    ("f(x) = min(x, 2 * x)", {"x": 1.5}, {"x": 1.0}),
])
def test_one_variable_in_both_arguments(text: str, at: dict[str, float], expected: dict[str, float]) -> None:
    got = grads_of(run(text, **at))
    for name, want in expected.items():
        close(got[name], want, rtol=HAND_RTOL)


# ---- the lecture's sigmoid example -------------------------------------------------------------------

LECTURE_POINT = {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}
LECTURE_TEXTS = [
    "f(w0, x0, w1, x1, w2) = 1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))",
    "f(w0, x0, w1, x1, w2) = sigmoid(w0*x0 + w1*x1 + w2)",
    "f(w0, x0, w1, x1, w2) = σ(w0*x0 + w1*x1 + w2)",
    "dot = w0*x0 + w1*x1 + w2\nf = 1 / (1 + exp(-dot))",
]


def lecture_by_hand() -> tuple[float, dict[str, float]]:
    p = LECTURE_POINT
    z = p["w0"] * p["x0"] + p["w1"] * p["x1"] + p["w2"]  # = 1
    s = 1 / (1 + math.exp(-z))
    ds = s * (1 - s)  # dσ/dz = σ(1 - σ)
    return s, {"w0": p["x0"] * ds, "x0": p["w0"] * ds, "w1": p["x1"] * ds, "x1": p["w1"] * ds, "w2": ds}


@pytest.mark.parametrize("expand", [False, True], ids=["grouped", "expanded"])
@pytest.mark.parametrize("text", LECTURE_TEXTS)
def test_lecture_sigmoid_example(text: str, expand: bool) -> None:
    trace = run(text, expand=expand, **LECTURE_POINT)
    got = grads_of(trace)
    assert list(got) == ["w0", "x0", "w1", "x1", "w2"]
    # The numbers on the slides.
    assert float(trace.value) == pytest.approx(0.7311, abs=5e-5)
    slides = {"w0": -0.1966, "x0": 0.3932, "w1": -0.3932, "x1": -0.5898, "w2": 0.1966}
    for name, want in slides.items():
        assert got[name] == pytest.approx(want, abs=5e-5), name
    # And exactly, derived by hand.
    value, grads = lecture_by_hand()
    close(trace.value, value, rtol=HAND_RTOL)
    for name, want in grads.items():
        close(got[name], want, rtol=HAND_RTOL)
    assert trace.warnings == [] and trace.kinks == {}


def test_lecture_example_with_gradient_helper() -> None:
    value, grads = symgrad.gradient(LECTURE_TEXTS[1], **LECTURE_POINT)
    want_value, want = lecture_by_hand()
    assert value == pytest.approx(want_value, rel=HAND_RTOL)
    assert grads == pytest.approx(want, rel=HAND_RTOL)


def test_lecture_sigmoid_is_one_gate_unless_expanded() -> None:
    grouped = graph_of(LECTURE_TEXTS[1])
    expanded = graph_of(LECTURE_TEXTS[1], expand=True)
    assert len(node_ids(grouped, "sigmoid")) == 1
    assert node_ids(expanded, "sigmoid") == []
    assert node_ids(expanded, "exp") and node_ids(expanded, "div")


# ---- kinks: PyTorch's conventions ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value"), [("relu", 0.0), ("abs", 0.0), ("sign", 0.0), ("step", 0.0)])
def test_one_argument_kink_at_zero(name: str, value: float) -> None:
    text = f"f(x) = {name}(x)"
    trace = run(text, x=0.0)
    assert float(trace.value) == value
    assert float(trace.gradient["x"]) == 0.0
    graph = trace.graph
    (node,) = node_ids(graph, name)
    assert trace.kinks == {node: P.PRIMITIVES[name].kink_text}
    assert trace.warnings == []


@pytest.mark.parametrize("name", ["relu", "abs", "sign", "step"])
@pytest.mark.parametrize("x", [-3.0, -1e-3, 1e-3, 2.0])
def test_one_argument_kink_gates_away_from_zero_are_not_flagged(name: str, x: float) -> None:
    assert run(f"f(x) = {name}(x)", x=x).kinks == {}


@pytest.mark.parametrize("x", [-7.5, -1e-9, 0.0, 1e-9, 0.5, 12.0])
def test_sign_and_step_have_zero_gradient_everywhere(x: float) -> None:
    for name in ("sign", "step"):
        assert float(run(f"f(x) = {name}(x)", x=x).gradient["x"]) == 0.0
    # In a product the other factor alone carries the gradient: d(x sign x)/dx = sign x.
    assert float(run("f(x) = x * sign(x)", x=x).gradient["x"]) == float(np.sign(x))
    assert float(run("f(x) = x * step(x)", x=x).gradient["x"]) == (1.0 if x > 0 else 0.0)


def test_step_and_sign_values() -> None:
    assert value_of("f(x) = step(x)", x=0.0) == 0.0
    assert value_of("f(x) = step(x)", x=-0.0) == 0.0
    assert value_of("f(x) = step(x)", x=1e-300) == 1.0
    assert value_of("f(x) = sign(x)", x=0.0) == 0.0
    assert value_of("f(x) = relu(x)", x=0.0) == 0.0


@pytest.mark.parametrize("name", ["max", "min"])
def test_tie_sends_half_to_each_input(name: str) -> None:
    trace = run(f"f(a, b) = {name}(a, b)", a=1.25, b=1.25)
    assert float(trace.value) == 1.25
    assert grads_of(trace) == {"a": 0.5, "b": 0.5}
    (node,) = node_ids(trace.graph, name)
    assert trace.kinks == {node: P.PRIMITIVES[name].kink_text}
    # The halves are of the upstream gradient.
    assert grads_of(run(f"f(a, b) = 3 * {name}(a, b)", a=-2.0, b=-2.0)) == {"a": 1.5, "b": 1.5}
    # The same input twice gets both halves.
    assert grads_of(run(f"f(a) = {name}(a, a)", a=4.0)) == {"a": 1.0}


@pytest.mark.parametrize("name", ["max", "min"])
def test_untied_max_min_not_flagged(name: str) -> None:
    assert run(f"f(a, b) = {name}(a, b)", a=1.0, b=1.0 + 1e-12).kinks == {}


def test_only_the_node_at_a_kink_is_flagged() -> None:
    text = "f(x, y) = relu(x) + abs(y) + max(x, y) + sign(y) * step(y)"
    trace = run(text, x=0.0, y=2.0)
    graph = trace.graph
    assert trace.kinks == {node_ids(graph, "relu")[0]: "relu'(0) = 0"}
    assert grads_of(trace) == {"x": 0.0, "y": 2.0}
    trace = run(text, x=1.0, y=-1.0)
    assert trace.kinks == {}
    assert grads_of(trace) == {"x": 2.0, "y": -1.0}


# ---- pow at its edges ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["f(x) = x^0", "f(x) = x**0", "f(x) = pow(x, 0)", "f(x) = (3*x)^0"])
def test_x_to_the_zero_at_zero(text: str) -> None:
    trace = run(text, x=0.0)
    assert float(trace.value) == 1.0
    assert float(trace.gradient["x"]) == 0.0  # not nan, not inf
    assert trace.warnings == []


def test_base_gradient_is_zero_when_exponent_is_zero() -> None:
    trace = run("f(a, b) = a ^ b", a=0.0, b=0.0)
    assert float(trace.value) == 1.0
    assert float(trace.gradient["a"]) == 0.0


@pytest.mark.parametrize("b", [0.5, 1.0, 2.0, 3.0, 7.25])
def test_exponent_gradient_is_zero_where_the_power_is_zero(b: float) -> None:
    trace = run("f(a, b) = a ^ b", a=0.0, b=b)
    assert float(trace.value) == 0.0
    assert float(trace.gradient["b"]) == 0.0  # a^b log a = 0 * -inf, taken as 0
    assert float(run("f(x) = 0 ^ x", x=b).gradient["x"]) == 0.0


@pytest.mark.parametrize(("b", "da"), [(1.0, 1.0), (2.0, 0.0), (3.0, 0.0)])
def test_base_gradient_at_zero_base(b: float, da: float) -> None:
    trace = run("f(a, b) = a ^ b", a=0.0, b=b)
    assert float(trace.gradient["a"]) == da
    assert trace.warnings == []


def test_base_gradient_at_zero_base_with_fractional_exponent_is_infinite_with_warning() -> None:
    trace = run("f(a, b) = a ^ b", a=0.0, b=0.5)
    assert float(trace.value) == 0.0
    assert float(trace.gradient["a"]) == math.inf
    assert any("infinite" in w.message for w in trace.warnings)


def test_exponent_gradient_of_zero_to_the_zero_follows_pytorch() -> None:
    # PyTorch (pow_backward_exponent) takes d(a^b)/db as 0 wherever a == 0 and b >= 0,
    # including 0^0 = 1; primitives.py says it does "as PyTorch does".
    trace = run("f(a, b) = a ^ b", a=0.0, b=0.0)
    assert float(trace.gradient["b"]) == 0.0


def test_negative_base_integer_exponent() -> None:
    trace = run("f(a) = a ^ 3", a=-2.0)
    assert float(trace.value) == -8.0
    assert float(trace.gradient["a"]) == 12.0
    trace = run("f(a) = a ^ -2", a=-2.0)
    close(trace.gradient["a"], 0.25, rtol=HAND_RTOL)  # -2 a^-3 = 1/4


# ---- numerical stability --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "x", "value", "grad"), [
    ("f(x) = sigmoid(x)", -1000.0, 0.0, 0.0),
    ("f(x) = sigmoid(x)", 1000.0, 1.0, 0.0),
    ("f(x) = softplus(x)", -1000.0, 0.0, 0.0),
    ("f(x) = softplus(x)", 1000.0, 1000.0, 1.0),
    ("f(x) = tanh(x)", -1000.0, -1.0, 0.0),
    ("f(x) = tanh(x)", 1000.0, 1.0, 0.0),
    ("f(x) = σ(x)", -1e300, 0.0, 0.0),
    ("f(x) = softplus(x)", 1e300, 1e300, 1.0),
])
def test_saturating_gates_are_finite_and_correct(text: str, x: float, value: float, grad: float) -> None:
    trace = run(text, x=x)  # NumPy warnings would be errors here
    assert np.isfinite(trace.value) and np.isfinite(trace.gradient["x"])
    assert float(trace.value) == value
    assert float(trace.gradient["x"]) == grad
    assert trace.warnings == []


@pytest.mark.parametrize("x", [-40.0, -20.0, 20.0, 40.0])
def test_sigmoid_and_softplus_keep_precision_in_the_tails(x: float) -> None:
    e = math.exp(-abs(x))
    sigma = 1 / (1 + e) if x > 0 else e / (1 + e)
    trace = run("f(x) = sigmoid(x)", x=x)
    close(trace.value, sigma, rtol=1e-12, atol=0)
    # σ(1 - σ) = σ(x) σ(-x); where σ rounds to 1 only an absolute accuracy is possible.
    close(trace.gradient["x"], e / (1 + e) ** 2, rtol=1e-9, atol=2e-16)
    trace = run("f(x) = softplus(x)", x=x)
    close(trace.value, max(x, 0.0) + math.log1p(e), rtol=1e-12, atol=0)
    close(trace.gradient["x"], sigma, rtol=1e-12, atol=0)


def test_saturated_sigmoid_inside_a_larger_graph() -> None:
    trace = run("f(w, x) = log(1 + sigmoid(w * x))", w=-10.0, x=100.0)
    assert float(trace.value) == 0.0
    assert grads_of(trace) == {"w": 0.0, "x": 0.0}
    assert trace.warnings == []


# ---- domain problems: nan or inf with a warning, never an exception -----------------------------------------


@pytest.mark.parametrize(("text", "x", "kind"), [
    ("q = log(x)\nf = q + 1", -1.0, "nan"),
    ("q = log(x)\nf = q + 1", 0.0, "-inf"),
    ("q = sqrt(x)\nf = 2 * q", -1.0, "nan"),
    ("q = 1 / x\nf = q - 3", 0.0, "inf"),
    ("q = exp(x)\nf = q * 2", 1000.0, "inf"),
    ("q = asin(x)\nf = q + x", 2.0, "nan"),
    ("q = log10(x)\nf = -q", -5.0, "nan"),
])
def test_domain_error_is_a_warning_naming_the_node(text: str, x: float, kind: str) -> None:
    trace = run(text, x=x)  # must not raise
    graph = trace.graph
    q = named(graph, "q")
    v = float(trace.value_of(trace.values[q]))
    if kind == "nan":
        assert math.isnan(v)
        assert math.isnan(float(trace.value))
    else:
        assert v == float(kind)
        assert not np.isfinite(trace.value)
    ours = [w for w in trace.warnings if w.node == q]
    assert len(ours) == 1, [w.message for w in trace.warnings]
    message = ours[0].message
    assert message.startswith("q = ")
    assert ("nan" if kind == "nan" else "infinite") in message
    assert "x = " in message
    # The consumer of a bad value is not reported again.
    assert [w.node for w in trace.warnings] == [q]


@pytest.mark.parametrize(("text", "at"), [
    ("f(x) = log(x)", {"x": -1.0}),
    ("f(x) = sqrt(x)", {"x": -1.0}),
    ("f(x) = 1 / x", {"x": 0.0}),
    ("f(x) = exp(x)", {"x": 1000.0}),
])
def test_domain_error_does_not_raise_through_the_helper(text: str, at: dict[str, float]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, _ = symgrad.gradient(text, **at)
    assert not math.isfinite(value)
    trace = run(text, **at)
    assert len(trace.warnings) == 1
    assert trace.warnings[0].node == trace.graph.output
    assert trace.warnings[0].message.startswith("f = ")


def test_sqrt_gradient_at_zero_is_infinite_with_warning() -> None:
    trace = run("f(x) = sqrt(x)", x=0.0)
    assert float(trace.value) == 0.0
    assert float(trace.gradient["x"]) == math.inf
    (w,) = trace.warnings
    assert w.node == trace.graph.output
    assert "sqrt" in w.message and "infinite" in w.message and "x = 0" in w.message


# ---- the table itself ---------------------------------------------------------------------------------------------

# The scalar (elementwise) primitives; the tensor ones are tested in test_tensor.py.
ALL_PRIMITIVES = [p for p in P.PRIMITIVES.values() if p.elementwise]
GROUPED = ["tanh", "sigmoid", "softplus"]


@pytest.mark.parametrize("prim", ALL_PRIMITIVES, ids=lambda p: p.name)
def test_table_entry_is_consistent(prim: P.Primitive) -> None:
    assert prim.arity in (1, 2)
    assert len(prim.partials) == prim.arity
    assert len(prim.local_text) == prim.arity
    assert len(prim.params) == prim.arity
    assert (prim.kink is None) == (prim.kink_text is None)
    if prim.operator:
        assert prim.symbol is not None and not prim.callable
    # local_text uses only {0}, {1} and {out}.
    for text in prim.local_text:
        text.format(*("a", "b")[: prim.arity], out="o")
    # The SymPy form takes one argument per input and uses nothing else.
    symbols = sympy.symbols(f"p0:{prim.arity}", real=True)
    expr = prim.sympy(sympy, *symbols)
    assert expr.free_symbols <= set(symbols)


@pytest.mark.parametrize("prim", ALL_PRIMITIVES, ids=lambda p: p.name)
def test_partials_have_the_shape_of_the_output(prim: P.Primitive) -> None:
    args = [np.array([0.3, 0.6, 0.9]), np.array([1.2, 0.4, 2.0])][: prim.arity]
    out = np.asarray(prim.forward(*args), dtype=float)
    assert out.shape == (3,)
    for partial in prim.partials:
        local = partial(out, *args)
        # an array shaped like the output, or a plain number where the local gradient is constant (add: 1)
        assert np.shape(local) == (3,) or (isinstance(local, float) and local in (1.0, -1.0))


def test_grouped_gates_have_expansions() -> None:
    assert sorted(p.name for p in ALL_PRIMITIVES if p.expansion is not None) == sorted(GROUPED)
    for name in GROUPED:
        assert P.PRIMITIVES[name].callable and P.PRIMITIVES[name].params == ("x",)


@pytest.mark.parametrize("x", [-3.5, -0.7, 0.0, 0.3, 1.9, 6.0])
@pytest.mark.parametrize("name", GROUPED)
def test_expansion_agrees_with_the_grouped_gate(name: str, x: float) -> None:
    direct_text = f"f(x) = {name}(x)"
    direct = run(direct_text, x=x)
    expanded = run(direct_text, expand=True, x=x)
    assert node_ids(expanded.graph, name) == [] and len(expanded.graph.nodes) > len(direct.graph.nodes)
    close(expanded.value, direct.value, rtol=HAND_RTOL)
    close(expanded.gradient["x"], direct.gradient["x"], rtol=HAND_RTOL)
    # The expansion text, written out by hand, is the same function.
    written = run(f"f(x) = {P.PRIMITIVES[name].expansion}", x=x)
    close(written.value, direct.value, rtol=HAND_RTOL)
    close(written.gradient["x"], direct.gradient["x"], rtol=HAND_RTOL)


@pytest.mark.parametrize("name", GROUPED)
def test_expansion_of_a_composite_argument(name: str) -> None:
    text = f"f(x, y) = {name}(x * y - 1) * y"
    direct = run(text, x=0.8, y=-1.3)
    expanded = run(text, expand=True, x=0.8, y=-1.3)
    close(expanded.value, direct.value, rtol=HAND_RTOL)
    for v in ("x", "y"):
        close(expanded.gradient[v], direct.gradient[v], rtol=HAND_RTOL)


# ---- property-based: random points in each smooth domain -------------------------------------------------------

ONE_ARG_DOMAINS: dict[str, tuple[float, float]] = {
    "neg": (-100.0, 100.0),
    "exp": (-20.0, 20.0),
    "log": (0.05, 50.0),
    "log2": (0.05, 50.0),
    "log10": (0.05, 50.0),
    "sqrt": (0.05, 50.0),
    "sin": (-10.0, 10.0),
    "cos": (-10.0, 10.0),
    "tan": (-1.4, 1.4),
    "asin": (-0.95, 0.95),
    "acos": (-0.95, 0.95),
    "atan": (-10.0, 10.0),
    "log1p": (-0.95, 50.0),
    "sinh": (-10.0, 10.0),
    "cosh": (-10.0, 10.0),
    "tanh": (-8.0, 8.0),
    "sigmoid": (-30.0, 30.0),
    "softplus": (-30.0, 30.0),
    "relu": (-10.0, 10.0),
    "abs": (-10.0, 10.0),
    "sign": (-10.0, 10.0),
    "step": (-10.0, 10.0),
    "ones_like": (-10.0, 10.0),
}
KINKED = {"relu", "abs", "sign", "step"}


def one_arg_text(name: str) -> str:
    return "f(x) = -x" if name == "neg" else f"f(x) = {name}(x)"


def test_property_domains_cover_every_one_argument_primitive() -> None:
    user_visible = {p.name for p in ALL_PRIMITIVES if p.arity == 1 and (p.callable or p.operator)}
    assert set(ONE_ARG_DOMAINS) == user_visible


@pytest.mark.parametrize("name", sorted(ONE_ARG_DOMAINS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_property_one_argument_backprop_matches_finite_differences(name: str, data: st.DataObject) -> None:
    lo, hi = ONE_ARG_DOMAINS[name]
    x = data.draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False), label="x")
    if name in KINKED:
        assume(abs(x) > 1e-3)
    text = one_arg_text(name)
    trace = run(text, x=x)
    assert trace.warnings == [] and trace.kinks == {}
    numeric = finite_differences(graph_of(text), {"x": x})["x"]
    close(trace.gradient["x"], numeric, rtol=1e-5, atol=1e-7)


TWO_ARG_DOMAINS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "a + b": ((-50.0, 50.0), (-50.0, 50.0)),
    "a - b": ((-50.0, 50.0), (-50.0, 50.0)),
    "a * b": ((-50.0, 50.0), (-50.0, 50.0)),
    "a / b": ((-50.0, 50.0), (0.1, 50.0)),
    "a ^ b": ((0.1, 5.0), (-3.0, 3.0)),
    "max(a, b)": ((-10.0, 10.0), (-10.0, 10.0)),
    "min(a, b)": ((-10.0, 10.0), (-10.0, 10.0)),
}


@pytest.mark.parametrize("body", list(TWO_ARG_DOMAINS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_property_two_argument_backprop_matches_finite_differences(body: str, data: st.DataObject) -> None:
    (alo, ahi), (blo, bhi) = TWO_ARG_DOMAINS[body]
    a = data.draw(st.floats(alo, ahi), label="a")
    b = data.draw(st.floats(blo, bhi), label="b")
    if body.startswith(("max", "min")):
        assume(abs(a - b) > 1e-3)
    text = f"f(a, b) = {body}"
    trace = run(text, a=a, b=b)
    numeric = finite_differences(graph_of(text), {"a": a, "b": b})
    for name in ("a", "b"):
        close(trace.gradient[name], numeric[name], rtol=1e-5, atol=1e-7)
