"""The builder's parts on their own: the parser's one binary rule, the name rules (scope.Names),
the lowering's dependence on inputs, and graph.reach, the one walk along differentiable edges."""

from __future__ import annotations

import pytest

from symgrad.engine import depends_on_inputs
from symgrad.errors import SymgradError
from symgrad.graph import _Builder, build, node_limit, reach
from symgrad.parser import parse, post_order
from symgrad.scope import Names, Step, canonical

# ---- parser: one binary rule, named by its operator's token -------------------------


@pytest.mark.parametrize(("written", "op"), [
    ("+", "add"), ("-", "sub"), ("\u2212", "sub"), ("\u2013", "sub"),
    ("*", "mul"), ("\u00d7", "mul"), ("\u00b7", "mul"), ("\u22c5", "mul"),
    ("/", "div"), ("\u00f7", "div"), ("@", "matmul"), ("^", "pow"), ("**", "pow"),
])
def test_each_operator_token_names_its_operation(written: str, op: str) -> None:
    program = parse(f"a {written} bc")
    assert [(s.kind, s.text, s.children) for s in program.syntax] == [
        ("name", "a", ()), ("name", "bc", ()), ("op", op, (0, 1)),
    ]
    assert (program.syntax[2].start, program.syntax[2].end) == (0, len(program.source.text))


def test_precedence_and_associativity_survive_the_one_rule() -> None:
    syntax = parse("a - b - c * d ^ e ^ f").syntax
    ops = [(s.text, tuple(syntax[c].text for c in s.children)) for s in syntax if s.kind == "op"]
    assert ops == [("sub", ("a", "b")), ("pow", ("e", "f")), ("pow", ("d", "pow")),
                   ("mul", ("c", "pow")), ("sub", ("sub", "mul"))]


def test_post_order_lists_children_before_parents() -> None:
    program = parse("q = (x + 1) * y; f = q")
    order = post_order(program.syntax, program.statements[0].rhs)
    assert [program.syntax[i].text for i in order] == ["x", "1", "add", "y", "mul"]


# ---- scope.Names: what a name means, before and while lowering ----------------------


def names(text: str, expand: bool = False) -> Names:
    return Names(parse(text), expand)


def test_plan_lists_the_statements_to_lower_and_the_inputs() -> None:
    n = names("g(a) = a * 2\nq = g(y) + x\nf(x, y) = q * x")
    steps, variables = n.plan()
    assert [(s.name, s.span) for s in steps] == [("q", (13, 25)), ("f", (26, 41))]
    assert isinstance(steps[0], Step)
    assert variables == ["x", "y"]
    assert n.header is not None and (n.header.name, n.header.params) == ("f", ("x", "y"))
    assert list(n.functions) == ["g"] and n.functions["g"].params == ("a",)
    assert n.head("f", variables) == "f(x, y)"


def test_free_names_are_the_inputs_in_order_of_first_use() -> None:
    n = names("q = b * a; c * q + a")
    steps, variables = n.plan()
    assert variables == ["b", "a", "c"]
    assert [s.name for s in steps] == ["q", None]
    assert n.head("f", variables) == "f(b, a, c)"


def test_lookup_a_name_in_scope_a_constant_or_neither() -> None:
    n = names("x")
    env = {"x": 0, "pi": 3}
    assert n.lookup("x", env, None) == 0
    assert n.lookup("π", env, None) == 3  # one name, two spellings
    assert n.lookup("e", env, None) == "e"  # not in scope: Euler's number
    assert n.lookup("π", {}, None) == "pi"
    with pytest.raises(SymgradError, match="unknown name zz"):
        n.lookup("zz", env, (0, 2))
    assert canonical("π") == "pi" and canonical("x") == "x"


def test_taking_a_constants_name_for_a_variable_is_noted() -> None:
    n = names("e = x + 1\nf = e * 2")
    n.plan()
    n.finish([])
    assert n.notes == ["e is a variable here; Euler's number is exp(1)"]
    assert n.shadowed == {"e": ("e", "line 1 assigns it")}


def test_a_parameter_named_like_a_constant_is_noted_for_its_function() -> None:
    n = names("g(e) = e * 2\nf(x) = g(x)")
    n.plan()
    assert n.notes == ["inside g, e is g's parameter; Euler's number is exp(1)"]


