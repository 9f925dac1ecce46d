"""Forward and backward: values, local gradients, upstream, what is sent down, fan-out."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support import finite_differences

import symgrad
from symgrad.engine import evaluate, evaluate_points, unbroadcast
from symgrad.errors import SymgradError
from symgrad.records import records


def rec_by_label(trace: symgrad.Trace) -> dict[str, symgrad.Record]:
    return {r.label: r for r in records(trace)}


def test_lecture_first_example_node_by_node() -> None:
    # By hand: q = x + y = 3, f = q * z = -12; df/dq = z = -4, df/dz = q = 3, df/dx = df/dy = -4.
    trace = evaluate(symgrad.parse("q = x + y; f = q * z"), {"x": -2, "y": 5, "z": -4})
    r = rec_by_label(trace)
    assert float(r["q"].value) == 3 and float(r["f"].value) == -12
    assert float(r["f"].upstream) == 1
    assert [float(v) for v in (e.local for e in r["f"].edges)] == [-4, 3]  # df/dq = z, df/dz = q
    assert [float(v) for v in (e.downstream for e in r["f"].edges)] == [-4, 3]
    assert float(r["q"].upstream) == -4
    assert [float(v) for v in (e.local for e in r["q"].edges)] == [1, 1]
    assert [float(v) for v in (e.downstream for e in r["q"].edges)] == [-4, -4]
    assert {k: float(v) for k, v in trace.gradient.items()} == {"x": -4, "y": -4, "z": 3}


def test_fan_out_branches_add() -> None:
    trace = evaluate(symgrad.parse("f(x) = x * x + x"), {"x": 3})
    r = rec_by_label(trace)
    assert float(r["x"].upstream) == 7
    # 6 from the product (3 + 3 along its two edges), 1 from the sum
    assert [(records(trace)[c].label, float(v)) for c, v in r["x"].contributions] == [("n1", 6.0), ("f", 1.0)]
    assert float(symgrad.evaluate(symgrad.parse("f(x) = x*x"), {"x": 3}).gradient["x"]) == 6


def test_contributions_sum_to_the_gradient() -> None:
    trace = evaluate(symgrad.parse("a = x * y; b = x + a; f = a * b + sin(x)"), {"x": 0.7, "y": -1.3})
    for rec in records(trace):
        if len(rec.contributions) > 1:
            total = sum(float(v) for _, v in rec.contributions)
            assert total == pytest.approx(float(rec.upstream), rel=1e-12)


def test_constant_inputs_get_no_local_gradient() -> None:
    trace = evaluate(symgrad.parse("f(x) = x ^ 2"), {"x": -3})
    out = rec_by_label(trace)["f"]
    assert out.edges[1].local is None and out.edges[1].downstream is None
    assert float(out.edges[0].local) == -6
    assert trace.warnings == []  # d(x^2)/d2 = 9 log(-3) is never computed


def test_grouped_gate_record() -> None:
    trace = evaluate(symgrad.parse("sq(a) = a * a + a; f(x, y) = sq(x * y) * 2"), {"x": 3, "y": 2})
    recs = records(trace)
    call = next(r for r in recs if r.op == "call")
    assert call.function == "sq"
    assert float(call.value) == 42  # 6*6 + 6
    assert float(call.edges[0].local) == 13  # d(a^2 + a)/da at 6
    assert float(call.upstream) == 2
    assert float(call.edges[0].downstream) == 26
    assert [recs[i].label for i in call.inputs] == ["n1"]
    assert {k: float(v) for k, v in trace.gradient.items()} == {"x": 26 * 2, "y": 26 * 3}
    # the body's own nodes are not shown
    assert len(recs) == len([n for n in trace.graph.nodes if n.group is None]) + 1


def test_grouped_gate_local_gradient_is_independent_of_upstream() -> None:
    # relu kills the upstream gradient, but sq's local gradient is still 2a.
    trace = evaluate(symgrad.parse("sq(a) = a * a; f(x) = relu(-1 * sq(x))"), {"x": 3})
    call = next(r for r in records(trace) if r.op == "call")
    assert float(call.edges[0].local) == 6
    assert float(call.upstream) == 0
    assert float(call.edges[0].downstream) == 0


def test_many_points_along_a_leading_axis_match_single_points() -> None:
    text = "f(x, y) = sigmoid(x * y) + log(1 + x^2) * max(x, y)"
    graph = symgrad.parse(text)
    xs = np.array([-2.0, -0.5, 0.3, 1.7])
    ys = np.array([0.4, 2.0, -1.1, 1.7])
    many = evaluate_points(graph, {"x": xs, "y": ys})
    assert many.value.shape == (4,)
    for k in range(4):
        one = evaluate(graph, {"x": xs[k], "y": ys[k]})
        assert float(many.value[k]) == pytest.approx(float(one.value), rel=1e-14)
        for name in ("x", "y"):
            assert float(many.gradient[name][k]) == pytest.approx(float(one.gradient[name]), rel=1e-14)


def test_backprop_agrees_with_finite_differences() -> None:
    text = "q = x * y + z; r = exp(-q) * tanh(x); f(x, y, z) = r / (1 + q^2) + sqrt(z) * log(y)"
    at = {"x": 0.7, "y": 1.9, "z": 0.4}
    _, grads = symgrad.gradient(text, **at)
    numeric = finite_differences(text, at)
    for name in at:
        assert grads[name] == pytest.approx(numeric[name], rel=1e-6, abs=1e-9)


def test_domain_problems_are_warnings_naming_the_node() -> None:
    trace = evaluate(symgrad.parse("a = log(x); f(x, y) = a + 1 / y"), {"x": -1, "y": 0})
    messages = [w.message for w in trace.warnings]
    assert any(m.startswith("a = log(x) is nan") for m in messages)
    assert any("1 / y is infinite" in m for m in messages)
    assert math.isnan(float(trace.value))


def test_point_must_match_the_variables() -> None:
    graph = symgrad.parse("f(x, y) = x * y")
    with pytest.raises(SymgradError, match="no value for y"):
        evaluate(graph, {"x": 1})
    with pytest.raises(SymgradError, match="not a variable"):
        evaluate(graph, {"x": 1, "y": 2, "w": 3})


def test_unbroadcast_sums_over_broadcast_axes_but_keeps_the_leading_one() -> None:
    g = np.ones((5, 3, 2, 4))  # 5 points (or Jacobian rows), each a (3, 2, 4) gradient
    assert unbroadcast(g, (2, 4)).tolist() == (3 * np.ones((5, 2, 4))).tolist()
    assert unbroadcast(g, (2, 1)).tolist() == (12 * np.ones((5, 2, 1))).tolist()
    assert unbroadcast(g, ()).tolist() == [24.0] * 5


# ---- deep and long inputs: nothing recurses with the input's size ----------------------------

N = 100_000


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "x", "value", "grad"),
    [
        ("(" * N + "x" + ")" * N, 2.0, 2.0, 1.0),
        ("-" * N + "x", 2.0, 2.0, 1.0),  # an even number of minus signs
        ("+".join(["x"] * N), 2.0, 2.0 * N, float(N)),
        ("c = x\n" + "c = c + 1\n" * N + "f = c", 2.0, 2.0 + N, 1.0),
        ("x" + "^1" * N, 2.0, 2.0, 1.0),
    ],
    ids=["nested-parens", "nested-minus", "long-sum", "long-program", "power-tower"],
)
def test_deep_and_long_inputs(text: str, x: float, value: float, grad: float) -> None:
    from symgrad.views import json_view, plain

    trace = evaluate(symgrad.parse(text), {"x": x})
    assert float(trace.value) == value
    assert float(trace.gradient["x"]) == grad
    recs = records(trace)
    assert plain.render(trace, recs).count("\n") >= 3
    assert json_view.dumps(json_view.result(trace, recs)).startswith("{")


@pytest.mark.slow
def test_deeply_nested_calls() -> None:
    text = "sin(" * N + "x" + ")" * N
    trace = evaluate(symgrad.parse(text), {"x": 0.5})
    # d/dx sin^n(x) = prod cos(sin^k(x)), computed here independently by a loop
    v, d = 0.5, 1.0
    for _ in range(N):
        d *= math.cos(v)
        v = math.sin(v)
    assert float(trace.value) == pytest.approx(v, rel=1e-12)
    assert float(trace.gradient["x"]) == pytest.approx(d, rel=1e-9)


@pytest.mark.slow
def test_long_chain_of_functions() -> None:
    n = 20_000
    chain = "\n".join(f"g{i}(a) = g{i - 1}(a) * 1 + 1" for i in range(1, n))
    text = f"g0(a) = a + 1\n{chain}\nf(x) = g{n - 1}(x)"
    assert symgrad.gradient(text, x=1.0) == (1.0 + n, {"x": 1.0})


EDGE_PROGRAMS = [
    ("q = x + y; f = q * z", {"x": -2, "y": 5, "z": -4}),
    ("f(x) = x * x + x", {"x": 3}),
    ("sq(a) = a * a + a; f(x, y) = sq(x * y) * 2", {"x": 3, "y": 2}),
    ("f(W, x, y) = sum(softmax(W @ x)[y] * [x[0], x[0], x[1]])",
     {"W": [[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]], "x": [1.5, -2.0], "y": 1}),
    ("f(x, y) = max(x, y) * relu(x - 1) + atan2(y, x)", {"x": 2.0, "y": -1.0}),
]


@pytest.mark.parametrize(("text", "at"), EDGE_PROGRAMS, ids=[t for t, _ in EDGE_PROGRAMS])
def test_every_node_s_upstream_gradient_is_the_sum_of_what_its_consumers_send(text: str, at: dict) -> None:
    # Reverse accumulation: d f / d node = the sum, over the edges out of it, of the downstream gradients.
    trace = evaluate(symgrad.parse(text), at)
    for j, g in enumerate(trace.grads):
        flows = trace.consumers(j)
        if j == trace.graph.output or not flows:
            continue
        assert g is not None
        np.testing.assert_allclose(sum(f.downstream for f in flows), g, rtol=1e-15)
        assert all(f.edge.source == j and f.edge.differentiable for f in flows)


@pytest.mark.parametrize(("text", "at"), EDGE_PROGRAMS, ids=[t for t, _ in EDGE_PROGRAMS])
def test_records_read_the_edges(text: str, at: dict) -> None:
    trace = evaluate(symgrad.parse(text), at)
    recs = records(trace)
    for rec in recs:
        node = trace.graph.nodes[rec.node]
        if rec.kind in ("input", "const"):
            assert rec.edges == ()
            continue
        assert len(rec.edges) == (len(node.inputs) if rec.kind == "gate" else len(trace.graph.groups[node.group].args))
        for e in rec.edges:
            if e.downstream is not None:  # what it sends is among the input's contributions
                assert rec.id in [c for c, _ in recs[e.source].contributions]


def test_an_index_edge_carries_no_gradient() -> None:
    from symgrad.graph import edges

    graph = symgrad.parse("f(s, y) = s[y]")
    (i, node), = [(i, n) for i, n in enumerate(graph.nodes) if n.op == "index"]
    assert [(e.position, e.differentiable) for e in edges(node, i)] == [(0, True), (1, False)]
    trace = evaluate(graph, {"s": [1.0, 2.0], "y": 1})
    assert [f.edge.position for f in trace.flows[i]] == [0]
    assert "y" not in trace.gradient


def test_inputs_and_constants_are_node_kinds() -> None:
    from symgrad.graph import Kind

    graph = symgrad.parse("f(x) = 2 * x")
    assert [n.kind for n in graph.nodes] == [Kind.INPUT, Kind.CONST, Kind.GATE]
    assert [n.op for n in graph.nodes] == ["input", "const", "mul"]
    assert graph.nodes[0].prim is None and graph.nodes[2].prim is symgrad.primitives.PRIMITIVES["mul"]


@pytest.mark.parametrize("unused", ["1/x", "sqrt(x)", "log(x) * 3", "x^0.5 + 1/x"])
def test_an_unused_statement_sends_no_gradient(unused: str) -> None:
    # f(x) = x has gradient 1 at 0 whatever an unused statement computes there; before, the unused
    # node sent 0 * inf = nan down to x, and the checks called backprop's nan "lost by float64"
    trace = evaluate(symgrad.parse(f"u = {unused}; f(x) = x"), {"x": 0})
    assert float(trace.gradient["x"]) == 1.0
    r = rec_by_label(trace)
    assert float(r["u"].upstream) == 0.0
    assert all(float(e.downstream) == 0.0 for e in r["u"].edges if e.downstream is not None)  # exactly 0
    *unused_branches, (_, from_f) = r["x"].contributions
    assert [float(v) for _, v in unused_branches] == [0.0] * len(unused_branches) and float(from_f) == 1.0
    many = evaluate_points(symgrad.parse(f"u = {unused}; f(x) = x"), {"x": [0.0, 1.0]})
    assert list(many.gradient["x"]) == [1.0, 1.0]


def test_an_unused_statement_is_not_swept_without_records(monkeypatch: pytest.MonkeyPatch) -> None:
    # many points (and the CSV row) record no flows: a node the output does not read costs nothing backward
    from symgrad import engine

    calls = []
    real = engine.edge_vjp

    def counted(*args: object) -> object:
        calls.append(args[0])
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "edge_vjp", counted)
    text = "\n".join([*(f"t{k} = sin(x) * {k}" for k in range(200)), "f(x) = x * 2"])
    evaluate_points(symgrad.parse(text), {"x": [0.5, 1.5]})
    assert len(calls) == 1  # f's edge to x; none of the 400 edges of the unused statements


def test_an_unused_statement_changes_no_verdict() -> None:
    from support import run_json

    data = run_json("u = 1/x; f(x) = x", "--at", "x=0")
    assert data["gradient"] == {"x": 1.0} and data["checks"]["agree"] is True
