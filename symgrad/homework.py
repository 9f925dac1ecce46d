"""Grading answers: numbers (to the digits given), arrays, and formulas.

`symgrad check` compares what a student wrote with a reference for each
gradient (`verdicts.Reference`): the backpropagated gradient, verified by the
checks, with what they found out about the point (a kink's one-sided
derivatives, which are accepted too; a gradient that is infinite or
undefined there; a value float64 cannot hold).  Every answer reaches the
program through symgrad's grammar or as plain numeric data.

The rules for a number, element by element:

- equal to the truth to 1e-9, relative (or, near zero, within 1e-10 times the
  scale of the computation) is right, whatever digits it has;
- a whole number written without a decimal point or an exponent must be
  that (``30`` is wrong for 29.7);
- any other number is a rounded one: right within half a unit of its last
  digit, when it has at least 2 significant figures (``sigfigs``), or, with
  ``decimals``, at least that many decimals;
- a wrong sign is wrong;
- ``inf``, ``-inf`` and ``nan`` (or ``undefined``) are right exactly where the
  gradient is infinite with that sign, or undefined.

``rtol``/``atol`` replace the digit rules with a tolerance.
"""

from __future__ import annotations

import decimal
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import numpy as np

from .binding import split_top
from .engine import Trace, evaluate_points, forward
from .errors import Source, SymgradError
from .files import NO_FILES, Files
from .graph import Graph, Kind, build
from .numbers import LONGEST_NUMBER, short
from .verdicts import Reference

Array = np.ndarray

# A plain decimal number, as a student writes it: its digits say how precise it is.
_DECIMAL = re.compile(r"^\s*[+\-]?(\d*)(?:\.(\d*))?(?:[eE]([+\-]?\d+))?\s*$", flags=re.ASCII)
# inf, -inf, +inf, infinity, nan, undefined: answers where the gradient is infinite or undefined.
_SPECIAL = re.compile(r"^\s*(?P<sign>[+\-]?)\s*(?P<word>inf|infinity|nan|undefined)\s*$", flags=re.I)
# An answer's key: dL/dq (or ∂L/∂q), value(q), or a bare label (q, dq, L); labels as the tables show
# them: names, generated n1, reassigned c' and c''.
_LABEL = r"[^\W\d][\w'′]*"
_KEY = re.compile(rf"^(?:(?:∂|d)\s*(?P<out>{_LABEL})\s*/\s*(?:∂|d)\s*(?P<var>{_LABEL})|value\((?P<value>{_LABEL})\)"
                  rf"|(?P<name>{_LABEL}))$")
_TOKENS = re.compile(r"\[|\]|,|[^\s\[\],]+")
EXACT = 1e-9  # relative tolerance of the exact rule
FLOOR = 1e-10  # times the scale of the computation: differences below it count as agreement
SIGFIGS = 2  # the least number of significant figures of a rounded answer, by default
FACTORS = (2, 3, 4, 10)  # "off by a factor of k" (and of 1/k)
EXACT_RULE = "exact (relative 1e-9)"
FORMULA_POINTS = 200  # random points at which a formula is compared numerically
SHOWN_MISMATCHES = 3  # elements of a wrong array named in the reason
NOTED = ("infinite", "undefined", "kink", "unstable")  # references the teacher is told about
_SLACK = Decimal("1.000000001")  # a hair of slack: exactly half a unit is still right
_EPS4 = Decimal(4 * float(np.finfo(float).eps))  # float64's rounding of the reference


@dataclass(frozen=True)
class Written:
    """One number as a student wrote it, and what its digits say.

    kind: "integer" (no decimal point and no exponent: it must be exact), "rounded" (right within
    `half_unit`, half a unit of its last digit), "special" (inf, -inf, nan) or "computed" (the
    value of a constant formula such as 2*3: exact).  `sigfigs` counts the significant figures
    (leading zeros do not count, trailing zeros after the decimal point do), `decimals` the
    decimals of the number it stands for (3.9e-2 has 3), `places` those of the mantissa.
    """

    text: str
    value: Decimal
    kind: str
    half_unit: Decimal = Decimal(0)
    sigfigs: int = 0
    decimals: int = 0
    places: int = 0
    mantissa: bool = False

    @property
    def rule(self) -> str:
        """The rule its form implies: "to 2 decimals", "to 1 decimal of the mantissa", exact."""
        if self.kind == "rounded":
            what = f"{self.places} decimal{'s' if self.places != 1 else ''}"
            return f"to {what}" + (" of the mantissa" if self.mantissa else "")
        return "exact" if self.kind == "special" else EXACT_RULE


def written(text: str, names: Sequence[str] = ()) -> Written | None:
    """The number `text` is, as written (surrounding spaces and the Unicode minus allowed), or
    None if it is not a number.  Words that are in `names` (the inputs) are not numbers."""
    clean = text.strip().replace("−", "-")
    special = _SPECIAL.match(clean)
    if special and clean.lstrip("+-").strip() not in names:
        word, sign = special.group("word").lower(), special.group("sign")
        if word in ("nan", "undefined"):
            return Written(text.strip(), Decimal("NaN"), "special")
        return Written(text.strip(), Decimal("-Infinity" if sign == "-" else "Infinity"), "special")
    m = _DECIMAL.match(clean)
    if not m or not (m.group(1) or m.group(2)):
        return None
    value = Decimal(clean)
    whole, fraction, power = m.group(1), m.group(2), m.group(3)
    if fraction is None and power is None:
        return Written(text.strip(), value, "integer")
    places = len(fraction or "")
    exponent = int(power) if power else 0
    digits = (whole + (fraction or "")).lstrip("0")
    return Written(text.strip(), value, "rounded", Decimal(5).scaleb(exponent - places - 1), len(digits),
                   places - exponent, places, power is not None)


def decimals_rule(text: str) -> tuple[float | None, str]:
    """The tolerance a written number implies: half a unit of its last digit (None: exact)."""
    w = written(text)
    if w is None or w.kind != "rounded":
        return None, "exact"
    return float(w.half_unit), w.rule


