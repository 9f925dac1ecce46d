"""Graded answers: a table for people, records for graders."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.text import Text

from ..homework import Graded, Grading
from ..numbers import exact
from . import terminal

MARKS = {"right": "✓", "wrong": "✗", "missing": "–", "wrong shape": "✗"}
REASON_WIDTH = 50  # longer reasons get lines of their own under the row


@dataclass
class Row:
    """One graded answer's cells, shared by the plain and the rich table: the verdict is its mark
    (✓, ✗, –) and the words after it; a reason longer than REASON_WIDTH is `below` instead."""

    answer: str
    given: str
    correct: str
    mark: str
    verdict: str
    rule: str
    below: str


TITLES = ["answer", "given", "correct", "verdict", "rule"]


def rows(grading: Grading, require_all: bool) -> list[Row]:
    """The cells of the answers' table, a row per answer."""
    out = []
    for g in grading.graded:
        mark = MARKS[g.verdict]
        reason = ""
        if g.verdict == "missing":
            verdict = "  missing" + (" (counts as wrong: --require-all)" if require_all else "")
            verdict += f": {g.note}" if g.note else ""
        else:
            verdict = "" if g.verdict != "wrong shape" else "  wrong shape"
            if len(g.reason) > REASON_WIDTH:
                reason = g.reason
            elif g.reason:
                verdict += f"  {g.reason}" if g.verdict != "wrong shape" else f": {g.reason}"
        rule = g.rule if g.method == "numbers" else f"{g.rule}, {g.method}"
        out.append(Row(g.answer, g.given or "-", g.correct, mark, verdict, rule, reason))
    return out


def table(grading: Grading, require_all: bool, width: int | None = None) -> list[str]:
    """The answers as an aligned table (answer, given, correct, verdict with its reason, rule),
    then the score and, where the checks found a problem with the truth itself, their summary.
    A reason longer than REASON_WIDTH characters (a named mistake) goes on lines of its own under
    the verdict, wrapped to `width` (a terminal's; None: 60 characters past the indent)."""
    got = rows(grading, require_all)
    cells = [TITLES, *([r.answer, r.given, r.correct, r.mark + r.verdict, r.rule] for r in got)]
    widths = [max(len(r[c]) for r in cells) for c in range(len(TITLES))]
    right_aligned = {1, 2}
    indent = " " * (sum(widths[:3]) + 3 * 3 + 3)  # under the verdict, past its mark
    lines = []
    for k, r in enumerate(cells):
        line = [r[c].rjust(widths[c]) if c in right_aligned and len(r[c]) < 24 else r[c].ljust(widths[c])
                for c in range(len(r))]
        lines.append("   ".join(line).rstrip())
        if k and got[k - 1].below:
            lines += textwrap.wrap(got[k - 1].below, width=max(len(indent) + 30, width or len(indent) + 60),
                                   initial_indent=indent, subsequent_indent=indent)
    lines.append(score_line(grading, require_all))
    if grading.own_checks:
        lines.append(grading.own_checks)
    return lines


def render(console: Console, grading: Grading, require_all: bool, *, ascii_only: bool = False,
           indent: int = 0) -> None:
    """The answers for a terminal: the cells of `table` in a rich table that fits the console (✓
    green, ✗ red, a long reason wrapped in the verdict's cell, a matrix as aligned rows), then the
    score (green where it passed, red otherwise) and the checks' summary."""
    table = terminal.new_table()
    table.add_column(TITLES[0], no_wrap=True)
    terminal.number_column(table, TITLES[1], right=True)
    terminal.number_column(table, TITLES[2], right=True)
    table.add_column(TITLES[3])
    table.add_column(TITLES[4])
    for r in rows(grading, require_all):
        verdict = terminal.marked(r.mark + r.verdict + (f"  {r.below}" if r.below else ""), ascii_only)
        table.add_row(Text(terminal.plain_text(r.answer, ascii_only)), terminal.cell(r.given, ascii_only=ascii_only),
                      terminal.cell(r.correct, ascii_only=ascii_only), verdict, Text(r.rule))
    terminal.fit(console, table, console.width - indent)
    console.print(Padding(table, (0, 0, 0, indent)))
    style = "bold green" if grading.passed(require_all) else "bold red"
    terminal.hanging(console, "", score_line(grading, require_all), indent=indent, style=style, ascii_only=ascii_only)
    if grading.own_checks:  # the checks found the truth itself in doubt
        head, _, body = grading.own_checks.partition(" ")
        terminal.hanging(console, head + " ", body, indent=indent, style="red", head_style="bold",
                         ascii_only=ascii_only)
    for head, body in _notes(grading):
        terminal.hanging(console, head, body, indent=indent, head_style="yellow", ascii_only=ascii_only)


def notes(grading: Grading) -> list[str]:
    """A line for each reference the teacher should know about (a kink, an infinite or undefined
    gradient, a value beyond float64)."""
    return [head + body for head, body in _notes(grading)]


def _notes(grading: Grading) -> list[tuple[str, str]]:
    return [("note for the teacher: ", f"{n.answer} ({n.status}): {n.text}") for n in grading.notes]


