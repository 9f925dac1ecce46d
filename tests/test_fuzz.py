"""Fuzzing the command line (issue 12): no internal error, no traceback.

Whatever it is given, symgrad exits with 0, 1 or 2, never 3 (an internal error); it never prints a
Python traceback; and an exit status 2 comes with a message on stderr.  Hypothesis generates the
input, in five families (the command runs in this process, through click's CliRunner):

1. programs from the grammar (operators, every built-in function by the name it is called by, user
   functions, named intermediates, arrays, indexing, `.T`, numbers from 0 to 1e400 and 5,000
   digits), evaluated at generated `--at` values (numbers, nan, inf, huge, nested lists of any
   shape, constant expressions), with and without the checks, in every format; and graded by
   `symgrad check` against generated answers;
2. raw text (any unicode, control characters, long tokens, unbalanced brackets, mutated programs)
   as the expression, the program on stdin, the `--at`, `--expect`, `--upstream` and `--wrt`
   values, and arbitrary bytes in a program file or a value file (`@v.json`, `@v.npy`);
3. CSV, TSV and JSON Lines points on stdin (`--points -`) with generated headers and cells;
4. `symgrad batch` lines: generated requests and arbitrary JSON;
5. homework TOML files (`symgrad check FILE.toml`): generated problems and arbitrary text.

The run is bounded and deterministic: `derandomize=True` (the same examples on every run, no
example database), no deadline, and a fixed number of examples per test, SYMGRAD_FUZZ_EXAMPLES
(default 60; `check` and homework files take half as many), so that this file takes well under a
minute on two cores.  Hypothesis also draws constants from the source of symgrad's modules, so the
examples change with the code (all of symgrad is imported first, so that they do not depend on the
order of the tests).  A case still running after SYMGRAD_FUZZ_HANG seconds (600, far past any load;
0: no limit) is a hang: its test fails at its end, naming it, without running that family's remaining
cases; this is a safety net, not a measure of speed (every case takes well under a second).

The failures found so far are explicit regression tests at the end of the file (`test_reproducer`,
`test_reproducer_homework_huge_integer`, `test_reproducer_process`, the last with real processes
for closed and full standard streams and hangs): each fails until that bug is fixed.

Longer runs, by hand:

    SYMGRAD_FUZZ_EXAMPLES=1200 python -m pytest tests/test_fuzz.py -k test_fuzz_

stops each test at its first failure and shrinks it to a small example.  To survey instead, going
through every example and recording each case:

    SYMGRAD_FUZZ_EXAMPLES=1200 SYMGRAD_FUZZ_LOG=/tmp/fuzz.jsonl python -m pytest tests/test_fuzz.py -k test_fuzz_

appends one JSON line per case to the file (family, exit status, seconds, the problem found if
any, the arguments, stdin and the content of a generated file) and fails no fuzz test, so that the
log holds every problem of the run; the case being run is in /tmp/fuzz.jsonl.running.
`SYMGRAD_FUZZ_SEED=N` draws other examples.  Such a survey, with 1,200 examples (20 times the
default) at commit b95a6a5, ran 6,000 cases in 4 minutes 16 s on two cores: programs 1,200 cases, 0
failures; check 600, 3; raw text 1,200, 0; points 1,200, 101; batch 1,200, 34; homework 600, 0.
Every failure was one of the reproducers below.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import multiprocessing
import os
import pkgutil
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import symgrad
from symgrad import primitives as P
from symgrad.cli import main

# Hypothesis mixes constants found in the source of the modules already imported (symgrad's, not the
# tests') into what it generates, and symgrad imports most of its modules lazily: imported here, all
# of them, so that the examples do not depend on which tests ran before (only on the code).
for _module in pkgutil.walk_packages(symgrad.__path__, "symgrad."):
    if not _module.name.endswith("__main__"):
        importlib.import_module(_module.name)

EXAMPLES = int(os.environ.get("SYMGRAD_FUZZ_EXAMPLES", "60"))
LOG = os.environ.get("SYMGRAD_FUZZ_LOG")
SEED = os.environ.get("SYMGRAD_FUZZ_SEED")


def _examples(scale: float = 1.0) -> int:
    return max(1, round(EXAMPLES * scale))


def fuzz_settings(scale: float = 1.0) -> Any:
    """Deterministic, clock-independent settings for a fuzz test of SYMGRAD_FUZZ_EXAMPLES * scale examples."""
    chosen = settings(
        derandomize=SEED is None,
        database=None,
        deadline=None,
        max_examples=_examples(scale),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                               HealthCheck.function_scoped_fixture, HealthCheck.large_base_example],
    )

    def apply(test: Any) -> Any:
        test = chosen(test)
        return seed(int(SEED))(test) if SEED is not None else test

    return apply


# ---- running one case ---------------------------------------------------------------------------------

TRACEBACK = "Traceback (most recent call last)"


def problem_of(code: int | None, stdout: str, stderr: str, exception: BaseException | None = None) -> str | None:
    """What is wrong with how a run ended, in a few words, or None when it ended well: an exception
    that escaped (a traceback for the user), a traceback printed, an exit status other than 0, 1
    or 2, or a status 2 without a message on stderr."""
    if exception is not None and not isinstance(exception, SystemExit):
        return f"exception escaped: {type(exception).__name__}: {str(exception)[:300]}"
    if TRACEBACK in stdout or TRACEBACK in stderr:
        return "traceback printed: " + (stderr or stdout)[-300:]
    if code not in (0, 1, 2):
        return f"exit status {code}: {stderr.strip()[-300:]}"
    if code == 2 and not stderr.strip():
        return "exit status 2 without a message on stderr"
    return None


def _log(family: str, args: list[str], input: str | None, code: int | None, seconds: float, problem: str | None,
         leaked: list[str], stderr: str, file: bytes | None) -> None:
    assert LOG is not None
    entry = {"family": family, "code": code, "seconds": round(seconds, 3), "problem": problem, "stderr": stderr[:300],
             "warnings": leaked[:3], "args": [a[:500] for a in args], "input": None if input is None else input[:2000],
             "file": None if file is None else file[:5000].decode("utf-8", "backslashreplace")}
    with open(LOG, "a", encoding="utf-8", errors="backslashreplace") as f:
        f.write(json.dumps(entry) + "\n")


class Hang(BaseException):
    """A case still running after HANG_SECONDS (a BaseException, so that symgrad's own handler of
    unexpected exceptions does not turn it into an exit status)."""


# A safety net, not a measure of speed: every case here takes well under a second, and a hang (SymPy
# factoring a 30-digit integer, say) would otherwise stop the run.  0 turns it off.
HANG_SECONDS = float(os.environ.get("SYMGRAD_FUZZ_HANG", "600"))
_hung: dict[str, str] = {}  # family -> the first case that hung; the family's other cases are not run


@contextlib.contextmanager
def _hang_guard() -> Any:
    if HANG_SECONDS <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def alarm(signum: int, frame: Any) -> None:
        raise Hang

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def fuzz_case(family: str, *args: str, input: str | None = None, file: bytes | None = None) -> Result | None:
    """`symgrad ARGS...` in this process (as support.run does, stdout not a terminal); it must end
    well (`problem_of`).  A case that hangs is kept for `run_fuzz` to report (not shrunk: each attempt
    would cost HANG_SECONDS), and the family's later cases are not run.  With SYMGRAD_FUZZ_LOG, every
    case is recorded (with the content of the `file` it names, if any) and none fails."""
    if family in _hung:
        return None
    if LOG is not None:  # the case before it runs, so that a hang can be found in the log
        with open(LOG + ".running", "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(json.dumps({"family": family, "args": list(args), "input": input,
                                "file": None if file is None else file.decode("utf-8", "backslashreplace")}) + "\n")
    start = time.perf_counter() if LOG is not None else 0.0  # the survey log's timings only; no verdict uses them
    try:
        with warnings.catch_warnings(record=True) as caught, _hang_guard():
            warnings.simplefilter("always")
            result = CliRunner(charset="utf-8").invoke(main, list(args), input=input, prog_name="symgrad")
    except Hang:
        for child in multiprocessing.active_children():  # a symbolic check's process, if it had one
            child.terminate()
        _hung[family] = f"symgrad {args!r} with stdin {input!r}"[:3000]
        if LOG is not None:
            _log(family, list(args), input, None, time.perf_counter() - start,
                 f"still running after {HANG_SECONDS:g} s", [], "", file)
        return None
    problem = problem_of(result.exit_code, result.stdout, result.stderr, result.exception)
    if LOG is not None:
        seconds = time.perf_counter() - start
        leaked = [f"{w.category.__name__}: {w.message}" for w in caught]
        _log(family, list(args), input, result.exit_code, seconds, problem, leaked, result.stderr, file)
        return result
    assert problem is None, (problem, args, input, result.stdout[-2000:], result.stderr[-2000:])
    return result


def run_fuzz(family: str, test: Any, *args: Any) -> None:
    """Run a Hypothesis test of one family, then fail if one of its cases hung."""
    _hung.pop(family, None)
    try:
        test(*args)
    finally:
        hung = _hung.pop(family, None)
    if hung is not None and LOG is None:
        pytest.fail(f"a case still running after {HANG_SECONDS:g} s (the rest were not run): {hung}")


# ---- strategies: programs from the grammar --------------------------------------------------------------

class Long(str):
    """A long string (a number of 5,000 digits), shown by Hypothesis by its length and start."""

    def __repr__(self) -> str:
        return f"Long({len(self)} characters: {str.__repr__(self[:12])}...)"


DIGITS_5000 = Long("7" * 5000)  # past Python's limit for converting int <-> str (4,300 digits)
DIGITS_400 = Long("9" * 400)  # past float64's range


# Every built-in function by the name it is called by, with its arities (max and min have two), and the
# other names the language reads.
ARITIES: dict[str, list[int]] = {}
for _prim in P.PRIMITIVES.values():
    if _prim.callable:
        ARITIES.setdefault(_prim.called_as, []).append(_prim.arity if _prim.arity >= 0 else 2)
for _alias, _target in P.FUNCTION_ALIASES.items():
    ARITIES[_alias] = ARITIES[_target]
FUNCTIONS = sorted(ARITIES)

VARIABLES = ["x", "y", "z", "W", "v", "s", "i", "θ", "w0"]
CONSTANT_NAMES = ["pi", "e", "π"]
BINARY = ["+", "-", "*", "/", "^", "+", "-", "*", "/", "^", "**", "@", "−", "×", "·", "÷", "–"]
SPECIAL_NUMBERS = ["0", "0.0", "00", "1e400", "1e-400", "1e1000000", "1e-1000000", "1e308", "1.7976931348623157e308",
                   "4.9e-324", "5e-324", "1e-320", "9" * 20, DIGITS_400, DIGITS_5000, Long("0." + "0" * 400 + "1"),
                   "1e99999", "1e-99999", "123456789012345678901234567890", "3.", ".25", "2.5E+2", "1e-3"]
PLAIN_NUMBERS = ["0", "1", "2", "3", "0.5", "1.5", "2.5", "10", "4", "0.1", "100", "1e-8", "1e3", "745", "710"]
SUPERSCRIPTS = ["²", "²", "³", "¹", "⁻¹", "⁰", "⁴⁵"]


@functools.cache
def numbers() -> st.SearchStrategy[str]:
    """Mostly ordinary numbers; now and then 0, huge, tiny, out of float64's range or 5,000 digits."""
    return st.one_of(
        st.sampled_from(PLAIN_NUMBERS),
        st.sampled_from(PLAIN_NUMBERS),
        st.sampled_from(SPECIAL_NUMBERS),
        st.integers(0, 10**6).map(str),
        st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(repr),
    )


