"""Grading answers: numbers (to the digits given), arrays, and formulas.

`symgrad check` compares what a student wrote with the backpropagated
gradient (itself verified by the checks).  Every answer, number or formula,
reaches the program through symgrad's grammar or as plain numeric data.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .binding import split_top
from .engine import Trace, evaluate_points, forward
from .errors import Source, SymgradError
from .graph import Graph, build
from .numbers import short

Array = np.ndarray

# A plain decimal number, as a student writes it: its digits say how precise it is.
_DECIMAL = re.compile(r"^\s*[+\-−]?(\d*)(?:\.(\d*))?(?:[eE]([+\-−]?\d+))?\s*$")
_KEY = re.compile(r"^(?:(?:∂|d)\s*(?P<out>[^\W\d]\w*)\s*/\s*(?:∂|d)\s*(?P<var>[^\W\d]\w*)|(?P<name>[^\W\d]\w*))$")
EXACT = 1e-9  # relative tolerance for answers written without a decimal point
FORMULA_POINTS = 200  # random points at which a formula is compared numerically


@dataclass
class Answer:
    key: str  # as written: x, dx, df/dx, ∂f/∂x, f
    target: str  # the input whose gradient it answers, or "" for the output's value
    text: str  # the answer as written
    span: tuple[int, int] | None = None
    source: Source | None = None
    numbers: Array | None = None  # a numeric answer
    tolerance: Array | None = None  # per element, from the digits given (None: exact)
    rule: str = "exact"
    formula: Graph | None = None  # an answer in terms of the inputs


@dataclass
class Graded:
    answer: str  # ∂f/∂x or f
    target: str
    given: str
    correct: str
    verdict: str  # right, wrong, missing, wrong shape
    reason: str = ""
    rule: str = ""
    rel_error: float | None = None
    method: str = "numbers"  # numbers, symbolic or numeric

    @property
    def right(self) -> bool:
        return self.verdict == "right"


@dataclass
class Grading:
    graded: list[Graded] = field(default_factory=list)
    own_checks: str = ""  # the summary of the verification of the correct values
    own_checks_failed: bool = False

    @property
    def right(self) -> int:
        return sum(g.right for g in self.graded)

    @property
    def total(self) -> int:
        return len(self.graded)

    def passed(self, require_all: bool) -> bool:
        counted = [g for g in self.graded if require_all or g.verdict != "missing"]
        return all(g.right for g in counted) and not self.own_checks_failed


# ---- reading answers -----------------------------------------------------------------


def _target(key: str, graph: Graph, source: Source | None, span: tuple[int, int] | None) -> str:
    clean = key.replace(" ", "")
    if clean in graph.variables:
        return clean
    if clean == graph.output_name:
        return ""
    m = _KEY.match(clean)
    if m and m.group("var"):
        if m.group("out") != graph.output_name:
            raise SymgradError("answer", f"{key}: the output is called {graph.output_name}",
                               source=source, span=span, hint=f"write d{graph.output_name}/d{m.group('var')}")
        clean = m.group("var")
    elif m and m.group("name") and clean.startswith("d") and clean[1:] in graph.variables:
        clean = clean[1:]
    if clean not in graph.variables:
        known = ", ".join(graph.variables) or "none"
        raise SymgradError("answer", f"there is an answer for {key}, but {graph.header} has no input {clean}",
                           source=source, span=span, hint=f"its inputs are: {known}")
    return clean


def decimals_rule(text: str) -> tuple[float | None, str]:
    """The tolerance a written number implies: half a unit of its last digit."""
    m = _DECIMAL.match(text)
    if not m or not (m.group(1) or m.group(2)):
        return None, "exact"
    exponent = int(m.group(3).replace("−", "-")) if m.group(3) else 0
    if m.group(2) is None and m.group(3) is None:
        return None, "exact"
    places = len(m.group(2) or "")
    what = f"{places} decimal{'s' if places != 1 else ''}" + (" of the mantissa" if m.group(3) else "")
    return 0.5 * 10.0 ** (exponent - places), f"to {what}"


def _number_text(node: Any) -> list[Any] | str:
    """Nested lists of number strings from a JSON-like answer, keeping the text of each number."""
    return node if isinstance(node, str) else [_number_text(n) for n in node]


def read_answer(key: str, text: str, graph: Graph, *, source: Source | None = None,
                span: tuple[int, int] | None = None, value_span: tuple[int, int] | None = None) -> Answer:
    target = _target(key, graph, source, span)
    answer = Answer(key, target, text.strip(), span, source)
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            data = json.loads(stripped.replace("−", "-"), parse_float=str, parse_int=str)
        except json.JSONDecodeError:
            data = None
        if data is not None:
            flat = np.array(_number_text(data), dtype=object)
            if flat.dtype != object or (flat.ndim == 0 and not isinstance(data, list)):
                raise SymgradError("answer", f"the answer for {key} is ragged", source=source, span=value_span)
            try:
                answer.numbers = np.array([float(str(v).replace("−", "-")) for v in flat.reshape(-1)]
                                          ).reshape(flat.shape)
            except (ValueError, TypeError):
                raise SymgradError("answer", f"the answer for {key} is ragged or not made of numbers",
                                   source=source, span=value_span) from None
            rules = [decimals_rule(str(v)) for v in flat.reshape(-1)]
            if all(tol is not None for tol, _ in rules):
                answer.tolerance = np.array([tol for tol, _ in rules]).reshape(flat.shape)
                answer.rule = "to the digits given"
            elif any(tol is not None for tol, _ in rules):
                answer.tolerance = np.array([tol if tol is not None else np.nan for tol, _ in rules]
                                            ).reshape(flat.shape)
                answer.rule = "to the digits given"
            return answer
    tol, rule = decimals_rule(stripped)
    if _DECIMAL.match(stripped) and (any(ch.isdigit() for ch in stripped)):
        answer.numbers = np.array(float(stripped.replace("−", "-")))
        answer.tolerance = None if tol is None else np.array(tol)
        answer.rule = rule
        return answer
    offset = value_span[0] if value_span else 0
    padded = " " * offset + text if source is not None else text
    try:
        formula = build(padded, source.name if source else "answer", start="value")
    except SymgradError as err:
        if source is not None and err.source is not None:
            err.source = source
        raise
    unknown = [v for v in formula.variables if v not in graph.variables]
    if unknown:
        raise SymgradError("answer", f"the answer for {key} uses {unknown[0]}, which is not an input of "
                           f"{graph.header}", source=source, span=value_span,
                           hint="a formula may use the function's inputs, constants and functions")
    if not formula.variables:
        values, _ = forward(formula, {})
        answer.numbers = np.asarray(values[formula.output][0], dtype=float)
        answer.rule = "exact"
        return answer
    answer.formula = formula
    answer.rule = "formula"
    return answer


def parse_expect(texts: Sequence[str], graph: Graph) -> list[Answer]:
    """Answers from --expect texts: x=-4,dy=4,df/dz=3,f=-12, or formulas: x=z."""
    answers: list[Answer] = []
    seen: dict[str, str] = {}
    for text in texts:
        source = Source(text, "--expect")
        for offset, piece in split_top(text):
            if not piece.strip():
                continue
            if "=" not in piece:
                raise SymgradError("answer", f"'{piece.strip()}' is not of the form name=answer", source=source,
                                   span=(offset, offset + len(piece)), hint="write --expect x=-4,y=4")
            key, value = piece.split("=", 1)
            lead = len(key) - len(key.lstrip())
            span = (offset + lead, offset + len(key.rstrip()))
            value_offset = offset + len(key) + 1
            answer = read_answer(key.strip(), value, graph, source=source, span=span,
                                 value_span=(value_offset, value_offset + len(value)))
            if answer.target in seen:
                raise SymgradError("answer", f"{key.strip()} answers the same as {seen[answer.target]}",
                                   source=source, span=span, hint="give each answer once")
            seen[answer.target] = key.strip()
            answers.append(answer)
    return answers


# ---- grading -------------------------------------------------------------------------


def _label(target: str, graph: Graph, partial: str) -> str:
    return graph.output_name if not target else f"{partial}{graph.output_name}/{partial}{target}"


def grade(graph: Graph, trace: Trace | None, answers: list[Answer], *, rtol: float | None = None,
          atol: float | None = None, timeout: float = 5.0, partial: str = "∂") -> Grading:
    """Compare each answer with the truth; gradients nobody answered are listed as missing."""
    result = Grading()
    answered = {a.target for a in answers}
    for a in answers:
        label = _label(a.target, graph, partial)
        if a.formula is not None:
            result.graded.append(_grade_formula(graph, trace, a, label, timeout))
        elif trace is None:
            raise SymgradError("answer", f"the answer for {a.key} is a number: give the point with --at",
                               hint="formulas can be checked without a point, numbers cannot")
        else:
            truth = trace.value if not a.target else trace.gradient.get(a.target)
            if truth is None:
                result.graded.append(Graded(label, a.target, a.text, "none", "wrong",
                                            f"{a.target} is used only as an index and has no gradient"))
                continue
            result.graded.append(_grade_number(a, np.asarray(truth, dtype=float), label, rtol, atol,
                                               _scale(trace)))
    for v in graph.variables:
        if v in answered or v in graph.index_only:
            continue
        correct = "-" if trace is None else short(trace.gradient[v], 6, oneline=True)
        result.graded.append(Graded(_label(v, graph, partial), v, "", correct, "missing", "not answered"))
    return result


def _scale(trace: Trace) -> float:
    """The size of the numbers of a computation, for the floor of the exact rule."""
    from .checks import scale_of

    return max(1.0, scale_of(trace))


def _grade_number(a: Answer, truth: Array, label: str, rtol: float | None, atol: float | None,
                  scale: float = 1.0) -> Graded:
    assert a.numbers is not None
    given = a.numbers
    shown = short(truth, 6, oneline=True)
    if given.shape != truth.shape:
        transposed = given.ndim == 2 and given.shape[::-1] == truth.shape and _within(given.T, truth, a, rtol, atol,
                                                                                      scale)[0]
        shapes = f"expected shape {truth.shape}, got {given.shape}"
        return Graded(label, a.target, a.text, shown, "wrong shape",
                      f"{shapes}: transposed" if transposed else shapes, a.rule)
    diff = np.abs(given - truth)
    size = np.maximum(np.abs(given), np.abs(truth))
    rel = float(np.max(np.where(size > 0, diff / np.where(size > 0, size, 1), 0.0))) if diff.size else 0.0
    ok, rule = _within(given, truth, a, rtol, atol, scale)
    if ok:
        return Graded(label, a.target, a.text, shown, "right", "", rule, rel)
    return Graded(label, a.target, a.text, shown, "wrong", _why(given, truth, a, rtol, atol, scale), rule, rel)


def _within(given: Array, truth: Array, a: Answer, rtol: float | None, atol: float | None,
            scale: float) -> tuple[bool, str]:
    """Is the answer right under the rule that applies, and which rule is it?"""
    diff = np.abs(given - truth)
    if rtol is not None or atol is not None:
        r, t = rtol or 0.0, atol or 0.0
        return bool(np.all(diff <= t + r * np.abs(truth))), f"within rtol {r:g}, atol {t:g}"
    # Exact: relative 1e-9, and a floor that keeps a numerical zero (2e-16 for sin(pi)) equal to 0.
    exact_rule = EXACT * np.abs(truth) + 1e-10 * scale
    tol = exact_rule if a.tolerance is None else np.where(np.isnan(a.tolerance), exact_rule, a.tolerance)
    slack = tol * (1 + 1e-9) + 4 * np.finfo(float).eps * np.abs(truth)
    return bool(np.all(diff <= slack)), (a.rule if a.rule != "exact" else "exact (relative 1e-9)")


def _why(given: Array, truth: Array, a: Answer, rtol: float | None, atol: float | None, scale: float) -> str:
    """A hint at the mistake, where there is an obvious one."""
    if np.any(given != 0) and np.any(truth != 0) and _within(-given, truth, a, rtol, atol, scale)[0]:
        return "wrong sign"
    if given.ndim == 2 and given.shape == given.shape[::-1] and _within(given.T, truth, a, rtol, atol, scale)[0]:
        return "transposed"
    if given.size == 1 and truth.size == 1 and float(truth) != 0:
        ratio = float(given) / float(truth)
        for k in (2, 3, 4, 10):
            if abs(ratio - k) < 1e-6 * k:
                return f"off by a factor of {k}"
            if abs(ratio - 1 / k) < 1e-6:
                return f"off by a factor of 1/{k}"
    if rtol is None and atol is None and a.tolerance is not None and np.all(
            np.abs(given - truth) < 10 * np.nan_to_num(a.tolerance, nan=0) + 1e-300):
        return f"close, but not {a.rule.removeprefix('to ')} ({short(truth, 8, oneline=True)})"
    scale_here = np.maximum(np.abs(truth), 1e-12)
    if np.all(np.abs(given - truth) / scale_here < 1e-2):
        return "close: check the rounding"
    return ""


def _grade_formula(graph: Graph, trace: Trace | None, a: Answer, label: str, timeout: float) -> Graded:
    """A formula equals the true partial derivative: symbolically, or else at many random points."""
    assert a.formula is not None
    same, derivative = _formula_symbolic(graph, a, timeout)
    if same:
        return Graded(label, a.target, a.text, derivative, "right", "", "formula", 0.0, "symbolic")
    graded = _formula_numeric(graph, trace, a, label)
    if derivative:
        graded.correct = derivative
    return graded


def _formula_symbolic(graph: Graph, a: Answer, timeout: float) -> tuple[bool, str]:
    """Whether SymPy shows the difference is 0 (in time), and the true derivative as text."""
    import sympy  # noqa: F401 - loaded once, before the check forks

    from .checks import Printer, input_symbols, run_budgeted, symbolic_values

    formula = a.formula
    assert formula is not None

    def work(send: Any) -> None:
        import sympy as sp

        arrays, symbols = input_symbols(graph, sp, {}, {})
        f = symbolic_values(graph, sp, arrays)[graph.output].reshape(-1)[0]
        derivative = sp.diff(f, symbols[a.target]) if a.target else f
        given = symbolic_values(formula, sp, {v: arrays[v] for v in formula.variables})[formula.output]
        send(("derivative", Printer(sp)(sp.simplify(derivative))))
        difference = sp.simplify(derivative - given.reshape(-1)[0])
        send(("result", bool(difference == 0)))

    messages, _ = run_budgeted(work, timeout)
    text = next((m[1] for m in messages if m[0] == "derivative"), "")
    same = any(m[0] == "result" and m[1] for m in messages)
    return same, text


def _formula_numeric(graph: Graph, trace: Trace | None, a: Answer, label: str) -> Graded:
    assert a.formula is not None
    rng = np.random.default_rng(0)
    points: dict[str, Array] = {}
    for v, node in zip(graph.variables, graph.inputs):
        center = 0.0 if trace is None else float(trace.values[node].reshape(-1)[0])
        points[v] = center + rng.normal(0.0, max(1.0, abs(center)), FORMULA_POINTS)
    try:
        many = evaluate_points(graph, points)
        values, _ = forward(a.formula, {v: points[v] for v in a.formula.variables})
    except SymgradError:
        return Graded(label, a.target, a.text, "?", "wrong", "cannot be compared at random points", "formula",
                      None, "numeric")
    truth = many.gradient[a.target] if a.target else many.value
    given = np.broadcast_to(values[a.formula.output].reshape(-1), truth.shape)
    valid = np.isfinite(truth) & np.isfinite(given)
    if not valid.any():
        return Graded(label, a.target, a.text, "?", "wrong", "no point where both are finite", "formula",
                      None, "numeric")
    diff = np.abs(truth - given)
    scale = np.maximum(np.abs(truth), np.abs(given))
    bad = valid & (diff > 1e-7 * scale + 1e-12)
    if not bad.any():
        return Graded(label, a.target, a.text, "(equal)", "right", "", "formula", 0.0,
                      f"numeric ({int(valid.sum())} points)")
    k = int(np.argmax(bad))
    where = ", ".join(f"{v} = {short(points[v][k], 4)}" for v in graph.variables)
    return Graded(label, a.target, a.text, short(truth[k], 6), "wrong",
                  f"at {where} it gives {short(given[k], 6)}, the {'derivative' if a.target else 'value'} is "
                  f"{short(truth[k], 6)}", "formula",
                  float(diff[k] / scale[k]) if scale[k] else None, "numeric")


# ---- homework files ------------------------------------------------------------------


@dataclass
class Problem:
    index: int  # 1-based
    line: int  # where its [[problem]] starts
    name: str
    function: str = ""
    function_line: int = 0  # the file's line of `function = ...`, for messages
    at: str = ""
    expect: list[str] = field(default_factory=list)
    error: SymgradError | None = None


_PROBLEM = re.compile(r"^\s*\[\[\s*problem\s*\]\]\s*(#.*)?$")
_KEYS = {"name", "function", "at", "expect"}


def read_homework(text: str, path: str) -> list[Problem]:
    """The problems of a homework file, each parsed on its own, so that a broken one
    does not stop the others."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if _PROBLEM.match(line)]
    if not starts:
        raise SymgradError("homework", f"{path} has no [[problem]]", hint=_EXAMPLE)
    problems = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        chunk = "".join(lines[start:end])
        problem = Problem(k + 1, start + 1, f"problem {k + 1}")
        found = re.search(r"^\s*function\s*=", chunk, flags=re.M)
        problem.function_line = start + 1 + (chunk.count("\n", 0, found.start()) if found else 0)
        try:
            data = tomllib.loads(chunk, parse_float=str)["problem"][0]
        except tomllib.TOMLDecodeError as exc:
            problem.error = _toml_error(exc, start, path, chunk)
            problem.name = _guess_name(chunk) or problem.name
            problems.append(problem)
            continue
        try:
            _fill(problem, data)
        except SymgradError as err:
            problem.error = err
        problems.append(problem)
    return problems


