"""Three-way verification: backprop against SymPy and against finite differences.

The symbolic check builds a SymPy expression node by node from the graph
(never from text), differentiates it with respect to every input element and
evaluates the derivatives at the point at 30 digits.  It runs in a separate
process with a time budget, since symbolic differentiation can swell; SymPy
is imported there and nowhere on the plain gradient path.

The numeric check takes centred finite differences with a step scaled to
each input element, all perturbed points in one batched forward pass, and
notices when a step straddles a kink (relu, abs, max, ...).
"""

from __future__ import annotations

import multiprocessing
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from . import primitives as P
from .engine import Trace, align, core, forward, prim_args
from .graph import Graph

Array = np.ndarray

# Relative error thresholds, as gradient checks are read in practice.
EXCELLENT, FINE, SUSPICIOUS = 1e-7, 1e-5, 1e-3
# Differences below this times the scale of the computation count as agreement.
FLOOR = 1e-10
# How many input elements each check looks at; larger inputs are sampled.
NUMERIC_ELEMENTS = 200
SYMBOLIC_ELEMENTS = 64
# Array elements one batched forward pass of the numeric check may hold.
NUMERIC_MEMORY = 20_000_000
# Derivatives are shown (simplified) for at most this many elements.
SHOWN_DERIVATIVES = 24
DEFAULT_TIMEOUT = 5.0
FAILING = ("wrong",)


@dataclass
class ElementCheck:
    verdict: str  # excellent, fine, suspicious, wrong, kink, or skipped
    rel_error: float | None
    kink: bool
    reference: list[float] = field(default_factory=list)  # what the check found (one entry per output element)


@dataclass
class Check:
    kind: str  # "symbolic" or "numeric"
    status: str  # "pass", "fail" or "skipped"
    reason: str = ""
    inputs: dict[str, ElementCheck] = field(default_factory=dict)
    derivatives: dict[str, str] = field(default_factory=dict)
    latex: dict[str, str] = field(default_factory=dict)
    exact: dict[str, str] = field(default_factory=dict)  # --exact: the value and derivatives, exactly
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "fail"


# ---- shared ------------------------------------------------------------------------


def elements(trace: Trace, only: list[str] | None = None) -> list[tuple[str, tuple[int, ...], str]]:
    """Every input element that has a gradient (of the inputs named in `only`, if given):
    (variable, index, label such as W[0,1])."""
    out: list[tuple[str, tuple[int, ...], str]] = []
    for name, node in zip(trace.graph.variables, trace.graph.inputs):
        if name in trace.graph.index_only or (only is not None and name not in only):
            continue
        shape = core(trace.values[node])
        if shape == ():
            out.append((name, (), name))
        else:
            out += [(name, idx, f"{name}[{','.join(map(str, idx))}]") for idx in np.ndindex(*shape)]
    return out


def sample(items: list[Any], limit: int) -> tuple[list[Any], str]:
    if len(items) <= limit:
        return items, ""
    picked = sorted(random.Random(0).sample(range(len(items)), limit))
    return [items[i] for i in picked], f"checked a random sample of {limit} of {len(items)} input elements"


def backprop_value(trace: Trace, var: str, idx: tuple[int, ...]) -> Array:
    g: Any = trace.gradient[var]
    return np.asarray(g[(Ellipsis, *idx)] if trace.mode == "jacobian" else g[idx], dtype=float).reshape(-1)


def scale_of(trace: Trace) -> float:
    """The size of the numbers in this computation: values and gradients."""
    biggest = 0.0
    for arrays in (trace.values, trace.grads):
        for a in arrays:
            if a is not None and a.size:
                finite = np.abs(a[np.isfinite(a)])
                if finite.size:
                    biggest = max(biggest, float(finite.max()))
    return biggest


