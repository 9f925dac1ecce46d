"""The table of primitives: every operation symgrad knows, declared once.

Each entry holds the forward computation (NumPy), the local gradient with
respect to each input, the SymPy form, how it is written, the gate's role in
the lecture's words, where it is not differentiable, and, for grouped gates,
its expansion in symgrad's own language.  Forward, backward, the symbolic
check, the printers and the help text all read this table.

Every array here has a leading axis that no primitive looks into: one point
(length 1), many points, or the rows of a Jacobian.  The axes after it are
the value's own ("core") axes: none for a scalar, one for a vector.

Elementwise primitives give their local gradients as partial derivatives
``partial(out, *args)``, broadcast like the output (or a plain number where
the local gradient is constant, as for add); the engine multiplies them by
the upstream gradient and sums over broadcast axes.  The others give
a vector-Jacobian product ``vjp(k, g, out, *args)``: the gradient sent to
input k when g arrives from upstream.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray
Partial = Callable[..., Any]
VJP = Callable[..., Any]

# Precedence for printing: higher binds tighter.
PREC_SUM, PREC_PRODUCT, PREC_UNARY, PREC_POWER, PREC_ATOM = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class Operands:
    """What a tensor gate's backward rules depend on: per input, its core shape, its value where it
    is a constant (an axis, an index), and its operation ("arange" for S[arange(N), y])."""

    shapes: tuple[tuple[int, ...], ...]
    constants: tuple[float | tuple[float, ...] | None, ...]  # a number, or a list of numbers ([-1, 0])
    ops: tuple[str, ...]


@dataclass(frozen=True)
class Primitive:
    name: str
    arity: int  # -1: any number of inputs
    forward: Callable[..., Any]
    partials: tuple[Partial, ...]  # elementwise primitives: d out / d input, per input
    # (sympy module, *args) -> expression: per scalar for elementwise primitives, else on object
    # arrays of SymPy expressions (leading axis included)
    sympy: Callable[..., Any] | None
    summary: str  # one line for --help
    symbol: str | None = None  # infix or prefix operator symbol
    prec: int = PREC_ATOM  # precedence when written infix/prefix
    # The local gradient per input as a formula: {0}, {1} the inputs, {out} the node; where it
    # is written as a vector-Jacobian product, {g} is the gradient arriving from above.
    local_text: tuple[str, ...] = ()
    role: str | None = None  # the gate's role in the lecture's words
    kink: Callable[..., Any] | None = None  # where the gate is not differentiable
    kink_text: str | None = None  # the convention used there
    expansion: str | None = None  # grouped gates: body in symgrad's language, parameter x
    params: tuple[str, ...] = ("x",)  # parameter names for help and expansion
    callable: bool = True  # may the user call it by name?
    operator: bool = False  # written as an operator rather than a call
    vjp: VJP | None = None  # non-elementwise primitives: (k, g, out, *args) -> gradient for input k
    call: str | None = None  # the name it is called by, where several arities share one
    nondiff_from: int | None = None  # inputs from this position on carry no gradient (indices, axes)
    # Inputs that must be constant numbers, not reached from any variable (an axis, a count): the
    # graph refuses a variable there.  An index or a label carries no gradient but may be a variable.
    constant_args: tuple[int, ...] = ()
    check: Callable[..., str | None] | None = None  # a problem with the inputs, in words ({0}: input 0)
    min_arity: int = 1  # for arity -1
    branch: Callable[..., Any] | None = None  # which side of its kink each point is on
    # A gate that selects (relu below 0, step, sign, the losing input of max/min, abs at 0): where its
    # local gradient is 0 the input is not selected and receives exactly 0, even when the upstream
    # gradient is inf or nan, as PyTorch's threshold_backward does.  Elsewhere 0 * inf stays nan (IEEE).
    selects: bool = False
    # Where the gate is at the edge of its domain (a pole, an infinite slope, a discontinuity), and
    # what that means for the gradient, in words ({0}, {1}: the inputs).
    edge: Callable[..., Any] | None = None
    edge_text: str | None = None
    # Where the inputs are outside the gate's domain: nan in the mathematics (log of a negative number).
    outside: Callable[..., Any] | None = None
    # How a node of this gate is written with its inputs' text: "{0} + {1}", "{0}[{rest}]", "[{all}]";
    # None: a call, "exp({0})", by the name it is called by.
    written: str | None = None
    right_assoc: bool = False  # an infix operator that groups to the right (a^b^c is a^(b^c))
    error_kind: str = "shape"  # the kind of error its `check` or forward reports: "shape" or "value"
    # What to do instead where float64 overflows or underflows in this gate.
    unstable_hint: str | None = None
    # The usual mistakes with this gate's local gradient, for naming a wrong answer: each a sentence
    # ({node}: the node as "q = x * y") and the wrong partials, one per input (elementwise gates).
    mistakes: tuple[tuple[str, tuple[Partial, ...]], ...] = ()
    glyph: str | None = None  # how a picture marks the gate (× for mul, σ for sigmoid); None: its symbol or name
    # The vector-Jacobian product for each input, written in symgrad's own language: g is the
    # upstream gradient, out the node's value, the inputs go by their parameter names.  Symbolic
    # reverse mode (derive.py) builds the backward pass from it as new nodes of the graph.  The
    # conventions at kinks are the engine's: relu'(0) = step(0) = 0, max and min split a tie ½ : ½.
    # A tensor gate's rules depend on its inputs' shapes: then `backward` is a function of an Operands
    # (the inputs' core shapes, the values of constant inputs, the inputs' operations) giving the rules.
    backward: tuple[str, ...] | Callable[[Operands], tuple[str, ...]] = ()

    def backward_rules(self, operands: Operands) -> tuple[str, ...]:
        """The backward rules for inputs of these shapes, one per input that carries a gradient;
        () where the table has none for them."""
        return self.backward(operands) if callable(self.backward) else self.backward

    @property
    def mark(self) -> str:
        """What a node of this gate shows in a picture: its glyph, its operator symbol, or its name."""
        return self.glyph or self.symbol or self.called_as

    @property
    def elementwise(self) -> bool:
        return self.vjp is None

    @property
    def called_as(self) -> str:
        return self.call or self.name

    def differentiable(self, k: int) -> bool:
        return self.nondiff_from is None or k < self.nondiff_from

    def param(self, k: int) -> str:
        """What the gate calls its input k (a, b); past its named parameters, the last name
        numbered (x2, x3 for the entries of [x, y, z])."""
        return self.params[k] if k < len(self.params) else f"{self.params[-1]}{k - len(self.params) + 2}"

    def local_formula(self, k: int, args: list[str], out: str) -> tuple[str, bool]:
        """The local gradient with respect to input k as a formula in the inputs' text and the
        node's own (`out`), and whether it is written as a vector-Jacobian product with g, the
        upstream gradient.  ("", False) where the table has no formula (an index, an axis)."""
        if k >= len(self.local_text):
            return "", False
        text = self.local_text[k]
        return _fold_powers(text.replace("{out}", out).format(*args, g="g")), "{g}" in text

    def write(self, args: list[str]) -> str:
        """A node of this gate written with its inputs' text (labels or formulas), as the tables
        show it: "x + y", "-x", "W[i, j]", "[a, b]", "W.T", "max(a, b)"."""
        if self.written is not None:
            return self.written.format(*args, rest=", ".join(args[1:]), all=", ".join(args))
        if self.operator and self.symbol and len(args) == 2:
            return f"{args[0]} {self.symbol} {args[1]}"
        if self.operator and self.symbol and len(args) == 1:
            return f"{self.symbol}{args[0]}"
        return f"{self.called_as}({', '.join(args)})"


_POWER_LESS_ONE = re.compile(r"\^\((-?\d+(?:\.\d+)?) - 1\)")


def _fold_powers(text: str) -> str:
    """A power with a number for exponent written out: q^(2 - 1) is q, x^(3 - 1) is x^2."""
    def fold(m: re.Match[str]) -> str:
        n = float(m.group(1)) - 1
        shown = str(int(n)) if n.is_integer() else repr(n)
        return "" if shown == "1" else f"^{shown}" if n >= 0 else f"^({shown})"
    return _POWER_LESS_ONE.sub(fold, text)


def _as_out(x: Any, out: Any) -> Any:
    """x shaped like the gate's output: itself where it is already (most gates), else a broadcast view."""
    return x if x.shape == out.shape else np.broadcast_to(x, out.shape)