def test_a_body_calls_only_functions_defined_before_it() -> None:
    n = names("g(a) = a\nh(b) = g(b)\nf(x) = h(x)")
    n.plan()
    g, h = n.functions["g"], n.functions["h"]
    call_g = next(s for s in n.syntax if s.kind == "call" and s.text == "g")
    call_h = next(s for s in n.syntax if s.kind == "call" and s.text == "h")
    assert n.callee(call_g, True, h) is g
    assert n.callee(call_h, True, g) is None  # g's body cannot see h
    assert n.callee(call_g, False, None) is None  # an expansion sees only built-ins
    assert n.called == {"g"}


def test_grouped_gates_run_their_expansion_only_with_expand() -> None:
    text = "f(x) = sigmoid(x)"
    call = next(s for s in parse(text).syntax if s.kind == "call" and s.text == "sigmoid")
    assert names(text).callee(call, True, None) is None
    body = names(text, expand=True).callee(call, True, None)
    assert body is not None and body.name == "sigmoid" and body.params == ("x",)


def test_unused_values_and_uncalled_functions_are_warned_about_in_that_order() -> None:
    n = names("g(a) = a\nq = x * 2\nf(x) = x")
    n.plan()
    n.finish([("q", (9, 18))])
    assert n.warnings == ["q (line 2) is never used by the output", "function g (line 1) is never called"]


def test_a_fresh_output_name_avoids_variables_nodes_and_functions() -> None:
    n = names("f(a) = a\nout * result + f(x)")
    n.plan()
    assert n.output_name(["out", "result"], {"x"}) == "f1"
    assert n.output_name(["x"], set()) == "out"


def test_reassigned_names_are_labelled_again() -> None:
    text = "\n".join(["c = x * 2"] + ["c = c + 1"] * 4 + ["f = c"])
    graph = build(text)
    assert [label for label in graph.labels if label.startswith("c")] == ["c", "c'", "c''", "c'''", "c#5"]


# ---- graph.reach: the one walk along differentiable edges ----------------------------

PROGRAMS = [
    "f(x, y, z) = (x + y) * z",
    "f(W, x, y) = sum(max(0, W @ x - (W @ x)[y] + 1)) - 1",
    "f(x, y) = x[y] * 2",
    "f(x, y) = x[y + 1]",
    "f(x, y) = x[[0, 1][y]]",
    "g(a, b) = a * b + sigmoid(a)\nf(x, y) = g(x, x) + g(y, 2)",
    "f(x, y) = 3 + 0 * y",
    "f(v) = sum(v, 0) / mean(v)",
]


@pytest.mark.parametrize("text", PROGRAMS)
@pytest.mark.parametrize("expand", [False, True])
def test_reach_from_the_inputs_is_where_a_gradient_flows(text: str, expand: bool) -> None:
    graph = build(text, expand=expand)
    assert reach(graph.nodes, graph.inputs) == depends_on_inputs(graph)


@pytest.mark.parametrize("text", PROGRAMS)
def test_reach_from_one_input(text: str) -> None:
    graph = build(text)
    for start in graph.inputs:
        reached = reach(graph.nodes, [start])
        assert reached[start]
        assert not any(reached[:start])
        assert [i for i in graph.inputs if reached[i]] == [start]


def test_an_index_carries_no_gradient_but_its_value_depends_on_the_input() -> None:
    graph = build("f(x, y) = x[[0, 1][y]]")
    y = graph.inputs[1]
    assert not reach(graph.nodes, [y])[graph.output]
    assert reach(graph.nodes, [y], every_edge=True)[graph.output]


@pytest.mark.parametrize("text", PROGRAMS)
def test_the_builder_tracks_every_edge_reach_as_it_goes(text: str) -> None:
    builder = _Builder(parse(text), False, node_limit(text))
    graph = builder.run()
    assert builder.dep == reach(graph.nodes, graph.inputs, every_edge=True)


def test_an_axis_reached_from_an_input_through_an_index_is_still_refused() -> None:
    with pytest.raises(SymgradError, match="the axis of sum must be a constant number"):
        build("f(W, y) = sum(W, [0, 1][y])")


@pytest.mark.slow
def test_reach_does_not_recurse() -> None:
    graph = build("x" + " + x" * 100_000)
    assert all(reach(graph.nodes, graph.inputs))
