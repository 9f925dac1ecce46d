"""Forward and backward passes: one loop each over the graph's node list.

Values are NumPy arrays.  A leading point axis (many points at once) passes
through every elementwise primitive untouched, so one pass evaluates many
points.  Backward starts from d(output)/d(output) = 1 and records, for every
node, the local gradient with respect to each input, the upstream gradient
that reaches it and the gradient it sends to each input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import primitives as P
from .errors import SymgradError
from .graph import Graph, describe

Array = np.ndarray


@dataclass
class Warning_:
    node: int | None
    message: str


@dataclass
class Trace:
    """Everything one evaluation found, node by node (graph node ids)."""

    graph: Graph
    values: list[Array]
    grads: list[Array | None]  # d output / d node; None where the node depends on no input
    local: list[tuple[Array | None, ...]]  # per input: d node / d input
    sent: list[tuple[Array | None, ...]]  # per input: what this node sends down to it
    contributions: list[list[tuple[int, Array]]]  # per node: (consumer, gradient), consumers in order
    dep: list[bool]  # does the node depend on any input?
    kinks: dict[int, str] = field(default_factory=dict)  # node -> the convention used there
    warnings: list[Warning_] = field(default_factory=list)

    @property
    def value(self) -> Array:
        return self.values[self.graph.output]

    @property
    def gradient(self) -> dict[str, Array]:
        """d output / d input for every input, in input order."""
        out = {}
        for name, node in zip(self.graph.variables, self.graph.inputs):
            g = self.grads[node]
            out[name] = np.zeros_like(self.values[node]) if g is None else g
        return out


def check_point(graph: Graph, at: Mapping[str, Any]) -> None:
    missing = [v for v in graph.variables if v not in at]
    unknown = [v for v in at if v not in graph.variables]
    if unknown:
        known = ", ".join(graph.variables) or "none"
        raise SymgradError("binding", f"a value is given for {unknown[0]}, which is not a variable of "
                           f"{graph.header} (its variables: {known})")
    if missing:
        raise SymgradError("binding", f"no value for {missing[0]}",
                           hint=f"give every variable a value: --at {','.join(v + '=1' for v in missing)}")


def forward(graph: Graph, at: Mapping[str, Any]) -> tuple[list[Array], list[Warning_]]:
    """Every node's value at a point; warnings where a value stops being finite."""
    check_point(graph, at)
    values: list[Array] = []
    warnings: list[Warning_] = []
    finite: list[bool] = []
    with np.errstate(all="ignore"):
        for i, node in enumerate(graph.nodes):
            if node.op == "input":
                assert node.name is not None
                try:
                    v = np.asarray(at[node.name], dtype=float)
                except (TypeError, ValueError):
                    raise SymgradError("binding", f"the value of {node.name} is not a number") from None
            elif node.op == "const":
                v = np.asarray(node.value, dtype=float)
            else:
                args = [values[j] for j in node.inputs]
                v = np.asarray(P.PRIMITIVES[node.op].forward(*args), dtype=float)
            ok = bool(np.isfinite(v).all())
            if not ok and node.op == "input":
                warnings.append(Warning_(i, f"the value given for {node.name} is {_what(v)}"))
            elif not ok and all(finite[j] for j in node.inputs) and node.op != "const":
                warnings.append(Warning_(i, _bad_value(graph, i, v, values)))
            values.append(v)
            finite.append(ok)
    return values, warnings


def _what(v: Array) -> str:
    return "nan (undefined)" if np.isnan(v).any() else "infinite"


def _bad_value(graph: Graph, i: int, v: Array, values: list[Array]) -> str:
    what = _what(v)
    node = graph.nodes[i]
    shown = ", ".join(f"{graph.labels[j]} = {_num(values[j])}" for j in node.inputs
                      if graph.nodes[j].op != "const")
    where = f" at {shown}" if shown else ""
    return f"{graph.labels[i]} = {describe(graph, i)} is {what}{where}"


def _num(v: Array) -> str:
    if v.ndim == 0:
        return f"{float(v):.6g}"
    return f"array of shape {v.shape}"


