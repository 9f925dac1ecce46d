"""Tests of `symgrad check`: grading answers (numbers, arrays, formulas) and homework files.

The command runs in-process with CliRunner; the finer points of the rounding rule and of
reading answers are tested on the functions of symgrad.homework directly (they do not fork
a SymPy process, so they are fast).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import sympy
from click.testing import Result
from support import hang_in_child, run, run_json

import symgrad
from symgrad import schemas
from symgrad.errors import SymgradError
from symgrad.homework import Grading, decimals_rule, grade, parse_expect, read_homework, written
from symgrad.verdicts import Reference
from symgrad.views import grading as view

ROOT = Path(__file__).resolve().parents[1]
LECTURE = "f(x,y,z)=(x+y)*z"
POINT = "x=-2,y=5,z=-4"
NEURON = "f(w0,x0,w1,x1,w2) = sigmoid(w0*x0 + w1*x1 + w2)"
NEURON_AT = {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}
MATRIX = "f(W,x)=sum((W @ x)^2)"
MATRIX_AT = "W=[[0.1,0.5],[-0.3,0.8]],x=[0.2,0.4]"
MATRIX_POINT = {"W": np.array([[0.1, 0.5], [-0.3, 0.8]]), "x": np.array([0.2, 0.4])}
ANSWER_KEYS = {"answer", "input", "target", "given", "correct", "correct_exact", "verdict", "reason", "mistake", "note",
               "rule",
               "method", "rel_error", "mismatches", "max_abs_difference", "max_rel_difference"}


# ---------------------------------------------------------------------------
# helpers


def row(result: Result, label: str) -> str:
    """The row of the table for one answer (∂f/∂x, f, ...): its line, and a long reason's lines under it
    (indented), joined by spaces."""
    lines = result.stdout.splitlines()
    starts = [k for k, line in enumerate(lines) if line.split() and line.split()[0] == label]
    assert len(starts) == 1, (label, result.stdout)
    k = starts[0]
    text = [lines[k]]
    depth = len(lines[k]) - len(lines[k].lstrip())
    while k + 1 < len(lines) and len(lines[k + 1]) - len(lines[k + 1].lstrip()) > depth + 10:
        k += 1
        text.append(lines[k].strip())
    return " ".join(text)


def by_input(data: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    return {a["input"]: a for a in data["answers"]}


def graded(function: str, at: dict[str, Any] | None, expect: str, **options: Any) -> Grading:
    """Grade in-process: build, evaluate (when there is a point) and grade."""
    graph = symgrad.parse(function)
    trace = None if at is None else symgrad.evaluate(graph, at)
    return grade(graph, trace, parse_expect([expect], graph), **options)


def one(function: str, at: dict[str, Any] | None, expect: str, **options: Any) -> Any:
    """The grade of the first (only) answer."""
    return graded(function, at, expect, **options).graded[0]


def write(tmp_path: Path, text: str, name: str = "hw.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the n-th line containing needle."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[occurrence - 1]


# ---------------------------------------------------------------------------
# right, wrong and missing answers


def test_lecture_example_right_wrong_right() -> None:
    result = run("check", LECTURE, "--at", POINT, "--expect", "x=-4,y=4,z=3")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout.splitlines()[0].split() == ["answer", "given", "correct", "verdict", "rule"]
    x, y, z = row(result, "∂f/∂x"), row(result, "∂f/∂y"), row(result, "∂f/∂z")
    assert "✓" in x and "✗" not in x
    assert "✗" in y and "✓" not in y and "wrong sign" in y
    assert y.split()[1:3] == ["4", "-4"]  # given, correct
    assert "✓" in z and "✗" not in z
    assert "exact (relative 1e-9)" in y
    assert result.stdout.splitlines()[-1] == "2 of 3 right"


def test_all_right_exits_0() -> None:
    result = run("check", LECTURE, "--at", POINT, "--expect", "x=-4,y=-4,z=3")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "✗" not in result.stdout
    assert "3 of 3 right" in result.stdout


def test_unanswered_gradients_are_missing_not_wrong() -> None:
    result = run("check", LECTURE, "--at", POINT, "--expect", "x=-4")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    for label, correct in (("∂f/∂y", "-4"), ("∂f/∂z", "3")):
        line = row(result, label)
        assert "missing" in line and "✗" not in line
        assert line.split()[1:3] == ["-", correct]
    assert "1 of 1 right (2 not answered: ∂f/∂y, ∂f/∂z)" in result.stdout


def test_missing_does_not_hide_a_wrong_answer() -> None:
    result = run("check", LECTURE, "--at", POINT, "--expect", "z=4")
    assert result.exit_code == 1
    assert "0 of 1 right (2 not answered" in result.stdout


def test_require_all_makes_missing_answers_fail() -> None:
    result = run("check", LECTURE, "--at", POINT, "--expect", "x=-4", "--require-all")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "counts as wrong" in row(result, "∂f/∂y")
    assert "1 of 3 right" in result.stdout
    data = run_json("check", LECTURE, "--at", POINT, "--expect", "x=-4", "--require-all", code=1)
    assert data["passed"] is False
    assert data["score"] == {"right": 1, "total": 3, "missing": 2}
    assert by_input(data)["y"]["verdict"] == "missing"


def test_require_all_passes_when_everything_is_answered() -> None:
    result = run("check", LECTURE, "--at", POINT, "--expect", "x=-4,y=-4,z=3", "--require-all")
    assert result.exit_code == 0, (result.stdout, result.stderr)


# ---------------------------------------------------------------------------
# names of answers


@pytest.mark.parametrize("key", ["x", "dx", "df/dx", "∂f/∂x", "d f / d x", "∂ f / ∂ x", " df/dx "])
def test_answer_names_address_x(key: str) -> None:
    graph = symgrad.parse(LECTURE)
    [answer] = parse_expect([f"{key}=-4"], graph)
    assert answer.target == "x"
    grading = grade(graph, symgrad.evaluate(graph, {"x": -2, "y": 5, "z": -4}), [answer])
    assert grading.graded[0].answer == "∂f/∂x" and grading.graded[0].right


def test_every_spelling_on_the_command_line() -> None:
    result = run("check", LECTURE, "--at", POINT, "--expect", "dx=-4, df/dy=-4, ∂f/∂z=3, f=-12")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "4 of 4 right" in result.stdout
    assert row(result, "f").split()[1:3] == ["-12", "-12"]
    result = run("check", LECTURE, "--at", POINT, "--expect", "d f / d x=-4")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "✓" in row(result, "∂f/∂x")


def test_f_checks_the_value() -> None:
    right = one(LECTURE, {"x": -2, "y": 5, "z": -4}, "f=-12")
    assert right.target == "" and right.answer == "f" and right.right
    wrong = one(LECTURE, {"x": -2, "y": 5, "z": -4}, "f=-11")
    assert wrong.verdict == "wrong"


def test_a_variable_called_dx_is_its_own_answer() -> None:
    graph = symgrad.parse("f(x, dx) = x*dx")
    answers = parse_expect(["dx=1, x=2"], graph)
    assert [a.target for a in answers] == ["dx", "x"]


def test_answer_for_a_nonexistent_variable_exits_2() -> None:
    result = run("check", LECTURE, "--at", POINT, "--expect", "x=-4,w=1")
    assert result.exit_code == 2
    assert "has no input or node w" in result.stderr
    assert "x, y, z" in result.stderr  # the hint lists the inputs
    data = run_json("check", LECTURE, "--at", POINT, "--expect", "x=-4,w=1", code=2)
    assert "no input or node w" in data["error"]["message"]


@pytest.mark.parametrize("key", ["dw", "df/dw", "∂f/∂w"])
def test_every_spelling_of_a_nonexistent_variable_is_an_error(key: str) -> None:
    with pytest.raises(SymgradError, match=r"no input or node d?w\b"):
        parse_expect([f"{key}=1"], symgrad.parse(LECTURE))


def test_df_dx_when_the_output_is_called_g() -> None:
    result = run("check", "g(x,y,z)=(x+y)*z", "--at", POINT, "--expect", "df/dx=-4")
    assert result.exit_code == 2
    assert "the output is called g" in result.stderr
    assert "dg/dx" in result.stderr  # the hint
    ok = run("check", "g(x,y,z)=(x+y)*z", "--at", POINT, "--expect", "dg/dx=-4,g=-12")
    assert ok.exit_code == 0, (ok.stdout, ok.stderr)
    assert "∂g/∂x" in ok.stdout


@pytest.mark.parametrize("expect", [["x=-4,dx=-4"], ["x=-4", "df/dx=-4"], ["f=-12,f=-12"], ["∂f/∂y=-4,y=-4"]])
def test_the_same_input_answered_twice_is_an_error(expect: list[str]) -> None:
    args = [a for e in expect for a in ("--expect", e)]
    result = run("check", LECTURE, "--at", POINT, *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "answers the same as" in result.stderr


def test_no_answers_is_an_error() -> None:
    result = run("check", LECTURE, "--at", POINT)
    assert result.exit_code == 2
    assert "no answers" in result.stderr


def test_a_number_without_a_point_is_an_error() -> None:
    result = run("check", LECTURE, "--expect", "x=-4")
    assert result.exit_code == 2
    assert "--at" in result.stderr


# ---------------------------------------------------------------------------
# the rounding rule


def neuron(expect: str, **options: Any) -> Any:
    return one(NEURON, NEURON_AT, expect, **options)


def test_the_neuron_gradient_is_what_the_examples_say() -> None:
    _, gradient = symgrad.gradient(NEURON, **NEURON_AT)
    assert gradient["x0"] == pytest.approx(0.393224, abs=5e-7)
    assert gradient["w1"] == pytest.approx(-0.393224, abs=5e-7)


@pytest.mark.parametrize(("answer", "verdict", "rule"), [
    ("0.39", "right", "to 2 decimals"),
    ("0.4", "wrong", "to 1 decimal"),  # within half a unit, but 1 significant figure: at least 2 are asked for
    ("0.393", "right", "to 3 decimals"),
    ("0.3932", "right", "to 4 decimals"),
    ("0.3933", "wrong", "to 4 decimals"),  # |0.3933 - 0.393224| = 0.000076 > 0.00005
    ("0.38", "wrong", "to 2 decimals"),
    ("0.40", "wrong", "to 2 decimals"),
    ("0.3", "wrong", "to 1 decimal"),
    ("3.9e-1", "right", "to 1 decimal of the mantissa"),
    ("3.93e-1", "right", "to 2 decimals of the mantissa"),
    ("3.94e-1", "wrong", "to 2 decimals of the mantissa"),
    ("39.3e-2", "right", "to 1 decimal of the mantissa"),
    ("+0.39", "right", "to 2 decimals"),
])
def test_decimals_of_0_393224(answer: str, verdict: str, rule: str) -> None:
    g = neuron(f"x0={answer}")
    assert (g.verdict, g.rule) == (verdict, rule)


@pytest.mark.parametrize(("answer", "verdict"), [
    ("-0.39", "right"), ("−0.39", "right"), ("-0.4", "wrong"),  # -0.4: 1 significant figure
    ("−3.9e−1", "right"), ("-3.93E-1", "right"),
    ("-0.38", "wrong"), ("−0.3933", "wrong"), ("0.39", "wrong"),
])
def test_negative_answers_and_the_unicode_minus(answer: str, verdict: str) -> None:
    assert neuron(f"w1={answer}").verdict == verdict


def test_negative_answers_on_the_command_line() -> None:
    result = run("check", NEURON, "--at", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3", "--expect", "w1=−0.39,x1=-0.59,w0=-0.20")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "3 of 3 right (2 not answered" in result.stdout
    assert "to 2 decimals" in row(result, "∂f/∂w1")


@pytest.mark.parametrize(("truth", "answer", "verdict", "rule"), [
    ("2.6", "3", "wrong", "exact (relative 1e-9)"),
    ("2.9999999", "3", "wrong", "exact (relative 1e-9)"),
    ("3.0000000001", "3", "right", "exact (relative 1e-9)"),
    ("3", "3", "right", "exact (relative 1e-9)"),
    ("2.96", "3.0", "right", "to 1 decimal"),
    ("2.94", "3.0", "wrong", "to 1 decimal"),
    ("2.6", "3.", "wrong", "to 0 decimals"),  # within half a unit, but 1 significant figure
    ("2.6", "3.e0", "wrong", "to 0 decimals of the mantissa"),
    ("2.6", "2.6e0", "right", "to 1 decimal of the mantissa"),
    ("26.4", "26.", "right", "to 0 decimals"),
    ("2.4", "3.", "wrong", "to 0 decimals"),
    ("0.345", "0.35", "right", "to 2 decimals"),  # exactly half a unit: the hair of slack
    ("0.3449", "0.35", "wrong", "to 2 decimals"),
    ("-250", "-2.5E2", "right", "to 1 decimal of the mantissa"),
    ("-254", "-2.5E2", "right", "to 1 decimal of the mantissa"),
    ("-256", "-2.5E2", "wrong", "to 1 decimal of the mantissa"),
])
def test_exact_and_decimal_answers(truth: str, answer: str, verdict: str, rule: str) -> None:
    g = one(f"f(x) = {truth}*x", {"x": 1}, f"x={answer}")
    assert (g.verdict, g.rule) == (verdict, rule)


def test_close_wrong_answers_say_check_the_rounding() -> None:
    # -0.57 for -0.589836: off by 0.0198, more than half a unit (0.005), within 10 times it
    g = neuron("x1=-0.57")
    assert (g.verdict, g.reason) == ("wrong", "close: check the rounding")
    # -0.5: off by 0.0898, within 10 times half a unit (0.05), and only 1 significant figure
    g = neuron("x1=-0.5")
    assert g.verdict == "wrong"
    assert g.reason == "close: check the rounding; too few significant figures: give at least 2"
    # -0.52: off by 0.0698, more than 10 times half a unit (0.005): no hint
    assert (neuron("x1=-0.52").verdict, neuron("x1=-0.52").reason) == ("wrong", "")
    # the same sign only: 0.59 for -0.589836 is a wrong sign, not a rounding slip
    assert neuron("x1=0.59").reason == "wrong sign"


def test_wrong_sign_hint() -> None:
    assert one("f(x) = 2.5*x", {"x": 1}, "x=-2.5").reason == "wrong sign"
    assert one("f(x) = 2.5*x", {"x": 1}, "x=5").reason == "off by a factor of 2"


def test_a_rounded_answer_with_the_wrong_sign_is_flagged() -> None:
    # BUG: "wrong sign" is given only when the negated answer matches to 1e-6 relative,
    # so a rounded answer with the sign slipped (0.39 for -0.393224) gets no hint at all.
    g = neuron("w1=0.39")
    assert g.verdict == "wrong"
    assert g.reason == "wrong sign"


def test_zero_is_not_a_wrong_sign() -> None:
    # BUG: at x = pi the true derivative of sin(x)^2 is 0, computed as -2.4e-16; the answer 0
    # is then marked "wrong sign" (np.allclose(0, -(-2.4e-16)) holds), which makes no sense.
    g = one("f(x) = sin(x)^2", {"x": math.pi}, "x=0")
    assert g.reason != "wrong sign"
    # written with a decimal, 0.0 is right to 1 decimal
    assert one("f(x) = sin(x)^2", {"x": math.pi}, "x=0.0").right


def test_rtol_and_atol_replace_the_rule() -> None:
    assert neuron("x0=0.39", rtol=0.01).right
    assert neuron("x0=0.39", rtol=0.01).rule == "within rtol 0.01, atol 0"
    assert not neuron("x0=0.39", rtol=0.001).right  # right by the digits, wrong by rtol
    assert neuron("x0=0.4", atol=0.01).right
    assert not neuron("x0=0.4", atol=0.001).right
    assert neuron("x0=0.4", atol=0.001).rule == "within rtol 0, atol 0.001"
    # an exact answer is no longer exact
    assert one("f(x) = 2.6*x", {"x": 1}, "x=3", atol=0.5).right
    assert not one("f(x) = 2.6*x", {"x": 1}, "x=3", rtol=0.1).right


def test_rtol_and_atol_on_the_command_line() -> None:
    point = "w0=2,x0=-1,w1=-3,x1=-2,w2=-3"
    result = run("check", NEURON, "--at", point, "--expect", "x0=0.39", "--rtol", "0.01")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "within rtol 0.01, atol 0" in row(result, "∂f/∂x0")
    data = run_json("check", NEURON, "--at", point, "--expect", "x0=0.4", "--atol", "0.001", code=1)
    [answer] = [a for a in data["answers"] if a["verdict"] != "missing"]
    assert (answer["verdict"], answer["rule"]) == ("wrong", "within rtol 0, atol 0.001")
    data = run_json("check", NEURON, "--at", point, "--expect", "x0=0.4", code=1)  # 1 significant figure
    assert by_input(data)["x0"]["rule"] == "to 1 decimal"
    assert by_input(data)["x0"]["reason"] == "too few significant figures: give at least 2"
    result = run("check", NEURON, "--at", point, "--expect", "x0=0.4,w0=-0.19", "--atol", "0.01")
    assert result.exit_code == 0, (result.stdout, result.stderr)  # -0.19 is not -0.196612 to 2 decimals
    assert "within rtol 0, atol 0.01" in row(result, "∂f/∂w0")
    result = run("check", NEURON, "--at", point, "--expect", "x0=0.38", "--atol", "0.01")
    assert result.exit_code == 1
    assert "within rtol 0, atol 0.01" in row(result, "∂f/∂x0")


def test_with_rtol_the_reason_does_not_cite_the_replaced_digits_rule() -> None:
    # BUG: with --rtol the digits rule is replaced, but the hint still quotes it:
    # 0.39 for 0.393224 with rtol 0.001 is wrong and "close, but not 2 decimals" -
    # although 0.39 *is* 0.393224 to 2 decimals (it is right without --rtol).
    g = neuron("x0=0.39", rtol=0.001)
    assert g.verdict == "wrong"
    assert "not 2 decimals" not in g.reason


# ---------------------------------------------------------------------------
# decimals_rule


@pytest.mark.parametrize(("text", "tolerance", "rule"), [
    ("0.39", 0.005, "to 2 decimals"),
    ("4", None, "exact"),
    ("-4", None, "exact"),
    ("4.", 0.5, "to 0 decimals"),
    ("4.0", 0.05, "to 1 decimal"),
    ("3.9e-1", 0.005, "to 1 decimal of the mantissa"),
    ("-2.5E2", 5.0, "to 1 decimal of the mantissa"),
    ("−0.39", 0.005, "to 2 decimals"),
    (".5", 0.05, "to 1 decimal"),
    ("1.25e+1", 0.05, "to 2 decimals of the mantissa"),
    ("x", None, "exact"),
])
def test_decimals_rule(text: str, tolerance: float | None, rule: str) -> None:
    tol, what = decimals_rule(text)
    assert what == rule
    if tolerance is None:
        assert tol is None
    else:
        assert tol == pytest.approx(tolerance, rel=1e-12)


# ---------------------------------------------------------------------------
# tensors


def matrix(expect: str, **options: Any) -> Any:
    return one(MATRIX, MATRIX_POINT, expect, **options)


def test_matrix_answer_right() -> None:
    g = matrix("W=[[0.088,0.176],[0.104,0.208]]")
    assert g.right and g.rule == "to the digits given"
    assert matrix("x=[-0.112,0.636]").right
    assert matrix("x=[−0.112,0.636]").right


def test_each_element_to_its_own_digits() -> None:
    assert matrix("x=[-0.11,0.636]").right
    assert matrix("x=[-0.11,0.64]").right
    assert not matrix("x=[-0.1,0.64]").right  # -0.1 is -0.112 to 1 decimal, but has 1 significant figure
    assert not matrix("x=[-0.11,0.637]").right  # 0.637 is not 0.636 to 3 decimals
    assert not matrix("x=[-0.12,0.636]").right


def test_a_wrong_element_is_wrong() -> None:
    g = matrix("W=[[0.088,0.176],[0.104,0.209]]")
    assert g.verdict == "wrong"
    g = matrix("W=[[0.088,0.176],[0.104,0.3]]")
    assert g.verdict == "wrong"


def test_wrong_shape_is_its_own_verdict() -> None:
    g = matrix("x=[[0.1,0.2],[0.3,0.4]]")
    assert g.verdict == "wrong shape"
    assert g.reason == "expected shape (2,), got (2, 2)"
    assert matrix("x=[1,2,3]").verdict == "wrong shape"


def test_transposed_matrix_is_flagged() -> None:
    g = matrix("W=[[0.088,0.104],[0.176,0.208]]")
    assert g.verdict == "wrong"
    assert g.reason.startswith("transposed; 2 of 4 elements differ: [0, 1] 0.104 for 0.176 (difference -0.072), "
                               "[1, 0] 0.176 for 0.104 (difference 0.072); largest difference 0.072")


def test_a_transposed_non_square_matrix_is_flagged_too() -> None:
    # BUG: the "transposed" hint is only looked for when the shapes agree, so the most common
    # case - a non-square matrix answered transposed - gets only "expected shape (2, 3), got (3, 2)".
    at = {"W": np.array([[1.0, 2, 3], [4, 5, 6]]), "x": np.array([1.0, 0, 2])}
    truth = symgrad.evaluate(symgrad.parse(MATRIX), at).gradient["W"]
    assert np.allclose(truth, [[14, 0, 28], [32, 0, 64]])
    assert one(MATRIX, at, "W=[[14,0,28],[32,0,64]]").right
    g = one(MATRIX, at, "W=[[14,32],[0,0],[28,64]]")
    assert g.verdict == "wrong shape"
    assert "expected shape (2, 3), got (3, 2)" in g.reason
    assert "transposed" in g.reason


def test_tensor_answers_on_the_command_line() -> None:
    result = run("check", MATRIX, "--at", MATRIX_AT, "--expect", "W=[[0.088,0.176],[0.104,0.208]],x=[-0.112,0.636]")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "2 of 2 right" in result.stdout
    result = run("check", MATRIX, "--at", MATRIX_AT,
                 "--expect", "W=[[0.088,0.176],[0.104,0.208]],x=[[0.1,0.2],[0.3,0.4]]")
    assert result.exit_code == 1
    assert "wrong shape: expected shape (2,), got (2, 2)" in row(result, "∂f/∂x")
    assert "1 of 2 right" in result.stdout
    data = run_json("check", MATRIX, "--at", MATRIX_AT, "--expect", "W=[[0.088,0.104],[0.176,0.208]]", code=1)
    w = by_input(data)["W"]
    assert w["verdict"] == "wrong" and w["reason"].startswith("transposed; 2 of 4 elements differ")
    assert by_input(data)["x"]["verdict"] == "missing"


@pytest.mark.parametrize("answer", ["[[1,2],[3]]", "[1,[2,3]]", "[a,b]"])
def test_ragged_or_non_numeric_arrays_are_errors(answer: str) -> None:
    result = run("check", MATRIX, "--at", MATRIX_AT, "--expect", f"x={answer}")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "error:" in result.stderr


# ---------------------------------------------------------------------------
# formulas


def test_formulas_right_symbolically_without_a_point() -> None:
    data = run_json("check", LECTURE, "--expect", "x=z, y=z, z=x+y", code=0)
    assert [(a["input"], a["verdict"], a["method"], a["rule"]) for a in data["answers"]] == [
        ("x", "right", "symbolic", "formula"), ("y", "right", "symbolic", "formula"),
        ("z", "right", "symbolic", "formula")]
    assert data["passed"] is True


def test_formulas_right_with_a_point() -> None:
    result = run("check", LECTURE, "--at", POINT, "--expect", "x=z, y=z, z=x+y")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "formula, symbolic" in row(result, "∂f/∂z")
    assert "3 of 3 right" in result.stdout


@pytest.mark.parametrize("at", [[], ["--at", POINT]])
def test_a_wrong_formula_gives_a_point_where_it_differs(at: list[str]) -> None:
    data = run_json("check", LECTURE, *at, "--expect", "x=z, y=z, z=x*y", code=1)
    z = by_input(data)["z"]
    assert (z["verdict"], z["method"], z["rule"]) == ("wrong", "numeric", "formula")
    m = re.fullmatch(r"at x = (\S+), y = (\S+), z = (\S+) it gives (\S+), the derivative is (\S+)", z["reason"])
    assert m, z["reason"]
    x, y, _, given, truth = (float(v) for v in m.groups())
    # the point really tells them apart, and the numbers are what x*y and x+y give there
    assert given == pytest.approx(x * y, rel=1e-3, abs=1e-3)
    assert truth == pytest.approx(x + y, rel=1e-3, abs=1e-3)
    assert abs(given - truth) > 1e-3
    assert data["score"]["right"] == 2


def test_a_formula_with_a_name_that_is_not_an_input_exits_2() -> None:
    result = run("check", LECTURE, "--expect", "z=x+w")
    assert result.exit_code == 2
    assert "uses w, which is not an input" in result.stderr


@pytest.mark.parametrize("answer", ["2*sin(x)*cos(x)", "sin(2*x)", "2*cos(x)*sin(x)"])
def test_formulas_equal_after_simplification(answer: str) -> None:
    g = one("f(x) = sin(x)^2", None, f"x={answer}")
    assert g.right, g
    assert g.method == "symbolic"


def test_formulas_equal_after_simplification_on_the_command_line() -> None:
    result = run("check", "f(x)=sin(x)^2", "--expect", "x=sin(2*x)")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "formula, symbolic" in row(result, "∂f/∂x")


def test_a_wrong_formula_after_simplification_is_wrong() -> None:
    g = one("f(x) = sin(x)^2", None, "x=cos(2*x)")
    assert g.verdict == "wrong" and g.method == "numeric"


def test_a_formula_sympy_cannot_simplify_in_time_is_right_numerically(monkeypatch: pytest.MonkeyPatch) -> None:
    hang_in_child(monkeypatch, sympy, "simplify")  # out of time however fast the machine is
    function = "f(x,y) = tanh(x*y)^2 + exp(sin(x))*log(1+y^2)"
    answer = "x=2*y*tanh(x*y)*(1-tanh(x*y)^2) + cos(x)*exp(sin(x))*log(1+y^2)"
    data = run_json("check", function, "--expect", answer, "--check-timeout", "0.1", code=0)
    x = by_input(data)["x"]
    assert x["verdict"] == "right"
    assert x["method"].startswith("numeric")
    # and a wrong formula is still caught the same way
    data = run_json("check", function, "--expect", answer.replace("2*y", "3*y"), "--check-timeout", "0.1", code=1)
    assert by_input(data)["x"]["verdict"] == "wrong"
    assert by_input(data)["x"]["method"] == "numeric"


def test_a_constant_formula_is_a_number() -> None:
    g = one("f(x) = x^2", {"x": 3}, "x=2*3")
    assert g.right and g.rule == "exact (relative 1e-9)"
    assert not one("f(x) = x^2", {"x": 3}, "x=2*4").right


def test_a_formula_for_the_value() -> None:
    assert one(LECTURE, None, "f=x*z+y*z").right
    wrong = one(LECTURE, None, "f=x*z+y*z+1")
    assert wrong.verdict == "wrong"
    # BUG (wording): for f= the hint calls the value "the derivative".
    assert "derivative" not in wrong.reason


# ---------------------------------------------------------------------------
# JSON of a single check


def test_json_of_a_single_check() -> None:
    data = run_json("check", LECTURE, "--at", POINT, "--expect", "x=-4,y=4,f=-12", code=1)
    assert data["expression"] == LECTURE
    assert data["at"] == {"x": -2, "y": 5, "z": -4}
    for a in data["answers"]:
        assert set(a) == ANSWER_KEYS
    answers = by_input(data)
    assert answers["x"] == {"answer": "∂f/∂x", "input": "x", "target": {"kind": "gradient", "node": "x", "wrt": None},
                            "given": "-4", "correct": -4, "correct_exact": None,
                            "verdict": "right", "reason": "", "mistake": None, "note": "",
                            "rule": "exact (relative 1e-9)", "method": "numbers", "rel_error": 0, "mismatches": [],
                            "max_abs_difference": 0, "max_rel_difference": 0}
    assert answers["y"]["verdict"] == "wrong" and answers["y"]["reason"] == "wrong sign"
    assert answers["y"]["rel_error"] == 2.0  # |4 - (-4)| / 4
    assert answers["y"]["mismatches"] == [{"index": [], "given": 4, "correct": -4, "difference": 8}]
    assert (answers["y"]["max_abs_difference"], answers["y"]["max_rel_difference"]) == (8, 2)
    assert answers[None]["answer"] == "f" and answers[None]["verdict"] == "right"
    assert answers["z"]["verdict"] == "missing" and answers["z"]["given"] is None
    assert data["score"] == {"right": 2, "total": 3, "missing": 1}
    assert data["passed"] is False


def test_json_passed_when_all_right() -> None:
    data = run_json("check", NEURON, "--at", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3", "--expect", "x0=0.39", code=0)
    x0 = by_input(data)["x0"]
    # correct at full precision: the neuron's input is 2*-1 + -3*-2 - 3 = 1, f = sigmoid(1), and
    # df/dx0 = w0 * f * (1 - f) = 2 * sigmoid(1) * sigmoid(-1)
    s = 1 / (1 + math.exp(1.0))  # sigmoid(-1) = 1 - sigmoid(1)
    assert (x0["given"], x0["rule"]) == ("0.39", "to 2 decimals")
    assert x0["correct"] == pytest.approx(2 * (1 - s) * s, rel=1e-15)
    # half a unit of the last digit judged it, not a relative error
    assert x0["rel_error"] is None
    assert x0["max_abs_difference"] == pytest.approx(0.3932238664829637 - 0.39, rel=1e-9)
    assert data["passed"] is True
    assert data["score"] == {"right": 1, "total": 1, "missing": 4}


# ---------------------------------------------------------------------------
# homework files

HOMEWORK = """\
# a homework file
title = "ignored"

