"""The SymPy layer: the program as SymPy expressions, built node by node from the graph.

Nothing here reads text: every expression comes from the graph's nodes and the
table of primitives.  SymPy is imported by the functions that need it, never
on the plain gradient path.

Values are compared at 30 digits without any simplification: the derivative
is evaluated once per distinct subexpression (`dag_value`), which stays fast
where SymPy's own `evalf(subs=...)` walks the expression as a tree, and that
grows exponentially with the depth of nested gates.  Simplification is only
for the formulas shown, and only below a size bound.

(`replay.py` runs backprop itself again at 40 digits, to tell a float64
result that lost precision from a rule that is wrong.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .engine import Trace, align, core
from .graph import Graph, Kind, edges
from .parser import number

Array = np.ndarray

DIGITS = 30  # values are compared at this many digits
WORK_DIGITS = 40  # and computed at these
# The symbolic check's work, bounded by size so that every machine gives the same report.  The cost
# of differentiating for one input element grows with the size of the expression written out and,
# through SymPy's recursive rules, with the square of its depth: `cost` is size * depth^2.  Past
# SYMBOLIC_LIMIT the check is skipped; below it, as many elements are checked as 2 * SYMBOLIC_LIMIT
# of work allows (at least one, at most SYMBOLIC_ELEMENTS).
SYMBOLIC_LIMIT = 500_000
SYMBOLIC_ELEMENTS = 64
# A derivative is simplified for display only up to this many operations, written with named
# intermediates up to SHORTEN_OPS, and shown at all up to SHOWN_OPS.
SIMPLIFY_OPS = 12
SHORTEN_OPS = 60
SHOWN_OPS = 400


def exact_constant(text: str | None, value: float | None, sp: Any) -> Any:
    """A constant of the program as an exact SymPy number: 0.1 is 1/10, ½ is 1/2, pi is pi."""
    if text == "pi":
        return sp.pi
    if text == "e":
        return sp.E
    if text is not None:
        try:
            f = number(text)  # a numeric literal or a vulgar fraction the grammar accepted
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
        prim = node.prim
        if node.kind is Kind.INPUT:
            assert node.name is not None
            values.append(inputs[node.name])
        elif prim is None:
            values.append(np.array([exact_constant(node.text, node.value, sp)], dtype=object))
        else:
            args = [values[j] for j in node.inputs]
            assert prim.sympy is not None
            if prim.elementwise:
                args = align(args)
                apply = np.frompyfunc(lambda *a, prim=prim: prim.sympy(sp, *a), len(args), 1)
                shape = np.broadcast_shapes(*(a.shape for a in args))
                with np.errstate(all="ignore"):  # floats inside SymPy's own arithmetic are not NumPy's to report
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
    for i, node in enumerate(graph.nodes):
        for e in edges(node, i):
            source = graph.nodes[e.source]
            if not e.differentiable and source.kind is Kind.INPUT:
                used.add(source.name or "")
    return used


def cost(graph: Graph, trace: Trace | None) -> int:
    """The work of differentiating the output for one input element, deterministically: the size
    of its expression written out (1 plus its inputs' sizes; an input shared by several consumers
    counts once per use; a non-elementwise gate counts the elements it reads for one of its own),
    times the square of its depth."""
    size: list[int] = []
    depth: list[int] = []
    cap = 10 ** 15
    for i, node in enumerate(graph.nodes):
        prim = node.prim
        if prim is None:
            size.append(1)
            depth.append(0)
            continue
        mine = _elements(trace, i)
        total = 1
        for j in node.inputs:
            reads = 1 if prim.elementwise else max(1, _elements(trace, j) // max(1, mine))
            total = min(cap, total + size[j] * reads)
        size.append(total)
        depth.append(1 + max(depth[j] for j in node.inputs) if node.inputs else 1)
    return min(cap, size[graph.output] * max(1, depth[graph.output]) ** 2)


def elements_within(per_element: int, limit: int) -> int:
    """How many input elements the symbolic check differentiates for, at this cost each."""
    return max(1, min(SYMBOLIC_ELEMENTS, (2 * limit) // max(1, per_element)))


def _elements(trace: Trace | None, i: int) -> int:
    return 1 if trace is None else int(np.prod(core(trace.values[i]))) or 1


# Arguments of a transcendental function (exp, a power, sinh, ...) beyond 2^HUGE_BITS make values
# with exponents of thousands of digits, whose computation takes mpmath minutes: they are "too large".
HUGE_BITS = 4096


class TooLarge(ArithmeticError):
    """A value of the derivative is astronomically large (beyond 2^(2^HUGE_BITS))."""


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
        if not e.args:  # exact numbers become floats: no exact arithmetic on huge integers (2^3^4^5)
            memo[e] = e.evalf(WORK_DIGITS) if e.is_NumberSymbol or (e.is_Number and not e.is_Float) else e
            continue
        if not ready:
            stack.append((e, True))
            stack.extend((a, False) for a in e.args if a not in memo)
            continue
        args = [memo[a] for a in e.args]
        if not (e.is_Add or e.is_Mul) and any(_huge(a) for a in (args[1:] if e.is_Pow else args)):
            raise TooLarge(str(e.func))
        v = e.func(*args)
        if not v.is_Number and v.is_number:
            v = v.evalf(WORK_DIGITS)
        memo[e] = v
    return memo[expr]


def _huge(v: Any) -> bool:
    import mpmath

    if not getattr(v, "is_Float", False):
        return False
    x = v._to_mpmath(WORK_DIGITS * 4)
    return bool(mpmath.isfinite(x) and x != 0 and mpmath.mag(x) > HUGE_BITS)


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
    try:
        return number_text(sp.Float(v, DIGITS)._to_mpmath(DIGITS * 4))
    except (TypeError, ValueError, AttributeError):
        return str(v)


def number_text(v: Any) -> str:
    """An mpmath number in 6 significant digits ("5.07596e-435"), in time bounded by its size:
    beyond 10^±900 the digits of the exponent alone are given ("about 2^(1.4e+6)")."""
    import mpmath

    if not mpmath.isfinite(v) or v == 0:
        return str(mpmath.nstr(v, 6))
    bits = int(mpmath.mag(v))
    if abs(bits) < 3000:
        return str(mpmath.nstr(v, 6))
    sign = "-" if v < 0 else ""
    digits = len(str(abs(bits)))
    power = str(bits) if digits < 16 else f"{'-' if bits < 0 else ''}a number of {digits} digits"
    return f"{sign}about 2^({power})"


def derivative_text(sp: Any, d: Any, names: list[tuple[Any, str]], show: Callable[[Any], str]) -> tuple[Any, str]:
    """A derivative for display: tidied and written with named intermediates where it is small
    enough (SIMPLIFY_OPS, SHORTEN_OPS), as SymPy gives it up to SHOWN_OPS, else not shown ("").
    Tidying takes the shortest of the derivative, its common factors pulled out and its fraction
    cancelled: cheap and predictable, where sympy.simplify is neither."""
    ops = int(sp.count_ops(d))
    if ops > SHOWN_OPS:
        return None, ""
    if ops <= SIMPLIFY_OPS:
        d = min((d, sp.factor_terms(d), sp.cancel(d)), key=lambda e: (int(sp.count_ops(e)), len(str(e))))
    if ops <= SHORTEN_OPS:
        d = shorten(sp, d, names)
    return d, show(d)


def named_nodes(graph: Graph, values: list[Array]) -> list[tuple[Any, str]]:
    """The user's named scalar intermediates, latest first: (expression, name)."""
    found = []
    for i, node in enumerate(graph.nodes):
        if node.name and node.prim is not None and i != graph.output and values[i].size == 1:
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