@dataclass(frozen=True)
class Rules:
    """How numbers are judged: the digit rules, with the least number of significant figures
    (`sigfigs`) or, instead, of decimals (`decimals`) a rounded answer must give; or a tolerance
    (`rtol`, `atol`) that replaces them."""

    sigfigs: int = SIGFIGS
    decimals: int | None = None
    rtol: float | None = None
    atol: float | None = None

    @property
    def tolerance(self) -> bool:
        return self.rtol is not None or self.atol is not None

    def too_few(self, w: Written) -> bool:
        """Does a rounded answer give fewer digits than these rules ask for?"""
        if w.kind != "rounded" or self.tolerance:
            return False
        return w.decimals < self.decimals if self.decimals is not None else w.sigfigs < self.sigfigs

    @property
    def minimum(self) -> str:
        if self.decimals is not None:
            return f"too few decimals: give at least {self.decimals}"
        return f"too few significant figures: give at least {self.sigfigs}"


@dataclass
class Answer:
    key: str  # as written: x, dx, df/dx, ∂f/∂x, f, value(q), dq/dx
    target: str  # what it answers, as the references name it: a node's label for d output / d node
    # (an input's name for an input), "" for the output's value, "value(q)", or "dq/dx" for a local gradient
    text: str  # the answer as written
    span: tuple[int, int] | None = None
    source: Source | None = None
    numbers: Array | None = None  # a numeric answer, as float64 (for shapes and display)
    written: Array | None = None  # the same, element by element: Written (object array)
    rule: str = EXACT_RULE
    formula: Graph | None = None  # an answer in terms of the inputs (and the labels of the graph's nodes)
    kind: str = "gradient"  # "gradient" (d output / d node), "value" (a node's value) or "local" (d node / d input)
    node: int = -1  # the graph node it is about (-1: the output's value)
    wrt: int | None = None  # for a local gradient: the direct input of `node` it is taken with respect to


@dataclass
class Graded:
    answer: str  # ∂f/∂x or f
    target: str
    given: str
    correct: str  # for a table
    verdict: str  # right, wrong, missing, wrong shape
    reason: str = ""
    rule: str = ""
    rel_error: float | None = None  # where a relative error was the judge
    method: str = "numbers"  # numbers, symbolic or numeric
    value: Array | None = None  # the correct value, for JSON (None for formulas)
    exact: str = ""  # the correct value as text, where float64 cannot hold it
    note: str = ""  # what the reference says about the point
    mismatches: list[dict[str, Any]] = field(default_factory=list)  # {index, given, correct, difference}
    max_abs: float | None = None  # the largest absolute difference
    max_rel: float | None = None  # the largest difference relative to the correct value
    mistake: str = ""  # the backprop mistake that reproduces a wrong answer, in one sentence
    kind: str = "gradient"  # what it is about, as Answer.kind: gradient, value or local
    node: str | None = None  # the label of the node (an input's name); None for the output's value
    wrt: str | None = None  # for a local gradient: the label of the direct input
    input: str | None = None  # the input whose gradient it is, if it is one

    @property
    def right(self) -> bool:
        return self.verdict == "right"


@dataclass(frozen=True)
class Note:
    """A reference the teacher should know about: an infinite or undefined gradient, a kink, a
    value beyond float64."""

    answer: str  # ∂f/∂x or f
    target: str
    status: str
    text: str


@dataclass
class Grading:
    graded: list[Graded] = field(default_factory=list)
    own_checks: str = ""  # the summary of the verification of the correct values
    own_checks_failed: bool = False
    notes: list[Note] = field(default_factory=list)
    references: dict[str, Reference] = field(default_factory=dict)  # what the answers were graded against

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


@dataclass(frozen=True)
class Target:
    """What an answer is about: `key` as the references name it (see Answer.target), `kind`
    ("gradient", "value" or "local"), the graph `node`, and for a local gradient the input `wrt`."""

    key: str
    kind: str
    node: int
    wrt: int | None = None


def shown_labels(graph: Graph) -> dict[str, int]:
    """The label of every node the tables show (inputs, named intermediates, n1, c'), to its node."""
    return {graph.labels[i]: i for i, n in enumerate(graph.nodes)
            if n.kind is not Kind.CONST and graph.visible(i) and graph.labels[i]}


def _target(key: str, graph: Graph, source: Source | None, span: tuple[int, int] | None) -> Target:
    """What a key names: x, dx, dL/dx, ∂L/∂x (the gradient of the output L with respect to any node the
    tables show: an input, q, n1, c'); L and value(q) (values); dq/dx with x a direct input of q (q's
    local gradient, parallel edges summed).  SymgradError ("answer") names what exists instead."""
    clean = key.replace(" ", "").replace("′", "'")
    known = shown_labels(graph)
    out = graph.output_name

    def gradient(label: str) -> Target:
        return Target(label if label != out else out, "gradient", known[label])

    if clean == out:
        return Target("", "value", graph.output)
    if clean in known:
        return gradient(clean)
    m = _KEY.match(clean)
    if m and m.group("value"):
        name = m.group("value")
        if name not in known:
            raise _unknown(key, name, graph, known, source, span)
        return Target("" if name == out else f"value({name})", "value", known[name])
    if m and m.group("var"):
        top, var = m.group("out"), m.group("var")
        if top == out:
            if var not in known:
                raise _unknown(key, var, graph, known, source, span)
            return gradient(var)
        if top not in known:
            raise SymgradError("answer", f"{key}: the output is called {out} ({top} is no node of the graph)",
                               source=source, span=span, hint=f"write d{out}/d{var} for a gradient of the output")
        node = known[top]
        direct = [graph.labels[j] for j in dict.fromkeys(graph.nodes[node].inputs) if graph.labels[j]]
        if var not in direct or var not in known:
            pairs = ", ".join(f"d{top}/d{d}" for d in direct) or "none"
            raise SymgradError("answer", f"{key}: {var} is not a direct input of {top}", source=source, span=span,
                               hint=f"local gradients of {top}: {pairs}; or d{out}/d{var} for the gradient of "
                               f"the output {out}")
        return Target(f"d{top}/d{var}", "local", node, known[var])
    if m and m.group("name") and clean.startswith("d") and clean[1:] in known:
        return gradient(clean[1:])
    raise _unknown(key, clean, graph, known, source, span)


