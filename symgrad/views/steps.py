"""The chain rule, node by node in backward order, with the numbers filled in.

    ∂f/∂q = ∂f/∂f · ∂f/∂q|local = 1 · z = 1 · (-4) = -4
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..engine import Trace
from ..graph import Graph, Kind
from ..numbers import short, signed_sum
from ..records import Record
from .plain import UNICODE, Symbols


def _paren(text: str) -> str:
    """A factor in a product: in parentheses if it is negative or a sum."""
    return f"({text})" if text.startswith("-") or " + " in text or " - " in text else text


@dataclass(frozen=True)
class Step:
    """One line of the backward pass: the gradient `left` equals the product `middle`, which is
    `result`; `node` is the record whose chain rule it is (the consumer sending the gradient down,
    or the node whose branches add up)."""

    node: int
    left: str
    middle: str
    result: str
    note: str


def rows(trace: Trace, records: list[Record], *, digits: int = 4, sym: Symbols = UNICODE) -> list[Step]:
    """The backward pass's chain rule, a Step per edge in backward order (output first), with a
    Step where a node's branches add up.  Empty for a Jacobian (no single upstream gradient)."""
    d, dot = sym.partial, sym.dot
    out = trace.graph.output_name
    if trace.mode == "jacobian":
        return []
    found: list[Step] = []
    for rec in reversed(records):
        if rec.upstream is None or rec.kind in ("input", "const"):
            if rec.kind == "input" and len(rec.contributions) > 1:
                found.append(_branches(rec, records, out, digits, sym))
            continue
        if len(rec.contributions) > 1:
            found.append(_branches(rec, records, out, digits, sym))
        up = short(rec.upstream, digits, oneline=True)
        for e in rec.edges:
            if e.downstream is None:
                continue
            target = records[e.source]
            via = f" (via {rec.label})" if len(target.contributions) > 1 else ""
            if rec.inputs.count(e.source) > 1:  # x * x: say which side
                via = f" (via {rec.label}, as {e.param})"
            left = f"{d}{out}/{d}{target.label}{via}"
            local_name = f"{d}{rec.label}/{d}{target.label}|local"
            first = f"{d}{out}/{d}{rec.label}" if not rec.is_output else f"{d}{out}/{d}{out}"
            formula, loc, kind, vjp = e.text, e.local, e.kind, e.vjp_form
            if not vjp and (kind == "elementwise" or loc is not None):
                value = short(loc, digits, oneline=True)
                shown = formula if kind == "elementwise" and formula and formula != value else ""
                middle = f"{first} {dot} {local_name} = {up} {dot} " + (
                    f"{_paren(shown)} = {up} {dot} {_paren(value)}" if shown else _paren(value))
            elif vjp:  # written as a vector-Jacobian product: matmul, transpose, softmax
                middle = re.sub(r"\bg\b", f"{d}{out}/{d}{rec.label}", formula)
            else:
                how = f" = {up} {dot} {formula}" if formula else ""
                middle = f"{first} {dot} {local_name}{how}"
            note = f"({rec.gate} {rec.role})" if rec.role else ""
            found.append(Step(rec.id, left, middle, short(e.downstream, digits, oneline=True), note))
    return found


def seed(trace: Trace, digits: int = 4, sym: Symbols = UNICODE) -> str:
    """Where the backward pass starts: the gradient of the output with respect to itself."""
    d, out = sym.partial, trace.graph.output_name
    start = short(trace.upstream, digits, oneline=True) if trace.upstream is not None else "1"
    return f"backward pass, starting from {d}{out}/{d}{out} = {start}"


