"""Second derivatives (--hessian, --hvp): reverse over the backward pass written as nodes, checked
against hand-derived values, SymPy's Hessian on 100 random scalar programs, finite differences of
the gradient (the row checks), and in the oracle tests JAX's jax.hessian."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest
from support import run, run_json
from test_derive import random_program

import symgrad
from symgrad import primitives as P
from symgrad.checks import run_checks
from symgrad.errors import SymgradError
from symgrad.hessian import hessian, hvp


def matrix(rows: list[Any]) -> np.ndarray:
    names = [r.variable for r in rows]
    return np.array([[float(r.blocks[c]) for c in names] for r in rows])


def test_the_lecture_s_first_example() -> None:
    # f = (x + y) z: d²f/dx dz = d²f/dy dz = 1, every other entry 0
    trace = symgrad.evaluate(symgrad.parse("f(x,y,z)=(x+y)*z"), {"x": -2, "y": 5, "z": -4})
    assert np.array_equal(matrix(hessian(trace)), [[0, 0, 1], [0, 0, 1], [1, 1, 0]])


def test_the_sigmoid_neuron_by_hand() -> None:
    # f = σ(s), s = w0 x0 + w1 x1 + w2: d²f/dwi dwj = xi xj σ''(s), and d²f/dw0 dx0 = σ'(s) + w0 x0 σ''(s),
    # with σ' = σ(1 - σ) and σ'' = σ'(1 - 2σ)
    at = {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}
    trace = symgrad.evaluate(symgrad.parse("f(w0,x0,w1,x1,w2) = sigmoid(w0*x0 + w1*x1 + w2)"), at)
    sig = 1 / (1 + math.exp(-1.0))  # s = 1
    d1, d2 = sig * (1 - sig), sig * (1 - sig) * (1 - 2 * sig)
    h = {r.variable: {c: float(b) for c, b in r.blocks.items()} for r in hessian(trace)}
    assert h["w0"]["w0"] == pytest.approx(at["x0"] ** 2 * d2, rel=1e-12)
    assert h["w0"]["x0"] == pytest.approx(d1 + at["w0"] * at["x0"] * d2, rel=1e-12)
    assert h["x1"]["w2"] == pytest.approx(at["w1"] * d2, rel=1e-12)
    assert h["w2"]["w2"] == pytest.approx(d2, rel=1e-12)
    assert all(h[a][b] == h[b][a] for a in h for b in h)  # symmetric


def test_the_norm_of_w_x_by_hand_and_its_hessian_vector_product() -> None:
    # L = ||W x||²: d²L/dx² = 2 WᵀW, d²L/dW_ij dW_kl = 2 [i = k] x_j x_l
    W, x = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])
    trace = symgrad.evaluate(symgrad.parse("q = W @ x; L = sum(q^2)"), {"W": W, "x": x})
    rows = {r.variable: r for r in hessian(trace)}
    assert np.allclose(rows["x"].blocks["x"], 2 * W.T @ W, rtol=1e-12)
    expected_ww = np.einsum("ik,jl->ijkl", 2 * np.eye(2), np.outer(x, x))
    assert np.allclose(rows["W"].blocks["W"], expected_ww, rtol=1e-12)
    # H v without forming H equals the blocks contracted with v
    v = {"W": np.array([[1.0, -1.0], [0.5, 2.0]]), "x": np.array([1.0, 0.0])}
    product = hvp(trace, v)
    for c in ("W", "x"):
        # the blocks are shaped (row's shape + column's shape): v contracts the row's axes
        expected = sum(np.tensordot(v[r], rows[r].blocks[c], axes=v[r].ndim) for r in ("W", "x"))
        assert np.allclose(product.blocks[c], expected, rtol=1e-12), c


def _sympy_hessian(program: str, at: dict[str, float]) -> np.ndarray:
    """SymPy's Hessian of the program's output, through symgrad's SymPy forms of the primitives."""
    import sympy as sp

    from symgrad.symbolic import symbolic_values

    graph = symgrad.parse(program)
    symbols = {v: sp.Symbol(v, real=True) for v in graph.variables}
    values = symbolic_values(graph, sp, {v: np.array([s], dtype=object) for v, s in symbols.items()})
    f = values[graph.output][0]
    variables = [symbols[v] for v in graph.variables]
    h = sp.hessian(f, variables)
    point = {symbols[v]: sp.Float(at[v], 30) for v in graph.variables}
    return np.array([[float(h[i, j].subs(point).evalf(30)) for j in range(len(variables))]
                     for i in range(len(variables))])


