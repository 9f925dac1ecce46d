"""The `symgrad` command: read options, call the library, pick a view."""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click
import numpy as np

from . import __version__, app, timing
from . import primitives as P
from .app import DEFAULT_TIMEOUT, SYMBOLIC_LIMIT
from .errors import SymgradError
from .files import Files, parse_size

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
    lines.append("  Constants: pi (π), e.  Operators: + - * / ^ (or **), @, unary -, parentheses; W.T, s[i], "
                 "S[arange(N), y].")
    lines.append("  Also read: − × · ÷ π σ(...), ln = log, ½ ¼ ⅓ … ⅞ as numbers, Wᵀ = W.T, ‖x‖ = norm(x).")
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
Exit status: 0 success (warnings included); 1 a check found a gradient wrong,
an answer was graded wrong, or a row of --points or a line of batch failed;
2 bad input or options; 3 an internal error in symgrad; 130 interrupted.
"""


def _picture_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--dot, --svg FILE, --png FILE and -o FILE: pictures of the graph, asked for in ctx.meta
    (read back with _pictures), so that grad's parameters stay few."""
    def keep(kind: str) -> Callable[[click.Context, click.Parameter, Any], None]:
        def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
            if value:
                ctx.meta.setdefault("symgrad.pictures", []).append((kind, None if value is True else value))
        return callback

    for flags, kind, text in (
            (("-o", "--output"), "auto", "Write a picture of the graph to FILE: .svg, .png or .dot by its ending."),
            (("--png",), "png", "Write the picture as PNG to FILE."),
            (("--svg",), "svg", "Write the picture as SVG to FILE (values green above each edge, gradients red "
                                "below, as the lecture draws them)."),
    ):
        command = click.option(*flags, metavar="FILE", default=None, expose_value=False, callback=keep(kind),
                               type=click.Path(dir_okay=False), help=text)(command)
    return click.option("--dot", is_flag=True, expose_value=False, callback=keep("dot"),
                        help="Print the graph in Graphviz's DOT language instead of the table.")(command)


def _pictures() -> list[tuple[str, str | None]]:
    """The pictures asked for on this command line: (kind, file), kind dot, svg, png or auto."""
    return list(click.get_current_context().meta.get("symgrad.pictures", []))


def _draw(graph: Any, records: list[Any] | None, asked: list[tuple[str, str | None]], digits: int,
          steps: bool, wrt: list[str] | None = None) -> bool:
    """Draw what was asked; True where the DOT text went to stdout in place of the table."""
    from .views import picture

    try:
        text = picture.dot(graph, records, digits=digits, steps=steps, wrt=wrt)
    except ValueError as exc:
        raise SymgradError("limit", str(exc), hint="draw a smaller program, or read the table") from None
    printed = False
    for kind, path in asked:
        if kind == "auto":
            assert path is not None
            kind = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot"}.get(Path(path).suffix.lower(), "")
            if not kind:
                raise SymgradError("usage", f"-o {path}: the ending says no picture format",
                                   hint="end the file's name with .svg, .png or .dot")
        if kind == "dot" and path is None:
            click.echo(text, nl=False)
            printed = True
            continue
        data: str | bytes = text if kind == "dot" else picture.svg(text)
        if kind == "png":
            data = picture.png(str(data))
        assert path is not None
        try:
            Path(path).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        except OSError as exc:
            raise SymgradError("io", f"cannot write {path}: {exc.strerror or exc}") from None
    return printed


def _program_file(command: Callable[..., Any]) -> Callable[..., Any]:
    """-f/--file: the program from a file, or standard input."""
    return click.option("-f", "--file", "file", type=click.Path(dir_okay=False, allow_dash=True),
                        help="Read the program from a file ('-' for standard input).")(command)


def _symbolic_bounds(command: Callable[..., Any]) -> Callable[..., Any]:
    """--symbolic-limit and --check-timeout, for every command that runs the symbolic check."""
    command = click.option(
        "--check-timeout", type=click.FloatRange(min=0.1), default=DEFAULT_TIMEOUT, show_default=True,
        metavar="SECONDS", help="A safety net: the symbolic check is stopped past this time (ordinary inputs, "
        "bounded by --symbolic-limit, never reach it).")(command)
    return click.option(
        "--symbolic-limit", type=click.IntRange(min=1), default=SYMBOLIC_LIMIT, show_default=True, metavar="N",
        help="Largest expression the symbolic check takes on (its size times its depth squared); larger ones "
        "are skipped, the same on every machine.")(command)


