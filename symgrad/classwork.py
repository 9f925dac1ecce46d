"""Grading a class: a key (a homework file) and the students' submissions, to one report.

Submissions come as TOML, one table per student and problem:

    [[submission]]
    student = "ann"
    problem = "lecture"          # the key's problem by name; by default the one named after the
                                 # student (worksheet variants), else the key's only problem
    answers = "value(q)=3, dL/dq=-4, dL/dx=-4"   # or a table: { "value(q)" = 3, "dL/dq" = -4 }

or as CSV, a row per student and a column per answer (`student`, optionally `problem`, then one
column per answer key such as `value(q)` or `dL/dq`; an empty cell is no answer).  Submissions are
untrusted: they are data, and name no files.  Each problem's truth is computed and verified once
(the checks, and `checks.node_references` for answers about other nodes), and every submission
is graded against it, its wrong answers with the mistake that explains them.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import SymgradError
from .homework import Answer, Grading, Problem, grade, parse_expect

LISTED = 10  # students named per mistake in the summary


@dataclass
class Submission:
    student: str
    problem: str | None  # the key's problem it answers (None: found by the student's name)
    answers: str  # --expect text
    line: int  # where it starts in its file


@dataclass
class Result:
    """One student's grade on one problem, or the error that kept it from being graded."""

    student: str
    problem: str
    points: float
    grading: Grading | None = None
    error: str = ""
    total: int = 0  # the answers the key asks for
    key_note: str = ""  # where the key's own answers are wrong, or the truth failed its checks

    @property
    def right(self) -> int:
        return 0 if self.grading is None else sum(g.right for g in self.grading.graded if g.verdict != "missing")

    @property
    def score(self) -> float:
        return self.points * self.right / self.total if self.total else 0.0

    @property
    def mistakes(self) -> list[str]:
        """The mistakes named in this submission's wrong answers, each once, in the answers' order."""
        return [] if self.grading is None else list(dict.fromkeys(g.mistake for g in self.grading.graded
                                                                  if g.mistake))


@dataclass
class _Truth:
    """A key problem, built, evaluated and verified once for the whole class."""

    problem: Problem
    graph: Any
    trace: Any
    refs: dict[str, Any]
    asked: int
    own_checks: str = ""
    failed: bool = False
    options: Any = None
    key_wrong: list[str] = field(default_factory=list)  # the key's own answers that are wrong


def read_submissions(text: str, path: str) -> list[Submission]:
    """Submissions from TOML ([[submission]] tables) or CSV (by the file's first line)."""
    first = text.lstrip().split("\n", 1)[0]
    if first.startswith("[[") or first.startswith("#") or "=" in first:
        return _from_toml(text, path)
    return _from_csv(text, path)


def _from_toml(text: str, path: str) -> list[Submission]:
    try:
        data = tomllib.loads(text, parse_float=str)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise SymgradError("submissions", f"{path}: {exc}",
                           hint="[[submission]] tables with student and answers") from None
    except RecursionError:
        raise SymgradError("submissions", f"{path}: a value is nested too deeply") from None
    items = data.get("submission")
    if not isinstance(items, list) or not items:
        raise SymgradError("submissions", f"{path} has no [[submission]]",
                           hint='[[submission]]\nstudent = "ann"\nanswers = "dL/dx=-4"')
    starts = [k + 1 for k, line in enumerate(text.splitlines()) if line.strip().startswith("[[submission]]")]
    out = []
    for k, item in enumerate(items):
        line = starts[k] if k < len(starts) else 0
        if not isinstance(item, dict) or not isinstance(item.get("student"), str):
            raise SymgradError("submissions", f"{path}, line {line}: a submission needs a student (a string)")
        unknown = sorted(set(item) - {"student", "problem", "answers"})
        if unknown:
            raise SymgradError("submissions", f"{path}, line {line}: unknown key {unknown[0]}",
                               hint="a submission has student, problem and answers")
        answers = item.get("answers", "")
        if isinstance(answers, dict):
            try:
                answers = ", ".join(f"{key}={_cell(v)}" for key, v in answers.items())
            except RecursionError:
                raise SymgradError("submissions", f"{path}, line {line}: an answer is nested too deeply") from None
        if not isinstance(answers, str):
            raise SymgradError("submissions", f"{path}, line {line}: answers must be a string or a table")
        problem = item.get("problem")
        out.append(Submission(item["student"], None if problem is None else str(problem), answers, line))
    return out