def _unknown(key: str, name: str, graph: Graph, known: dict[str, int], source: Source | None,
             span: tuple[int, int] | None) -> SymgradError:
    inputs = ", ".join(graph.variables) or "none"
    others = [label for label, i in known.items() if graph.nodes[i].prim is not None]
    more = f"; its other nodes: {', '.join(others)}" if others else ""
    return SymgradError("answer", f"there is an answer for {key}, but {graph.header} has no input or node {name}",
                        source=source, span=span, hint=f"its inputs are: {inputs}{more}")


def _nested(text: str) -> Any:
    """The items of a bracketed list, "[1, [2, inf]]", as nested lists of their texts; None if
    the brackets and commas do not make one."""
    tokens = _TOKENS.findall(text)
    pos = 0

    def item() -> Any:
        nonlocal pos
        if pos >= len(tokens) or tokens[pos] in ("]", ","):
            raise ValueError
        token = tokens[pos]
        pos += 1
        if token != "[":
            return token
        items: list[Any] = []
        if pos < len(tokens) and tokens[pos] == "]":
            pos += 1
            return items
        while True:
            items.append(item())
            if pos >= len(tokens) or tokens[pos] not in ("]", ","):
                raise ValueError
            pos += 1
            if tokens[pos - 1] == "]":
                return items

    try:
        tree = item()
    except ValueError:
        return None
    return tree if pos == len(tokens) and isinstance(tree, list) else None


def _shape(tree: Any) -> tuple[int, ...] | None:
    """The shape of nested lists, or None if they are ragged."""
    if not isinstance(tree, list):
        return ()
    if not tree:
        return (0,)
    shapes = {_shape(t) for t in tree}
    if len(shapes) != 1 or None in shapes:
        return None
    inner = shapes.pop()
    assert inner is not None
    return (len(tree), *inner)


def _flatten(tree: Any) -> list[str]:
    return [tree] if not isinstance(tree, list) else [x for t in tree for x in _flatten(t)]


def _objects(items: Sequence[Any], shape: tuple[int, ...]) -> Array:
    """Python objects (Written, Decimal) in an array of the given shape."""
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out.reshape(shape)


def _floats(items: Array) -> Array:
    return np.array([float(w.value) for w in items.reshape(-1)], dtype=float).reshape(items.shape)


def _rule_of(items: Array) -> str:
    if items.ndim == 0:
        single: Written = items.reshape(-1)[0]
        return single.rule
    return "to the digits given" if any(w.kind == "rounded" for w in items.reshape(-1)) else EXACT_RULE


def read_answer(key: str, text: str, graph: Graph, *, source: Source | None = None,
                span: tuple[int, int] | None = None, value_span: tuple[int, int] | None = None,
                files: Files = NO_FILES) -> Answer:
    """One answer: a number, nested lists of numbers (inf and nan allowed), @file (.json or .npy,
    where `files` allows it: the command line's --expect, never a homework or submission file), or a
    formula in the function's inputs and the labels of its nodes (read by symgrad's grammar)."""
    target = _target(key, graph, source, span)
    stripped = text.strip()
    answer = Answer(key, target.key, stripped, span, source, kind=target.kind, node=target.node, wrt=target.wrt)
    if stripped.startswith("@"):
        from .binding import file_value

        try:
            numbers = file_value(stripped[1:], f"the answer for {key}", files)
        except SymgradError as err:
            raise err.located(source, value_span) if source is not None else err from None
        answer.written = _objects([Written(repr(float(x)), Decimal(float(x)), "computed")
                                   for x in numbers.reshape(-1)], numbers.shape)
        answer.numbers, answer.rule = numbers, EXACT_RULE
        return answer
    if stripped.startswith("["):
        tree = _nested(stripped)
        if tree is not None:
            items = [written(t, graph.variables) for t in _flatten(tree)]
            if all(w is not None for w in items):
                shape = _shape(tree)
                if shape is None:
                    raise SymgradError("answer", f"the answer for {key} is ragged", source=source, span=value_span,
                                       hint="every row of an array has the same length: [[1, 2], [3, 4]]")
                answer.written = _objects([w for w in items if w is not None], shape)
                answer.numbers = _floats(answer.written)
                answer.rule = _rule_of(answer.written)
                return answer
    single = written(stripped, graph.variables)
    if single is not None:
        answer.written = _objects([single], ())
        answer.numbers = _floats(answer.written)
        answer.rule = single.rule
        return answer
    offset = value_span[0] if value_span else 0
    padded = " " * offset + text if source is not None else text
    try:
        formula = build(padded, source.name if source else "answer", start="value")
    except SymgradError as err:
        if source is not None and err.source is not None:
            err.source = source
        raise
    known = shown_labels(graph)
    unknown = [v for v in formula.variables if v not in known]
    if unknown:
        raise SymgradError("answer", f"the answer for {key} uses {unknown[0]}, which is not an input or a node of "
                           f"{graph.header}", source=source, span=value_span,
                           hint="a formula may use the function's inputs, the labels of its nodes as the table "
                           "shows them (q, n1, the output), constants and functions")
    if not formula.variables:
        values, _ = forward(formula, {})
        numbers = np.asarray(values[formula.output][0], dtype=float)
        answer.written = _objects([Written(stripped, Decimal(float(x)), "computed") for x in numbers.reshape(-1)],
                                  numbers.shape)
        answer.numbers = numbers
        answer.rule = EXACT_RULE
        return answer
    answer.formula = formula
    answer.rule = "formula"
    return answer


def parse_expect(texts: Sequence[str], graph: Graph, files: Files = NO_FILES) -> list[Answer]:
    """Answers from --expect texts: x=-4,dy=4,df/dz=3,f=-12, formulas (x=z), or @file values where
    `files` allows them (by default none)."""
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
                                 value_span=(value_offset, value_offset + len(value)), files=files)
            if answer.target in seen:
                raise SymgradError("answer", f"{key.strip()} answers the same as {seen[answer.target]}",
                                   source=source, span=span, hint="give each answer once")
            seen[answer.target] = key.strip()
            answers.append(answer)
    return answers


# ---- grading -------------------------------------------------------------------------


def _label(target: str, graph: Graph, partial: str) -> str:
    """How an answer is named in reports: L (the output's value), value(q), ∂q/∂x (a local
    gradient), ∂L/∂q (the gradient of the output with respect to a node or an input)."""
    if not target:
        return graph.output_name
    if target.startswith("value("):
        return target
    if "/" in target:  # dq/dx: labels never hold a "/"
        top, var = target[1:].split("/d", 1)
        return f"{partial}{top}/{partial}{var}"
    return f"{partial}{graph.output_name}/{partial}{target}"


