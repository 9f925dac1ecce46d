"""The result as one strict JSON object (full precision, no NaN literals)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..engine import Trace
from ..errors import SymgradError
from ..graph import Graph, describe
from ..numbers import exact
from ..records import Record
from .source import program_text

if TYPE_CHECKING:  # the checks are imported only where there are checks to write
    from ..checks import Check

SCHEMA_VERSION = 2  # of every JSON record symgrad writes; the schemas are in symgrad/schemas/


def envelope(body: dict[str, Any]) -> dict[str, Any]:
    """Every JSON record symgrad writes, in one place: schema_version and symgrad_version first,
    then the record's own keys (the schemas are in symgrad/schemas/)."""
    return {"schema_version": SCHEMA_VERSION, "symgrad_version": __version__, **body}


def result(trace: Trace, records: list[Record], wrt: list[str] | None = None,
           checks: list[Check] | None = None) -> dict[str, Any]:
    """One expression at one point, with its checks: the result record."""
    return envelope(result_body(trace, records, wrt, checks))


def result_body(trace: Trace, records: list[Record], wrt: list[str] | None = None,
                checks: list[Check] | None = None) -> dict[str, Any]:
    """The result record without its envelope (a batch line carries it in its own)."""
    graph = trace.graph
    nodes = []
    for r in records:
        node: dict[str, Any] = {
            "id": r.id,
            "name": r.name,
            "label": r.label,
            "op": r.op,
            "inputs": list(r.inputs),
            "computes": r.computes,
            "shape": list(r.shape),
            "value": exact(r.value),
            "grad": None if r.upstream is None else exact(r.upstream),
            "local": [None if e.local is None else exact(e.local) for e in r.edges],
            "local_kind": [e.kind for e in r.edges],
            "downstream": [None if e.downstream is None else exact(e.downstream) for e in r.edges],
        }
        if r.function is not None:
            node["function"] = r.function
        if len(r.contributions) > 1:
            node["contributions"] = [{"from": c, "value": exact(v)} for c, v in r.contributions]
        if r.kink:
            node["kink"] = r.kink
        nodes.append(node)
    return _head(graph) | {
        "at": {v: exact(trace.value_of(trace.values[i])) for v, i in zip(graph.variables, graph.inputs)},
        "output": graph.output_name,
        "shape": list(trace.out_shape),
        "value": exact(trace.value),
        ("jacobian" if trace.mode == "jacobian" else "gradient"): {
            v: (exact(trace.gradient[v]) if v in trace.gradient else None)
            for v in graph.variables if wrt is None or v in wrt
        },
        "upstream": None if trace.upstream is None else exact(trace.upstream),
        "index_only": list(graph.index_only),
        "warnings": [w.message for w in trace.warnings] + list(graph.warnings),
        "kinks": [{"node": r.id, "convention": r.kink} for r in records if r.kink],
        "nodes": nodes,
    } | ({} if not checks else checks_json(checks))


def checks_json(checks: list[Check]) -> dict[str, Any]:
    from ..checks import summary

    agree, line = summary(checks)
    out: dict[str, Any] = {"checks": {c.kind: check_json(c) for c in checks} | {"agree": agree, "summary": line}}
    exact = next((c.exact for c in checks if c.exact), None)
    if exact:
        out["exact"] = exact
    return out


def check_json(c: Check) -> dict[str, Any]:
    return {
        "status": c.status,
        "reason": c.reason,
        "note": c.note,
        "derivatives": dict(c.derivatives),
        **({"latex": dict(c.latex)} if c.latex else {}),
        "inputs": {
            label: {"verdict": r.verdict, "rel_error": None if r.rel_error is None else exact(r.rel_error),
                    "abs_error": None if r.abs_error is None else exact(r.abs_error),
                    "kink": r.kink, "value": [exact(v) for v in r.reference], "reason": r.reason,
                    "text": r.text, "sides": None if r.sides is None else [[exact(v) for v in side]
                                                                          for side in r.sides]}
            for label, r in c.inputs.items()
        },
    }


def symbolic_only(graph: Graph, check: Check) -> dict[str, Any]:
    """No point given: the graph and the symbolic derivatives, without numbers."""
    return envelope(_head(graph)) | {
        "output": graph.output_name,
        "derivatives": dict(check.derivatives),
        "checks": {"symbolic": check_json(check)},
        "nodes": [
            {"id": i, "name": n.name, "label": graph.labels[i], "op": n.op, "inputs": list(n.inputs),
             "computes": describe(graph, i)}
            for i, n in enumerate(graph.nodes)
        ],
    }


def _head(graph: Graph) -> dict[str, Any]:
    """The keys every result starts with, after the envelope."""
    return {
        "expression": graph.source.text,
        "program": program_text(graph.program),
        "variables": list(graph.variables),
    }


def error(err: SymgradError) -> dict[str, Any]:
    """An error record: where, what, and a hint."""
    return envelope(error_body(err))


def error_body(err: SymgradError) -> dict[str, Any]:
    """{"error": {kind, message, line, column, hint?, source?}}, without the envelope."""
    line, column = err.line_col
    body: dict[str, Any] = {"kind": err.kind, "message": err.message, "line": line, "column": column}
    if err.hint:
        body["hint"] = err.hint
    if err.source is not None:
        body["source"] = err.source.name
    return {"error": body}


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False)
