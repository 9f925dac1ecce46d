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

from . import parallel
from .app import GradeOptions
from .binding import split_top
from .errors import SymgradError
from .homework import Answer, Grading, Problem, grade, parse_expect

LISTED = 10  # students named per mistake in the summary
LEAST_CHUNK = 4  # submissions a worker is given at a time, at least (with --jobs)


@dataclass
class Submission:
    student: str
    problem: str | None  # the key's problem it answers (None: found by the student's name)
    answers: str  # --expect text
    line: int  # where it starts in its file
    error: str = ""  # what is wrong with the record itself (it is reported, and the others graded)


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
    problems: list[str] = field(default_factory=list)  # answers that could not be read, or were not asked

    @property
    def right(self) -> int:
        """The key's answers this submission got right (answers the key does not ask are not graded)."""
        return 0 if self.grading is None else sum(g.right for g in self.grading.graded)

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
    targets: list[str]  # what the key asks, as Answer.target
    own_checks: str = ""
    failed: bool = False
    options: Any = None
    key_wrong: list[str] = field(default_factory=list)  # the key's own answers that are wrong


def read_submissions(text: str, path: str) -> list[Submission]:
    """Submissions from TOML ([[submission]] tables) or CSV (a header with a student column), told
    apart by the file's ending (.toml, .csv) or else its first line.  A record that is wrong
    carries its error; a file that is neither is a SymgradError."""
    first = text.lstrip().split("\n", 1)[0]
    toml = path.endswith(".toml") or (not path.endswith(".csv") and (first.startswith(("[[", "#")) or "=" in first))
    return _from_toml(text, path) if toml else _from_csv(text, path)


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
    return [_toml_record(item, starts[k] if k < len(starts) else 0) for k, item in enumerate(items)]


def _toml_record(item: Any, line: int) -> Submission:
    """One [[submission]] table; what is wrong with it goes into its error."""
    if not isinstance(item, dict):
        return Submission(f"line {line}", None, "", line, "a submission is a table")
    student = item.get("student")
    name = student if isinstance(student, str) and student.strip() else f"line {line}"
    problem = None if item.get("problem") is None else str(item["problem"])
    unknown = sorted(set(item) - {"student", "problem", "answers"})
    error = ""
    if not isinstance(student, str) or not student.strip():
        error = "a submission needs a student (a string)"
    elif unknown:
        error = f"unknown key {unknown[0]} (a submission has student, problem and answers)"
    answers = item.get("answers", "")
    if isinstance(answers, dict):
        try:
            answers = ", ".join(f"{key}={_cell(v)}" for key, v in answers.items())
        except RecursionError:
            answers, error = "", error or "an answer is nested too deeply"
        except SymgradError as err:
            answers, error = "", error or err.message
    if not isinstance(answers, str):
        answers, error = "", error or "answers must be a string or a table"
    return Submission(name, problem, answers, line, error)


def _cell(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_cell(x) for x in v) + "]"
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise SymgradError("submissions", f"an answer is not a number, a formula or a list: {v!r}")
    return str(v)


def _from_csv(text: str, path: str) -> list[Submission]:
    rows = list(csv.reader(io.StringIO(text)))
    header = [h.strip() for h in rows[0]] if rows else []
    if "student" not in header:
        raise SymgradError("submissions", f"{path}: the CSV's header needs a student column, then a column per "
                           "answer", hint="student,dL/dx,value(q) (comma-separated), or a TOML file of "
                           "[[submission]] tables")
    twice = sorted({h for h in header if header.count(h) > 1})
    out = []
    for k, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = dict(zip(header, (c.strip() for c in row)))
        student = cells.get("student") or f"line {k}"
        if len(row) != len(header):
            out.append(Submission(student, None, "", k, f"the row has {len(row)} fields, the header {len(header)}"))
            continue
        if twice:
            out.append(Submission(student, None, "", k, f"the header names {twice[0]} twice"))
            continue
        answers = ", ".join(f"{key}={value}" for key, value in cells.items()
                            if key not in ("student", "problem") and value)
        out.append(Submission(student, cells.get("problem") or None, answers, k))
    return out


def grade_class(problems: Sequence[Problem], submissions: Sequence[Submission], options: Any,
                files: Any) -> list[Result]:
    """Every submission graded against its key problem, in the submissions' order; a broken one
    gets its error and the others are still graded.  A student's second submission for a problem
    is not graded.  Where the key has a problem for each student (worksheet variants), a student
    without a submission gets a row with 0.

    With `options.jobs` above 1 (ClassOptions), the submissions are graded in that many processes
    (parallel.Ordered), each grading its share against truths of its own: the same report."""
    by_name = {p.name: p for p in problems}
    slots: list[Result | tuple[Submission, str]] = []  # a row made here, or a submission to grade
    done: set[tuple[str, str]] = set()
    for s in submissions:
        name = s.problem or (s.student if s.student in by_name else (problems[0].name if len(problems) == 1 else ""))
        problem = by_name.get(name)
        if s.error:
            slots.append(Result(s.student, name or "?", problem.points if problem else 0.0,
                                error=f"line {s.line}: {s.error}"))
            continue
        if problem is None:
            what = f"no problem {name}" if name else f"no problem named {s.student}, and more than one problem"
            slots.append(Result(s.student, s.problem or "?", 0.0, error=f"line {s.line}: {what} in the key"))
            continue
        if (s.student, name) in done:
            slots.append(Result(s.student, name, 0.0, error=f"line {s.line}: a second submission by "
                                f"{s.student} for {name}: only the first is graded"))
            continue
        done.add((s.student, name))
        slots.append((s, name))
    tasks = [slot for slot in slots if isinstance(slot, tuple)]
    graded = iter(_grade_all(tasks, problems, options, files, getattr(options, "jobs", 1)))
    results = [slot if isinstance(slot, Result) else next(graded) for slot in slots]
    graded_students = {r.student for r in results}
    for p in problems:  # per-student variants: a student who handed nothing in
        if p.name not in graded_students and any(p2.name in graded_students for p2 in problems) and all(
                s.problem is None for s in submissions):
            results.append(Result(p.name, p.name, p.points, error="no submission", total=1))
    return results


