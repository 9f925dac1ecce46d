"""Verdicts you can trust: the examples of the verdicts issue, each with its right value.

A verdict never contradicts the numbers beside it, and "wrong" (exit status 1) means that
backprop is wrong: a point where the gradient is undefined, infinite, at a kink, or beyond
float64 gets a verdict of its own and a sentence saying which.  True values come from the
mathematics worked by hand (written beside each) and from mpmath at 50 digits.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import mpmath
import numpy as np
import pytest
from support import run

import symgrad
from symgrad import checks as C
from symgrad import pipeline
from symgrad import verdicts as V

mpmath.mp.dps = 50


def checked(text: str, **at: Any) -> tuple[dict[str, tuple[str, str]], list[C.Check], symgrad.Trace]:
    """Both checks of text at a point, and each element's verdict across them."""
    trace = symgrad.evaluate(symgrad.parse(text), at)
    checks = C.run_checks(trace.graph, trace)
    return C.combined(checks), checks, trace


def json_of(*args: str) -> dict[str, Any]:
    result = run(*args, "--format", "json")
    data: dict[str, Any] = json.loads(result.stdout)
    data["exit"] = result.exit_code
    return data


def no_exception_names(text: str) -> None:
    assert not re.search(r"\b\w+(Error|Exception)\b", text), text


# ---------------------------------------------------------------------------
# backprop: a zero local gradient stops the gradient


def test_a_selecting_gate_stops_an_infinite_upstream() -> None:
    # sqrt(relu(x)) + x at x = -1: relu selects nothing, so the inf from sqrt'(0) never arrives: 0 + 1
    trace = symgrad.evaluate(symgrad.parse("f(x)=sqrt(relu(x))+x"), {"x": -1})
    assert float(trace.gradient["x"]) == 1.0
    verdicts, _, _ = checked("f(x)=sqrt(relu(x))+x", x=-1)
    assert verdicts["x"][0] in ("excellent", "fine")
    result = run("f(x)=sqrt(relu(x))+x", "--at", "x=-1", "--format", "plain")
    assert result.exit_code == 0 and "FAILED" not in result.stdout


@pytest.mark.parametrize(("text", "at", "want"), [
    # the upstream at max(a) is sqrt'(0) = inf; a[1] is not selected and gets exactly 0
    ("f(a) = sqrt(max(a))", {"a": [0.0, -1.0]}, {"a": [math.inf, 0.0]}),
    # relu below 0 and step anywhere select nothing: exactly 0 against an upstream of inf
    ("f(x) = sqrt(relu(x) + step(x))", {"x": -2.0}, {"x": 0.0}),
    ("f(x) = 1/abs(x)", {"x": 0.0}, None),  # abs at 0 sends 0 even as 1/0 sends -inf ... and 0 * inf stays 0
])
def test_selecting_gates_send_exactly_zero(text: str, at: dict[str, Any], want: dict[str, Any] | None) -> None:
    trace = symgrad.evaluate(symgrad.parse(text), at)
    want = want or {name: np.zeros(np.shape(v)) for name, v in at.items()}
    for name, value in want.items():
        assert np.array_equal(trace.gradient[name], np.asarray(value)), (name, trace.gradient[name])


def test_max_sends_zero_to_the_losing_input_even_when_the_upstream_is_infinite() -> None:
    # g = sqrt(m) with m = max(x, y) = 0 at x = 0, y = -1: the upstream at m is inf; y loses, so gets 0
    trace = symgrad.evaluate(symgrad.parse("m = max(x, y); f = sqrt(m)"), {"x": 0.0, "y": -1.0})
    assert float(trace.gradient["y"]) == 0.0
    assert float(trace.gradient["x"]) == math.inf