def score_line(grading: Grading, require_all: bool) -> str:
    """"2 of 3 right", with the answers not given."""
    answered = [g for g in grading.graded if g.verdict != "missing"]
    missing = len(grading.graded) - len(answered)
    total = len(grading.graded) if require_all else len(answered)
    text = f"{grading.right} of {total} right"
    if missing and not require_all:
        text += f" ({missing} not answered: {', '.join(g.answer for g in grading.graded if g.verdict == 'missing')})"
    return text


def _correct(g: Graded) -> Any:
    """The correct answer for JSON: a number at full precision (nested lists for arrays) for a
    number, the derivative as text for a formula."""
    if g.value is not None:
        return exact(g.value)
    return g.correct if g.method != "numbers" else None


def record(g: Graded) -> dict[str, Any]:
    """One graded answer as a JSON object."""
    return {
        "answer": g.answer, "input": g.input, "target": {"kind": g.kind, "node": g.node, "wrt": g.wrt},
        "given": g.given or None,
        "correct": _correct(g), "correct_exact": g.exact or None,
        "verdict": g.verdict, "reason": g.reason, "mistake": g.mistake or None, "note": g.note, "rule": g.rule,
        "method": g.method,
        "rel_error": None if g.rel_error is None else exact(g.rel_error),
        "mismatches": [{k: exact(v) if k != "index" else v for k, v in m.items()} for m in g.mismatches],
        "max_abs_difference": None if g.max_abs is None else exact(g.max_abs),
        "max_rel_difference": None if g.max_rel is None else exact(g.max_rel),
    }


def result(grading: Grading, require_all: bool, **extra: Any) -> dict[str, Any]:
    """The record of one graded problem (`correct` as numbers), in its envelope."""
    from .json_view import envelope

    return envelope(result_body(grading, require_all, **extra))


def result_body(grading: Grading, require_all: bool, **extra: Any) -> dict[str, Any]:
    """The record of one graded problem without its envelope (homework and batch nest it)."""
    answered = [g for g in grading.graded if g.verdict != "missing"]
    total = len(grading.graded) if require_all else len(answered)
    return {
        **extra,
        "answers": [record(g) for g in grading.graded],
        "score": {"right": grading.right, "total": total, "missing": len(grading.graded) - len(answered)},
        "checks": grading.own_checks,
        "notes": [{"answer": n.answer, "input": n.target or None, "status": n.status, "note": n.text}
                  for n in grading.notes],
        "passed": grading.passed(require_all),
    }


def homework_report(runs: list[Any], require_all: bool, width: int | None = None) -> list[str]:
    """A homework file's report: each problem's table (or why it is broken), the notes for the
    teacher and the total.  `runs` are app.ProblemRun."""
    lines: list[str] = []
    for run in runs:
        if run.error is not None:
            lines.append(f"{_head(run)}: broken")
            lines += [f"  {line}" for line in run.error.render().splitlines()]
        else:
            lines.append(_head(run))
            inner = None if width is None else width - 2
            lines += [f"  {line}" for line in table(run.grading, require_all, inner) + notes(run.grading)]
        lines.append("")
    return lines + [head + body for head, body, _ in _totals(runs, require_all)]


def render_homework(console: Console, runs: list[Any], require_all: bool, *, ascii_only: bool = False) -> None:
    """A homework file's report for a terminal: each problem's rich table (see `render`), or why it
    is broken, the notes for the teacher and the total, green where every problem passed."""
    for run in runs:
        if run.error is not None:
            terminal.hanging(console, "", f"{_head(run)}: broken", style="bold", ascii_only=ascii_only)
            terminal.error(console, run.error.render(), indent=2, ascii_only=ascii_only)
        else:
            terminal.hanging(console, "", _head(run), style="bold", ascii_only=ascii_only)
            render(console, run.grading, require_all, ascii_only=ascii_only, indent=2)
        console.print()
    for head, body, style in _totals(runs, require_all):
        terminal.hanging(console, head, body, style=style, head_style="bold", ascii_only=ascii_only)


def _head(run: Any) -> str:
    p = run.problem
    return f"problem {p.index}: {p.name} (line {p.line})"


def _totals(runs: list[Any], require_all: bool) -> list[tuple[str, str, str]]:
    """The lines after the problems, as (head, body, style): the problems flagged for the teacher
    and the number right."""
    out = []
    flagged = [run.flagged for run in runs if run.flagged]
    if flagged:
        out.append(("notes for the teacher: ", ", ".join(flagged), "yellow"))
    passed = sum(run.passed(require_all) for run in runs)
    out.append(("", f"{passed} of {len(runs)} problems right", "bold green" if passed == len(runs) else "bold red"))
    return out


def homework_record(runs: list[Any], path: str, require_all: bool) -> dict[str, Any]:
    """A homework file's JSON record: one entry per problem (with its error where it is broken)
    and the score."""
    from .json_view import envelope, error_body

    problems = []
    for run in runs:
        p = run.problem
        rec: dict[str, Any] = {"index": p.index, "name": p.name, "line": p.line, "passed": run.passed(require_all)}
        if run.grading is not None:
            rec |= result_body(run.grading, require_all)
        if run.error is not None:
            rec |= error_body(run.error)
        problems.append(rec)
    passed = sum(run.passed(require_all) for run in runs)
    return envelope({"file": path, "problems": problems, "score": {"passed": passed, "total": len(runs)}})