def judge(reference: Array, got: Array, scale: float, kink: bool) -> ElementCheck:
    """Relative error |a - b| / max(|a|, |b|), with an absolute floor that keeps true zeros honest."""
    ref = np.asarray(reference, dtype=float).reshape(-1)
    got = np.asarray(got, dtype=float).reshape(-1)
    listed = [float(v) for v in ref]
    if not (np.isfinite(ref).all() and np.isfinite(got).all()):
        same = bool(np.all((ref == got) | (np.isnan(ref) & np.isnan(got))))
        verdict = "excellent" if same else ("kink" if kink else "wrong")
        return ElementCheck(verdict, 0.0 if same else None, kink, listed)
    diff = float(np.max(np.abs(ref - got))) if ref.size else 0.0
    size = float(max(np.max(np.abs(ref)), np.max(np.abs(got)))) if ref.size else 0.0
    rel = 0.0 if size == 0 else diff / size
    if diff <= FLOOR * scale or rel < EXCELLENT:
        verdict = "excellent"
    elif rel < FINE:
        verdict = "fine"
    elif kink:
        verdict = "kink"
    elif rel < SUSPICIOUS:
        verdict = "suspicious"
    else:
        verdict = "wrong"
    return ElementCheck(verdict, rel, kink, listed)


def status_of(results: dict[str, ElementCheck]) -> str:
    return "fail" if any(r.verdict in FAILING for r in results.values()) else "pass"


# ---- numeric ------------------------------------------------------------------------