class _Size(click.ParamType):  # type: ignore[type-arg]
    """A number of bytes, or with k, M or G (powers of 1024): 100M."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _input_limit(command: Callable[..., Any]) -> Callable[..., Any]:
    """--input-limit and --node-limit, as the `files` parameter: the command line's own policy
    (files.Files.anywhere) with those limits."""
    command = click.option(
        "--input-limit", "files", type=_Size(), default="100M",
        show_default=True, metavar="SIZE",
        callback=lambda ctx, param, value: Files.anywhere(value, ctx.meta.get("symgrad.nodes")),
        help="The largest input read whole (a program, an @file value, a homework file) and the longest "
        "line of --points or batch input: bytes, or with k, M or G.")(command)
    return click.option(
        "--node-limit", type=click.IntRange(min=1), default=None, metavar="N", expose_value=False, is_eager=True,
        callback=lambda ctx, param, value: ctx.meta.__setitem__("symgrad.nodes", value),
        help="The most nodes a program may build (calls of your functions are inlined): by default 50 per "
        "character of the program, at least 1,000,000. A larger N also lets one statement have more than "
        "1,000,000 operations and operands.")(command)


def _jobs(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--jobs N: how many processes do the work (`what`: "answer the lines")."""
    def add(command: Callable[..., Any]) -> Callable[..., Any]:
        return click.option(
            "--jobs", type=click.IntRange(min=1), default=None, metavar="N",
            help=f"{what} in N processes at once, the output the same and in the same order as with one. "
            "Default: as many as the cores this process may use; 1 does all the work in this process.")(command)
    return add


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
        if args and args[0] == "help":  # symgrad help [COMMAND]: the help, never a variable named help
            args = [*args[1:2], "--help"]
        elif args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version", "-V"):
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
@_program_file
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
@_symbolic_bounds
@click.option("--eps", type=click.FloatRange(min=0, min_open=True), default=None, metavar="H",
              help="Relative step of the finite differences (default 6e-6, times max(1, |x|)).")
@click.option("--latex", is_flag=True, help="Also print the symbolic derivatives as LaTeX.")
@click.option("--exact", is_flag=True, help="Also give the value and gradient exactly (-12, 1/4, e/(1 + e)).")
@click.option("--timings", is_flag=True, help="Say on stderr (and in JSON, as timings) how many seconds parse, "
              "build, forward, backward, checks and output took.")
@click.option("--verbose", is_flag=True, help="List every warning one by one (each unused statement, not a count).")
@click.option("--hessian", is_flag=True, help="Also give the Hessian of a scalar output, each row checked as the "
              "gradient is.")
@click.option("--hvp", "hvp", multiple=True, metavar="NAME=VALUE,...",
              help="Also give the Hessian-vector product H·v for this direction v (a value per input, shaped "
              "like it), without forming the Hessian.")
@_picture_options
@_input_limit
def grad(expr: str | None, at: Sequence[str], file: str | None, fmt: str | None, points: str | None,
         check_points: bool, steps: bool, wrt: str | None, upstream: str | None, expand: bool, digits: int,
         strict: bool, no_check: bool, symbolic_limit: int, check_timeout: float, eps: float | None, latex: bool,
         exact: bool, timings: bool, verbose: bool, hessian: bool, hvp: Sequence[str], files: Files) -> None:
    if check_points and no_check:
        raise click.UsageError("--check and --no-check contradict each other: give one")
    if points is not None:
        if hessian or hvp:
            raise click.UsageError("--hessian and --hvp do not go with --points: give one point with --at")
        if upstream is not None:
            raise click.UsageError("--upstream does not go with --points: many points need a scalar output")
        if timings:
            raise click.UsageError("--timings reports the stages of one point, not of --points: time the "
                                   "whole command instead (time symgrad ...)")
        rows_fmt = (fmt or "csv").lower()
        _run(rows_fmt, lambda: _points(expr, at, file, rows_fmt, points, check_points, expand, files))
        return
    out_fmt = (fmt or default_format()).lower()
    checks = None if no_check else app.CheckOptions(check_timeout, eps, latex, exact, symbolic_limit)
    second = (hessian, tuple(hvp))
    click.get_current_context().meta["symgrad.verbose"] = verbose
    click.get_current_context().meta["symgrad.timings"] = timings
    _run(out_fmt, lambda: _grad(expr, at, file, out_fmt, steps, wrt, upstream, expand, digits, strict, checks,
                                files, second))


