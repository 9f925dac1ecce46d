"""The annotated graph as plain aligned text: for pipes, files and homework."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine import Trace
from ..graph import Graph, Kind, describe
from ..numbers import is_number, read_number, short, signed_sum
from ..records import Record
from .source import program_text


@dataclass(frozen=True)
class Symbols:
    partial: str = "∂"
    arrow: str = "←"
    dot: str = "·"
    zero: str = "≈0"


UNICODE = Symbols()
ASCII = Symbols(partial="d", arrow="<-", dot="*", zero="~0")
# Stand-ins for the other symbols symgrad writes, where the output cannot encode them.
ASCII_TEXT = str.maketrans({"∂": "d", "←": "<-", "·": "*", "½": "1/2", "−": "-", "×": "*", "…": "...",
                            "✓": "ok", "✗": "X", "σ": "sigmoid", "π": "pi", "≈": "~"})

MAX_BRANCHES = 6  # a node feeding more consumers than this lists the first ones


def point_text(trace: Trace, digits: int) -> str:
    graph = trace.graph
    return ", ".join(f"{v} = {short(trace.value_of(trace.values[i]), digits, oneline=True)}"
                     for v, i in zip(graph.variables, graph.inputs))


def header(trace: Trace, digits: int) -> str:
    at = point_text(trace, digits)
    text = program_text(trace.graph.program)
    return f"{text}     at {at}" if at else text


def labelled(prefix: str, value: str) -> list[str]:
    """prefix + value, with a multi-line value's later lines lined up under its first."""
    first, *rest = value.split("\n")
    return [prefix + first] + [" " * len(prefix) + line for line in rest]


def cells(rec: Record, records: list[Record], digits: int, sym: Symbols, *,
          one_per_line: bool = False) -> list[list[str]]:
    """One row's cells, each a list of lines (with one_per_line, what is sent to each input has its own)."""
    d = sym.partial
    local: list[str] = []
    sends: list[list[str]] = []
    for e in rec.edges:
        lab, kind, loc, formula = records[e.source].label, e.kind, e.local, e.text
        prefix = f"{d}{rec.label}/{d}{lab}"
        if kind.startswith("jacobian (") or (kind == "jacobian" and loc is not None and rec.kind != "call"):
            shape = kind.removeprefix("jacobian ")
            text = f"Jacobian {shape}" if loc is None else short(loc, digits)
            local += labelled(f"{prefix} = ", text)
        elif loc is not None:
            value = short(loc, digits)
            if is_number(formula) and np.all(loc == read_number(formula)):
                value = formula  # 1 for every element: no need to list them
            if rec.kind == "call" or not formula or formula == value:
                local += labelled(f"{prefix} = ", value)
            else:
                local += labelled(f"{prefix} = {formula} = ", value)
        if e.downstream is not None:
            sends.append(labelled(f"{lab} {sym.arrow} ", short(e.downstream, digits)))
    if all(len(s) == 1 for s in sends) and not one_per_line:
        send_lines = [", ".join(s[0] for s in sends)] if sends else [""]
    else:
        send_lines = [line for s in sends for line in s]
    notes: list[str] = []
    if rec.role:
        notes.append(f"{rec.gate}: {rec.role}")
    if rec.kind == "call":
        notes.append(f"grouped gate {rec.function}")
    if rec.kink:
        notes.append(f"kink: {rec.kink}")
    if len(rec.contributions) > 1:
        shown = rec.contributions[:MAX_BRANCHES]
        parts = signed_sum([f"{short(v, digits, oneline=True)} (via {records[c].label})" for c, v in shown])
        more = len(rec.contributions) - len(shown)
        notes.append(f"branches add: {parts}" + (f" + {more} more branches" if more else ""))
    computes = "input" if rec.kind == "input" else rec.computes
    upstream = [""] if rec.upstream is None else _block(short(rec.upstream, digits))
    return [[rec.label], [computes], _block(short(rec.value, digits)), local or [""], upstream,
            send_lines, notes or [""]]


def _block(text: str) -> list[str]:
    """A multi-line value as lines of one width, so that right-aligning keeps its shape."""
    lines = text.split("\n")
    width = max(len(line) for line in lines)
    return [line.ljust(width) for line in lines]