def test_a_true_zero_elsewhere_keeps_ieee_nan_and_is_unstable_not_wrong() -> None:
    # 0*sqrt(x) at 0: backprop 0 * inf = nan (IEEE, as PyTorch); the 40-digit replay gives nan too;
    # SymPy's derivative is 0.  The checks call it unstable and name the node; exit 0.
    trace = symgrad.evaluate(symgrad.parse("f(x)=0*sqrt(x)"), {"x": 0.0})
    assert math.isnan(float(trace.gradient["x"]))
    verdicts, checks, _ = checked("f(x)=0*sqrt(x)", x=0.0)
    assert verdicts["x"][0] == "unstable"
    assert "0 · inf" in verdicts["x"][1] and "n1 = sqrt(x)" in verdicts["x"][1]
    assert checks[0].inputs["x"].reference == [0.0]
    assert run("f(x)=0*sqrt(x)", "--at", "x=0").exit_code == 0


# ---------------------------------------------------------------------------
# the numeric check at the edge of a domain


def test_sqrt_at_zero_is_infinite() -> None:
    # backprop: 1/(2 sqrt(0)) = inf, as PyTorch and JAX give; the one-sided differences grow as
    # 1/sqrt(h), with the sign of the gradient
    verdicts, checks, trace = checked("f(x)=sqrt(x)", x=0.0)
    assert float(trace.gradient["x"]) == math.inf
    assert verdicts["x"][0] == "infinite"
    assert checks[1].inputs["x"].verdict == "infinite"
    assert "sqrt has an infinite slope at x = 0" in checks[1].inputs["x"].reason
    result = run("f(x)=sqrt(x)", "--at", "x=0", "--format", "plain")
    assert result.exit_code == 0
    assert "checks: x infinite here, as backprop says" in result.stdout


def test_a_power_at_zero_zero_is_undefined_in_the_exponent() -> None:
    # a^b at a = b = 0: symgrad gives (0, 0), PyTorch's convention.  In a the function is 0^0 = 1
    # nearby on both sides (a^0 = 1): derivative 0, judged normally.  In b, 0^b jumps from 1 to 0
    # (b > 0) and to inf (b < 0): the derivative does not exist.
    verdicts, _, trace = checked("f(a,b)=a^b", a=0.0, b=0.0)
    assert float(trace.gradient["a"]) == 0.0 and float(trace.gradient["b"]) == 0.0
    assert verdicts["a"][0] == "excellent"
    assert verdicts["b"][0] == "undefined"
    assert "a^b is discontinuous in b at a = 0" in verdicts["b"][1]
    assert run("f(a,b)=a^b", "--at", "a=0,b=0").exit_code == 0


@pytest.mark.parametrize(("text", "verdict"), [
    ("f(x) = log(x)", "infinite"),  # log 0 = -inf; the slope 1/x grows to +inf on the one side there is
    ("f(x) = 1/x", "infinite"),  # a pole: the slope -1/x^2 is -inf from both sides
    ("f(x) = 1/x^2", "undefined"),  # the slope -2/x^3 is -inf on the right, +inf on the left
    ("f(x) = log(abs(x))", "undefined"),  # the slope 1/x: +inf on the right, -inf on the left
])
def test_a_function_infinite_at_the_point(text: str, verdict: str) -> None:
    verdicts, _, _ = checked(text, x=0.0)
    assert verdicts["x"][0] == verdict, verdicts
    assert run(text, "--at", "x=0").exit_code == 0


def test_log_of_a_negative_number_is_undefined() -> None:
    verdicts, _, _ = checked("f(x) = log(x)", x=-1.0)
    assert verdicts["x"] == ("undefined", "the function is nan at this point")


def test_sqrt_of_a_negative_number_is_undefined_not_unstable() -> None:
    verdicts, _, _ = checked("f(x, y) = sqrt(x) * y", x=-4.0, y=1.0)
    assert {v for v, _ in verdicts.values()} == {"undefined"}


def test_near_a_domain_edge_the_smaller_steps_stay_inside() -> None:
    # acos at 0.999995: x + 6e-6 leaves the domain (nan); x ± 1.5e-6 stays inside, and the smaller
    # steps agree with -1/sqrt(1 - x^2) = -316.228...
    x = 0.999995
    _, checks, trace = checked("f(x) = acos(x)", x=x)
    assert float(trace.gradient["x"]) == pytest.approx(-1 / math.sqrt(1 - x * x), rel=1e-12)
    assert checks[1].inputs["x"].verdict in ("excellent", "fine"), checks[1].inputs["x"]