@main.command(
    "html",
    help="Write an explainer page for EXPR at a point: one self-contained HTML file that opens offline, with "
    "the picture, the annotated table, the checks and the chain-rule steps. Click a node for its chain rule; "
    "step through the forward and backward passes with the buttons or the arrow keys.\n\n"
    "\b\nExample:\n  symgrad html \"f(x,y,z)=(x+y)*z\" --at x=-2,y=5,z=-4 -o lecture.html",
)
@click.argument("expr", required=False)
@click.option("--at", "at", multiple=True, metavar="NAME=VALUE,...",
              help="Values of the variables, e.g. x=-2,y=5,z=pi/4. May be repeated.")
@_program_file
@click.option("-o", "--output", "output", metavar="FILE", default="-",
              help="Write the page to FILE (default: standard output).")
@click.option("--wrt", metavar="X,Y", help="Report the gradients with respect to these inputs only.")
@click.option("--upstream", metavar="G", help="For a vector or matrix output: backpropagate this gradient.")
@click.option("--expand", is_flag=True, help="Show grouped gates (sigmoid, your functions) as their primitives.")
@click.option("--digits", type=click.IntRange(1, 17), default=4, show_default=True,
              help="Significant digits shown.")
@click.option("--no-check", is_flag=True, help="Skip the symbolic and numeric checks of the gradient.")
@_symbolic_bounds
@_input_limit
def html(expr: str | None, at: Sequence[str], file: str | None, output: str, wrt: str | None,
         upstream: str | None, expand: bool, digits: int, no_check: bool, symbolic_limit: int,
         check_timeout: float, files: Files) -> None:
    checks = None if no_check else app.CheckOptions(check_timeout, None, False, False, symbolic_limit)
    _run("plain", lambda: _html(expr, at, file, output, wrt, upstream, expand, digits, checks, files))


def _html(expr: str | None, at: Sequence[str], file: str | None, output: str, wrt: str | None,
          upstream: str | None, expand: bool, digits: int, options: app.CheckOptions | None, files: Files) -> None:
    from .views import checks_view, page

    graph = _graph(expr, file, files, expand)
    run = app.run_point(graph, at, files, upstream=upstream, wrt=wrt, checks=options)
    if run.trace is None:
        raise SymgradError("usage", "the explainer page needs a point to evaluate at",
                           hint="give the values with --at, e.g. --at x=1,y=2")
    for m in run.warnings:
        say(f"warning: {m}", err=True)
    sym = _symbols()
    check_lines = checks_view.lines(run.checks, run.trace, sym, digits, run.wrt) if run.checks else []
    try:
        text = page.render(run.trace, run.records, check_lines, digits=digits, sym=sym, wrt=run.wrt)
    except ValueError as exc:
        raise SymgradError("limit", str(exc), hint="draw a smaller program, or read the table") from None
    if output == "-":
        click.echo(text, nl=False)
    else:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise SymgradError("io", f"cannot write {output}: {exc.strerror or exc}") from None
        say(f"wrote {output}", err=True)
    if run.failed:
        sys.exit(1)


def _points(expr: str | None, at: Sequence[str], file: str | None, fmt: str, points: str, check: bool,
            expand: bool, files: Files) -> None:
    """One graph over many points, streamed: rows in input order; exit 1 if a row failed."""
    if points == "-" and (expr == "-" or file == "-"):
        raise SymgradError("usage", "the program and the points cannot both come from standard input")
    graph = _graph(expr, file, files, expand)
    tally = app.run_points(graph, at, points, fmt, check, sys.stdout, files)
    if tally.failed:
        sys.stdout.flush()
        say(tally.summary("rows"), err=True)
        sys.exit(1)


def _graph(expr: str | None, file: str | None, files: Files, expand: bool = False) -> Any:
    """The program's graph; its notes (e is a variable here, ...) on stderr."""
    graph = app.build_graph(*app.read_program(expr, file, files.limit), expand=expand, nodes=files.nodes)
    for m in graph.notes:
        say(f"note: {m}", err=True)
    return graph


def default_format() -> str:
    """A rich table on a terminal, plain text into a pipe or a file."""
    return "table" if sys.stdout.isatty() else "plain"


