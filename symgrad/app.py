"""The application layer: what a command does, for the CLI, `--points`, `batch` and homework alike.

Each function here runs one piece of work from text to results: one point (build, bind,
evaluate, check), many points (streamed), one graded problem, a homework file, one batch line.
They return data, or write the rows of a stream; choosing a view and printing it is the CLI's
part.  Data flows one way: text -> syntax -> graph -> trace -> records -> checks and views.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .errors import SymgradError
from .files import (
    DEFAULT_INPUT_LIMIT,
    NO_FILES,
    Files,
    bounded_lines,
    open_stdin,
    read_stdin,
    read_text,
    regular_file,
    too_large,
)
from .numbers import json_loads

DEFAULT_TIMEOUT = 20.0  # seconds: a safety net; the symbolic check's work is bounded by size
SYMBOLIC_LIMIT = 500_000  # symbolic.SYMBOLIC_LIMIT, without importing the checks for --help


@dataclass(frozen=True)
class CheckOptions:
    """How the three-way checks run: the symbolic check's safety-net time budget (seconds) and size
    limit (symbolic.cost), the finite differences' relative step (None: 6e-6), LaTeX and exact output."""

    timeout: float = DEFAULT_TIMEOUT
    eps: float | None = None
    latex: bool = False
    exact: bool = False
    limit: int = SYMBOLIC_LIMIT


@dataclass(frozen=True)
class GradeOptions:
    """How answers are graded: tolerances replacing the digits rules, whether unanswered gradients
    count, the least significant figures or decimals of a rounded answer, and the checks' bounds."""

    rtol: float | None = None
    atol: float | None = None
    require_all: bool = False
    timeout: float = DEFAULT_TIMEOUT
    sigfigs: int | None = None  # the least significant figures of a rounded answer (None: 2)
    decimals: int | None = None  # instead, the least decimals
    limit: int = SYMBOLIC_LIMIT  # --symbolic-limit


# ---- reading ------------------------------------------------------------------------------


def read_program(expr: str | None, file: str | None, limit: int = DEFAULT_INPUT_LIMIT) -> tuple[str, str]:
    """The program's text and the name its messages use: EXPR, a file, or standard input ('-'),
    at most `limit` bytes (files.read_text)."""
    if expr is not None and file is not None:
        raise SymgradError("usage", "give the program either as EXPR or with --file, not both")
    if file is None and expr is None:
        raise SymgradError("usage", "no program given", hint='symgrad "f(x,y,z)=(x+y)*z" --at x=-2,y=5,z=-4')
    if expr == "-" or file == "-":
        return read_stdin(limit), "<stdin>"
    if file is not None:
        return read_text(file, limit), file
    assert expr is not None
    if len(expr) > limit:
        raise too_large("the expression", limit)
    return expr, "expression"