def _ones(out: Array, *args: Array) -> float:
    return 1.0  # a constant local gradient: the engine passes the upstream gradient on as it is


def _minus_ones(out: Array, *args: Array) -> float:
    return -1.0


def _step(x: Array) -> Array:
    return np.asarray(x > 0, dtype=float)


def _pow_base(out: Array, a: Array, b: Array) -> Array:
    return np.where(b == 0, 0.0, b * np.power(a, b - 1))


def _pow_exponent(out: Array, a: Array, b: Array) -> Array:
    # d(a^b)/db = a^b log a; taken as 0 where a = 0 and b >= 0 (as PyTorch does),
    # and where the power is 0.
    return np.asarray(np.where(((a == 0) & (b >= 0)) | (out == 0), 0.0, out * np.log(a)))


def _sym_pow(sp: Any, a: Any, b: Any) -> Any:
    """a^b in SymPy; a power of two numbers whose exact value would have more than 4096 bits
    (2^3^4^5) is kept as a 40-digit float, so that nothing computes a huge integer exactly; so is
    a fractional power of a rational number with a numerator or denominator above 10^12, which
    SymPy would factor to simplify (123456789012345678901234567890^-0.001 took minutes)."""
    numbers = getattr(a, "is_Number", False) and getattr(b, "is_Number", False) and a != 0
    if numbers:
        with np.errstate(all="ignore"):
            try:
                bits = abs(float(b)) * max(1.0, abs(math.log2(abs(float(a)))))
            except (OverflowError, ValueError):
                bits = math.inf
        big = getattr(a, "is_Rational", False) and not getattr(b, "is_Integer", False) and max(
            abs(int(a.p)), abs(int(a.q))) > 10**12
        if not bits <= 4096 or big:
            return sp.Pow(sp.Float(a, 40), sp.Float(b, 40))
    return a**b


def _sigmoid(x: Array) -> Array:
    # Stable for large |x|, with one exponential: e = exp(-|x|) never overflows.
    e = np.exp(-np.abs(x))
    return np.asarray(np.where(x >= 0, 1.0, e) / (1.0 + e))


def _tie_share(a: Array, b: Array) -> Array:
    return np.where(a > b, 1.0, np.where(a == b, 0.5, 0.0))


def _zeros(out: Array, *args: Array) -> Array:
    return np.zeros_like(out)


# ---- tensor primitives -----------------------------------------------------------------
# Core axes are every axis after the leading one.


def _core(a: Array) -> tuple[int, ...]:
    return tuple(a.shape[1:])


def _core_axes(a: Array) -> tuple[int, ...]:
    return tuple(range(1, a.ndim))


def _spread(g: Array, like: Array) -> Array:
    """A gradient of a reduction to all elements, spread back over like's core axes."""
    g = g.reshape(g.shape + (1,) * (like.ndim - 1))
    return np.broadcast_to(g, g.shape[:1] + _core(like))


def _transpose(a: Array) -> Array:
    if a.ndim <= 2:
        return a
    if a.ndim == 3:
        return np.swapaxes(a, -1, -2)
    return np.transpose(a, (0, *range(a.ndim - 1, 0, -1)))


def _matmul_check(a: Array, b: Array) -> str | None:
    ra, rb = a.ndim - 1, b.ndim - 1
    shapes = f"{_core(a)} @ {_core(b)}"
    if ra == 0 or rb == 0:
        return f"{shapes}: @ needs vectors or matrices on both sides; use * to scale"
    if not (max(ra, rb) <= 2 or ra == rb):
        return f"{shapes}: arrays of more than two axes need the same number of axes on both sides"
    inner_b = b.shape[1] if rb == 1 else b.shape[-2]
    if a.shape[-1] != inner_b:
        what_a = "entries" if ra == 1 else "columns"
        what_b = "entries" if rb == 1 else "rows"
        return f"{shapes}: the {a.shape[-1]} {what_a} of {{0}} do not match the {inner_b} {what_b} of {{1}}"
    if ra == rb and ra > 2:
        try:
            np.broadcast_shapes(_core(a)[:-2], _core(b)[:-2])
        except ValueError:
            return f"{shapes}: the leading axes do not broadcast"
    return None


def _as_matrices(a: Array, b: Array) -> tuple[Array, Array, int, int]:
    ra, rb = a.ndim - 1, b.ndim - 1
    return (a[..., None, :] if ra == 1 else a), (b[..., :, None] if rb == 1 else b), ra, rb


def _matmul(a: Array, b: Array) -> Array:
    a2, b2, ra, rb = _as_matrices(a, b)
    out = np.matmul(a2, b2)
    if rb == 1:
        out = out[..., 0]
    if ra == 1:
        out = out[..., 0] if rb == 1 else out[..., 0, :]
    return np.asarray(out)


def _matmul_vjp(k: int, g: Array, out: Array, a: Array, b: Array) -> Array:
    a2, b2, ra, rb = _as_matrices(a, b)
    if ra == 1 and rb == 1:
        g2 = g[..., None, None]
    elif ra == 1:
        g2 = g[..., None, :]
    elif rb == 1:
        g2 = g[..., :, None]
    else:
        g2 = g
    if k == 0:
        d = np.matmul(g2, np.swapaxes(b2, -1, -2))
        return np.asarray(d[..., 0, :] if ra == 1 else d)
    d = np.matmul(np.swapaxes(a2, -1, -2), g2)
    return np.asarray(d[..., 0] if rb == 1 else d)


def _axis(a: Array, axis: Array) -> int:
    """A core axis given by the user (0-based, negative from the end) as a NumPy axis."""
    n = int(np.asarray(axis).flat[0])
    return n + 1 if n >= 0 else n