def expressions(names: list[str], calls: dict[str, list[int]] | None = None,
                leaves: int = 6) -> st.SearchStrategy[str]:
    """See `_expressions` (strategies are built once per set of names: building one costs more than
    drawing from it)."""
    own = tuple(sorted((k, tuple(v)) for k, v in (calls or {}).items()))
    return _expressions(tuple(names), own, leaves)


@functools.cache
def _expressions(names_: tuple[str, ...], calls_: tuple[tuple[str, tuple[int, ...]], ...],
                 leaves: int) -> st.SearchStrategy[str]:
    """Expressions in the language over `names`: operators, calls (built-in and `calls`), arrays,
    indexing, `.T`, superscripts, groups.  Text is glued with parentheses where precedence would
    otherwise change what an operand is, so that nearly every expression is valid syntax; calls
    mostly have the right number of arguments."""
    names = list(names_)
    calls = {k: list(v) for k, v in calls_}
    callable_ = dict(ARITIES)
    callable_.update(calls)
    call_names = sorted(callable_)
    own = sorted(calls)
    if names:
        leaf = st.one_of(st.sampled_from(names), st.sampled_from(names), numbers(), st.sampled_from(CONSTANT_NAMES))
    else:
        leaf = st.one_of(numbers(), st.sampled_from(CONSTANT_NAMES))

    def operand(text: str, wrap: bool) -> str:
        return f"({text})" if wrap else text

    def postfix(text: str) -> str:
        return text if text in names or text in CONSTANT_NAMES else f"({text})"

    def extend(child: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        @st.composite
        def call(draw: Any) -> str:
            name = draw(st.sampled_from(own)) if own and draw(st.booleans()) else draw(st.sampled_from(call_names))
            right = callable_[name]
            arity = draw(st.sampled_from(right)) if draw(st.integers(0, 9)) > 0 else draw(st.integers(0, 3))
            args = [draw(child) for _ in range(arity)]
            if name in ("sum", "mean") and arity == 2 and draw(st.booleans()):
                args[1] = draw(st.sampled_from(["0", "1", "-1", "2", "0.5"]))
            return f"{name}({', '.join(args)})"

        index = st.lists(st.one_of(st.sampled_from(["0", "1", "-1", "0", "1", "2", "i", "0.0", "1.5", "99"]), child),
                         min_size=1, max_size=2)
        return st.one_of(
            st.builds(lambda a, op, b, wa, wb: f"{operand(a, wa)} {op} {operand(b, wb)}",
                      child, st.sampled_from(BINARY), child, st.booleans(), st.booleans()),
            call(),
            call(),
            st.builds(lambda sign, a: f"{sign}{a}", st.sampled_from(["-", "-", "+", "−"]), child),
            st.builds(lambda items: f"[{', '.join(items)}]", st.lists(child, min_size=1, max_size=3)),
            st.builds(lambda a, idx: f"{postfix(a)}[{', '.join(idx)}]", child, index),
            st.builds(lambda a, attr: f"{postfix(a)}.{attr}", child, st.sampled_from(["T"] * 29 + ["shape"])),
            st.builds(lambda a, sup: f"{postfix(a)}{sup}", child, st.sampled_from(SUPERSCRIPTS)),
            st.builds(lambda a: f"({a})", child),
        )

    return st.recursive(leaf, extend, max_leaves=leaves)


def used_names(program: str, among: Any = None) -> list[str]:
    """The names a program's text uses, in order, among `among` (default: the variables)."""
    pool = set(VARIABLES) if among is None else set(among)
    return [n for n in dict.fromkeys(re.findall(r"[^\W\d]\w*", program)) if n in pool]


@st.composite
def programs(draw: Any, leaves: int = 6) -> str:
    """A program: perhaps functions of its own and named intermediates, then the output, perhaps
    with a header `f(x, y) = ...`; statements separated by `;` or new lines, perhaps commented."""
    statements = []
    calls: dict[str, list[int]] = {}
    for fname in draw(st.lists(st.sampled_from(["g", "h", "g", "sq", "exp", "f"]), max_size=2, unique=True)):
        params = draw(st.lists(st.sampled_from(["a", "b", "c", "e", "x"]), min_size=1, max_size=3, unique=True))
        body = draw(expressions(params, calls, leaves=4))
        statements.append(f"{fname}({', '.join(params)}) = {body}")
        calls[fname] = [len(params)]
    variables = draw(st.lists(st.sampled_from(VARIABLES), min_size=1, max_size=3, unique=True))
    names, targets, main = list(variables), [], []
    for _ in range(draw(st.integers(0, 2))):
        target = draw(st.sampled_from(["q", "r", "q", "r", "c", "q", "r", "c", "e", "pi", *variables]))
        rhs = draw(expressions(names, calls, leaves=leaves))
        statements.append(f"{target} = {rhs}")
        main.append(rhs)
        names, targets = [*names, target], [*targets, target]
    last = draw(expressions(names, calls, leaves=leaves))
    if draw(st.booleans()):  # a header naming the inputs, mostly the right ones in order of appearance
        inputs = [n for n in used_names(" ".join([*main, last]), [*variables, "e", "pi"]) if n not in targets]
        if draw(st.integers(0, 4)) == 0:
            inputs = draw(st.lists(st.sampled_from([*names, "e", "pi", "u"]), max_size=4, unique=True))
        last = f"{draw(st.sampled_from(['f', 'f', 'f', 'loss', 'g']))}({', '.join(inputs)}) = {last}"
    statements.append(last)
    sep = draw(st.sampled_from(["; ", "; ", "\n", ";\n", "\n# a comment\n", " ; ; "]))
    text = sep.join(statements)
    if draw(st.integers(0, 9)) == 0:
        text = draw(st.sampled_from(["\n", "# start\n", "\ufeff", " "])) + text + draw(st.sampled_from(["", "\n", ";"]))
    return text


# ---- strategies: values for --at ------------------------------------------------------------------------

SPECIAL_VALUES = ["nan", "inf", "-inf", "-0", "0", "-1", "1e400", "-1e400", "1e-400", "1e308", "-1e308", "pi/4",
                  "exp(1000)", "log(0)", "sqrt(-1)", "2^3^4^5", "1/0", "0/0", "e", "π", "-pi", "[]", "[[]]",
                  "[[], []]", "[1, [2]]", "[nan]", "[inf, -inf]", "[1e400]", Long(f"[{DIGITS_5000}]"), DIGITS_5000,
                  "[1,]", "[,]", "[1 2]", "@/nonexistent.json", "@", "@.", "[[1,2],[3,4]]", "[1,2,3]", "True",
                  "[0.1, -0.2]", "[[0.5, 1], [2, -1]]", "-0.0", "1e-8", "-745", "710", "2", "-2", "0.5",
                  "1e1000000", "-1e1000000", "1.5e-1000000", "[1e1000000]"]


@functools.cache
def scalar_texts() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(PLAIN_NUMBERS),
        numbers().map(lambda n: "-" + n),
        st.sampled_from(SPECIAL_VALUES),
        numbers(),
        st.floats().map(repr),
        expressions([], leaves=3),
    )