_EXAMPLE = ('[[problem]]\nname = "lecture"\nfunction = "f(x,y,z)=(x+y)*z"\nat = "x=-2,y=5,z=-4"\n'
            'expect = "x=-4,y=-4,z=3"')


def _toml_error(exc: tomllib.TOMLDecodeError, start: int, path: str, chunk: str) -> SymgradError:
    m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
    message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
    hint = "see the TOML format: key = \"value\""
    if m:
        return SymgradError("homework", f"line {start + int(m.group(1))}: {message}", hint=hint)
    # "at end of document" is the end of this problem's part of the file
    last = start + max(1, chunk.rstrip("\n").count("\n") + 1)
    return SymgradError("homework", f"line {last}: {message} (by the end of this problem)", hint=hint)


def _guess_name(chunk: str) -> str | None:
    m = re.search(r'^\s*name\s*=\s*(["\'])([^"\'\n]*)\1', chunk, flags=re.M)
    return m.group(2) if m else None


def _fill(problem: Problem, data: dict[str, Any]) -> None:
    unknown = sorted(set(data) - _KEYS)
    if "name" in data:
        problem.name = str(data["name"])
    if unknown:
        raise SymgradError("homework", f"unknown key {unknown[0]}", hint=f"a problem has {', '.join(sorted(_KEYS))}")
    if "function" not in data or not isinstance(data["function"], str):
        raise SymgradError("homework", "the problem has no function (a string)", hint='function = "f(x)=x^2"')
    problem.function = data["function"]
    problem.at = _as_bindings(data.get("at", ""), "at")
    expect = data.get("expect")
    if expect is None:
        raise SymgradError("homework", "the problem has no expect", hint='expect = "x=-4,y=-4"')
    problem.expect = [_as_bindings(expect, "expect")]


def _as_bindings(value: Any, key: str) -> str:
    """A binding string from TOML: "x=1,y=2" as it is, or a table {x = 1, y = "z"}."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        parts = []
        for name, v in value.items():
            parts.append(f"{name}={_toml_value(v, key, name)}")
        return ",".join(parts)
    raise SymgradError("homework", f"{key} must be a string or a table, not {type(value).__name__}",
                       hint=f'{key} = "x=1,y=2"  or  {key} = {{ x = 1, y = 2 }}')


def _toml_value(v: Any, key: str, name: str) -> str:
    if isinstance(v, bool):
        raise SymgradError("homework", f"{key}.{name} is true/false, not a number")
    if isinstance(v, (int, str)):
        return str(v)
    if isinstance(v, list):
        return "[" + ",".join(_toml_value(x, key, name) for x in v) + "]"
    raise SymgradError("homework", f"{key}.{name} is not a number, a formula or a list")
