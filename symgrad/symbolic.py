"""The SymPy layer: the program as SymPy expressions, built node by node from the graph.

Nothing here reads text: every expression comes from the graph's nodes and the
table of primitives.  SymPy is imported by the functions that need it, never
on the plain gradient path.

Values are compared at 30 digits without any simplification: the derivative
is evaluated once per distinct subexpression (`dag_value`), which stays fast
where SymPy's own `evalf(subs=...)` walks the expression as a tree, and that
grows exponentially with the depth of nested gates.  Simplification is only
for the formulas shown, and only below a size bound.

`replay` runs the graph forward and backward again at 30 digits, with the
same local-gradient rules, to tell a float64 result that lost precision
(``unstable``) from a rule that is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from . import primitives as P
from .engine import Trace, align, core, unbroadcast
from .graph import Graph, describe

Array = np.ndarray

DIGITS = 30  # values are compared at this many digits
WORK_DIGITS = 40  # and computed at these
# The symbolic check's work, bounded by size so that every machine gives the same report: the size
# of the expression written out (operations, counting a shared node once per use) times its depth.
SYMBOLIC_LIMIT = 60_000
# A derivative is simplified for display only up to this many operations, and shown up to SHOWN_OPS.
SIMPLIFY_OPS = 40
SHOWN_OPS = 400
# The 30-digit replay builds local Jacobians of non-elementwise gates up to this many entries.
REPLAY_ENTRIES = 4096


def exact_constant(text: str | None, value: float | None, sp: Any) -> Any:
    """A constant of the program as an exact SymPy number: 0.1 is 1/10, pi is pi."""
    if text == "pi":
        return sp.pi
    if text == "e":
        return sp.E
    if text is not None:
        try:
            f = Fraction(text)  # a numeric literal the grammar accepted
        except ValueError:
            f = None
        if f is not None:
            return sp.Rational(f.numerator, f.denominator)
    return sp.Float(value if value is not None else 0.0, DIGITS)


def symbolic_values(graph: Graph, sp: Any, inputs: dict[str, Array]) -> list[Array]:
    """Every node as an object array of SymPy expressions (leading axis included), node by node.
    With numbers as inputs, SymPy evaluates as it goes: the forward pass at their precision."""
    values: list[Array] = []
    for node in graph.nodes:
        if node.op == "input":
            assert node.name is not None
            values.append(inputs[node.name])
        elif node.op == "const":
            values.append(np.array([exact_constant(node.text, node.value, sp)], dtype=object))
        else:
            prim = P.PRIMITIVES[node.op]
            args = [values[j] for j in node.inputs]
            assert prim.sympy is not None
            if prim.elementwise:
                args = align(args)
                apply = np.frompyfunc(lambda *a, prim=prim: prim.sympy(sp, *a), len(args), 1)
                shape = np.broadcast_shapes(*(a.shape for a in args))
                values.append(np.asarray(apply(*args), dtype=object).reshape(shape))
            else:
                values.append(np.asarray(prim.sympy(sp, *args), dtype=object))
    return values


def input_symbols(graph: Graph, sp: Any, shapes: dict[str, tuple[int, ...]],
                  fixed: dict[str, Array]) -> tuple[dict[str, Array], dict[str, Any]]:
    """Symbols for every input element (x, W[0,1]); inputs used as indices keep their values."""
    arrays: dict[str, Array] = {}
    symbols: dict[str, Any] = {}
    for name in graph.variables:
        if name in fixed:
            arrays[name] = np.asarray(fixed[name], dtype=object)[None]
            continue
        shape = shapes.get(name, ())
        cell = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            label = name if not shape else f"{name}[{','.join(map(str, idx))}]"
            cell[idx] = symbols[label] = sp.Symbol(label, real=True)
        arrays[name] = cell[None]
    return arrays, symbols


class Printer:
    """SymPy's text, with e and pi written as symgrad writes them (exp(1) and 4*atan(1) where the
    program has variables of those names)."""

    def __init__(self, sp: Any, variables: tuple[str, ...] | list[str] = ()) -> None:
        base = sp.printing.str.StrPrinter
        euler = "exp(1)" if "e" in variables else "e"
        pi = "(4*atan(1))" if "pi" in variables else "pi"

        class Printer(base):  # type: ignore[misc, valid-type]
            def _print_Exp1(self, expr: Any) -> str:
                return euler

            def _print_Pi(self, expr: Any) -> str:
                return pi

        self.printer = Printer()

    def __call__(self, expr: Any) -> str:
        return str(self.printer.doprint(expr))


def index_inputs(graph: Graph) -> set[str]:
    """Inputs read as an index or an axis somewhere: SymPy gets their values, not symbols."""
    used: set[str] = set()
    for node in graph.nodes:
        if node.op in ("input", "const"):
            continue
        prim = P.PRIMITIVES[node.op]
        for k, j in enumerate(node.inputs):
            if not prim.differentiable(k) and graph.nodes[j].op == "input":
                used.add(graph.nodes[j].name or "")
    return used


def written_size(graph: Graph, trace: Trace | None) -> int:
    """The size of the output's expression written out, times its depth: a deterministic bound on
    the work of differentiating it.  A node's size is 1 plus its inputs' sizes (an input shared by
    several consumers counts once per use), times the elements a non-elementwise gate reads for
    one of its own (a sum reads them all)."""
    size: list[int] = []
    depth: list[int] = []
    cap = 10 ** 15
    for i, node in enumerate(graph.nodes):
        if node.op in ("input", "const"):
            size.append(1)
            depth.append(0)
            continue
        prim = P.PRIMITIVES[node.op]
        mine = _elements(trace, i)
        total = 1
        for j in node.inputs:
            reads = 1 if prim.elementwise else max(1, _elements(trace, j) // max(1, mine))
            total = min(cap, total + size[j] * reads)
        size.append(total)
        depth.append(1 + max(depth[j] for j in node.inputs) if node.inputs else 1)
    return min(cap, size[graph.output] * max(1, depth[graph.output]))


def _elements(trace: Trace | None, i: int) -> int:
    return 1 if trace is None else int(np.prod(core(trace.values[i]))) or 1


def dag_value(sp: Any, expr: Any, subs: dict[Any, Any]) -> Any:
    """The value of `expr` with numbers put in for its symbols, each distinct subexpression
    evaluated once (a loop over the expression's DAG, no recursion), at WORK_DIGITS."""
    memo: dict[Any, Any] = {}
    stack: list[tuple[Any, bool]] = [(expr, False)]
    while stack:
        e, ready = stack.pop()
        if e in memo:
            continue
        if e.is_Symbol:
            memo[e] = subs.get(e, e)
            continue
        if not e.args:
            memo[e] = e.evalf(WORK_DIGITS) if e.is_NumberSymbol else e
            continue
        if not ready:
            stack.append((e, True))
            stack.extend((a, False) for a in e.args if a not in memo)
            continue
        v = e.func(*(memo[a] for a in e.args))
        if not v.is_Number and v.is_number:
            v = v.evalf(WORK_DIGITS)
        memo[e] = v
    return memo[expr]


def classify(sp: Any, v: Any) -> tuple[str, float, str]:
    """A SymPy value as (kind, float, text): kind finite, big (beyond float64), inf, -inf,
    zoo (infinite of no sign), nan (undefined, or not real) or none (not a number: DiracDelta(0))."""
    if v is sp.nan:
        return "nan", float("nan"), "nan"
    if v is sp.zoo:
        return "zoo", float("nan"), "zoo"
    if v is sp.oo:
        return "inf", float("inf"), "inf"
    if v is sp.oo * -1 or v == sp.S.NegativeInfinity:
        return "-inf", float("-inf"), "-inf"
    if not v.is_number:
        return "none", float("nan"), str(v)
    if v.is_real is False:
        return "nan", float("nan"), "not a real number"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "none", float("nan"), str(v)
    text = _text(sp, v)
    if not np.isfinite(x) or (x == 0.0 and v != 0):
        return "big", x, text
    return "finite", x, text


def _text(sp: Any, v: Any) -> str:
    """A 30-digit number in 6 significant digits, with an exponent beyond float64's range too."""
    import mpmath

    try:
        return str(mpmath.nstr(sp.Float(v, DIGITS)._to_mpmath(DIGITS * 4), 6))
    except (TypeError, ValueError, AttributeError):
        return str(v)


# ---- the 30-digit replay of backprop --------------------------------------------------------


def replay(graph: Graph, trace: Trace, sp: Any) -> tuple[dict[str, Array] | None, str]:
    """Forward and backward again at WORK_DIGITS, node by node with the same rules as the
    engine (the local gradients are the table's SymPy forms, differentiated; a selecting gate
    sends exactly 0 where it selects nothing).  Returns the gradient per input (object arrays,
    output axis first in Jacobian mode) or None where a gate is too large to replay, and where
    float64 first lost a value, in words ("float64 overflowed at n2 = exp(n1): its true value
    is 1.97e+434"), or ""."""
    inputs = {name: np.vectorize(lambda v: sp.Float(float(v), WORK_DIGITS), otypes=[object])(trace.values[i][:1])
              for name, i in zip(graph.variables, graph.inputs)}
    values = symbolic_values(graph, sp, inputs)
    values = [np.vectorize(lambda e: e.evalf(WORK_DIGITS) if e.is_number else e, otypes=[object])(v)
              if v.size else v for v in values]
    trouble = _first_loss(graph, trace, values)
    out = graph.output
    out_shape = core(trace.values[out])
    if trace.upstream is not None:
        seeds = [np.vectorize(lambda v: sp.Float(float(v), WORK_DIGITS), otypes=[object])(trace.upstream)[None]]
    elif trace.mode == "jacobian":
        size = int(np.prod(out_shape))
        seeds = [np.asarray(row, dtype=object).reshape((1, *out_shape))
                 for row in np.eye(size, dtype=int).astype(object).tolist()]
        seeds = [np.vectorize(sp.Integer, otypes=[object])(s) for s in seeds]
    else:
        seeds = [np.full((1, *out_shape), sp.Integer(1), dtype=object)]
    rows: list[dict[str, Array]] = []
    partials: dict[tuple[str, int], Any] = {}
    for seed in seeds:
        grads = _backward(graph, trace, values, seed, sp, partials)
        if grads is None:
            return None, trouble
        rows.append(grads)
    result: dict[str, Array] = {}
    for name in graph.variables:
        stacked = [r.get(name) for r in rows]
        if any(s is None for s in stacked):
            continue
        result[name] = np.stack([s[0] for s in stacked if s is not None])  # (rows, *input shape)
    return result, trouble


def _backward(graph: Graph, trace: Trace, values: list[Array], seed: Array, sp: Any,
              partials: dict[tuple[str, int], Any]) -> dict[str, Array] | None:
    dep = trace.dep
    grads: dict[int, Array] = {graph.output: seed}
    for i in range(graph.output, -1, -1):
        node = graph.nodes[i]
        if not dep[i] or node.op == "input" or i not in grads:
            continue
        g = grads[i]
        prim = P.PRIMITIVES[node.op]
        args = [values[j] for j in node.inputs]
        for k, j in enumerate(node.inputs):
            if not dep[j] or not prim.differentiable(k):
                continue
            if prim.elementwise:
                d = _elementwise_vjp(sp, prim, k, g, align(args), partials)
            else:
                vjp = _general_vjp(sp, prim, k, g, args)
                if vjp is None:
                    return None
                d = vjp
            d = unbroadcast(np.asarray(d, dtype=object), core(values[j]))
            grads[j] = d if j not in grads else grads[j] + d
    out: dict[str, Array] = {}
    for name, i in zip(graph.variables, graph.inputs):
        if name in graph.index_only:
            continue
        out[name] = grads.get(i, np.full((1, *core(values[i])), sp.Integer(0), dtype=object))
    return out


def _elementwise_vjp(sp: Any, prim: P.Primitive, k: int, g: Array, args: list[Array],
                     partials: dict[tuple[str, int], Any]) -> Array:
    key = (prim.name, k)
    if key not in partials:
        dummies = [sp.Symbol(f"a{n}", real=True) for n in range(len(args))]
        assert prim.sympy is not None
        partials[key] = (dummies, sp.diff(prim.sympy(sp, *dummies), dummies[k]))
    dummies, formula = partials[key]

    def one(up: Any, *point: Any) -> Any:
        local = dag_value(sp, formula, dict(zip(dummies, point)))
        if prim.selects and local == 0:
            return sp.Integer(0)  # not selected: exactly 0, whatever arrives from upstream
        v = up * local
        return v.evalf(WORK_DIGITS) if v.is_number and not v.is_Number else v

    shape = np.broadcast_shapes(g.shape, *(a.shape for a in args))
    apply = np.frompyfunc(one, 1 + len(args), 1)
    return np.asarray(apply(np.broadcast_to(g, shape), *(np.broadcast_to(a, shape) for a in args)), dtype=object)


def _general_vjp(sp: Any, prim: P.Primitive, k: int, g: Array, args: list[Array]) -> Array | None:
    """g times the local Jacobian of a non-elementwise gate, the Jacobian from SymPy."""
    arg = args[k]
    n_in, n_out = int(np.prod(core(arg))), int(np.prod(core(g)))
    if n_in * n_out > REPLAY_ENTRIES:
        return None
    cell = np.empty(core(arg), dtype=object)
    symbols = []
    for idx in np.ndindex(*core(arg)):
        cell[idx] = sym = sp.Symbol(f"r{len(symbols)}", real=True)
        symbols.append(sym)
    moved = list(args)
    moved[k] = cell[None]
    assert prim.sympy is not None
    out = np.asarray(prim.sympy(sp, *moved), dtype=object).reshape(1, -1)[0]
    point = dict(zip(symbols, np.asarray(arg, dtype=object).reshape(1, -1)[0]))
    up = np.asarray(g, dtype=object).reshape(1, -1)[0]
    result = np.empty(n_in, dtype=object)
    for e, sym in enumerate(symbols):
        total = sp.Integer(0)
        for o in range(n_out):
            if up[o] == 0:
                continue
            local = dag_value(sp, sp.diff(out[o], sym), point)
            if local != 0:
                total += up[o] * local
        result[e] = total.evalf(WORK_DIGITS) if total.is_number and not total.is_Number else total
    return result.reshape((1, *core(arg)))


def _first_loss(graph: Graph, trace: Trace, values: list[Array]) -> str:
    """The first node whose float64 value departs from its WORK_DIGITS value: overflow to inf,
    underflow to 0, or a cancellation, in words, with the gate's advice for doing better."""
    import sympy as sp

    for i, node in enumerate(graph.nodes):
        if node.op in ("input", "const"):
            continue
        f64 = trace.values[i][:1].reshape(-1)
        true = values[i].reshape(-1)
        for k, (a, t) in enumerate(zip(f64, true)):
            kind, x, text = classify(sp, t)
            if kind not in ("finite", "big"):
                continue
            what = ""
            if not np.isfinite(a):
                what = "overflowed"
            elif a == 0 and t != 0:
                what = "underflowed to 0"
            elif kind == "finite" and x != 0 and abs(a - x) > 1e-6 * abs(x):
                what = "lost precision"
            if what:
                prim = P.PRIMITIVES[node.op]
                hint = f"; {prim.unstable_hint}" if prim.unstable_hint else ""
                element = f"{graph.labels[i]}[{k}]" if f64.size > 1 else graph.labels[i]
                return (f"float64 {what} at {graph.labels[i]} = {describe(graph, i)}: {element} is {text}{hint}")
    return ""


def derivative_text(sp: Any, d: Any, names: list[tuple[Any, str]], show: Callable[[Any], str]) -> tuple[Any, str]:
    """A derivative for display: simplified and written with named intermediates where it is small
    enough (SIMPLIFY_OPS), as SymPy gives it up to SHOWN_OPS, else not shown ("")."""
    ops = int(sp.count_ops(d))
    if ops > SHOWN_OPS:
        return None, ""
    if ops <= SIMPLIFY_OPS:
        d = shorten(sp, sp.simplify(d), names)
    return d, show(d)


def named_nodes(graph: Graph, values: list[Array]) -> list[tuple[Any, str]]:
    """The user's named scalar intermediates, latest first: (expression, name)."""
    found = []
    for i, node in enumerate(graph.nodes):
        if node.name and node.op not in ("input", "const") and i != graph.output and values[i].size == 1:
            found.append((values[i].reshape(-1)[0], graph.labels[i]))
    return found[::-1]


def shorten(sp: Any, d: Any, names: list[tuple[Any, str]]) -> Any:
    """Write a derivative with named intermediates where that makes it shorter (df/dz = q)."""
    for expr, name in names:
        if expr.is_Atom:
            continue
        shorter = d.subs(expr, sp.Symbol(name, real=True))
        if sp.count_ops(shorter) < sp.count_ops(d):
            d = shorter
    return d