@pytest.mark.parametrize(("text", "x", "want"), [
    # 1/x + 1/(2 sqrt(x)) = 1e7 + 1581.14: the step 6e-6 leaves the domain, 9.4e-8 bends across x; the steps
    # relative to |x| (6e-13) resolve it
    ("f(x) = log(x) + sqrt(x)", 1e-7, 1e7 + 0.5 / math.sqrt(1e-7)),
    ("f(x) = 1/x", 1e-8, -1e16),  # the step 6e-6 straddles the pole at 0
    ("f(x) = x*log(x)", 1e-300, math.log(1e-300) + 1),  # log x + 1 = -689.7755...
    ("f(x) = sqrt(x^2)", 1e-8, 1.0),
    ("f(x) = sin(x)^1.5", 1e-8, 1.5 * math.sqrt(math.sin(1e-8)) * math.cos(1e-8)),
    ("f(x) = sqrt(x)", 1e-8, 5000.0),  # near the edge is not at it: the derivative exists
    ("f(x) = log(x)", 1e-8, 1e8),
])
def test_small_x_is_judged_with_steps_relative_to_x(text: str, x: float, want: float) -> None:
    verdicts, checks, trace = checked(text, x=x)
    assert float(trace.gradient["x"]) == pytest.approx(want, rel=1e-12)
    assert checks[1].inputs["x"].verdict in ("excellent", "fine"), checks[1].inputs["x"]
    assert verdicts["x"][0] in ("excellent", "fine")
    assert run(text, "--at", f"x={x!r}").exit_code == 0


@pytest.mark.parametrize(("text", "at"), [
    ("f(x) = tanh(1e9*x)", {"x": 0.0}),  # steep: tanh'(0) * 1e9 = 1e9
    ("f(x) = sin(1e8*x)", {"x": 0.1}),  # oscillates across every step
    ("f(x) = tan(x)", {"x": 2296659451.2353473}),  # a step of 1.4e4 spans thousands of periods
    ("f(x, y) = exp(x) + y", {"x": 25.0, "y": 0.0}),  # rounding of e^25 swamps the differences in y
])
def test_differences_that_cannot_resolve_never_call_backprop_wrong(text: str, at: dict[str, float]) -> None:
    verdicts, checks, _ = checked(text, **at)
    assert not any(r.verdict in ("wrong", "suspicious") for c in checks for r in c.inputs.values()), checks
    assert all(v in ("excellent", "fine") for v, _ in verdicts.values()), verdicts  # the symbolic check decides
    assert run(text, "--at", ",".join(f"{k}={v!r}" for k, v in at.items())).exit_code == 0


@pytest.mark.parametrize(("text", "at"), [
    ("f(x) = sigmoid(x/0)", {"x": 1.0}),  # x/0 is inf: the function is undefined
    ("f(x) = tanh(1/x)", {"x": 0.0}),
    ("f(x) = exp(-1/x^2)", {"x": 0.0}),
    ("f(x) = atan(exp(log(x)))", {"x": -2.0}),  # log(-2): SymPy's complex branch gives 0.2; not real
    ("f(y) = relu(cosh(log(y)))", {"y": -1.0}),
])
def test_a_function_undefined_at_the_point_is_undefined_not_wrong(text: str, at: dict[str, float]) -> None:
    verdicts, _, _ = checked(text, **at)
    assert {v for v, _ in verdicts.values()} == {"undefined"}, verdicts
    assert run(text, "--at", ",".join(f"{k}={v!r}" for k, v in at.items())).exit_code == 0