def grade(graph: Graph, trace: Trace | None, answers: list[Answer], *,
          references: Mapping[str, Reference] | None = None, rtol: float | None = None,
          atol: float | None = None, sigfigs: int | None = None, decimals: int | None = None,
          timeout: float = 5.0, partial: str = "∂") -> Grading:
    """`_grade`, with decimal arithmetic that reaches any exponent an answer may have (1e1000000)."""
    with decimal.localcontext() as ctx:
        ctx.Emax, ctx.Emin = decimal.MAX_EMAX, decimal.MIN_EMIN
        return _grade(graph, trace, answers, references=references, rtol=rtol, atol=atol, sigfigs=sigfigs,
                      decimals=decimals, timeout=timeout, partial=partial)


def _grade(graph: Graph, trace: Trace | None, answers: list[Answer], *,
           references: Mapping[str, Reference] | None = None, rtol: float | None = None,
           atol: float | None = None, sigfigs: int | None = None, decimals: int | None = None,
           timeout: float = 5.0, partial: str = "∂") -> Grading:
    """Compare each answer with the truth; gradients nobody answered are listed as missing.

    `references` (by Answer.target: an input's name, "" for the output's value, a node's label,
    value(q), dq/dx) are what numbers are graded against; without them they are built from the
    trace (`checks.references`, and `checks.node_references` for answers about other nodes).
    `sigfigs` (2 by default) or `decimals` is the least a rounded answer must give; `rtol`/`atol`
    replace the digit rules.
    """
    rules = Rules(SIGFIGS if sigfigs is None else sigfigs, decimals, rtol, atol)
    if references is None and trace is not None:
        from .checks import node_references
        from .checks import references as from_trace

        references = from_trace(graph, trace) | node_references(graph, trace, answers)[0]
    refs = dict(references or {})
    scales = {name: ref.scale if ref.scale is not None else _scale(trace, name)
              for name, ref in refs.items()} if trace is not None else {}
    result = Grading()
    answered = {a.target for a in answers}
    for a in answers:
        label = _label(a.target, graph, partial)
        result.graded.append(_grade_one(graph, trace, a, label, references, refs, scales, rules, timeout))
        result.graded[-1] = _about(result.graded[-1], graph, a)
    for v in graph.variables:
        if v in answered or v in graph.index_only:
            continue
        ref = refs.get(v)
        reason = "not answered" + (f"; {ref.note}" if ref is not None and ref.note else "")
        result.graded.append(Graded(_label(v, graph, partial), v, "", "-" if ref is None else _shown(ref),
                                    "missing", reason, value=None if ref is None else np.asarray(ref.value),
                                    exact=ref.exact if ref is not None else "",
                                    note=ref.note if ref is not None else "", node=v, input=v))
    for key, ref in refs.items():
        if ref.status in NOTED and ref.note:
            result.notes.append(Note(_label(key, graph, partial), key, ref.status, ref.note))
    return result


def _grade_one(graph: Graph, trace: Trace | None, a: Answer, label: str, references: Any,
               refs: dict[str, Reference], scales: dict[str, float], rules: Rules, timeout: float) -> Graded:
    """One answer: a formula by _grade_formula, a number against its reference."""
    if a.formula is not None:
        return _grade_formula(graph, trace, a, label, timeout)
    if references is None:
        constant = _as_formula(a)
        if constant is not None:  # a number that is right at every point (dq/dx = 1 for q = x + y)
            graded = _grade_formula(graph, trace, constant, label, timeout)
            if graded.right:
                return graded
        raise SymgradError("answer", f"the answer for {a.key} is a number: give the point with --at",
                           hint="formulas can be checked without a point; a number only where it is the "
                           "answer at every point")
    if a.target not in refs:
        return Graded(label, a.target, a.text, "none", "wrong", f"{a.target} is used only as an index and has no "
                      "gradient")
    upstream = _upstream(graph, trace, a.target) if trace is not None else None
    floor = Decimal(FLOOR * scales.get(a.target, 1.0))
    tried: Iterable[Any] = ()
    if trace is not None and a.kind != "value":
        from .mistakes import candidates

        tried = candidates(trace, a.kind, a.node, a.wrt)
    return _grade_number(a, refs[a.target], label, rules, floor, upstream, tried)


def _as_formula(a: Answer) -> Answer | None:
    """A scalar numeric answer as a constant formula, to compare with the truth at every point."""
    if a.written is None or a.written.shape != () or a.written.reshape(-1)[0].kind == "special":
        return None
    try:
        formula = build(a.text, "answer", start="value")
    except SymgradError:
        return None
    return replace(a, formula=formula, rule="formula")


def _about(g: Graded, graph: Graph, a: Answer) -> Graded:
    """A graded answer with what it is about (Graded.kind, node, wrt, input), for JSON."""
    node = graph.labels[a.node] if a.target and a.node >= 0 else None
    wrt = graph.labels[a.wrt] if a.wrt is not None else None
    return replace(g, kind=a.kind, node=node, wrt=wrt,
                   input=a.target if a.kind == "gradient" and a.target in graph.variables else None)


def _scale(trace: Trace, target: str) -> float:
    """The size the floor near zero is taken of, for one answer: 1, or more where what backprop added
    up for that input was larger (checks.noise_scale), or the output's value was; never the scale
    of the whole computation (exp(25) elsewhere must not make 0 right for a gradient of 1)."""
    from .checks import elements, noise_scale

    if not target:
        finite = np.abs(np.asarray(trace.value, dtype=float))
        finite = finite[np.isfinite(finite)]
        return max(1.0, float(finite.max()) if finite.size else 0.0)
    sizes = [noise_scale(trace, var, idx) for var, idx, _ in elements(trace, [target])]
    return max([1.0, *sizes])


def _shown(ref: Reference) -> str:
    return ref.exact or short(ref.value, 6, oneline=True)