def parse_wrt(text: str, variables: list[str]) -> list[str]:
    """--wrt x,y: input names, each one of the program's."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    for n in names:
        if n not in variables:
            raise SymgradError("binding", f"--wrt names {n}, which is not an input",
                               hint=f"the inputs are: {', '.join(variables) or 'none'}")
    return names


# ---- one point ----------------------------------------------------------------------------


@dataclass
class PointRun:
    """One evaluation: the graph, its trace and records, the checks, and the messages for stderr."""

    graph: Any
    trace: Any = None
    records: list[Any] = field(default_factory=list)
    checks: list[Any] = field(default_factory=list)
    wrt: list[str] | None = None
    warnings: list[str] = field(default_factory=list)
    symbolic: Any = None  # without a point: the symbolic check alone

    @property
    def failed(self) -> bool:
        """A check found backprop wrong."""
        return any(c.failed for c in self.checks)

    def unstable(self) -> bool:
        """Some gradient was lost by float64 (what --strict also fails)."""
        return any(r.verdict == "unstable" for c in self.checks for r in c.inputs.values())


def build_graph(text: str, name: str, *, expand: bool = False, nodes: int | None = None) -> Any:
    """The graph of a program, of at most `nodes` nodes (None: graph.node_limit)."""
    from .graph import build

    return build(text, name, expand=expand, nodes=nodes)


def run_point(graph: Any, at: Sequence[str], files: Files, *, upstream: str | None = None, wrt: str | None = None,
              strict: bool = False, checks: CheckOptions | None = None, shown: bool = True) -> PointRun:
    """Bind the point (its @file values as `files` allows), evaluate, backpropagate and (unless
    `checks` is None) check.  Without a point and with checks on, the symbolic gradient alone.
    --strict makes nan or inf values errors.  `shown`: make the per-node records the tables, JSON and
    pictures show (a CSV row needs none)."""
    from .binding import check_bindings, parse_at, read_value
    from .engine import evaluate
    from .errors import Source
    from .records import records

    run = PointRun(graph)
    if not at and graph.variables and upstream is None:
        if checks is None:
            raise SymgradError("binding", f"no values for {', '.join(graph.variables)}",
                               hint="give them with --at, or leave out --no-check to see the symbolic gradient")
        from .checks import symbolic_check

        run.symbolic = symbolic_check(graph, None, timeout=checks.timeout, latex=checks.latex, limit=checks.limit)
        return run
    point, where = parse_at(at, files)
    check_bindings(graph, point, where)
    seed = None if upstream is None else read_value(upstream, 0, Source(upstream, "--upstream"), "upstream", files)
    run.trace = evaluate(graph, point, upstream=seed, unused=shown)
    run.wrt = None if wrt is None else parse_wrt(wrt, graph.variables)
    if strict and run.trace.warnings:
        raise SymgradError("domain", run.trace.warnings[0].message,
                           hint="without --strict, nan and inf values are reported as warnings")
    run.warnings = [w.message for w in run.trace.warnings] + list(graph.warnings)
    from .timing import stage

    with stage("output"):  # what the views show of each node: part of writing the output
        run.records = records(run.trace) if shown else []
    if checks is not None:
        run.checks = _checks(graph, run.trace, at, checks, run.wrt, files)
    return run


def _checks(graph: Any, trace: Any, at: Sequence[str], options: CheckOptions, wrt: list[str] | None,
            files: Files) -> list[Any]:
    from .checks import run_checks

    exact = None
    if options.exact:
        from .binding import exact_values

        exact = exact_values(at, files)
    from .timing import stage

    with stage("checks"):
        return run_checks(graph, trace, timeout=options.timeout, eps=options.eps, latex=options.latex,
                          exact=exact, only=wrt, limit=options.limit)


# ---- second derivatives -----------------------------------------------------------------------


def second_derivatives(run: PointRun, *, hessian: bool, hvp: Sequence[str], files: Files,
                       checks: CheckOptions | None) -> tuple[list[Any], Any]:
    """The Hessian rows (hessian.hessian) and the Hessian-vector product row (hessian.hvp; `hvp`
    the direction as --at text), each checked as the checks run (unless `checks` is None):
    (rows, hvp row or None).  Raises SymgradError for a vector output or a bad direction."""
    from . import hessian as H
    from .binding import parse_at
    from .derive import NotDerivable

    def check(graph: Any, trace: Any) -> list[Any]:
        if checks is None:
            return []
        from .checks import run_checks

        return run_checks(graph, trace, timeout=checks.timeout, eps=checks.eps, limit=checks.limit)

    try:
        rows = H.hessian(run.trace, check=check) if hessian else []
        product = None
        if hvp:
            direction, _ = parse_at(hvp, files)
            product = H.hvp(run.trace, direction, check=check)
    except NotDerivable as exc:
        raise SymgradError("usage", f"second derivatives: {exc.message}",
                           hint="the first derivatives above are not affected") from None
    return rows, product


# ---- grading ------------------------------------------------------------------------------


def grade_problem(text: str, name: str, at: Sequence[str], expect: Sequence[str], options: GradeOptions,
                  files: Files, upstream: str | None = None, answer_files: Files = NO_FILES) -> Any:
    """Build and evaluate (@file values as `files` allows), backpropagating `upstream` (a layer's
    dout, as `grad --upstream`) where given; verify the truth with the checks first; then grade the
    answers against the references the checks give (`checks.references`, `checks.node_references`
    for answers about other nodes).  Answers may name files (@W.npy) where `answer_files` allows it:
    on the command line only.  Returns (graph, trace, grading)."""
    from .binding import check_bindings, parse_at, read_value
    from .checks import node_references, references, run_checks, summary
    from .engine import evaluate
    from .errors import Source
    from .homework import grade, parse_expect

    graph = build_graph(text, name, nodes=files.nodes)
    if not expect:
        raise SymgradError("usage", "no answers to check", hint="give them with --expect x=-4,y=4")
    answers = parse_expect(expect, graph, answer_files)
    trace = None
    own: list[Any] = []
    refs = None
    if at or not graph.variables:
        point, where = parse_at(at, files)
        check_bindings(graph, point, where)
        seed = None if upstream is None else read_value(upstream, 0, Source(upstream, "--upstream"), "upstream", files)
        trace = evaluate(graph, point, upstream=seed)
        own = run_checks(graph, trace, timeout=options.timeout, limit=options.limit)
        others, verified = node_references(graph, trace, answers, timeout=options.timeout, limit=options.limit)
        refs = references(graph, trace, own) | others
        own += verified
    grading = grade(graph, trace, answers, references=refs, rtol=options.rtol, atol=options.atol,
                    sigfigs=options.sigfigs, decimals=options.decimals, timeout=options.timeout)
    grading.references = dict(refs or {})
    if own:
        ok, line = summary(own)
        grading.own_checks = line if not ok else ""
        grading.own_checks_failed = not ok
    return graph, trace, grading


@dataclass
class ProblemRun:
    """One problem of a homework file: its grading, or the error that broke it."""

    problem: Any
    grading: Any = None
    error: SymgradError | None = None

    def passed(self, require_all: bool) -> bool:
        return self.grading is not None and self.grading.passed(require_all)

    @property
    def flagged(self) -> str:
        """"problem 3 (kink)" where the references carry a note for the teacher, else ""."""
        if self.grading is None or not self.grading.notes:
            return ""
        return f"problem {self.problem.index} ({', '.join(dict.fromkeys(n.status for n in self.grading.notes))})"


def grade_homework(path: str, options: GradeOptions, limit: int = DEFAULT_INPUT_LIMIT,
                   nodes: int | None = None) -> list[ProblemRun]:
    """Every problem of a homework file, each on its own: a broken one is reported and the others
    are still graded.  A problem's own sigfigs or decimals replace the command line's.  Its values
    may name files inside the homework file's folder only; nothing read is larger than `limit`."""
    from .homework import read_homework

    text = read_text(path, limit)
    folder = Path(path).parent
    files = Files.inside(folder, f"a homework file may name only files inside its own folder ({folder})", limit,
                         nodes)
    runs = []
    for p in read_homework(text, path):
        run = ProblemRun(p, error=p.error)
        if run.error is None:
            try:
                _, _, run.grading = grade_problem(p.function, f"{path}, line {p.function_line}",
                                                  [p.at] if p.at else [], p.expect, problem_options(options, p),
                                                  files, p.upstream)
            except SymgradError as err:
                run.error = _in_file(err, p, path)
        runs.append(run)
    return runs


