"""Backprop again at 40 digits: the same graph, the same rules, more precision.

Where backprop's float64 gradient disagrees with SymPy's 30-digit derivative,
two things can be at fault: float64 (an exp that overflowed, a softmax that
underflowed, a cancellation) or the rule (a wrong local gradient).  This
module runs the engine's own forward functions, local gradients and
vector-Jacobian products from the table of primitives again, on NumPy object
arrays of `Hi` numbers (mpmath at 40 digits, with an exponent range float64
lacks).  Where the replay agrees with SymPy, float64 lost the value
(``unstable``); where it does not, the rule is wrong.

It walks the graph once forward and once backward, as engine.sweep does, and
imports mpmath only when it runs (a disagreement is rare).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .engine import Trace, align, core, unbroadcast
from .graph import Graph, Kind, describe
from .parser import number

Array = np.ndarray
DIGITS = 40


HUGE_BITS = 4096  # as symbolic.HUGE_BITS


class Hi:
    """One number at DIGITS digits, with the methods NumPy's object loops call (np.exp(a) calls
    a.exp(), np.maximum compares).  Arithmetic with floats and ints promotes them exactly."""

    __slots__ = ("v",)
    v: Any

    def __init__(self, v: Any) -> None:
        import mpmath

        if isinstance(v, Hi):
            v = v.v
        with mpmath.workdps(DIGITS):  # mpf() rounds to the context's precision: never below DIGITS
            self.v = mpmath.mpf(v)

    @staticmethod
    def _of(o: Any) -> Any:
        import mpmath

        if isinstance(o, Hi):
            return o.v
        with mpmath.workdps(DIGITS):
            return mpmath.mpf(o)

    def _lift(self, f: Callable[..., Any], *others: Any) -> Hi:
        import mpmath

        if f not in _CHEAP and any(mpmath.isfinite(v) and v != 0 and mpmath.mag(v) > HUGE_BITS
                                   for v in (self.v, *(Hi._of(o) for o in others))):
            return Hi(mpmath.nan)  # an argument beyond 2^4096: mpmath would take minutes; float64 lost it anyway
        with mpmath.workdps(DIGITS):
            try:
                return Hi(f(self.v, *(Hi._of(o) for o in others)))
            except (ZeroDivisionError, ValueError):
                return Hi(mpmath.nan)

    def __add__(self, o: Any) -> Hi:
        return self._lift(_add, o)

    def __radd__(self, o: Any) -> Hi:
        return self._lift(lambda a, b: b + a, o)

    def __sub__(self, o: Any) -> Hi:
        return self._lift(_sub, o)

    def __rsub__(self, o: Any) -> Hi:
        return self._lift(lambda a, b: b - a, o)

    def __mul__(self, o: Any) -> Hi:
        return self._lift(_times, o)

    def __rmul__(self, o: Any) -> Hi:
        return self._lift(lambda a, b: _times(b, a), o)

    def __truediv__(self, o: Any) -> Hi:
        return self._lift(_divide, o)

    def __rtruediv__(self, o: Any) -> Hi:
        return self._lift(lambda a, b: _divide(b, a), o)

    def __pow__(self, o: Any) -> Hi:
        return self._lift(_power, o)

    def __rpow__(self, o: Any) -> Hi:
        return self._lift(lambda a, b: _power(b, a), o)

    def __neg__(self) -> Hi:
        return self._lift(lambda a: -a)

    def __pos__(self) -> Hi:
        return self

    def __abs__(self) -> Hi:
        return self._lift(abs)

    def __lt__(self, o: Any) -> bool:
        return bool(self.v < Hi._of(o))

    def __le__(self, o: Any) -> bool:
        return bool(self.v <= Hi._of(o))

    def __gt__(self, o: Any) -> bool:
        return bool(self.v > Hi._of(o))

    def __ge__(self, o: Any) -> bool:
        return bool(self.v >= Hi._of(o))

    def __eq__(self, o: object) -> bool:
        return bool(self.v == Hi._of(o))

    def __ne__(self, o: object) -> bool:
        return not self.__eq__(o)

    def __hash__(self) -> int:
        return hash(self.v)

    def __float__(self) -> float:
        return float(self.v)

    def __int__(self) -> int:  # an index, an axis
        return int(self.v)

    def __bool__(self) -> bool:
        return bool(self.v)

    def __repr__(self) -> str:
        return f"Hi({self.v})"

    def __getattr__(self, name: str) -> Callable[..., Hi]:
        """NumPy's object loops call np.exp(a) as a.exp(), np.arctan2(y, x) as y.arctan2(x): every such
        function is mpmath's of the same name (arcsin is asin), so that a new primitive needs nothing
        here.  A result that is not real (log of a negative number) is nan."""
        if name.startswith("_"):
            raise AttributeError(name)
        f = _fn(_MPMATH_NAMES.get(name, name))
        return lambda *others: self._lift(lambda *a: _real(f(*a)), *others)


# NumPy's names for the functions whose mpmath names differ.
_MPMATH_NAMES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2"}


def _real(v: Any) -> Any:
    import mpmath

    return v if isinstance(v, mpmath.mpf) else mpmath.nan


def _add(a: Any, b: Any) -> Any:
    return a + b


def _sub(a: Any, b: Any) -> Any:
    return a - b


def _fn(name: str) -> Callable[..., Any]:
    import mpmath

    if name == "log":
        return _log
    if name == "log2":
        return lambda a: _log(a) / mpmath.log(2)
    f: Callable[..., Any] = getattr(mpmath, name)
    return f


def _nan() -> Any:
    import mpmath

    return mpmath.nan


def _times(a: Any, b: Any) -> Any:
    import mpmath

    if (mpmath.isinf(a) and b == 0) or (mpmath.isinf(b) and a == 0):
        return mpmath.nan  # 0 * inf, as IEEE has it
    return a * b


def _divide(a: Any, b: Any) -> Any:
    import mpmath

    if b == 0:
        return mpmath.nan if a == 0 or mpmath.isnan(a) else mpmath.inf * mpmath.sign(a)
    return a / b


def _log(a: Any) -> Any:
    import mpmath

    if a < 0 or mpmath.isnan(a):
        return mpmath.nan
    if a == 0:
        return -mpmath.inf
    return mpmath.log(a)


def _power(a: Any, b: Any) -> Any:
    import mpmath

    if a == 0:
        return mpmath.mpf(1) if b == 0 else (mpmath.mpf(0) if b > 0 else mpmath.inf)
    if a < 0 and b != mpmath.floor(b):
        return mpmath.nan
    return mpmath.power(a, b)


# Arithmetic that mpmath does in time whatever the exponents: no cut-off for huge arguments.
_CHEAP: set[Any] = {_add, _sub, _times, _divide}


def lift(a: Array) -> Array:
    """A float array as an object array of Hi numbers."""
    out = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(*a.shape):
        out[idx] = Hi(float(a[idx]))
    return out


def _constant(text: str | None, value: float | None) -> Hi:
    import mpmath

    if text == "pi":
        return Hi(mpmath.pi)
    if text == "e":
        return Hi(mpmath.e)
    if text is not None:
        try:
            f = number(text)  # as the grammar reads it: 0.1 is 1/10, ⅓ is 1/3
        except ValueError:
            f = None
        if f is not None:
            with mpmath.workdps(DIGITS):
                return Hi(mpmath.mpf(f.numerator) / f.denominator)
    return Hi(value if value is not None else 0.0)


def _objects(v: Any, like: Array | None = None) -> Array:
    """A primitive's result as an object array of Hi (a partial may be a plain number)."""
    a = np.asarray(v, dtype=object)
    if like is not None:
        a = np.broadcast_to(a, like.shape)
    out = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(*a.shape):
        x: Any = a[idx]
        out[idx] = x if isinstance(x, Hi) else Hi(float(x))
    return out


