"""symgrad codegen: the staged forward and backward pass as code, tested by running it.  The code
symgrad writes (never the user's text) is executed here and must give the engine's value and
gradients: 200 random scalar programs in Python and in NumPy, and the tensor programs in NumPy."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from support import run
from test_derive import TENSORS, random_program

import symgrad
from symgrad.codegen import generate
from symgrad.engine import core


def compiled(code: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(code, "<generated>", "exec"), namespace)  # symgrad's own output, names and numbers only
    return namespace["forward_backward"]


def agree(program: str, at: dict[str, Any], lang: str) -> None:
    graph = symgrad.parse(program)
    trace = symgrad.evaluate(graph, at)
    shapes = [core(v) for v in trace.values]
    code = generate(graph, lang, shapes=shapes)
    args = [np.asarray(at[v], dtype=float) if lang == "numpy" else float(at[v]) for v in graph.variables]
    value, grads = compiled(code)(*args)
    assert np.allclose(value, trace.value, rtol=1e-12, atol=1e-14), (program, code)
    for v, g in zip(graph.variables, grads):
        if v in graph.index_only:
            continue
        want = trace.gradient[v]
        assert np.allclose(np.broadcast_to(g, want.shape), want, rtol=1e-9, atol=1e-12), (program, v, code)


@pytest.mark.parametrize("lang", ["python", "numpy"])
def test_200_random_programs_run_to_the_engine_s_gradients(lang: str) -> None:
    rng = random.Random(16)
    for _ in range(200):
        program = random_program(rng)
        at = {v: rng.choice([-1, 1]) * rng.uniform(0.3, 1.7) for v in "xyz"}
        agree(program, at, lang)


@pytest.mark.parametrize(("program", "at"), [(p, a) for p, a, _ in TENSORS], ids=[p for p, _, _ in TENSORS])
def test_tensor_programs_in_numpy(program: str, at: dict[str, Any]) -> None:
    agree(program, at, "numpy")


def test_the_lecture_s_staged_code() -> None:
    # the lecture's sigmoid neuron: one line per node, the gradients named dq, dx
    code = generate(symgrad.parse("f(w0,x0,w1,x1,w2) = sigmoid(w0*x0 + w1*x1 + w2)"))
    assert "    n1 = w0 * x0\n" in code and "    f = sigmoid(n4)\n" in code
    assert "    dn4 = df * f * (1.0 - f)\n" in code  # the sigmoid gate's local gradient σ(1 - σ)
    assert "    dn1 = dn3\n" in code and "    dw0 = dn1 * x0\n" in code  # add distributes, mul switches
    assert "    return f, (dw0, dx0, dw1, dx1, dw2)\n" in code
    value, grads = compiled(code)(2.0, -1.0, -3.0, -2.0, -3.0)
    assert value == pytest.approx(0.7310585786)  # the lecture's numbers
    assert grads == pytest.approx((-0.1966119, 0.3932239, -0.3932239, -0.5898358, 0.1966119), rel=1e-6)


def test_fan_out_becomes_plus_equals() -> None:
    code = generate(symgrad.parse("f(x) = x*x + x"))
    assert "    dx = df\n    dx += dn1 * x\n    dx += dn1 * x\n" in code
    assert compiled(code)(3.0) == (12.0, (7.0,))


def test_names_become_identifiers_and_never_collide() -> None:
    code = generate(symgrad.parse("c = x * 2; c = c + 1; dc = c * x; f(x) = dc"))
    fn = compiled(code)
    value, (dx,) = fn(1.5)
    assert value == pytest.approx((1.5 * 2 + 1) * 1.5) and dx == pytest.approx(4 * 1.5 + 1)


def test_plain_python_refuses_tensor_gates_with_a_hint() -> None:
    result = run("codegen", "f(W, x) = sum(W @ x)", "--at", "W=[[1,2],[3,4]],x=[1,1]", code=2)
    assert "python code has no matmul" in result.stderr and "--lang numpy" in result.stderr


def test_the_command_prints_runnable_code() -> None:
    result = run("codegen", "q = x + y; f = q * z", code=0)
    value, grads = compiled(result.stdout)(-2.0, 5.0, -4.0)
    assert (value, grads) == (-12.0, (-4.0, -4.0, 3.0))
    result = run("codegen", "q = W @ x; L = sum(q^2)", "--lang", "numpy", "--at", "W=[[1,2],[3,4]],x=[1,1]", code=0)
    value, (dW, dx) = compiled(result.stdout)(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, 1.0]))
    assert value == 9 + 49 and np.array_equal(dW, [[6, 6], [14, 14]]) and np.array_equal(dx, [48, 68])
