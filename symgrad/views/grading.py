"""Graded answers: a table for people, records for graders."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..homework import Graded, Grading
from ..numbers import exact

MARKS = {"right": "✓", "wrong": "✗", "missing": "–", "wrong shape": "✗"}


def table(grading: Grading, require_all: bool) -> list[str]:
    rows = [["answer", "given", "correct", "verdict", "rule"]]
    for g in grading.graded:
        mark = MARKS[g.verdict]
        verdict = mark if g.verdict == "right" else f"{mark}  {g.verdict if g.verdict != 'wrong' else ''}".rstrip()
        if g.reason and g.verdict != "missing":
            verdict = f"{verdict}  {g.reason}" if g.verdict == "wrong" else f"{verdict}: {g.reason}"
        if g.verdict == "missing":
            verdict = f"{mark}  missing" + (" (counts as wrong: --require-all)" if require_all else "")
        rule = g.rule if g.method == "numbers" else f"{g.rule}, {g.method}"
        rows.append([g.answer, g.given or "-", g.correct, verdict, rule])
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    right_aligned = {1, 2}
    lines = []
    for r in rows:
        cells = [r[c].rjust(widths[c]) if c in right_aligned and len(r[c]) < 24 else r[c].ljust(widths[c])
                 for c in range(len(r))]
        lines.append("   ".join(cells).rstrip())
    lines.append(score_line(grading, require_all))
    if grading.own_checks:
        lines.append(grading.own_checks)
    return lines


def score_line(grading: Grading, require_all: bool) -> str:
    answered = [g for g in grading.graded if g.verdict != "missing"]
    missing = len(grading.graded) - len(answered)
    total = len(grading.graded) if require_all else len(answered)
    text = f"{grading.right} of {total} right"
    if missing and not require_all:
        text += f" ({missing} not answered: {', '.join(g.answer for g in grading.graded if g.verdict == 'missing')})"
    return text


def record(g: Graded) -> dict[str, Any]:
    return {
        "answer": g.answer, "input": g.target or None, "given": g.given or None, "correct": g.correct,
        "verdict": g.verdict, "reason": g.reason, "rule": g.rule, "method": g.method,
        "rel_error": None if g.rel_error is None else exact(g.rel_error),
    }


def result(grading: Grading, require_all: bool, **extra: Any) -> dict[str, Any]:
    answered = [g for g in grading.graded if g.verdict != "missing"]
    total = len(grading.graded) if require_all else len(answered)
    return {
        "schema_version": 1,
        "symgrad_version": __version__,
        **extra,
        "answers": [record(g) for g in grading.graded],
        "score": {"right": grading.right, "total": total, "missing": len(grading.graded) - len(answered)},
        "checks": grading.own_checks,
        "passed": grading.passed(require_all),
    }
