"""The language gaps users hit (issue 12): minibatch losses and text pasted from papers.

Minibatch losses: indexing with arrays of whole numbers as NumPy reads it (S[y] gathers rows,
S[arange(N), y] one entry per row, repeated indices add up their gradients), arange(n) and
onehot(y, C), and the whole softmax cross-entropy of a minibatch against a hand-written NumPy
formula and the three-way checks.  Pasted text: ½ and the other vulgar fractions, Wᵀ, ‖x‖, W^T
where T is no variable, and the errors for 2x, (x+y)z and statements separated by ','.

Every value is derived by hand (in the comments) or by a formula written here in NumPy, and the
gradients are also compared with finite differences of symgrad's own forward pass."""

from __future__ import annotations

import unicodedata
from typing import Any

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import close, finite_differences, run, run_json, strict_json, trace_of

import symgrad
from symgrad import checks as C
from symgrad import primitives as P
from symgrad.errors import SymgradError
from symgrad.parser import VULGAR_FRACTIONS, number
from symgrad.symbolic import exact_constant

S23 = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


def error_of(text: str, **at: Any) -> SymgradError:
    with pytest.raises(SymgradError) as info:
        trace_of(text, **at)
    return info.value


def verdicts(trace: symgrad.Trace) -> set[str]:
    return {v for v, _ in C.combined(C.run_checks(trace.graph, trace)).values()}


# ---------------------------------------------------------------------------
# indexing with arrays of whole numbers: NumPy's advanced indexing


def test_a_vector_of_labels_selects_rows_as_in_numpy() -> None:
    trace = trace_of("f(S, y) = S[y]", S=S23, y=[1.0, 0.0, 1.0])
    close(trace.value, [[4, 5, 6], [1, 2, 3], [4, 5, 6]])  # S[[1, 0, 1]]
    assert trace.graph.index_only == ["y"]


def test_arange_and_labels_pick_one_entry_per_row() -> None:
    # S[arange(2), y] with y = [2, 0]: S[0, 2] = 3 and S[1, 0] = 4
    trace = trace_of("f(S, y) = S[arange(2), y]", S=S23, y=[2.0, 0.0])
    close(trace.value, [3.0, 4.0])
    # its Jacobian: output element k depends on S[k, y[k]] alone
    want = np.zeros((2, 2, 3))
    want[0, 0, 2] = want[1, 1, 0] = 1.0
    close(trace.gradient["S"], want)


def test_repeated_indices_add_up_their_gradients() -> None:
    # sum(x[i] * w) with i = [1, 1, 2, 1], w = [1, 2, 3, 4]: x[1] gets 1 + 2 + 4 = 7, x[2] gets 3, x[0] nothing
    text = "f(x, i) = sum(x[i] * [1, 2, 3, 4])"
    at = {"x": np.array([1.0, 2.0, 3.0]), "i": np.array([1.0, 1.0, 2.0, 1.0])}
    trace = trace_of(text, **at)
    close(trace.value, 2 + 4 + 9 + 8)
    close(trace.gradient["x"], [0.0, 7.0, 3.0])
    close(finite_differences(text, at)["x"], [0.0, 7.0, 3.0], rtol=1e-7, atol=1e-8)
    assert verdicts(trace) == {"excellent"}


def test_repeated_rows_add_up_their_gradients() -> None:
    # sum(S[[0, 0]] ^ 2): row 0 twice, so d/dS[0, j] = 2 * 2 * S[0, j], and row 1 gets nothing
    trace = trace_of("f(S, y) = sum(S[y]^2)", S=S23, y=[0.0, 0.0])
    close(trace.value, 2 * (1 + 4 + 9))
    close(trace.gradient["S"], [[4.0, 8.0, 12.0], [0.0, 0.0, 0.0]])


def test_index_arrays_broadcast_together() -> None:
    # W[i, j] with i = [[0], [1]] and j = [0, 2]: the 2x2 grid [[W00, W02], [W10, W12]]
    trace = trace_of("f(W, i, j) = W[i, j]", W=S23, i=[[0.0], [1.0]], j=[0.0, 2.0])
    close(trace.value, [[1.0, 3.0], [4.0, 6.0]])
    # an index array of two axes gives a result of two axes: x[[[0, 1], [2, 2]]]
    close(trace_of("f(x, i) = x[i]", x=[5.0, 6.0, 7.0], i=[[0.0, 1.0], [2.0, 2.0]]).value, [[5, 6], [7, 7]])