@pytest.mark.parametrize(("text", "at"), [
    ("f(x) = exp(exp(x))", "x=1e6"),  # e^(e^1e6): an exponent of 434,294 digits
    ("f(x) = x*2^3^4^5", "x=1"),  # 2^(3^1024), never computed exactly
    ("f(x) = x^x^x^x^x^x", "x=2"),
])
def test_astronomically_large_values_do_not_hang(text: str, at: str) -> None:
    result = run(text, "--at", at)
    assert result.exit_code == 0
    assert "lost by float64" in result.stdout


# ---------------------------------------------------------------------------
# kinks: the one-sided derivatives decide


def test_a_tie_at_max_is_a_kink() -> None:
    # max(x, y) at x = y: the one-sided derivatives in x are 0 (left) and 1 (right); symgrad sends
    # half to each input (a tie's convention)
    verdicts, checks, trace = checked("f(x,y)=max(x,y)", x=1.0, y=1.0)
    assert float(trace.gradient["x"]) == 0.5 and float(trace.gradient["y"]) == 0.5
    assert verdicts["x"][0] == verdicts["y"][0] == "kink"
    sides = checks[1].inputs["x"].sides
    assert sides is not None
    assert sides[0] == pytest.approx([0.0], abs=1e-9) and sides[1] == pytest.approx([1.0], rel=1e-9)
    assert run("f(x,y)=max(x,y)", "--at", "x=1,y=1").exit_code == 0


def test_x_abs_x_at_zero_is_differentiable_and_judged_normally() -> None:
    # x*|x| has derivative 2|x| = 0 at 0 from both sides: excellent, though abs sits on its kink
    verdicts, checks, trace = checked("f(x) = x*abs(x)", x=0.0)
    assert float(trace.gradient["x"]) == 0.0
    assert verdicts["x"][0] == "excellent"
    assert checks[1].inputs["x"].verdict == "excellent"
    data = json_of("f(x) = x*abs(x)", "--at", "x=0")
    assert [k["convention"] for k in data["kinks"]] == ["abs'(0) = 0"]  # the abs node keeps its note
    assert data["checks"]["numeric"]["inputs"]["x"]["verdict"] == "excellent"


def test_relu_at_zero_is_a_kink_with_its_one_sided_derivatives() -> None:
    verdicts, checks, _ = checked("f(x) = relu(x)", x=0.0)
    assert verdicts["x"][0] == "kink"
    assert checks[1].inputs["x"].reason == "at a kink: the one-sided derivatives are 0 (left) and 1 (right)"


# ---------------------------------------------------------------------------
# float64 overflows, underflows or cancels: the checks do not give up


def test_a_written_out_sigmoid_at_minus_1000_is_unstable_with_its_true_gradient() -> None:
    # σ'(x) = e^-x / (1 + e^-x)^2 = e^x / (1 + e^x)^2 ≈ e^-1000 at x = -1000
    true = mpmath.exp(-1000) / (1 + mpmath.exp(-1000)) ** 2
    assert mpmath.nstr(true, 6) == "5.07596e-435"
    verdicts, checks, trace = checked("f(x)=1/(1+exp(-x))", x=-1000.0)
    assert math.isnan(float(trace.gradient["x"]))
    assert verdicts["x"][0] == "unstable"
    sym = checks[0].inputs["x"]
    assert sym.verdict == "unstable" and sym.text == "5.07596e-435"
    assert "float64 overflowed at n2 = exp(n1)" in sym.reason and "sigmoid" in sym.reason
    result = run("f(x)=1/(1+exp(-x))", "--at", "x=-1000", "--format", "plain")
    assert result.exit_code == 0
    assert "5.07596e-435" in result.stdout and "unstable" in result.stdout
    assert "FAILED" not in result.stdout