def problem_options(options: GradeOptions, problem: Any) -> GradeOptions:
    """The grading options for one homework problem: its own sigfigs or decimals, or its own rtol
    and atol, replace the command line's rules."""
    if problem.sigfigs is not None or problem.decimals is not None:
        return replace(options, sigfigs=problem.sigfigs, decimals=problem.decimals, rtol=None, atol=None)
    if problem.rtol is not None or problem.atol is not None:
        return replace(options, rtol=problem.rtol, atol=problem.atol, sigfigs=None, decimals=None)
    return options


def _in_file(err: SymgradError, problem: Any, path: str) -> SymgradError:
    """An error in a problem's at, expect or upstream, placed in the homework file: the key's line,
    and the column within its value (not the command line's --at or --expect)."""
    from .errors import Source

    key = {"--at": "at", "--expect": "expect", "--upstream": "upstream"}.get(err.source.name if err.source else "")
    if key is not None and err.source is not None and key in problem.keys:
        err.source = Source(err.source.text, f"{path}, line {problem.keys[key]}, the value of {key}")
    return err


# ---- worksheets ---------------------------------------------------------------------------


def make_worksheets(text: str, name: str, at: Sequence[str], files: Files, *, seed: int | None = None,
                    students: str | None = None, one_decimal: bool = False) -> list[Any]:
    """The worksheets of a program (worksheet.py): at the point given, or drawn from `seed`; one per
    student named in the file `students` (one name a line), each at a point of their own."""
    from .binding import check_bindings, parse_at
    from .worksheet import variants

    graph = build_graph(text, name, nodes=files.nodes)
    point = None
    if at:
        point, where = parse_at(at, files)
        check_bindings(graph, point, where)
    names: list[str] = []
    if students is not None:
        names = [line.strip() for line in read_text(students, files.limit).splitlines()
                 if line.strip() and not line.strip().startswith("#")]
        if not names:
            raise SymgradError("usage", f"{students} names no student", hint="one name a line")
        twice = next((n for n in names if names.count(n) > 1), None)
        if twice is not None:
            raise SymgradError("usage", f"{students} names {twice} twice", hint="give each student one line")
    return variants(graph, text, point, seed=seed, students=names, one_decimal=one_decimal)


