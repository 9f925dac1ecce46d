"""The `symgrad` command: read options, call the library, pick a view."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click
import numpy as np

from . import __version__
from . import primitives as P
from .errors import SymgradError

DEFAULT_TIMEOUT = 20.0  # seconds: a safety net; the symbolic check's work is bounded by size
SYMBOLIC_LIMIT = 500_000  # symbolic.SYMBOLIC_LIMIT, without importing the checks for --help

EXAMPLES = """\b
Examples:
  symgrad "f(x,y,z)=(x+y)*z" --at x=-2,y=5,z=-4
  symgrad "q = x + y; f = q * z" --at x=-2,y=5,z=-4 --format json
  symgrad "f(w,x) = sigmoid(w*x)" --at w=2,x=-1 --expand
  symgrad --file prog.sg --at x=pi/4
  echo "x*y" | symgrad - --at x=1,y=2
  symgrad --at x=3 -- -x^2          (an expression starting with - goes after --)
"""


def _functions_help() -> str:
    lines = ["\b", "Functions:"]
    for name in P.function_names():
        for prim in P.overloads(name):
            lines.append(f"  {name}({', '.join(prim.params)}): {prim.summary}")
    lines.append("  Constants: pi (π), e.  Operators: + - * / ^ (or **), unary -, parentheses.")
    lines.append("  Also read: − × · ÷ π σ(...), ln = log.")
    return "\n".join(lines)


LANGUAGE = """\b
Programs:
  Statements are separated by new lines or ';', and # starts a comment.
  q = x + y          names an intermediate value (shown as q in every output)
  g(a, b) = a * b    defines a function; each call is one grouped gate
  f(x, y, z) = ...   as the last line: names the output and orders the inputs