def _upstream(graph: Graph, trace: Trace, target: str) -> tuple[str, Array] | None:
    """The upstream gradient at the one node that consumes the input, when there is exactly one
    and it is shown (for the hint "you gave the local gradient")."""
    if trace.mode != "point" or target not in graph.variables:
        return None
    node = graph.inputs[graph.variables.index(target)]
    consumers = {flow.edge.target for flow in trace.consumers(node)}
    if len(consumers) != 1:
        return None
    consumer = consumers.pop()
    grad = trace.grads[consumer]
    if grad is None or not graph.visible(consumer) or not graph.labels[consumer]:
        return None
    return graph.labels[consumer], trace.grad_of(grad)


def _decimals(values: Any, text: str = "") -> Array:
    """A reference as exact decimals, element by element; from `text` (a reference's exact
    value: one number, or nested lists of numbers) where it gives one of the right shape."""
    a = np.asarray(values, dtype=float)
    if text:
        tree = _nested(text) if text.strip().startswith("[") else text
        items = [written(t) for t in _flatten(tree)] if tree is not None else []
        if items and all(w is not None for w in items) and _shape(tree) == a.shape:
            return _objects([Decimal(w.value) for w in items if w is not None], a.shape)
    return _objects([Decimal(float(x)) for x in a.reshape(-1)], a.shape)


def _candidates(ref: Reference) -> list[Array]:
    """What an answer may equal, element by element: the value, then the accepted values."""
    value = np.asarray(ref.value, dtype=float)
    out = [_decimals(value, ref.exact)]
    for other in ref.accepted:
        try:
            out.append(_decimals(np.broadcast_to(np.asarray(other, dtype=float), value.shape)))
        except ValueError:
            continue
    return out


def _compare(w: Written, r: Decimal, rules: Rules, floor: Decimal, least: bool = True) -> tuple[bool, str]:
    """Is the written number right for the reference element `r`, and what judged it: relative
    (the exact rule), floor (near zero), digits (half a unit of the last digit), tolerance
    (rtol/atol); or why it is wrong: sign, infinite, undefined, finite (inf or nan for a finite
    gradient), too few (digits).  `least`: whether to ask for the least number of digits."""
    if r.is_nan():
        return w.value.is_nan(), "undefined"
    if r.is_infinite():
        return bool(w.value.is_infinite() and w.value == r), "infinite"
    if not w.value.is_finite():
        return False, "finite"
    difference = abs(w.value - r)
    size = abs(r)
    rounding = _EPS4 * size
    if rules.tolerance:
        allowed = Decimal(rules.atol or 0.0) + Decimal(rules.rtol or 0.0) * size
        return difference <= allowed * _SLACK + rounding, "tolerance"
    if w.value and r and (w.value < 0) != (r < 0):
        return False, "sign"
    relative = Decimal(EXACT) * size
    if difference <= relative * _SLACK + rounding:
        return True, "relative"
    # the floor near zero rescues only a zero: an answer of 0 for a numerical zero (5e-435, sin(pi)),
    # or a tiny answer where the truth is exactly 0; a nonzero answer for a nonzero truth claims a size
    if (w.value == 0 or r == 0) and difference <= (relative + floor) * _SLACK + rounding:
        return True, "floor"
    if w.kind != "rounded":
        return False, "relative"
    if difference > w.half_unit * _SLACK + rounding:
        return False, "digits"
    if least and rules.too_few(w):
        return False, "too few"
    return True, "digits"


def _all_right(given: Sequence[Written], truth: Sequence[Decimal], rules: Rules, floor: Decimal) -> bool:
    """Every element right to its own digits (the least number of digits aside): for hints."""
    return all(_compare(w, r, rules, floor, least=False)[0] for w, r in zip(given, truth))


def _relative(w: Decimal, r: Decimal) -> float:
    """|w - r| / max(|w|, |r|), the relative error the verdicts use (0 for two zeros)."""
    size = max(abs(w), abs(r))
    return float(abs(w - r) / size) if size else 0.0


def _grade_number(a: Answer, ref: Reference, label: str, rules: Rules, floor: Decimal,
                  upstream: tuple[str, Array] | None, mistakes: Iterable[Any] = ()) -> Graded:
    """One numeric answer against its reference; where it is wrong, the reason: first a named
    mistake that reproduces it (`mistakes`: mistakes.Candidate, tried in order), else the generic
    hints (wrong sign, a factor, transposed, close, too few digits)."""
    assert a.written is not None
    given = a.written
    other = next((r for r in ref.reshaped if np.shape(r) == given.shape), None)
    if np.shape(ref.value) != given.shape and other is not None:
        ref = replace(ref, value=np.asarray(other), accepted=(), reshaped=())
    value = np.asarray(ref.value, dtype=float)
    shown = _shown(ref)
    rule = f"within rtol {rules.rtol or 0.0:g}, atol {rules.atol or 0.0:g}" if rules.tolerance else a.rule
    base = Graded(label, a.target, a.text, shown, "wrong", rule=rule, value=value, exact=ref.exact, note=ref.note)
    candidates = _candidates(ref)
    if given.shape != value.shape:
        transposed = (given.ndim == 2 and given.shape[::-1] == value.shape
                      and _all_right(list(given.T.reshape(-1)), list(candidates[0].reshape(-1)), rules, floor))
        shapes = f"expected shape {value.shape}, got {given.shape}"
        named = "" if transposed else _named_mistake(given, candidates[0], mistakes, rules, floor)
        return replace(base, verdict="wrong shape", mistake=named,
                       reason=_join([f"{shapes}: transposed" if transposed else shapes, named, ref.note]))
    flat = list(given.reshape(-1))
    columns = [list(c.reshape(-1)) for c in candidates]
    judged: list[tuple[bool, str, Decimal]] = []  # per element: right, the judge (or why not), compared with
    for i, w in enumerate(flat):
        ok, judge = _compare(w, columns[0][i], rules, floor)
        against = columns[0][i]
        for column in columns[1:]:
            if ok:
                break
            other_ok, other_judge = _compare(w, column[i], rules, floor)
            if other_ok:
                ok, judge, against = True, other_judge, column[i]
        judged.append((ok, judge, against))
    right = all(ok for ok, _, _ in judged)
    graded = replace(base, verdict="right" if right else "wrong")
    graded.rel_error = _rel_error(flat, judged, rules)
    graded.mismatches, graded.max_abs, graded.max_rel = _differences(flat, judged, columns[0], value.shape)
    if right and given.ndim == 0 and not rules.tolerance and judged[0][1] in ("relative", "floor"):
        w, against = flat[0], judged[0][2]
        if w.kind == "rounded" and (rules.too_few(w) or abs(w.value - against) > w.half_unit * _SLACK):
            graded.rule = EXACT_RULE  # its own digits would not have done: the exact rule decided
    # where float64 lost the value, a mistake simulated in float64 cannot be told from the loss: none is named
    named = "" if right or ref.status == "unstable" else _named_mistake(given, candidates[0], mistakes, rules, floor)
    graded.mistake = named
    reasons = [] if right else _hints(given, candidates[0], judged, rules, floor, upstream)
    if named:  # a named mistake wins over the generic hints; an exact sign flip is said first, as the simpler
        reasons = ["wrong sign", f"or {named}"] if reasons[:1] == ["wrong sign"] else [named]
    if not right and given.size > 1:
        reasons.append(_mismatch_text(graded, given.size))
    graded.reason = _join([*reasons, ref.note])
    return graded


