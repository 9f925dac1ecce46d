"""A class report: a row per student and problem, and the mistakes counted over the class."""

from __future__ import annotations

import csv
import io
import textwrap
from typing import Any

from ..classwork import LISTED, Result, mistake_counts
from ..numbers import exact


def _score(x: float) -> str:
    return f"{x:.4g}"


def plain(results: list[Result], width: int | None = None) -> list[str]:
    """The report as text: a table, then each named mistake with how many students made it.  A
    submission's mistakes (or error) go under its row, one a line, wrapped to `width` (a terminal's;
    None: not wrapped)."""
    rows = [["student", "problem", "right", "score"]]
    notes: list[list[str]] = []
    for r in results:
        notes.append([r.error] if r.error else [*dict.fromkeys(r.mistakes), *r.problems])
        rows.append([r.student, r.problem, f"{r.right}/{r.total}" if not r.error else "-",
                     f"{_score(r.score)}/{_score(r.points)}"])
    widths = [max(len(row[c]) for row in rows) for c in range(4)]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(row[c].ljust(widths[c]) for c in range(4)).rstrip())
        for note in notes[k - 1] if k else []:
            lines += _wrapped(note, "    ", width)
    students = len({r.student for r in results})
    lines.append("")
    total, possible = sum(r.score for r in results), sum(r.points for r in results)
    lines.append(f"{students} students, {len(results)} submissions: {_score(total)} of {_score(possible)} points")
    for mistake, who in mistake_counts(results):
        names = ", ".join(who[:LISTED]) + (", ..." if len(who) > LISTED else "")
        lines += _wrapped(f"{len(who)} of {students} students: {mistake} ({names})", "", width)
    for note in dict.fromkeys(r.key_note for r in results if r.key_note):
        lines += _wrapped(f"note for the teacher: {note}", "", width)
    return lines


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
