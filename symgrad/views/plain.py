"""The annotated graph as plain aligned text: for pipes, files and homework."""

from __future__ import annotations

from dataclasses import dataclass

from ..engine import Trace
from ..records import Record
from .numbers import short
from .source import program_text


@dataclass(frozen=True)
class Symbols:
    partial: str = "∂"
    arrow: str = "←"


UNICODE = Symbols()
ASCII = Symbols(partial="d", arrow="<-")


def point_text(trace: Trace, digits: int) -> str:
    graph = trace.graph
    return ", ".join(f"{v} = {short(trace.values[i], digits)}" for v, i in zip(graph.variables, graph.inputs))


def header(trace: Trace, digits: int) -> str:
    at = point_text(trace, digits)
    text = program_text(trace.graph.program)
    return f"{text}     at {at}" if at else text


def cells(rec: Record, records: list[Record], trace: Trace, digits: int, sym: Symbols) -> list[list[str]]:
    """One row's cells, each a list of lines."""
    d = sym.partial
    labels = [records[j].label for j in rec.inputs]
    local: list[str] = []
    sends: list[str] = []
    for k, lab in enumerate(labels):
        loc = rec.local[k] if k < len(rec.local) else None
        if loc is None:
            continue
        value = short(loc, digits)
        formula = rec.local_text[k] if k < len(rec.local_text) else ""
        if rec.op == "call" or not formula or formula == value:
            local.append(f"{d}{rec.label}/{d}{lab} = {value}")
        else:
            local.append(f"{d}{rec.label}/{d}{lab} = {formula} = {value}")
        sent = rec.sent[k]
        if sent is not None:
            sends.append(f"{lab} {sym.arrow} {short(sent, digits)}")
    notes: list[str] = []
    if rec.role:
        notes.append(f"{rec.op}: {rec.role}")
    if rec.op == "call":
        notes.append(f"grouped gate {rec.function}")
    if rec.kink:
        notes.append(f"kink: {rec.kink}")
    if len(rec.contributions) > 1:
        shown = rec.contributions[:MAX_BRANCHES]
        parts = " + ".join(f"{short(v, digits)} (via {records[c].label})" for c, v in shown)
        more = len(rec.contributions) - len(shown)
        notes.append(f"branches add: {parts}" + (f" + {more} more branches" if more else ""))
    computes = "input" if rec.op == "input" else rec.computes
    upstream = "" if rec.upstream is None else short(rec.upstream, digits)
    return [[rec.label], [computes], [short(rec.value, digits)], local or [""], [upstream],
            [", ".join(sends)], notes or [""]]


MAX_BRANCHES = 6  # a node feeding more consumers than this lists the first ones

TITLES = ["node", "computes", "value", "local gradients", "upstream", "sends down", "notes"]
RIGHT = {2, 4}  # value and upstream line up on the right


def table(records: list[Record], trace: Trace, digits: int, sym: Symbols) -> list[str]:
    rows = [cells(r, records, trace, digits, sym) for r in records if r.op != "const"]
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


def summary(trace: Trace, digits: int, sym: Symbols, wrt: list[str] | None = None) -> str:
    graph = trace.graph
    out = graph.output_name
    parts = [f"{out} = {short(trace.value, digits)}"]
    for name, g in trace.gradient.items():
        if wrt is None or name in wrt:
            parts.append(f"{sym.partial}{out}/{sym.partial}{name} = {short(g, digits)}")
    return "      ".join(parts)


def render(trace: Trace, records: list[Record], *, digits: int = 4, sym: Symbols = UNICODE,
           wrt: list[str] | None = None) -> str:
    lines = [header(trace, digits), ""]
    lines += table(records, trace, digits, sym)
    lines += ["", summary(trace, digits, sym, wrt)]
    return "\n".join(lines) + "\n"
