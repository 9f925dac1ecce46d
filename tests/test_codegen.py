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


def agree(program: str, at: dict[str, Any], lang: str, style: str = "staged") -> None:
    graph = symgrad.parse(program)
    trace = symgrad.evaluate(graph, at)
    shapes = [core(v) for v in trace.values]
    code = generate(graph, lang, style, shapes=shapes)
    args = [np.asarray(at[v], dtype=float) if lang == "numpy" else float(at[v]) for v in graph.variables]
    value, grads = compiled(code)(*args)
    assert np.allclose(value, trace.value, rtol=1e-12, atol=1e-14), (program, code)
    for v, g in zip(graph.variables, grads):
        if v in graph.index_only:
            continue
        want = trace.gradient[v]
        assert np.allclose(np.broadcast_to(g, want.shape), want, rtol=1e-9, atol=1e-12), (program, v, code)


@pytest.mark.parametrize("style", ["staged", "modular"])
@pytest.mark.parametrize("lang", ["python", "numpy"])
def test_200_random_programs_run_to_the_engine_s_gradients(lang: str, style: str) -> None:
    rng = random.Random(16)
    for _ in range(200):
        program = random_program(rng)
        at = {v: rng.choice([-1, 1]) * rng.uniform(0.3, 1.7) for v in "xyz"}
        agree(program, at, lang, style)


@pytest.mark.parametrize("style", ["staged", "modular"])
@pytest.mark.parametrize(("program", "at"), [(p, a) for p, a, _ in TENSORS], ids=[p for p, _, _ in TENSORS])
def test_tensor_programs_in_numpy(program: str, at: dict[str, Any], style: str) -> None:
    agree(program, at, "numpy", style)


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


def test_the_lecture_s_modular_code() -> None:
    # a class per kind of gate, forward keeping its inputs, backward the upstream times the local gradient
    code = generate(symgrad.parse("f(x,y,z) = (x+y)*z"), style="modular")
    assert "class MulGate:\n" in code and "        return g * self.b, g * self.a\n" in code
    assert "class AddGate:\n" in code and "        return g, g\n" in code
    assert "    dn1, dz = f_gate.backward(df)\n    dx, dy = n1_gate.backward(dn1)\n" in code
    assert compiled(code)(-2.0, 5.0, -4.0) == (-12.0, (-4.0, -4.0, 3.0))
    fan_out = generate(symgrad.parse("f(x) = x*x + x"), style="modular")
    assert "    dx += dx_part\n" in fan_out and compiled(fan_out)(3.0) == (12.0, (7.0,))


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


# ---- PyTorch: the generated torch.autograd.Function, checked by the engine and by torch itself ----

def _torch() -> Any:
    return pytest.importorskip("torch", reason="torch is not installed (the torch extra: pip install '.[torch]')")


def torch_agree(program: str, at: dict[str, Any]) -> None:
    torch = _torch()
    graph = symgrad.parse(program)
    trace = symgrad.evaluate(graph, at)
    code = generate(graph, "torch", shapes=[core(v) for v in trace.values])
    namespace: dict[str, Any] = {}
    exec(compile(code, "<generated>", "exec"), namespace)  # symgrad's own output
    derived = namespace["Derived"]
    args = [torch.tensor(np.asarray(at[v], dtype=float), dtype=torch.float64,
                         requires_grad=v not in graph.index_only) for v in graph.variables]
    out = derived.apply(*args)
    assert np.allclose(out.detach().numpy(), trace.value, rtol=1e-12, atol=1e-14), (program, code)
    out.sum().backward()
    for v, a in zip(graph.variables, args):
        if v in graph.index_only:
            continue
        assert np.allclose(a.grad.numpy(), trace.gradient[v], rtol=1e-9, atol=1e-12), (program, v, code)
    # and torch's own check of the backward against finite differences
    assert torch.autograd.gradcheck(derived.apply, tuple(args), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_200_random_programs_as_torch_functions() -> None:
    rng = random.Random(17)
    for _ in range(200):
        program = random_program(rng)
        at = {v: rng.choice([-1, 1]) * rng.uniform(0.3, 1.7) for v in "xyz"}
        torch_agree(program, at)


@pytest.mark.parametrize(("program", "at"), [(p, a) for p, a, _ in TENSORS], ids=[p for p, _, _ in TENSORS])
def test_tensor_programs_as_torch_functions(program: str, at: dict[str, Any]) -> None:
    torch_agree(program, at)


def test_numpy_code_leaves_the_upstream_gradient_it_is_given_unchanged() -> None:
    # dx = df, then a branch added: as a new sum, never by += on df's own array
    fn = compiled(generate(symgrad.parse("f(x) = x*x + x"), "numpy", shapes=[(3,), (3,), (3,)]))
    x, df = np.array([1.0, 2.0, 3.0]), np.array([1.0, -1.0, 0.5])
    _, (dx,) = fn(x, df)
    assert np.array_equal(df, [1.0, -1.0, 0.5]) and np.allclose(dx, df * (2 * x + 1))
    modular = generate(symgrad.parse("f(x) = x*x + x"), "numpy", "modular", shapes=[(3,), (3,), (3,)])
    _, (dx,) = compiled(modular)(x, df)
    assert np.array_equal(df, [1.0, -1.0, 0.5]) and np.allclose(dx, df * (2 * x + 1))