def _named_mistake(given: Array, truth: Array, mistakes: Iterable[Any], rules: Rules, floor: Decimal) -> str:
    """The mistake whose result the answer equals (to the rules that grade it) where the truth does
    not: its sentence, or "".  Of several, the closest to the answer; of equally close ones, the
    first (the nearest to the node asked about)."""
    flat: list[Written] = list(given.reshape(-1))
    answer = np.array([float(w.value) for w in flat])
    true = [float(r) for r in truth.reshape(-1)]
    if not np.isfinite(true).all() or not np.isfinite(answer).all():
        return ""  # an infinite or undefined gradient has hints of its own
    if given.shape == truth.shape and _all_right(flat, list(truth.reshape(-1)), rules, floor):
        return ""  # right to its own digits: too few of them to tell a mistake from the truth
    best, distance = "", np.inf
    for m in mistakes:
        value = np.asarray(m.value, dtype=float)
        if value.shape != given.shape or not np.isfinite(value).all():
            continue
        if value.size == len(true) and np.allclose(value.reshape(-1), true, rtol=1e-9, atol=0.0):
            continue  # this mistake changes nothing here: it cannot be told from the truth
        if _all_right(flat, list(_decimals(value).reshape(-1)), rules, floor):
            gap = float(np.max(np.abs(value.reshape(-1) - answer) / np.maximum(np.abs(answer), 1e-300)))
            if gap < distance:
                best, distance = str(m.sentence), gap
    return best


def _join(parts: Sequence[str]) -> str:
    return "; ".join(p for p in parts if p)


def _rel_error(flat: list[Written], judged: list[tuple[bool, str, Decimal]], rules: Rules) -> float | None:
    """The largest relative error, where relative error was the judge (the exact rule, or rtol);
    None where it was not (half a unit of the last digit, the floor near zero, inf or nan)."""
    if rules.tolerance and not rules.rtol:
        return None
    judges = {"tolerance"} if rules.tolerance else {"relative"}
    errors = []
    for w, (_, judge, against) in zip(flat, judged):
        relative_judge = judge in judges or (judge == "sign" and w.kind != "rounded")
        if not relative_judge or not (w.value.is_finite() and against.is_finite()):
            return None
        errors.append(_relative(w.value, against))
    return max(errors) if errors else 0.0


def _differences(flat: list[Written], judged: list[tuple[bool, str, Decimal]], truth: list[Decimal],
                 shape: tuple[int, ...]) -> tuple[list[dict[str, Any]], float | None, float | None]:
    """The elements that differ ({index, given, correct, difference}), and the largest absolute
    and relative (to the correct value) differences, as numpy's assert_allclose reports them."""
    mismatches = []
    gaps: list[float] = []
    relative: list[float] = []
    for i, (w, (ok, _, against)) in enumerate(zip(flat, judged)):
        r = truth[i] if not ok else against
        if w.value.is_finite() and r.is_finite():
            gap = float(abs(w.value - r))
            if r:
                relative.append(float(abs(w.value - r) / abs(r)))
        else:
            gap = 0.0 if ok else abs(float(w.value) - float(r))  # inf where one side is infinite, nan with a nan
        if not ok:
            index = [int(k) for k in np.unravel_index(i, shape)] if shape else []
            given, correct = float(w.value), float(truth[i])
            difference = float(w.value - truth[i]) if w.value.is_finite() and truth[i].is_finite() \
                else given - correct
            mismatches.append({"index": index, "given": given, "correct": correct, "difference": difference})
        if not np.isnan(gap):
            gaps.append(gap)
    return mismatches, max(gaps) if gaps else None, max(relative) if relative else None


def _mismatch_text(graded: Graded, size: int) -> str:
    """Which elements of an array differ, the first few, and the largest differences."""
    bad = graded.mismatches
    parts = []
    for m in bad[:SHOWN_MISMATCHES]:
        where = "[" + ", ".join(str(k) for k in m["index"]) + "]"
        parts.append(f"{where} {short(m['given'], 6)} for {short(m['correct'], 6)}"
                     f" (difference {short(m['difference'], 3)})")
    more = f", and {len(bad) - SHOWN_MISMATCHES} more" if len(bad) > SHOWN_MISMATCHES else ""
    text = f"{len(bad)} of {size} elements differ: {', '.join(parts)}{more}"
    gaps = [abs(m["difference"]) for m in bad if not np.isnan(m["difference"])]
    relative = [abs(m["difference"]) / abs(m["correct"]) for m in bad
                if np.isfinite(m["difference"]) and np.isfinite(m["correct"]) and m["correct"]]
    if gaps:
        text += f"; largest difference {short(max(gaps), 3)}"
        if relative:
            text += f" (relative {short(max(relative), 3)})"
    return text


