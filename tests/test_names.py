"""Names that are also constants (issue 10): e and pi (π) are Euler's number and π
unless the program assigns them or its header declares them; then they are the
user's variables in the whole program, with a note saying so."""

from __future__ import annotations

import math

import pytest
from support import trace_of

import symgrad
from symgrad import SymgradError
from symgrad.binding import check_bindings, parse_at
from symgrad.checks import symbolic_check

E_NOTE = "e is a variable here; Euler's number is exp(1)"
PI_NOTE = "pi is a variable here; the number π is 4*atan(1)"


def grad(text: str, **at: float) -> tuple[float, dict[str, float]]:
    trace = trace_of(text, **at)
    return float(trace.value), {k: float(v) for k, v in trace.gradient.items()}


def error(text: str) -> SymgradError:
    with pytest.raises(SymgradError) as info:
        symgrad.parse(text)
    return info.value


# ---- assigned: an intermediate -----------------------------------------------------


def test_an_assigned_e_is_an_intermediate() -> None:
    text = "e = y - t; loss = e^2"
    g = symgrad.parse(text)
    assert g.variables == ["y", "t"]
    assert g.notes == [E_NOTE]
    assert g.warnings == []
    (named,) = [n for n in g.nodes if n.name == "e"]
    assert named.op == "sub"
    assert "e" in g.labels
    assert not any(n.op == "const" and n.text == "e" for n in g.nodes)
    # e = 3 - 1 = 2, loss = 4; dloss/dy = 2e = 4, dloss/dt = -2e = -4.
    assert grad(text, y=3, t=1) == (4.0, {"y": 4.0, "t": -4.0})


def test_an_assigned_pi_is_an_intermediate() -> None:
    # pi = 3, f = 3x: at x = 2, f = 6 and df/dx = 3.
    assert grad("pi = 3; f = pi * x", x=2) == (6.0, {"x": 3.0})
    assert symgrad.parse("pi = 3; f = pi * x").notes == [PI_NOTE]


def test_e_as_the_output() -> None:
    g = symgrad.parse("e = 3")
    assert g.output_name == "e"
    assert grad("e = 3") == (3.0, {})


def test_e_assigned_again() -> None:
    # e = y = 2, then e' = 3; f = e'^2 = 9, df/dy = 2 (y + 1) = 6.
    text = "e = y; e = e + 1; f = e*e"
    assert grad(text, y=2) == (9.0, {"y": 6.0})
    assert symgrad.parse(text).labels == ["y", "e", "1", "e'", "f"]


def test_a_use_before_the_assignment_is_an_error() -> None:
    # Like any name, e is one thing in the whole program: the first line's e has no value yet.
    err = error("y2 = e*y; e = y - t; loss = e^2")
    assert err.kind == "name"
    assert err.message == "e is used on line 1 before any value is assigned to it"
    assert err.span == (5, 6)
    assert err.hint is not None and "exp(1)" in err.hint and "whole program" in err.hint


def test_a_use_before_the_assignment_is_an_error_like_for_any_name() -> None:
    err = error("x2 = x*2; x = x2 - t; loss = x^2")
    assert err.kind == "name" and "x is an input" in err.message


# ---- declared: a parameter of the program -------------------------------------------


def test_e_as_a_parameter() -> None:
    text = "f(e, x) = e*x"
    g = symgrad.parse(text)
    assert g.variables == ["e", "x"]
    assert [g.nodes[i].op for i in g.inputs] == ["input", "input"]
    assert not any(n.op == "const" for n in g.nodes)
    assert g.notes == [E_NOTE]
    # f = 2 * 3 = 6; df/de = x = 3, df/dx = e = 2.
    assert grad(text, e=2, x=3) == (6.0, {"e": 3.0, "x": 2.0})


def test_pi_as_a_parameter() -> None:
    # f = 3 * 2^2 = 12; df/dpi = r^2 = 4, df/dr = 2 pi r = 12.
    assert grad("f(pi, r) = pi*r^2", pi=3, r=2) == (12.0, {"pi": 4.0, "r": 12.0})


def test_pi_written_as_the_greek_letter_is_the_same_name() -> None:
    g = symgrad.parse("f(π, r) = pi*r^2")
    assert g.variables == ["pi", "r"]
    assert g.header == "f(pi, r)"
    assert g.notes == ["π is a variable here (named pi); the number π is 4*atan(1)"]
    assert grad("f(π, r) = π*r^2", pi=3, r=2) == (12.0, {"pi": 4.0, "r": 12.0})
    assert error("f(pi, π) = pi").message == "parameter π appears twice in f(...)"