def unbroadcast(g: Array, shape: tuple[int, ...]) -> Array:
    """Sum a gradient over the axes broadcasting added, back to `shape`."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(k for k, n in enumerate(shape) if n == 1 and g.shape[k] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


def depends_on_inputs(graph: Graph) -> list[bool]:
    dep: list[bool] = []
    for node in graph.nodes:
        dep.append(node.op == "input" or any(dep[j] for j in node.inputs))
    return dep


Grads = dict[int, Array]
Edges = dict[int, tuple[Array | None, ...]]
Contributions = dict[int, list[tuple[int, Array]]]


def sweep(graph: Graph, values: list[Array], dep: list[bool], start: int, top: int,
          seed: Array) -> tuple[Grads, Edges, Edges, Contributions]:
    """Backpropagate `seed` from node `top` through nodes start..top, in reverse.

    Returns, by node id, the gradient reaching each node, the local gradients,
    what each node sends down, and each node's contributions (consumer,
    gradient) in reverse consumer order.
    """
    grads: Grads = {top: seed}
    local: Edges = {}
    sent: Edges = {}
    contributions: Contributions = {}
    with np.errstate(all="ignore"):
        for i in range(top, start - 1, -1):
            node = graph.nodes[i]
            if not dep[i] or node.op == "input":
                continue
            g = grads.get(i)
            if g is None:  # nothing downstream of it reaches the top
                g = grads[i] = np.zeros_like(values[i])
            prim = P.PRIMITIVES[node.op]
            args = [values[j] for j in node.inputs]
            out = values[i]
            locs: list[Array | None] = []
            downs: list[Array | None] = []
            for k, j in enumerate(node.inputs):
                if not dep[j]:
                    locs.append(None)
                    downs.append(None)
                    continue
                part = np.asarray(prim.partials[k](out, *args), dtype=float)
                d = unbroadcast(g * part, values[j].shape)
                locs.append(part)
                downs.append(d)
                cons = contributions.setdefault(j, [])
                if cons and cons[-1][0] == i:  # the same input twice (x * x): one contribution
                    cons[-1] = (i, cons[-1][1] + d)
                else:
                    cons.append((i, d))
                prev = grads.get(j)
                grads[j] = d if prev is None else prev + d
            local[i] = tuple(locs)
            sent[i] = tuple(downs)
    return grads, local, sent, contributions


def backward(graph: Graph, values: list[Array]) -> Trace:
    dep = depends_on_inputs(graph)
    out = graph.output
    n = len(graph.nodes)
    g, loc, snt, con = sweep(graph, values, dep, 0, out, np.ones_like(values[out]))
    grads: list[Array | None] = [g.get(i) for i in range(n)]
    for i in graph.inputs:  # inputs nothing reads still have a gradient: 0
        if grads[i] is None:
            grads[i] = np.zeros_like(values[i])
    trace = Trace(
        graph, values, grads, [loc.get(i, ()) for i in range(n)], [snt.get(i, ()) for i in range(n)],
        [con.get(i, [])[::-1] for i in range(n)], dep,
    )
    _inspect(trace)
    return trace


def _inspect(trace: Trace) -> None:
    """Flag kinks, and gradients that stop being finite where the values are."""
    graph, values = trace.graph, trace.values
    for i, node in enumerate(graph.nodes):
        if node.op in ("input", "const"):
            continue
        prim = P.PRIMITIVES[node.op]
        at_kink = prim.kink is not None and trace.grads[i] is not None and bool(
            np.any(prim.kink(*[values[j] for j in node.inputs])))
        if at_kink:
            trace.kinks[i] = prim.kink_text or "not differentiable here"
        g = trace.grads[i]
        if g is None or not np.isfinite(g).all() or not np.isfinite(values[i]).all():
            continue
        for k, d in enumerate(trace.sent[i]):
            if d is not None and not np.isfinite(d).all():
                j = node.inputs[k]
                trace.warnings.append(Warning_(
                    i, f"the gradient {graph.labels[i]} = {describe(graph, i)} sends to {graph.labels[j]} "
                    f"is {_what(d)} "
                    f"at {graph.labels[j]} = {_num(values[j])}"))


def evaluate(graph: Graph, at: Mapping[str, Any]) -> Trace:
    """Forward and backward at one point (or, along a leading axis, at many)."""
    values, warnings = forward(graph, at)
    trace = backward(graph, values)
    trace.warnings[:0] = warnings
    return trace


def group_local(trace: Trace, group: int) -> tuple[Array | None, ...]:
    """Local gradients of a grouped gate: backprop 1 through its body alone."""
    graph = trace.graph
    grp = graph.groups[group]
    dep = trace.dep
    seed = np.ones_like(trace.values[grp.output])
    _, _, _, contributions = sweep(graph, trace.values, dep, grp.start, grp.output, seed)
    out: list[Array | None] = []
    for a in grp.args:
        if not dep[a]:
            out.append(None)
            continue
        inside = [d for c, d in contributions.get(a, []) if grp.start <= c <= grp.output]
        out.append(sum(inside[1:], inside[0]) if inside else np.zeros_like(trace.values[a]))
    return tuple(out)
