"""Second derivatives: the Hessian of a scalar output, and Hessian-vector products.

Reverse over reverse, through the same table of primitives: symbolic reverse mode (derive.py)
writes the backward pass as nodes, so that each input's gradient d f / d x_i is itself the output
of a graph; backpropagating through that graph gives the row of the Hessian d²f / d x_i d x_j, for
every x_j at once.  For a tensor input, the gradient is a vector or matrix and the engine's
Jacobian gives the block.  A Hessian-vector product H v sums v_i * (d f / d x_i) into one scalar
and backpropagates once, without forming the Hessian.

The gradient graphs are ordinary graphs, so the checks of the first derivatives check the second:
SymPy differentiates each gradient's expression, and finite differences of the gradient estimate
each row, judged by the same verdict ladder.  Each gradient graph's value is also compared with the
engine's first-order gradient, which its own checks have judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .derive import Derivation, derive
from .engine import Trace, core, evaluate
from .errors import SymgradError
from .graph import Graph, Kind, Node, gate
from .scope import labels

Array = np.ndarray


@dataclass
class Row:
    """One input's row of the Hessian: d/dx_j of d f / d x_i for every input x_j."""

    variable: str
    graph: Graph  # the gradient d f / d variable as the output of a graph
    trace: Trace
    blocks: dict[str, Array]  # x_j -> d²f / d x_i d x_j, shaped variable's shape + x_j's shape
    checks: list[Any] = field(default_factory=list)  # [symbolic, numeric] of this row


def gradient_graph(d: Derivation, output: int, name: str) -> Graph:
    """The derivation's nodes as a graph whose output is node `output` (a gradient, or a sum
    built on them), every node shown (no grouped gates), labelled afresh."""
    nodes = [replace(n, group=None) for n in d.nodes]
    graph = replace(d.graph, nodes=nodes, output=output, output_name=name, groups=[], clusters=[],
                    header=f"{name}({', '.join(d.graph.variables)})", warnings=[], notes=[])
    graph.labels = labels(graph)
    return graph


def _scalar_output(trace: Trace, what: str) -> None:
    if trace.out_shape != ():
        raise SymgradError("shape", f"{what} needs a scalar output, but {trace.graph.output_name} has shape "
                           f"{trace.out_shape}", hint="sum the output, or pick an element of it")


def hessian(trace: Trace, *, check: Any = None) -> list[Row]:
    """The Hessian of the trace's scalar output at its point, a Row per input that has a gradient
    (indices have none).  `check`: a function (graph, trace) -> [symbolic, numeric] checks, run on
    each row's gradient graph.  Raises SymgradError ("shape") for a vector output, and derive's
    NotDerivable where a gate has no backward rule."""
    _scalar_output(trace, "the Hessian")
    graph = trace.graph
    at = {v: trace.value_of(trace.values[i]) for v, i in zip(graph.variables, graph.inputs)}
    d = derive(graph, [core(v) for v in trace.values])
    rows = []
    for v in graph.variables:
        if v in graph.index_only:
            continue
        node = d.gradient(v)
        if node is None:  # nothing reaches it: a row of zeros
            node = _zeros_like_input(d, graph.inputs[graph.variables.index(v)])
        g = gradient_graph(d, node, f"d{graph.output_name}/d{v}")
        row_trace = evaluate(g, at)
        _same_gradient(row_trace, trace, v)
        blocks = {w: np.asarray(row_trace.gradient[w]) for w in graph.variables if w in row_trace.gradient}
        rows.append(Row(v, g, row_trace, blocks, check(g, row_trace) if check is not None else []))
    return rows


def hvp(trace: Trace, vector: dict[str, Any], *, check: Any = None) -> Row:
    """The Hessian-vector product H v at the trace's point: d/dx_j of sum_i v_i · (d f / d x_i),
    one backward pass over the gradient graph, the Hessian never formed.  `vector` gives v_i for
    every input that has a gradient, shaped like it.  Raises SymgradError ("binding", "shape")
    for a missing, unknown or misshapen v_i."""
    _scalar_output(trace, "a Hessian-vector product")
    graph = trace.graph
    wanted = [v for v in graph.variables if v not in graph.index_only]
    unknown = sorted(set(vector) - set(wanted))
    if unknown:
        raise SymgradError("binding", f"--hvp gives {unknown[0]}, which is not an input with a gradient",
                           hint=f"give a direction for each of {', '.join(wanted)}")
    missing = [v for v in wanted if v not in vector]
    if missing:
        raise SymgradError("binding", f"--hvp gives no direction for {missing[0]}",
                           hint=f"give a direction for each of {', '.join(wanted)}, e.g. {missing[0]}=1")
    at = {v: trace.value_of(trace.values[i]) for v, i in zip(graph.variables, graph.inputs)}
    shapes = [core(v) for v in trace.values]
    d = derive(graph, shapes)
    total = None
    for v in wanted:
        i = graph.inputs[graph.variables.index(v)]
        direction = np.asarray(vector[v], dtype=float)
        if direction.shape != shapes[i]:
            raise SymgradError("shape", f"--hvp gives {v} a direction of shape {direction.shape}, but {v} has "
                               f"shape {shapes[i]}", hint="give the direction the input's shape")
        node = d.gradient(v)
        if node is None:
            continue
        term = _dot(d, node, direction)
        total = term if total is None else _add(d, "add", (total, term), ())
    if total is None:
        total = _constant(d, 0.0)
    g = gradient_graph(d, total, f"v·d{graph.output_name}")
    row_trace = evaluate(g, at)
    blocks = {w: np.asarray(row_trace.gradient[w]) for w in graph.variables if w in row_trace.gradient}
    return Row("v", g, row_trace, blocks, check(g, row_trace) if check is not None else [])


def _same_gradient(row: Trace, trace: Trace, v: str) -> None:
    """The gradient graph's value is the engine's gradient (which its checks judge): else symbolic
    reverse mode and backprop disagree, which must never be hidden."""
    want = np.asarray(trace.gradient[v])
    got = np.broadcast_to(np.asarray(row.value), want.shape)
    if not np.allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True):
        raise SymgradError("internal", f"symbolic reverse mode gives d{trace.graph.output_name}/d{v} = {got}, but "
                           f"backprop gives {want}", hint="please report this: one of the two is wrong")


def _add(d: Derivation, name: str, args: tuple[int, ...], shape: tuple[int, ...]) -> int:
    d.nodes.append(gate(name, args, None))
    d.names.append("")
    d.shapes.append(shape)
    return len(d.nodes) - 1


def _constant(d: Derivation, value: float) -> int:
    d.nodes.append(Node(Kind.CONST, value=float(value), text=repr(float(value))))
    d.names.append("")
    d.shapes.append(())
    return len(d.nodes) - 1


def _array(d: Derivation, a: Array) -> int:
    """An array of numbers as nodes: its entries as constants, stacked row by row ([[1, 2], [3, 4]])."""
    if a.ndim == 0:
        return _constant(d, float(a))
    rows = [_array(d, row) for row in a]  # as deep as the array has axes
    return _add(d, "stack", tuple(rows), a.shape)


def _dot(d: Derivation, node: int, direction: Array) -> int:
    """sum(gradient * v) as nodes (v a constant of the gradient's shape)."""
    if direction.shape == ():
        return _add(d, "mul", (node, _constant(d, float(direction))), ())
    return _add(d, "dot", (node, _array(d, direction)), ())


def _zeros_like_input(d: Derivation, i: int) -> int:
    zero = _constant(d, 0.0)
    return _add(d, "mul", (i, zero), d.shapes[i])