def _grad(expr: str | None, at: Sequence[str], file: str | None, fmt: str, steps: bool, wrt: str | None,
          upstream: str | None, expand: bool, digits: int, strict: bool, options: app.CheckOptions | None,
          files: Files, second: tuple[bool, tuple[str, ...]] = (False, ())) -> None:
    timing.reset()
    graph, asked = _graph(expr, file, files, expand), _pictures()
    if asked and not at and graph.variables and upstream is None:  # the graph alone, with its formulas
        if not _draw(graph, None, asked, digits, steps):
            say(f"wrote {', '.join(p for _, p in asked if p)}", err=True)
        return
    run = app.run_point(graph, at, files, upstream=upstream, wrt=wrt, strict=strict, checks=options,
                        shown=fmt not in ("csv", "tsv") or bool(asked))
    if run.trace is None:
        _symbolic_only(run, fmt, steps)
        return
    if asked and _draw(graph, run.records, asked, digits, steps, run.wrt):
        return
    for m in _verbose_warnings(run.warnings, graph):
        say(f"warning: {m}", err=True)
    rows: list[Any] = []
    product: Any = None
    hessian_view: Any = None  # imported only where second derivatives are asked for
    if second[0] or second[1]:
        if fmt in ("csv", "tsv"):
            raise SymgradError("usage", f"--hessian and --hvp have no {fmt} columns", hint="use --format json")
        rows, product = app.second_derivatives(run, hessian=second[0], hvp=second[1], files=files, checks=options)
        from .views import hessian_view
    timed = click.get_current_context().meta.get("symgrad.timings", False)
    with timing.stage("output"):
        if fmt in ("csv", "tsv"):
            _one_row(run.trace, fmt, run.checks)
        elif fmt in ("json", "jsonl"):
            from .views import json_view

            result = json_view.result(run.trace, run.records, run.wrt, run.checks)
            if hessian_view is not None:
                result |= hessian_view.json(rows, product)
            if timed:
                result["timings"] = timing.report()  # up to the JSON's own writing
            click.echo(json_view.dumps(result))
        else:
            _show(run, fmt, digits, steps)
            if hessian_view is not None:
                click.echo()
                for line in hessian_view.lines(rows, product, graph.output_name, _symbols(), digits,
                                               _console().width if fmt == "table" else None):
                    say(line)
    if timed:
        sys.stdout.flush()
        say(timing.line(timing.report()), err=True)
    # Only "wrong" fails a check; --strict also fails a gradient that float64 lost ("unstable").
    if run.failed or (hessian_view is not None and hessian_view.failed(rows, product)) or (strict and run.unstable()):
        sys.exit(1)


def _verbose_warnings(warnings: list[str], graph: Any) -> list[str]:
    """The warnings to print: with --verbose, each unused statement's in place of their count."""
    from .scope import SHOWN_UNUSED

    if not click.get_current_context().meta.get("symgrad.verbose") or len(graph.unused) <= SHOWN_UNUSED:
        return warnings
    summary = next((w for w in graph.warnings if w.endswith("(--verbose lists them all)")), None)
    return [m for w in warnings for m in (graph.unused if w == summary else [w])]


def _show(run: app.PointRun, fmt: str, digits: int, steps: bool) -> None:
    """The table (rich on a terminal, plain text otherwise), the checks and the chain rule."""
    from .views import checks_view, plain

    sym = _symbols()
    if fmt == "table":
        from .views import table

        table.render(_console(), run.trace, run.records, digits=digits, sym=sym, wrt=run.wrt)
    else:
        say(plain.render(run.trace, run.records, digits=digits, sym=sym, wrt=run.wrt), nl=False)
    if run.checks:
        click.echo()
        if fmt == "table":
            checks_view.render(_console(), run.checks, run.trace, sym, digits, run.wrt)
        else:
            for line in checks_view.lines(run.checks, run.trace, sym, digits, run.wrt):
                say(line)
            exact = next((c for c in run.checks if c.exact), None)
            if exact is not None:
                say(checks_view.exact_line(exact, run.graph, sym))
    if steps:
        from .views import steps as steps_view

        click.echo()
        say(steps_view.render(run.trace, run.records, digits=digits, sym=sym), nl=False)


def _symbolic_only(run: app.PointRun, fmt: str, steps: bool = False) -> None:
    """No point given: the graph and its symbolic gradient, without numbers; with --steps, the
    chain rule as formulas."""
    from .views import checks_view, plain

    if fmt == "json":
        from .views import json_view

        click.echo(json_view.dumps(json_view.symbolic_only(run.graph, run.symbolic)))
        return
    say(plain.graph_only(run.graph))
    if run.symbolic.status == "skipped":
        say(f"symbolic gradient skipped: {run.symbolic.reason}")
    for line in checks_view.derivative_lines(run.graph, run.symbolic, _symbols()):
        say(line)
    if steps:
        from .views import steps as steps_view

        click.echo()
        say(steps_view.symbolic(run.graph, sym=_symbols()), nl=False)


