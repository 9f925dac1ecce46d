"""Building the graph: inputs, named intermediates, functions, groups and errors."""

from __future__ import annotations

import pytest
from support import trace_of

import symgrad
from symgrad.errors import SymgradError
from symgrad.graph import describe


def ops(graph: symgrad.Graph) -> list[str]:
    return [n.op for n in graph.nodes]


def test_header_orders_inputs_and_names_output() -> None:
    g = symgrad.parse("f(z, y, x) = (x + y) * z")
    assert g.variables == ["z", "y", "x"]
    assert [g.nodes[i].name for i in g.inputs] == ["z", "y", "x"]
    assert g.output_name == "f"
    assert g.nodes[g.output].name == "f"
    assert g.header == "f(z, y, x)"


def test_free_variables_in_order_of_first_appearance() -> None:
    g = symgrad.parse("q = b * a; f = q + c + a")
    assert g.variables == ["b", "a", "c"]
    assert g.output_name == "f"


def test_inputs_come_first_and_nodes_are_topological() -> None:
    g = symgrad.parse("q = x + y; r = q * z; f = r - w")
    n = len(g.inputs)
    assert ops(g)[:n] == ["input"] * n
    for i, node in enumerate(g.nodes):
        assert all(j < i for j in node.inputs)
    assert g.output == len(g.nodes) - 1


def test_named_intermediate_keeps_its_name() -> None:
    g = symgrad.parse("q = x + y; f = q * z")
    q = next(i for i, n in enumerate(g.nodes) if n.name == "q")
    assert g.nodes[q].op == "add"
    assert g.labels[q] == "q"
    assert describe(g, g.output) == "q * z"


def test_reassignment_makes_a_new_node() -> None:
    g = symgrad.parse("c = x * 2; c = c + 1; f = c * c")
    named_c = [i for i, n in enumerate(g.nodes) if n.name == "c"]
    assert len(named_c) == 2
    assert g.nodes[named_c[1]].inputs[0] == named_c[0]
    value, grads = symgrad.gradient("c = x * 2; c = c + 1; f = c * c", x=3)
    assert value == 49.0
    assert grads == {"x": 2 * 7 * 2}


def test_bare_last_expression_is_called_f() -> None:
    g = symgrad.parse("x * y")
    assert g.output_name == "f"
    g = symgrad.parse("f * x")  # f is taken by a variable: the output gets another name
    assert g.output_name != "f"
    assert g.output_name not in g.variables


def test_output_that_is_an_input_gets_its_own_node() -> None:
    g = symgrad.parse("f(x) = x")
    assert g.nodes[g.output].op == "id"
    assert g.nodes[g.output].name == "f"
    assert symgrad.gradient("f(x) = x", x=5) == (5.0, {"x": 1.0})


def test_unused_parameter_gets_gradient_zero() -> None:
    assert symgrad.gradient("f(x, y) = x * 3", x=2, y=7) == (6.0, {"x": 3.0, "y": 0.0})


def test_unused_statement_is_warned_about() -> None:
    g = symgrad.parse("q = x * 2; f(x, y) = y + 1")
    assert any("q" in w and "never used" in w for w in g.warnings)


def test_constants_are_nodes_of_their_own() -> None:
    g = symgrad.parse("f(x) = 2 * x + pi")
    consts = [n for n in g.nodes if n.op == "const"]
    assert sorted(n.text or "" for n in consts) == ["2", "pi"]
    assert [n.inputs for n in consts] == [(), ()]


def test_a_variable_used_twice_is_one_node_with_two_consumers() -> None:
    g = symgrad.parse("f(x) = x * x")
    assert len(g.inputs) == 1
    assert g.nodes[g.output].inputs == (g.inputs[0], g.inputs[0])


def test_generated_labels_never_collide_with_user_names() -> None:
    g = symgrad.parse("n1 = x + 1; n2 = n1 * x; f = n2 + x * x")
    labels = [g.labels[i] for i in range(len(g.nodes)) if g.nodes[i].op != "const"]
    assert len(labels) == len(set(labels)) + 0  # every visible node has a distinct label
    assert "n3" in labels  # x * x got the first free generated name


def test_user_function_is_one_group() -> None:
    g = symgrad.parse("sq(a) = a * a; f(x) = sq(x + 1) * 2")
    assert len(g.groups) == 1
    grp = g.groups[0]
    assert grp.function == "sq"
    assert describe(g, grp.output) == f"sq({g.labels[grp.args[0]]})"
    inner = [i for i, n in enumerate(g.nodes) if n.group == 0]
    assert inner == list(range(grp.start, grp.output + 1))
    assert symgrad.gradient("sq(a) = a * a; f(x) = sq(x + 1) * 2", x=2) == (18.0, {"x": 12.0})