def test_negative_indices_in_an_array_count_from_the_end() -> None:
    trace = trace_of("f(x, i) = sum(x[i] * [10, 1])", x=[5.0, 6.0, 7.0], i=[-1.0, 0.0])
    close(trace.value, 7 * 10 + 5)
    close(trace.gradient["x"], [1.0, 0.0, 10.0])


def test_a_gather_from_a_constant_array_and_an_expression_index() -> None:
    # sum([10, 20, 30][[2, 0]] * x) = 30 x0 + 10 x1: the index is an array written in the program
    trace = trace_of("f(x) = sum([10, 20, 30][[2, 0]] * x)", x=[1.0, 2.0])
    close(trace.value, 30 + 20)
    close(trace.gradient["x"], [30.0, 10.0])


def test_index_arrays_at_many_points() -> None:
    # f = t * sum(S[arange(2), y]) = t * (3 + 4) with S and y fixed, t at each point;
    # df/dS = t at S[0, 2] and S[1, 0]
    result = run("f(t, S, y) = t * sum(S[arange(2), y])", "--at", "S=[[1,2,3],[4,5,6]],y=[2,0]",
                 "--points", "-", "--format", "jsonl", input="t\n1\n-2\n", code=0)
    rows = [strict_json(line) for line in result.stdout.splitlines()]
    assert [(r["value"], r["gradient"]["t"]) for r in rows] == [(7.0, 7.0), (-14.0, 7.0)]
    assert rows[1]["gradient"]["S"] == [[0.0, 0.0, -2.0], [-2.0, 0.0, 0.0]]


@pytest.mark.parametrize(("text", "at", "words"), [
    ("f(x, i) = x[i]", {"x": [1.0, 2.0, 3.0], "i": [0.0, 3.0]},
     "index i has the entry 3, out of range for axis 0 of x, shape (3,): valid indices are 0 to 2"),
    ("f(x, i) = x[i]", {"x": [1.0, 2.0, 3.0], "i": [0.0, -4.0]}, "has the entry -4, out of range"),
    ("f(x, i) = x[i]", {"x": [1.0, 2.0, 3.0], "i": [0.0, 1.5]}, "index i = 1.5 is not a whole number"),
    ("f(W, i, j) = W[i, j]", {"W": S23, "i": [0.0, 1.0], "j": [0.0, 1.0, 2.0]},
     "the index arrays i of shape (2,) and j of shape (3,) do not broadcast together"),
    ("f(x, i) = x[i]", {"x": [1.0, 2.0, 3.0], "i": [np.inf, 0.0]}, "out of range"),
])
def test_a_bad_index_array_is_a_clear_error(text: str, at: dict[str, Any], words: str) -> None:
    err = error_of(text, **at)
    assert err.kind == "value"
    assert words in err.message, err.message
    assert err.span is not None


def test_labels_out_of_range_for_the_rows_point_at_the_per_row_gather() -> None:
    # The classic slip: softmax(X @ W)[y] with y = [2, 0] and 2 rows selects rows (NumPy's meaning),
    # and row 2 does not exist: the error says how to pick one entry per row.
    err = error_of("f(S, y) = -mean(log(softmax(S)[y]))", S=S23, y=[2.0, 0.0])
    assert err.kind == "value"
    assert "index y has the entry 2, out of range for axis 0" in err.message
    assert "selects whole rows" in err.message
    assert "[arange(2), y]" in err.message
    result = run("f(S, y) = -mean(log(softmax(S)[y]))", "--at", "S=[[1,2,3],[4,5,6]],y=[2,0]", code=2)
    assert "arange(2), y]" in result.stderr