def _one_row(trace: Any, fmt: str, checks: list[Any]) -> None:
    """One point as CSV or TSV: the header and a row, as --points writes them."""
    from .checks import combined
    from .pipeline import PointResult, TableWriter
    from .verdicts import worst

    if trace.mode == "jacobian":
        raise SymgradError("usage", f"{fmt} has a column per gradient component: it needs a scalar output, "
                           "or --upstream", hint="use --format json for the Jacobian")
    graph = trace.graph
    at = {v: trace.value_of(trace.values[i]) for v, i in zip(graph.variables, graph.inputs)}
    verdict = None
    if checks:  # the most severe verdict over the inputs, as --points --check gives it
        verdict = worst([name for name, _ in combined(checks).values()])
    result = PointResult(1, at, trace.value, trace.gradient, [w.message for w in trace.warnings], check=verdict)
    writer = TableWriter(sys.stdout, "\t" if fmt == "tsv" else ",", graph, {v: np.shape(a) for v, a in at.items()},
                         trace.out_shape, verdict is not None)
    writer.write(result, {})


def _console(fmt: str = "table") -> Any:
    """A rich console for the terminal where the output is a rich table: the format "table", or
    check's and grade's plain default when stdout is a terminal (not --format plain, which asks
    for plain text); else None."""
    if fmt == "plain" and sys.stdout.isatty():
        source = click.get_current_context().get_parameter_source("fmt")
        fmt = "table" if source in (None, click.core.ParameterSource.DEFAULT) else fmt
    if fmt != "table":
        return None
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
    "Answers may be named x, dx, df/dx or ∂f/∂x; f=... checks the value; any node of the table may be "
    "answered too: df/dq, value(q), and dq/dx (q's local gradient). A wrong number is compared with the usual "
    "backprop mistakes and the one that explains it is named. An answer equal to the true value "
    "(relative 1e-9) is right whatever its digits; a number without a decimal point must be exact; any other "
    "number is right within half a unit of its last digit, given with at least 2 significant figures "
    "(--sigfigs, --decimals). inf, -inf and nan (or undefined) answer an infinite or undefined gradient. "
    "Exit status: 0 all right, 1 an answer is wrong (or missing, with --require-all), 2 bad input.",
)
@click.argument("target", required=False)
@click.option("--at", "at", multiple=True, metavar="NAME=VALUE,...", help="The point, as for symgrad grad.")
@click.option("--expect", multiple=True, metavar="NAME=ANSWER,...",
              help="The answers: numbers, nested lists, or formulas in the inputs and the nodes' labels (x=z, "
              "z=q); for an input (x, dL/dx), any node (dL/dq, value(q)) or a local gradient (dq/dx).")
@click.option("--upstream", metavar="G", help="The gradient arriving at a vector or matrix output (a layer's "
              "dout), as for symgrad grad: the answers are the backward pass from it.")
@_program_file
@click.option("--format", "fmt", type=click.Choice(["plain", "json"], case_sensitive=False), default="plain",
              help="A table, or JSON (for a homework file, one JSON object holding a record per problem).")
@click.option("--sigfigs", type=click.IntRange(min=1), default=None, metavar="N",
              help="Rounded answers need at least N significant figures (2 by default).")
@click.option("--decimals", type=click.IntRange(min=0), default=None, metavar="N",
              help="Instead: rounded answers need at least N decimals.")
@click.option("--rtol", type=click.FloatRange(min=0), default=None,
              help="Relative tolerance (replaces the digits rule).")
@click.option("--atol", type=click.FloatRange(min=0), default=None,
              help="Absolute tolerance (replaces the digits rule).")
