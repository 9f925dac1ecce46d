"""Per-node records of one evaluation, as every view shows them.

A record is one row of the lecture's annotated graph: what the node
computes, its value, its local gradient with respect to each input, the
upstream gradient reaching it and what it sends down to each input.  Calls
of the user's functions appear as one grouped record; their inner nodes are
not shown (build with expand=True to see them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .engine import Trace, core, group_local, local_jacobian
from .graph import Kind, describe, edges

Array = np.ndarray


@dataclass
class RecordEdge:
    """One input of a shown node, as the lecture annotates the edge it comes in by."""

    source: int  # the input's record id
    param: str  # what the gate calls this input (a, b): tells the two sides of x * x apart
    kind: str  # "elementwise", "jacobian", "none", or "jacobian (shape)" where too large to show
    local: Array | None  # the local gradient d node / d input (None: no gradient, or too large)
    text: str  # the local gradient as a formula in the labels ("" where the table has none)
    vjp_form: bool  # is `text` a vector-Jacobian product with g, the upstream gradient?
    downstream: Array | None  # the downstream gradient: what the node sends to this input


@dataclass
class Record:
    id: int  # position among the shown records
    node: int  # the graph node it stands for
    label: str  # x, q, n1, f
    name: str | None  # the user's name, if any
    op: str  # input, const, a primitive's name, or call (as in JSON)
    kind: str  # "input", "const", "call" (one of the user's functions) or "gate" (a primitive)
    gate: str | None  # a gate by the name it is called by (max for the largest element), or the function
    function: str | None  # for a call: the user's function
    edges: tuple[RecordEdge, ...]  # one per input, in argument order (none for inputs and constants)
    computes: str  # "x + y", "sq(x)"
    shape: tuple[int, ...]  # the value's shape: () for a scalar
    value: Array
    upstream: Array | None  # d output / d node: the upstream gradient that reaches it
    contributions: list[tuple[int, Array]]  # (consumer record id, gradient), where it feeds several
    role: str | None  # distributes, routes, switches
    kink: str | None  # the convention used where the gate is not differentiable
    is_output: bool

    @property
    def inputs(self) -> tuple[int, ...]:
        """The inputs' record ids, in argument order."""
        return tuple(e.source for e in self.edges)


def records(trace: Trace) -> list[Record]:
    """One record per shown node, in node order (a grouped gate's inner nodes are not shown)."""
    graph = trace.graph
    shown = [i for i in range(len(graph.nodes)) if graph.visible(i)]
    rid = {node: k for k, node in enumerate(shown)}
    contributions = _contributions(trace, rid)
    out: list[Record] = []
    for k, i in enumerate(shown):
        node = graph.nodes[i]
        if node.group is not None:
            op, function = "call", graph.groups[node.group].function
            gate: str | None = function
            edge_list, role, kink = _group_edges(trace, node.group, rid), None, _group_kink(trace, node.group)
        else:
            op, function = node.op, None
            gate = node.prim.called_as if node.prim is not None else None
            edge_list = _gate_edges(trace, i, rid)
            role = node.prim.role if node.prim is not None else None
            kink = trace.kinks.get(i)
        upstream = trace.grads[i]
        out.append(Record(
            id=k, node=i, label=graph.labels[i], name=node.name, op=op, function=function,
            kind="call" if node.group is not None else "gate" if node.kind is Kind.GATE else node.kind.value,
            gate=gate, edges=edge_list, computes=describe(graph, i), shape=core(trace.values[i]),
            value=trace.value_of(trace.values[i]), upstream=None if upstream is None else trace.grad_of(upstream),
            contributions=contributions[i], role=role, kink=kink, is_output=i == graph.output,
        ))
    return out


def _contributions(trace: Trace, rid: dict[int, int]) -> dict[int, list[tuple[int, Array]]]:
    """Per node: what each consumer sends it, (consumer record id, gradient) in consumer order; a
    consumer reading it twice (x * x), or several nodes of one grouped gate, count as one."""
    graph = trace.graph
    found: dict[int, list[tuple[int, Array]]] = {}
    for i in rid:
        cons = found[i] = []
        for flow in trace.consumers(i):
            g = graph.nodes[flow.edge.target].group
            owner = rid[graph.groups[g].output if g is not None else flow.edge.target]
            d = trace.grad_of(flow.downstream)
            if cons and cons[-1][0] == owner:
                cons[-1] = (owner, cons[-1][1] + d)
            else:
                cons.append((owner, d))
    return found


def _gate_edges(trace: Trace, i: int, rid: dict[int, int]) -> tuple[RecordEdge, ...]:
    """A primitive's edges: elementwise local gradients, or small Jacobians (else only their shape)."""
    graph = trace.graph
    node = graph.nodes[i]
    prim = node.prim
    if prim is None:
        return ()
    flows = {f.edge.position: f for f in trace.flows[i]}
    args = [graph.labels[j] for j in node.inputs]
    result = []
    for e in edges(node, i):
        flow = flows.get(e.position)
        text, vjp_form = prim.local_formula(e.position, args, graph.labels[i])
        local: Array | None = None
        if not trace.dep[e.source] or not e.differentiable:
            kind = "none"
        elif prim.elementwise:
            kind = "elementwise"
            if flow is not None and flow.local is not None:  # a constant one is shown at the node's shape
                part = flow.local if not isinstance(flow.local, float) else np.full(trace.values[i].shape, flow.local)
                local = trace.value_of(part)
        else:
            local = local_jacobian(trace, i, e.position)
            shape = core(trace.values[i]) + core(trace.values[e.source])
            kind = "jacobian" if local is not None else f"jacobian {shape}"
        result.append(RecordEdge(
            rid[e.source], prim.param(e.position), kind, local, text, vjp_form,
            None if flow is None else trace.grad_of(flow.downstream)))
    return tuple(result)


def _group_edges(trace: Trace, group: int, rid: dict[int, int]) -> tuple[RecordEdge, ...]:
    """A grouped gate's edges: its local gradients by backprop through its body alone, and what
    each parameter's node passes on."""
    graph = trace.graph
    grp = graph.groups[group]
    i = grp.output
    raw = group_local(trace, group) if trace.dep[i] else tuple(None for _ in grp.args)
    names = graph.functions[grp.function].params
    result = []
    for k, (a, p) in enumerate(zip(grp.args, grp.params)):
        part = raw[k]
        local = None if part is None else trace.value_of(part)
        shape = core(trace.values[i]) + core(trace.values[a])
        kind = "jacobian" if local is not None else ("none" if not trace.dep[a] else f"jacobian {shape}")
        passed = trace.flows[p]
        result.append(RecordEdge(
            rid[a], names[k], kind, local, f"d{grp.function}/d{graph.labels[a]}", False,
            trace.grad_of(passed[0].downstream) if passed else None))
    return tuple(result)


def _group_kink(trace: Trace, group: int) -> str | None:
    grp = trace.graph.groups[group]
    inside = [text for node, text in trace.kinks.items() if grp.start <= node <= grp.output]
    return "; ".join(dict.fromkeys(inside)) if inside else None