def _cell(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_cell(x) for x in v) + "]"
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise SymgradError("submissions", f"an answer is not a number, a formula or a list: {v!r}")
    return str(v)


def _from_csv(text: str, path: str) -> list[Submission]:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or "student" not in [h.strip() for h in rows[0]]:
        raise SymgradError("submissions", f"{path}: the CSV's header needs a student column",
                           hint="student,value(q),dL/dq,dL/dx")
    header = [h.strip() for h in rows[0]]
    out = []
    for k, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise SymgradError("submissions", f"{path}, line {k} has {len(row)} fields, the header has {len(header)}")
        cells = dict(zip(header, (c.strip() for c in row)))
        answers = ", ".join(f"{key}={value}" for key, value in cells.items()
                            if key not in ("student", "problem") and value)
        out.append(Submission(cells["student"], cells.get("problem") or None, answers, k))
    return out


def grade_class(problems: Sequence[Problem], submissions: Sequence[Submission], options: Any,
                files: Any) -> list[Result]:
    """Every submission graded against its key problem, in the submissions' order."""
    by_name = {p.name: p for p in problems}
    truths: dict[str, _Truth | SymgradError] = {}
    results = []
    for s in submissions:
        name = s.problem or (s.student if s.student in by_name else (problems[0].name if len(problems) == 1 else ""))
        problem = by_name.get(name)
        if problem is None:
            results.append(Result(s.student, s.problem or "?", 0.0, error=f"line {s.line}: no problem "
                                  f"{name or 'named ' + s.student} in the key"))
            continue
        if name not in truths:
            truths[name] = _truth(problem, options, files)
        truth = truths[name]
        if isinstance(truth, SymgradError):
            results.append(Result(s.student, name, problem.points, error=f"the key's problem: {truth.message}"))
            continue
        results.append(_grade_one(s, truth))
    return results


def _truth(problem: Problem, options: Any, files: Any) -> _Truth | SymgradError:
    from .app import grade_problem, problem_options

    if problem.error is not None:
        return problem.error
    own = problem_options(options, problem)
    try:
        graph, trace, key = grade_problem(problem.function, problem.name, [problem.at] if problem.at else [],
                                          problem.expect, own, files, problem.upstream)
    except SymgradError as err:
        return err
    if trace is None:
        return SymgradError("homework", "the key's problem has no point (at)")
    wrong = [g.answer for g in key.graded if g.verdict not in ("right", "missing")]
    asked = sum(g.verdict != "missing" for g in key.graded)
    return _Truth(problem, graph, trace, key.references, asked, key.own_checks, key.own_checks_failed, own, wrong)


def _grade_one(s: Submission, truth: _Truth) -> Result:
    from .checks import node_references

    result = Result(s.student, truth.problem.name, truth.problem.points, total=truth.asked)
    if truth.key_wrong:
        result.key_note = f"the key's answers for {', '.join(truth.key_wrong)} are wrong"
    elif truth.failed:
        result.key_note = truth.own_checks
    try:
        answers: list[Answer] = parse_expect([s.answers], truth.graph) if s.answers.strip() else []
    except SymgradError as err:
        result.error = f"line {s.line}: {err.message}"
        return result
    missing = [a for a in answers if a.target not in truth.refs and a.target]
    if missing:
        truth.refs |= node_references(truth.graph, truth.trace, missing, timeout=truth.options.timeout,
                                      limit=truth.options.limit)[0]
    o = truth.options
    result.grading = grade(truth.graph, truth.trace, answers, references=truth.refs, rtol=o.rtol, atol=o.atol,
                           sigfigs=o.sigfigs, decimals=o.decimals, timeout=o.timeout)
    result.grading.own_checks, result.grading.own_checks_failed = truth.own_checks, truth.failed
    return result


def mistake_counts(results: Sequence[Result]) -> list[tuple[str, list[str]]]:
    """Each named mistake with the students who made it (each once), the most common first."""
    seen: dict[str, list[str]] = {}
    for r in results:
        for m in dict.fromkeys(r.mistakes):
            students = seen.setdefault(m, [])
            if r.student not in students:
                students.append(r.student)
    return sorted(seen.items(), key=lambda item: -len(item[1]))