@functools.cache
def json_number_texts() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(PLAIN_NUMBERS), st.sampled_from(["-1", "-0.5", "0", "-2"]),
                     st.floats(allow_nan=False, allow_infinity=False).map(repr), st.integers(-10**6, 10**6).map(str),
                     st.sampled_from(["0", "-0", "1e400", "-1e400", "1e-400", "9" * 30]))


@st.composite
def shaped_arrays(draw: Any) -> str:
    """Nested lists of one shape (rank 1 to 3, lengths 0 to 3), as a student writes them."""
    shape = draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))

    def build(dims: list[int]) -> str:
        if not dims:
            return draw(json_number_texts())
        return "[" + ", ".join(build(dims[1:]) for _ in range(dims[0])) + "]"

    return build(shape)


@functools.cache
def array_texts() -> st.SearchStrategy[str]:
    ragged = st.recursive(json_number_texts(), lambda c: st.lists(c, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
                          max_leaves=6)
    return st.one_of(shaped_arrays(), shaped_arrays(), ragged, st.lists(scalar_texts(), min_size=1, max_size=3).map(
        lambda xs: f"[{', '.join(xs)}]"))


@functools.cache
def values() -> st.SearchStrategy[str]:
    return st.one_of(scalar_texts(), scalar_texts(), array_texts())


@st.composite
def bindings(draw: Any, program: str) -> list[str]:
    """--at options for a program: nearly always a value for each variable it uses, sometimes another,
    as one --at or two."""
    names = [n for n in used_names(program, {*VARIABLES, "e", "pi", "u"})
             if draw(st.integers(0, 19)) > 0 and (n not in ("e", "pi") or draw(st.integers(0, 3)) == 0)]
    if draw(st.integers(0, 9)) == 0:
        names.append(draw(st.sampled_from([*VARIABLES, "q", "nope"])))
    pieces = [f"{name}={draw(values())}" for name in dict.fromkeys(names)]
    if not pieces:
        return []
    cut = draw(st.integers(1, len(pieces)))
    parts = [",".join(pieces[:cut]), ",".join(pieces[cut:])]
    return [a for p in parts if p for a in ("--at", p)]


GRAD_OPTIONS = [
    ["--format", "json"], ["--format", "json"], ["--format", "plain"], ["--format", "table"], ["--format", "csv"],
    ["--format", "tsv"], ["--format", "jsonl"], ["--steps"], ["--expand"], ["--strict"], ["--exact"], ["--latex"],
    ["--digits", "1"], ["--digits", "17"], ["--wrt", "x"], ["--wrt", "x,y"], ["--upstream", "[1, 2]"],
    ["--upstream", "1"], ["--upstream", "[[1, 0], [0, 1]]"], ["--eps", "1e-300"], ["--eps", "10"],
    ["--symbolic-limit", "1"],
]


@st.composite
def grad_cases(draw: Any) -> list[str]:
    program = draw(programs())
    at = draw(bindings(program)) if draw(st.integers(0, 9)) > 0 else []
    options = [o for opts in draw(st.lists(st.sampled_from(GRAD_OPTIONS), max_size=3, unique_by=str)) for o in opts]
    # The checks (on by default) are the slow part: a third of the cases run them.
    if draw(st.integers(0, 2)) > 0:
        options.append("--no-check")
    return [*at, *options, "--", program]


@st.composite
def check_cases(draw: Any) -> list[str]:
    """`symgrad check PROGRAM --at ... --expect ...` with answers of every kind."""
    program = draw(programs(leaves=4))
    at = draw(bindings(program)) if draw(st.integers(0, 5)) > 0 else []
    names = used_names(program)
    keys = st.sampled_from([*names, *names, *[f"d{n}" for n in names], *[f"df/d{n}" for n in names],
                            *[f"∂f/∂{n}" for n in names], "f", "nope", "dq/dx"] if names else ["f", "x"])
    answer = st.one_of(values(), st.sampled_from(["inf", "-inf", "nan", "undefined", "NaN", "+inf", "0e0", "0.0390",
                                                  "3.9e-2", "[0.5, inf]", "x", "z", "x+y", "cos(x)"]),
                       expressions(names, leaves=3))
    pairs = draw(st.lists(st.tuples(keys, answer), min_size=1, max_size=3, unique_by=lambda kv: kv[0]))
    expect = ",".join(f"{k}={v}" for k, v in pairs)
    options = [o for opts in draw(st.lists(st.sampled_from(
        [["--format", "json"], ["--require-all"], ["--sigfigs", "1"], ["--sigfigs", "9"], ["--decimals", "0"],
         ["--decimals", "3"], ["--rtol", "0"], ["--atol", "1e-300"], ["--rtol", "0.1"], ["--symbolic-limit", "1"]]),
        max_size=2, unique_by=str)) for o in opts]
    return ["check", *at, "--expect", expect, *options, "--", program]


# ---- strategies: raw text ----------------------------------------------------------------------------------

SYNTAX = "()[]{},;=+-*/^@.#_\n\t\r\x00\x0b\x0c\x1b\x7f 0123456789xyzWeE²³⁻¹πσθ−–×·÷\u00a0\u2009\ufeff\u200b\\\"'`"
LONG_UNITS = ["9", "x", "(", ")", "[", "]", "-", "+", "1.", "e", "²", "((x", "[1,", "x+", "x*", "-(", "[[", "1e9",
              "sqrt(", "x;", "\n", "x=1;", ",", "é", "𝑥", "\x00"]


@st.composite
def mutated(draw: Any) -> str:
    """A valid program with a few characters inserted, deleted or replaced."""
    text = draw(programs(leaves=4))
    for _ in range(draw(st.integers(1, 3))):
        if not text:
            break
        k = draw(st.integers(0, len(text) - 1))
        ch = draw(st.sampled_from(SYNTAX))
        text = draw(st.sampled_from([text[:k] + ch + text[k:], text[:k] + text[k + 1:], text[:k] + ch + text[k + 1:]]))
    return text


@functools.cache
def raw_texts() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=40),
        st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=20),
        st.text(alphabet=SYNTAX, max_size=40),
        st.builds(lambda unit, n: unit * n, st.sampled_from(LONG_UNITS), st.integers(200, 20000)),
        st.builds(lambda a, unit, n, b: a + unit * n + b, st.text(alphabet=SYNTAX, max_size=5),
                  st.sampled_from(LONG_UNITS), st.integers(1, 3000), st.text(alphabet=SYNTAX, max_size=5)),
        mutated(),
    )