@click.option("--require-all", is_flag=True, help="Unanswered gradients count as wrong.")
@_symbolic_bounds
@_input_limit
def check(target: str | None, at: Sequence[str], expect: Sequence[str], upstream: str | None, file: str | None,
          fmt: str, sigfigs: int | None, decimals: int | None, rtol: float | None, atol: float | None,
          require_all: bool, symbolic_limit: int, check_timeout: float, files: Files) -> None:
    fmt = fmt.lower()

    def work() -> None:
        if sigfigs is not None and decimals is not None:
            raise SymgradError("usage", "--sigfigs and --decimals are two rules: give one",
                               hint="--sigfigs 3 counts significant figures, --decimals 2 decimals")
        if (rtol is not None or atol is not None) and (sigfigs is not None or decimals is not None):
            raise SymgradError("usage", "--rtol and --atol replace the digits rules: give them without "
                               f"{'--sigfigs' if sigfigs is not None else '--decimals'}",
                               hint="either a tolerance (--rtol, --atol) or a least number of digits")
        options = app.GradeOptions(rtol, atol, require_all, check_timeout, sigfigs, decimals, symbolic_limit)
        if target is not None and file is None and target.endswith(".toml") and Path(target).is_file():
            _homework(target, fmt, options, files)
        else:
            _check_one(target, at, expect, upstream, file, fmt, options, files)

    _run(fmt, work)


def _check_one(target: str | None, at: Sequence[str], expect: Sequence[str], upstream: str | None,
               file: str | None, fmt: str, options: app.GradeOptions, files: Files) -> None:
    from .views import grading as view
    from .views import plain

    text, name = app.read_program(target, file, files.limit)
    graph, trace, grading = app.grade_problem(text, name, at, expect, options, files, upstream, answer_files=files)
    if fmt == "json":
        from .numbers import exact

        at_json = {} if trace is None else {v: exact(trace.value_of(trace.values[i]))
                                             for v, i in zip(graph.variables, graph.inputs)}
        click.echo(json_dumps(view.result(grading, options.require_all, expression=text, at=at_json)))
    elif (console := _console(fmt)) is not None:
        view.render(console, grading, options.require_all, ascii_only=_symbols() == plain.ASCII)
    else:
        for line in view.table(grading, options.require_all, _width()):
            say(line)
    if not grading.passed(options.require_all):
        sys.exit(1)


def _homework(path: str, fmt: str, options: app.GradeOptions, files: Files) -> None:
    """Every problem of a homework file, a report and a total; exit 1 unless all passed."""
    from .views import grading as view
    from .views import plain

    runs = app.grade_homework(path, options, files.limit, files.nodes)
    passed = sum(r.passed(options.require_all) for r in runs)
    if fmt == "json":
        click.echo(json_dumps(view.homework_record(runs, path, options.require_all)))
    elif (console := _console(fmt)) is not None:
        view.render_homework(console, runs, options.require_all, ascii_only=_symbols() == plain.ASCII)
    else:
        for line in view.homework_report(runs, options.require_all, _width()):
            say(line)
    if passed < len(runs):
        sys.exit(1)


@main.command(
    "worksheet",
    cls=_Grad,
    help="Write the lecture's backprop exercise for EXPR: every node with its value and its gradient as "
    "blanks to fill in, and the key.\n\n"
    "\b\nExamples:\n"
    '  symgrad worksheet "q = x + y; L = q * z" --at x=-2,y=5,z=-4\n'
    '  symgrad worksheet "q = x + y; L = q * z" --seed 7 --key\n'
    '  symgrad worksheet "f(w,x) = sigmoid(w*x)" --students class.txt --format toml > key.toml\n\n'
    "With --seed (or --students), the point is drawn: small whole numbers (--one-decimal: numbers with one "
    "decimal) where no node is infinite, undefined or on a kink. --format toml writes a homework file with the "
    "key, for symgrad check and symgrad grade.",
)
@click.argument("expr", required=False)
@click.option("--at", "at", multiple=True, metavar="NAME=VALUE,...", help="The point (its shapes, with --seed).")
@_program_file
@click.option("--seed", type=int, default=None, metavar="N", help="Draw the point from this seed.")
@click.option("--students", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="One variant per student named in FILE (one name a line), each at a point of their own.")
@click.option("--one-decimal", is_flag=True, help="Draw numbers with one decimal instead of whole numbers.")
@click.option("--key", is_flag=True, help="Fill in the blanks (the teacher's copy).")
@click.option("--format", "fmt", type=click.Choice(["plain", "json", "toml"], case_sensitive=False),
              default="plain", help="Text to fill in, JSON, or a homework file with the key.")
@_input_limit
def worksheet(expr: str | None, at: Sequence[str], file: str | None, seed: int | None, students: str | None,
              one_decimal: bool, key: bool, fmt: str, files: Files) -> None:
    _run("json" if fmt.lower() == "json" else "plain",
         lambda: _worksheet(expr, at, file, seed, students, one_decimal, key, fmt.lower(), files))