@dataclass(frozen=True)
class ClassOptions(GradeOptions):
    """GradeOptions for a class, with the number of processes that grade it (--jobs)."""

    jobs: int = 1


class Grader:
    """Grades submissions against a key's problems, each problem's truth computed and verified
    the first time a submission needs it and kept: in one process for the whole class, or in
    each worker process for the submissions it is given."""

    def __init__(self, problems: Sequence[Problem], options: Any, files: Any) -> None:
        self.by_name = {p.name: p for p in problems}
        self.options = options
        self.files = files
        self.truths: dict[str, _Truth | SymgradError] = {}

    def grade(self, task: tuple[Submission, str]) -> Result:
        """One submission, against the key's problem of that name."""
        s, name = task
        problem = self.by_name[name]
        if name not in self.truths:
            self.truths[name] = _truth(problem, self.options, self.files)
        truth = self.truths[name]
        if isinstance(truth, SymgradError):
            return Result(s.student, name, problem.points, error=f"the key's problem {name}: {truth.message}")
        return _grade_one(s, truth)


def _grade_all(tasks: Sequence[tuple[Submission, str]], problems: Sequence[Problem], options: Any, files: Any,
               jobs: int) -> list[Result]:
    """Each (submission, problem name) graded, in order: here, or with `jobs` processes where there
    is more than one chunk of work for them (parallel.chunked).  A chunk holds at least
    LEAST_CHUNK submissions: fewer take less time to grade than a worker takes to start."""
    chunks = parallel.chunked(tasks, jobs, least=LEAST_CHUNK)
    if jobs <= 1 or len(chunks) <= 1:
        grader = Grader(problems, options, files)
        return [grader.grade(task) for task in tasks]
    results: list[Result] = []
    with parallel.Ordered(jobs, Grader.grade, Grader, (problems, options, files), results.append) as pool:
        for chunk in chunks:
            pool.put(chunk)
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
        return SymgradError("homework", "it has no point (at)")
    wrong = [g.answer for g in key.graded if g.verdict not in ("right", "missing")]
    targets = [g.target for g in key.graded if g.verdict != "missing"]
    return _Truth(problem, graph, trace, key.references, targets, key.own_checks, key.own_checks_failed, own, wrong)


def _grade_one(s: Submission, truth: _Truth) -> Result:
    """One submission: each answer read on its own (one that cannot be read is that answer's
    problem, not the submission's), the key's answers graded, the others listed as not asked."""
    from .checks import node_references

    result = Result(s.student, truth.problem.name, truth.problem.points, total=len(truth.targets))
    if truth.key_wrong:
        result.key_note = f"problem {truth.problem.name}: the key's answers for {', '.join(truth.key_wrong)} are wrong"
    elif truth.failed:
        result.key_note = f"problem {truth.problem.name}: {truth.own_checks}"
    answers: list[Answer] = []
    for _, piece in split_top(s.answers):
        if not piece.strip():
            continue
        try:
            answer = parse_expect([piece], truth.graph)[0]
        except SymgradError as err:
            result.problems.append(f"{piece.strip()}: {err.message}")
            continue
        if answer.target not in truth.targets:
            result.problems.append(f"{answer.key}: not asked by the key")
        elif any(a.target == answer.target for a in answers):
            result.problems.append(f"{answer.key}: answered twice (the first answer is graded)")
        else:
            answers.append(answer)
    missing = [a for a in answers if a.target not in truth.refs and a.target]
    refs = truth.refs  # the truth is shared: what one submission needs more is its own, so that no
    if missing:        # report depends on the submissions graded before it (or in another process)
        refs = refs | node_references(truth.graph, truth.trace, missing, timeout=truth.options.timeout,
                                      limit=truth.options.limit)[0]
    o = truth.options
    grading = grade(truth.graph, truth.trace, answers, references=refs, rtol=o.rtol, atol=o.atol,
                    sigfigs=o.sigfigs, decimals=o.decimals, timeout=o.timeout)
    grading.graded = [g for g in grading.graded if g.target in truth.targets]  # the key's questions only
    grading.own_checks, grading.own_checks_failed = truth.own_checks, truth.failed
    result.grading = grading
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
