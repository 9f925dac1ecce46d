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

from . import primitives as P
from .engine import Trace, core, group_local, local_jacobian
from .graph import Graph, describe

Array = np.ndarray


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
    inputs: tuple[int, ...]  # record ids
    computes: str  # "x + y", "sq(x)"
    shape: tuple[int, ...]  # the value's shape: () for a scalar
    value: Array
    upstream: Array | None  # d output / d node: the gradient that reaches it
    local: tuple[Array | None, ...]  # d node / d input, per input (None: no gradient, or too large)
    local_kind: tuple[str, ...]  # per input: "elementwise", "jacobian", "none" or "jacobian (shape)"
    local_text: tuple[str, ...]  # the local gradient as a formula, per input
    local_vjp: tuple[bool, ...]  # per input: is local_text a product with g, the gradient from above?
    params: tuple[str, ...]  # what the gate calls its inputs (a, b), for telling x * x's sides apart
    sent: tuple[Array | None, ...]  # what it sends down to each input
    contributions: list[tuple[int, Array]]  # (consumer record id, gradient), where it feeds several
    role: str | None  # distributes, routes, switches
    kink: str | None  # the convention used where the gate is not differentiable
    is_output: bool


def records(trace: Trace) -> list[Record]:
    graph = trace.graph
    shown = [i for i in range(len(graph.nodes)) if graph.visible(i)]
    rid = {node: k for k, node in enumerate(shown)}

    def owner(consumer: int) -> int:
        g = graph.nodes[consumer].group
        return rid[graph.groups[g].output if g is not None else consumer]

    out: list[Record] = []
    for k, i in enumerate(shown):
        node = graph.nodes[i]
        if node.group is not None:
            grp = graph.groups[node.group]
            op, function, inputs = "call", grp.function, grp.args
            raw = group_local(trace, node.group) if trace.dep[i] else tuple(None for _ in inputs)
            local = tuple(None if v is None else trace.value_of(v) for v in raw)
            out_shape = core(trace.values[i])
            kinds = tuple(
                "jacobian" if v is not None
                else ("none" if not trace.dep[a] else f"jacobian {out_shape + core(trace.values[a])}")
                for v, a in zip(local, inputs)
            )
            sent = tuple(_sent_by(trace, p) for p in grp.params)
            local_text = tuple(f"d{grp.function}/d{graph.labels[a]}" for a in inputs)
            role, kink = None, _group_kink(trace, grp.start, grp.output)
            vjp_form: tuple[bool, ...] = tuple(False for _ in inputs)
        else:
            op, function, inputs = node.op, None, node.inputs
            prim = P.PRIMITIVES.get(node.op)
            local, kinds = _locals(trace, i, prim)
            sent = tuple(None if v is None else trace.grad_of(v) for v in trace.sent[i])
            sent = sent + (None,) * (len(inputs) - len(sent))  # a node no gradient reaches sends nothing
            local_text = _local_text(prim, [graph.labels[j] for j in inputs], graph.labels[i])
            role = prim.role if prim else None
            kink = trace.kinks.get(i)
            vjp_form = tuple("{g}" in t for t in prim.local_text) if prim else ()
        contributions: list[tuple[int, Array]] = []
        for consumer, d in trace.contributions[i]:
            c = owner(consumer)
            if contributions and contributions[-1][0] == c:
                contributions[-1] = (c, contributions[-1][1] + trace.grad_of(d))
            else:
                contributions.append((c, trace.grad_of(d)))
        upstream = trace.grads[i]
        out.append(Record(
            id=k, node=i, label=graph.labels[i], name=node.name, op=op, function=function,
            kind=op if op in ("input", "const", "call") else "gate",
            gate=function if op == "call" else (P.PRIMITIVES[op].called_as if op in P.PRIMITIVES else None),
            inputs=tuple(rid[j] for j in inputs), computes=describe(graph, i), shape=core(trace.values[i]),
            value=trace.value_of(trace.values[i]), upstream=None if upstream is None else trace.grad_of(upstream),
            local=local, local_kind=kinds, local_text=local_text, sent=sent, local_vjp=vjp_form,
            params=_params(graph, i),
            contributions=contributions, role=role, kink=kink, is_output=i == graph.output,
        ))
    return out


def _locals(trace: Trace, i: int, prim: P.Primitive | None) -> tuple[tuple[Array | None, ...], tuple[str, ...]]:
    """A node's local gradients: elementwise partials, or small Jacobians (else only their shape)."""
    if prim is None:
        return (), ()
    node = trace.graph.nodes[i]
    local: list[Array | None] = []
    kinds: list[str] = []
    for k, j in enumerate(node.inputs):
        part = trace.local[i][k] if k < len(trace.local[i]) else None
        if not trace.dep[j] or not prim.differentiable(k):
            local.append(None)
            kinds.append("none")
        elif prim.elementwise:
            local.append(None if part is None else trace.value_of(part))
            kinds.append("elementwise")
        else:
            jac = local_jacobian(trace, i, k)
            local.append(jac)
            shape = core(trace.values[i]) + core(trace.values[j])
            kinds.append("jacobian" if jac is not None else f"jacobian {shape}")
    return tuple(local), tuple(kinds)


def _params(graph: Graph, i: int) -> tuple[str, ...]:
    node = graph.nodes[i]
    if node.group is not None:
        return graph.functions[graph.groups[node.group].function].params
    prim = P.PRIMITIVES.get(node.op)
    return prim.params if prim else ()


def _sent_by(trace: Trace, param: int) -> Array | None:
    """What a grouped gate sends down to one argument: what its parameter node passes on."""
    sent = trace.sent[param]
    return None if not sent or sent[0] is None else trace.grad_of(sent[0])


def _group_kink(trace: Trace, start: int, end: int) -> str | None:
    inside = [text for node, text in trace.kinks.items() if start <= node <= end]
    return "; ".join(dict.fromkeys(inside)) if inside else None


def _local_text(prim: P.Primitive | None, args: list[str], label: str) -> tuple[str, ...]:
    """The local gradients as formulas in the inputs' labels ({out} is the node itself)."""
    if prim is None:
        return ()
    return tuple(t.replace("{out}", label).format(*args, g="g") for t in prim.local_text)