def _worksheet(expr: str | None, at: Sequence[str], file: str | None, seed: int | None, students: str | None,
               one_decimal: bool, key: bool, fmt: str, files: Files) -> None:
    from .views import worksheet_view as view

    text, name = app.read_program(expr, file, files.limit)
    sheets = app.make_worksheets(text, name, at, files, seed=seed, students=students, one_decimal=one_decimal)
    if fmt == "toml":
        say(view.homework_toml(sheets), nl=False)
    elif fmt == "json":
        from .views.json_view import envelope

        click.echo(json_dumps(envelope({"worksheets": [view.record(ws) for ws in sheets]})))
    else:
        say(view.plain(sheets, key=key, sym_partial=_symbols().partial), nl=False)


@main.command(
    "grade",
    cls=_Grad,
    help="Grade a class: every submission in SUBMISSIONS (TOML [[submission]] tables with student, problem "
    "and answers, or a CSV with a student column and a column per answer) against the homework file KEY. "
    "One row per student and problem with the score, and the mistakes named, counted over the class.\n\n"
    "\b\nExamples:\n"
    "  symgrad worksheet EXPR --students class.txt --format toml > key.toml\n"
    "  symgrad grade key.toml submissions.toml\n"
    "  symgrad grade key.toml answers.csv --format csv > report.csv\n\n"
    "Exit status: 0 when every submission scored full marks, 1 otherwise, 2 bad input.",
)
@click.argument("key", type=click.Path(dir_okay=False))
@click.argument("submissions", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["plain", "json", "csv"], case_sensitive=False),
              default="plain", help="A table with the mistakes counted, JSON, or CSV.")
@_symbolic_bounds
@_input_limit
@_jobs("Grade the submissions")
def grade(key: str, submissions: str, fmt: str, symbolic_limit: int, check_timeout: float, files: Files,
          jobs: int | None) -> None:
    fmt = fmt.lower()
    _run("json" if fmt == "json" else "plain", lambda: _grade(key, submissions, fmt, symbolic_limit, check_timeout,
                                                              files, _cores(jobs)))


def _cores(jobs: int | None) -> int:
    """--jobs, or by default every core this process may use."""
    from .parallel import cores

    return cores() if jobs is None else jobs


def _grade(key: str, submissions: str, fmt: str, symbolic_limit: int, check_timeout: float, files: Files,
           jobs: int) -> None:
    from .classwork import ClassOptions
    from .views import class_view as view
    from .views import plain

    options = ClassOptions(timeout=check_timeout, limit=symbolic_limit, jobs=jobs)
    results = app.grade_class(key, submissions, options, files)
    if fmt == "json":
        from .views.json_view import envelope

        click.echo(json_dumps(envelope(view.records(results))))
    elif fmt == "csv":
        say(view.csv_text(results), nl=False)
    elif (console := _console(fmt)) is not None:
        view.render(console, results, ascii_only=_symbols() == plain.ASCII)
    else:
        for line in view.plain(results, _width()):
            say(line)
    if any(r.error or r.score < r.points for r in results):
        sys.exit(1)


@main.command(
    "batch",
    help="Answer many requests: one JSON object per line on standard input, "
    '{"expr": str, "at": {...}, "id": any, "expect": {...}} ("at" and "expect" may also be strings such as '
    '"x=1,y=2"), and one JSON result on standard output for each non-blank input line, in the same order, '
    "carrying its line number and id. A bad line gets an error record and the batch goes on. Values may name "
    "files (@file) only under --data-dir. Exit status 0 when every line succeeded, 1 otherwise (with a count "
    "of the failed lines on stderr).",
)
@click.option("--check", "check", is_flag=True, help="Also run the symbolic and numeric checks for every line.")
@click.option("--data-dir", type=click.Path(file_okay=False, exists=True), default=None, metavar="DIR",
              help="Let the requests' values name files (@file) inside DIR; without it they may name none.")
@_symbolic_bounds
@_input_limit
@_jobs("Answer the lines")
def batch(check: bool, data_dir: str | None, symbolic_limit: int, check_timeout: float, files: Files,
          jobs: int | None) -> None:
    if data_dir is None:
        files = Files(limit=files.limit, refusal="batch requests may name files only under --data-dir DIR",
                      hint="run symgrad batch --data-dir DIR to allow the files inside DIR", nodes=files.nodes)
    else:
        files = Files.inside(data_dir, f"batch requests may name only files inside --data-dir ({data_dir})",
                             files.limit, files.nodes)
    _run("json", lambda: _batch(check, check_timeout, symbolic_limit, files, _cores(jobs)))