def test_log_of_an_underflowed_softmax_is_unstable_with_its_true_gradient() -> None:
    # -log(softmax(s)[1]) = logsumexp(s) - s[1]; its gradient is softmax(s) - onehot(1):
    # [1/(1 + e^-1000 + e^-2000) ≈ 1, e^-1000/(...) - 1 ≈ -1, e^-2000/(...) ≈ 2.57654e-869]
    verdicts, checks, trace = checked("f(s)=-log(softmax(s)[1])", s=[1000.0, 0.0, -1000.0])
    assert np.isnan(trace.gradient["s"]).all()
    assert {v for v, _ in verdicts.values()} == {"unstable"}
    sym = checks[0].inputs
    assert sym["s[0]"].reference == [1.0] and sym["s[1]"].reference == [-1.0]
    tiny = mpmath.exp(-2000) / (1 + mpmath.exp(-1000) + mpmath.exp(-2000))
    assert sym["s[2]"].text == mpmath.nstr(tiny, 6) == "2.57654e-869"
    assert "softmax" in sym["s[0]"].reason and "logsumexp" in sym["s[0]"].reason


def test_cancellation_is_unstable_and_strict_makes_it_fail() -> None:
    # (1 - cos x)/x^2 at x = 1e-8: float64 computes 1 - cos x = 0; the true derivative is
    # -x/12 + O(x^3) = -8.33333e-10, and backprop's float64 1e8 is lost to cancellation
    verdicts, checks, _ = checked("f(x)=(1-cos(x))/x^2", x=1e-8)
    assert verdicts["x"][0] == "unstable"
    assert checks[0].inputs["x"].reference == pytest.approx([-1e-8 / 12], rel=1e-6)
    assert "cancellation" in checks[0].inputs["x"].reason
    assert checks[1].inputs["x"].verdict == "unstable"  # the finite differences are float64 too
    assert run("f(x)=(1-cos(x))/x^2", "--at", "x=1e-8").exit_code == 0
    assert run("f(x)=(1-cos(x))/x^2", "--at", "x=1e-8", "--strict").exit_code == 1


def test_a_numeric_check_that_overflows_is_skipped_and_the_other_check_decides() -> None:
    # x^1e9 at 1.0000001: x^1e9 = e^(1e9 ln x) ≈ e^100; the step 6e-6 overflows float64
    x = mpmath.mpf(1.0000001)  # the float64 nearest 1.0000001, as symgrad reads it
    true = 10 ** 9 * x ** (10 ** 9 - 1)
    verdicts, checks, trace = checked("f(x)=x^1e9", x=1.0000001)
    assert float(trace.gradient["x"]) == pytest.approx(float(true), rel=1e-9)
    num = checks[1].inputs["x"]
    assert num.verdict == "skipped" and "overflows float64" in num.reason and "not backprop" in num.reason
    assert checks[0].inputs["x"].verdict == "excellent"
    assert verdicts["x"][0] == "excellent"
    assert run("f(x)=x^1e9", "--at", "x=1.0000001").exit_code == 0


def test_a_wrong_rule_is_still_wrong_where_float64_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 30-digit replay runs the engine's own rules: a wrong rule disagrees with SymPy there too."""
    import dataclasses

    from symgrad import primitives as P

    wrong = dataclasses.replace(P.PRIMITIVES["exp"], partials=(lambda out, x: 2 * out,))
    monkeypatch.setitem(P.PRIMITIVES, "exp", wrong)
    _, checks, _ = checked("f(x) = exp(x)", x=1.0)
    assert checks[0].inputs["x"].verdict == "wrong" and checks[1].inputs["x"].verdict == "wrong"
    # and where float64 overflows too, a wrong rule is not excused as unstable
    _, checks, _ = checked("f(x) = exp(x) * 0 + exp(x/1000)", x=1000.0)
    assert checks[0].inputs["x"].verdict == "wrong"


# ---------------------------------------------------------------------------
# the ladder itself


def test_zero_is_its_own_verdict_and_shows_the_absolute_difference() -> None:
    v = V.decide(0.0, 2e-17, scale=1.0)
    assert (v.name, v.rel_error, v.abs_error) == ("zero", None, 2e-17)
    from symgrad.views import checks_view
    from symgrad.views.plain import ASCII, UNICODE

    trace = symgrad.evaluate(symgrad.parse("f(x) = x"), {"x": 1.0})
    zero = C.ElementCheck("zero", None, False, [0.0], 2e-17)
    checks = [C.Check("symbolic", "pass", inputs={"x": zero}), C.Check("numeric", "pass", inputs={"x": zero})]
    lines = checks_view.lines(checks, trace, UNICODE, 4)
    row = next(line for line in lines if line.startswith("x "))
    assert "abs 2e-17" in row and row.endswith("≈0")
    assert checks_view.lines(checks, trace, ASCII, 4)[1].endswith("~0")
    assert "zero to within the floor" in C.summary(checks)[1]


