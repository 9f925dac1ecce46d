"""The checks as text: a line per input element, the derivatives, and the verdict."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from ..checks import Check, backprop_value, combined, elements, summary
from ..engine import Trace
from ..graph import Graph, describe
from ..numbers import short
from . import terminal
from .plain import ASCII, Symbols

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


TITLES = ["input", "backprop", "symbolic", "rel. error", "numeric", "rel. error", "verdict"]


@dataclass
class Rows:
    """The checks table's cells, shared by the plain and the rich view: a row per input element
    (at most SHOWN_ROWS), each element's verdict (its name, before the words shown), and the lines
    after the table, each a (head, body) pair: the head starts the line, the body may wrap."""

    rows: list[list[str]]
    verdicts: list[str]
    tail: list[tuple[str, str]]
    failed: bool


def rows(checks: list[Check], trace: Trace, sym: Symbols, digits: int, wrt: list[str] | None = None) -> Rows:
    """The cells of the checks: a row per input element, then the elements not shown, the reasons of
    the special verdicts, the derivatives, notes and the summary."""
    by_kind = {c.kind: c for c in checks}
    sym_check, num_check = by_kind.get("symbolic"), by_kind.get("numeric")
    todo = elements(trace, wrt)
    verdicts = combined(checks)
    table: list[list[str]] = []
    names: list[str] = []
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
        table.append(cells)
        names.append(name)
    tail: list[tuple[str, str]] = []
    if len(todo) > SHOWN_ROWS:
        tail.append(("", f"... and {len(todo) - SHOWN_ROWS} more input elements"))
    reasons: dict[str, list[str]] = {}
    for label, (name, reason) in verdicts.items():
        if name in SPECIAL and reason:
            reasons.setdefault(f"{name}: {reason}", []).append(label)
    for check in checks:  # an element one check could not judge, where another could
        for label, r in check.inputs.items():
            if r.verdict == "skipped" and r.reason and verdicts.get(label, ("skipped", ""))[0] != "skipped":
                reasons.setdefault(f"{check.kind} check skipped: {r.reason}", []).append(label)
    for text, labels in reasons.items():
        tail.append((f"{', '.join(labels[:8])}{' ...' if len(labels) > 8 else ''}  ", text))
    if sym_check is not None:
        tail += _derivatives(trace.graph, sym_check, sym)
    tail += [("note: ", f"{c.kind}: {c.note}") for c in checks if c.note]
    ok, text = summary(checks)
    tail.append(("checks: ", text.removeprefix("checks: ")))
    return Rows(table, names, tail, not ok)


def lines(checks: list[Check], trace: Trace, sym: Symbols, digits: int, wrt: list[str] | None = None) -> list[str]:
    """The checks as lines of plain text: a row per input element, the reasons of the special
    verdicts, the derivatives, notes and the summary."""
    got = rows(checks, trace, sym, digits, wrt)
    table = [TITLES, *got.rows]
    widths = [max(len(r[c]) for r in table) for c in range(len(TITLES))]
    out = ["  ".join(cell.ljust(widths[c]) for c, cell in enumerate(row)).rstrip() for row in table]
    return out + [head + body for head, body in got.tail]


def render(console: Console, checks: list[Check], trace: Trace, sym: Symbols, digits: int,
           wrt: list[str] | None = None) -> None:
    """The checks for a terminal: the same cells as `lines` in a rich table that fits the console
    (the verdicts in colour, a matrix as aligned rows), then the lines after it, each wrapping under
    itself, and the exact values if they were asked for."""
    got = rows(checks, trace, sym, digits, wrt)
    ascii_only = sym == ASCII
    shape = trace.out_shape if trace.mode == "jacobian" else ()  # each element's row of the Jacobian
    for merged in (False, True):
        table = _table(got, ascii_only, shape, merged)
        if terminal.fit(console, table, tighter=merged):
            break
    console.print(table)
    for head, body in got.tail:
        failed = got.failed and head == "checks: "
        terminal.hanging(console, head, body, style="red" if failed else None, head_style="bold",
                         ascii_only=ascii_only)
    exact = next((c for c in checks if c.exact), None)
    text = None if exact is None else exact_line(exact, trace.graph, sym)
    if text is not None:
        terminal.hanging(console, "exact: ", text.removeprefix("exact: "), head_style="bold", ascii_only=ascii_only)


def _table(got: Rows, ascii_only: bool, shape: tuple[int, ...], merged: bool) -> Table:
    """The rich table of the checks; `merged` (for a narrow terminal) puts each relative error under
    its value instead of in a column of its own."""
    table = terminal.new_table()
    table.add_column(TITLES[0], no_wrap=True)
    for c in (1, 2, 4) if merged else range(1, 6):
        terminal.number_column(table, f"{TITLES[c]}\n({TITLES[c + 1]})" if merged and c > 1 else TITLES[c])
    table.add_column(TITLES[6], no_wrap=True)
    for cells, name in zip(got.rows, got.verdicts):
        shown = [terminal.cell(c, ascii_only=ascii_only, shape=shape) for c in cells[:6]]
        if merged:
            for c in (2, 4):
                if cells[c + 1]:
                    shown[c].append(f"\n({cells[c + 1]})", style="dim")
            shown = [shown[c] for c in (0, 1, 2, 4)]
        table.add_row(*shown, terminal.verdict(name, cells[6], ascii_only))
    return table


def derivative_lines(graph: Graph, check: Check, sym: Symbols) -> list[str]:
    """The symbolic derivatives as lines of text (∂f/∂x = z), then their LaTeX if asked for."""
    return [head + body for head, body in _derivatives(graph, check, sym)]


def _derivatives(graph: Graph, check: Check, sym: Symbols) -> list[tuple[str, str]]:
    d, out = sym.partial, graph.output_name
    pairs = [(f"{d}{out}/{d}{label} = ", f"{text}{_where(graph, text)}") for label, text in check.derivatives.items()]
    pairs += [("latex: ", f"\\frac{{\\partial {out}}}{{\\partial {label}}} = {text}")
              for label, text in check.latex.items()]
    return pairs


def _where(graph: Graph, text: str) -> str:
    """The definitions of the intermediates a derivative mentions (q = x + y), and of those their
    definitions mention, in the graph's order: every name the line uses is then an input, the
    output or defined here, as in the lecture's staged forward pass."""
    label_of = {graph.labels[i]: i for i, n in enumerate(graph.nodes)
                if n.prim is not None and graph.visible(i) and i != graph.output}
    wanted: set[int] = set()
    todo = [w for w in re.findall(r"[^\W\d][\w']*", text) if w in label_of]
    while todo:
        i = label_of[todo.pop()]
        if i not in wanted:
            wanted.add(i)
            todo += [w for w in re.findall(r"[^\W\d][\w']*", describe(graph, i)) if w in label_of]
    defs = [f"{graph.labels[i]} = {describe(graph, i)}" for i in sorted(wanted)]
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