def _axis_check(a: Array, axis: Array) -> str | None:
    values = np.unique(np.asarray(axis))
    if values.size != 1 or not np.isfinite(values[0]) or values[0] != int(values[0]):
        return f"the axis {{1}} = {values.tolist()} must be one whole number"
    rank = a.ndim - 1
    n = int(values[0])
    if not -rank <= n < rank:
        if rank == 0:
            return f"{{0}} is a scalar and has no axis {n}"
        return f"axis {n} is out of range for {{0}} of shape {_core(a)}: it has axes 0 to {rank - 1}"
    return None


def _sum_axis_vjp(k: int, g: Array, out: Array, a: Array, axis: Array) -> Array:
    g = np.expand_dims(g, _axis(a, axis))
    return np.broadcast_to(g, g.shape[:1] + _core(a))


def _count(a: Array, axis: Array | None = None) -> int:
    if axis is None:
        return max(1, int(np.prod(_core(a))))
    return int(a.shape[_axis(a, axis)])


def _reduce_all(f: Callable[..., Any]) -> Callable[[Array], Array]:
    def run(a: Array) -> Array:
        return np.asarray(f(a, axis=_core_axes(a)) if a.ndim > 1 else a)

    return run


def _extreme_vjp(k: int, g: Array, out: Array, a: Array) -> Array:
    if a.ndim == 1:
        return np.asarray(g)
    hit = a == out.reshape(out.shape + (1,) * (a.ndim - 1))
    share = hit / hit.sum(axis=_core_axes(a), keepdims=True)
    return np.asarray(np.where(hit, _spread(g, a) * share, 0.0))  # the others are not selected: exactly 0


def _tied(extreme: Callable[..., Any]) -> Callable[[Array], Array]:
    """Where several elements share the largest (smallest) value."""

    def at(a: Array) -> Array:
        if a.ndim == 1:
            return np.zeros(a.shape, dtype=bool)
        hit = a == extreme(a, axis=_core_axes(a), keepdims=True)
        return np.asarray(hit.sum(axis=_core_axes(a)) > 1)

    return at


def _norm(a: Array) -> Array:
    # Scaled by the largest magnitude, so that squares of large entries do not overflow.
    top = _reduce_all(np.max)(np.abs(a))
    scale = np.where((top > 0) & (top < np.inf), top, 1.0)
    s = scale.reshape(scale.shape + (1,) * (a.ndim - 1))
    return np.asarray(scale * np.sqrt(_reduce_all(np.sum)((a / s) ** 2)))


def _not_empty(a: Array) -> str | None:
    return "{0} is empty: it has no largest or smallest element" if a.size == 0 else None


def _norm_vjp(k: int, g: Array, out: Array, a: Array) -> Array:
    o = out.reshape(out.shape + (1,) * (a.ndim - 1))
    with np.errstate(all="ignore"):
        unit = np.where(o == 0, 0.0, a / o)
        return np.asarray(np.where(unit == 0, 0.0, _spread(g, a) * unit))


def _same_shape_check(a: Array, b: Array) -> str | None:
    if _core(a) != _core(b):
        return f"{{0}} has shape {_core(a)} but {{1}} has shape {_core(b)}; dot needs the same shape"
    return None


def _dot_vjp(k: int, g: Array, out: Array, a: Array, b: Array) -> Array:
    return np.asarray(_spread(g, a) * (b if k == 0 else a))


def _logsumexp(a: Array) -> Array:
    if a.ndim == 1:
        return np.asarray(a)
    top = np.max(a, axis=-1, keepdims=True)
    top = np.where(np.abs(top) < np.inf, top, 0.0)  # finite: also for the replay's object arrays
    return np.asarray(np.log(np.sum(np.exp(a - top), axis=-1)) + top[..., 0])


def _softmax(a: Array) -> Array:
    if a.ndim == 1:
        return np.ones_like(a)
    e = np.exp(a - np.max(a, axis=-1, keepdims=True))
    return np.asarray(e / np.sum(e, axis=-1, keepdims=True))


def _logsumexp_vjp(k: int, g: Array, out: Array, a: Array) -> Array:
    if a.ndim == 1:
        return np.asarray(g)
    return np.asarray(g[..., None] * _softmax(a))


def _softmax_vjp(k: int, g: Array, out: Array, a: Array) -> Array:
    if a.ndim == 1:
        return np.zeros_like(g)
    return np.asarray(out * (g - np.sum(g * out, axis=-1, keepdims=True)))


def _index_shape(idx: tuple[Array, ...]) -> tuple[int, ...]:
    """The core shape the index arrays broadcast to (NumPy's advanced indexing): () for whole numbers."""
    return tuple(np.broadcast_shapes(*(_core(i) for i in idx)))


def _index_arrays(a: Array, idx: tuple[Array, ...], lead: int) -> tuple[Array, ...]:
    """The index arrays that pick a[..., idx] point by point: the leading axis (each point's own
    row of a, or its only one) and each index broadcast to (lead, *B), B the indices' core shape.
    The indices are whole numbers as floats, SymPy numbers or replay numbers: int() of each."""
    shape = _index_shape(idx)
    rows = np.arange(lead) if a.shape[0] == lead else np.zeros(lead, dtype=int)
    out = [rows.reshape((lead,) + (1,) * len(shape))]
    for i in idx:
        i = np.asarray(i, dtype=int)
        i = i.reshape(i.shape[:1] + (1,) * (len(shape) + 1 - i.ndim) + i.shape[1:])
        out.append(np.broadcast_to(i, (lead, *shape)))
    return tuple(out)


def _index(a: Array, *idx: Array) -> Array:
    """a[i, j, ...] as NumPy reads it: each index a whole number or an array of whole numbers
    (0-based, negative from the end), the index arrays broadcast together to B, and the result
    shaped B + the axes of a not indexed (NumPy's advanced indexing with integer arrays).  So
    S[y] with a vector y gathers rows of S, and S[arange(N), y] the element y[i] of each row i."""
    lead = max(a.shape[0], *(i.shape[0] for i in idx))
    return np.asarray(a[_index_arrays(a, idx, lead)])