TITLES = ["node", "computes", "value", "local gradients", "upstream", "sends down", "notes"]
RIGHT = {2, 4}  # value and upstream line up on the right


def table(records: list[Record], digits: int, sym: Symbols) -> list[str]:
    rows = [cells(r, records, digits, sym) for r in records if r.kind != "const"]
    widths = [len(t) for t in TITLES]
    for row in rows:
        for c, cell in enumerate(row):
            widths[c] = max(widths[c], *(len(line) for line in cell))
    # Drop columns no row uses (a graph of inputs alone has no local gradients).
    used = [c for c in range(len(TITLES)) if c < 3 or any(any(row[c]) for row in rows)]
    last = used[-1]

    def line(parts: list[str]) -> str:
        out = []
        for c in used:
            text = parts[c]
            if c in RIGHT:
                text = text.rjust(widths[c])
            elif c != last:
                text = text.ljust(widths[c])
            out.append(text)
        return "  ".join(out).rstrip()

    lines = [line(TITLES)]
    for row in rows:
        height = max(len(cell) for cell in row)
        for h in range(height):
            lines.append(line([cell[h] if h < len(cell) else "" for cell in row]))
    return lines


@dataclass
class Summary:
    """The lines under the table, shared by the plain and the rich view: the output's value, a title
    (for a Jacobian or an upstream gradient), each gradient as (what, value), whether they go on one
    line with the value (scalars), and the inputs used only as indices."""

    value: str
    title: str
    gradients: list[tuple[str, np.ndarray]]
    inline: bool
    index_only: list[str]


def summary_parts(trace: Trace, digits: int, sym: Symbols, wrt: list[str] | None = None) -> Summary:
    """The summary's parts (see Summary)."""
    graph = trace.graph
    d, out = sym.partial, graph.output_name
    value = f"{out} = {short(trace.value, digits, oneline=True)}"
    grads = trace.gradient
    names = [v for v in graph.variables if (wrt is None or v in wrt) and v in grads]
    title, what = "", f"{d}{out}/{d}"
    if trace.mode == "jacobian":
        title = f"Jacobian of {out}, shape {trace.out_shape} + the input's shape:"
    elif trace.upstream is not None:
        g = short(trace.upstream, digits, oneline=True)
        title, what = f"backpropagating the upstream gradient g = {g} (g·{d}{out}/{d}input):", f"g·{d}{out}/{d}"
    inline = not title and all(grads[v].ndim == 0 for v in names)
    index_only = [v for v in graph.variables if (wrt is None or v in wrt) and v in graph.index_only]
    return Summary(value, title, [(f"{what}{v}", grads[v]) for v in names], inline, index_only)


def summary(trace: Trace, digits: int, sym: Symbols, wrt: list[str] | None = None) -> list[str]:
    """The output's value and the gradients, as lines of text."""
    parts = summary_parts(trace, digits, sym, wrt)
    if parts.inline:
        lines = ["      ".join([parts.value, *(f"{what} = {short(g, digits)}" for what, g in parts.gradients)])]
    else:
        lines = [parts.value, *([parts.title] if parts.title else [])]
        for what, g in parts.gradients:
            lines += labelled(f"  {what} = ", short(g, digits))
    return lines + [f"{v} is used only as an index: it has no gradient" for v in parts.index_only]


def render(trace: Trace, records: list[Record], *, digits: int = 4, sym: Symbols = UNICODE,
           wrt: list[str] | None = None) -> str:
    lines = [header(trace, digits), ""]
    lines += table(records, digits, sym)
    lines += ["", *summary(trace, digits, sym, wrt)]
    return "\n".join(lines) + "\n"


def graph_only(graph: Graph) -> str:
    """The program and its nodes, without numbers (no point was given)."""
    rows = [("node", "computes")]
    rows += [(graph.labels[i], "input" if n.kind is Kind.INPUT else describe(graph, i))
             for i, n in enumerate(graph.nodes) if n.kind is not Kind.CONST and graph.visible(i)]
    width = max(len(r[0]) for r in rows)
    lines = [program_text(graph.program), ""] + [f"{a.ljust(width)}  {b}" for a, b in rows]
    return "\n".join(lines) + "\n"
