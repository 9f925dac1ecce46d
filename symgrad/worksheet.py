"""Worksheets: the lecture's backprop exercise for a program at a point, with its key.

A worksheet lists the graph's nodes in order (inputs, named and generated intermediates, the
output), each with its value and the gradient of the output with respect to it: the inputs'
values and the output's gradient are given, the rest are blanks.  The key is the same list filled
in, as answers in the explicit forms `symgrad check` grades (`value(q)=3`, `dL/dq=-4`, `dL/dx=-4`).

With a seed, the point is drawn: small whole numbers (or numbers with one decimal), the same
shapes as a given point, and drawn again until no node's value or gradient is infinite, undefined,
on a kink or at the edge of its domain, so that every blank has one right answer.  Each student of
a class list gets a variant of their own, drawn from the seed and their name, so that the same
command gives the same variants again.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .engine import Trace, core, evaluate
from .errors import SymgradError
from .graph import Graph
from .records import records

Array = np.ndarray
DRAWS = 200  # points tried for one variant before giving up


@dataclass
class Row:
    """One node of the worksheet: its value and gradient, and which of them are given."""

    label: str
    computes: str  # "input", "x + y"
    value: Array
    gradient: Array | None  # d output / d node (None: no gradient flows, an index)
    value_given: bool
    gradient_given: bool


@dataclass
class Worksheet:
    """One exercise: the program, the point (as --at text), its rows, and whose variant it is."""

    function: str
    at: str
    output: str
    rows: list[Row] = field(default_factory=list)
    student: str | None = None

    def key(self) -> list[str]:
        """The answers that fill every blank, as `symgrad check --expect` takes them."""
        out: list[str] = []
        for r in self.rows:
            if not r.value_given:
                out.append(f"{r.label if r.label == self.output else f'value({r.label})'}={number_text(r.value)}")
            if not r.gradient_given and r.gradient is not None:
                out.append(f"d{self.output}/d{r.label}={number_text(r.gradient)}")
        return out


def number_text(a: Any) -> str:
    """A value as an answer: the shortest text that reads back as the same float64, nested lists for
    arrays ("3", "-0.25", "[[1, 2], [3, 4]]")."""
    arr = np.asarray(a, dtype=float)
    if arr.ndim == 0:
        x = float(arr)
        return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)
    return "[" + ", ".join(number_text(item) for item in arr) + "]"


def at_text(point: dict[str, Array], variables: Sequence[str]) -> str:
    """A point as --at text: x=-2,y=5,W=[[1, 2], [3, 4]]."""
    return ",".join(f"{v}={number_text(point[v])}" for v in variables)


def sheet(graph: Graph, text: str, point: dict[str, Array], student: str | None = None) -> Worksheet:
    """The worksheet of a program at a point: a row for every node the tables show but constants."""
    trace = evaluate(graph, point)
    if trace.mode != "point":
        raise SymgradError("shape", f"a worksheet needs a scalar output, but {graph.output_name} has shape "
                           f"{trace.out_shape}", hint="reduce it to a scalar, e.g. sum(...)")
    ws = Worksheet(text, at_text(point, graph.variables), graph.output_name, student=student)
    hi_values, hi_grads = _exact(graph, trace)
    for r in records(trace):
        if r.kind == "const":
            continue
        value = _trusted(np.asarray(r.value), hi_values[r.node])
        gradient = None if r.upstream is None else _trusted(np.asarray(r.upstream), hi_grads.get(r.node))
        ws.rows.append(Row(r.label, "input" if r.kind == "input" else r.computes, value, gradient,
                           value_given=r.kind == "input", gradient_given=r.is_output))
    return ws


def _exact(graph: Graph, trace: Trace) -> tuple[list[Array | None], dict[int, Array]]:
    """Every node's value and upstream gradient backpropagated again at 40 digits (replay.nodes), as
    float64 arrays without the leading axis; ([None, ...], {}) where the replay cannot run."""
    from . import replay

    try:
        values, grads = replay.nodes(graph, trace)
        return ([replay.floats(v)[0] for v in values],
                {i: replay.floats(g)[0] for i, g in grads.items()})
    except (ArithmeticError, ValueError, TypeError):
        return [None] * len(graph.nodes), {}


def _trusted(computed: Array, exact: Array | None) -> Array:
    """The key's number: float64's own, except where float64 lost it (more than 1e-9 relative from
    the 40-digit value, as 1 - sigmoid(29) does by cancellation): there the 40-digit value, which
    is what `symgrad check` grades against."""
    if exact is None or np.shape(exact) != computed.shape:
        return computed
    with np.errstate(all="ignore"):
        lost = np.isfinite(exact) & ~(np.abs(computed - exact) <= 1e-9 * np.abs(exact))
    return np.where(lost, exact, computed) if np.any(lost) else computed


def draw(graph: Graph, shapes: dict[str, tuple[int, ...]], rng: np.random.Generator,
         decimals: bool = False) -> dict[str, Array]:
    """A point of small nonzero numbers (whole numbers from -5 to 5, or with one decimal from -3 to
    3) at which every node's value and gradient is finite, some gradient is not 0, and no gate is on
    a kink or at the edge of its domain; preferably one where no node's gradient is tiny (a
    saturated sigmoid gives 1e-9: useless as homework, and float64 may lose it), else the first clean
    one.  Inputs used as indices get 0 or 1.  Raises SymgradError when DRAWS tries find no clean point."""
    from .checks import edges_reached

    fallback = None
    for _ in range(DRAWS):
        point = {}
        for v in graph.variables:
            shape = shapes.get(v, ())
            magnitude = np.round(rng.uniform(0.1, 3.0, size=shape), 1) if decimals else \
                rng.integers(1, 6, size=shape).astype(float)
            point[v] = np.where(rng.integers(0, 2, size=shape) == 1, magnitude, -magnitude)
        for v in graph.index_only:
            point[v] = rng.integers(0, 2, size=shapes.get(v, ())).astype(float)
        try:
            trace = evaluate(graph, point)
        except SymgradError:
            continue
        if _clean(trace) and not edges_reached(trace) and any(
                g is not None and np.any(g != 0) for g in trace.gradient.values()):
            # no tiny gradient at any node: a saturated sigmoid's 1e-13 is useless as homework, and float64
            # loses it (1 - sigmoid(29) cancels), so a key would disagree with the check's 30-digit value
            if all(g is None or np.all((np.abs(g) >= 1e-3) | (g == 0)) for g in trace.grads):
                return point
            fallback = fallback or point
    if fallback is not None:
        return fallback
    raise SymgradError("value", f"no point of small numbers found where every node of {graph.header} is finite "
                       f"and smooth (in {DRAWS} tries)", hint="give the point yourself with --at")


def _clean(trace: Trace) -> bool:
    return (not trace.warnings and not trace.kinks
            and all(np.isfinite(v).all() for v in trace.values)
            and all(g is None or np.isfinite(g).all() for g in trace.grads))


def variants(graph: Graph, text: str, point: dict[str, Array] | None, *, seed: int | None,
             students: Sequence[str] = (), one_decimal: bool = False) -> list[Worksheet]:
    """The worksheets: one at `point` (or at a point drawn from `seed`), or one per student, each at
    a point drawn from the seed and the student's name (crc32: the same name, the same variant)."""
    shapes = {v: core(np.asarray(point[v])[None]) for v in graph.variables} if point else {}
    if not students:
        if seed is None:
            if point is None:
                raise SymgradError("usage", "a worksheet needs a point", hint="give it with --at, or draw one "
                                   "with --seed N")
            return [sheet(graph, text, point)]
        return [sheet(graph, text, draw(graph, shapes, np.random.default_rng(seed), one_decimal))]
    base = 0 if seed is None else seed
    return [sheet(graph, text, draw(graph, shapes, np.random.default_rng([base, zlib.crc32(s.encode())]),
                                    one_decimal), s)
            for s in students]