def _index_check(a: Array, *idx: Array) -> str | None:
    """Too many indices, index arrays whose shapes do not broadcast, an empty axis, an index that
    is not a whole number or out of range: in words.  Where a vector of labels indexes a matrix
    out of range, the message points at the per-row gather S[arange(N), y]."""
    core = _core(a)
    if len(idx) > len(core):
        what = "a scalar" if not core else f"of shape {core}"
        return f"{len(idx)} indices given, but {{0}} is {what}"
    try:
        _index_shape(idx)
    except ValueError:
        shapes = " and ".join(f"{{{k + 1}}} of shape {_core(i)}" for k, i in enumerate(idx))
        return (f"the index arrays {shapes} do not broadcast together: NumPy's advanced indexing pairs "
                f"their elements, so they need the same shape (or shapes that broadcast)")
    for k, i in enumerate(idx):
        if core[k] == 0:
            return f"axis {k} of {{0}} is empty: there is nothing to index"
        values = np.asarray(i).reshape(-1)
        bad = values[values != np.round(values)]
        if bad.size:
            return f"index {{{k + 1}}} = {bad[0]:g} is not a whole number"
        n = core[k]
        bad = values[(values < -n) | (values >= n)]
        if bad.size:
            what = f"index {{{k + 1}}} = {bad[0]:g} is" if i.ndim == 1 else \
                f"index {{{k + 1}}} has the entry {bad[0]:g},"
            problem = (f"{what} out of range for axis {k} of {{0}}, shape {core}: "
                       f"valid indices are 0 to {n - 1} (or -{n} to -1)")
            if len(idx) == 1 and len(core) == 2 and i.ndim == 2:
                problem += (f"; {{0}}[{{1}}] with a vector {{1}} selects whole rows of {{0}}, as in NumPy: "
                            f"to pick the entry {{1}}[i] of each row i, write {{0}}[arange({n}), {{1}}]")
            return problem
    return None


def _index_vjp(k: int, g: Array, out: Array, a: Array, *idx: Array) -> Array:
    """Scatter-add: each element of g goes back to the element of a it was picked from, and an
    element picked several times (a repeated index) gets the sum (np.add.at)."""
    grad = np.zeros(g.shape[:1] + _core(a), dtype=g.dtype) + 0.0  # the replay's object arrays too
    np.add.at(grad, _index_arrays(grad, idx, g.shape[0]), g)
    return grad


# Larger results of arange and onehot are refused: a typo (arange(1e9)) must not fill the memory.
MAKE_LIMIT = 10_000_000


def _whole(a: Array) -> int:
    """A constant whole number given as an argument (a float, a SymPy or a replay number)."""
    return int(np.asarray(a).reshape(-1)[0])


def _count_check(n: Array, what: str, least: int = 0) -> str | None:
    """A count given as an argument: one whole number, at least `least`, not too large."""
    if _core(n) != ():
        return f"{what} must be one whole number, but it is an array of shape {_core(n)}"
    v = float(np.asarray(n, dtype=float).reshape(-1)[0])
    if not (v == np.round(v) and v >= least):
        return f"{what} must be a whole number, {least} or more, but it is {v:g}"
    if v > MAKE_LIMIT:
        return f"{what} is {v:g}: too large, symgrad makes arrays of at most {MAKE_LIMIT:,} entries here"
    return None


def _arange(n: Array) -> Array:
    """0, 1, ..., n - 1 as a vector (NumPy's arange(n)); n a constant whole number."""
    return np.repeat(np.arange(_whole(n), dtype=float)[None], n.shape[0], axis=0)


def _onehot(y: Array, c: Array) -> Array:
    """1 where the last axis's position equals the label, else 0: shape y's + (C,)."""
    return np.asarray(np.asarray(y, dtype=float)[..., None] == np.arange(_whole(c)), dtype=float)


def _onehot_check(y: Array, c: Array) -> str | None:
    problem = _count_check(c, "the number of classes C of onehot", least=1)
    if problem is not None:
        return problem
    n = _whole(c)
    if np.asarray(y).size * n > MAKE_LIMIT:
        return f"onehot({{0}}, {{1}}) would have more than {MAKE_LIMIT:,} entries"
    values = np.asarray(y, dtype=float).reshape(-1)
    bad = values[values != np.round(values)]
    if bad.size:
        return f"the label {{0}} = {bad[0]:g} is not a whole number"
    bad = values[(values < 0) | (values >= n)]
    if bad.size:
        return f"the label {{0}} = {bad[0]:g} is out of range for {n} classes: labels are 0 to {n - 1}"
    return None


def _no_gradient(k: int, g: Array, out: Array, *args: Array) -> Array:
    """For a gate whose inputs all carry no gradient (nondiff_from=0): never asked, but shaped right."""
    return np.zeros(g.shape[:1] + _core(args[k]))


def _integers(sp: Any, a: Array) -> Array:
    """A float array of whole numbers as an object array of SymPy integers (exact)."""
    out = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(*a.shape):
        out[idx] = sp.Integer(int(a[idx]))
    return out


def _stack(*items: Array) -> Array:
    lead = max(i.shape[0] for i in items)
    return np.stack([np.broadcast_to(i, (lead, *_core(i))) for i in items], axis=1)


def _stack_check(*items: Array) -> str | None:
    shapes = {_core(i) for i in items}
    if len(shapes) > 1:
        first = _core(items[0])
        k = next(k for k, i in enumerate(items) if _core(i) != first)
        return (f"the entries of an array must have the same shape, but {{0}} has shape {first} "
                f"and {{{k}}} has shape {_core(items[k])}")
    return None


def _stack_vjp(k: int, g: Array, out: Array, *items: Array) -> Array:
    return np.asarray(g[:, k])


def _transpose_vjp(k: int, g: Array, out: Array, a: Array) -> Array:
    return _transpose(g)


# Symbolic forms work on NumPy arrays of SymPy expressions, leading axis included.


def _each(f: Callable[..., Any]) -> Callable[..., Array]:
    """A scalar SymPy function applied to every element of an object array."""
    apply = np.frompyfunc(f, 1, 1)
    return lambda a: np.asarray(apply(a), dtype=object)


def _sym_sum(sp: Any, a: Array, axis: int | tuple[int, ...] | None = None) -> Array:
    """A sum of SymPy terms as one Add per result element (adding one term at a time is quadratic)."""
    axes = tuple(range(1, a.ndim)) if axis is None else (axis,) if isinstance(axis, int) else axis
    axes = tuple(ax % a.ndim for ax in axes)
    if not axes:
        return a
    keep = [ax for ax in range(a.ndim) if ax not in axes]
    moved = np.transpose(a, keep + list(axes))
    rows = moved.reshape((*moved.shape[:len(keep)], -1))
    out = np.empty(rows.shape[:-1], dtype=object)
    for idx in np.ndindex(*out.shape):
        out[idx] = sp.Add(*rows[idx])
    return out


def _per_point(f: Callable[..., Any], a: Array) -> Array:
    if a.ndim == 1:
        return a
    return np.array([f(*row.reshape(-1)) for row in a], dtype=object)


def _sym_softmax(sp: Any, a: Array) -> Array:
    if a.ndim == 1:
        return np.ones_like(a)
    e = _each(sp.exp)(a)
    return np.asarray(e / _sym_sum(sp, e, -1)[..., None])


# Which side of a kink a point is on: where it changes between x - h and x + h,
# a finite difference straddles the kink.


def _side(x: Array) -> Array:
    return np.asarray(np.sign(x))


def _arg_extreme(pick: Callable[..., Any]) -> Callable[[Array], Array]:
    def at(a: Array) -> Array:
        return np.asarray(pick(a.reshape(a.shape[0], -1), axis=1)) if a.ndim > 1 else np.zeros(a.shape[0])

    return at


LN2, LN10 = math.log(2.0), math.log(10.0)

