"""What the rich views share: tables in the node table's style that fit the terminal, ✓ and ✗ and
the verdicts in colour, matrices with their columns aligned, and lines that wrap under their indent.

User text only ever goes into rich.text.Text (never into markup): a program's `s[b]` is text.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from .plain import ASCII_TEXT

MARK_STYLES = {"✓": "green", "✗": "red", "–": "yellow"}
VERDICT_STYLES = {
    "excellent": "green", "fine": "green", "zero": "green",
    "wrong": "bold red",
    "kink": "yellow", "infinite": "yellow", "undefined": "yellow", "unstable": "yellow", "skipped": "yellow",
    "suspicious": "yellow",
}
AGREE_MARK = "✓"  # before a verdict that agrees
WRONG_MARK = "✗"  # before a wrong one

_NUMBER = re.compile(r"[-+−]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|inf|nan)")
_TOKEN = re.compile(r"\s*(\[|\]|,|[^\[\],]+)")
GAP = 2  # spaces between the columns of a table
SAMPLED = 100  # rows a table's widths are chosen for
DEEPEST = 8  # arrays nested deeper than this are left on their one line


def new_table() -> Table:
    """An empty table in the node table's style: a rule under bold titles, no borders, columns two
    spaces apart."""
    return Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, GAP - 1, 0, 0),
                 header_style="bold", collapse_padding=True)


def grid(*, gap: int = 2) -> Table:
    """A table without titles or rules, columns `gap` spaces apart."""
    return Table.grid(padding=(0, gap, 0, 0))


def number_column(table: Table, title: str, *, right: bool = False) -> None:
    """A column of numbers: never wrapped between digits, folded only where a number is wider than
    the terminal allows."""
    table.add_column(title, justify="right" if right else "left", overflow="fold")


def marked(text: str, ascii_only: bool = False) -> Text:
    """`text` starting with ✓, ✗ or –, the mark in its colour (green, red, yellow)."""
    mark = text[:1]
    out = Text()
    if mark in MARK_STYLES:
        out.append(plain_text(mark, ascii_only), style=MARK_STYLES[mark])
        text = text[1:]
    out.append(plain_text(text, ascii_only))
    return out


def verdict(name: str, shown: str, ascii_only: bool = False) -> Text:
    """A check's verdict word in its colour, after ✓ where it agrees and ✗ where it is wrong:
    excellent and fine green, WRONG red, the special verdicts (kink, infinite, ...) yellow."""
    style = VERDICT_STYLES.get(name)
    mark = AGREE_MARK if style == "green" else WRONG_MARK if name == "wrong" else ""
    out = Text()
    if mark:
        out.append(plain_text(mark, ascii_only) + " ", style=MARK_STYLES[mark])
    out.append(plain_text(shown, ascii_only), style=style)
    return out


def plain_text(text: str, ascii_only: bool) -> str:
    """The text, with ASCII stand-ins for symgrad's symbols where the terminal cannot show them."""
    return text.translate(ASCII_TEXT) if ascii_only else text


def matrix_lines(text: str, shape: tuple[int, ...] = ()) -> list[str]:
    """A matrix (or a deeper array) written on one line, "[[1, -2], [30, 4]]", as a line per row,
    the numbers right-aligned to a common width:

        [[ 1, -2],
         [30,  4]]

    A flat list of a matrix's elements, "[1, -2, 30, 4]" with `shape` (2, 2), is shown as that
    matrix.  Anything else (a number, a vector, a formula, a summarised array) is its one line."""
    nested = _parse(text)
    if nested is None:
        return [text]
    if len(shape) >= 2 and all(isinstance(x, str) for x in nested) and math.prod(shape) == len(nested):
        for n in reversed(shape[1:]):
            nested = [nested[k:k + n] for k in range(0, len(nested), n)]
    found = _shape(nested)
    if found is None or len(found) < 2:
        return [text]
    rows = [(path, _at(nested, path)) for path in itertools.product(*(range(n) for n in found[:-1]))]
    width = max((len(x) for _, row in rows for x in row), default=0)
    lines = []
    for k, (path, row) in enumerate(rows):
        opens = 1 + _run_at_end([i == 0 for i in path])  # the lists this row starts
        closes = 1 + _run_at_end([i == n - 1 for i, n in zip(path, found)])  # and ends
        body = ", ".join(x.rjust(width) for x in row)
        end = "]" * closes + ("," if k < len(rows) - 1 else "")
        lines.append(" " * (len(found) - opens) + "[" * opens + body + end)
    return lines