def _batch(check: bool, timeout: float, limit: int, files: Files, jobs: int = 1) -> None:
    """One JSON record per non-blank input line, in order; exit 1 if a line failed, with a count
    of the failed lines on stderr.  With `jobs` above 1, the lines are answered in that many
    processes (pipeline.answer_batch), the output the same."""
    from .files import bounded_lines, open_stdin
    from .views.json_view import envelope

    if jobs > 1:
        from .pipeline import BatchState, answer_batch

        tally = answer_batch(open_stdin(), BatchState(files, check, timeout, limit), jobs, click.echo)
    else:
        cache: dict[str, Any] = {}
        tally = app.Tally()
        for number, line in enumerate(bounded_lines(open_stdin(), files.limit), start=1):
            if line is not None and not line.strip():
                continue
            record = app.answer_request(line, number, cache, files, check=check, timeout=timeout, limit=limit)
            tally.add(number, record.get("ok", False))
            click.echo(json_dumps(envelope(record)))
    if tally.failed:
        sys.stdout.flush()
        say(tally.summary("lines"), err=True)
        sys.exit(1)


@main.command(
    "codegen",
    help="Print the staged forward and backward pass of EXPR as runnable code, one line per node, the "
    "gradients named dq, dx as the lecture names them; where a node feeds several others its gradient "
    "grows with +=. The function forward_backward(inputs..., df=1.0) returns the output and the tuple of "
    "gradients. Tensor programs need --at (the shapes decide the rules) and --lang numpy or torch.\n\n"
    "\b\nExamples:\n  symgrad codegen \"q = x + y; f = q * z\"\n"
    "  symgrad codegen \"q = W @ x; L = sum(q^2)\" --lang numpy --at \"W=[[1,2],[3,4]],x=[1,1]\"",
)
@click.argument("expr", required=False)
@_program_file
@click.option("--at", "at", multiple=True, metavar="NAME=VALUE,...",
              help="A point whose shapes the code is for (tensor programs); the values themselves are not used.")
@click.option("--lang", type=click.Choice(["python", "numpy", "torch"]), default="python", show_default=True,
              help="python: scalars with math; numpy: tensors; torch: a torch.autograd.Function.")
@click.option("--style", type=click.Choice(["staged", "modular"]), default="staged", show_default=True,
              help="staged: one function, a line per node; modular: the lecture's class per gate with "
              "forward and backward.")
@_input_limit
def codegen(expr: str | None, file: str | None, at: Sequence[str], lang: str, style: str, files: Files) -> None:
    _run("plain", lambda: _codegen(expr, file, at, lang, style, files))


def _codegen(expr: str | None, file: str | None, at: Sequence[str], lang: str, style: str, files: Files) -> None:
    from .codegen import generate
    from .engine import core

    graph = _graph(expr, file, files)
    shapes = None
    if at:
        run = app.run_point(graph, at, files, checks=None)
        shapes = [core(v) for v in run.trace.values]
    click.echo(generate(graph, lang, style, shapes), nl=False)


def json_dumps(obj: Any) -> str:
    from .views import json_view

    return json_view.dumps(obj)


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
    if not err:
        click.echo(text, nl=nl)
        return
    with contextlib.suppress(OSError):  # stderr full or gone: an unseen message must not turn into a crash
        click.echo(text, nl=nl, err=True)


def _wants_json(argv: list[str]) -> bool:
    if "--" in argv:
        argv = argv[: argv.index("--")]
    pairs = itertools.pairwise(argv)
    return "--format=json" in argv or any(a == "--format" and b == "json" for a, b in pairs)


def _width() -> int | None:
    """The terminal's width where stdout is one (text is wrapped to it), else None."""
    import shutil

    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


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
        say(f"error: cannot write the output: {exc.strerror or exc}", err=True)
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
    """Entry point for the console script and python -m symgrad.  A closed standard output (or
    error) and a write that fails (a full disk) end with a message and exit status 2, never a
    traceback; a reader that went away (| head) ends quietly."""
    if sys.stderr is None:  # closed: messages go nowhere, but nothing may crash on them
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (kept open for the whole run)
    if sys.stdout is None:
        say("error: standard output is closed: there is nowhere to write the result", err=True)
        sys.exit(2)
    try:
        main(prog_name="symgrad")
    except BrokenPipeError:
        _quiet_pipe()
    except OSError as exc:  # --help or --version written to a full device
        say(f"error: cannot write the output: {exc.strerror or exc}", err=True)
        _quiet_pipe(status=2)