def grade_class(key: str, submissions: str, options: GradeOptions, files: Files) -> list[Any]:
    """A class report (classwork.py): every submission in the file `submissions` graded against the
    homework file `key`.  The submissions may name no files."""
    from .classwork import grade_class as grade_all
    from .classwork import read_submissions
    from .homework import read_homework

    problems = read_homework(read_text(key, files.limit), key)
    folder = Path(key).parent
    keyfiles = Files.inside(folder, f"a homework file may name only files inside its own folder ({folder})",
                            files.limit, files.nodes)
    records = read_submissions(read_text(submissions, files.limit), submissions)
    if not records:
        raise SymgradError("submissions", f"{submissions} holds no submission", hint="a row or a table per student")
    return grade_all(problems, records, options, keyfiles)


# ---- many points --------------------------------------------------------------------------


@dataclass
class Tally:
    """The records of a stream (rows of --points, lines of batch): how many, and which failed."""

    total: int = 0
    failed: int = 0
    first: list[int] = field(default_factory=list)  # the line numbers of the first ten that failed

    def add(self, line: int, ok: bool) -> None:
        self.total += 1
        if not ok:
            self.failed += 1
            if len(self.first) < 10:
                self.first.append(line)

    def summary(self, what: str) -> str:
        """"3 of 1,000 rows failed: lines 12, 57, 900" ("" where none failed)."""
        if not self.failed:
            return ""
        lines = ", ".join(map(str, self.first)) + (", ..." if self.failed > len(self.first) else "")
        return f"{self.failed:,} of {self.total:,} {what} failed: line{'s' if self.failed > 1 else ''} {lines}"


