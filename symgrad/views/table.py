"""The annotated graph for a terminal, with rich.

The same cells as the plain view, in colour: values green and gradients red
as the lecture draws them, inputs and the output in bold.  When the table is
wider than the terminal, each node becomes a short block of labelled lines
instead, which wrap between words: a number is never broken.
"""

from __future__ import annotations

from rich import box
from rich.columns import Columns
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..engine import Trace
from ..numbers import short
from ..records import Record
from . import plain, terminal

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
    _summary(console, plain.summary_parts(trace, digits, sym, wrt), digits, sym is plain.ASCII)


def _summary(console: Console, parts: plain.Summary, digits: int, ascii_only: bool) -> None:
    """The value and the gradients under the table, in bold: on one line where they are numbers and
    it fits, else a gradient a line, each matrix as aligned rows."""
    if parts.inline:
        items = [parts.value, *(f"{what} = {short(g, digits)}" for what, g in parts.gradients)]
        if len("      ".join(items)) <= console.width:
            console.print(Text(terminal.plain_text("      ".join(items), ascii_only), style="bold"))
        else:
            console.print(Columns([Text(terminal.plain_text(item, ascii_only), style="bold") for item in items],
                                  padding=(0, 6, 0, 0)))
    else:
        console.print(Text(terminal.plain_text(parts.value, ascii_only), style="bold"))
        if parts.title:
            terminal.hanging(console, "", parts.title, style="bold", ascii_only=ascii_only)
        grid = terminal.grid(gap=1)
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for what, g in parts.gradients:
            grid.add_row(Text(terminal.plain_text(f"{what} =", ascii_only)),
                         terminal.cell(short(g, digits, oneline=True), ascii_only=ascii_only))
        terminal.fit(console, grid, console.width - 2, gap=1)
        console.print(Padding(grid, (0, 0, 0, 2)))
    for v in parts.index_only:
        terminal.hanging(console, "", f"{v} is used only as an index: it has no gradient", style="bold",
                         ascii_only=ascii_only)


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