def test_functions_call_earlier_functions_and_expand_removes_groups() -> None:
    text = "sq(a) = a * a; h(a, b) = sq(a) + b; f(x, y) = h(x, y) * h(y, x)"
    g = symgrad.parse(text)
    assert [grp.function for grp in g.groups] == ["h", "h"]
    flat = symgrad.parse(text, expand=True)
    assert flat.groups == []
    assert all(n.group is None for n in flat.nodes)
    a = trace_of(g, x=2, y=3)
    b = trace_of(flat, x=2, y=3)
    assert float(a.value) == float(b.value) == (4 + 3) * (9 + 2)
    # d/dx (x^2 + y)(y^2 + x) = 2x (y^2 + x) + (x^2 + y)
    assert float(a.gradient["x"]) == float(b.gradient["x"]) == 2 * 2 * 11 + 7
    assert float(a.gradient["y"]) == float(b.gradient["y"]) == 11 + 7 * 2 * 3


def test_expand_rewrites_grouped_gates_to_primitives() -> None:
    g = symgrad.parse("f(x) = sigmoid(x)", expand=True)
    assert "sigmoid" not in ops(g)
    assert {"exp", "neg", "add", "div"} <= set(ops(g))
    assert "sigmoid" in ops(symgrad.parse("f(x) = sigmoid(x)"))


def test_expansion_ignores_a_user_function_named_like_a_primitive() -> None:
    # The user's own exp must not leak into sigmoid's expansion.
    text = "exp(a) = a; f(x) = sigmoid(x)"
    direct = symgrad.gradient(text, x=0.3)
    flat = trace_of(text, expand=True, x=0.3)
    assert float(flat.value) == pytest.approx(direct[0], rel=1e-12)


def test_a_body_sees_builtins_not_later_functions_of_the_same_name() -> None:
    text = "g(a) = sigmoid(a); sigmoid(a) = a * 100; f(x) = g(x)"
    value, _ = symgrad.gradient(text, x=0.0)
    assert value == 0.5


@pytest.mark.parametrize(
    ("text", "kind", "fragment"),
    [
        ("x = x + 1", "name", "x is an input"),
                ("x * 2; f = x", "unused", "never used"),
        ("q = x + y; f(x) = q", "name", "y is not a parameter of f"),
        ("g(a) = a * b; f(x) = g(x)", "name", "b is not a parameter of g"),
        ("g(a) = g(a) + 1; f(x) = g(x)", "recursion", "recursion"),
        ("f(x) = g(x); g(a) = a", "name", "unknown function g"),
        ("f(x) = expp(x)", "name", "unknown function expp"),
        ("f(x) = max(x, x, x)", "arity", "max takes 1 or 2 arguments, but 3 were given"),
        ("f(x) = sum()", "arity", "sum takes 1 or 2 arguments, but 0 were given"),
        ("f(x) = exp(x, x)", "arity", "exp takes 1 argument (x), but 2 were given"),
        ("sq(a) = a*a; f(x) = sq(x, x)", "arity", "sq takes 1 argument (a), but 2 were given"),
        ("f(x + 1) = x", "syntax", "plain names"),
        ("f(x, x) = x", "name", "appears twice"),
        ("g(a) = a; g(b) = b; f(x) = g(x)", "name", "defined twice"),
        ("f = sin * x", "name", "sin is a function"),
        ("2 = x", "syntax", "left of '='"),
        ("q = x; f(q) = q", "name", "q is a named intermediate"),
    ],
)
def test_errors(text: str, kind: str, fragment: str) -> None:
    with pytest.raises(SymgradError) as info:
        symgrad.parse(text)
    assert info.value.kind == kind
    assert fragment in info.value.message
    assert info.value.span is not None


def test_unknown_function_suggests_the_nearest() -> None:
    with pytest.raises(SymgradError) as info:
        symgrad.parse("f(x) = sigmod(x)")
    assert info.value.hint is not None and "sigmoid" in info.value.hint


def test_error_points_at_the_offending_text() -> None:
    text = "q = x + 1\nf(x) = q * y"
    with pytest.raises(SymgradError) as info:
        symgrad.parse(text)
    assert info.value.line_col == (2, 12)
    rendered = info.value.render()
    assert "f(x) = q * y" in rendered
    assert "           ^" in rendered
