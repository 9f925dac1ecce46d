"""The checks as text: a line per input element, the derivatives, and the verdict."""

from __future__ import annotations

from typing import Any

from ..checks import Check, backprop_value, combined, elements, summary
from ..engine import Trace
from ..graph import Graph, describe
from ..numbers import short
from .plain import Symbols

SHOWN_ROWS = 24
SPECIAL = ("kink", "infinite", "undefined", "unstable", "skipped")


def _num(values: Any, digits: int) -> str:
    flat = list(values)
    return short(flat[0], digits) if len(flat) == 1 else short(flat, digits, oneline=True)


def _err(r: Any) -> str:
    """The error column: the relative error where it judged, the absolute difference of two
    numbers that are both zero to within the floor (abs 2e-17)."""
    if r.verdict == "zero" and r.abs_error is not None:
        return f"abs {r.abs_error:.0e}"
    v = r.rel_error
    return "" if v is None else ("0" if v == 0 else f"{v:.1e}")


def lines(checks: list[Check], trace: Trace, sym: Symbols, digits: int, wrt: list[str] | None = None,
          width: int | None = None) -> list[str]:
    """The checks as lines of text: a row per input element, the reasons of the special verdicts,
    the derivatives, notes and the summary.  With `width` (a terminal's columns), a table wider
    than that becomes one line per element, and long lines wrap with an indent."""
    by_kind = {c.kind: c for c in checks}
    sym_check, num_check = by_kind.get("symbolic"), by_kind.get("numeric")
    rows = [["input", "backprop", "symbolic", "rel. error", "numeric", "rel. error", "verdict"]]
    todo = elements(trace, wrt)
    verdicts = combined(checks)
    for var, idx, label in todo[:SHOWN_ROWS]:
        cells = [label, _num(backprop_value(trace, var, idx), digits)]
        for check in (sym_check, num_check):
            r = check.inputs.get(label) if check else None
            if r is None or check is None or check.status == "skipped":
                cells += ["-", ""]
                continue
            shown = r.text or (_num(r.reference, digits) if r.reference else "-")
            cells += [shown, _err(r)]
        name = verdicts.get(label, ("skipped", ""))[0]
        cells.append("WRONG" if name == "wrong" else sym.zero if name == "zero" else name)
        rows.append(cells)
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    out = ["  ".join(cell.ljust(widths[c]) for c, cell in enumerate(row)).rstrip() for row in rows]
    if width is not None and sum(widths) + 2 * (len(widths) - 1) > width:
        out = [_compact(row, sym) for row in rows[1:]]
    if len(todo) > SHOWN_ROWS:
        out.append(f"... and {len(todo) - SHOWN_ROWS} more input elements")
    reasons: dict[str, list[str]] = {}
    for label, (name, reason) in verdicts.items():
        if name in SPECIAL and reason:
            reasons.setdefault(f"{name}: {reason}", []).append(label)
    for check in checks:  # an element one check could not judge, where another could
        for label, r in check.inputs.items():
            if r.verdict == "skipped" and r.reason and verdicts.get(label, ("skipped", ""))[0] != "skipped":
                reasons.setdefault(f"{check.kind} check skipped: {r.reason}", []).append(label)
    for text, labels in reasons.items():
        out.append(f"{', '.join(labels[:8])}{' ...' if len(labels) > 8 else ''}  {text}")
    if sym_check is not None:
        out += derivative_lines(trace.graph, sym_check, sym)
    notes = [f"{c.kind}: {c.note}" for c in checks if c.note]
    out += [f"note: {n}" for n in notes]
    out.append(summary(checks)[1])
    if width is None:
        return out
    import textwrap

    return [wrapped for line in out for wrapped in (textwrap.wrap(line, width, subsequent_indent="    ",
                                                                  break_on_hyphens=False) or [""])]


def _compact(row: list[str], sym: Symbols) -> str:
    """One element's row for a narrow terminal: x  nan  symbolic 5.07596e-435  numeric 0  unstable."""
    label, backprop, symbolic, sym_err, numeric, num_err, verdict = row
    parts = [f"{label}  backprop {backprop}", f"symbolic {symbolic}" + (f" ({sym_err})" if sym_err else ""),
             f"numeric {numeric}" + (f" ({num_err})" if num_err else ""), verdict]
    return f" {sym.dot} ".join(parts)


def derivative_lines(graph: Graph, check: Check, sym: Symbols) -> list[str]:
    d, out = sym.partial, graph.output_name
    lines = []
    for label, text in check.derivatives.items():
        lines.append(f"{d}{out}/{d}{label} = {text}{_where(graph, text)}")
    for label, text in check.latex.items():
        lines.append(f"latex: \\frac{{\\partial {out}}}{{\\partial {label}}} = {text}")
    return lines


def _where(graph: Graph, text: str) -> str:
    """The definitions of the named intermediates a derivative mentions: (q = x + y)."""
    words = set(text.replace("(", " ").replace(")", " ").replace("*", " ").replace("+", " ")
                .replace("-", " ").replace("/", " ").split())
    defs = [f"{graph.labels[i]} = {describe(graph, i)}" for i, n in enumerate(graph.nodes)
            if n.name and n.prim is not None and i != graph.output and graph.labels[i] in words]
    return f"    where {', '.join(defs)}" if defs else ""


def exact_line(check: Check, graph: Graph, sym: Symbols) -> str | None:
    if not check.exact:
        return None
    d, out = sym.partial, graph.output_name
    def equals(v: str) -> str:  # "= 1/4", or "≈ 2.69e+43" where the value could not be kept exact
        return v if v.startswith("≈") else f"= {v}"

    parts = [f"{out} {equals(check.exact[out])}"] if out in check.exact else []
    parts += [f"{d}{out}/{d}{label} {equals(v)}" for label, v in check.exact.items() if label != out]
    return "exact: " + ", ".join(parts)