[[problem]]
name = "lecture"
function = "f(x,y,z)=(x+y)*z"
at = "x=-2, y=5, z=-4"
expect = "df/dx=-4, df/dy=-4, df/dz=3, f=-12"

[[problem]]
name = "a slip"
function = "f(x) = x^2"
at = "x=3"
expect = "x=5"

[[problem]]  # with a comment
name = "formulas"
function = "f(x,y,z) = (x+y)*z"
expect = "x=z, y=z, z=x+y"
"""


def test_homework_report(tmp_path: Path) -> None:
    path = write(tmp_path, HOMEWORK)
    result = run("check", str(path))
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stdout.splitlines()
    heads = [line for line in lines if line.startswith("problem ")]
    assert heads == ["problem 1: lecture (line 4)", "problem 2: a slip (line 10)", "problem 3: formulas (line 16)"]
    assert "  4 of 4 right" in lines and "  0 of 1 right" in lines and "  3 of 3 right" in lines
    assert lines[-1] == "2 of 3 problems right"


def test_homework_json(tmp_path: Path) -> None:
    path = write(tmp_path, HOMEWORK)
    data = run_json("check", str(path), code=1)
    assert data["file"] == str(path)
    assert data["score"] == {"passed": 2, "total": 3}
    records = data["problems"]
    assert [(r["index"], r["name"], r["line"], r["passed"]) for r in records] == [
        (1, "lecture", 4, True), (2, "a slip", 10, False), (3, "formulas", 16, True)]
    for r in records:
        assert {"index", "name", "line", "passed", "answers", "score"} <= set(r)
        for a in r["answers"]:
            assert set(a) == ANSWER_KEYS
    assert records[1]["answers"][0]["given"] == "5" and records[1]["answers"][0]["correct"] == 6
    assert records[1]["score"] == {"right": 0, "total": 1, "missing": 0}
    assert [a["method"] for a in records[2]["answers"]] == ["symbolic"] * 3


def test_homework_all_right_exits_0(tmp_path: Path) -> None:
    path = write(tmp_path, HOMEWORK.replace('expect = "x=5"', 'expect = "x=6"'))
    result = run("check", str(path))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stdout.splitlines()[-1] == "3 of 3 problems right"


def test_homework_require_all(tmp_path: Path) -> None:
    path = write(tmp_path, HOMEWORK.replace('expect = "x=5"', 'expect = "x=6"').replace(
        'expect = "x=z, y=z, z=x+y"', 'expect = "x=z"'))
    assert run("check", str(path)).exit_code == 0
    data = run_json("check", str(path), "--require-all", code=1)
    assert [r["passed"] for r in data["problems"]] == [True, True, False]


BROKEN = """\
[[problem]]
name = "first"
function = "f(x) = x^2"
at = "x=3"
expect = "x=6"