def test_nan_against_nan_is_undefined_and_only_wrong_fails() -> None:
    assert V.decide(math.nan, math.nan, 1.0).name == "undefined"
    for name in V.VERDICTS:
        assert V.Verdict(name).failed == (name == "wrong")


def test_largest_relative_error_counts_only_elements_judged_by_it() -> None:
    good = C.ElementCheck("excellent", 3e-9, False)
    zero = C.ElementCheck("zero", None, False, [0.0], 1e-17)
    kink = C.ElementCheck("kink", 1.0, True, reason="at a kink")
    line = C.summary([C.Check("numeric", "pass", inputs={"x": good, "y": zero, "z": kink})])[1]
    assert "largest relative error 3.0e-09" in line and "1.0e+00" not in line


# ---------------------------------------------------------------------------
# one ladder everywhere: --points --check agrees with the check of one point

AGREEMENT = [
    ("sqrt(relu(x)) + x", [-1.0, 0.0, 4.0, 1e-9]),
    ("1/(1+exp(-x))", [-1000.0, 0.0, 3.0]),
    ("sqrt(x)", [0.0, 2.0]),
    ("x*abs(x)", [0.0, -2.0]),
    ("relu(x)", [0.0, 1e-9, -3.0]),
    ("log(x)", [-1.0, 0.0, 2.0]),
    ("1/x", [0.0, -3.0]),
    ("1/x^2", [0.0]),
    ("x^1e9", [1.0000001]),
    ("0*sqrt(x)", [0.0]),
]


@pytest.mark.parametrize(("text", "xs"), AGREEMENT)
def test_points_check_agrees_with_the_numeric_check_of_each_point(text: str, xs: list[float]) -> None:
    graph = symgrad.parse(text)
    many = symgrad.engine.evaluate_points(graph, {"x": np.array(xs)})
    rows = pipeline.numeric_point_check(many)
    for x, row in zip(xs, rows):
        one = symgrad.evaluate(graph, {"x": x})
        single = C.numeric_check(one).inputs["x"].verdict
        assert row == single, (text, x, row, single)


def test_points_check_never_calls_a_domain_edge_wrong() -> None:
    result = run("sqrt(x)", "--points", "-", "--check", input="x\n0\n-1\n4\n")
    assert result.exit_code == 0, result.stdout
    checks = [line.split(",")[3] for line in result.stdout.splitlines()[1:]]
    assert checks == ["infinite", "undefined", "excellent"]