def _parse(text: str) -> list[Any] | None:
    """Nested lists of number texts, or None where `text` is not brackets, commas and numbers."""
    stack: list[list[Any]] = [[]]
    expect_item = True  # an item (a number or '['), or ']' closing an empty list, is next
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            return None
        token, pos = m.group(1), m.end()
        if token == "[":
            if not expect_item or len(stack) > DEEPEST:
                return None
            stack.append([])
        elif token == "]":
            if len(stack) == 1 or (expect_item and stack[-1]):
                return None
            done = stack.pop()
            stack[-1].append(done)
            expect_item = False
        elif token == ",":
            if expect_item:
                return None
            expect_item = True
        else:
            if not expect_item or not _NUMBER.fullmatch(token.strip()):
                return None
            stack[-1].append(token.strip())
            expect_item = False
    if len(stack) != 1 or len(stack[0]) != 1 or not isinstance(stack[0][0], list):
        return None
    return stack[0][0]


def _shape(nested: Any) -> tuple[int, ...] | None:
    """The shape of rectangular nested lists, or None where they are ragged."""
    if not isinstance(nested, list):
        return ()
    shapes = {_shape(item) for item in nested}
    if len(shapes) > 1 or None in shapes:
        return None
    inner = shapes.pop() if shapes else ()
    return None if inner is None else (len(nested), *inner)


def _at(nested: Any, path: tuple[int, ...]) -> list[str]:
    for i in path:
        nested = nested[i]
    return list(nested)


def _run_at_end(flags: list[bool]) -> int:
    """How many of the last flags are true, in a row."""
    count = 0
    for flag in reversed(flags):
        if not flag:
            break
        count += 1
    return count


def cell(text: str, style: str | None = None, ascii_only: bool = False, shape: tuple[int, ...] = ()) -> Text:
    """A table cell for a value: a matrix as aligned rows, never wrapped inside (see matrix_lines),
    anything else as it is."""
    lines = matrix_lines(plain_text(text, ascii_only), shape)
    return Text("\n".join(lines), style=style or "", no_wrap=len(lines) > 1 or None)


def fit(console: Console, table: Table, width: int | None = None, *, gap: int = GAP, tighter: bool = True) -> bool:
    """Give the table's columns widths that fit the console (or `width`) without breaking a word,
    `gap` spaces apart: each column between its longest word (a matrix cell, or a column set
    no_wrap, is one word) and its longest line, the room given where it saves the most lines.
    Where that is too wide, the columns move one space apart, and then a matrix may wrap between
    its numbers (unless not `tighter`).  False where even that is too wide (the widths are then
    rich's: a number is folded rather than hidden)."""
    room = console.width if width is None else width
    rule = 1 if table.box is not None else 0  # the space the box draws between two columns
    tries = [(gap, True)] + ([(1, True)] if gap > 1 else []) + [(1, False)]
    for spaces, whole_matrices in tries if tighter else tries[:1]:
        if not whole_matrices:
            for column in table.columns:
                for renderable in column.cells:
                    if isinstance(renderable, Text):
                        renderable.no_wrap = None
        ranges = _ranges(console, table)
        free = room - spaces * (len(ranges) - 1) - sum(low for low, _ in ranges)
        if free < 0:
            continue
        if sum(high - low for low, high in ranges) <= free:
            widths = [high for _, high in ranges]
        else:
            widths = _shared(table, ranges, free)
        for column, w in zip(table.columns, widths):
            column.width = w
        table.padding = (0, spaces - rule, 0, 0)
        return True
    return False


def _shared(table: Table, ranges: list[tuple[int, int]], free: int) -> list[int]:
    """Widths from each column's longest word up, `free` more columns given where they save the
    most lines of the table (its first SAMPLED rows): a long sentence gets the room, a short
    column stays whole where that saves a line; what saves none goes to the columns that wrap."""
    widths = [low for low, _ in ranges]
    cells = [[_words(r) for r in [column.header, *list(column.cells)[:SAMPLED]]] for column in table.columns]
    rows = len(cells[0])

    def height(k: int, width: int, others: list[int]) -> int:
        return sum(max(others[r], _lines(cells[k][r], width)) for r in range(rows))

    while free > 0:
        best: tuple[float, int, int] | None = None  # (lines saved per column, column, columns)
        for k in (k for k in range(len(widths)) if widths[k] < ranges[k][1]):
            others = [max((_lines(cells[j][r], widths[j]) for j in range(len(widths)) if j != k), default=1)
                      for r in range(rows)]
            now = height(k, widths[k], others)
            for d in range(1, min(free, ranges[k][1] - widths[k]) + 1):
                saved = now - height(k, widths[k] + d, others)
                if saved > 0:
                    if best is None or saved / d > best[0]:
                        best = (saved / d, k, d)
                    break
        if best is None:
            break
        widths[best[1]] += best[2]
        free -= best[2]
    for k in sorted(range(len(widths)), key=lambda k: widths[k] - ranges[k][1]):  # the most slack first
        grow = min(free, ranges[k][1] - widths[k])
        widths[k] += grow
        free -= grow
    return widths