@st.composite
def raw_cases(draw: Any) -> tuple[list[str], str | None]:
    text = draw(raw_texts())
    where = draw(st.sampled_from(["expr", "expr", "stdin", "at", "at-value", "expect", "upstream", "wrt", "option",
                                  "file"]))
    no_check = ["--no-check"] if draw(st.integers(0, 3)) > 0 else []
    fmt = draw(st.sampled_from([[], [], ["--format", "json"], ["--format", "csv"]]))
    if where == "expr":
        return ["--at", "x=1,y=2", *no_check, *fmt, "--", text], None
    if where == "stdin":
        return ["-", "--at", "x=1", *no_check, *fmt], text
    if where == "at":
        return ["x*y", "--at", text, *no_check, *fmt], None
    if where == "at-value":
        return ["f(x)=sum(x)", "--at", f"x={text}", *no_check, *fmt], None
    if where == "expect":
        return ["check", "f(x,y)=x*y", "--at", "x=1,y=2", "--expect", text], None
    if where == "upstream":
        return ["f(x)=[x, 2*x]", "--at", "x=1", "--upstream", text, *no_check, *fmt], None
    if where == "wrt":
        return ["x*y", "--at", "x=1,y=2", "--wrt", text, *no_check], None
    if where == "file":  # the text in a file: the program (--file), or a value (@v.json, @v.npy)
        use = draw(st.sampled_from([["--file", "{path}", "--at", "x=1"], ["f(x)=sum(x)", "--at", "x=@{path}"],
                                    ["f(x)=[x, 2*x]", "--at", "x=1", "--upstream", "@{path}"]]))
        return [*use, *no_check, *fmt], text
    return [text, "--at", "x=1"], None  # a first argument that may look like an option or a command