def render(trace: Trace, records: list[Record], *, digits: int = 4, sym: Symbols = UNICODE) -> str:
    """The backward pass as aligned text: the seed, then a line per Step."""
    if trace.mode == "jacobian":
        return ("backward steps need a scalar output, or --upstream to give the gradient arriving at the "
                f"output {trace.graph.output_name}\n")
    rows_ = [(r.left, r.middle, r.result, r.note) for r in rows(trace, records, digits=digits, sym=sym)]
    head = seed(trace, digits, sym)
    width_left = max((len(r[0]) for r in rows_), default=0)
    width_mid = max((len(r[1]) for r in rows_), default=0)
    scalars = all(not r[2].startswith("[") for r in rows_)
    width_result = max((len(r[2]) for r in rows_), default=0) if scalars else 0
    lines = [head]
    for left, middle, result, note in rows_:
        text = f"  {left.ljust(width_left)} = {middle.ljust(width_mid)} = {result.rjust(width_result)}"
        lines.append(f"{text}   {note}" if note else text)
    return "\n".join(lines) + "\n"


def _branches(rec: Record, records: list[Record], out: str, digits: int, sym: Symbols) -> Step:
    d = sym.partial
    parts = signed_sum([short(v, digits, oneline=True) for _, v in rec.contributions])
    total = short(rec.upstream, digits, oneline=True) if rec.upstream is not None else "0"
    via = ", ".join(records[c].label for c, _ in rec.contributions)
    return Step(rec.id, f"{d}{out}/{d}{rec.label}", parts, total, f"(branches add: via {via})")


def symbolic(graph: Graph, *, sym: Symbols = UNICODE) -> str:
    """The chain rule without numbers (--steps without --at): for each gate in backward order and
    each input, upstream · local = downstream as formulas in the graph's names, and where a node
    feeds several others, its branches adding up.  Scalars (no point gives shapes)."""
    from .. import derive as D

    d, dot = sym.partial, sym.dot
    out = graph.output_name
    try:
        derivation = D.derive(graph)
    except D.NotDerivable as exc:
        return f"backward steps: {exc.message}\n"

    def shown(node: int) -> str:
        return _shown(derivation, node)

    lines = [f"backward pass, starting from {d}{out}/{d}{out} = 1"]
    for i in range(graph.output, -1, -1):
        node = graph.nodes[i]
        if i not in derivation.grads or not graph.labels[i]:
            continue
        parts = derivation.parts.get(i, [])
        if len(parts) > 1:
            total = " + ".join(shown(p) for p in parts)
            lines.append(f"  {d}{out}/{d}{graph.labels[i]} = {total} = {shown(derivation.grads[i])}"
                         "   (branches add)")
        if node.prim is None or graph.nodes[i].group is not None:
            continue
        args = [graph.labels[j] for j in node.inputs]
        for k, j in enumerate(node.inputs):
            if not node.prim.differentiable(k) or graph.nodes[j].kind is Kind.CONST:
                continue
            formula, vjp = node.prim.local_formula(k, args, graph.labels[i])
            if vjp or not formula:
                continue
            upstream = f"{d}{out}/{d}{graph.labels[i]}" if i != graph.output else f"{d}{out}/{d}{out}"
            local = f"{d}{graph.labels[i]}/{d}{graph.labels[j]}|local"
            sent = [p for p, c in zip(derivation.parts.get(j, []), derivation.senders.get(j, [])) if c == i]
            part = sent[node.inputs[:k].count(j)] if len(sent) > node.inputs[:k].count(j) else None
            result = f" = {shown(part)}" if part is not None else ""
            via = f" (via {graph.labels[i]})" if len(derivation.parts.get(j, [])) > 1 else ""
            if node.inputs.count(j) > 1:  # x * x: say which side
                via = f" (via {graph.labels[i]}, as {node.prim.param(k)})"
            lines.append(f"  {d}{out}/{d}{graph.labels[j]}{via} = {upstream} {dot} {local}"
                         f" = {shown(derivation.grads[i])} {dot} {_paren(formula)}{result}")
    return "\n".join(lines) + "\n"


def _shown(derivation: Any, node: int) -> str:
    """A node of the derivation as a formula in the graph's names (… where it is too long)."""
    import sympy as sp

    from .. import derive as D

    expr = D.to_sympy(derivation, node)
    if sp.count_ops(expr) > D.LARGEST_FORMULA:
        return "…"
    text = D.written(sp.factor_terms(expr), "e" in derivation.graph.labels)
    return text if len(text) <= D.LONGEST_FORMULA else "…"