def test_an_index_array_gets_no_check_and_the_values_are_checked() -> None:
    trace = trace_of("f(S, y) = sum(S[arange(2), y]^2)", S=S23, y=[2.0, 0.0])
    close(trace.value, 9 + 16)
    close(trace.gradient["S"], [[0, 0, 6], [8, 0, 0]])
    sym, num = C.run_checks(trace.graph, trace)
    assert list(sym.inputs) == list(num.inputs) == [f"S[{i},{j}]" for i in range(2) for j in range(3)]
    assert verdicts(trace) <= {"excellent", "zero"}


def test_the_symbolic_form_of_an_array_index_is_exact() -> None:
    data = run_json("f(S, y) = sum(S[arange(2), y] * [1, 3])", "--at", "S=[[1,2,3],[4,5,6]],y=[2,0]", "--exact")
    assert data["exact"]["f"] == "15"  # 3 * 1 + 4 * 3
    assert data["value"] == 15.0


# ---------------------------------------------------------------------------
# arange(n)


def test_arange() -> None:
    close(trace_of("f(x) = arange(4) * x", x=2.0).value, [0.0, 2.0, 4.0, 6.0])
    close(trace_of("f(x) = sum(arange(0)) + x", x=1.0).value, 1.0)  # empty
    close(trace_of("f(x) = arange(2 + 1) @ [x, x, x]", x=1.0).value, 3.0)  # a constant expression is constant
    graph = symgrad.parse("f(x) = sum(arange(3) * x)")
    assert [n.op for n in graph.nodes if n.op == "arange"] == ["arange"]


def test_arange_of_a_variable_is_refused_as_the_axis_of_sum_is() -> None:
    with pytest.raises(SymgradError) as info:
        symgrad.parse("f(n, x) = sum(arange(n) * x)")
    assert info.value.kind == "value"
    assert info.value.message == "the n of arange must be a constant number"
    assert info.value.hint == "write it as a number: arange(2)"
    # the axis of sum keeps its hint
    with pytest.raises(SymgradError, match="the axis of sum must be a constant number") as axis:
        symgrad.parse("f(W, k) = sum(sum(W, k))")
    assert axis.value.hint == "write it as a number: sum(x, 0)"


@pytest.mark.parametrize(("text", "words"), [
    ("arange(2.5)", "the length n of arange must be a whole number, 0 or more, but it is 2.5"),
    ("arange(-1)", "must be a whole number, 0 or more, but it is -1"),
    ("arange([1, 2])", "must be one whole number, but it is an array of shape (2,)"),
    ("arange(1e9)", "too large"),
])
def test_arange_of_a_bad_length(text: str, words: str) -> None:
    err = error_of(f"f(x) = sum({text}) * x", x=1.0)
    assert err.kind == "value"
    assert words in err.message


# ---------------------------------------------------------------------------
# onehot(y, C)


def test_onehot() -> None:
    close(trace_of("f(y) = onehot(y, 3)", y=[2.0, 0.0]).value, [[0, 0, 1], [1, 0, 0]])
    close(trace_of("f(y) = onehot(y, 3)", y=1.0).value, [0, 1, 0])  # a scalar label: a vector
    close(trace_of("f(y) = onehot(y, 2)", y=[[1.0], [0.0]]).value, [[[0, 1]], [[1, 0]]])


def test_onehot_sends_no_gradient_to_its_labels() -> None:
    # sum(W * onehot(y, 3)) picks W[0, 2] + W[1, 0]; its gradient is the one-hot matrix itself
    text = "f(W, y) = sum(W * onehot(y, 3))"
    trace = trace_of(text, W=S23, y=[2.0, 0.0])
    close(trace.value, 3.0 + 4.0)
    close(trace.gradient["W"], [[0, 0, 1], [1, 0, 0]])
    assert "y" not in trace.gradient and trace.graph.index_only == ["y"]
    assert verdicts(trace) <= {"excellent", "zero"}
    data = run_json(text, "--at", "W=[[1,2,3],[4,5,6]],y=[2,0]", "--exact")
    assert data["exact"]["f"] == "7"
    assert data["index_only"] == ["y"] and data["gradient"]["y"] is None


def test_the_number_of_classes_must_be_a_constant() -> None:
    with pytest.raises(SymgradError) as info:
        symgrad.parse("f(y, C) = sum(onehot(y, C))")
    assert info.value.message == "the C of onehot must be a constant number"
    assert info.value.hint == "write it as a number: onehot(y, 2)"