NPY_HEADER = b"\x93NUMPY\x01\x00"


@st.composite
def file_bytes(draw: Any) -> bytes:
    """What a value file may hold: any bytes, JSON-like text, or a .npy header with anything after it."""
    return draw(st.one_of(st.binary(max_size=64), raw_texts().map(lambda t: t.encode("utf-8", "surrogatepass")),
                          array_texts().map(str.encode), st.binary(max_size=200).map(lambda b: NPY_HEADER + b),
                          st.sampled_from([b"", b"\xff\xfe", b"[1, 2]", b"1e400", b"NaN", b"[[1], [2, 3]]",
                                           b"{\"x\": 1}", b"\"1\"", b"true", b"null", b"[" * 5000])))


# ---- strategies: points on stdin ---------------------------------------------------------------------------

POINT_PROGRAMS = ["x*y + sin(x)", "f(x)=sqrt(x)", "f(x,y)=x/y", "log(x) + y^2", "relu(x)*max(x, y)", "f(x,y)=x^y",
                  "sum(W*x)", "f(x)=x[0]", "f(x,y)=atan2(y,x)", "f(x,y) = y", "q = x*y; f = exp(q)"]
CELLS = ["0", "1", "-1", "2.5", "nan", "NaN", "inf", "-inf", "Infinity", "", " ", "1e400", "-1e400", "1e-400",
         '"1,2"', '"', '""', "[1,2]", "[1, 2]", "x", "1,5", "0x10", "1_000", "١", DIGITS_5000, DIGITS_400, "\x00",
         "true", "null", "{}", "1e99999", "  3  ", "+4", "--1", "1e", ".", "pi"]


@st.composite
def csv_texts(draw: Any) -> str:
    delimiter = draw(st.sampled_from([",", ",", "\t", ";"]))
    newline = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    header = draw(st.lists(st.one_of(st.sampled_from(["x", "y", "W", "x", "y", "", " x", "z", "f", "df/dx", "error",
                                                      '"x"', "x,y", "θ"]), st.text(max_size=4)),
                           max_size=4))
    cell = st.one_of(st.sampled_from(CELLS), json_number_texts(), st.text(max_size=6))
    rows = draw(st.lists(st.lists(cell, max_size=5), max_size=6))
    lines = [delimiter.join(header)] + [delimiter.join(r) for r in rows]
    text = newline.join(lines) + draw(st.sampled_from(["", newline, newline * 3]))
    if draw(st.integers(0, 9)) == 0:
        text = "\ufeff" + text
    return text


@functools.cache
def json_values(leaves: int = 6) -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(), st.text(max_size=8))
    return st.recursive(scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                     st.dictionaries(st.text(max_size=3), c, max_size=3)),
                        max_leaves=leaves)


@st.composite
def jsonl_texts(draw: Any) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.integers(0, 4))
        if kind == 0:
            lines.append(json.dumps(draw(json_values())))
        elif kind == 1:
            lines.append(draw(st.text(max_size=20)))
        else:
            keys = draw(st.lists(st.sampled_from(["x", "y", "W", "z", "", "f"]), max_size=3, unique=True))
            lines.append("{" + ", ".join(f'"{k}": {draw(st.one_of(array_texts(), st.sampled_from(CELLS)))}'
                                         for k in keys) + "}")
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"]))


@st.composite
def points_cases(draw: Any) -> tuple[list[str], str]:
    program = draw(st.one_of(st.sampled_from(POINT_PROGRAMS), st.sampled_from(POINT_PROGRAMS),
                             programs(leaves=4)))
    text = draw(st.one_of(csv_texts(), csv_texts(), jsonl_texts()))
    options = [o for opts in draw(st.lists(st.sampled_from(
        [["--check"], ["--format", "csv"], ["--format", "tsv"], ["--format", "jsonl"], ["--format", "json"],
         ["--at", "y=2"], ["--at", "W=[1,2]"], ["--at", "x=[1,2]"], ["--at", "y=nan"], ["--expand"]]),
        max_size=3, unique_by=lambda o: o[0] if o[0] != "--at" else o[1][0])) for o in opts]
    return [program, "--points", "-", *options], text


# ---- strategies: batch lines ---------------------------------------------------------------------------------


