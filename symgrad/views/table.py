"""The annotated graph for a terminal, with rich.

The same cells as the plain view, in colour: values green and gradients red
as the lecture draws them, inputs and the output in bold.  When the table is
wider than the terminal, each node becomes a short block of labelled lines
instead, which wrap between words: a number is never broken.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..engine import Trace
from ..records import Record
from . import plain

STYLES = [None, None, "green", None, "red", "red", "dim"]  # per column: values green, gradients red
GAP = 2  # spaces between columns


def render(console: Console, trace: Trace, records: list[Record], *, digits: int = 4,
           sym: plain.Symbols = plain.UNICODE, wrt: list[str] | None = None) -> None:
    console.print(Text(plain.header(trace, digits), style="bold"))
    rows = [(r, plain.cells(r, records, digits, sym, one_per_line=True)) for r in records if r.kind != "const"]
    if sym is plain.ASCII:
        rows = [(r, [[line.translate(plain.ASCII_TEXT) for line in cell] for cell in cells]) for r, cells in rows]
    used = [c for c in range(len(plain.TITLES)) if c < 3 or any(any(cells[c]) for _, cells in rows)]
    widths = {c: max(len(plain.TITLES[c]), *(len(line) for _, cells in rows for line in cells[c])) for c in used}
    if sum(widths.values()) + GAP * (len(used) - 1) <= console.width:
        _table(console, rows, used, widths)
    else:
        _blocks(console, rows, used)
    console.print()
    for line in plain.summary(trace, digits, sym, wrt):
        console.print(Text(line, style="bold" if not line.startswith(" ") else ""))


def _table(console: Console, rows: list[tuple[Record, list[list[str]]]], used: list[int],
           widths: dict[int, int]) -> None:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, GAP - 1, 0, 0),
                  header_style="bold", collapse_padding=True)
    for c in used:
        table.add_column(plain.TITLES[c], style=STYLES[c], justify="right" if c in plain.RIGHT else "left",
                         no_wrap=True, min_width=widths[c])
    for rec, cells in rows:
        style = "bold" if rec.is_output or rec.kind == "input" else None
        table.add_row(*[Text("\n".join(cells[c])) for c in used], style=style)  # Text: user text is never markup
    console.print(table)


def _blocks(console: Console, rows: list[tuple[Record, list[list[str]]]], used: list[int]) -> None:
    for rec, cells in rows:
        label, computes, value = cells[0][0], cells[1][0], cells[2]
        head = Text()
        head.append(label, style="bold")
        head.append(f"  {computes}" if computes != "input" else "  input",
                    style="bold" if rec.kind == "input" else None)
        if len(value) == 1:
            head.append(" = ")
            head.append(value[0].strip(), style="green")
        console.print(head, overflow="fold")
        if len(value) > 1:
            _lines(console, "value", value, "green")
        for c, name in ((3, "local"), (4, "upstream"), (5, "sends"), (6, "")):
            if c in used and any(cells[c]):
                _lines(console, name, cells[c],
                       STYLES[c] or None)


def _lines(console: Console, name: str, lines: list[str], style: str | None) -> None:
    for k, line in enumerate(lines):
        text = Text("    ")
        if name:
            text.append(f"{name}: " if k == 0 else " " * (len(name) + 2), style="dim")
        text.append(line, style=style)
        console.print(text, overflow="fold")