@pytest.mark.parametrize(("y", "c", "words"), [
    ([2.0, 0.0], "2", "the label y = 2 is out of range for 2 classes: labels are 0 to 1"),
    ([-1.0, 0.0], "3", "the label y = -1 is out of range for 3 classes"),
    ([0.5, 0.0], "3", "the label y = 0.5 is not a whole number"),
    ([0.0], "0", "the number of classes C of onehot must be a whole number, 1 or more, but it is 0"),
    ([0.0], "2.5", "must be a whole number, 1 or more, but it is 2.5"),
])
def test_onehot_of_bad_labels_or_classes(y: list[float], c: str, words: str) -> None:
    err = error_of(f"f(y) = sum(onehot(y, {c}))", y=y)
    assert err.kind == "value"
    assert words in err.message, err.message
    result = run(f"f(y) = sum(onehot(y, {c}))", "--at", f"y={y}", code=2)
    assert words in result.stderr


# ---------------------------------------------------------------------------
# the minibatch softmax cross-entropy


X23 = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
W33 = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]])
LABELS = np.array([2.0, 0.0])
LOSS = "f(X, W, y) = -mean(log(softmax(X @ W)[arange(2), y]))"
LOSS_AT = "X=[[1,2,3],[0.5,-1,2]],W=[[0.1,0.2,0.3],[0.4,0.5,0.6],[0.7,0.8,0.9]],y=[2,0]"


def _row_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def test_softmax_of_a_matrix_is_row_wise() -> None:
    # softmax works over the last axis: each row of X @ W sums to 1 on its own
    trace = trace_of("f(X, W) = softmax(X @ W)", X=X23, W=W33)
    close(trace.value, _row_softmax(X23 @ W33), rtol=1e-14)
    close(np.sum(trace.value, axis=1), [1.0, 1.0], rtol=1e-14)


def test_the_minibatch_softmax_loss_against_numpy() -> None:
    trace = trace_of(LOSS, X=X23, W=W33, y=LABELS)
    n = 2
    probs = _row_softmax(X23 @ W33)
    labels = LABELS.astype(int)
    close(trace.value, -np.mean(np.log(probs[np.arange(n), labels])), rtol=1e-14)
    onehot = np.eye(3)[labels]
    close(trace.gradient["W"], X23.T @ (probs - onehot) / n, rtol=1e-12)  # dW = X.T (P - Y) / N
    close(trace.gradient["X"], (probs - onehot) @ W33.T / n, rtol=1e-12)  # dX = (P - Y) W.T / N
    fd = finite_differences(LOSS, {"X": X23, "W": W33, "y": LABELS})
    close(fd["W"], trace.gradient["W"], rtol=1e-6, atol=1e-9)
    assert "y" not in fd and "y" not in trace.gradient
    # the same loss written with onehot instead of the gather
    other = trace_of("f(X, W, y) = -sum(log(softmax(X @ W)) * onehot(y, 3)) / 2", X=X23, W=W33, y=LABELS)
    close(other.value, trace.value, rtol=1e-14)
    close(other.gradient["W"], trace.gradient["W"], rtol=1e-12)


def test_the_minibatch_softmax_loss_passes_the_three_way_checks() -> None:
    data = run_json(LOSS, "--at", LOSS_AT)
    checks = data["checks"]
    assert checks["agree"] is True
    for check in ("symbolic", "numeric"):
        assert checks[check]["status"] == "pass"
        found = {r["verdict"] for r in checks[check]["inputs"].values()}
        assert found == {"excellent"}, (check, found)
        assert set(checks[check]["inputs"]) == {f"{v}[{i},{j}]" for v in "XW" for i in range(3) for j in range(3)
                                                if v == "W" or i < 2}
    plain = run(LOSS, "--at", LOSS_AT, "--format", "plain", code=0).stdout
    assert "wrong" not in plain and "backprop, symbolic and numeric agree" in plain
    assert "y is used only as an index: it has no gradient" in plain


# ---------------------------------------------------------------------------
# vulgar fractions


