"""Symbolic reverse mode (derive.py): the backward pass as nodes, and the derivatives it writes in
the graph's own names.  Every printed formula parses back through the grammar and, evaluated at
the point, equals the engine's gradient; the lecture's examples give the lecture's formulas."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

import symgrad
from symgrad import primitives as P
from symgrad.derive import derive, formula
from symgrad.engine import core
from symgrad.parser import parse

# ---- the lecture's examples, by hand -------------------------------------------------------------

LECTURE = [
    # the sigmoid neuron as one gate: the local gradient σ(1 - σ) is f * (1 - f), f the gate's output
    ("f(w0,x0,w1,x1,w2) = sigmoid(w0*x0 + w1*x1 + w2)",
     {"w0": "f*x0*(1 - f)", "x0": "f*w0*(1 - f)", "w1": "f*x1*(1 - f)", "x1": "f*w1*(1 - f)", "w2": "f*(1 - f)"}),
    # add distributes, mul switches: d/dx = d/dy = z, d/dz = q with q = x + y kept
    ("q = x + y; f = q * z", {"x": "z", "y": "z", "z": "q"}),
    ("f(x,y,z)=(x+y)*z", {"x": "z", "y": "z", "z": "n1"}),
    # powers come out simplified: 3 x^2 -> 6 x, not 3*2*x^(2 - 1)
    ("f(x) = 3*x^2", {"x": "6*x"}),
    # fan-out: the branches add, x * x sends x twice
    ("f(x) = x*x + x", {"x": "1 + 2*x"}),
    ("a = x*y; b = a + a; f = b^2", {"x": "4*b*y", "y": "4*b*x"}),
    # a function of the user's is one grouped gate, n1 = sq(x); its inside is written out
    ("sq(a) = a * a; f(x, y) = sq(x) * y", {"x": "2*x*y", "y": "n1"}),
]


@pytest.mark.parametrize(("program", "expected"), LECTURE, ids=[p for p, _ in LECTURE])
def test_the_lecture_s_derivatives_in_the_graph_s_names(program: str, expected: dict[str, str]) -> None:
    graph = symgrad.parse(program)
    d = derive(graph)
    assert {v: formula(d, v) for v in graph.variables} == expected


def test_an_input_no_gradient_reaches_has_derivative_zero() -> None:
    graph = symgrad.parse("f(x, y) = x * 2")
    assert formula(derive(graph), "y") == "0"


def test_every_elementwise_primitive_has_a_rule_that_parses() -> None:
    for prim in P.PRIMITIVES.values():
        if not prim.elementwise:
            continue
        differentiable = [k for k in range(len(prim.params)) if prim.differentiable(k)]
        assert len(prim.backward) == len(differentiable), prim.name
        for rule in prim.backward:
            parse(rule, "rule", start="value")  # the grammar reads it


# ---- every formula parses back and means what it says --------------------------------------------

UNARY = ["exp", "sin", "cos", "tanh", "sigmoid", "softplus", "atan", "relu", "abs", "sinh"]
SAFE = {"log": "log(1 + {0}^2)", "sqrt": "sqrt(2 + {0}^2)", "log1p": "log1p({0}^2)"}


def random_program(rng: random.Random) -> str:
    """A staged scalar program over x, y, z: a few named statements, each an operation of earlier
    names and numbers, then the output."""
    names = ["x", "y", "z"]
    lines = []
    for k in range(rng.randint(1, 6)):
        a = rng.choice(names)
        b = rng.choice([n for n in names if n != a] + ["2", "0.5", "3"])  # no z - z: atan2(0, 0) has no gradient
        form = rng.randrange(7)
        if form == 0:
            text = f"{a} {rng.choice('+-*')} {b}"
        elif form == 1:
            text = f"{a} / (1 + {b}^2)"
        elif form == 2:
            text = f"{rng.choice(UNARY)}({a})"
        elif form == 3:
            text = rng.choice(list(SAFE.values())).format(a)
        elif form == 4:
            text = f"{a}^{rng.choice(['2', '3'])}"
        elif form == 5:
            text = f"{rng.choice(['max', 'min', 'atan2'])}({a}, {b})"
        else:
            text = f"{a} * {b} - {rng.choice([n for n in names if n not in (a, b)])}"
        name = f"t{k}"
        lines.append(f"{name} = {text}")
        names.append(name)
    lines.append(f"f(x, y, z) = {' + '.join(rng.sample(names[3:], k=min(2, len(names) - 3)))} * {rng.choice(names)}")
    return "; ".join(lines)


def _check_round_trip(program: str, at: dict[str, float]) -> int:
    graph = symgrad.parse(program)
    trace = symgrad.evaluate(graph, at)
    d = derive(graph)
    values = {graph.labels[i]: float(trace.value_of(trace.values[i])) for i in range(len(graph.nodes))
              if graph.labels[i]}
    checked = 0
    for v in graph.variables:
        text = formula(d, v)
        assert text is not None
        expected = float(trace.gradient[v])
        names = sorted({s.text for s in parse(text, "formula", start="value").syntax if s.kind == "name"}
                       - set(P.CONSTANTS))
        back = symgrad.parse(f"g({', '.join(names)}) = {text}" if names else text)
        got = float(symgrad.evaluate(back, {n: values[n] for n in names}).value)
        assert np.isclose(got, expected, rtol=1e-9, atol=1e-12), (program, at, v, text, got, expected)
        checked += 1
    return checked


def test_200_random_programs_print_formulas_that_parse_back_to_the_gradient() -> None:
    rng = random.Random(15)
    checked = 0
    for _ in range(200):
        program = random_program(rng)
        at = {v: rng.choice([-1, 1]) * rng.uniform(0.3, 1.7) for v in "xyz"}
        checked += _check_round_trip(program, at)
    assert checked == 600


# ---- tensors: derivatives in matrix form ---------------------------------------------------------

W3 = [[0.1, 0.5], [-0.3, 0.8], [1.0, -2.0]]
TENSORS = [
    ("q = W @ x; L = sum(q^2)", {"W": [[0.1, 0.5], [-0.3, 0.8]], "x": [0.2, 0.4]},
     {"W": "outer(2*q, x)", "x": "W.T @ (2*q)"}),
    # the softmax loss in the lecture's form: (p - onehot(y)) xᵀ
    ("s = W @ x; p = softmax(s); L = -log(p[y])", {"W": W3, "x": [0.2, 0.4], "y": 1},
     {"W": "outer(p - onehot(y, 3), x)", "x": "W.T @ (p - onehot(y, 3))"}),
    ("f(W, b, x) = sum(relu(W @ x + b))", {"W": W3, "b": [0.1, -0.2, 0.3], "x": [0.5, -1.5]}, None),
    ("f(S, y) = mean(S[arange(2), y])", {"S": [[1, 2, 3], [4, 5, 6]], "y": [0, 2]}, None),
    ("f(a, b, c) = sum([a, b*c, c]^2)", {"a": 1, "b": 2, "c": 3}, None),
    ("f(W, x) = sum(W.T @ (x*2))", {"W": [[1, 2], [3, 4]], "x": [1, 1]}, None),
    ("f(x) = sum(x)", {"x": [1, 2]}, {"x": "ones_like(x)"}),
    ("f(X) = sum(sum(X, 0)^2) + sum(mean(X, 1)^3)", {"X": W3}, None),
    ("f(X) = sum(logsumexp(X)) + logsumexp(X[0])", {"X": W3}, None),
    ("f(X) = sum(softmax(X) * [[1, 2], [3, 4], [5, 6]])", {"X": W3}, None),
    ("f(x, y) = norm(x) * dot(x, y) + max(y) - min(x)", {"x": [1, -2, 3], "y": [0.5, 4, -1]}, None),
    ("f(a, b) = sum(outer(a, b) * [[1, 2], [3, 4]])", {"a": [1, 2], "b": [3, 4]}, None),
    ("f(s, i) = s[i] * s[-1] + s[0]^2", {"s": [1, 2, 3], "i": 1}, None),
    ("f(W, i, j) = W[i, j] * W[1] @ [1, 2]", {"W": W3, "i": 2, "j": 0}, None),
    ("f(S, y) = sum(S[y] * 2)", {"S": W3, "y": [0, 2, 2]}, None),
    ("f(x, c) = sum(exp(x) * c + x / c)", {"x": [0.1, 0.2, 0.3], "c": 2.0}, None),
    ("f(X, v) = sum(tanh(X + v))", {"X": W3, "v": [0.1, -0.1]}, None),
]


@pytest.mark.parametrize(("program", "at", "expected"), TENSORS, ids=[p for p, _, _ in TENSORS])
def test_tensor_derivatives_parse_back_to_the_gradient(program: str, at: dict, expected: dict | None) -> None:
    graph = symgrad.parse(program)
    trace = symgrad.evaluate(graph, at)
    d = derive(graph, [core(v) for v in trace.values])
    values = {graph.labels[i]: trace.value_of(trace.values[i]) for i in range(len(graph.nodes)) if graph.labels[i]}
    for v in graph.variables:
        text = formula(d, v)
        assert text is not None
        if v not in trace.gradient:  # an index: no gradient
            assert text == "0" and v in graph.index_only
            continue
        if expected is not None and v in expected:
            assert text == expected[v]
        names = sorted({s.text for s in parse(text, "formula", start="value").syntax if s.kind == "name"}
                       - set(P.CONSTANTS))
        back = symgrad.parse(f"g({', '.join(names)}) = {text}" if names else text)
        got = symgrad.evaluate(back, {n: values[n] for n in names}).value
        want = trace.gradient[v]
        assert np.allclose(np.broadcast_to(got, want.shape), want, rtol=1e-9, atol=1e-12), (v, text, got, want)


# ---- every formula the examples print parses ----------------------------------------------------

DERIVATIVE_LINE = re.compile(r"^∂\S+/∂\S+ = (.+?)(?:    where (.+))?$")
LOCAL_CELL = re.compile(r"∂[\w']+/∂[\w'\[\],]+ = ([^=∂]+?) = ")  # in a table row: ∂n1/∂x = formula = value


def printed_formulas() -> list[tuple[str, str]]:
    """(where, formula) for every derivative line, its definitions, and every local gradient's formula
    that the README, docs/ and examples/ show."""
    from transcripts import transcripts

    found = []
    for path, command, shown in transcripts():
        for line in shown.splitlines():
            m = DERIVATIVE_LINE.match(line.strip())
            if m and not line.startswith(" "):
                found.append((f"{path.name}: {command}", m.group(1)))
                for definition in (m.group(2) or "").split(", "):
                    if " = " in definition:
                        found.append((f"{path.name}: {command}", definition.split(" = ", 1)[1]))
            if not line.startswith("∂") and "|local" not in line:
                found += [(f"{path.name}: {command}", cell.strip()) for cell in LOCAL_CELL.findall(line)]
    return found


def test_every_formula_the_examples_print_is_in_symgrad_s_language() -> None:
    formulas = printed_formulas()
    assert len(formulas) > 100
    for where, text in formulas:
        if text.startswith(("[", "Jacobian")) or text.endswith("…"):  # a value, not a formula
            continue
        try:
            parse(text, "formula", start="value")
        except symgrad.SymgradError as error:
            raise AssertionError(f"{where}: {text} is not in symgrad's language: {error}") from None


def test_steps_without_a_point_give_the_chain_rule_as_formulas() -> None:
    from support import run

    out = run("q = x + y; f = q * z", "--steps", "--format", "plain", code=0).stdout
    assert "backward pass, starting from ∂f/∂f = 1\n" in out
    assert "  ∂f/∂q = ∂f/∂f · ∂f/∂q|local = 1 · z = z\n" in out  # mul switches
    assert "  ∂f/∂x = ∂f/∂q · ∂q/∂x|local = z · 1 = z\n" in out  # add distributes
    fan = run("f(x) = x*x + x", "--steps", "--format", "plain", code=0).stdout
    assert "  ∂f/∂x (via n1, as b) = ∂f/∂n1 · ∂n1/∂x|local = 1 · x = x\n" in fan
    assert "  ∂f/∂x = 1 + x + x = 1 + 2*x   (branches add)\n" in fan


def test_the_tables_local_gradient_formulas_mean_what_they_say() -> None:
    # each "∂n1/∂x = formula = value" cell: the formula, parsed back and evaluated, is the value
    from support import formula_value

    from symgrad.records import records

    rng = random.Random(19)
    programs = [(p, {}) for p, _ in LECTURE] + [(random_program(rng), {}) for _ in range(60)]
    checked = 0
    for program, _ in programs:
        graph = symgrad.parse(program)
        at = {v: rng.choice([-1, 1]) * rng.uniform(0.3, 1.7) for v in graph.variables}
        trace = symgrad.evaluate(graph, at)
        for rec in records(trace):
            for e in rec.edges:
                if e.kind != "elementwise" or not e.text or e.vjp_form or e.local is None or rec.kind == "call":
                    continue
                got = np.broadcast_to(formula_value(trace, e.text), np.shape(e.local))
                assert np.allclose(got, e.local, rtol=1e-12, atol=1e-14), (program, rec.label, e.text)
                checked += 1
    assert checked > 300