[[problem]]
name = "unterminated"
function = "f(x) = x^2
at = "x=1"
expect = "x=2"

[[problem]]
name = "bad function"
at = "x=1"
function = "f(x) = x +* 2"
expect = "x=1"

[[problem]]
name = "no expect"
function = "f(x) = x^2"
at = "x=1"

[[problem]]
name = "unknown key"
function = "f(x) = x^2"
at = "x=1"
expect = "x=2"
answer = "x=2"

[[problem]]
name = "last"
function = "f(x) = x^3"
at = "x=2"
expect = "x=12"
"""


def test_broken_problems_are_reported_and_the_others_checked(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    result = run("check", str(path))
    assert result.exit_code == 1, (result.stdout, result.stderr)
    out = result.stdout
    heads = [line for line in out.splitlines() if line.startswith("problem ")]
    assert heads == [
        "problem 1: first (line 1)",
        "problem 2: unterminated (line 7): broken",
        "problem 3: bad function (line 13): broken",
        "problem 4: no expect (line 19): broken",
        "problem 5: unknown key (line 24): broken",
        "problem 6: last (line 31)",
    ]
    # the invalid TOML: the file's line of the unterminated string
    unterminated = line_of(BROKEN, "name = \"unterminated\"") + 1
    assert f"line {unterminated}:" in out
    # the unparseable function: the file's line of `function =`
    assert f"in {path}, line {line_of(BROKEN, 'x +* 2')}" in out
    assert "no expect" in out.split("problem 4")[1].split("problem 5")[0]
    assert "unknown key answer" in out
    assert out.splitlines()[-1] == "2 of 6 problems right"


def test_broken_problems_in_json(tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    data = run_json("check", str(path), code=1)
    records = data["problems"]
    assert [r["index"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r["name"] for r in records] == ["first", "unterminated", "bad function", "no expect", "unknown key",
                                            "last"]
    assert [r["passed"] for r in records] == [True, False, False, False, False, True]
    assert "line 9" in records[1]["error"]["message"]
    assert records[2]["error"]["source"] == f"{path}, line {line_of(BROKEN, 'x +* 2')}"
    assert records[2]["error"]["kind"] == "syntax"
    assert "no expect" in records[3]["error"]["message"]
    assert "unknown key answer" in records[4]["error"]["message"]
    for r in records[1:5]:
        assert r["error"]["message"]
    assert data["score"] == {"passed": 2, "total": 6}


def test_read_homework_directly() -> None:
    problems = read_homework(BROKEN, "hw.toml")
    assert [(p.index, p.line, p.name) for p in problems] == [
        (1, 1, "first"), (2, 7, "unterminated"), (3, 13, "bad function"), (4, 19, "no expect"),
        (5, 24, "unknown key"), (6, 31, "last")]
    assert [p.error is None for p in problems] == [True, False, True, False, False, True]
    assert problems[2].function_line == line_of(BROKEN, "x +* 2") == 16
    assert problems[0].expect == ["x=6"] and problems[0].at == "x=3"


def test_invalid_toml_without_a_name_is_called_by_its_index(tmp_path: Path) -> None:
    path = write(tmp_path, '[[problem]]\nfunction = "f(x)=x^2\nexpect = "x=2"\n')
    result = run("check", str(path))
    assert result.exit_code == 1
    assert "problem 1: problem 1 (line 1): broken" in result.stdout
    assert "line 2:" in result.stdout


def test_invalid_toml_with_a_literal_string_name(tmp_path: Path) -> None:
    # BUG: the name of a problem with invalid TOML is guessed only from a "basic string";
    # name = 'sign slip' (a TOML literal string) is not found and the report says "problem 1".
    path = write(tmp_path, "[[problem]]\nname = 'sign slip'\nfunction = \"f(x)=x^2\nexpect = \"x=2\"\n")
    result = run("check", str(path))
    assert result.exit_code == 1
    assert "problem 1: sign slip (line 1): broken" in result.stdout


def test_an_unterminated_multiline_string_is_reported_with_a_line(tmp_path: Path) -> None:
    # BUG: for errors tomllib places "at end of document" (an unterminated \"\"\" string, or an
    # unterminated string on the file's last line) the report has no line number at all:
    # "error: Unterminated string (at end of document)" - and for a problem in the middle of
    # the file, "end of document" is not even the end of the file.
    text = ('[[problem]]\nname = "multi"\nfunction = """f(x)=x^2\nat = "x=1"\nexpect = "x=2"\n\n'
            '[[problem]]\nname = "fine"\nfunction = "f(x)=x^2"\nat = "x=1"\nexpect = "x=2"\n')
    path = write(tmp_path, text)
    result = run("check", str(path))
    assert result.exit_code == 1
    assert "problem 2: fine (line 7)" in result.stdout  # still checked
    broken = result.stdout.split("problem 2")[0]
    assert "problem 1: multi (line 1): broken" in broken
    assert re.search(r"\bline [1-6]\b", broken.split("broken", 1)[1]), broken