@pytest.mark.parametrize("ch", sorted(VULGAR_FRACTIONS))
def test_every_vulgar_fraction_is_its_number(ch: str) -> None:
    value = unicodedata.numeric(ch)
    trace = trace_of(f"f(x) = {ch}*x", x=3.0)
    close(trace.value, 3 * value, rtol=1e-15)
    close(trace.gradient["x"], value, rtol=1e-15)
    exact = exact_constant(ch, value, sp)
    assert exact == sp.Rational(number(ch).numerator, number(ch).denominator)
    assert float(exact) == pytest.approx(value, rel=1e-15)


def test_the_vulgar_fractions_are_the_unicode_ranges() -> None:
    expected = [chr(c) for c in [*range(0x00BC, 0x00BF), *range(0x2150, 0x215F)]]
    assert sorted(VULGAR_FRACTIONS) == sorted(expected)
    assert exact_constant("½", 0.5, sp) == sp.Rational(1, 2)
    assert exact_constant("⅓", 1 / 3, sp) == sp.Rational(1, 3)


def test_half_is_exact_for_sympy() -> None:
    # f = ⅓ x + x^½ at 4: 4/3 + 2 = 10/3, f' = ⅓ + ½ x^-½ = 1/3 + 1/4 = 7/12
    data = run_json("f(x) = ⅓*x + x^½", "--at", "x=4", "--exact")
    assert data["exact"] == {"f": "10/3", "x": "7/12"}
    close(data["value"], 10 / 3)
    close(data["gradient"]["x"], 7 / 12)
    assert {r["verdict"] for r in data["checks"]["symbolic"]["inputs"].values()} == {"excellent"}


def test_a_power_of_a_half_is_the_square_root() -> None:
    trace = trace_of("f(x) = x^½ + x**¼", x=16.0)
    close(trace.value, 4.0 + 2.0)
    close(trace.gradient["x"], 0.5 / 4 + 0.25 * 16 ** -0.75)
    assert "½" in trace.graph.labels  # the constant keeps its written form in the tables


def test_a_fraction_is_a_value_for_at() -> None:
    data = run_json("f(x, y) = x * y", "--at", "x=½,y=¾", "--exact")
    assert data["at"] == {"x": 0.5, "y": 0.75}
    assert data["exact"]["f"] == "3/8"


@pytest.mark.parametrize(("text", "hint"), [
    ("f(x) = ½x", "missing operator between '½' and 'x'? write ½*x"),
    ("f(x) = x½", "missing operator between 'x' and '½'? write x*½"),
    ("f(x) = 1½ * x", "a number and a fraction side by side: write 1 + ½ for the mixed number, or 1*½"),
])
def test_a_fraction_side_by_side_with_an_operand_is_an_error(text: str, hint: str) -> None:
    with pytest.raises(SymgradError) as info:
        symgrad.parse(text)
    assert info.value.kind == "syntax"
    assert info.value.hint == hint


def test_a_fraction_is_never_part_of_a_name() -> None:
    assert symgrad.parse("f(x) = x^½").variables == ["x"]
    result = run("x½", "--at", "x=1", code=2)
    assert "write x*½" in result.stderr


# ---------------------------------------------------------------------------
# Wᵀ, W^T and ‖x‖


def test_superscript_t_is_the_transpose() -> None:
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    x = np.array([1.0, -1.0])
    trace = trace_of("f(W, x) = sum(Wᵀ @ x)", W=W, x=x)
    close(trace.value, np.sum(W.T @ x))  # W.T @ x = [1 - 3, 2 - 4]
    close(trace.gradient["W"], [[1.0, 1.0], [-1.0, -1.0]])  # d/dW[i, j] of sum_j sum_i W[i, j] x[i] = x[i]
    assert trace.graph.variables == ["W", "x"]
    assert "transpose" in {n.op for n in trace.graph.nodes}
    same = trace_of("f(W, x) = sum(W.T @ x)", W=W, x=x)
    close(same.gradient["W"], trace.gradient["W"])
    close(trace_of("f(W, x) = (W @ x)ᵀ @ x", W=W, x=x).value, (W @ x) @ x)  # a vector's transpose is itself
    close(trace_of("f(W) = sum(Wᵀ²)", W=W).value, 30.0)  # (Wᵀ)², elementwise