# What max and min share: a tie is their kink, where each input gets half the gradient.
_TIE: dict[str, Any] = dict(
    params=("a", "b"), kink=lambda a, b: a == b, kink_text="a tie sends half the gradient to each input",
    branch=lambda a, b: np.sign(a - b), selects=True,
)

# What the logarithms share: the edge of their domain at 0, nan below it, and what to do instead.
_LOGARITHM_DOMAIN: dict[str, Any] = dict(
    edge=lambda x: x == 0, edge_text="the logarithm of {0} = 0 is -inf and its slope is infinite",
    unstable_hint="a logarithm of a number that underflowed to 0: log(softmax(s)[i]) is "
    "s[i] - logsumexp(s), and log(sigmoid(x)) is -softplus(-x), both computed stably",
    outside=lambda x: x < 0,
)

# ---- backward rules of tensor gates, by the shapes of their inputs ----------------------------
# Each gives, in symgrad's language, the gradient sent to each input (g from upstream, out the
# node, the inputs by their parameter names).  "g * ones_like(x)" is g spread over x's shape.


_MATMUL_BACKWARD: dict[tuple[int, ...], tuple[str, ...]] = {
    (1, 1): ("g * b", "g * a"), (2, 1): ("outer(g, b)", "a.T @ g"),
    (1, 2): ("b @ g", "outer(a, g)"), (2, 2): ("g @ b.T", "a.T @ g"),
}


def _matmul_backward(o: Operands) -> tuple[str, ...]:
    return _MATMUL_BACKWARD.get(tuple(len(s) for s in o.shapes), ())


def _spread_rule(rank: int, axis: int | None) -> str:
    """g (a reduction's gradient) spread back over x's shape: along `axis`, or over all axes."""
    if rank == 0:
        return "g"
    if axis is None or rank == 1 or axis == 0:
        return "g * ones_like(x)"
    return "(g * ones_like(x.T)).T" if rank == 2 and axis == 1 else ""


def _axis_of(o: Operands) -> int | None:
    rank, axis = len(o.shapes[0]), o.constants[1]
    return int(axis) % max(rank, 1) if isinstance(axis, float) else None


def _sum_backward(o: Operands) -> tuple[str, ...]:
    rule = _spread_rule(len(o.shapes[0]), _axis_of(o) if len(o.shapes) > 1 else None)
    return (rule,) if rule else ()


def _mean_backward(o: Operands) -> tuple[str, ...]:
    shape = o.shapes[0]
    axis = _axis_of(o) if len(o.shapes) > 1 else None
    count = math.prod(shape) if axis is None else shape[axis]
    rule = _spread_rule(len(shape), axis)
    return (f"({rule}) / {count}",) if rule and count != 1 else (rule,) if rule else ()


# The local gradient of the largest (smallest) element: 1 where an element is it, tied ones sharing.
_EXTREME_SHARE = "(1 - sign(abs({0} - {out})))/sum(1 - sign(abs({0} - {out})))"


def _extreme_backward(o: Operands) -> tuple[str, ...]:
    hit = "(1 - sign(abs(x - out)))"  # 1 where the element is the largest (smallest), tied ones sharing
    return (f"g * {hit} / sum({hit})",)


def _logsumexp_backward(o: Operands) -> tuple[str, ...]:
    return {0: ("g",), 1: ("g * softmax(x)",), 2: ("(g * softmax(x).T).T",)}.get(len(o.shapes[0]), ())


def _softmax_backward(o: Operands) -> tuple[str, ...]:
    return {0: ("0 * g",), 1: ("out * (g - sum(g * out))",),
            2: ("out * (g - (sum(g * out, 1) * ones_like(out.T)).T)",)}.get(len(o.shapes[0]), ())


def _index_backward(o: Operands) -> tuple[str, ...]:
    """The scatter of g back to the elements picked, written with onehot: a constant index as its
    position (negative ones counted from the end)."""
    shape, idx = o.shapes[0], o.shapes[1:]

    def label(k: int) -> str:
        value = o.constants[k + 1]
        name = "i" if k == 0 else f"i{k + 1}"
        if isinstance(value, tuple):
            return "[" + ", ".join(str(int(v) % shape[k]) for v in value) + "]"
        return name if value is None else str(int(value) % shape[k])

    if len(shape) == 1 and len(idx) == 1:
        return (f"g * onehot({label(0)}, {shape[0]})",) if idx[0] == () else \
            (f"onehot({label(0)}, {shape[0]}).T @ g",) if len(idx[0]) == 1 else ()
    if len(shape) == 2 and len(idx) == 1:  # rows: one, or a vector of them
        return (f"outer(onehot({label(0)}, {shape[0]}), g)",) if idx[0] == () else \
            (f"onehot({label(0)}, {shape[0]}).T @ g",) if len(idx[0]) == 1 else ()
    if len(shape) == 2 and len(idx) == 2 and idx == ((), ()):
        return (f"g * outer(onehot({label(0)}, {shape[0]}), onehot({label(1)}, {shape[1]}))",)
    if len(shape) == 2 and len(idx) == 2 and o.ops[1] == "arange" and len(idx[1]) == 1:  # S[arange(N), y]
        return (f"(onehot({label(1)}, {shape[1]}).T * g).T",)
    return ()


def _outer(a: Array, b: Array) -> Array:
    return np.asarray(a[..., :, None] * b[..., None, :])


def _outer_check(a: Array, b: Array) -> str | None:
    if a.ndim != 2 or b.ndim != 2:
        return f"outer needs two vectors, but {{0}} has shape {_core(a)} and {{1}} has shape {_core(b)}"
    return None


def _outer_vjp(k: int, g: Array, out: Array, a: Array, b: Array) -> Array:
    return np.asarray(np.einsum("pij,pj->pi", g, b) if k == 0 else np.einsum("pij,pi->pj", g, a))


def _sym_outer(sp: Any, a: Array, b: Array) -> Array:
    return np.asarray(a[..., :, None] * b[..., None, :], dtype=object)