@st.composite
def requests(draw: Any) -> str:
    """One batch line: a request with generated fields, or JSON of any kind, or not JSON at all."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return json.dumps(draw(json_values()))
    if kind == 1:
        return draw(st.one_of(st.text(max_size=30), st.sampled_from(
            [Long('{"expr": "x", "at": {"x": ' + DIGITS_5000 + "}}"), '{"expr": "x", "at": {"x": 1e400}}',
             '{"expr": "x", "at": {"x": NaN}}', '{"expr": "x", "at": {"x": -Infinity}}', "{", "[]", "null", '""',
             '{"expr": "x", "expr": "y", "at": "x=1,y=2"}', '{"expr": "x"}\u2028{"expr": "y"}', "\ufeff{}",
             '{"expr": "x", "at": {"x": [' + ", ".join(["[1]"] * 3) + "]}}",
             Long('{"expr": "x", "at": {"x": 1}, "id": ' + DIGITS_5000 + "}"), '{"expr": "x"}',
             '{"expr": "x", "at": {}}',
             '{"expr": "x", "at": {"x": 1}, "expect": {"x": 1e1000000}}'])))
    request: dict[str, Any] = {}
    if draw(st.integers(0, 9)) > 0:
        request["expr"] = draw(st.one_of(programs(leaves=4), programs(leaves=4), raw_texts(), json_values(3)))
    text = request.get("expr") if isinstance(request.get("expr"), str) else ""
    names = used_names(text, {*VARIABLES, "e", "pi"})
    at_value = st.one_of(st.sampled_from([0, 1, -2, 0.5, 3.25]), st.floats(), st.integers(-(10**30), 10**30),
                         st.lists(st.floats(), max_size=3), values(), json_values(3))
    if draw(st.integers(0, 4)) > 0:
        request["at"] = draw(st.one_of(
            st.fixed_dictionaries({n: at_value for n in names}),
            st.dictionaries(st.sampled_from([*names, "x", "", "nope"]), at_value, max_size=3),
            values().map(lambda v: f"x={v}"),
            json_values(3)))
    if draw(st.booleans()):
        request["id"] = draw(json_values(3))
    if draw(st.integers(0, 3)) == 0:
        request["expect"] = draw(st.one_of(
            st.dictionaries(st.sampled_from([*names, "f", "dx", "nope"]), at_value, max_size=2),
            values().map(lambda v: f"x={v}"), json_values(3)))
    if draw(st.integers(0, 9)) == 0:
        request[draw(st.text(max_size=5))] = draw(json_values(2))
    return json.dumps(request, ensure_ascii=draw(st.booleans()))


@st.composite
def batch_cases(draw: Any) -> tuple[list[str], str]:
    lines = draw(st.lists(requests(), min_size=1, max_size=4))
    text = draw(st.sampled_from(["\n", "\r\n", "\n\n"])).join(lines) + draw(st.sampled_from(["", "\n"]))
    options = ["--check"] if draw(st.integers(0, 3)) == 0 else []
    return ["batch", *options], text


# ---- strategies: homework files --------------------------------------------------------------------------------


def toml_string(text: str, style: int) -> str:
    if style == 1 and "'" not in text and "\n" not in text and "\r" not in text:
        return f"'{text}'"
    if style == 2 and '"""' not in text and not text.endswith(('"', "\\")):
        return '"""' + text.replace("\\", "\\\\") + '"""'
    return json.dumps(text)  # a basic string: JSON's escapes are TOML's (\uXXXX), surrogates aside


@st.composite
def toml_values(draw: Any, depth: int = 2) -> str:
    kind = draw(st.integers(0, 9 if depth > 0 else 6))
    if kind <= 2:
        text = draw(st.one_of(programs(leaves=4), values(), raw_texts(), st.text(max_size=10)))
        return toml_string(text, draw(st.integers(0, 2)))
    if kind == 3:
        return draw(st.one_of(st.integers(-(10**20), 10**20).map(str), st.sampled_from(
            ["inf", "-inf", "nan", "+nan", "1e400", "0x1F", "0o7", "0b1", "1_000", "3.25", "-0.0", "1e-400",
             DIGITS_400, DIGITS_5000, "1e1000000", "1979-05-27", "07:32:00", "1979-05-27T07:32:00Z", "2", "0", "-1"])))
    if kind == 4:
        return draw(st.sampled_from(["true", "false"]))
    if kind <= 6:
        return draw(st.sampled_from(["", "1", "[", "{", '"', "'''"]))  # broken values
    if kind <= 8:
        items = draw(st.lists(toml_values(depth - 1), max_size=3))
        return "[" + ", ".join(items) + "]"
    keys = draw(st.lists(st.sampled_from(["x", "y", "z", "W", "dx", "df/dx", "f", "nope", "a b"]), max_size=3,
                         unique=True))
    pairs = [f"{json.dumps(k) if not re.fullmatch(r'[A-Za-z0-9_-]+', k) else k} = {draw(toml_values(depth - 1))}"
             for k in keys]
    return "{ " + ", ".join(pairs) + " }"


@st.composite
def problem_tables(draw: Any) -> str:
    header = draw(st.sampled_from(["[[problem]]"] * 12 + ["  [[ problem ]]  # a comment", "[problem]",
                                                       "[[problems]]", "[[problem.x]]"]))
    lines = [header]
    program = draw(programs(leaves=4))
    fields: dict[str, str] = {}
    if draw(st.integers(0, 5)) > 0:
        fields["name"] = toml_string(draw(st.text(max_size=12)), 0)
    if draw(st.integers(0, 9)) > 0:
        fields["function"] = toml_string(program, draw(st.integers(0, 2))) if draw(st.integers(0, 3)) > 0 \
            else draw(toml_values())
    if draw(st.integers(0, 4)) > 0:
        names = used_names(program)
        if draw(st.booleans()):
            fields["at"] = toml_string(",".join(f"{n}={draw(values())}" for n in names), 0)
        else:
            fields["at"] = draw(toml_values())
    if draw(st.integers(0, 9)) > 0:
        names = used_names(program) or ["x"]
        if draw(st.booleans()):
            fields["expect"] = toml_string(",".join(f"{draw(st.sampled_from(names))}={draw(values())}"
                                                    for _ in range(draw(st.integers(1, 3)))), 0)
        else:
            fields["expect"] = draw(toml_values())
    for key in ("sigfigs", "decimals"):
        if draw(st.integers(0, 5)) == 0:
            fields[key] = draw(toml_values(0))
    if draw(st.integers(0, 9)) == 0:
        fields[draw(st.sampled_from(["hint", "points", "name", "x"]))] = draw(toml_values(0))
    lines += [f"{k} = {v}" for k, v in fields.items()]
    return "\n".join(lines)


@st.composite
def homework_texts(draw: Any) -> str:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(raw_texts())
    tables = draw(st.lists(problem_tables(), min_size=1, max_size=3))
    text = "\n\n".join(tables) + "\n"
    if kind == 1:  # a few characters inserted, deleted or replaced
        for _ in range(draw(st.integers(1, 3))):
            k = draw(st.integers(0, len(text) - 1))
            ch = draw(st.sampled_from(SYNTAX + '"[]=\''))
            text = draw(st.sampled_from([text[:k] + ch + text[k:], text[:k] + text[k + 1:]]))
    if kind == 2:
        text = draw(st.sampled_from(["title = 'hw'\n", "[meta]\nx = 1\n", "\ufeff", "problem = 1\n",
                                     '"""\n[[problem]]\n"""\n'])) + text
    return text