def test_w_to_the_t_without_a_variable_t_offers_the_transpose() -> None:
    result = run("f = sum(W^T @ x)", "--at", "W=[[1,2],[3,4]],x=[1,1]", code=2)
    assert "error: W^T reads as a power, and T is not a declared variable" in result.stderr
    assert "hint: for the transpose write W.T (or Wᵀ); for a power of a variable T, declare it in a header " \
           "on the last line: f(W, T, x) = sum(W^T @ x)" in result.stderr
    data = run_json("W**T", "--at", "W=2", code=2)
    assert data["error"]["kind"] == "name" and "W.T" in data["error"]["hint"]
    # following the old hint (binding T) no longer silently computes a power
    run("sum(W^T)", "--at", "W=[[1,2],[3,4]],T=1", code=2)


@pytest.mark.parametrize(("text", "message"), [
    ("f(W) = sum(W^T)", "W^T: T is not a parameter of f"),
    ("g(W) = W^T\nf(W) = sum(g(W))", "T is not a parameter of g"),
])
def test_w_to_the_t_with_a_header_or_in_a_function_offers_the_transpose(text: str, message: str) -> None:
    with pytest.raises(SymgradError) as info:
        symgrad.parse(text)
    assert info.value.message == message
    assert info.value.hint is not None and info.value.hint.startswith("for the transpose write W.T (or Wᵀ)")


@pytest.mark.parametrize(("text", "at", "value"), [
    ("f(W, T) = sum(W^T)", {"W": [[1.0, 2.0], [3.0, 4.0]], "T": 2.0}, 30.0),  # declared: a power
    ("T = 2; f = sum(W^T)", {"W": [[1.0, 2.0], [3.0, 4.0]]}, 30.0),  # assigned: a power
    ("sum(x^T) + T", {"x": [1.0, 2.0], "T": 2.0}, 7.0),  # T used as a value too: a variable
    ("e^T", {"T": 1.0}, np.e),  # a constant's power: exp(T)
    ("2^T", {"T": 3.0}, 8.0),
])
def test_w_to_the_t_stays_a_power_where_t_is_a_variable(text: str, at: dict[str, Any], value: float) -> None:
    trace = trace_of(text, **at)
    close(trace.value, value)
    assert "pow" in {n.op for n in trace.graph.nodes}


def test_double_bars_are_the_norm() -> None:
    trace = trace_of("f(x) = ‖x‖", x=[3.0, 4.0])
    close(trace.value, 5.0)
    close(trace.gradient["x"], [0.6, 0.8])  # x / ‖x‖
    assert "norm" in {n.op for n in trace.graph.nodes}
    assert verdicts(trace) == {"excellent"}
    close(trace_of("f(W) = ‖W‖^2", W=S23).value, 91.0)  # the Frobenius norm squared: 1 + 4 + ... + 36
    # ‖ ‖x‖ x ‖ = ‖x‖²: 25 at [3, 4], gradient 2x
    nested = trace_of("f(x) = ‖‖x‖ * x‖ + ‖x - x‖", x=[3.0, 4.0])
    close(nested.value, 25.0)
    close(nested.gradient["x"], [6.0, 8.0])


def test_double_bars_are_written_back_as_norm() -> None:
    # the program as the output's first line writes it: ½ as typed, ‖x + 1‖ as norm(x + 1), Wᵀ as W.T
    result = run("f(x, W) = ½*‖x + 1‖^2 + sum(Wᵀ @ x)", "--at", "x=[1,2],W=[[1,0],[0,1]]", "--no-check",
                 "--format", "plain", code=0)
    assert result.stdout.splitlines()[0].startswith("f(x, W) = ½ * norm(x + 1)^2 + sum(W.T @ x)")
    # ½ (2² + 3²) + (1 + 2) = 9.5
    assert "f = 9.5" in result.stdout


def test_the_norm_at_zero_is_a_kink_with_gradient_zero() -> None:
    assert P.PRIMITIVES["norm"].kink_text == "the gradient of norm at 0 is taken as 0"
    trace = trace_of("f(x) = ‖x‖", x=[0.0, 0.0])
    close(trace.gradient["x"], [0.0, 0.0])
    assert trace.kinks
    assert verdicts(trace) == {"kink"}