def test_the_header_declares_e_for_earlier_lines_too() -> None:
    # q = e*x with e = 2, x = 5: f = 10, df/de = x = 5, df/dx = e = 2.
    assert grad("q = e*x; f(e, x) = q", e=2, x=5) == (10.0, {"e": 5.0, "x": 2.0})


# ---- neither: the constants ------------------------------------------------------


def test_e_is_still_eulers_number_otherwise() -> None:
    g = symgrad.parse("f(x) = e^x")
    assert g.notes == []
    assert [n.text for n in g.nodes if n.op == "const"] == ["e"]
    # d/dx e^x = e^x: at x = 1 both are e.
    value, gradient = grad("f(x) = e^x", x=1)
    assert value == pytest.approx(math.e, rel=1e-15)
    assert gradient == {"x": pytest.approx(math.e, rel=1e-15)}


def test_a_constant_cannot_name_a_function() -> None:
    err = error("e(x) = x")
    assert err.kind == "name" and err.message == "e is a constant and cannot name a function"


# ---- function definitions: their own scope ------------------------------------------


def test_e_as_a_function_parameter() -> None:
    text = "g(e) = e*2; f(x) = g(x)"
    g = symgrad.parse(text)
    assert g.variables == ["x"]
    assert g.notes == ["inside g, e is g's parameter; Euler's number is exp(1)"]
    assert grad(text, x=1) == (2.0, {"x": 2.0})


def test_outside_the_function_e_is_eulers_number() -> None:
    # g(1) = 2, plus Euler's number; the constant adds nothing to df/dx = 2.
    value, gradient = grad("g(e) = e*2; f(x) = g(x) + e", x=1)
    assert value == pytest.approx(2 + math.e, rel=1e-15)
    assert gradient == {"x": 2.0}


def test_a_body_cannot_see_the_programs_e() -> None:
    # A body sees only its parameters: when the program makes e a variable, e in a body
    # could mean either, so it is an error rather than a silent Euler's number.
    text = "e = y - t; g(a) = a*e; loss = g(e)"
    err = error(text)
    assert err.kind == "name"
    assert err.message == "e is a variable of this program (line 1 assigns it), which the body of g cannot see"
    assert err.span == (20, 21)
    assert err.hint is not None and "exp(1)" in err.hint and "g(a, e)" in err.hint
    err = error("g(a) = a*pi; f(pi, x) = g(x)")
    assert "it is a parameter of f" in err.message


def test_a_body_may_take_e_as_a_parameter_when_the_program_assigns_it() -> None:
    # e = 3 - 1 = 2; g(e, e) = e*e = 4; dloss/dy = 2e = 4, dloss/dt = -4.
    assert grad("e = y - t; g(a, b) = a*b; loss = g(e, e)", y=3, t=1) == (4.0, {"y": 4.0, "t": -4.0})
    assert grad("g(e) = e*e; e = y - t; loss = g(e)", y=3, t=1) == (4.0, {"y": 4.0, "t": -4.0})


# ---- checks and bindings ---------------------------------------------------------


def test_the_symbolic_check_takes_e_as_a_symbol() -> None:
    # Were e Euler's number to SymPy, df/dx would be 2.718..., not 2, and the check would fail.
    graph = symgrad.parse("f(e, x) = e*x")
    check = symbolic_check(graph, symgrad.evaluate(graph, {"e": 2.0, "x": 3.0}))
    assert check.status == "pass"
    assert check.derivatives == {"e": "x", "x": "e"}
    assert {k: v.reference[0] for k, v in check.inputs.items()} == {"e": 3.0, "x": 2.0}


def test_the_symbolic_check_of_an_assigned_e() -> None:
    graph = symgrad.parse("e = y - t; loss = e^2")
    check = symbolic_check(graph, symgrad.evaluate(graph, {"y": 3.0, "t": 1.0}))
    assert check.status == "pass"
    assert {k: v.reference[0] for k, v in check.inputs.items()} == {"y": 4.0, "t": -4.0}


def test_at_binds_e() -> None:
    graph = symgrad.parse("f(e, x) = e*x")
    point, where = parse_at(["e=2,x=3"])
    check_bindings(graph, point, where)
    assert {k: float(v) for k, v in point.items()} == {"e": 2.0, "x": 3.0}
    # The value of a binding is a constant expression, where e is Euler's number.
    point, _ = parse_at(["e=e,x=1"])
    assert float(point["e"]) == pytest.approx(math.e, rel=1e-15)


@pytest.mark.slow
def test_a_long_chain_of_reassignments_does_not_recurse() -> None:
    n = 20000
    text = "e = x\n" + "e = e + 1\n" * n + "f = e"
    assert grad(text, x=0.5) == (n + 0.5, {"x": 1.0})