def replay(graph: Graph, trace: Trace) -> tuple[dict[str, Array], str]:
    """Forward and backward at DIGITS digits with the engine's own rules, from the trace's point
    and seed.  Returns each input's gradient as an object array of Hi numbers (shaped as
    trace.grads: the leading axis is the seed's), and where float64 first lost a value, in words
    ("float64 overflowed at n2 = exp(n1): n2 is 1.97007e+434; exp overflows ..."), or ""."""
    values = _forward(graph, trace)
    trouble = _first_loss(graph, trace, values)
    out = graph.output
    if trace.upstream is not None:
        seed = lift(np.asarray(trace.upstream, dtype=float)[None])
    elif trace.mode == "jacobian":
        size = int(np.prod(core(trace.values[out])))
        seed = lift(np.eye(size).reshape((size, *core(trace.values[out]))))
    else:
        seed = lift(np.ones((1, *core(trace.values[out]))))
    grads = _sweep(graph, trace.dep, values, seed)
    return {name: grads[i] for name, i in zip(graph.variables, graph.inputs) if i in grads}, trouble


def nodes(graph: Graph, trace: Trace) -> tuple[list[Array], dict[int, Array]]:
    """Every node's value, and every node's upstream gradient (those a gradient reaches), at DIGITS
    digits with the engine's own rules, at the trace's point (one point, a scalar output): object
    arrays of Hi numbers shaped as trace.values and trace.grads."""
    values = _forward(graph, trace)
    return values, _sweep(graph, trace.dep, values, lift(np.ones((1, *core(trace.values[graph.output])))))