def numeric_check(trace: Trace, eps: float | None = None, only: list[str] | None = None) -> Check:
    """Centred finite differences at x +- h for every input element (or a sample)."""
    if trace.mode == "points":
        return Check("numeric", "skipped", "many points: run with --check to check them")
    todo, note = sample(elements(trace, only), NUMERIC_ELEMENTS)
    if not todo:
        return Check("numeric", "skipped", "no input has a gradient to check")
    # Two forward passes per element, batched along the leading axis, in chunks of bounded memory.
    per_point = sum(v.size for v in trace.values)
    chunk = max(1, int(NUMERIC_MEMORY // (2 * max(1, per_point))))
    scale = scale_of(trace)
    results = {}
    for first in range(0, len(todo), chunk):
        part = todo[first:first + chunk]
        for (var, idx, label), fd, crossed in zip(part, *_differences(trace, part, eps)):
            results[label] = judge(fd, backprop_value(trace, var, idx), scale, crossed)
    h_text = f"step {eps:g} times max(1, |x|)" if eps is not None else ""
    return Check("numeric", status_of(results), inputs=results, note="; ".join(filter(None, [h_text, note])))


def _differences(trace: Trace, todo: list[tuple[str, tuple[int, ...], str]],
                 eps: float | None) -> tuple[list[Array], list[bool]]:
    """Centred differences for these elements, and whether each step crossed a kink."""
    graph = trace.graph
    rows = 2 * len(todo)
    inputs = {name: np.repeat(trace.values[i], rows, axis=0) for name, i in zip(graph.variables, graph.inputs)}
    steps = []
    for k, (var, idx, _) in enumerate(todo):
        x0 = float(trace.values[graph.inputs[graph.variables.index(var)]][(0, *idx)])
        h = (eps if eps is not None else np.cbrt(np.finfo(float).eps)) * max(1.0, abs(x0))
        plus, minus = x0 + h, x0 - h
        inputs[var][(2 * k, *idx)] = plus
        inputs[var][(2 * k + 1, *idx)] = minus
        steps.append(plus - minus)  # the step actually taken, after rounding
    with np.errstate(all="ignore"):
        values, _ = forward(graph, inputs)
    out = np.broadcast_to(values[graph.output], (rows, *core(values[graph.output])))  # a constant output too
    if trace.mode == "jacobian":
        fx = out.reshape(rows, -1)
    else:
        seed = np.ones(core(out)) if trace.upstream is None else trace.upstream
        fx = (out * seed).reshape(rows, -1).sum(axis=1, keepdims=True)
    crossed = _kinks_crossed(graph, trace.values, values, len(todo))
    fds = [(fx[2 * k] - fx[2 * k + 1]) / steps[k] for k in range(len(todo))]
    return fds, [bool(c) for c in crossed]


def _kinks_crossed(graph: Graph, center: list[Array], moved: list[Array], count: int) -> Array:
    """For each checked element: does x - h .. x + h straddle a kink anywhere in the graph?"""
    crossed = np.zeros(count, dtype=bool)
    with np.errstate(all="ignore"):
        for node in graph.nodes:
            if node.op in ("input", "const"):
                continue
            prim = P.PRIMITIVES[node.op]
            if prim.branch is None:
                continue
            here = np.asarray(prim.branch(*prim_args(prim, [center[j] for j in node.inputs])))
            there = np.asarray(prim.branch(*prim_args(prim, [moved[j] for j in node.inputs])))
            there = np.broadcast_to(there, (2 * count, *there.shape[1:]))  # a gate on constants: same everywhere
            differs = (there != here).reshape(2 * count, -1).any(axis=1)
            crossed |= differs.reshape(count, 2).any(axis=1)
    return crossed


# ---- symbolic ------------------------------------------------------------------------


def exact_constant(text: str | None, value: float | None, sp: Any) -> Any:
    """A constant of the program as an exact SymPy number: 0.1 is 1/10, pi is pi."""
    if text == "pi":
        return sp.pi
    if text == "e":
        return sp.E
    if text is not None:
        try:
            f = Fraction(text)  # a numeric literal the grammar accepted
        except ValueError:
            f = None
        if f is not None:
            return sp.Rational(f.numerator, f.denominator)
    return sp.Float(value if value is not None else 0.0, 30)


def symbolic_values(graph: Graph, sp: Any, inputs: dict[str, Array]) -> list[Array]:
    """Every node as an object array of SymPy expressions (leading axis included), node by node."""
    values: list[Array] = []
    for node in graph.nodes:
        if node.op == "input":
            assert node.name is not None
            values.append(inputs[node.name])
        elif node.op == "const":
            values.append(np.array([exact_constant(node.text, node.value, sp)], dtype=object))
        else:
            prim = P.PRIMITIVES[node.op]
            args = [values[j] for j in node.inputs]
            assert prim.sympy is not None
            if prim.elementwise:
                args = align(args)
                apply = np.frompyfunc(lambda *a, prim=prim: prim.sympy(sp, *a), len(args), 1)
                shape = np.broadcast_shapes(*(a.shape for a in args))
                values.append(np.asarray(apply(*args), dtype=object).reshape(shape))
            else:
                values.append(np.asarray(prim.sympy(sp, *args), dtype=object))
    return values


def input_symbols(graph: Graph, sp: Any, shapes: dict[str, tuple[int, ...]],
                  fixed: dict[str, Array]) -> tuple[dict[str, Array], dict[str, Any]]:
    """Symbols for every input element (x, W[0,1]); inputs used as indices keep their values."""
    arrays: dict[str, Array] = {}
    symbols: dict[str, Any] = {}
    for name in graph.variables:
        if name in fixed:
            arrays[name] = np.asarray(fixed[name], dtype=object)[None]
            continue
        shape = shapes.get(name, ())
        cell = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            label = name if not shape else f"{name}[{','.join(map(str, idx))}]"
            cell[idx] = symbols[label] = sp.Symbol(label, real=True)
        arrays[name] = cell[None]
    return arrays, symbols


class Printer:
    """SymPy's text, with e and pi written as symgrad writes them."""

    def __init__(self, sp: Any) -> None:
        base = sp.printing.str.StrPrinter

        class Printer(base):  # type: ignore[misc, valid-type]
            def _print_Exp1(self, expr: Any) -> str:
                return "e"

            def _print_Pi(self, expr: Any) -> str:
                return "pi"

        self.printer = Printer()

    def __call__(self, expr: Any) -> str:
        return str(self.printer.doprint(expr))


def _index_inputs(graph: Graph) -> set[str]:
    """Inputs read as an index or an axis somewhere: SymPy gets their values, not symbols."""
    used: set[str] = set()
    for node in graph.nodes:
        if node.op in ("input", "const"):
            continue
        prim = P.PRIMITIVES[node.op]
        for k, j in enumerate(node.inputs):
            if not prim.differentiable(k) and graph.nodes[j].op == "input":
                used.add(graph.nodes[j].name or "")
    return used


def _work(graph: Graph, trace: Trace | None, todo: list[tuple[str, tuple[int, ...], str]], latex: bool,
          exact: dict[str, Any] | None, send: Callable[[tuple[Any, ...]], None]) -> None:
    """The symbolic check itself: sends ("value", label, numbers), then derivatives as they come."""
    import sympy as sp

    index_inputs = _index_inputs(graph)
    shapes = {} if trace is None else {
        name: core(trace.values[i]) for name, i in zip(graph.variables, graph.inputs)}
    fixed = {} if trace is None else {
        name: np.vectorize(lambda v: sp.Integer(int(v)) if float(v).is_integer() else sp.Float(float(v)),
                           otypes=[object])(trace.values[i][0])
        for name, i in zip(graph.variables, graph.inputs) if name in index_inputs}
    arrays, symbols = input_symbols(graph, sp, shapes, fixed)
    values = symbolic_values(graph, sp, arrays)
    out = values[graph.output]
    if trace is None or (trace.mode == "point" and trace.upstream is None):
        targets = [out.reshape(-1)[0]] if out.size == 1 else list(out.reshape(-1))
    elif trace.mode == "jacobian":
        targets = list(out[0].reshape(-1))
    else:
        assert trace.upstream is not None
        seed = np.vectorize(lambda v: sp.Float(float(v), 30), otypes=[object])(trace.upstream)
        targets = [np.sum(out[0] * seed)]
    show = Printer(sp)
    subs = {} if trace is None else {
        symbols[label]: sp.Float(float(trace.values[graph.inputs[graph.variables.index(var)]][(0, *idx)]), 30)
        for var, idx, label in elements(trace) if label in symbols}
    derivs: dict[str, list[Any]] = {}
    for var, _, label in todo:
        if var in index_inputs:
            send(("skip", label, f"{var} is used as an index"))
            continue
        derivs[label] = [sp.diff(t, symbols[label]) for t in targets]
        if trace is not None:
            numbers = []
            for d in derivs[label]:
                v = d.evalf(30, subs=subs)
                try:
                    numbers.append(float(v) if v.is_real and v.is_number else None)
                except TypeError:  # DiracDelta(0) at a kink of sign or step: not a number
                    numbers.append(None)
            send(("value", label, numbers))
    send(("values done",))
    names = _named_nodes(graph, values)
    for _, _, label in todo[:SHOWN_DERIVATIVES]:
        if label not in derivs or len(derivs[label]) != 1:
            continue
        d = _shorten(sp, sp.simplify(derivs[label][0]), names)
        send(("derivative", label, show(d), sp.latex(d) if latex else ""))
    if exact is not None and trace is not None and all(label in exact for label in symbols):
        point = {symbols[label]: exact[label] for label in symbols}
        if len(targets) == 1:
            send(("exact", graph.output_name, show(sp.simplify(targets[0].subs(point)))))
        for _, _, label in todo[:SHOWN_DERIVATIVES]:
            if label in derivs and len(derivs[label]) == 1:
                send(("exact", label, show(sp.simplify(derivs[label][0].subs(point)))))
    send(("done",))


def _named_nodes(graph: Graph, values: list[Array]) -> list[tuple[Any, str]]:
    """The user's named scalar intermediates, latest first: (expression, name)."""
    found = []
    for i, node in enumerate(graph.nodes):
        if node.name and node.op not in ("input", "const") and i != graph.output and values[i].size == 1:
            found.append((values[i].reshape(-1)[0], graph.labels[i]))
    return found[::-1]


def _shorten(sp: Any, d: Any, names: list[tuple[Any, str]]) -> Any:
    """Write a derivative with named intermediates where that makes it shorter (df/dz = q)."""
    for expr, name in names:
        if expr.is_Atom:
            continue
        shorter = d.subs(expr, sp.Symbol(name, real=True))
        if sp.count_ops(shorter) < sp.count_ops(d):
            d = shorter
    return d


def run_budgeted(work: Callable[[Callable[[tuple[Any, ...]], None]], None],
                  timeout: float) -> tuple[list[tuple[Any, ...]], str]:
    """Run `work` in a child process, collecting what it sends until it is done or time is up."""
    ctx = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    messages: list[tuple[Any, ...]] = []
    if ctx is None:  # no fork here: run in this process, without a budget
        try:
            work(messages.append)
        except Exception as exc:
            return messages, f"SymPy could not finish: {type(exc).__name__}"
        return messages, ""
    receive, give = ctx.Pipe(duplex=False)

    def child() -> None:
        try:
            work(give.send)
        except RecursionError:
            give.send(("error", "the expression is too deeply nested for SymPy"))
        except Exception as exc:
            give.send(("error", f"SymPy could not finish: {type(exc).__name__}: {exc}"[:200]))
        finally:
            give.close()

    import time

    proc = ctx.Process(target=child, daemon=True)
    proc.start()
    give.close()
    deadline = time.monotonic() + timeout
    reason = ""
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                reason = f"over the time budget of {timeout:g} s (--check-timeout)"
                break
            if not receive.poll(left):
                continue
            try:
                msg = receive.recv()
            except EOFError:
                break
            if msg[0] == "error":
                reason = msg[1]
                break
            messages.append(msg)
            if msg[0] == "done":
                break
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(1)
        receive.close()
    return messages, reason


def symbolic_check(graph: Graph, trace: Trace | None, *, timeout: float = DEFAULT_TIMEOUT,
                   latex: bool = False, exact: dict[str, Any] | None = None,
                   only: list[str] | None = None) -> Check:
    """Differentiate with SymPy and, given a trace, compare with backprop at its point."""
    if trace is not None and trace.mode == "points":
        return Check("symbolic", "skipped", "many points: run with --check to check them")
    todo: list[tuple[str, tuple[int, ...], str]]
    if trace is None:
        todo = [(v, (), v) for v in graph.variables if only is None or v in only]
        note = ""
    else:
        todo, note = sample(elements(trace, only), SYMBOLIC_ELEMENTS)
    if not todo:
        return Check("symbolic", "skipped", "no input has a gradient to check")
    import sympy  # noqa: F401 - imported here once, so that each forked check starts with it loaded

    by_element = None if exact is None else _per_element(exact)
    messages, reason = run_budgeted(lambda send: _work(graph, trace, todo, latex, by_element, send), timeout)
    check = Check("symbolic", "pass", note=note)
    scale = 0.0 if trace is None else scale_of(trace)
    kinked = set() if trace is None else inputs_through_kinks(trace)
    values_done = False
    for msg in messages:
        if msg[0] == "value" and trace is not None:
            label, numbers = msg[1], msg[2]
            var, idx = next((v, i) for v, i, lab in todo if lab == label)
            at_kink = var in kinked
            if any(n is None for n in numbers):
                verdict = "kink" if at_kink else "skipped"
                check.inputs[label] = ElementCheck(verdict, None, at_kink)
            else:
                check.inputs[label] = judge(np.array(numbers), backprop_value(trace, var, idx), scale, at_kink)
        elif msg[0] == "skip":
            check.inputs[msg[1]] = ElementCheck("skipped", None, False)
        elif msg[0] == "values done":
            values_done = True
        elif msg[0] == "derivative":
            check.derivatives[msg[1]] = msg[2]
            if msg[3]:
                check.latex[msg[1]] = msg[3]
        elif msg[0] == "exact":
            check.exact[msg[1]] = msg[2]
    if not values_done or (trace is None and reason and not check.derivatives):
        check.status, check.reason = "skipped", reason or "SymPy stopped early"
        check.inputs = {}
        return check
    if reason:
        check.note = "; ".join(filter(None, [check.note, f"derivatives not all simplified: {reason}"]))
    check.status = status_of(check.inputs) if trace is not None else "pass"
    return check


def inputs_through_kinks(trace: Trace) -> set[str]:
    """The inputs whose gradient passes through a gate sitting on its kink at this point."""
    graph = trace.graph
    found: set[str] = set()
    for name, start in zip(graph.variables, graph.inputs):
        if not trace.kinks:
            break
        reach = [False] * len(graph.nodes)
        reach[start] = True
        for i in range(start + 1, len(graph.nodes)):
            node = graph.nodes[i]
            if node.op in ("input", "const"):
                continue
            prim = P.PRIMITIVES[node.op]
            reach[i] = any(reach[j] for k, j in enumerate(node.inputs) if prim.differentiable(k))
            if reach[i] and i in trace.kinks:
                found.add(name)
                break
    return found


def _per_element(exact: dict[str, Any]) -> dict[str, Any]:
    """Exact values by element label: x, W[0,1]."""
    out = {}
    for name, value in exact.items():
        if isinstance(value, np.ndarray) and value.shape:
            for idx in np.ndindex(*value.shape):
                out[f"{name}[{','.join(map(str, idx))}]"] = value[idx]
        else:
            out[name] = value
    return out


def summary(checks: list[Check]) -> tuple[bool, str]:
    """One line: do backprop and the checks agree, and if not, where."""
    ran = [c for c in checks if c.status != "skipped"]
    skipped = [f"{c.kind} check skipped: {c.reason}" for c in checks if c.status == "skipped"]
    if not ran:
        return True, f"checks: {'; '.join(skipped)}"
    bad = [(c.kind, label, r) for c in ran for label, r in c.inputs.items() if r.verdict in FAILING]
    if bad:
        parts = ", ".join(f"{label} ({kind}, relative error {_err(r.rel_error)})" for kind, label, r in bad[:6])
        more = f" and {len(bad) - 6} more" if len(bad) > 6 else ""
        return False, f"checks: FAILED: backprop disagrees for {parts}{more}"
    labels = sorted({label for c in ran for label in c.inputs}, key=_order(checks))
    verdicts = {label: [c.inputs[label].verdict for c in ran if label in c.inputs] for label in labels}
    compared = {lab: [v for v in verdicts[lab] if v != "skipped"] for lab in labels}
    good = [lab for lab in labels if compared[lab] and all(v in ("excellent", "fine") for v in compared[lab])]
    kinked = [lab for lab in labels if "kink" in verdicts[lab]]
    odd = [lab for lab in labels if "suspicious" in verdicts[lab]]
    found: list[str] = []
    if good:
        who = "backprop and " + ran[0].kind if len(ran) == 1 else "backprop, " + " and ".join(c.kind for c in ran)
        worst = max((c.inputs[lab].rel_error or 0.0 for c in ran for lab in good if lab in c.inputs), default=0.0)
        found.append(f"{who} agree for {_names(good)} (largest relative error {_err(worst)})")
    if kinked:
        found.append(f"{_names(kinked)} at a kink, where the conventions differ: not a failure")
    if odd:
        found.append(f"suspicious (relative error above 1e-5) for {_names(odd)}")
    return True, "checks: " + "; ".join(found + skipped)


def _names(labels: list[str]) -> str:
    return ", ".join(labels[:8]) + (f" and {len(labels) - 8} more" if len(labels) > 8 else "")


def _err(v: float | None) -> str:
    if v is None:
        return "n/a"
    return "0" if v == 0 else f"{v:.1e}"


def _order(checks: list[Check]) -> Callable[[str], int]:
    seen: dict[str, int] = {}
    for c in checks:
        for label in c.inputs:
            seen.setdefault(label, len(seen))
    return lambda label: seen.get(label, 0)


def references(graph: Graph, trace: Trace, checks: list[Check] | None = None) -> dict[str, Any]:
    """What answers are graded against, by variable name ("" for the output's value): a
    `verdicts.Reference` for each, built from the trace and what the checks found out."""
    from .verdicts import Reference

    refs: dict[str, Any] = {"": Reference(np.asarray(trace.value, dtype=float))}
    for name, g in trace.gradient.items():
        refs[name] = Reference(np.asarray(g, dtype=float))
    return refs
