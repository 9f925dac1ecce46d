"""Answers for any node and any edge (issue 13): d output / d node for named and generated labels,
values, local gradients, formulas in the nodes' labels, --upstream; every reference verified by the
checks on the graph cut at the node."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support import run, sin_with_wrong_sign

import symgrad
from symgrad.graph import cut

LECTURE = "q = x + y; L = q * z"
POINT = "x=-2,y=5,z=-4"


def graded(text: str, at: str | None, expect: str, *extra: str, code: int | None = None) -> dict[str, dict]:
    args = ["check", text, *(["--at", at] if at else []), "--expect", expect, *extra, "--format", "json"]
    result = run(*args, code=code)
    return {a["answer"]: a for a in json.loads(result.stdout)["answers"]}


def test_the_gradient_at_a_named_intermediate() -> None:
    # By hand: L = q*z, so dL/dq = z = -4, whatever the spelling.
    for key in ("dL/dq", "∂L/∂q", "q", "dq"):
        answers = graded(LECTURE, POINT, f"{key}=-4", code=0)
        assert answers["∂L/∂q"]["verdict"] == "right"
        assert answers["∂L/∂q"]["target"] == {"kind": "gradient", "node": "q", "wrt": None}
        assert answers["∂L/∂q"]["input"] is None
    assert graded(LECTURE, POINT, "dL/dq=4", code=1)["∂L/∂q"]["reason"].startswith("wrong sign")


def test_values_of_the_output_and_of_any_node() -> None:
    answers = graded(LECTURE, POINT, "L=-12, value(q)=3", code=0)
    assert answers["L"]["target"] == {"kind": "value", "node": None, "wrt": None}
    assert answers["value(q)"]["correct"] == 3 and answers["value(q)"]["target"]["node"] == "q"
    assert graded(LECTURE, POINT, "value(q)=4", code=1)["value(q)"]["verdict"] == "wrong"


def test_local_gradients_sum_parallel_edges() -> None:
    # q = x*x: dq/dx = 2x = 6 at x = 3 (both edges); f = q + x: df/dq = 1, df/dx = 2x + 1 = 7.
    answers = graded("q = x*x; f = q + x", "x=3", "dq/dx=6, df/dq=1, x=7", code=0)
    assert answers["∂q/∂x"]["target"] == {"kind": "local", "node": "q", "wrt": "x"}
    assert all(a["verdict"] == "right" for a in answers.values())
    assert graded("q = x*x; f = q + x", "x=3", "dq/dx=3", code=1)["∂q/∂x"]["verdict"] == "wrong"


def test_a_pair_that_is_no_edge_is_an_error_naming_the_pairs() -> None:
    result = run("check", LECTURE, "--at", POINT, "--expect", "dq/dz=1", code=2)
    assert "z is not a direct input of q" in result.stderr
    assert "local gradients of q: dq/dx, dq/dy" in result.stderr and "dL/dz" in result.stderr


def test_generated_and_reassigned_labels() -> None:
    # f(x) = x*x + x: n1 = x*x = 9; df/dn1 = 1, dn1/dx = 6.
    answers = graded("f(x) = x*x + x", "x=3", "dn1/dx=6, df/dn1=1, value(n1)=9, f=12, x=7", code=0)
    assert len(answers) == 5 and all(a["verdict"] == "right" for a in answers.values())
    # c = x + 1 = 3; c' = c*c = 9; f = c' + x: dc'/dc = 2c = 6, df/dc = 6, df/dx = 6 + 1 = 7.
    answers = graded("c = x + 1; c = c * c; f = c + x", "x=2", "dc/dx=1, dc'/dc=6, df/dc'=1, df/dc=6, value(c')=9",
                     code=0)
    assert [a["verdict"] for a in answers.values()] == ["right"] * 5 + ["missing"]  # df/dx not answered


def test_tensors_at_intermediates_and_the_elementwise_local_gradient() -> None:
    # n1 = W @ x = [-1, -1]; f = sum(n1^2): df/dn1 = 2 n1 = [-2, -2]; dn1/dx = W (a Jacobian);
    # dn2/dn1 for n2 = n1^2 is 2 n1, accepted elementwise [-2, -2] or as the diagonal Jacobian.
    text, at = "f(W,x)=sum((W@x)^2)", "W=[[1,2],[3,4]],x=[1,-1]"
    answers = graded(text, at, "df/dn1=[-2,-2], dn1/dx=[[1,2],[3,4]], dn2/dn1=[-2,-2]", code=0)
    assert all(a["verdict"] == "right" for a in answers.values() if a["verdict"] != "missing")
    full = graded(text, at, "dn2/dn1=[[-2,0],[0,-2]]", code=0)
    assert full["∂n2/∂n1"]["verdict"] == "right"


def test_formulas_may_use_the_labels_the_table_shows() -> None:
    answers = graded(LECTURE, None, "z=q, x=z, q=z, value(q)=x+y", code=0)
    assert all(a["verdict"] == "right" for a in answers.values() if a["verdict"] != "missing")
    neuron = "f(w0,x0,w1,x1,w2) = sigmoid(w0*x0 + w1*x1 + w2)"
    answers = graded(neuron, "w0=2,x0=-1,w1=-3,x1=-2,w2=-3", "w0=x0*f*(1-f), x1=w1*f*(1-f), w2=f*(1-f)", code=0)
    assert [answers[k]["verdict"] for k in ("∂f/∂w0", "∂f/∂x1", "∂f/∂w2")] == ["right"] * 3
    wrong = graded(neuron, "w0=2,x0=-1,w1=-3,x1=-2,w2=-3", "w2=f", code=1)["∂f/∂w2"]
    assert wrong["verdict"] == "wrong" and wrong["method"] == "numeric"
    assert "uses" in run("check", LECTURE, "--expect", "z=p", code=2).stderr


def test_upstream_grades_a_layer_s_backward_pass() -> None:
    # f = W @ x with dout = [1, 0.5]: dW = outer(dout, x) = [[1, -1], [0.5, -0.5]], dx = W.T @ dout = [2.5, 4].
    answers = graded("f(W, x) = W @ x", "W=[[1,2],[3,4]],x=[1,-1]", "x=[2.5,4], W=[[1,-1],[0.5,-0.5]]",
                     "--upstream", "[1,0.5]", code=0)
    assert [a["verdict"] for a in answers.values()] == ["right", "right"]
    assert graded("f(W, x) = W @ x", "W=[[1,2],[3,4]],x=[1,-1]", "x=[4,6]", "--upstream", "[1,0.5]",
                  code=1)["∂f/∂x"]["verdict"] == "wrong"


def test_a_node_s_reference_is_verified_not_assumed(monkeypatch: pytest.MonkeyPatch) -> None:
    # With a wrong rule for sin, backprop's gradient at q = x*y (through sin) is wrong: the checks of the
    # graph cut at q say so, and no answer passes on it.
    sin_with_wrong_sign(monkeypatch)
    result = run("check", "q = x * y; f = sin(q)", "--at", "x=1,y=2", "--expect", "df/dq=-0.4161468365471424",
                 "--format", "json", code=1)
    data = json.loads(result.stdout)
    assert data["passed"] is False and "FAILED" in data["checks"]
    assert "q (symbolic" in data["checks"] and "q (numeric" in data["checks"]


def test_cut_graph_gradients_are_the_upstream_gradients() -> None:
    graph = symgrad.parse("a = x * y; b = a + x; f = a * b + sin(x)")
    trace = symgrad.evaluate(graph, {"x": 0.7, "y": -1.3})
    for i, label in enumerate(graph.labels):
        if graph.nodes[i].prim is None or i == graph.output or not label:
            continue
        part = cut(graph, [i], graph.output)
        point = {v: trace.value_of(trace.values[graph.labels.index(v)]) for v in part.variables}
        sub = symgrad.evaluate(part, point)
        assert float(sub.value) == pytest.approx(float(trace.value), rel=1e-15)
        np.testing.assert_allclose(sub.gradient[label], trace.grad_of(trace.grads[i]), rtol=1e-14)


def test_homework_problems_take_upstream_and_node_answers(tmp_path: Path) -> None:
    path = tmp_path / "hw.toml"
    path.write_text('[[problem]]\nname = "layer"\nfunction = "f(W, x) = W @ x"\nat = "W=[[1,2],[3,4]],x=[1,-1]"\n'
                    'upstream = [1, 0.5]\nexpect = "x=[2.5,4]"\n\n'
                    '[[problem]]\nname = "lecture"\nfunction = "q = x + y; L = q * z"\nat = "x=-2,y=5,z=-4"\n'
                    'expect = "dL/dq=-4, value(q)=3, dq/dx=1"\n', encoding="utf-8")
    data = json.loads(run("check", str(path), "--format", "json", code=0).stdout)
    assert [p["passed"] for p in data["problems"]] == [True, True]


def test_answers_from_files_on_the_command_line_only(tmp_path: Path) -> None:
    np.save(tmp_path / "dW.npy", np.array([[1.0, -1.0], [0.5, -0.5]]))
    (tmp_path / "dx.json").write_text("[2.5, 4]", encoding="utf-8")
    answers = graded("f(W, x) = W @ x", "W=[[1,2],[3,4]],x=[1,-1]",
                     f"x=@{tmp_path / 'dx.json'}, W=@{tmp_path / 'dW.npy'}", "--upstream", "[1,0.5]", code=0)
    assert [a["verdict"] for a in answers.values()] == ["right", "right"]
    hw = tmp_path / "hw.toml"
    hw.write_text('[[problem]]\nfunction = "f(x) = x*x"\nat = "x=3"\nexpect = "x=@dx.json"\n', encoding="utf-8")
    out = run("check", str(hw), code=1).stdout
    assert "may not name files" in out