def test_homework_tables_and_toml_float_digits(tmp_path: Path) -> None:
    text = """\
[[problem]]
name = "tables"
function = "f(x,y,z)=(x+y)*z"
at = { x = -2, y = 5, z = -4.0 }
expect = { x = "z", y = -4, z = 3.0 }

[[problem]]
name = "the slide's digits"
function = "f(w0,x0,w1,x1,w2) = sigmoid(w0*x0 + w1*x1 + w2)"
at = { w0 = 2, x0 = -1, w1 = -3, x1 = -2, w2 = -3 }
expect = { w0 = -0.20, x0 = 0.39, w2 = 0.20, f = 0.731 }

[[problem]]
name = "matrix tables"
function = "f(W,x)=sum((W @ x)^2)"
at = { W = [[0.1,0.5],[-0.3,0.8]], x = [0.2,0.4] }
expect = { W = [[0.088,0.176],[0.104,0.208]], x = ["-0.112", 0.636] }

[[problem]]
name = "zeros count"
function = "f(x) = 0.196612*x"
at = { x = 1 }
expect = { x = 0.2000 }
"""
    path = write(tmp_path, text)
    data = run_json("check", str(path), code=1)
    p1, p2, p3, p4 = data["problems"]
    assert p1["passed"] and p2["passed"] and p3["passed"], data
    answers = {a["input"]: a for a in p1["answers"]}
    assert (answers["x"]["method"], answers["x"]["verdict"]) == ("symbolic", "right")
    assert answers["z"]["given"] == "3.0" and answers["z"]["rule"] == "to 1 decimal"
    answers = {a["input"]: a for a in p2["answers"]}
    assert answers["w0"]["given"] == "-0.20" and answers["w0"]["rule"] == "to 2 decimals"
    assert answers["w2"]["given"] == "0.20" and answers["w2"]["rule"] == "to 2 decimals"
    assert answers[None]["rule"] == "to 3 decimals"
    assert [a["rule"] for a in p3["answers"]] == ["to the digits given"] * 2
    # 0.2000 is 4 decimals: 0.196612 is not 0.2000
    [a] = p4["answers"]
    assert (a["given"], a["rule"], a["verdict"]) == ("0.2000", "to 4 decimals", "wrong")
    assert data["score"] == {"passed": 3, "total": 4}


