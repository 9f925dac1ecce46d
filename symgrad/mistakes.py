"""Naming a backprop mistake: the usual mistakes, tried on the graph itself.

A wrong answer for a gradient is compared with what backprop gives when one step goes wrong the
way students' steps go wrong (the lecture's list):

- a branch left out where a node fans out (its gradients must add);
- a gate's local gradient not multiplied by the upstream gradient, or the upstream gradient
  passed on without the local gradient;
- the gate's own slip, from the table of primitives (`Primitive.mistakes`): the inputs of a mul
  gate swapped, a sign lost at a subtraction or a unary minus, σ(x) where σ(x)(1 − σ(x)) was
  needed, tanh where 1 − tanh² was, exp's input where its output was;
- the node's value given instead of its gradient.

Each mistake is one backward pass (engine.sweep with an edge rule) from the output down to the
node asked about, at the gates between them only, and at most MAX_CANDIDATES of them: the work is
bounded whatever the graph's size.  The grader names the first candidate that reproduces the
answer and that the truth does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import primitives as P
from .engine import EdgeRule, Trace, core, edge_vjp, prim_args, sweep, unbroadcast
from .graph import Edge, describe, reach
from .numbers import short

Array = np.ndarray
MAX_CANDIDATES = 300  # simulated backward passes for one answer, at most


@dataclass(frozen=True)
class Candidate:
    """One mistake: the sentence that names it, and the answer it produces (shaped like the truth)."""

    sentence: str
    value: Array


def candidates(trace: Trace, kind: str, node: int, wrt: int | None = None) -> Iterator[Candidate]:
    """The mistakes that could explain a wrong answer about `node`: for kind "gradient", the
    gradient of the output with respect to the node; for "local", the node's local gradient with
    respect to its input `wrt`.  Nothing for values, for a Jacobian (a vector output without an
    upstream gradient) or for many points."""
    if trace.mode != "point":
        return
    if kind == "local" and wrt is not None:
        yield from _local(trace, node, wrt)
    elif kind == "gradient":
        yield from _gradient(trace, node)


def _gradient(trace: Trace, v: int) -> Iterator[Candidate]:
    graph, values = trace.graph, trace.values
    out = graph.output
    label = graph.labels
    below = reach(graph.nodes, [v])  # the nodes v's gradient passes through on its way back
    # nearest first: the student's last steps are the likeliest to have gone wrong
    between = [c for c in range(v, out + 1) if below[c] and trace.grads[c] is not None and graph.nodes[c].prim
               is not None and label[c]]
    count = 0
    for c in between:
        for sentence, rule in _rules_at(trace, c, below):
            if count >= MAX_CANDIDATES:
                return
            count += 1
            seed = np.ones((1, *trace.out_shape)) if trace.upstream is None else np.asarray(trace.upstream)[None]
            grads, _ = sweep(graph, values, trace.dep, v, out, seed, record=False, rule=rule)
            g = grads.get(v)
            if g is not None:
                yield Candidate(sentence, np.asarray(trace.grad_of(g), dtype=float))
    yield Candidate(f"you gave the value of {label[v]}, not the gradient ∂{graph.output_name}/∂{label[v]}",
                    np.asarray(trace.value_of(values[v]), dtype=float))
    yield from _broadcast(trace, v)


def _broadcast(trace: Trace, v: int) -> Iterator[Candidate]:
    """Sums over broadcast axes gone wrong: a gradient left at the shape v was broadcast to (one
    consumer's, before summing back to v's shape), or summed over every element of v."""
    graph = trace.graph
    shape = core(trace.values[v])
    flows = trace.consumers(v)
    wide = [f for f in flows if f.local is not None and core(trace.values[f.edge.target]) != shape]
    if len(flows) == 1 and wide:
        f = wide[0]
        g = trace.grads[f.edge.target]
        if g is not None:
            with np.errstate(all="ignore"):
                full = np.asarray(g * np.asarray(f.local), dtype=float)
            yield Candidate(f"you did not sum the gradient over the axes {graph.labels[v]} was broadcast along in "
                            f"{graph.labels[f.edge.target]} = {describe(graph, f.edge.target)}: its gradient has "
                            f"{graph.labels[v]}'s shape {shape}", np.asarray(trace.grad_of(full), dtype=float))
    grad = trace.grads[v]
    if shape != () and grad is not None:
        yield Candidate(f"you summed the gradient over all the elements of {graph.labels[v]}: it has "
                        f"{graph.labels[v]}'s shape {shape}", np.asarray(trace.grad_of(grad).sum(), dtype=float))


def _rules_at(trace: Trace, c: int, below: list[bool]) -> Iterator[tuple[str, EdgeRule]]:
    """Wrong edge rules at gate c, the most telling first: the gate's own slips from the table, a
    dropped branch out of c's inputs that fan out, the upstream gradient or the local gradient
    left out.  `below`: the nodes the gradient asked about passes through (a branch elsewhere
    changes nothing)."""
    graph = trace.graph
    node = graph.nodes[c]
    prim = node.prim
    assert prim is not None
    written = f"{graph.labels[c]} = {describe(graph, c)}"
    up = trace.grads[c]
    if prim.elementwise:
        for sentence, partials in prim.mistakes:
            yield sentence.format(node=written), _at_node(c, _with_partials(partials))
    for flow in trace.flows[c]:
        u = flow.edge.source
        fans = {f.edge.target for f in trace.consumers(u)}
        if below[u] and len(fans) > 1 and graph.labels[u]:
            yield (f"you left out the branch through {graph.labels[c]}: {graph.labels[u]} feeds {len(fans)} nodes, "
                   "and their gradients add"), _at_edge(flow.edge, _nothing)
    if up is not None and not np.all(np.asarray(up) == 1):
        yield (f"you did not multiply the local gradient of {written} by the upstream gradient "
               f"∂{graph.output_name}/∂{graph.labels[c]} = {short(trace.grad_of(up), 4, oneline=True)}"), \
            _at_node(c, _without_upstream)
    if prim.elementwise:
        yield (f"you passed the upstream gradient at {written} on without multiplying by its local gradient"), \
            _at_node(c, _without_local)


def _nothing(edge: Edge, prim: P.Primitive, g: Array, out: Array, args: list[Array],
             shape: tuple[int, ...]) -> tuple[Any, Array]:
    return None, np.zeros((g.shape[0], *shape))


def _without_upstream(edge: Edge, prim: P.Primitive, g: Array, out: Array, args: list[Array],
                      shape: tuple[int, ...]) -> tuple[Any, Array]:
    return edge_vjp(prim, edge.position, np.ones_like(g), out, args, shape)


def _without_local(edge: Edge, prim: P.Primitive, g: Array, out: Array, args: list[Array],
                   shape: tuple[int, ...]) -> tuple[Any, Array]:
    return None, unbroadcast(np.broadcast_to(g, np.broadcast_shapes(g.shape, out.shape)), shape)


def _with_partials(partials: tuple[Any, ...]) -> EdgeRule:
    def rule(edge: Edge, prim: P.Primitive, g: Array, out: Array, args: list[Array],
             shape: tuple[int, ...]) -> tuple[Any, Array]:
        part = np.asarray(partials[edge.position](out, *args), dtype=float)
        return part, unbroadcast(g * part, shape)
    return rule


def _at_node(c: int, wrong: EdgeRule) -> EdgeRule:
    """An edge rule: `wrong` on the edges into gate c, the right rule everywhere else."""
    def rule(edge: Edge, prim: P.Primitive, g: Array, out: Array, args: list[Array],
             shape: tuple[int, ...]) -> tuple[Any, Array]:
        if edge.target == c:
            return wrong(edge, prim, g, out, args, shape)
        return edge_vjp(prim, edge.position, g, out, args, shape)
    return rule


def _at_edge(e: Edge, wrong: EdgeRule) -> EdgeRule:
    """An edge rule: `wrong` on edge e alone."""
    def rule(edge: Edge, prim: P.Primitive, g: Array, out: Array, args: list[Array],
             shape: tuple[int, ...]) -> tuple[Any, Array]:
        if edge == e:
            return wrong(edge, prim, g, out, args, shape)
        return edge_vjp(prim, edge.position, g, out, args, shape)
    return rule


def _local(trace: Trace, q: int, x: int) -> Iterator[Candidate]:
    """A local gradient with the gate's own slips: its wrong partials, summed over the edges from x."""
    graph = trace.graph
    node = graph.nodes[q]
    prim = node.prim
    if prim is None or not prim.elementwise:
        return
    written = f"{graph.labels[q]} = {describe(graph, q)}"
    args = prim_args(prim, [trace.values[j] for j in node.inputs])
    out = trace.values[q]
    with np.errstate(all="ignore"):
        for sentence, partials in prim.mistakes:
            total = np.zeros(out.shape)
            for k, j in enumerate(node.inputs):
                if j == x:
                    total = total + np.asarray(partials[k](out, *args), dtype=float)
            if core(trace.values[x]) != core(out):
                total = unbroadcast(total, core(trace.values[x]))
            yield Candidate(sentence.format(node=written), np.asarray(trace.value_of(total), dtype=float))
