"""Graded answers: a table for people, records for graders."""

from __future__ import annotations

import textwrap
from typing import Any

from ..homework import Graded, Grading
from ..numbers import exact

MARKS = {"right": "✓", "wrong": "✗", "missing": "–", "wrong shape": "✗"}
REASON_WIDTH = 50  # longer reasons get lines of their own under the row


def table(grading: Grading, require_all: bool, width: int | None = None) -> list[str]:
    """The answers as an aligned table (answer, given, correct, verdict with its reason, rule),
    then the score and, where the checks found a problem with the truth itself, their summary.
    A reason longer than REASON_WIDTH characters (a named mistake) goes on lines of its own under
    the verdict, wrapped to `width` (a terminal's; None: 60 characters past the indent)."""
    rows = [["answer", "given", "correct", "verdict", "rule"]]
    below: list[str] = []  # per row: a long reason shown under it
    for g in grading.graded:
        mark = MARKS[g.verdict]
        reason = ""
        if g.verdict == "missing":
            verdict = f"{mark}  missing" + (" (counts as wrong: --require-all)" if require_all else "")
            verdict += f": {g.note}" if g.note else ""
        else:
            verdict = mark if g.verdict != "wrong shape" else f"{mark}  wrong shape"
            if len(g.reason) > REASON_WIDTH:
                reason = g.reason
            elif g.reason:
                verdict += f"  {g.reason}" if g.verdict != "wrong shape" else f": {g.reason}"
        rule = g.rule if g.method == "numbers" else f"{g.rule}, {g.method}"
        rows.append([g.answer, g.given or "-", g.correct, verdict, rule])
        below.append(reason)
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    right_aligned = {1, 2}
    indent = " " * (sum(widths[:3]) + 3 * 3 + 3)  # under the verdict, past its mark
    lines = []
    for k, r in enumerate(rows):
        cells = [r[c].rjust(widths[c]) if c in right_aligned and len(r[c]) < 24 else r[c].ljust(widths[c])
                 for c in range(len(r))]
        lines.append("   ".join(cells).rstrip())
        if k and below[k - 1]:
            lines += textwrap.wrap(below[k - 1], width=max(len(indent) + 30, width or len(indent) + 60),
                                   initial_indent=indent, subsequent_indent=indent)
    lines.append(score_line(grading, require_all))
    if grading.own_checks:
        lines.append(grading.own_checks)
    return lines


def notes(grading: Grading) -> list[str]:
    """A line for each reference the teacher should know about (a kink, an infinite or undefined
    gradient, a value beyond float64)."""
    return [f"note for the teacher: {n.answer} ({n.status}): {n.text}" for n in grading.notes]


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
        p = run.problem
        head = f"problem {p.index}: {p.name} (line {p.line})"
        if run.error is not None:
            lines.append(f"{head}: broken")
            lines += [f"  {line}" for line in run.error.render().splitlines()]
        else:
            lines.append(head)
            inner = None if width is None else width - 2
            lines += [f"  {line}" for line in table(run.grading, require_all, inner) + notes(run.grading)]
        lines.append("")
    flagged = [run.flagged for run in runs if run.flagged]
    if flagged:
        lines.append(f"notes for the teacher: {', '.join(flagged)}")
    passed = sum(run.passed(require_all) for run in runs)
    lines.append(f"{passed} of {len(runs)} problems right")
    return lines


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