def run_points(graph: Any, at: Sequence[str], points: str, fmt: str, check: bool, out: TextIO,
               files: Files) -> Tally:
    """Evaluate one graph at every point of a CSV, TSV or JSON Lines stream, writing csv, tsv or
    jsonl rows to `out` in input order, a chunk at a time; returns the tally of rows, a row failing
    where it had an error or (with `check`) was judged wrong.  No line may be longer than files.limit."""
    from . import pipeline
    from .binding import parse_at

    if fmt not in ("csv", "tsv", "jsonl"):
        raise SymgradError("usage", f"--points writes csv, tsv or jsonl, not {fmt}", hint="--format csv")
    fixed, where = parse_at(at, files)
    for v in fixed:
        if v not in graph.variables:
            source, span = where[v]
            raise SymgradError("binding", f"--at gives {v}, but {graph.header} has no variable {v}",
                               source=source, span=span)
    lines = _lines(open_stdin() if points == "-" else regular_file(points), files.limit)
    first = next(lines, "")
    kind = "jsonl" if points.endswith((".jsonl", ".ndjson", ".json")) else (
        "tsv" if points.endswith(".tsv") else ("csv" if points.endswith(".csv") else pipeline.sniff(first)))
    lines = itertools.chain([first] if first else [], lines)
    if fmt != "jsonl" and all(np.ndim(v) == 0 for v in fixed.values()):
        if kind != "jsonl":
            header, blocks = pipeline.read_csv_blocks(lines, "\t" if kind == "tsv" else ",", graph.variables, fixed)
            return _block_points(graph, header, blocks, fixed, fmt, check, out)
        data = next((line for line in [first] if line.strip()), None)
        if data is not None and pipeline.scalar_jsonl(data, graph.variables, fixed):  # numbers: as CSV's blocks
            header, blocks = pipeline.read_jsonl_blocks(lines, graph.variables, fixed)
            return _block_points(graph, header, blocks, fixed, fmt, check, out)
    if kind == "jsonl":
        rows = pipeline.read_jsonl(lines, graph.variables, fixed)
    else:
        rows = pipeline.read_csv(lines, "\t" if kind == "tsv" else ",", graph.variables, fixed)
    return _row_points(graph, rows, fixed, fmt, check, out)


def _block_points(graph: Any, header: list[str], blocks: Iterator[Any], fixed: dict[str, Any], fmt: str,
                  check: bool, out: TextIO) -> Tally:
    """Scalar points (CSV or JSON Lines of numbers) in, CSV or TSV out: whole blocks as float matrices."""
    from . import pipeline

    out_delimiter = "\t" if fmt == "tsv" else ","
    out.write(pipeline.csv_header(graph, out_delimiter, check))
    tally = Tally()
    for block in blocks:
        table, errors, verdicts = pipeline.evaluate_block(graph, header, block, fixed, check=check)
        for line, e, v in zip(block.lines, errors, verdicts):
            tally.add(line, e is None and v != "wrong")
        pipeline.write_block(out, out_delimiter, block, header, graph, fixed, table, errors, verdicts, check)
    return tally


def _row_points(graph: Any, rows: Iterator[Any], fixed: dict[str, Any], fmt: str, check: bool, out: TextIO) -> Tally:
    """Points of any shape, row by row within chunks evaluated together."""
    from . import pipeline
    from .views.json_view import dumps, envelope

    tally = Tally()
    writer = None
    for chunk in pipeline.chunks(rows):
        results = pipeline.evaluate_rows(graph, chunk, fixed, check=check)
        for r in results:
            ok = r.error is None and r.check != "wrong"
            if fmt == "jsonl":
                out.write(dumps(envelope(pipeline.point_record(r, graph))) + "\n")
            else:
                if writer is None:
                    writer = _table_writer(graph, results, fixed, fmt, check, out)
                ok &= writer.write(r, fixed)
            tally.add(r.line, ok)
    if writer is None and fmt != "jsonl":
        _table_writer(graph, [], fixed, fmt, check, out)
    return tally


def _lines(stream: TextIO, limit: int) -> Iterator[str]:
    """The lines of the points; a line longer than `limit` stops the stream with an error."""
    for number, line in enumerate(bounded_lines(stream, limit), start=1):
        if line is None:
            raise too_large(f"line {number} of the points", limit)
        yield line


def _table_writer(graph: Any, results: list[Any], fixed: Any, fmt: str, check: bool, out: TextIO) -> Any:
    from .pipeline import TableWriter

    good = next((r for r in results if r.error is None), None)
    shapes = {v: np.shape(fixed[v]) for v in fixed}
    out_shape: tuple[int, ...] = ()
    if good is not None:
        shapes |= {v: np.shape(a) for v, a in good.at.items()}
        out_shape = np.shape(good.value)
    return TableWriter(out, "\t" if fmt == "tsv" else ",", graph, shapes, out_shape, check)


# ---- batch --------------------------------------------------------------------------------

REQUEST_KEYS = {"expr", "at", "id", "expect"}