@st.composite
def homework_cases(draw: Any) -> tuple[list[str], str]:
    text = draw(homework_texts())
    options = [o for opts in draw(st.lists(st.sampled_from(
        [["--format", "json"], ["--require-all"], ["--sigfigs", "3"], ["--decimals", "2"], ["--rtol", "0.01"],
         ["--symbolic-limit", "1"]]), max_size=2)) for o in opts]
    return options, text


# ---- the fuzz tests ----------------------------------------------------------------------------------------


@fuzz_settings()
@given(grad_cases())
def _programs(args: list[str]) -> None:
    fuzz_case("programs", *args)


def test_fuzz_programs() -> None:
    """Programs from the grammar at generated points: exit 0, 1 or 2, never a traceback."""
    run_fuzz("programs", _programs)


@fuzz_settings(0.5)
@given(check_cases())
def _check_answers(args: list[str]) -> None:
    fuzz_case("check", *args)


def test_fuzz_check_answers() -> None:
    """`symgrad check` of programs from the grammar against generated answers."""
    run_fuzz("check", _check_answers)


@fuzz_settings()
@given(raw_cases(), file_bytes(), st.sampled_from(["v.json", "v.npy", "prog.sg", "v"]))
def _raw_text(tmp_path: Path, case: tuple[list[str], str | None], data: bytes, name: str) -> None:
    args, stdin = case
    content = None
    if any("{path}" in a for a in args):
        path = tmp_path / name
        content = stdin.encode("utf-8", "surrogatepass") if stdin is not None and name == "prog.sg" else data
        path.write_bytes(content)
        args, stdin = [a.replace("{path}", str(path)) for a in args], None
    fuzz_case("raw", *args, input=stdin, file=content)


def test_fuzz_raw_text(tmp_path: Path) -> None:
    """Arbitrary text as the expression, the program on stdin, and every option's value; arbitrary
    bytes in a program file or a value file."""
    run_fuzz("raw", _raw_text, tmp_path)


@fuzz_settings()
@given(points_cases())
def _points(case: tuple[list[str], str]) -> None:
    args, stdin = case
    fuzz_case("points", *args, input=stdin)


def test_fuzz_points() -> None:
    """--points - with generated CSV, TSV and JSON Lines on stdin."""
    run_fuzz("points", _points)


@fuzz_settings()
@given(batch_cases())
def _batch(case: tuple[list[str], str]) -> None:
    args, stdin = case
    fuzz_case("batch", *args, input=stdin)


def test_fuzz_batch() -> None:
    """`symgrad batch` with generated requests and arbitrary JSON lines."""
    run_fuzz("batch", _batch)


@fuzz_settings(0.5)
@given(homework_cases(), st.sampled_from(["utf-8", "utf-8", "utf-8", "latin-1"]))
def _homework(tmp_path: Path, case: tuple[list[str], str], encoding: str) -> None:
    options, text = case
    path = tmp_path / "homework.toml"
    content = text.encode("utf-8", "surrogatepass") if encoding == "utf-8" else text.encode(encoding, "replace")
    path.write_bytes(content)
    fuzz_case("homework", "check", str(path), *options, file=content)


def test_fuzz_homework(tmp_path: Path) -> None:
    """`symgrad check FILE.toml` with generated homework files (valid TOML or not, UTF-8 or not:
    lone surrogates are written as the bytes that encode them, which no UTF-8 decoder accepts)."""
    run_fuzz("homework", _homework, tmp_path)


# ---- what the fuzz found: minimal reproducers ------------------------------------------------------------------
#
# Each is a regression test asserting what should happen: it fails while the bug is there.  Run in this
# process: (arguments, stdin, the exit statuses that are right).  `ends_well` holds as well: no traceback,
# and a message with status 2.  Where two statuses are listed, either is a fair fix (an error for the bad
# input, or an answer for it).

HUGE = DIGITS_5000
REPRODUCERS = [
    # Known before the fuzz: a 5,000-digit integer inside an array value (ValueError from int()).
    pytest.param(["sum(x)", "--at", f"x=[{HUGE}]", "--no-check"], None, {2}, id="huge-integer-in-array-value"),
    # --points with a blank first line: no header, and a KeyError for the variable
    # (pipeline.evaluate_block: fixed[v] for a variable the empty header does not name).
    pytest.param(["x", "--points", "-"], "\n1\n", {2}, id="points-blank-header"),
    # ... the same with JSON Lines after a blank line (sniffed from its first character, "\n": read as CSV).
    pytest.param(["x", "--points", "-"], '\n{"x": 1}\n', {0, 2}, id="points-blank-line-before-json-lines"),
    # ... and for a program without variables: numpy.column_stack of no columns (pipeline.evaluate_block).
    pytest.param(["1", "--points", "-"], "\n1\n", {1, 2}, id="points-blank-header-no-variables"),
    # JSON Lines points for a program without variables: its value has no point axis to split
    # (pipeline._split: value.reshape(len(lines), -1), a ValueError from the second point on).
    pytest.param(["1", "--points", "-"], "{}\n{}\n", {0}, id="points-constant-program"),
    # batch: a request without "at" for a program with variables, with --check or answers: the symbolic-only
    # run has no trace, and app._answer renders it (json_view.result_body(None): AttributeError).
    pytest.param(["batch", "--check"], '{"expr": "x"}\n', {0, 1}, id="batch-check-without-at"),
    pytest.param(["batch"], '{"expr": "x", "expect": {"x": 1}}\n', {0, 1}, id="batch-expect-without-at"),
    # batch: a NaN (or Infinity) id is echoed into strict JSON (json_view.dumps, allow_nan=False: ValueError).
    pytest.param(["batch"], '{"id": NaN}\n', {1}, id="batch-nan-id"),
    pytest.param(["batch"], '{"expr": "x", "at": {"x": 1}, "id": Infinity}\n', {0, 1}, id="batch-infinite-id"),
    # check: an answer beyond Decimal's exponent range (homework._compare: decimal.Overflow).
    pytest.param(["check", "x", "--at", "x=1", "--expect", "x=1e1000000"], None, {1, 2}, id="answer-1e1000000"),
    # check: an answer for a named intermediate that the output does not use (checks.node_references:
    # KeyError for its label).  Its gradient is 0, so the answer 1 is wrong, or the name is refused.
    pytest.param(["check", "q = x; 2*x", "--at", "x=1", "--expect", "q=1"], None, {1, 2},
                 id="answer-for-unused-intermediate"),
    # Found in uncommitted work in the tree during the fuzz (numbers read as exact fractions), fixed since:
    # a literal out of float64's range (OverflowError in graph._node, float(Fraction)), and 5,000 digits.
    pytest.param(["1e400", "--no-check"], None, {0, 2}, id="literal-1e400"),
    pytest.param(["x", "--at", "x=1e400", "--no-check"], None, {0, 2}, id="value-1e400"),
    pytest.param(["--no-check", "--", HUGE], None, {0, 2}, id="huge-integer-literal"),
    pytest.param(["x", "--at", f"x={HUGE}", "--no-check"], None, {0, 2}, id="huge-integer-value"),
    pytest.param(["batch"], json.dumps({"expr": "x", "at": f"x={HUGE}"}) + "\n", {0, 1}, id="batch-huge-integer"),
]


