"""Naming the mistake (issue 13): each usual backprop mistake, on a small program where it is the only
explanation of the answer, is named with the node where it happened; a right answer never gets one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support import run

import symgrad
from symgrad.mistakes import candidates


def mistake(text: str, at: str, expect: str) -> str:
    """The mistake named for the one answer in `expect` (which must be wrong)."""
    data = json.loads(run("check", text, "--at", at, "--expect", expect, "--format", "json", code=1).stdout)
    wrong = [a for a in data["answers"] if a["verdict"] not in ("right", "missing")]
    assert len(wrong) == 1, data["answers"]
    return wrong[0]["mistake"] or ""


# (program, point, wrong answer, what the named mistake says); the values by hand in the comments.
CASES = [
    # f = x*x + x at 3: df/dx = 2x + 1 = 7; without the branch through f (the "+ x"), 6.
    ("f(x) = x*x + x", "x=3", "x=6", "you left out the branch through f: x feeds 2 nodes"),
    # q = x*y, f = q*z at (2, 3, 4): df/dx = y z = 12; the local y = 3 alone misses the upstream z.
    ("q = x * y; f = q * z", "x=2,y=3,z=4", "x=3",
     "you did not multiply the local gradient of q = x * y by the upstream gradient ∂f/∂q = 4"),
    # the inputs of q = x*y swapped: x z = 8.
    ("q = x * y; f = q * z", "x=2,y=3,z=4", "x=8", "you swapped the inputs of the mul gate q = x * y"),
    # q = x - y, f = q*z: df/dy = -z = -4; the sign lost: 4.
    ("q = x - y; f = q * z", "x=2,y=3,z=4", "y=4", "you lost a sign at the subtraction q = x - y"),
    ("q = -x; f = q * z", "x=2,z=4", "x=4", "you lost a sign at the unary minus q = -x"),
    # sigmoid neuron f = σ(w x) at w=2, x=-1: df/dw = x σ(1-σ) = -0.104994; with σ alone: x σ = -0.119203.
    ("f(w,x) = sigmoid(w*x)", "w=2,x=-1", "w=-0.119203", "you used σ(x) where σ(x)(1 − σ(x)) was needed at f"),
    # f = tanh(2x) at 0.5: 2 (1 - tanh²(1)) = 0.839949; with tanh: 2 tanh(1) = 1.523188.
    ("f(x) = tanh(2*x)", "x=0.5", "x=1.523188", "you used tanh where 1 - tanh² was needed at f"),
    # f = exp(3x) at 0.5: 3 e^1.5 = 13.4451; with exp's input: 3 * 1.5 = 4.5.
    ("f(x) = exp(3*x)", "x=0.5", "x=4.5", "you used exp's input where its output was needed at f"),
    # the value of x (2) for its gradient (12).
    ("q = x * y; f = q * z", "x=2,y=3,z=4", "x=2", "you gave the value of x, not the gradient ∂f/∂x"),
    # f = sum((W + b)^2): df/db = sum over rows of 2(W + b) = [12, 8]; not summed: [[4, 2], [8, 6]].
    ("f(W, b) = sum((W + b)^2)", "W=[[1,2],[3,4]],b=[1,-1]", "b=[[4,2],[8,6]]",
     "you did not sum the gradient over the axes b was broadcast along in n1 = W + b"),
    ("f(W, b) = sum((W + b)^2)", "W=[[1,2],[3,4]],b=[1,-1]", "b=20",
     "you summed the gradient over all the elements of b"),
    # the local gradient dq/dx of q = x*y is y = 3; x = 2 is the swap.
    ("q = x * y; f = q * z", "x=2,y=3,z=4", "dq/dx=2", "you swapped the inputs of the mul gate q = x * y"),
    # the gradient at the intermediate q of f = q + z is 1; the value of q (6) for it.
    ("q = x * y; f = q + z", "x=2,y=3,z=4", "df/dq=6", "you gave the value of q"),
]


@pytest.mark.parametrize(("text", "at", "expect", "named"), CASES, ids=[c[2] + " " + c[0] for c in CASES])
def test_each_mistake_is_named(text: str, at: str, expect: str, named: str) -> None:
    assert mistake(text, at, expect).startswith(named)


def test_a_wrong_answer_no_mistake_explains_gets_the_generic_hints() -> None:
    data = json.loads(run("check", "q = x * y; f = q * z", "--at", "x=2,y=3,z=4", "--expect", "x=-12",
                          "--format", "json", code=1).stdout)
    x = data["answers"][0]
    assert x["mistake"] is None and x["reason"] == "wrong sign"
    assert mistake("q = x * y; f = q * z", "x=2,y=3,z=4", "x=13") == ""


LECTURE_PROGRAMS = [
    ("q = x + y; f = q * z", {"x": -2, "y": 5, "z": -4}),
    ("f(w0,x0,w1,x1,w2) = sigmoid(w0*x0 + w1*x1 + w2)", {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}),
    ("a = x * y; b = a + x; f = a * b + sin(x)", {"x": 0.7, "y": -1.3}),
    ("h = relu(W1 @ x + b1); f = sum((W2 @ h + b2)^2)",
     {"W1": [[0.5, -1.0], [1.5, 0.25]], "x": [1.0, 2.0], "b1": [0.1, -0.2], "W2": [[1.0, -0.5]], "b2": [0.3]}),
    ("f(W, x, y) = -log(softmax(W @ x)[y])", {"W": [[0.1, 0.2], [-0.3, 0.4], [0.5, -0.6]], "x": [1.0, -2.0], "y": 1}),
    ((Path(__file__).parent.parent / "examples" / "staged.sg").read_text(encoding="utf-8"), {"x": 3, "y": -4}),
]


@pytest.mark.parametrize(("text", "at"), LECTURE_PROGRAMS, ids=[t.splitlines()[-1] for t, _ in LECTURE_PROGRAMS])
def test_a_right_answer_never_gets_a_mistake(text: str, at: dict) -> None:
    # Every input's and every named node's true gradient, given at full precision: all right, no mistake.
    graph = symgrad.parse(text)
    trace = symgrad.evaluate(graph, at)
    point = ",".join(f"{k}={json.dumps(v)}" for k, v in at.items())
    answers = [f"{k}={json.dumps(np.asarray(v).tolist())}" for k, v in trace.gradient.items()]
    answers += [f"d{graph.output_name}/d{graph.labels[i]}={json.dumps(trace.grad_of(trace.grads[i]).tolist())}"
                for i, n in enumerate(graph.nodes)
                if n.name and n.prim is not None and i != graph.output and trace.grads[i] is not None]
    data = json.loads(run("check", text, "--at", point, "--expect", ",".join(answers), "--format", "json",
                          code=0).stdout)
    assert all(a["verdict"] == "right" and a["mistake"] is None for a in data["answers"])


def test_the_mistakes_in_a_two_layer_network() -> None:
    # One more candidate list on a real-shaped program: the branch and upstream mistakes at h exist,
    # each differs from the truth, and the work is bounded.
    text, at = LECTURE_PROGRAMS[3]
    graph = symgrad.parse(text)
    trace = symgrad.evaluate(graph, at)
    h = graph.labels.index("h")
    found = list(candidates(trace, "gradient", h))
    assert 3 <= len(found) <= 300
    truth = trace.grad_of(trace.grads[h])
    assert any(not np.allclose(c.value, truth) for c in found)


def test_every_mistake_injected_into_a_worksheet_is_named() -> None:
    # Round trip: for each node of the fan-out worksheet and each mistake that changes its gradient,
    # answering with that mistake's value gets a mistake named whose value is that answer.
    text, point = "a = x * y; b = a + x; L = a * b", {"x": 2.0, "y": 3.0}
    graph = symgrad.parse(text)
    trace = symgrad.evaluate(graph, point)
    tried = 0
    for i, label in enumerate(graph.labels):
        if not label or graph.nodes[i].kind.value == "const" or i == graph.output:
            continue
        truth = trace.grad_of(trace.grads[i])
        for c in candidates(trace, "gradient", i):
            if np.allclose(c.value, truth):
                continue
            answer = repr(float(c.value))
            named = mistake(text, "x=2,y=3", f"dL/d{label}={answer}")
            assert named, (label, c.sentence)
            same = [d.value for d in candidates(trace, "gradient", i) if d.sentence == named]
            assert same and np.allclose(same[0], c.value), (label, c.sentence, named)
            tried += 1
    assert tried >= 15