def answer_request(line: str | None, number: int, cache: dict[str, Any], files: Files, *, check: bool = False,
                   timeout: float = DEFAULT_TIMEOUT, limit: int = SYMBOLIC_LIMIT) -> dict[str, Any]:
    """One batch line to one record (without the envelope): a result, or an error that names the
    line.  `cache` keeps the graphs of expressions already seen; `files` says which files its
    values may name (only under --data-dir); None stands for a line longer than the input limit."""
    from .views import json_view

    head: dict[str, Any] = {"line": number}
    if line is None:
        err = too_large(f"line {number}", files.limit)
        return head | _error("limit", err.message, hint=err.hint)
    try:
        request = json_loads(line)
    except json.JSONDecodeError as exc:
        return head | _error("request", f"line {number} is not valid JSON: {exc.msg} at column {exc.colno}")
    except SymgradError as err:
        return head | _error(err.kind, f"line {number}: {err.message}", hint=err.hint)
    if not isinstance(request, dict):
        return head | _error("request", f"line {number} is not a JSON object")
    if "id" in request:
        head["id"] = _finite(request["id"])
    unknown = sorted(set(request) - REQUEST_KEYS)
    if unknown:
        return head | _error("request", f"unknown key {unknown[0]!r} on line {number}",
                             hint=f"a request has {', '.join(sorted(REQUEST_KEYS))}")
    if not isinstance(request.get("expr"), str):
        return head | _error("request", f"line {number} has no \"expr\" string")
    try:
        return head | _answer(request, cache, files, check, timeout, limit)
    except SymgradError as err:
        return head | {"ok": False} | json_view.error_body(err)


def _finite(value: Any) -> Any:
    """A request's id as strict JSON can carry it: NaN and ±Infinity (which Python's JSON reader
    accepts) become the strings "NaN", "Infinity", "-Infinity", as every non-finite number does."""
    if isinstance(value, float) and not np.isfinite(value):
        return "NaN" if np.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _error(kind: str, message: str, hint: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": kind, "message": message, "line": None, "column": None}
    if hint:
        body["hint"] = hint
    return {"ok": False, "error": body}


def _bindings(value: Any, key: str) -> list[str]:
    """at/expect as --at style text: a string as it is, an object as name=value pairs."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        parts = []
        for name, v in value.items():
            if isinstance(v, bool) or not isinstance(v, (int, float, str, list)):
                raise SymgradError("request", f"{key}.{name} is not a number, an array or a string")
            parts.append(f"{name}={v if isinstance(v, str) else json.dumps(v)}")
        return [",".join(parts)]
    raise SymgradError("request", f"{key} must be an object or a string")


def _answer(request: dict[str, Any], cache: dict[str, Any], files: Files, check: bool, timeout: float,
            limit: int) -> dict[str, Any]:
    from .views import grading, json_view

    text = request["expr"]
    if text not in cache:
        try:
            cache[text] = build_graph(text, "expression", nodes=files.nodes)
        except SymgradError as err:
            cache[text] = err
    graph = cache[text]
    if isinstance(graph, SymgradError):
        raise graph
    expect = _bindings(request.get("expect"), "expect")
    at = _bindings(request.get("at"), "at")
    if graph.variables and not at:
        raise SymgradError("binding", f"no values for {', '.join(graph.variables)}",
                           hint='give them in "at": {"x": 1}')
    options = CheckOptions(timeout=timeout, limit=limit)
    run = run_point(graph, at, files, checks=options if check or expect else None)
    result = json_view.result_body(run.trace, run.records)
    ok = True
    if check:
        result |= json_view.checks_json(run.checks)
        ok = not run.failed
    if expect:
        from .checks import node_references, references
        from .homework import grade, parse_expect

        answers = parse_expect(expect, graph, files)  # under --data-dir, as "at" may
        others, verified = node_references(graph, run.trace, answers, timeout=timeout, limit=limit)
        graded = grade(graph, run.trace, answers, timeout=timeout,
                       references=references(graph, run.trace, run.checks) | others)
        ok = ok and not any(c.failed for c in verified)
        body = grading.result_body(graded, False)
        result |= {k: body[k] for k in ("answers", "score", "passed")}
        ok = ok and graded.passed(False)
    return {"ok": ok} | result