def test_100_random_programs_agree_with_sympy() -> None:
    rng = random.Random(18)
    compared = 0
    while compared < 100:
        program = random_program(rng)
        at = {v: rng.choice([-1, 1]) * rng.uniform(0.3, 1.7) for v in "xyz"}
        trace = symgrad.evaluate(symgrad.parse(program), at)
        got = matrix(hessian(trace))
        want = _sympy_hessian(program, at)
        scale = max(1.0, float(np.max(np.abs(want))))
        assert np.allclose(got, want, rtol=1e-9, atol=1e-9 * scale), (program, at, got, want)
        compared += 1


def test_each_row_is_checked_like_a_gradient() -> None:
    trace = symgrad.evaluate(symgrad.parse("f(x, y) = sin(x) * y^3"), {"x": 0.5, "y": 2.0})
    rows = hessian(trace, check=lambda g, t: run_checks(g, t, timeout=20))
    for r in rows:
        assert [c.status for c in r.checks] == ["pass", "pass"]
        assert all(e.verdict in ("excellent", "fine", "zero") for c in r.checks for e in c.inputs.values())


def test_a_wrong_backward_rule_is_never_hidden() -> None:
    # were the table's backward rule for sin wrong, the gradient graph would disagree with backprop
    sin = P.PRIMITIVES["sin"]
    right = sin.backward
    object.__setattr__(sin, "backward", ("g * sin(x)",))  # the table is frozen: broken here on purpose
    try:
        trace = symgrad.evaluate(symgrad.parse("f(x) = sin(x) * x"), {"x": 0.5})
        with pytest.raises(SymgradError, match="symbolic reverse mode gives"):
            hessian(trace)
    finally:
        object.__setattr__(sin, "backward", right)


def test_the_command_line() -> None:
    result = run("f(x,y,z)=(x+y)*z", "--at", "x=-2,y=5,z=-4", "--hessian", "--format", "plain", code=0)
    assert "Hessian ∂²f/∂row ∂column:\n     x  y  z\n  x  0  0  1\n  y  0  0  1\n  z  1  1  0\n" in result.stdout
    assert "  checks of ∂f/∂z: backprop, symbolic and numeric agree for x, y, z" in result.stdout
    data = run_json("q = W @ x; L = sum(q^2)", "--at", "W=[[1,2],[3,4]],x=[1,1]", "--hessian", "--hvp",
                    "W=[[1,1],[1,1]],x=[1,0]")
    assert np.shape(data["hessian"]["W"]["x"]) == (2, 2, 2) and data["hessian"]["x"]["x"] == [[20, 28], [28, 40]]
    assert data["hessian_checks"]["x"]["agree"] is True and set(data["hvp"]) == {"W", "x"}
    assert data["hvp_checks"]["agree"] is True


def test_bad_requests_exit_2_with_a_hint() -> None:
    result = run("f(W, x) = W @ x", "--at", "W=[[1,2],[3,4]],x=[1,1]", "--hessian", code=2)
    assert "the Hessian needs a scalar output" in result.stderr and "hint:" in result.stderr
    result = run("f(x, y) = x * y", "--at", "x=1,y=2", "--hvp", "x=1", code=2)
    assert "--hvp gives no direction for y" in result.stderr
    result = run("f(x, y) = x * y", "--at", "x=1,y=2", "--hvp", "x=[1,2],y=1", code=2)
    assert "direction of shape (2,)" in result.stderr
    result = run("f(x) = x * x", "--points", "-", "--hessian", input="x\n1\n", code=2)
    assert "--hessian and --hvp do not go with --points" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("program", "at"), [
    ("f(x,y,z)=(x+y)*z", {"x": -2.0, "y": 5.0, "z": -4.0}),
    ("f(w0,x0,w1,x1,w2) = sigmoid(w0*x0 + w1*x1 + w2)", {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}),
    ("f(w0,x0,w1,x1,w2) = 1/(1+exp(-(w0*x0+w1*x1+w2)))", {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}),
    ("f(x,y) = (x + sigmoid(y)) / (sigmoid(x) + (x+y)^2)", {"x": 3.0, "y": -4.0}),  # the staged example
    ("f(x) = x*x + x", {"x": 3.0}),
])
def test_the_lecture_s_examples_agree_with_sympy(program: str, at: dict[str, float]) -> None:
    got = matrix(hessian(symgrad.evaluate(symgrad.parse(program), at)))
    assert np.allclose(got, _sympy_hessian(program, at), rtol=1e-12, atol=1e-14)