"""

FORMATS = ["table", "plain", "json", "jsonl", "csv", "tsv"]

EXIT_CODES = """\b
Exit status: 0 success (warnings included), 2 bad input or options,
3 an internal error in symgrad, 130 interrupted.
"""


class _Main(click.Group):
    """`symgrad EXPR ...` means `symgrad grad EXPR ...`; option errors are JSON too
    when JSON was asked for."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        try:
            status = super().main(argv, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            if _wants_json(argv):
                from .views import json_view

                err = SymgradError("usage", exc.format_message())
                click.echo(json_view.dumps(json_view.error(err)))
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            sys.exit(130)
        sys.exit(status if isinstance(status, int) else 0)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version", "-V"):
            args = ["grad", *args]
        return super().parse_args(ctx, args)


class _Grad(click.Command):
    """Option mistakes get messages in the user's terms."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given_args = list(args)  # click consumes the list as it parses
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            if exc.possibilities:  # a misspelt option: click says which it might be
                raise
            message = f"no such option: {exc.option_name}."
            given = next((a for a in given_args if a.startswith(exc.option_name)), exc.option_name)
            if not given.startswith("--"):
                message += (f" If {given} is an expression, put it after '--', as in: "
                            f"symgrad --at x=3 -- {given}")
            raise click.UsageError(message, ctx) from None
        except click.UsageError as exc:
            if "extra argument" in exc.message and any("=" in a for a in given_args if not a.startswith("-")):
                raise click.UsageError(
                    exc.message + ". Separate the bindings of --at with commas, not spaces: --at x=1,y=2", ctx
                ) from None
            raise


@click.group(
    cls=_Main,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    no_args_is_help=True,
    help="Show and check gradients by backpropagation through a computational graph.\n\n"
    "symgrad EXPR --at ... is short for symgrad grad EXPR --at ...\n\n" + EXAMPLES,
    epilog=LANGUAGE + "\n" + _functions_help() + "\n\n" + EXIT_CODES,
)
@click.version_option(__version__, "-V", "--version", prog_name="symgrad")
def main() -> None:
    pass


@main.command(
    "grad",
    cls=_Grad,
    help="Evaluate EXPR at a point, backpropagate, and show every node's value and gradients.\n\n"
    "EXPR is a program (see symgrad --help); '-' reads it from standard input.\n\n" + EXAMPLES,
    epilog=_functions_help(),
)
@click.argument("expr", required=False)
@click.option("--at", "at", multiple=True, metavar="NAME=VALUE,...",
              help="Values of the variables, e.g. x=-2,y=5,z=pi/4. May be repeated.")
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False, allow_dash=True),
              help="Read the program from a file ('-' for standard input).")
@click.option("--format", "fmt", type=click.Choice(FORMATS, case_sensitive=False),
              default=None, help="Output: a rich table (the default on a terminal), plain aligned text "
              "(the default otherwise), JSON, or for scripts jsonl, csv or tsv (one row per point).")
@click.option("--points", metavar="FILE", help="Evaluate at many points: a CSV file with a header naming the "
              "variables, or JSON Lines ('-' reads standard input). Writes csv (default), tsv or jsonl.")
@click.option("--check", "check_points", is_flag=True, help="With --points: check each point numerically.")
@click.option("--steps", is_flag=True, help="Also print the chain rule for every node, in backward order.")
@click.option("--wrt", metavar="X,Y", help="Report the gradients with respect to these inputs only.")
@click.option("--upstream", metavar="G",
              help="For a vector or matrix output: backpropagate this gradient (shaped like the output, "
              "inline as [1,0,2] or @file.json/.npy) instead of giving the full Jacobian.")
@click.option("--expand", is_flag=True, help="Show grouped gates (sigmoid, your functions) as their primitives.")
@click.option("--digits", type=click.IntRange(1, 17), default=4, show_default=True,
              help="Significant digits in tables (JSON is always exact).")
@click.option("--strict", is_flag=True, help="Treat nan/inf values as errors (exit status 2).")
@click.option("--no-check", is_flag=True, help="Skip the symbolic and numeric checks of the gradient.")
@click.option("--symbolic-limit", type=click.IntRange(min=1), default=SYMBOLIC_LIMIT, show_default=True,
              metavar="N", help="Largest expression the symbolic check takes on (its size times its depth "
              "squared); larger ones are skipped, the same on every machine.")
@click.option("--check-timeout", type=click.FloatRange(min=0.1), default=DEFAULT_TIMEOUT, show_default=True,
              metavar="SECONDS",
              help="A safety net: the symbolic check is stopped past this time (ordinary inputs, bounded by "
              "--symbolic-limit, never reach it).")
@click.option("--eps", type=click.FloatRange(min=0, min_open=True), default=None, metavar="H",
              help="Relative step of the finite differences (default 6e-6, times max(1, |x|)).")
@click.option("--latex", is_flag=True, help="Also print the symbolic derivatives as LaTeX.")
@click.option("--exact", is_flag=True, help="Also give the value and gradient exactly (-12, 1/4, e/(1 + e)).")
def grad(expr: str | None, at: Sequence[str], file: str | None, fmt: str | None, points: str | None,
         check_points: bool, steps: bool, wrt: str | None, upstream: str | None, expand: bool, digits: int,
         strict: bool, no_check: bool, symbolic_limit: int, check_timeout: float, eps: float | None, latex: bool,
         exact: bool) -> None:
    if points is not None:
        if upstream is not None:
            raise click.UsageError("--upstream does not go with --points: many points need a scalar output")
        rows_fmt, source = (fmt or "csv").lower(), points
        _run(rows_fmt, lambda: _points(expr, at, file, rows_fmt, source, check_points, expand))
        return
    out_fmt = (fmt or default_format()).lower()
    checks = None if no_check else CheckOptions(check_timeout, eps, latex, exact, symbolic_limit)
    _run(out_fmt, lambda: _grad(expr, at, file, out_fmt, steps, wrt, upstream, expand, digits, strict, checks))


def _points(expr: str | None, at: Sequence[str], file: str | None, fmt: str, points: str, check: bool,
            expand: bool) -> None:
    """One graph over many points, streamed in chunks, rows in input order."""
    from . import pipeline
    from .binding import parse_at
    from .graph import build

    if fmt not in ("csv", "tsv", "jsonl"):
        raise SymgradError("usage", f"--points writes csv, tsv or jsonl, not {fmt}", hint="--format csv")
    if points == "-" and (expr == "-" or file == "-"):
        raise SymgradError("usage", "the program and the points cannot both come from standard input")
    text, name = read_program(expr, file)
    graph = build(text, name, expand=expand)
    fixed, where = parse_at(at)
    for v in fixed:
        if v not in graph.variables:
            source, span = where[v]
            raise SymgradError("binding", f"--at gives {v}, but {graph.header} has no variable {v}",
                               source=source, span=span)
    stream = _open_points(points)
    first = stream.read(1)
    kind = "jsonl" if points.endswith((".jsonl", ".ndjson", ".json")) else (
        "tsv" if points.endswith(".tsv") else ("csv" if points.endswith(".csv") else pipeline.sniff(first)))
    import itertools

    body = itertools.chain([first], iter(lambda: stream.read(1 << 16), ""))
    lines = _lines(body)
    scalar_fixed = all(np.ndim(v) == 0 for v in fixed.values())
    if kind != "jsonl" and fmt != "jsonl" and scalar_fixed:
        delimiter = "\t" if kind == "tsv" else ","
        header, blocks = pipeline.read_csv_blocks(lines, delimiter, graph.variables, fixed)
        out_delimiter = "\t" if fmt == "tsv" else ","
        sys.stdout.write(pipeline.csv_header(graph, out_delimiter, check))
        failed = False
        for block in blocks:
            table, errors, verdicts = pipeline.evaluate_block(graph, header, block, fixed, check=check)
            failed |= any(e is not None for e in errors) or "wrong" in verdicts
            pipeline.write_block(sys.stdout, out_delimiter, block, header, graph, fixed, table, errors,
                                 verdicts, check)
        if failed:
            sys.exit(1)
        return
    if kind == "jsonl":
        rows = pipeline.read_jsonl(lines, graph.variables, fixed)
    else:
        rows = pipeline.read_csv(lines, "\t" if kind == "tsv" else ",", graph.variables, fixed)
    failed = False
    writer = None
    out = sys.stdout
    for chunk in pipeline.chunks(rows):
        results = pipeline.evaluate_rows(graph, chunk, fixed, check=check)
        for r in results:
            failed |= r.error is not None or r.check == "wrong"
            if fmt == "jsonl":
                out.write(json_dumps(pipeline.point_record(r, graph)) + "\n")
                continue
            if writer is None:
                writer = _table_writer(graph, results, fixed, fmt, check)
            failed |= not writer.write(r, fixed)
    if writer is None and fmt != "jsonl":
        _table_writer(graph, [], fixed, fmt, check)
    if failed:
        sys.exit(1)


def _open_points(path: str) -> Any:
    if path == "-":
        return sys.stdin
    try:
        return open(path, encoding="utf-8", newline="")
    except OSError as exc:
        raise SymgradError("io", f"cannot read {path}: {exc.strerror or exc}") from None


def _lines(pieces: Any) -> Any:
    """Lines from a stream of text pieces (so that the first character can be peeked at)."""
    rest = ""
    for piece in pieces:
        rest += piece
        *done, rest = rest.split("\n")
        for line in done:
            yield line + "\n"
    if rest:
        yield rest


def _table_writer(graph: Any, results: list[Any], fixed: Any, fmt: str, check: bool) -> Any:
    from .pipeline import TableWriter

    good = next((r for r in results if r.error is None), None)
    shapes = {v: np.shape(fixed[v]) for v in fixed}
    out_shape: tuple[int, ...] = ()
    if good is not None:
        shapes |= {v: np.shape(a) for v, a in good.at.items()}
        out_shape = np.shape(good.value)
    return TableWriter(sys.stdout, "\t" if fmt == "tsv" else ",", graph, shapes, out_shape, check)


@dataclass(frozen=True)
class CheckOptions:
    timeout: float
    eps: float | None
    latex: bool
    exact: bool
    limit: int = SYMBOLIC_LIMIT


def default_format() -> str:
    """A rich table on a terminal, plain text into a pipe or a file."""
    return "table" if sys.stdout.isatty() else "plain"


def _grad(expr: str | None, at: Sequence[str], file: str | None, fmt: str, steps: bool, wrt_text: str | None,
          upstream: str | None, expand: bool, digits: int, strict: bool, options: CheckOptions | None) -> None:
    from .binding import check_bindings, parse_at, read_value
    from .engine import evaluate
    from .errors import Source
    from .graph import build
    from .records import records

    text, name = read_program(expr, file)
    graph = build(text, name, expand=expand)
    for m in graph.notes:
        say(f"note: {m}", err=True)
    if not at and graph.variables and upstream is None:
        if options is None:
            raise SymgradError("binding", f"no values for {', '.join(graph.variables)}",
                               hint="give them with --at, or leave out --no-check to see the symbolic gradient")
        _symbolic_only(graph, fmt, options)
        return
    point, where = parse_at(at)
    check_bindings(graph, point, where)
    seed = None if upstream is None else read_value(upstream, 0, Source(upstream, "--upstream"), "upstream")
    trace = evaluate(graph, point, upstream=seed)
    wrt = None if wrt_text is None else parse_wrt(wrt_text, graph.variables)
    messages = [w.message for w in trace.warnings] + graph.warnings
    if strict and trace.warnings:
        raise SymgradError("domain", trace.warnings[0].message,
                           hint="without --strict, nan and inf values are reported as warnings")
    for m in messages:
        say(f"warning: {m}", err=True)
    recs = records(trace)
    sym = _symbols()
    checks = [] if options is None else run_checks(graph, trace, at, options, wrt)
    # Only "wrong" fails a check; --strict also fails a gradient that float64 lost ("unstable").
    failed = any(c.failed for c in checks) or (strict and any(
        r.verdict == "unstable" for c in checks for r in c.inputs.values()))
    if fmt in ("csv", "tsv"):
        _one_row(trace, fmt, checks)
        if failed:
            sys.exit(1)
        return
    if fmt in ("json", "jsonl"):
        from .views import json_view

        click.echo(json_view.dumps(json_view.result(trace, recs, wrt, checks)))
        if failed:
            sys.exit(1)
        return
    if fmt == "table":
        from .views import table

        table.render(_console(), trace, recs, digits=digits, sym=sym, wrt=wrt)
    else:
        from .views import plain

        say(plain.render(trace, recs, digits=digits, sym=sym, wrt=wrt), nl=False)
    if checks:
        from .views import checks_view

        click.echo()
        width = _console().width if fmt == "table" else None
        for line in checks_view.lines(checks, trace, sym, digits, wrt, width):
            say(line)
        exact = next((c for c in checks if c.exact), None)
        if exact is not None:
            say(checks_view.exact_line(exact, graph, sym))
    if steps:
        from .views import steps as steps_view

        click.echo()
        say(steps_view.render(trace, recs, digits=digits, sym=sym), nl=False)
    if failed:
        sys.exit(1)


def _one_row(trace: Any, fmt: str, checks: list[Any]) -> None:
    """One point as CSV or TSV: the header and a row, as --points writes them."""
    from .checks import summary
    from .pipeline import PointResult, TableWriter

    if trace.mode == "jacobian":
        raise SymgradError("usage", f"{fmt} has a column per gradient component: it needs a scalar output, "
                           "or --upstream", hint="use --format json for the Jacobian")
    graph = trace.graph
    at = {v: trace.value_of(trace.values[i]) for v, i in zip(graph.variables, graph.inputs)}
    verdict = None
    if checks:
        ok, _ = summary(checks)
        verdict = "pass" if ok else "fail"
    result = PointResult(1, at, trace.value, trace.gradient, [w.message for w in trace.warnings], check=verdict)
    writer = TableWriter(sys.stdout, "\t" if fmt == "tsv" else ",", graph, {v: np.shape(a) for v, a in at.items()},
                         trace.out_shape, verdict is not None)
    writer.write(result, {})


def run_checks(graph: Any, trace: Any, at: Sequence[str], options: CheckOptions,
               wrt: list[str] | None = None) -> list[Any]:
    """The symbolic and the numeric check of one evaluation."""
    from . import checks

    exact = None
    if options.exact:
        from .binding import exact_values

        exact = exact_values(at)
    return checks.run_checks(graph, trace, timeout=options.timeout, eps=options.eps, latex=options.latex,
                             exact=exact, only=wrt, limit=options.limit)


def _symbolic_only(graph: Any, fmt: str, options: CheckOptions) -> None:
    """No point given: the graph and its symbolic gradient, without numbers."""
    from .checks import symbolic_check
    from .views import checks_view, plain

    check = symbolic_check(graph, None, timeout=options.timeout, latex=options.latex, limit=options.limit)
    if fmt == "json":
        from .views import json_view

        click.echo(json_view.dumps(json_view.symbolic_only(graph, check)))
        return
    say(plain.graph_only(graph))
    if check.status == "skipped":
        say(f"symbolic gradient skipped: {check.reason}")
    for line in checks_view.derivative_lines(graph, check, _symbols()):
        say(line)


def parse_wrt(text: str, variables: list[str]) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    for n in names:
        if n not in variables:
            raise SymgradError("binding", f"--wrt names {n}, which is not an input",
                               hint=f"the inputs are: {', '.join(variables) or 'none'}")
    return names


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


@main.command(
    "check",
    cls=_Grad,
    help="Check answers: compare the gradient a student (or a grader) expects with the true one.\n\n"
    "TARGET is an expression, or a homework file ending in .toml with many problems.\n\n"
    "\b\nExamples:\n"
    '  symgrad check "f(x,y,z)=(x+y)*z" --at x=-2,y=5,z=-4 --expect x=-4,y=-4,z=3\n'
    '  symgrad check "f(x,y,z)=(x+y)*z" --expect "x=z, y=z, z=x+y"\n'
    "  symgrad check homework.toml --format json\n\n"
    "Answers may be named x, dx, df/dx or ∂f/∂x; f=... checks the value. An answer equal to the true value "
    "(relative 1e-9) is right whatever its digits; a number without a decimal point must be exact; any other "
    "number is right within half a unit of its last digit, given with at least 2 significant figures "
    "(--sigfigs, --decimals). inf, -inf and nan (or undefined) answer an infinite or undefined gradient. "
    "Exit status: 0 all right, 1 an answer is wrong (or missing, with --require-all), 2 bad input.",
)
@click.argument("target", required=False)
@click.option("--at", "at", multiple=True, metavar="NAME=VALUE,...", help="The point, as for symgrad grad.")
@click.option("--expect", multiple=True, metavar="NAME=ANSWER,...",
              help="The answers: numbers, nested lists, or formulas in the inputs (x=z, z=x+y).")
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False, allow_dash=True),
              help="Read the function from a file ('-' for standard input).")
@click.option("--format", "fmt", type=click.Choice(["plain", "json"], case_sensitive=False), default="plain",
              help="A table, or JSON (one record per problem for a homework file).")
@click.option("--sigfigs", type=click.IntRange(min=1), default=None, metavar="N",
              help="Rounded answers need at least N significant figures (2 by default).")
@click.option("--decimals", type=click.IntRange(min=0), default=None, metavar="N",
              help="Instead: rounded answers need at least N decimals.")
@click.option("--rtol", type=click.FloatRange(min=0), default=None,
              help="Relative tolerance (replaces the digits rule).")
@click.option("--atol", type=click.FloatRange(min=0), default=None,
              help="Absolute tolerance (replaces the digits rule).")
@click.option("--require-all", is_flag=True, help="Unanswered gradients count as wrong.")
@click.option("--symbolic-limit", type=click.IntRange(min=1), default=SYMBOLIC_LIMIT, show_default=True,
              metavar="N", help="Largest expression the symbolic check takes on (its size times its depth "
              "squared); larger ones are skipped, the same on every machine.")
@click.option("--check-timeout", type=click.FloatRange(min=0.1), default=DEFAULT_TIMEOUT, show_default=True,
              metavar="SECONDS",
              help="A safety net: each symbolic check is stopped past this time.")
def check(target: str | None, at: Sequence[str], expect: Sequence[str], file: str | None, fmt: str,
          sigfigs: int | None, decimals: int | None, rtol: float | None, atol: float | None, require_all: bool,
          symbolic_limit: int, check_timeout: float) -> None:
    fmt = fmt.lower()

    def work() -> None:
        if sigfigs is not None and decimals is not None:
            raise SymgradError("usage", "--sigfigs and --decimals are two rules: give one",
                               hint="--sigfigs 3 counts significant figures, --decimals 2 decimals")
        if (rtol is not None or atol is not None) and (sigfigs is not None or decimals is not None):
            raise SymgradError("usage", "--rtol and --atol replace the digits rules: give them without "
                               f"{'--sigfigs' if sigfigs is not None else '--decimals'}",
                               hint="either a tolerance (--rtol, --atol) or a least number of digits")
        options = GradeOptions(rtol, atol, require_all, check_timeout, sigfigs, decimals, symbolic_limit)
        if target is not None and file is None and target.endswith(".toml") and Path(target).is_file():
            _homework(target, fmt, options)
        else:
            _check_one(target, at, expect, file, fmt, options)

    _run(fmt, work)


@dataclass(frozen=True)
class GradeOptions:
    rtol: float | None
    atol: float | None
    require_all: bool
    timeout: float
    sigfigs: int | None = None  # the least significant figures of a rounded answer (None: 2)
    decimals: int | None = None  # instead, the least decimals
    limit: int = SYMBOLIC_LIMIT  # --symbolic-limit


def grade_problem(text: str, name: str, at: Sequence[str], expect: Sequence[str], options: GradeOptions) -> Any:
    """Build and evaluate; verify the truth with the checks first; then grade the answers against
    the references the checks give (`checks.references`)."""
    from .binding import check_bindings, parse_at
    from .checks import references, run_checks, summary
    from .engine import evaluate
    from .graph import build
    from .homework import grade, parse_expect

    graph = build(text, name)
    if not expect:
        raise SymgradError("usage", "no answers to check", hint="give them with --expect x=-4,y=4")
    answers = parse_expect(expect, graph)
    trace = None
    own: list[Any] = []
    refs = None
    if at or not graph.variables:
        point, where = parse_at(at)
        check_bindings(graph, point, where)
        trace = evaluate(graph, point)
        own = run_checks(graph, trace, timeout=options.timeout, limit=options.limit)
        refs = references(graph, trace, own)
    grading = grade(graph, trace, answers, references=refs, rtol=options.rtol, atol=options.atol,
                    sigfigs=options.sigfigs, decimals=options.decimals, timeout=options.timeout,
                    partial=_symbols().partial)
    if own:
        ok, line = summary(own)
        grading.own_checks = line if not ok else ""
        grading.own_checks_failed = not ok
    return graph, trace, grading


def _check_one(target: str | None, at: Sequence[str], expect: Sequence[str], file: str | None, fmt: str,
               options: GradeOptions) -> None:
    from .views import grading as view

    text, name = read_program(target, file)
    graph, trace, grading = grade_problem(text, name, at, expect, options)
    if fmt == "json":
        at_json = {} if trace is None else {v: exact_json(trace.value_of(trace.values[i]))
                                             for v, i in zip(graph.variables, graph.inputs)}
        click.echo(json_dumps(view.result(grading, options.require_all, schema_version=view.SCHEMA_VERSION,
                                          expression=text, at=at_json)))
    else:
        for line in view.table(grading, options.require_all):
            say(line)
    if not grading.passed(options.require_all):
        sys.exit(1)


def _homework(path: str, fmt: str, options: GradeOptions) -> None:
    """Every problem of a homework file; a broken one is reported and counted as failed.  A problem's
    own sigfigs or decimals replace the command line's; problems whose references carry a note (a
    kink, an infinite or undefined gradient, a value beyond float64) are flagged for the teacher."""
    from dataclasses import replace

    from .homework import read_homework
    from .views import grading as view
    from .views import json_view

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SymgradError("io", f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    problems = read_homework(text, path)
    records = []
    passed = 0
    flagged = []
    for p in problems:
        grading, error = None, p.error
        if error is None:
            own = options
            if p.sigfigs is not None or p.decimals is not None:
                own = replace(options, sigfigs=p.sigfigs, decimals=p.decimals)
            try:
                where = f"{path}, line {p.function_line}"
                _, _, grading = grade_problem(p.function, where,
                                              [p.at] if p.at else [], p.expect, own)
            except SymgradError as err:
                error = err
        ok = grading is not None and grading.passed(options.require_all)
        passed += ok
        if grading is not None and grading.notes:
            statuses = ", ".join(dict.fromkeys(n.status for n in grading.notes))
            flagged.append(f"problem {p.index} ({statuses})")
        if fmt == "json":
            rec: dict[str, Any] = {"index": p.index, "name": p.name, "line": p.line, "passed": ok}
            if grading is not None:
                rec |= view.result(grading, options.require_all, schema_version=view.SCHEMA_VERSION)
                del rec["symgrad_version"], rec["schema_version"]
            if error is not None:
                rec["error"] = json_view.error(error)["error"]
            records.append(rec)
            continue
        head = f"problem {p.index}: {p.name} (line {p.line})"
        if error is not None:
            say(f"{head}: broken")
            for line in error.render().splitlines():
                say(f"  {line}")
        else:
            assert grading is not None
            say(head)
            for line in view.table(grading, options.require_all) + view.notes(grading):
                say(f"  {line}")
        say()
    total = f"{passed} of {len(problems)} problems right"
    if fmt == "json":
        click.echo(json_dumps({"schema_version": view.SCHEMA_VERSION, "symgrad_version": __version__, "file": path,
                               "problems": records, "score": {"passed": passed, "total": len(problems)}}))
    else:
        if flagged:
            say(f"notes for the teacher: {', '.join(flagged)}")
        say(total)
    if passed < len(problems):
        sys.exit(1)


@main.command(
    "batch",
    help="Answer many requests: one JSON object per line on standard input, "
    '{"expr": str, "at": {...}, "id": any, "expect": {...}} ("at" and "expect" may also be strings such as '
    '"x=1,y=2"), and one JSON result per line on standard output, in the same order, carrying the id. A bad '
    "line gets an error record and the batch goes on. Exit status 0 when every line succeeded, 1 otherwise.",
)
@click.option("--check", "check", is_flag=True, help="Also run the symbolic and numeric checks for every line.")
@click.option("--symbolic-limit", type=click.IntRange(min=1), default=SYMBOLIC_LIMIT, show_default=True,
              metavar="N", help="Largest expression the symbolic check takes on (its size times its depth "
              "squared); larger ones are skipped, the same on every machine.")
@click.option("--check-timeout", type=click.FloatRange(min=0.1), default=DEFAULT_TIMEOUT, show_default=True,
              metavar="SECONDS",
              help="A safety net: each symbolic check is stopped past this time.")
def batch(check: bool, symbolic_limit: int, check_timeout: float) -> None:
    _run("json", lambda: _batch(check, check_timeout, symbolic_limit))


def _batch(check: bool, timeout: float, limit: int = SYMBOLIC_LIMIT) -> None:
    from .pipeline import answer_request

    cache: dict[str, Any] = {}
    failed = False
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        record = answer_request(line, number, cache, check=check, timeout=timeout, limit=limit)
        failed |= not record.get("ok", False)
        click.echo(json_dumps(record))
    if failed:
        sys.exit(1)


def exact_json(v: Any) -> Any:
    from .numbers import exact

    return exact(v)


def json_dumps(obj: Any) -> str:
    from .views import json_view

    return json_view.dumps(obj)


def read_program(expr: str | None, file: str | None) -> tuple[str, str]:
    if expr is not None and file is not None:
        raise SymgradError("usage", "give the program either as EXPR or with --file, not both")
    if file is None and expr is None:
        raise SymgradError("usage", "no program given", hint='symgrad "f(x,y,z)=(x+y)*z" --at x=-2,y=5,z=-4')
    if expr == "-" or file == "-":
        return sys.stdin.read(), "<stdin>"
    if file is not None:
        try:
            return Path(file).read_text(encoding="utf-8"), file
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise SymgradError("io", f"cannot read {file}: {reason}") from None
    assert expr is not None
    return expr, "expression"


def say(text: str | None = "", *, nl: bool = True, err: bool = False) -> None:
    """Print text; where the stream cannot encode it, with ASCII stand-ins (never a crash)."""
    stream = sys.stderr if err else sys.stdout
    encoding = getattr(stream, "encoding", None) or "ascii"
    text = text or ""
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        from .views.plain import ASCII_TEXT

        text = text.translate(ASCII_TEXT).encode(encoding, errors="replace").decode(encoding, errors="replace")
    click.echo(text, nl=nl, err=err)


def _wants_json(argv: list[str]) -> bool:
    if "--" in argv:
        argv = argv[: argv.index("--")]
    pairs = itertools.pairwise(argv)
    return "--format=json" in argv or any(a == "--format" and b == "json" for a, b in pairs)


def _symbols() -> Any:
    from .views import plain

    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "∂←✓✗σ≈".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return plain.ASCII
    return plain.UNICODE


def _run(fmt: str, work: Callable[[], None]) -> None:
    """Run a command: user errors to stderr with exit 2, never a traceback."""
    try:
        work()
        sys.stdout.flush()
    except SymgradError as err:
        _fail(err, fmt)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        _quiet_pipe()
    except OSError as exc:  # stdout could not be written (a full disk, a closed terminal)
        click.echo(f"error: cannot write the output: {exc.strerror or exc}", err=True)
        _quiet_pipe(status=2)
    except RecursionError:  # should not happen: nothing recurses with the input's size
        _fail(SymgradError("internal", "the input is nested too deeply"), fmt, status=3)
    except (click.ClickException, click.exceptions.Exit, SystemExit):
        raise
    except Exception as exc:  # a bug: say so plainly, without a traceback
        if os.environ.get("SYMGRAD_DEBUG"):
            raise
        _fail(SymgradError("internal", f"internal error: {type(exc).__name__}: {exc}",
                           hint="this is a bug in symgrad; set SYMGRAD_DEBUG=1 to see the traceback"),
              fmt, status=3)


def _fail(err: SymgradError, fmt: str, status: int = 2) -> NoReturn:
    if fmt in ("json", "jsonl"):
        from .views import json_view

        try:
            click.echo(json_view.dumps(json_view.error(err)))
        except BrokenPipeError:
            _quiet_pipe()
    say(err.render(), err=True)
    sys.exit(status)


def _quiet_pipe(status: int = 0) -> NoReturn:
    # The reader went away (| head), or stdout failed: stop, and keep Python
    # from complaining while it flushes stdout on exit.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(status)


def run() -> None:
    """Entry point for the console script and python -m symgrad."""
    main(prog_name="symgrad")