def test_batch_check_uses_the_same_ladder() -> None:
    lines = [json.dumps({"id": 1, "expr": "f(x)=sqrt(x)", "at": {"x": 0}}),
             json.dumps({"id": 2, "expr": "f(x)=1/(1+exp(-x))", "at": {"x": -1000}})]
    result = run("batch", "--check", input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.stdout
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[0]["checks"]["numeric"]["inputs"]["x"]["verdict"] == "infinite"
    assert records[1]["checks"]["symbolic"]["inputs"]["x"]["verdict"] == "unstable"
    assert all(r["ok"] for r in records)


# ---------------------------------------------------------------------------
# the symbolic check: bounded by size, the same on every machine


def sigmoid_tower(levels: int) -> str:
    body = "x*y"
    for _ in range(levels):
        body = f"sigmoid({body}*y + x)"
    return f"f(x,y) = {body}"


def test_the_symbolic_check_is_bounded_by_size_not_by_the_clock() -> None:
    trace = symgrad.evaluate(symgrad.parse(sigmoid_tower(30)), {"x": 0.3, "y": 0.2})
    for timeout in (0.5, 1000.0):
        sym = C.symbolic_check(trace.graph, trace, timeout=timeout)
        assert sym.status == "skipped"
        assert "above the limit of 500,000 (--symbolic-limit raises it)" in sym.reason
    result = run(sigmoid_tower(30), "--at", "x=0.3,y=0.2", "--symbolic-limit", "10")
    assert "symbolic check skipped: the expression is too large" in result.stdout


@pytest.mark.slow
def test_large_inputs_check_fewer_elements_symbolically_the_same_way_every_time() -> None:
    W = np.random.default_rng(0).normal(size=(60, 60))
    trace = symgrad.evaluate(symgrad.parse("f(W) = sum(W^2)"), {"W": W})
    notes = {C.symbolic_check(trace.graph, trace).note for _ in range(2)}
    assert len(notes) == 1
    (note,) = notes
    assert re.fullmatch(r"checked a random sample of \d+ of 3600 input elements", note)


def test_skipped_reasons_are_sentences() -> None:
    for text, at in [("f(x)=sign(x)*2", {"x": 0.0}), ("f(a,b)=a^b", {"a": 0.0, "b": 0.0}),
                     ("f(x)=x^1e9", {"x": 1.0000001}), ("f(s)=-log(softmax(s)[1])", {"s": [1000.0, 0.0, -1000.0]})]:
        _, checks, _ = checked(text, **at)
        for c in checks:
            no_exception_names(c.reason)
            for r in c.inputs.values():
                no_exception_names(r.reason)


# ---------------------------------------------------------------------------
# JSON spells the verdicts in ASCII, schema version 2


def test_json_verdicts_and_schema_version() -> None:
    data = json_of("f(x)=sqrt(x)", "--at", "x=0")
    assert data["schema_version"] == 2
    assert data["checks"]["numeric"]["inputs"]["x"]["verdict"] == "infinite"
    assert data["checks"]["agree"] is True
    data = json_of("f(x,y)=x*y - y*x", "--at", "x=0.1,y=0.3")
    verdicts = {r["verdict"] for c in ("symbolic", "numeric") for r in data["checks"][c]["inputs"].values()}
    assert verdicts <= {"excellent", "zero"}


def test_on_a_narrow_terminal_the_checks_fit_its_width() -> None:
    import io

    from rich.console import Console

    from symgrad.views import checks_view
    from symgrad.views.plain import UNICODE

    _, checks, trace = checked("f(x)=1/(1+exp(-x))", x=-1000.0)
    for width in (60, 100):
        out = io.StringIO()
        checks_view.render(Console(file=out, width=width, force_terminal=True, color_system=None), checks, trace,
                           UNICODE, 4)
        lines = out.getvalue().splitlines()
        assert all(len(line) <= width for line in lines), [line for line in lines if len(line) > width]
        row = next(line for line in lines if line.startswith("x "))
        assert row.split() == ["x", "nan", "5.07596e-435", "0", "unstable"], row  # every number whole


def test_a_variable_named_e_is_printed_apart_from_eulers_number() -> None:
    # f = exp(1)*e + e^2 with the variable e = 2: f = 2e + 4 (Euler's e), df/de = exp(1) + 2*2 = 6.718...
    result = run("f(e) = exp(1)*e + e^2", "--at", "e=2", "--format", "plain")
    assert result.exit_code == 0
    assert "∂f/∂e = n1 + 2*e    where n1 = exp(1)" in result.stdout  # n1: the node exp(1), not a variable e
    assert "note: e is a variable here; Euler's number is exp(1)" in result.stderr
    exact = run("f(e) = exp(1)*e + e^2", "--at", "e=2", "--exact", "--format", "plain").stdout
    assert "exact: f = 4 + 2*exp(1), ∂f/∂e = exp(1) + 4" in exact


def test_huge_constants_leak_no_python_warning() -> None:
    """Only symgrad's own messages reach stderr: no NumPy RuntimeWarning from SymPy's arithmetic."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "symgrad", "f(x) = x*2^3^4^5", "--at", "x=1"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "RuntimeWarning" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