def _forward(graph: Graph, trace: Trace) -> list[Array]:
    """engine.forward on object arrays, from the trace's inputs."""
    values: list[Array] = []
    for node in graph.nodes:
        prim = node.prim
        if node.kind is Kind.INPUT:
            values.append(lift(trace.values[graph.inputs[graph.variables.index(node.name or "")]][:1]))
        elif prim is None:
            values.append(np.array([_constant(node.text, node.value)], dtype=object))
        else:
            args = [values[j] for j in node.inputs]
            values.append(_objects(prim.forward(*(align(args) if prim.elementwise else args))))
    return values


def floats(a: Array) -> Array:
    """An object array of Hi numbers, each rounded to the nearest float64."""
    return np.asarray(np.vectorize(lambda h: float(h.v), otypes=[float])(a), dtype=float)


def _sweep(graph: Graph, dep: list[bool], values: list[Array], seed: Array) -> dict[int, Array]:
    """engine.sweep, on object arrays: the same rules, the same selection of zeros."""
    lead = seed.shape[0]
    grads: dict[int, Array] = {graph.output: seed}
    for i in range(graph.output, -1, -1):
        node = graph.nodes[i]
        prim = node.prim
        if not dep[i] or prim is None or i not in grads:
            continue
        g = grads[i]
        args = [values[j] for j in node.inputs]
        if prim.elementwise:
            args = align(args)
        out = values[i]
        if out.shape[0] != lead:
            out = np.broadcast_to(out, (lead, *out.shape[1:]))
        for k, j in enumerate(node.inputs):
            if not dep[j] or not prim.differentiable(k):
                continue
            if prim.vjp is None:
                part = _objects(prim.partials[k](out, *args), None)
                part = np.broadcast_to(part, np.broadcast_shapes(part.shape, g.shape))
                product = _objects(g * part)
                if prim.selects:
                    zero = np.vectorize(lambda p: p == 0, otypes=[bool])(part)
                    product = np.where(zero, np.asarray(Hi(0), dtype=object), product)
                d = product
            else:
                d = _objects(prim.vjp(k, g, out, *args))
            d = unbroadcast(np.asarray(d, dtype=object), core(values[j]))
            grads[j] = d if j not in grads else grads[j] + d
    return grads


def _first_loss(graph: Graph, trace: Trace, values: list[Array]) -> str:
    """The first node whose float64 value departs from its DIGITS-digit value: overflow to inf,
    underflow to 0, or a cancellation, in words, with the gate's advice for doing better."""
    import mpmath

    for i, node in enumerate(graph.nodes):
        prim = node.prim
        if prim is None:
            continue
        if not all(all(mpmath.isfinite(v.v) for v in values[j].reshape(-1)) for j in node.inputs):
            continue  # the 40-digit inputs are already nan or inf: nothing float64 lost here
        f64 = trace.values[i][:1].reshape(-1)
        true = values[i][:1].reshape(-1)
        for k, (a, t) in enumerate(zip(f64, true)):
            if not mpmath.isfinite(t.v):
                continue
            what = ""
            if not np.isfinite(a):
                what = "overflowed"
            elif a == 0 and t.v != 0 and abs(t.v) < np.finfo(float).tiny:
                what = "underflowed to 0"
            elif t.v != 0 and abs(mpmath.mpf(float(a)) - t.v) > 1e-6 * abs(t.v):
                what = "lost its digits to cancellation"
            if what:
                hint = f"; {prim.unstable_hint}" if prim.unstable_hint else ""
                element = f"{graph.labels[i]}[{k}]" if f64.size > 1 else graph.labels[i]
                return (f"float64 {what} at {graph.labels[i]} = {describe(graph, i)}: {element} is "
                        f"{text(t)}{hint}")
    return ""


def text(v: Hi) -> str:
    """A number in 6 significant digits, with an exponent beyond float64's range where it has one."""
    from .symbolic import number_text

    return number_text(v.v)


def kind_of(v: Hi) -> tuple[str, float, str]:
    """A replayed number as symbolic.classify gives SymPy's: (kind, float, text)."""
    import mpmath

    if mpmath.isnan(v.v):
        return "nan", float("nan"), "nan"
    if mpmath.isinf(v.v):
        return ("inf", float("inf"), "inf") if v.v > 0 else ("-inf", float("-inf"), "-inf")
    x = float(v.v)
    if not np.isfinite(x) or (x == 0.0 and v.v != 0):
        return "big", x, text(v)
    return "finite", x, text(v)