def _hints(given: Array, truth: Array, judged: list[tuple[bool, str, Decimal]], rules: Rules, floor: Decimal,
           upstream: tuple[str, Array] | None) -> list[str]:
    """Why an answer is wrong, where there is an obvious mistake: in order, a wrong sign; off by
    a factor (2, 3, 4, 10, their inverses, or the upstream gradient: the local gradient was
    given); transposed; close (same sign, within 10 times the tolerance); and too few digits."""
    flat: list[Written] = list(given.reshape(-1))
    rs: list[Decimal] = list(truth.reshape(-1))
    failing = [i for i, (ok, _, _) in enumerate(judged) if not ok]
    codes = {judged[i][1] for i in failing}
    off = [i for i in failing if judged[i][1] != "too few"]  # wrong by value, not only by its digits
    hints = [_hint(given, flat, rs, off, rules, floor, upstream)] if off else []
    hints += [sentence for code, sentence in (("infinite", "the gradient is infinite here"),
                                               ("undefined", "the gradient is undefined here"),
                                               ("finite", "the gradient is finite here")) if code in codes]
    if "too few" in codes or any(rules.too_few(flat[i]) for i in off if judged[i][1] in ("digits", "sign")):
        hints.append(rules.minimum)
    return [h for h in hints if h]


def _hint(given: Array, flat: list[Written], rs: list[Decimal], failing: list[int], rules: Rules, floor: Decimal,
          upstream: tuple[str, Array] | None) -> str:
    def negated(ws: list[Written]) -> list[Written]:
        return [replace(w, value=-w.value) for w in ws]

    if any(w.value != 0 and not w.value.is_nan() for w in flat) and _all_right(negated(flat), rs, rules, floor):
        return "wrong sign"
    finite = all(r.is_finite() for r in rs) and all(w.value.is_finite() for w in flat)
    if not finite:
        return ""
    if upstream is not None:
        name, u = upstream
        try:
            ups = [float(x) for x in np.broadcast_to(u, given.shape).reshape(-1)]
        except ValueError:
            ups = []
        if ups and all(np.isfinite(x) and x != 0 for x in ups) and any(x != 1 for x in ups):
            local = [r / Decimal(x) for r, x in zip(rs, ups)]
            if any(local) and _all_right(flat, local, rules, floor):
                return (f"off by the upstream gradient at {name} ({short(u, 6, oneline=True)}): "
                        "multiply the local gradient by it")
    flipped = all(flat[i].value and rs[i] and (flat[i].value < 0) != (rs[i] < 0) for i in failing)
    base = negated(flat) if flipped else flat
    prefix = "wrong sign, and " if flipped else ""
    if any(rs) and not _all_right(base, rs, rules, floor):  # else its own digits are too loose to tell
        for k in FACTORS:
            for factor, name in ((Decimal(k), f"{k}"), (1 / Decimal(k), f"1/{k}")):
                if _all_right(base, [r * factor for r in rs], rules, floor):
                    return f"{prefix}off by a factor of {name}"
    if given.ndim == 2 and given.shape == given.shape[::-1] and _all_right(
            list(given.T.reshape(-1)), rs, rules, floor):
        return "transposed"
    if flipped:  # the size is wrong too: "wrong sign" alone would say it is right
        return "wrong sign, and the size is wrong too"
    if _close(flat, rs, failing, rules, floor):
        return "close: check the rounding"
    if not rules.tolerance and any(flat[i].kind == "integer" and abs(flat[i].value - rs[i]) <= Decimal("0.5")
                                   for i in failing):
        return "a number without a decimal point must be exact"
    return ""


def _close(flat: list[Written], rs: list[Decimal], failing: list[int], rules: Rules, floor: Decimal) -> bool:
    """Every wrong element has the right sign and is within 10 times its tolerance."""
    for i in failing:
        w, r = flat[i], rs[i]
        if not w.value or not r or (w.value < 0) != (r < 0):
            return False
        if rules.tolerance:
            tolerance = Decimal(rules.atol or 0.0) + Decimal(rules.rtol or 0.0) * abs(r)
        elif w.kind == "rounded":
            tolerance = w.half_unit
        else:
            tolerance = Decimal(EXACT) * abs(r) + floor
        if abs(w.value - r) > 10 * tolerance or abs(w.value - r) > abs(r) / 2:  # and within half of it
            return False
    return bool(failing)


def _grade_formula(graph: Graph, trace: Trace | None, a: Answer, label: str, timeout: float) -> Graded:
    """A formula equals the true partial derivative: symbolically, or else at many random points."""
    assert a.formula is not None
    same, derivative = _formula_symbolic(graph, a, timeout)
    if same:
        return Graded(label, a.target, a.text, derivative, "right", "", "formula", None, "symbolic")
    graded = _formula_numeric(graph, trace, a, label)
    if derivative:
        graded.correct = derivative
    return graded


def _part(graph: Graph, a: Answer) -> Graph | None:
    """The graph whose gradient an answer about another node is (graph.cut): the output cut at the
    node for d output / d q, the node alone for dq/dx; None for an input's gradient or a value."""
    from .graph import cut

    if a.kind == "gradient" and a.target and a.target not in graph.variables and a.node != graph.output:
        return cut(graph, [a.node], graph.output)
    if a.kind == "local" and a.node >= 0:
        return cut(graph, graph.nodes[a.node].inputs, a.node)
    return None


def _wrt(graph: Graph, a: Answer) -> str:
    """The variable the truth is a derivative with respect to ("" for a value)."""
    if a.kind == "value" or not a.target:
        return ""
    return graph.labels[a.wrt] if a.kind == "local" and a.wrt is not None else graph.labels[a.node]