def ends_well(code: int | None, stdout: str, stderr: str, exception: BaseException | None = None) -> None:
    problem = problem_of(code, stdout, stderr, exception)
    assert problem is None, (problem, stdout[-2000:], stderr[-2000:])


@pytest.mark.parametrize(("args", "stdin", "codes"), REPRODUCERS)
def test_reproducer(args: list[str], stdin: str | None, codes: set[int]) -> None:
    result = CliRunner(charset="utf-8").invoke(main, args, input=stdin, prog_name="symgrad")
    ends_well(result.exit_code, result.stdout, result.stderr, result.exception)
    assert result.exit_code in codes, (result.exit_code, result.stdout[-2000:], result.stderr[-2000:])
    if args[0] == "batch":  # one strict JSON record for each non-blank line
        lines = result.stdout.splitlines()
        assert len(lines) == len([line for line in stdin.splitlines() if line.strip()]), result.stdout
        for line in lines:
            json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} in strict JSON"))


def test_reproducer_homework_huge_integer(tmp_path: Path) -> None:
    """A 5,000-digit integer in a homework file: tomllib raised ValueError, not TOMLDecodeError
    (homework.read_homework); fixed since.  The problem is broken (reported, counted as failed): exit
    status 1."""
    path = tmp_path / "homework.toml"
    path.write_text(f'[[problem]]\nfunction = "f(x)=x"\nat = "x=1"\nexpect = "x=1"\nsigfigs = {HUGE}\n\n'
                    '[[problem]]\nfunction = "f(x)=x*x"\nat = "x=3"\nexpect = "x=6"\n', encoding="utf-8")
    result = CliRunner(charset="utf-8").invoke(main, ["check", str(path)], prog_name="symgrad")
    ends_well(result.exit_code, result.stdout, result.stderr, result.exception)
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)


HANG_SECONDS_PROCESS = 600  # a safety net against a hang only, far past any load: each ends in about a second

# Reproducers that need a real process: closed or full standard streams, and a hang.  Each is
# (arguments, shell redirections, the exit statuses that are right, whether stderr must say something).
PROCESS_REPRODUCERS = [
    # Known before the fuzz: stdin closed; stdout closed; --help and --version to a full device.
    pytest.param(["-", "--at", "x=0"], "<&-", {2}, True, id="stdin-closed"),
    pytest.param(["x", "--at", "x=1"], ">&-", {2}, True, id="stdout-closed"),
    pytest.param(["--help"], ">/dev/full", {2}, True, id="help-to-full-device"),
    pytest.param(["--version"], ">/dev/full", {2}, True, id="version-to-full-device"),
    # stderr on a full device: writing the error message raises OSError in cli._fail (say), and again in
    # cli.run's handler, so the process dies of an uncaught exception with status 1 (as if a check failed).
    pytest.param(["x+"], "2>/dev/full", {2}, False, id="error-to-full-stderr"),
    # ... and a warning (cli._grad, say(..., err=True)): the result is written, the status is 1.
    pytest.param(["log(x)", "--at", "x=0", "--no-check"], "2>/dev/full >/dev/null", {0, 2}, False,
                 id="warning-to-full-stderr"),
    # Found in uncommitted work during the fuzz, fixed since: Fraction("1e999999999") computes 10**999999999.
    pytest.param(["1e999999999", "--no-check"], ">/dev/null", {0, 2}, False, id="huge-exponent-hang"),
    # A hang: the symbolic check builds Integer(123456789012345678901234567890) ** Rational(-1, 1000)
    # (primitives._sym_pow), and SymPy factors the integer to simplify the power (Integer._eval_power,
    # factorint) for minutes; a small check runs in this process, where --check-timeout does not apply.
    pytest.param(["x + 123456789012345678901234567890^-0.001", "--at", "x=1", "--check-timeout", "2"], ">/dev/null",
                 {0}, False, id="sympy-factoring-hang"),
]


@pytest.mark.skipif(not os.path.exists("/dev/full") or sys.platform == "win32", reason="needs sh and /dev/full")
@pytest.mark.parametrize(("args", "redirect", "codes", "says"), PROCESS_REPRODUCERS)
def test_reproducer_process(args: list[str], redirect: str, codes: set[int], says: bool) -> None:
    """`python -m symgrad ARGS REDIRECT` in a shell.  The timeout only stops a hang (these take well under
    a second); it is not a measure of speed.  A hang costs the whole timeout, while it is there."""
    env = {k: v for k, v in os.environ.items() if k != "SYMGRAD_DEBUG"}
    command = ["sh", "-c", f'exec "$0" -m symgrad "$@" {redirect}', sys.executable, *args]
    try:
        done = subprocess.run(command, capture_output=True, env=env, timeout=HANG_SECONDS_PROCESS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"symgrad {' '.join(args)} {redirect}: still running after {HANG_SECONDS_PROCESS} s")
    stdout = done.stdout.decode("utf-8", "replace")
    stderr = done.stderr.decode("utf-8", "replace")
    assert TRACEBACK not in stdout + stderr, (stdout[-2000:], stderr[-2000:])
    assert done.returncode in codes, (done.returncode, stdout[-2000:], stderr[-2000:])
    if says:  # (where stderr is redirected, the message cannot be seen here)
        assert stderr.strip(), "no message on stderr"