# ---------------------------------------------------------------------------
# juxtaposition and ',' between statements


@pytest.mark.parametrize(("text", "hint"), [
    ("(x+y)z", "missing operator between '(x+y)' and 'z'? write (x+y)*z"),
    ("2x", "missing operator between '2' and 'x'? write 2*x"),
    ("f(x, y) = 2x + y", "missing operator between '2' and 'x'? write 2*x"),
    ("(x+y)(x-y)", "missing operator between '(x+y)' and '(x-y)'? write (x+y)*(x-y)"),
    ("sin(x) cos(y)", "missing operator between 'sin(x)' and 'cos(y)'? write sin(x)*cos(y)"),
    ("W[0] x", "missing operator between 'W[0]' and 'x'? write W[0]*x"),
    ("‖x‖y", "missing operator between '‖x‖' and 'y'? write ‖x‖*y"),
    ("2‖x‖", "missing operator between '2' and '‖x‖'? write 2*‖x‖"),
    ("x²y", "missing operator between 'x²' and 'y'? write x²*y"),
    ("exp x", "a function's argument goes in parentheses: write exp(x)"),
    ("exp ‖x‖", "a function's argument goes in parentheses: write exp(‖x‖)"),
])
def test_side_by_side_operands_get_the_star_in_the_hint(text: str, hint: str) -> None:
    with pytest.raises(SymgradError) as info:
        symgrad.parse(text)
    assert info.value.kind == "syntax"
    assert info.value.hint == hint
    result = run(text, "--at", "x=1", code=2)
    assert f"hint: {hint}" in result.stderr


def test_a_long_operand_is_quoted_short() -> None:
    inner = " + ".join(f"x{k}" for k in range(30))
    with pytest.raises(SymgradError) as info:
        symgrad.parse(f"({inner})z")
    assert info.value.hint is not None and len(info.value.hint) < 200
    assert info.value.hint.endswith("*z")


def test_statements_separated_by_a_comma_get_a_hint() -> None:
    result = run("q = x + y, f = q*z", "--at", "x=1,y=2,z=3", code=2)
    assert "unexpected ','" in result.stderr
    assert "hint: statements are separated by ';' or new lines, not ',': write q = x + y; f = q*z" in result.stderr
    with pytest.raises(SymgradError) as info:
        symgrad.parse("x, y")
    assert info.value.hint is not None and "statements are separated by ';' or new lines" in info.value.hint
    # a statement that goes on over lines inside brackets is one statement
    result = run("q = max(x,\n y), f = q", "--at", "x=1,y=2", code=2)
    assert "statements are separated by ';' or new lines, not ','" in result.stderr
    with pytest.raises(SymgradError) as listed:
        symgrad.parse("f = [1,\n, 2]")
    assert listed.value.hint is None or "statements" not in listed.value.hint
    # a comma inside brackets is not a statement separator
    close(trace_of("f(x) = sum([x, 2*x])", x=1.0).value, 3.0)
    with pytest.raises(SymgradError) as inside:
        symgrad.parse("f(x) = max(x, , 2)")
    assert inside.value.hint is None or "statements" not in inside.value.hint


def test_the_errors_are_json_with_where_what_and_hint() -> None:
    data = run_json("f(x, y, z) = (x+y)z", "--at", "x=1,y=2,z=3", code=2)
    error = data["error"]
    assert error["kind"] == "syntax" and error["line"] == 1 and error["column"] == 19
    assert error["hint"] == "missing operator between '(x+y)' and 'z'? write (x+y)*z"


TOKENS = ["x", "y", "W", "T", "2", "½", "⅓", "ᵀ", "‖", "(", ")", "[", "]", ",", ";", "\n", "=", "^", "*", "+",
          "-", " ", "@", ".T", "arange(", "onehot(", "sum(", "f(", "²", "1e308"]


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=16).map("".join))
def test_random_pasted_text_is_a_graph_or_a_clear_error(text: str) -> None:
    try:
        symgrad.parse(text)
    except SymgradError as err:
        assert err.message
        err.render()
