"""The language gaps users hit (issue 12): minibatch losses (and, to come, text pasted from papers).

Minibatch losses: indexing with arrays of whole numbers as NumPy reads it (S[y] gathers rows,
S[arange(N), y] one entry per row, repeated indices add up their gradients), arange(n) and
onehot(y, C), and the whole softmax cross-entropy of a minibatch against a hand-written NumPy
formula and the three-way checks.  Pasted text: ½ and the other vulgar fractions, Wᵀ, ‖x‖, W^T
where T is no variable, and the errors for 2x, (x+y)z and statements separated by ','.

Every value is derived by hand (in the comments) or by a formula written here in NumPy, and the
gradients are also compared with finite differences of symgrad's own forward pass."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from support import close, finite_differences, run, run_json, strict_json, trace_of

import symgrad
from symgrad import checks as C
from symgrad.errors import SymgradError

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