def _words(renderable: Any) -> list[list[int]]:
    """A cell as the lengths of the words of each of its lines (a line that never wraps: one word)."""
    text = renderable if isinstance(renderable, Text) else Text(str(renderable))
    if text.no_wrap:
        return [[cell_len(line)] for line in text.plain.split("\n")]
    return [[cell_len(word) for word in line.split()] or [0] for line in text.plain.split("\n")]


@functools.lru_cache(maxsize=65536)
def _wrap_count(words: tuple[int, ...], width: int) -> int:
    """How many lines words of these lengths take at `width`, one space apart."""
    lines, used = 1, -1
    for n in words:
        if used >= 0 and used + 1 + n <= width:
            used += 1 + n
        elif used < 0:
            used = n
        else:
            lines, used = lines + 1, n
        if used > width:  # a word wider than the column is folded
            lines += (used - 1) // max(1, width)
            used = (used - 1) % max(1, width) + 1
    return lines


def _lines(cell: list[list[int]], width: int) -> int:
    """How many lines the cell wraps to at `width`, as rich wraps text between words."""
    return sum(_wrap_count(tuple(line), width) for line in cell)


def _ranges(console: Console, table: Table) -> list[tuple[int, int]]:
    """Each column's (longest word, longest line), its title included."""
    options = console.options.update_width(10**6)
    ranges = []
    for column in table.columns:
        low = high = 0
        for renderable in [column.header, *column.cells]:
            m = Measurement.get(console, options, renderable)
            whole = column.no_wrap or (isinstance(renderable, Text) and renderable.no_wrap)
            low, high = max(low, m.maximum if whole else m.minimum), max(high, m.maximum)
        ranges.append((low, high))
    return ranges


def hanging(console: Console, head: str, body: str, *, indent: int = 0, style: str | None = None,
            head_style: str | None = None, ascii_only: bool = False) -> None:
    """One line of text, `head` then `body`, that wraps between words under the body's start
    (where the head is short; under the head's indent otherwise)."""
    head, body = plain_text(head, ascii_only), plain_text(body, ascii_only)
    if not head or cell_len(head) + indent > console.width // 3:
        text = Text(head, style=head_style or style or "")
        text.append(body, style=style or "")
        console.print(Padding(text, (0, 0, 0, indent)), overflow="fold")
        return
    table = grid(gap=max(1, cell_len(head) - cell_len(head.rstrip())))
    table.add_column(no_wrap=True, style=head_style or style or "")
    table.add_column(style=style or "", overflow="fold")
    table.add_row(Text(head.rstrip()), Text(body))
    console.print(Padding(table, (0, 0, 0, indent)))


def error(console: Console, text: str, *, indent: int = 0, ascii_only: bool = False) -> None:
    """An error as SymgradError.render() writes it: its sentences wrap between words, and the
    program's line with the caret under it is kept as it is (cut, not wrapped, at the edge)."""
    lines = text.splitlines()
    caret = next((k for k, line in enumerate(lines) if line.strip() and set(line.strip()) == {"^"}), None)
    for k, line in enumerate(lines):
        if caret is not None and k in (caret - 1, caret):
            shown = Text(plain_text(line, ascii_only), no_wrap=True, overflow="ellipsis",
                         style="red" if k == caret else "")
            console.print(Padding(shown, (0, 0, 0, indent)))
        else:
            body = line.lstrip()
            head, sep, rest = body.partition(": ")
            if sep and head in ("error", "hint"):
                hanging(console, head + sep, rest, indent=indent + len(line) - len(body),
                        head_style="bold red" if head == "error" else "bold", ascii_only=ascii_only)
            else:
                hanging(console, "", body, indent=indent + len(line) - len(body), ascii_only=ascii_only)