def _formula_symbolic(graph: Graph, a: Answer, timeout: float) -> tuple[bool, str]:
    """Whether SymPy shows the difference is 0 (in time), and the true derivative as text.  Labels
    of nodes in the formula, and the inputs of a cut graph, stand for their expressions in the
    function's inputs."""
    import sympy  # noqa: F401 - loaded once, before the check forks

    from .checks import run_budgeted
    from .symbolic import Printer, input_symbols, symbolic_values

    formula = a.formula
    assert formula is not None
    part = _part(graph, a)
    wrt = _wrt(graph, a)

    def work(send: Any) -> None:
        import sympy as sp

        arrays, symbols = input_symbols(graph, sp, {}, {})
        nodes = symbolic_values(graph, sp, arrays)
        expr = {graph.labels[i]: nodes[i] for i in range(len(graph.nodes)) if graph.labels[i]}
        if a.kind == "value":
            truth = nodes[a.node if a.target else graph.output].reshape(-1)[0]
        elif part is None:
            truth = sp.diff(nodes[graph.output].reshape(-1)[0], symbols[wrt])
        else:
            cut_arrays, cut_symbols = input_symbols(part, sp, {}, {})
            top = symbolic_values(part, sp, cut_arrays)[part.output].reshape(-1)[0]
            stand_in = {cut_symbols[v]: expr[v].reshape(-1)[0] for v in part.variables if v not in graph.variables}
            truth = sp.diff(top, cut_symbols[wrt]).subs(stand_in)
        given = symbolic_values(formula, sp, {v: expr[v] for v in formula.variables})[formula.output]
        send(("derivative", Printer(sp)(sp.simplify(truth))))
        difference = sp.simplify(truth - given.reshape(-1)[0])
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
    part = _part(graph, a)
    try:
        many = evaluate_points(graph, points)
        at = {graph.labels[i]: many.values[i] for i in range(len(graph.nodes)) if graph.labels[i]}
        at = {v: np.broadcast_to(x, (FORMULA_POINTS, *x.shape[1:])) for v, x in at.items()}
        values, _ = forward(a.formula, {v: at[v] for v in a.formula.variables}, watch=False)
        if a.kind == "value":
            truth = many.values[a.node if a.target else graph.output].reshape(FORMULA_POINTS)
        elif part is None:
            truth = many.gradient[_wrt(graph, a)]
        else:
            truth = evaluate_points(part, {v: at[v] for v in part.variables}).gradient[_wrt(graph, a)]
    except SymgradError:
        return Graded(label, a.target, a.text, "?", "wrong", "cannot be compared at random points", "formula",
                      None, "numeric")
    given = np.broadcast_to(values[a.formula.output].reshape(-1), truth.shape)
    valid = np.isfinite(truth) & np.isfinite(given)
    if not valid.any():
        return Graded(label, a.target, a.text, "?", "wrong", "no point where both are finite", "formula",
                      None, "numeric")
    diff = np.abs(truth - given)
    scale = np.maximum(np.abs(truth), np.abs(given))
    bad = valid & (diff > 1e-7 * scale + 1e-12)
    if not bad.any():
        relative = np.where(valid & (scale > 0), diff / np.where(scale > 0, scale, 1.0), 0.0)
        return Graded(label, a.target, a.text, "(equal)", "right", "", "formula", float(relative.max()),
                      f"numeric ({int(valid.sum())} points)")
    k = int(np.argmax(bad))
    where = ", ".join(f"{v} = {short(points[v][k], 4)}" for v in graph.variables)
    return Graded(label, a.target, a.text, short(truth[k], 6), "wrong",
                  f"at {where} it gives {short(given[k], 6)}, the {'value' if a.kind == 'value' else 'derivative'} is "
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
    sigfigs: int | None = None  # the problem's own digit rule, replacing the command line's
    decimals: int | None = None
    error: SymgradError | None = None
    upstream: str | None = None  # the gradient arriving at a vector or matrix output (a layer's dout)
    keys: dict[str, int] = field(default_factory=dict)  # the file's line of each key (at, expect, ...)
    points: float = 1.0  # what the problem is worth in a class report
    rtol: float | None = None  # the problem's own tolerances, replacing the command line's
    atol: float | None = None


_PROBLEM = re.compile(r"^\s*\[\[\s*problem\s*\]\]\s*(#.*)?$")
_KEYS = {"name", "function", "at", "expect", "sigfigs", "decimals", "upstream", "points", "rtol", "atol"}


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
        for m in re.finditer(r"^\s*(\w+)\s*=", chunk, flags=re.M):
            problem.keys.setdefault(m.group(1), start + 1 + chunk.count("\n", 0, m.start()))
        try:
            data = tomllib.loads(chunk, parse_float=str)["problem"][0]
        except tomllib.TOMLDecodeError as exc:
            problem.error = _toml_error(exc, start, path, chunk)
            problem.name = _guess_name(chunk) or problem.name
            problems.append(problem)
            continue
        except (ValueError, RecursionError) as exc:  # an integer of more than 4,300 digits; thousands of brackets
            reason = str(exc).split(";")[0] if isinstance(exc, ValueError) else "it is nested too deeply"
            problem.error = SymgradError("homework", f"line {start + 1}: a value cannot be read: {reason}",
                                         hint=f"numbers may have at most {LONGEST_NUMBER:,} characters, and arrays "
                                         "a few levels of brackets")
            problem.name = _guess_name(chunk) or problem.name
            problems.append(problem)
            continue
        try:
            _fill(problem, data)
        except SymgradError as err:
            problem.error = err
        except RecursionError:
            problem.error = SymgradError("homework", f"line {start + 1}: a value is nested too deeply")
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
    if "upstream" in data:
        problem.upstream = _toml_value(data["upstream"], "upstream", "upstream")
    expect = data.get("expect")
    if expect is None:
        raise SymgradError("homework", "the problem has no expect", hint='expect = "x=-4,y=-4"')
    problem.expect = [_as_bindings(expect, "expect")]
    for key, least in (("sigfigs", 1), ("decimals", 0)):
        if key in data:
            v = data[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < least:
                raise SymgradError("homework", f"{key} must be a whole number, at least {least}, not {v!r}",
                                   hint=f"{key} = {least + 2}")
            setattr(problem, key, v)
    if problem.sigfigs is not None and problem.decimals is not None:
        raise SymgradError("homework", "the problem has both sigfigs and decimals: they are two rules, give one",
                           hint="sigfigs = 3 (significant figures) or decimals = 2 (decimals)")
    for key in ("points", "rtol", "atol"):
        if key in data:
            setattr(problem, key, _nonnegative(data[key], key))
    if (problem.rtol is not None or problem.atol is not None) and (problem.sigfigs or problem.decimals is not None):
        raise SymgradError("homework", "rtol and atol replace the digits rules: give them without sigfigs or decimals",
                           hint="either a tolerance (rtol, atol) or a least number of digits")


def _nonnegative(v: Any, key: str) -> float:
    """A number from TOML (floats arrive as their text) that is at least 0."""
    try:
        x = float(v) if not isinstance(v, bool) else -1.0
    except (TypeError, ValueError):
        x = -1.0
    if not np.isfinite(x) or x < 0:
        raise SymgradError("homework", f"{key} must be a number, at least 0, not {v!r}", hint=f"{key} = 1")
    return x


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