def test_homework_bad_table_values(tmp_path: Path) -> None:
    text = '[[problem]]\nname = "bool"\nfunction = "f(x)=x^2"\nat = "x=1"\nexpect = { x = true }\n'
    data = run_json("check", str(write(tmp_path, text)), code=1)
    assert data["problems"][0]["passed"] is False
    assert "true/false" in data["problems"][0]["error"]["message"]
    text = '[[problem]]\nname = "array"\nfunction = "f(x)=x^2"\nat = "x=1"\nexpect = ["x=2"]\n'
    data = run_json("check", str(write(tmp_path, text, "b.toml")), code=1)
    assert "string or a table" in data["problems"][0]["error"]["message"]


@pytest.mark.parametrize("text", ["", "# nothing here\n", 'name = "x"\nfunction = "f(x)=x"\n', "[problem]\n"])
def test_a_file_with_no_problem_exits_2(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    result = run("check", str(path))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "has no [[problem]]" in result.stderr
    data = run_json("check", str(path), code=2)
    assert "has no [[problem]]" in data["error"]["message"]


def test_a_toml_name_that_is_no_file_is_an_expression(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("check", "nope.toml", "--expect", "x=1")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "no [[problem]]" not in result.stderr and "cannot read" not in result.stderr
    data = run_json("check", "nope.toml", "--expect", "x=1", code=2)
    assert data["error"]["kind"] in ("syntax", "name")
    assert data["error"]["source"] == "expression"


def test_a_directory_ending_in_toml_is_not_a_homework_file(tmp_path: Path) -> None:
    (tmp_path / "dir.toml").mkdir()
    result = run("check", str(tmp_path / "dir.toml"), "--expect", "x=1")
    assert result.exit_code == 2
    assert "no [[problem]]" not in result.stderr


# ---------------------------------------------------------------------------
# the sample homework file


def test_lecture_sample_from_the_examples_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "examples")
    data = run_json("check", "homework/lecture.toml", code=1)
    assert [r["index"] for r in data["problems"] if not r["passed"]] == [3, 4, 6]
    assert data["score"] == {"passed": 3, "total": 6}
    p6 = data["problems"][5]
    assert p6["name"] == "a broken problem" and p6["line"] == 34
    assert p6["error"]["source"] == "homework/lecture.toml, line 36"


def test_lecture_sample_by_absolute_path() -> None:
    path = ROOT / "examples" / "homework" / "lecture.toml"
    result = run("check", str(path))
    assert result.exit_code == 1, (result.stdout, result.stderr)
    broken = [line for line in result.stdout.splitlines() if line.startswith("problem ")]
    assert len(broken) == 6
    assert [line for line in broken if line.endswith("broken")] == ["problem 6: a broken problem (line 34): broken"]
    assert "wrong sign" in result.stdout.split("problem 3")[1].split("problem 4")[0]
    assert "formula, numeric" in result.stdout.split("problem 4")[1].split("problem 5")[0]
    assert result.stdout.splitlines()[-1] == "3 of 6 problems right"


# ---------------------------------------------------------------------------
# significant figures (issue 10): a rounded answer carries at least 2 of them


@pytest.mark.parametrize(("text", "sigfigs", "decimals", "kind"), [
    ("0.39", 2, 2, "rounded"),
    ("0.0390", 3, 4, "rounded"),  # leading zeros do not count, trailing zeros after the point do
    ("3.9e-2", 2, 3, "rounded"),  # 0.039: 3 decimals
    ("3.90E-2", 3, 4, "rounded"),
    ("390.", 3, 0, "rounded"),
    ("100.0", 4, 1, "rounded"),
    ("1.250e3", 4, 0, "rounded"),  # 1250, to 1 unit
    ("2.5E2", 2, -1, "rounded"),  # 250, to 10
    ("0e0", 0, 0, "rounded"),
    ("0.00", 0, 2, "rounded"),
    ("−0.5", 1, 1, "rounded"),
    ("30", 0, 0, "integer"),
])
def test_significant_figures_and_decimals_of_a_written_number(text: str, sigfigs: int, decimals: int,
                                                              kind: str) -> None:
    w = written(text)
    assert w is not None
    assert (w.kind, w.sigfigs, w.decimals) == (kind, sigfigs, decimals)


@pytest.mark.parametrize("text", ["inf", "INF", "+inf", "Infinity", "infinity", " -inf ", "−inf", "-Infinity",
                                  "nan", "NaN", "undefined", "Undefined"])
def test_inf_and_nan_are_numbers(text: str) -> None:
    w = written(text)
    assert w is not None and w.kind == "special"
    value = float(w.value)
    if text.lower() in ("nan", "undefined"):
        assert math.isnan(value)
    else:
        assert value == (-math.inf if text.strip()[0] in "-−" else math.inf)


def test_0e0_for_minus_0_197_has_too_few_significant_figures() -> None:
    # 0 is within half a unit (0.5) of -0.197, but has no significant figure at all
    result = run("check", "f(x) = -0.197*x", "--at", "x=1", "--expect", "x=0e0")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    line = row(result, "∂f/∂x")
    assert "✗  too few significant figures: give at least 2" in line
    # the neuron's w0 gradient, -0.196612, is -0.197 to 3 decimals
    g = neuron("w0=0e0")
    assert (g.verdict, g.reason) == ("wrong", "too few significant figures: give at least 2")
    assert neuron("w0=-0.197").right and neuron("w0=-0.20").right and neuron("w0=-2.0e-1").right
    assert neuron("w0=-0.2").reason == "too few significant figures: give at least 2"


def test_0_39_for_0_393224_is_right_on_the_command_line() -> None:
    result = run("check", NEURON, "--at", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3", "--expect", "x0=0.39")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert row(result, "∂f/∂x0").split()[1:4] == ["0.39", "0.393224", "✓"]


def test_a_whole_number_must_be_exact() -> None:
    result = run("check", "f(x) = 29.7*x", "--at", "x=1", "--expect", "x=30")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "✗  a number without a decimal point must be exact" in row(result, "∂f/∂x")
    # written as rounded numbers, 30 is right to its digits: 29.7 is within 0.5 of 30. and 3.0e1
    assert one("f(x) = 29.7*x", {"x": 1}, "x=30.").right
    assert one("f(x) = 29.7*x", {"x": 1}, "x=3.0e1").right
    assert not one("f(x) = 29.7*x", {"x": 1}, "x=30.0").right  # 0.3 > 0.05
    assert one("f(x) = 29.7*x", {"x": 1}, "x=29.7").right
    # 3 for 2.6 is not even the nearest whole number to 2.6 plus half: 0.4 off, still the same hint
    assert one("f(x) = 2.6*x", {"x": 1}, "x=3").reason == "a number without a decimal point must be exact"
    assert one("f(x) = 2.6*x", {"x": 1}, "x=4").reason == ""


def test_an_exactly_right_answer_is_right_whatever_its_digits() -> None:
    g = one("f(x) = 0.5*x", {"x": 1}, "x=0.5")  # 1 significant figure, but equal to the truth
    assert g.right and g.rule == "exact (relative 1e-9)" and g.rel_error == 0.0
    g = one("f(x) = 0.5*x", {"x": 1}, "x=5e-1")
    assert g.right and g.rule == "exact (relative 1e-9)"
    # with its own digits enough, the rule is the digits'
    assert one("f(x) = 0.5*x", {"x": 1}, "x=0.50").rule == "to 2 decimals"


def test_zero_for_a_gradient_below_float64() -> None:
    # d/dx exp(x) at -1000 is exp(-1000) = 5.08e-435: float64 holds 0, the floor makes 0 right
    result = run("check", "f(x) = exp(x)", "--at", "x=-1000", "--expect", "x=0")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "✓" in row(result, "∂f/∂x")


def test_zero_for_a_5e_435_reference_in_process() -> None:
    graph = symgrad.parse("f(x) = exp(x)")
    trace = symgrad.evaluate(graph, {"x": -1000})
    tiny = Reference(np.array(0.0), exact="5.07595889754945676529180947957e-435", status="unstable",
                     note="exp(-1000) is below float64: 5.08e-435")
    refs = {"": tiny, "x": tiny}
    grading = grade(graph, trace, parse_expect(["x=0, f=5.08e-435"], graph), references=refs)
    x, f = grading.graded
    assert x.right and x.correct == "5.07595889754945676529180947957e-435"
    assert x.rel_error is None  # the floor judged it, not a relative error
    assert x.reason == "exp(-1000) is below float64: 5.08e-435"
    assert f.right
    # a wrong sign is wrong, however small: -5.08e-435 is read exactly, not as float64's -0.0
    wrong = grade(graph, trace, parse_expect(["x=-5.08e-435"], graph), references=refs).graded[0]
    assert wrong.verdict == "wrong" and wrong.reason.startswith("wrong sign")
    # the teacher is told
    assert [(n.answer, n.status) for n in grading.notes] == [("f", "unstable"), ("∂f/∂x", "unstable")]


def test_a_value_beyond_float64_is_graded_against_its_exact_text() -> None:
    # d/dx exp(x) at 1000 = exp(1000) = 1.97007e434: float64 overflows to inf, the exact text is finite
    graph = symgrad.parse("f(x) = exp(x)")
    trace = symgrad.evaluate(graph, {"x": 1000})
    assert trace.gradient["x"] == math.inf
    big = Reference(np.array(math.inf), exact="1.97007111401704699388887935224e434", status="unstable",
                    note="float64 overflowed: exp(1000) = 1.97e434")
    refs = {"": big, "x": big}

    def grade_x(answer: str) -> Any:
        return grade(graph, trace, parse_expect([f"x={answer}"], graph), references=refs).graded[0]

    assert grade_x("1.97e434").right
    assert grade_x("1.970071114e434").right
    assert grade_x("2e434").reason.startswith("too few significant figures")
    assert not grade_x("1.98e434").right
    inf = grade_x("inf")
    assert inf.verdict == "wrong" and "the gradient is finite here" in inf.reason


def test_a_wrong_sign_is_wrong_even_below_the_floor() -> None:
    # 1e-12 is within the floor (1e-10) of -1e-12, but the sign is wrong
    g = one("f(x) = -1e-12*x", {"x": 1}, "x=1.0e-12")
    assert (g.verdict, g.reason) == ("wrong", "wrong sign")
    assert one("f(x) = -1e-12*x", {"x": 1}, "x=0").right  # 0 has no sign


def test_sigfigs_option() -> None:
    point = "w0=2,x0=-1,w1=-3,x1=-2,w2=-3"
    result = run("check", NEURON, "--at", point, "--expect", "x0=0.39", "--sigfigs", "3")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "too few significant figures: give at least 3" in row(result, "∂f/∂x0")
    assert run("check", NEURON, "--at", point, "--expect", "x0=0.393", "--sigfigs", "3").exit_code == 0
    assert run("check", NEURON, "--at", point, "--expect", "x0=0.4", "--sigfigs", "1").exit_code == 0
    assert neuron("x0=0.3932", sigfigs=4).right
    assert not neuron("x0=0.393", sigfigs=4).right
    # a whole number is exact whatever the rule
    assert one("f(x) = 3*x", {"x": 1}, "x=3", sigfigs=5).right


def test_decimals_option() -> None:
    point = "w0=2,x0=-1,w1=-3,x1=-2,w2=-3"
    result = run("check", NEURON, "--at", point, "--expect", "x0=0.4", "--decimals", "2")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "too few decimals: give at least 2" in row(result, "∂f/∂x0")
    assert run("check", NEURON, "--at", point, "--expect", "x0=0.39", "--decimals", "2").exit_code == 0
    assert neuron("x0=3.9e-1", decimals=2).right  # 0.39: 2 decimals
    assert neuron("x0=0.393", decimals=2).right
    assert not neuron("x0=0.3933", decimals=2).right  # more decimals, each within half a unit of its own
    # decimals count, not significant figures: 0.00 is 0.001 to 2 decimals
    assert one("f(x) = 0.001*x", {"x": 1}, "x=0.00", decimals=2).right
    assert one("f(x) = 0.001*x", {"x": 1}, "x=0.00").reason == "too few significant figures: give at least 2"
    assert one("f(x) = 0.001*x", {"x": 1}, "x=0.0010").right


@pytest.mark.parametrize(("options", "message"), [
    (["--sigfigs", "3", "--decimals", "2"], "--sigfigs and --decimals are two rules"),
    (["--rtol", "0.01", "--sigfigs", "3"], "--rtol and --atol replace the digits rules"),
    (["--atol", "0.01", "--decimals", "3"], "--rtol and --atol replace the digits rules"),
])
def test_digit_rules_that_contradict_exit_2(options: list[str], message: str) -> None:
    result = run("check", LECTURE, "--at", POINT, "--expect", "x=-4", *options)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    data = run_json("check", LECTURE, "--at", POINT, "--expect", "x=-4", *options, code=2)
    assert message in data["error"]["message"]


@pytest.mark.parametrize("options", [["--sigfigs", "0"], ["--decimals", "-1"], ["--sigfigs", "two"]])
def test_bad_digit_options_exit_2(options: list[str]) -> None:
    assert run("check", LECTURE, "--at", POINT, "--expect", "x=-4", *options).exit_code == 2


# ---------------------------------------------------------------------------
# hints, in order: wrong sign, a factor, transposed, close


@pytest.mark.parametrize(("answer", "reason"), [
    ("-2.5", "wrong sign"),
    ("5", "off by a factor of 2"),
    ("7.5", "off by a factor of 3"),
    ("10", "off by a factor of 4"),
    ("25", "off by a factor of 10"),
    ("1.25", "off by a factor of 1/2"),
    ("0.25", "off by a factor of 1/10"),
    ("-5", "wrong sign, and off by a factor of 2"),
    ("-7", "wrong sign, and the size is wrong too"),  # "wrong sign" alone would say the size is right
    ("5.0", "off by a factor of 2"),  # rounded: 5.0 is 2 * 2.5 to 1 decimal
    ("2.4", "close: check the rounding"),  # 0.1 off, half a unit is 0.05: within 10 times
    ("1.9", ""),  # 0.6 off: more than 10 times half a unit
])
def test_hints_in_order(answer: str, reason: str) -> None:
    g = one("f(x) = 2.5*x", {"x": 1}, f"x={answer}")
    assert (g.verdict, g.reason) == ("wrong", reason)


def test_off_by_a_factor_with_rounding() -> None:
    assert neuron("x0=0.79").reason == "off by a factor of 2"  # 2 * 0.393224 = 0.786 is 0.79
    assert neuron("w2=-0.79").reason == "wrong sign, and off by a factor of 4"  # -4 * 0.196612


def test_the_local_gradient_alone_is_off_by_the_upstream_gradient() -> None:
    # f = (x + y) * z: x's consumer is n1 = x + y, whose upstream gradient is z = -4; the local
    # gradient dn1/dx = 1 alone is what a student gives who forgot the chain rule
    result = run("check", LECTURE, "--at", POINT, "--expect", "x=1,z=3")
    assert result.exit_code == 1
    # the named mistake, reproduced on the graph, wins over the generic "off by the upstream gradient" hint
    assert ("you did not multiply the local gradient of n1 = x + y by the upstream gradient ∂f/∂n1 = -4"
            in row(result, "∂f/∂x"))
    # z's consumer is the output itself (upstream 1): no such hint; 2 for 3 is no known slip
    assert one(LECTURE, {"x": -2, "y": 5, "z": -4}, "z=2").reason == ""
    # x feeds two nodes: no single upstream gradient; 3 for y + 1 = 4 is the swap at x*y (2 + 1), which the
    # mistakes tried on the graph name (it is also the branch through f left out: the nearer one is named)
    assert one("f(x, y) = x*y + x", {"x": 2, "y": 3}, "x=3").reason.startswith("you swapped the inputs")


def test_no_rounding_hint_for_the_other_sign() -> None:
    # 0.1 for -0.1 would be "close" by size, but the sign is wrong
    g = one("f(x) = -0.123*x", {"x": 1}, "x=0.12")
    assert g.reason == "wrong sign"


def test_an_array_reports_the_elements_that_differ() -> None:
    # d/dx sum(x^2) = 2x = [2, 4, 6, 8, 10, 12]
    at = {"x": np.arange(1.0, 7.0)}
    g = one("f(x) = sum(x^2)", at, "x=[2, 4, 7, 9, 11, 13]")
    assert g.verdict == "wrong"
    assert g.reason == ("4 of 6 elements differ: [2] 7 for 6 (difference 1), [3] 9 for 8 (difference 1), "
                        "[4] 11 for 10 (difference 1), and 1 more; largest difference 1 (relative 0.167)")
    assert g.mismatches == [{"index": [k], "given": 2.0 * k + 3, "correct": 2.0 * k + 2, "difference": 1.0}
                            for k in (2, 3, 4, 5)]
    assert (g.max_abs, g.max_rel) == (1.0, pytest.approx(1 / 6))


def test_array_mismatches_in_json() -> None:
    data = run_json("check", MATRIX, "--at", MATRIX_AT, "--expect", "W=[[0.088,0.176],[0.104,0.300]]", code=1)
    w = by_input(data)["W"]
    # dW = 2 (W x) x^T with W x = [0.22, 0.26], x = [0.2, 0.4]
    np.testing.assert_allclose(w["correct"], [[0.088, 0.176], [0.104, 0.208]], rtol=1e-12)
    [m] = w["mismatches"]
    assert m["index"] == [1, 1] and m["given"] == 0.3
    assert m["correct"] == pytest.approx(0.208, rel=1e-12) and m["difference"] == pytest.approx(0.092, rel=1e-9)
    assert w["max_abs_difference"] == pytest.approx(0.092, rel=1e-9)
    assert w["max_rel_difference"] == pytest.approx(0.092 / 0.208, rel=1e-9)
    assert w["rel_error"] is None  # the digits judged it
    assert "1 of 4 elements differ: [1, 1] 0.3 for 0.208 (difference 0.092)" in w["reason"]


# ---------------------------------------------------------------------------
# inf and nan


def test_inf_answers_where_the_gradient_is_infinite() -> None:
    # log at 0: the value is -inf, the gradient 1/0 = inf
    result = run("check", "f(x) = log(x)", "--at", "x=0", "--expect", "x=inf, f=-Infinity")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    for spelling in ("+inf", "INF", "infinity", "Infinity"):
        assert one("f(x) = log(x)", {"x": 0}, f"x={spelling}").right
    for answer in ("-inf", "1e308", "nan", "0"):
        g = one("f(x) = log(x)", {"x": 0}, f"x={answer}")
        assert g.verdict == "wrong" and "the gradient is infinite here" in g.reason, (answer, g)
    assert one("f(x) = log(x)", {"x": 0}, "x=-inf").reason == "wrong sign; the gradient is infinite here"
    assert one("f(x) = log(x)", {"x": 0}, "f=inf").reason == "wrong sign; the gradient is infinite here"


def test_nan_answers_where_the_gradient_is_undefined() -> None:
    # sqrt at -1: value and gradient are nan
    result = run("check", "f(x) = sqrt(x)", "--at", "x=-1", "--expect", "x=undefined, f=nan")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    for spelling in ("NaN", "Undefined", "UNDEFINED"):
        assert one("f(x) = sqrt(x)", {"x": -1}, f"x={spelling}").right
    for answer in ("0", "inf", "-0.5"):
        g = one("f(x) = sqrt(x)", {"x": -1}, f"x={answer}")
        assert (g.verdict, g.reason) == ("wrong", "the gradient is undefined here"), answer


def test_inf_or_nan_for_a_finite_gradient_is_wrong() -> None:
    for answer in ("inf", "nan", "undefined"):
        g = one("f(x) = 2.5*x", {"x": 1}, f"x={answer}")
        assert (g.verdict, g.reason) == ("wrong", "the gradient is finite here"), answer


def test_inf_inside_an_array_answer() -> None:
    # d/dx sum(sqrt(x)) at [1, 0] = [0.5, inf]
    result = run("check", "f(x) = sum(sqrt(x))", "--at", "x=[1,0]", "--expect", "x=[0.5, inf]")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    g = one("f(x) = sum(sqrt(x))", {"x": np.array([1.0, 0.0])}, "x=[0.50, 1e308]")
    assert g.verdict == "wrong"
    assert g.reason == ("the gradient is infinite here; 1 of 2 elements differ: [1] 1e308 for inf (difference -inf); "
                        "largest difference inf")
    assert g.mismatches == [{"index": [1], "given": 1e308, "correct": math.inf, "difference": -math.inf}]
    data = run_json("check", "f(x) = sum(sqrt(x))", "--at", "x=[1,0]", "--expect", "x=[0.5, 1e308]", code=1)
    x = by_input(data)["x"]
    assert x["correct"] == [0.5, "Infinity"]
    assert x["mismatches"] == [{"index": [1], "given": 1e308, "correct": "Infinity", "difference": "-Infinity"}]
    validate("check", data)


def test_json_correct_is_a_number_and_non_finite_numbers_are_strings() -> None:
    data = run_json("check", "f(x) = log(x)", "--at", "x=0", "--expect", "x=inf, f=-inf", code=0)
    assert data["schema_version"] == 2
    assert by_input(data)["x"]["correct"] == "Infinity" and by_input(data)[None]["correct"] == "-Infinity"
    assert by_input(data)["x"]["rel_error"] is None  # no relative error judged an infinity
    data = run_json("check", "f(x) = sqrt(x)", "--at", "x=-1", "--expect", "x=nan", code=0)
    assert by_input(data)["x"]["correct"] == "NaN"
    validate("check", data)
    # formulas: the derivative as text
    data = run_json("check", LECTURE, "--expect", "x=z", code=0)
    assert by_input(data)["x"]["correct"] == "z" and by_input(data)["x"]["rel_error"] is None
    assert by_input(data)["y"]["correct"] is None  # missing, and no point to give a number at
    validate("check", data)


@pytest.mark.parametrize(("expect", "options", "rel_error"), [
    ("x=-4", [], 0),  # exact: relative error 0
    ("x=-3", [], 0.25),  # exact and wrong: |-3 - -4| / 4
    ("x=-4.0", [], 0),  # right by the exact rule
    ("x=-4.1", [], None),  # rounded: half a unit of the last digit judged it
    ("x=-3.9", [], None),
    ("x=-4.1", ["--rtol", "0.1"], pytest.approx(0.1 / 4.1)),
    ("x=-4.1", ["--atol", "0.2"], None),
])
def test_rel_error_agrees_with_the_verdict(expect: str, options: list[str], rel_error: Any) -> None:
    result = run("check", LECTURE, "--at", POINT, "--expect", expect, *options, "--format", "json")
    data = json.loads(result.stdout)
    assert by_input(data)["x"]["rel_error"] == rel_error


# ---------------------------------------------------------------------------
# references: kinks and notes


RELU_NOTE = "relu at 0: 0 (symgrad, PyTorch) or 1 accepted"


def relu_at_0(expect: str) -> Grading:
    """relu at 0 graded against a hand-built kink reference, as checks.references gives it."""
    graph = symgrad.parse("f(x) = relu(x)")
    trace = symgrad.evaluate(graph, {"x": 0})
    kink = Reference(np.array(0.0), accepted=(np.array(0.0), np.array(1.0)), note=RELU_NOTE, status="kink")
    return grade(graph, trace, parse_expect([expect], graph), references={"": Reference(np.array(0.0)), "x": kink})


@pytest.mark.parametrize("answer", ["0", "1", "1.0", "0.0"])
def test_either_one_sided_derivative_is_right_at_a_kink(answer: str) -> None:
    [g] = relu_at_0(f"x={answer}").graded
    assert g.right, g
    assert g.reason == RELU_NOTE and g.note == RELU_NOTE  # said even when right


def test_a_wrong_answer_at_a_kink_carries_the_note_too() -> None:
    [g] = relu_at_0("x=0.5").graded
    assert g.verdict == "wrong" and g.reason.endswith(RELU_NOTE)
    grading = relu_at_0("f=0")
    [f, x] = grading.graded
    assert f.right and f.reason == ""
    assert x.verdict == "missing" and x.note == RELU_NOTE
    assert [(n.answer, n.status, n.text) for n in grading.notes] == [("∂f/∂x", "kink", RELU_NOTE)]
    assert view.notes(grading) == [f"note for the teacher: ∂f/∂x (kink): {RELU_NOTE}"]
    record = view.result(grading, False, schema_version=2)
    assert record["notes"] == [{"answer": "∂f/∂x", "input": "x", "status": "kink", "note": RELU_NOTE}]
    validate("check", record)


def test_relu_at_0_answered_1_on_the_command_line() -> None:
    # checks.references fills `accepted` and `note` at a kink
    result = run("check", "f(x)=relu(x)", "--at", "x=0", "--expect", "x=1")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    line = row(result, "∂f/∂x")
    assert "✓" in line and "relu" in line and "accepted" in line


def test_a_zero_local_gradient_stops_an_infinite_upstream() -> None:
    # sqrt(relu(x)) + x at -1: relu's local gradient 0 stops sqrt's infinite one at relu(-1) = 0,
    # so df/dx = 0 + 1 = 1 (a selecting gate sends exactly 0, as PyTorch's threshold_backward does)
    result = run("check", "f(x)=sqrt(relu(x))+x", "--at", "x=-1", "--expect", "x=1")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "✓" in row(result, "∂f/∂x")


def test_a_zero_local_gradient_stops_an_infinite_upstream_in_process() -> None:
    # the same graded against a hand-built reference: whatever the engine gives, 1 is right
    graph = symgrad.parse("f(x)=sqrt(relu(x))+x")
    trace = symgrad.evaluate(graph, {"x": -1})
    refs = {"": Reference(np.array(-1.0)), "x": Reference(np.array(1.0))}
    assert [g.verdict for g in grade(graph, trace, parse_expect(["x=1, f=-1"], graph), references=refs).graded] \
        == ["right", "right"]
    assert grade(graph, trace, parse_expect(["x=nan"], graph), references=refs).graded[0].verdict == "wrong"


def test_references_given_are_used_instead_of_the_trace() -> None:
    graph = symgrad.parse(LECTURE)
    trace = symgrad.evaluate(graph, {"x": -2, "y": 5, "z": -4})
    refs = {"": Reference(np.array(-12.0)), "x": Reference(np.array(7.0)), "y": Reference(np.array(-4.0)),
            "z": Reference(np.array(3.0))}
    [x] = [g for g in grade(graph, trace, parse_expect(["x=7"], graph), references=refs).graded if g.target == "x"]
    assert x.right  # the reference says 7, whatever backprop gave


# ---------------------------------------------------------------------------
# homework files: per-problem digit rules, notes for the teacher, schema version 2


RULES = """\
[[problem]]
name = "three figures"
function = "f(x) = 0.393224*x"
at = "x=1"
expect = "x=0.39"
sigfigs = 3

[[problem]]
name = "two decimals"
function = "f(x) = 0.393224*x"
at = "x=1"
expect = "x=0.4"
decimals = 2

[[problem]]
name = "two decimals, right"
function = "f(x) = 0.001*x"
at = "x=1"
expect = "x=0.00"
decimals = 2

[[problem]]
name = "the command line's rule"
function = "f(x) = 0.393224*x"
at = "x=1"
expect = "x=0.39"
"""


def test_homework_per_problem_digit_rules(tmp_path: Path) -> None:
    path = write(tmp_path, RULES)
    data = run_json("check", str(path), code=1)
    validate("homework", data)
    assert data["schema_version"] == 2
    assert [r["passed"] for r in data["problems"]] == [False, False, True, True]
    assert data["problems"][0]["answers"][0]["reason"] == "too few significant figures: give at least 3"
    assert data["problems"][1]["answers"][0]["reason"] == "too few decimals: give at least 2"
    # the command line sets the rule of the problems without their own
    data = run_json("check", str(path), "--sigfigs", "3", code=1)
    assert [r["passed"] for r in data["problems"]] == [False, False, True, False]
    result = run("check", str(path))
    assert "too few significant figures: give at least 3" in result.stdout.split("problem 2")[0]


@pytest.mark.parametrize(("keys", "message"), [
    ("sigfigs = 0", "sigfigs must be a whole number, at least 1"),
    ("sigfigs = 2.5", "sigfigs must be a whole number"),
    ('sigfigs = "3"', "sigfigs must be a whole number"),
    ("decimals = -1", "decimals must be a whole number, at least 0"),
    ("decimals = true", "decimals must be a whole number"),
    ("sigfigs = 3\ndecimals = 2", "both sigfigs and decimals"),
])
def test_homework_bad_digit_rules(tmp_path: Path, keys: str, message: str) -> None:
    path = write(tmp_path, f'[[problem]]\nname = "p"\nfunction = "f(x)=x^2"\nat = "x=1"\nexpect = "x=2"\n{keys}\n'
                           + RULES)
    data = run_json("check", str(path), code=1)
    assert data["problems"][0]["passed"] is False
    assert message in data["problems"][0]["error"]["message"]
    assert [r["passed"] for r in data["problems"][1:]] == [False, False, True, True]


def test_homework_flags_problems_at_a_kink(tmp_path: Path) -> None:
    # checks.references gives the kink its note
    text = HOMEWORK + '\n[[problem]]\nname = "a kink"\nfunction = "f(x) = relu(x)"\nat = "x=0"\nexpect = "x=1"\n'
    path = write(tmp_path, text)
    result = run("check", str(path))
    assert "note for the teacher: ∂f/∂x (kink)" in result.stdout.split("problem 4")[1]
    assert "notes for the teacher: problem 4 (kink)" in result.stdout
    data = run_json("check", str(path), code=1)
    validate("homework", data)
    assert [n["status"] for n in data["problems"][3]["notes"]] == ["kink"]
    assert data["problems"][3]["passed"] is True


def test_check_and_homework_records_match_their_schemas(tmp_path: Path) -> None:
    validate("check", run_json("check", LECTURE, "--at", POINT, "--expect", "x=-4,y=4,f=-12", code=1))
    validate("check", run_json("check", MATRIX, "--at", MATRIX_AT, "--expect", "W=[[0.088,0.104],[0.176,0.208]]",
                               code=1))
    validate("homework", run_json("check", str(write(tmp_path, HOMEWORK)), code=1))
    validate("homework", run_json("check", str(write(tmp_path, BROKEN, "broken.toml")), code=1))


def validate(name: str, record: Any) -> None:
    schema = schemas.load(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(record))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_homework_inf_and_nan_as_toml_literals(tmp_path: Path) -> None:
    text = """\
[[problem]]
name = "log at 0"
function = "f(x) = log(x)"
at = { x = 0 }
expect = { x = inf, f = -inf }

[[problem]]
name = "sqrt at -1"
function = "f(x) = sqrt(x)"
at = { x = -1 }
expect = { x = nan, f = "undefined" }

[[problem]]
name = "an array"
function = "f(x) = sum(sqrt(x))"
at = { x = [1, 0] }
expect = { x = [0.50, inf] }
"""
    data = run_json("check", str(write(tmp_path, text)), code=0)
    validate("homework", data)
    assert [r["passed"] for r in data["problems"]] == [True, True, True]
    assert [a["given"] for a in data["problems"][0]["answers"]] == ["inf", "-inf"]
    assert data["problems"][2]["answers"][0]["correct"] == [0.5, "Infinity"]


def test_a_transposed_answer_under_an_upstream_gradient_is_called_transposed() -> None:
    # dW = outer(dout, x) = [[5, 6], [-5, -6]] for dout = [1, -1], x = [5, 6]; the answer is its transpose
    result = run("check", "f(W,x) = W @ x", "--at", "W=[[1,2],[3,4]],x=[5,6]", "--upstream", "[1,-1]",
                 "--expect", "W=[[5,-5],[6,-6]]", code=1)
    assert "transposed" in row(result, "∂f/∂W") and "wrong sign" not in row(result, "∂f/∂W")
