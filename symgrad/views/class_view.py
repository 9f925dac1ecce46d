"""A class report: a row per student and problem, and the mistakes counted over the class."""

from __future__ import annotations

import csv
import io
import textwrap
from typing import Any

from rich.console import Console
from rich.text import Text

from ..classwork import LISTED, Result, mistake_counts
from ..numbers import exact
from . import terminal


def _score(x: float) -> str:
    return f"{x:.4g}"


TITLES = ["student", "problem", "right", "score"]


def _rows(results: list[Result]) -> list[tuple[list[str], list[str]]]:
    """A row per submission, shared by the plain and the rich report: its cells, and its mistakes
    (or error), each a line under the row."""
    return [([r.student, r.problem, f"{r.right}/{r.total}" if not r.error else "-",
              f"{_score(r.score)}/{_score(r.points)}"],
             [r.error] if r.error else [*dict.fromkeys(r.mistakes), *r.problems]) for r in results]


def _summary(results: list[Result]) -> tuple[str, list[tuple[str, str, str]], list[str]]:
    """What follows the table: the totals, each named mistake as (how many students, the mistake,
    who), and the notes about the key."""
    students = len({r.student for r in results})
    total, possible = sum(r.score for r in results), sum(r.points for r in results)
    totals = f"{students} students, {len(results)} submissions: {_score(total)} of {_score(possible)} points"
    mistakes = [(f"{len(who)} of {students}", mistake, ", ".join(who[:LISTED]) + (", ..." if len(who) > LISTED else ""))
                for mistake, who in mistake_counts(results)]
    return totals, mistakes, list(dict.fromkeys(r.key_note for r in results if r.key_note))


def plain(results: list[Result], width: int | None = None) -> list[str]:
    """The report as text: a table, then each named mistake with how many students made it.  A
    submission's mistakes (or error) go under its row, one a line, wrapped to `width` (a terminal's;
    None: not wrapped)."""
    rows = _rows(results)
    widths = [max(len(row[c]) for row in [TITLES, *(cells for cells, _ in rows)]) for c in range(4)]
    lines = ["  ".join(TITLES[c].ljust(widths[c]) for c in range(4)).rstrip()]
    for cells, notes in rows:
        lines.append("  ".join(cells[c].ljust(widths[c]) for c in range(4)).rstrip())
        for note in notes:
            lines += _wrapped(note, "    ", width)
    totals, mistakes, key_notes = _summary(results)
    lines += ["", totals]
    for count, mistake, names in mistakes:
        lines += _wrapped(f"{count} students: {mistake} ({names})", "", width)
    for note in key_notes:
        lines += _wrapped(f"note for the teacher: {note}", "", width)
    return lines


def render(console: Console, results: list[Result], *, ascii_only: bool = False) -> None:
    """The report for a terminal: the cells of `plain` in a rich table that fits the console, with
    ✓ (green) before a full score and ✗ (red) before any other, each submission's mistakes in a
    column of their own; the totals; the mistakes counted over the class as a table."""
    table = terminal.new_table()
    for title in TITLES:
        table.add_column(title, no_wrap=title != "problem", justify="right" if title == "score" else "left")
    table.add_column("mistakes")
    for r, (cells, notes) in zip(results, _rows(results)):
        full = not r.error and r.score >= r.points
        right = terminal.marked(f"{'✓' if full else '✗'} {cells[2]}", ascii_only)
        table.add_row(Text(terminal.plain_text(cells[0], ascii_only)), Text(terminal.plain_text(cells[1], ascii_only)),
                      right, Text(cells[3]), Text("\n".join(terminal.plain_text(n, ascii_only) for n in notes),
                                                  style="red" if r.error else ""))
    terminal.fit(console, table)
    console.print(table)
    totals, mistakes, key_notes = _summary(results)
    console.print()
    terminal.hanging(console, "", totals, style="bold", ascii_only=ascii_only)
    if mistakes:
        console.print()
        counted = terminal.new_table()
        counted.add_column("students", no_wrap=True)
        counted.add_column("mistake")
        counted.add_column("who")
        for count, mistake, names in mistakes:
            counted.add_row(Text(count), Text(terminal.plain_text(mistake, ascii_only)),
                            Text(terminal.plain_text(names, ascii_only)))
        terminal.fit(console, counted)
        console.print(counted)
    for note in key_notes:
        terminal.hanging(console, "note for the teacher: ", note, head_style="bold yellow", ascii_only=ascii_only)


def _wrapped(text: str, indent: str, width: int | None) -> list[str]:
    if width is None:
        return [indent + text]
    return textwrap.wrap(text, width=max(len(indent) + 30, width), initial_indent=indent,
                         subsequent_indent=indent + ("  " if not indent else ""))


def records(results: list[Result]) -> dict[str, Any]:
    """The report as one JSON object: a record per submission and the mistakes counted."""
    students = len({r.student for r in results})
    return {
        "submissions": [{"student": r.student, "problem": r.problem, "right": r.right, "total": r.total,
                         "score": exact(r.score), "points": exact(r.points), "mistakes": r.mistakes,
                         "problems": r.problems, "error": r.error or None, "key_note": r.key_note or None}
                        for r in results],
        "students": students,
        "mistakes": [{"mistake": m, "students": who, "count": len(who)} for m, who in mistake_counts(results)],
    }


def csv_text(results: list[Result]) -> str:
    """The report as CSV: student, problem, right, total, score, points, mistakes, error."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", "problem", "right", "total", "score", "points", "mistakes", "error"])
    for r in results:
        writer.writerow([r.student, r.problem, r.right, r.total, repr(r.score), repr(r.points),
                         "; ".join(r.mistakes), "; ".join([r.error] if r.error else r.problems)])
    return out.getvalue()