_TABLE: list[Primitive] = [
    # Operators.
    Primitive(
        "add", 2, np.add, (_ones, _ones),
        lambda sp, a, b: a + b,
        "a + b", symbol="+", prec=PREC_SUM, local_text=("1", "1"),
        role="distributes", params=("a", "b"), callable=False, operator=True,
        backward=("g", "g"),
    ),
    Primitive(
        "sub", 2, np.subtract, (_ones, _minus_ones),
        lambda sp, a, b: a - b,
        "a - b", symbol="-", prec=PREC_SUM, local_text=("1", "-1"), glyph="−",
        params=("a", "b"), callable=False, operator=True,
        mistakes=(("you lost a sign at the subtraction {node}: its local gradient for the second input is -1",
                   (_ones, _ones)),),
        backward=("g", "-g"),
    ),
    Primitive(
        "mul", 2, np.multiply,
        (lambda out, a, b: _as_out(b, out), lambda out, a, b: _as_out(a, out)),
        lambda sp, a, b: a * b,
        "a * b", symbol="*", prec=PREC_PRODUCT, local_text=("{1}", "{0}"), glyph="×",
        role="switches", params=("a", "b"), callable=False, operator=True,
        mistakes=(("you swapped the inputs of the mul gate {node}: each input's local gradient is the "
                   "other input's value, not its own",
                   (lambda out, a, b: _as_out(a, out),
                    lambda out, a, b: _as_out(b, out))),),
        backward=("g * b", "g * a"),
    ),
    Primitive(
        "div", 2, np.divide,
        (lambda out, a, b: _as_out(1.0 / b, out), lambda out, a, b: -out / b),
        lambda sp, a, b: a / b,
        "a / b", symbol="/", prec=PREC_PRODUCT, local_text=("1/{1}", "-{0}/{1}^2"), glyph="÷",
        params=("a", "b"), callable=False, operator=True,
        edge=lambda a, b: b == 0, edge_text="{0} / {1} has a pole where {1} = 0",
        backward=("g / b", "-g * a / b^2"),
    ),
    Primitive(
        "neg", 1, np.negative, (_minus_ones,),
        lambda sp, a: -a,
        "-a", symbol="-", prec=PREC_UNARY, local_text=("-1",), glyph="−",
        params=("a",), callable=False, operator=True,
        mistakes=(("you lost a sign at the unary minus {node}: its local gradient is -1", (_ones,)),),
        backward=("-g",),
    ),
    Primitive(
        "pow", 2, np.power, (_pow_base, _pow_exponent),
        lambda sp, a, b: _sym_pow(sp, a, b),
        "a to the power b (also a^b and a**b)", symbol="^", prec=PREC_POWER,
        local_text=("{1}*{0}^({1} - 1)", "{out}*log({0})"), params=("a", "b"),
        edge=lambda a, b: a == 0,
        edge_text="{0}^{1} is discontinuous in {1} at {0} = 0, and its slope in {0} is infinite there for {1} < 1",
        outside=lambda a, b: (a < 0) & (b != np.round(b)),
        written="{0}^{1}", right_assoc=True,
        backward=("g * b * a^(b - 1)", "g * out * log(a)"),
    ),
    # Functions of one argument.
    Primitive(
        "exp", 1, np.exp, (lambda out, x: out,),
        lambda sp, x: sp.exp(x),
        "e to the power x", local_text=("exp({0})",),
        mistakes=(("you used exp's input where its output was needed at {node}: d exp(x)/dx = exp(x)",
                   (lambda out, x: _as_out(x, out),)),),
        unstable_hint="exp overflows float64 above 709.78: the built-ins sigmoid, softplus, logsumexp and "
        "softmax compute the usual formulas stably",
        backward=("g * out",),
    ),
    Primitive(
        "log", 1, np.log, (lambda out, x: 1.0 / x,),
        lambda sp, x: sp.log(x),
        "natural logarithm (also ln)", local_text=("1/{0}",),
        **_LOGARITHM_DOMAIN,
        backward=("g / x",),
    ),
    Primitive(
        "log2", 1, np.log2, (lambda out, x: 1.0 / (x * LN2),),
        lambda sp, x: sp.log(x, 2),
        "logarithm base 2", local_text=("1/({0}*log(2))",),
        **_LOGARITHM_DOMAIN,
        backward=("g / (x * log(2))",),
    ),
    Primitive(
        "log10", 1, np.log10, (lambda out, x: 1.0 / (x * LN10),),
        lambda sp, x: sp.log(x, 10),
        "logarithm base 10", local_text=("1/({0}*log(10))",),
        **_LOGARITHM_DOMAIN,
        backward=("g / (x * log(10))",),
    ),
    Primitive(
        "sqrt", 1, np.sqrt, (lambda out, x: 0.5 / out,),
        lambda sp, x: sp.sqrt(x),
        "square root", local_text=("1/(2*sqrt({0}))",),
        edge=lambda x: x == 0, edge_text="sqrt has an infinite slope at {0} = 0",
        outside=lambda x: x < 0,
        backward=("g / (2 * out)",),
    ),
    Primitive(
        "sin", 1, np.sin, (lambda out, x: np.cos(x),),
        lambda sp, x: sp.sin(x), "sine (radians)", local_text=("cos({0})",),
        backward=("g * cos(x)",),
    ),
    Primitive(
        "cos", 1, np.cos, (lambda out, x: -np.sin(x),),
        lambda sp, x: sp.cos(x), "cosine (radians)", local_text=("-sin({0})",),
        backward=("-g * sin(x)",),
    ),
    Primitive(
        "tan", 1, np.tan, (lambda out, x: 1.0 + out * out,),
        lambda sp, x: sp.tan(x), "tangent (radians)", local_text=("1 + tan({0})^2",),
        backward=("g * (1 + out^2)",),
    ),
    Primitive(
        "asin", 1, np.arcsin, (lambda out, x: 1.0 / np.sqrt(1.0 - x * x),),
        lambda sp, x: sp.asin(x), "inverse sine", local_text=("1/sqrt(1 - {0}^2)",),
        edge=lambda x: np.abs(x) == 1, edge_text="asin has an infinite slope at {0} = ±1",
        outside=lambda x: np.abs(x) > 1,
        backward=("g / sqrt(1 - x^2)",),
    ),
    Primitive(
        "acos", 1, np.arccos, (lambda out, x: -1.0 / np.sqrt(1.0 - x * x),),
        lambda sp, x: sp.acos(x), "inverse cosine", local_text=("-1/sqrt(1 - {0}^2)",),
        edge=lambda x: np.abs(x) == 1, edge_text="acos has an infinite slope at {0} = ±1",
        outside=lambda x: np.abs(x) > 1,
        backward=("-g / sqrt(1 - x^2)",),
    ),
    Primitive(
        "atan", 1, np.arctan, (lambda out, x: 1.0 / (1.0 + x * x),),
        lambda sp, x: sp.atan(x), "inverse tangent", local_text=("1/(1 + {0}^2)",),
        backward=("g / (1 + x^2)",),
    ),
    Primitive(
        "atan2", 2, np.arctan2,
        (lambda out, y, x: x / (x * x + y * y), lambda out, y, x: -y / (x * x + y * y)),
        lambda sp, y, x: sp.atan2(y, x), "the angle of the point (x, y), in (-π, π]", params=("y", "x"),
        local_text=("{1}/({0}^2 + {1}^2)", "-{0}/({0}^2 + {1}^2)"),
        # undefined at the origin; it jumps by 2π across the negative x axis, which the side of y tells
        # where the angle is beyond 3π/4 (a label that changes nowhere else)
        edge=lambda y, x: (y == 0) & (x == 0), edge_text="atan2({0}, {1}) is undefined at {0} = {1} = 0",
        branch=lambda y, x: np.where(np.abs(np.arctan2(y, x)) > 0.75 * np.pi, np.sign(y), 0.0),
        kink=lambda y, x: (y == 0) & (x < 0), kink_text="atan2 jumps by 2π across the negative x axis",
        backward=("g * x / (x^2 + y^2)", "-g * y / (x^2 + y^2)"),
    ),
    Primitive(
        "log1p", 1, np.log1p, (lambda out, x: 1.0 / (1.0 + x),),
        lambda sp, x: sp.log(1 + x), "log(1 + x), accurate for small x", local_text=("1/(1 + {0})",),
        edge=lambda x: x == -1, edge_text="log1p({0}) is -inf at {0} = -1 and its slope is infinite",
        outside=lambda x: x < -1,
        backward=("g / (1 + x)",),
    ),
    Primitive(
        "sinh", 1, np.sinh, (lambda out, x: np.cosh(x),),
        lambda sp, x: sp.sinh(x), "hyperbolic sine", local_text=("cosh({0})",),
        backward=("g * cosh(x)",),
    ),
    Primitive(
        "cosh", 1, np.cosh, (lambda out, x: np.sinh(x),),
        lambda sp, x: sp.cosh(x), "hyperbolic cosine", local_text=("sinh({0})",),
        backward=("g * sinh(x)",),
    ),
    # Grouped gates: one node with its own local gradient; --expand rewrites them.
    Primitive(
        "tanh", 1, np.tanh, (lambda out, x: 1.0 - out * out,),
        lambda sp, x: sp.tanh(x), "hyperbolic tangent (grouped gate)",
        local_text=("1 - {out}^2",), expansion="(exp(x) - exp(-x)) / (exp(x) + exp(-x))",
        mistakes=(("you used tanh where 1 - tanh² was needed at {node}", (lambda out, x: out,)),),
        backward=("g * (1 - out^2)",),
    ),
    Primitive(
        "sigmoid", 1, _sigmoid, (lambda out, x: out * (1.0 - out),),
        lambda sp, x: 1 / (1 + sp.exp(-x)), "logistic sigmoid 1/(1+exp(-x)) (also σ; grouped gate)",
        local_text=("{out}*(1 - {out})",), expansion="1 / (exp(-x) + 1)", glyph="σ",
        mistakes=(("you used σ(x) where σ(x)(1 − σ(x)) was needed at {node}", (lambda out, x: out,)),),
        backward=("g * out * (1 - out)",),
    ),
    Primitive(
        # max(x, 0) + log1p(exp(-|x|)): stable, and built of functions every array type has
        "softplus", 1, lambda x: np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x))), (lambda out, x: _sigmoid(x),),
        lambda sp, x: sp.log(1 + sp.exp(x)), "log(1 + exp(x)) (grouped gate)",
        local_text=("sigmoid({0})",), expansion="log(1 + exp(x))",
        backward=("g * sigmoid(x)",),
    ),
    # Gates with kinks: the subgradient used where they are not differentiable is PyTorch's.
    Primitive(
        "relu", 1, lambda x: np.maximum(x, 0.0), (lambda out, x: _step(x),),
        lambda sp, x: sp.Max(x, 0), "max(x, 0)",
        local_text=("step({0})",), kink=lambda x: x == 0, kink_text="relu'(0) = 0", branch=_side,
        selects=True,
        backward=("g * step(x)",),
    ),
    Primitive(
        "abs", 1, np.abs, (lambda out, x: np.sign(x),),
        lambda sp, x: sp.Abs(x), "absolute value",
        local_text=("sign({0})",), kink=lambda x: x == 0, kink_text="abs'(0) = 0", branch=_side,
        selects=True,
        backward=("g * sign(x)",),
    ),
    Primitive(
        "sign", 1, np.sign, (_zeros,),
        # 2 H(x) - 1 with H(0) = 1/2: sign, whose derivative SymPy can take through any argument
        lambda sp, x: 2 * sp.Heaviside(x, sp.Rational(1, 2)) - 1, "-1, 0 or 1",
        local_text=("0",), kink=lambda x: x == 0, kink_text="sign'(0) = 0", branch=_side,
        selects=True,
        backward=("0 * g",),
    ),
    Primitive(
        "step", 1, _step, (_zeros,),
        lambda sp, x: sp.Heaviside(x, 0), "Heaviside step: 1 for x > 0, else 0",
        local_text=("0",), kink=lambda x: x == 0, kink_text="step'(0) = 0", branch=_side,
        selects=True,
        backward=("0 * g",),
    ),
    Primitive(
        "max", 2, np.maximum,
        (lambda out, a, b: _tie_share(a, b), lambda out, a, b: _tie_share(b, a)),
        lambda sp, a, b: sp.Max(a, b), "the larger of a and b, elementwise",
        local_text=("(1 + sign({0} - {1}))/2", "(1 - sign({0} - {1}))/2"), role="routes",
        **_TIE,
        backward=("g * (1 + sign(a - b)) / 2", "g * (1 - sign(a - b)) / 2"),
    ),
    Primitive(
        "min", 2, np.minimum,
        (lambda out, a, b: _tie_share(b, a), lambda out, a, b: _tie_share(a, b)),
        lambda sp, a, b: sp.Min(a, b), "the smaller of a and b, elementwise",
        local_text=("(1 - sign({0} - {1}))/2", "(1 + sign({0} - {1}))/2"), role="routes",
        **_TIE,
        backward=("g * (1 - sign(a - b)) / 2", "g * (1 + sign(a - b)) / 2"),
    ),
    # Vectors and matrices.
    Primitive(
        "matmul", 2, _matmul, (), lambda sp, a, b: _matmul(a, b),
        "matrix product (also a @ b)", symbol="@", prec=PREC_PRODUCT,
        local_text=("{g} @ {1}.T", "{0}.T @ {g}"), params=("a", "b"), vjp=_matmul_vjp, check=_matmul_check,
        callable=False, operator=True,
        backward=_matmul_backward,
    ),
    Primitive(
        "transpose", 1, _transpose, (), lambda sp, a: _transpose(a),
        "transpose: swaps the two axes of a matrix (also W.T)", local_text=("{g}.T",),
        vjp=_transpose_vjp, params=("W",),
        written="{0}.T", glyph="ᵀ",
        backward=("g.T",),
    ),
    Primitive(
        "sum", 1, _reduce_all(np.sum), (), lambda sp, a: _sym_sum(sp, a),
        "sum of all elements", local_text=("1",), vjp=lambda k, g, out, a: _spread(g, a),
        backward=_sum_backward,
    ),
    Primitive(
        "sum_axis", 2, lambda a, axis: np.asarray(np.sum(a, axis=_axis(a, axis))), (),
        lambda sp, a, axis: _sym_sum(sp, a, _axis(a, axis)),
        "sum along one axis (0-based; negative counts from the end)", call="sum",
        local_text=("1",), vjp=_sum_axis_vjp, params=("x", "axis"), nondiff_from=1, constant_args=(1,),
        check=_axis_check, error_kind="value",
        backward=_sum_backward,
    ),
    Primitive(
        "mean", 1, _reduce_all(np.mean), (), lambda sp, a: _sym_sum(sp, a) / _count(a),
        "mean of all elements", local_text=("1/sum(ones_like({0}))",),
        vjp=lambda k, g, out, a: _spread(g, a) / _count(a),
        backward=_mean_backward,
    ),
    Primitive(
        "mean_axis", 2, lambda a, axis: np.asarray(np.mean(a, axis=_axis(a, axis))), (),
        lambda sp, a, axis: _sym_sum(sp, a, _axis(a, axis)) / _count(a, axis),
        "mean along one axis", call="mean", local_text=("1/sum(ones_like({0}), {1})",),
        vjp=lambda k, g, out, a, axis: _sum_axis_vjp(k, g, out, a, axis) / _count(a, axis),
        params=("x", "axis"), nondiff_from=1, constant_args=(1,), check=_axis_check,
        error_kind="value",
        backward=_mean_backward,
    ),
    Primitive(
        "dot", 2, lambda a, b: _reduce_all(np.sum)(a * b), (), lambda sp, a, b: _sym_sum(sp, a * b),
        "inner product: sum(a * b), a and b of the same shape", local_text=("{1}", "{0}"),
        vjp=_dot_vjp, params=("a", "b"), check=_same_shape_check,
        backward=("g * b", "g * a"),
    ),
    Primitive(
        "outer", 2, _outer, (), _sym_outer,
        "outer product of two vectors: the matrix a[i] * b[j]", local_text=("{g} @ {1}", "{g}.T @ {0}"),
        vjp=_outer_vjp, params=("a", "b"), check=_outer_check, backward=("g @ b", "g.T @ a"),
    ),
    Primitive(
        "norm", 1, _norm, (), lambda sp, a: _each(sp.sqrt)(_sym_sum(sp, a * a)),
        "2-norm: sqrt(sum(x^2)) over all elements", local_text=("{0}/{out}",), vjp=_norm_vjp,
        kink=lambda a: _norm(a) == 0, kink_text="the gradient of norm at 0 is taken as 0",
        branch=lambda a: _norm(a) == 0,
        backward=("g * x / out",),
    ),
    Primitive(
        "amax", 1, _reduce_all(np.max), (), lambda sp, a: _per_point(sp.Max, a),
        "the largest element", call="max", local_text=(_EXTREME_SHARE,), vjp=_extreme_vjp, check=_not_empty,
        role="routes", kink=_tied(np.max), kink_text="tied largest elements share the gradient equally",
        branch=_arg_extreme(np.argmax),
        backward=_extreme_backward,
    ),
    Primitive(
        "amin", 1, _reduce_all(np.min), (), lambda sp, a: _per_point(sp.Min, a),
        "the smallest element", call="min", local_text=(_EXTREME_SHARE,), vjp=_extreme_vjp, check=_not_empty,
        role="routes", kink=_tied(np.min), kink_text="tied smallest elements share the gradient equally",
        branch=_arg_extreme(np.argmin),
        backward=_extreme_backward,
    ),
    Primitive(
        "logsumexp", 1, _logsumexp, (),
        lambda sp, a: _each(sp.log)(_sym_sum(sp, _each(sp.exp)(a), -1)) if a.ndim > 1 else a,
        "log(sum(exp(x))) over the last axis, computed stably", local_text=("softmax({0})",),
        vjp=_logsumexp_vjp,
        backward=_logsumexp_backward,
    ),
    Primitive(
        "softmax", 1, _softmax, (), _sym_softmax,
        "exp(x) / sum(exp(x)) over the last axis, computed stably",
        local_text=("{out} * ({g} - sum({g} * {out}))",), vjp=_softmax_vjp,
        unstable_hint="softmax underflows to 0 where inputs differ by more than about 745: "
        "log(softmax(s)[i]) is s[i] - logsumexp(s), computed stably",
        backward=_softmax_backward,
    ),
    Primitive(
        "index", -1, _index, (), lambda sp, a, *idx: _index(a, *idx),
        "indexing: s[i], W[i, j], W[i] (0-based; negative counts from the end); arrays of whole numbers "
        "gather as in NumPy: S[y] the rows y, S[arange(N), y] the entry y[i] of each row i",
        local_text=(), vjp=_index_vjp, nondiff_from=1, check=_index_check,
        callable=False, operator=True, min_arity=2, params=("a", "i"),
        written="{0}[{rest}]", error_kind="value", glyph="[ ]",
        backward=_index_backward,
    ),
    Primitive(
        "arange", 1, _arange, (), lambda sp, n: _integers(sp, _arange(n)),
        "0, 1, ..., n - 1 as a vector (n a constant whole number; no gradient)",
        vjp=_no_gradient, params=("n",), nondiff_from=0, constant_args=(0,),
        check=lambda n: _count_check(n, "the length n of arange"), error_kind="value",
    ),
    Primitive(
        "onehot", 2, _onehot, (), lambda sp, y, c: _integers(sp, _onehot(y, c)),
        "1 at each label y (0 to C - 1) along a new last axis of length C (C a constant whole number; "
        "no gradient)",
        vjp=_no_gradient, params=("y", "C"), nondiff_from=0, constant_args=(1,),
        check=_onehot_check, error_kind="value",
    ),
    Primitive(
        # elementwise with local gradient 0 (not an index: x's value is read, it just does not matter)
        "ones_like", 1, lambda x: np.ones_like(x), (_zeros,), lambda sp, x: sp.Integer(1),
        "an array of ones shaped like x (gradient 0): what a gradient spread over x is made of",
        local_text=("0",), backward=("0 * g",),
    ),
    Primitive(
        "stack", -1, _stack, (), lambda sp, *items: _stack(*items), "an array of its entries: [a, b, c]",
        local_text=(), vjp=_stack_vjp, check=_stack_check, callable=False, operator=True,
        written="[{all}]", glyph="[…]",
        backward=lambda o: tuple(f"g[{k}]" for k in range(len(o.shapes))),
    ),
    # The identity: gives a second name to a node that already has one (f(x) = x).
    Primitive(
        "id", 1, lambda x: x, (_ones,),
        lambda sp, x: x, "the same value", local_text=("1",), callable=False,
        written="{0}", glyph="=",
        backward=("g",),
    ),
]

PRIMITIVES: dict[str, Primitive] = {p.name: p for p in _TABLE}
_BY_CALL: dict[str, list[Primitive]] = {}
for _p in _TABLE:
    if _p.callable:
        _BY_CALL.setdefault(_p.called_as, []).append(_p)

# Other names and pasted symbols for functions and constants.
FUNCTION_ALIASES: dict[str, str] = {"ln": "log", "σ": "sigmoid"}
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
CONSTANT_ALIASES: dict[str, str] = {"π": "pi"}


def overloads(name: str) -> list[Primitive]:
    """The built-in functions a user may call by this name (max has two)."""
    return _BY_CALL.get(FUNCTION_ALIASES.get(name, name), [])


def function(name: str, nargs: int | None = None) -> Primitive | None:
    """The built-in function called by this name (with this many arguments), if any."""
    found = overloads(name)
    if nargs is not None:
        found = [p for p in found if p.arity == nargs]
    return found[0] if found else None


def function_names() -> list[str]:
    return sorted(_BY_CALL)


def constant(name: str) -> str | None:
    """The canonical constant name that `name` stands for, if it is one."""
    name = CONSTANT_ALIASES.get(name, name)
    return name if name in CONSTANTS else None
