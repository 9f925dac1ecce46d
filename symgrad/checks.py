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

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from . import symbolic as S
from .engine import Trace, core, forward, prim_args
from .graph import Graph, describe, reach
from .numbers import short
from .symbolic import Printer, input_symbols, symbolic_values  # noqa: F401 - for homework.py
from .verdicts import EXCELLENT, FAILING, FINE, FLOOR, SUSPICIOUS, Known, Verdict, decide

Array = np.ndarray

# How many input elements each check looks at; larger inputs are sampled.
NUMERIC_ELEMENTS = 200
# Array elements one batched forward pass of the numeric check may hold.
NUMERIC_MEMORY = 20_000_000
# Derivatives are shown (simplified) for at most this many elements.
SHOWN_DERIVATIVES = 24
# Symbolic work this small (symbolic.cost times the elements) runs in this process, without a fork.
IN_PROCESS_COST = 5_000
DEFAULT_TIMEOUT = 20.0  # seconds: only a safety net, the work is bounded by size (symbolic.cost)
__all__ = ["EXCELLENT", "FAILING", "FINE", "FLOOR", "SUSPICIOUS"]  # the ladder's thresholds, re-exported


@dataclass
class ElementCheck:
    """One check's verdict on one input element (x, or W[0,1]).

    verdict: a name from verdicts.VERDICTS; rel_error where the relative error decided it;
    abs_error where two numbers were compared; reason: a sentence for the special verdicts;
    reference: what the check found, one entry per output element (empty where it found nothing).
    """

    verdict: str
    rel_error: float | None
    kink: bool
    reference: list[float] = field(default_factory=list)
    abs_error: float | None = None
    reason: str = ""
    text: str = ""  # the reference in words where float64 cannot hold it (5.07596e-435)
    sides: tuple[list[float], list[float]] | None = None  # at a kink: the one-sided derivatives

    @classmethod
    def of(cls, verdict: Verdict, reference: Any, kink: bool) -> ElementCheck:
        listed = [] if reference is None else [float(v) for v in np.asarray(reference, dtype=float).reshape(-1)]
        sides = None if verdict.sides is None else (
            [float(v) for v in np.asarray(verdict.sides[0]).reshape(-1)],
            [float(v) for v in np.asarray(verdict.sides[1]).reshape(-1)])
        return cls(verdict.name, verdict.rel_error, kink, listed, verdict.abs_error, verdict.reason, sides=sides)


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
    lost: str = ""  # the symbolic check's 40-digit replay: where float64 lost a value, in words

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


def noise_scale(trace: Trace, var: str, idx: tuple[int, ...]) -> float:
    """The size of what backprop added up for one input element: the sum of the absolute
    contributions of its consumers (or its gradient), so that a difference below 1e-10 times it is
    float64's rounding (x*y - y*x), not a gradient.  The scale of one element, not of the whole
    computation: exp(25) elsewhere does not make a gradient of 1 look like zero."""
    node = trace.graph.inputs[trace.graph.variables.index(var)]
    g = backprop_value(trace, var, idx)
    total = np.zeros_like(g)
    for flow in trace.consumers(node):
        picked: Any = flow.downstream
        part = picked[(Ellipsis, *idx)] if trace.mode == "jacobian" else picked[(0, *idx)]
        total = total + np.abs(np.asarray(part, dtype=float).reshape(-1))
    both = np.maximum(total, np.abs(g))
    finite = both[np.isfinite(both)]
    return float(finite.max()) if finite.size else 0.0


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


def judge(reference: Array, got: Array, scale: float, kink: bool | str = False, known: Known | None = None
          ) -> ElementCheck:
    """One element through the verdict ladder (verdicts.decide); `kink` says the point is on one."""
    if known is None:
        known = Known(kink=(kink if isinstance(kink, str) else "at a kink") if kink else "")
    return ElementCheck.of(decide(reference, got, scale, known), reference, bool(kink))


def status_of(results: dict[str, ElementCheck]) -> str:
    return "fail" if any(r.verdict in FAILING for r in results.values()) else "pass"


# ---- numeric ------------------------------------------------------------------------


def numeric_check(trace: Trace, eps: float | None = None, only: list[str] | None = None) -> Check:
    """Finite differences for every input element (or a sample), as `differences` describes:
    centred where the function is smooth, one-sided at kinks and domain edges."""
    from .differences import DEFAULT_STEP, Probe, estimate_all

    if trace.mode == "points":
        return Check("numeric", "skipped", "many points: run with --check to check them")
    todo, note = sample(elements(trace, only), NUMERIC_ELEMENTS)
    if not todo:
        return Check("numeric", "skipped", "no input has a gradient to check")
    graph = trace.graph
    per_point = sum(v.size for v in trace.values)
    chunk = max(1, int(NUMERIC_MEMORY // (2 * max(1, per_point))))
    base = DEFAULT_STEP if eps is None else eps
    centre = [float(trace.values[graph.inputs[graph.variables.index(var)]][(0, *idx)]) for var, idx, _ in todo]

    def probe(h: Array, rows: Array) -> Probe:
        parts = [_moved(trace, [todo[r] for r in rows[i:i + chunk]], [centre[r] for r in rows[i:i + chunk]],
                        h[i:i + chunk]) for i in range(0, len(rows), chunk)]
        return Probe(*(np.concatenate([p[n] for p in parts]) for n in range(6)))

    f0 = _reduced(trace, trace.values[graph.output])[:1]
    rows = len(todo)
    backprop = np.stack([backprop_value(trace, var, idx) for var, idx, _ in todo])
    kinked = inputs_through_kinks(trace)
    edges = edges_reached(trace)
    trouble = float_trouble(trace)
    singular = singular_reached(trace)
    known = [Known(unstable=trouble, edge=edges.get(var, ""), undefined=singular.get(var, "")) for var, _, _ in todo]
    at_kink = np.array([var in kinked for var, _, _ in todo])
    scales = np.array([noise_scale(trace, var, idx) for var, idx, _ in todo])
    judged = estimate_all(np.repeat(f0, rows, axis=0), backprop, at_kink, np.array(centre), base, probe, scales,
                          known)
    results = {}
    for (var, _, label), (verdict, value) in zip(todo, judged):
        results[label] = ElementCheck.of(verdict, value, var in kinked or verdict.name == "kink")
    h_text = f"step {eps:g} times max(1, |x|)" if eps is not None else ""
    return Check("numeric", status_of(results), inputs=results, note="; ".join(filter(None, [h_text, note])))


def _reduced(trace: Trace, out: Array) -> Array:
    """Outputs as rows of what backprop differentiates: the output itself (a Jacobian row per
    element), or its product with the upstream gradient (a scalar)."""
    rows = out.shape[0]
    if trace.mode == "jacobian":
        return out.reshape(rows, -1)
    seed = np.ones(core(out)) if trace.upstream is None else trace.upstream
    return np.asarray((out * seed).reshape(rows, -1).sum(axis=1, keepdims=True))


def _moved(trace: Trace, todo: list[tuple[str, tuple[int, ...], str]], centre: list[float],
           steps: Array) -> tuple[Array, ...]:
    """Outputs at x + h and x - h for these elements, whether a kink was crossed, and the steps."""
    graph = trace.graph
    n = len(todo)
    inputs = {name: np.repeat(trace.values[i], 2 * n, axis=0) for name, i in zip(graph.variables, graph.inputs)}
    up, down = np.empty(n), np.empty(n)
    for k, ((var, idx, _), x0) in enumerate(zip(todo, centre)):
        h = float(steps[k])
        inputs[var][(2 * k, *idx)] = x0 + h
        inputs[var][(2 * k + 1, *idx)] = x0 - h
        up[k], down[k] = (x0 + h) - x0, x0 - (x0 - h)  # the steps actually taken, after rounding
    with np.errstate(all="ignore"):
        values, _ = forward(graph, inputs, watch=False)
    out = np.broadcast_to(values[graph.output], (2 * n, *core(values[graph.output])))  # a constant output too
    fx = _reduced(trace, out)
    from .differences import kinks_crossed

    crossed = kinks_crossed(graph, trace.values, values, 2 * n)
    return fx[0::2], fx[1::2], crossed[0::2], crossed[1::2], up, down


# ---- symbolic ------------------------------------------------------------------------


def _work(graph: Graph, trace: Trace | None, todo: list[tuple[str, tuple[int, ...], str]], latex: bool,
          exact: dict[str, Any] | None, send: Callable[[tuple[Any, ...]], None]) -> None:
    """The symbolic check itself, in the child process: sends ("value", label, [(kind, float,
    text)]) per element, then ("replay", ...) where backprop disagrees, then derivatives to show."""
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))  # SymPy's rules recurse with depth
    try:
        _work_within(graph, trace, todo, latex, exact, send)
    finally:
        sys.setrecursionlimit(limit)


def _work_within(graph: Graph, trace: Trace | None, todo: list[tuple[str, tuple[int, ...], str]], latex: bool,
                 exact: dict[str, Any] | None, send: Callable[[tuple[Any, ...]], None]) -> None:
    import sympy as sp


    index_in = S.index_inputs(graph)
    shapes = {} if trace is None else {
        name: core(trace.values[i]) for name, i in zip(graph.variables, graph.inputs)}
    fixed = {} if trace is None else {
        name: np.vectorize(lambda v: sp.Integer(int(v)) if float(v).is_integer() else sp.Float(float(v)),
                           otypes=[object])(trace.values[i][0])
        for name, i in zip(graph.variables, graph.inputs) if name in index_in}
    arrays, symbols = S.input_symbols(graph, sp, shapes, fixed)
    values = S.symbolic_values(graph, sp, arrays)
    out = values[graph.output]
    if trace is None or (trace.mode == "point" and trace.upstream is None):
        targets = [out.reshape(-1)[0]] if out.size == 1 else list(out.reshape(-1))
    elif trace.mode == "jacobian":
        targets = list(out[0].reshape(-1))
    else:
        assert trace.upstream is not None
        seed = np.vectorize(lambda v: sp.Float(float(v), S.WORK_DIGITS), otypes=[object])(trace.upstream)
        targets = [sp.Add(*(out[0] * seed).reshape(-1))]
    show = S.Printer(sp, graph.variables)
    subs = {} if trace is None else {
        symbols[label]: sp.Float(float(trace.values[graph.inputs[graph.variables.index(var)]][(0, *idx)]),
                                 S.WORK_DIGITS)
        for var, idx, label in elements(trace) if label in symbols}
    derivs: dict[str, list[Any]] = {}
    disagree: list[str] = []
    for var, idx, label in todo:
        if var in index_in:
            send(("skip", label, f"{var} is used as an index"))
            continue
        derivs[label] = [sp.diff(t, symbols[label]) for t in targets]
        if trace is None:
            continue
        found = []
        for d in derivs[label]:
            try:
                found.append(S.classify(sp, S.dag_value(sp, d, subs)))
            except S.TooLarge:
                found.append(("big", float("inf"), "astronomically large (a power of 2 with thousands of digits)"))
        send(("value", label, found))
        got = backprop_value(trace, var, idx)
        if any(kind != "finite" for kind, _, _ in found) or not np.allclose(
                got, [x for _, x, _ in found], rtol=FINE, atol=0, equal_nan=False):
            disagree.append(label)
    if disagree and trace is not None:
        from .replay import kind_of, replay

        grads, trouble = replay(graph, trace)
        send(("trouble", trouble))
        for label in disagree:
            var, idx = next((v, i) for v, i, lab in todo if lab == label)
            if var in grads:
                picked: Any = np.asarray(grads[var])
                entries = picked[(Ellipsis, *idx)].reshape(-1)
                send(("replay", label, [kind_of(v) for v in entries]))
    send(("values done",))
    names = S.named_nodes(graph, values)
    for _, _, label in todo[:SHOWN_DERIVATIVES]:
        if label not in derivs or len(derivs[label]) != 1:
            continue
        d, text = S.derivative_text(sp, derivs[label][0], names, show)
        send(("derivative", label, text, sp.latex(d) if latex and text else ""))
    if exact is not None and trace is not None and all(label in exact for label in symbols):
        point = {symbols[label]: exact[label] for label in symbols}
        if len(targets) == 1:
            send(("exact", graph.output_name, exact_text(sp, targets[0].subs(point), show)))
        for _, _, label in todo[:SHOWN_DERIVATIVES]:
            if label in derivs and len(derivs[label]) == 1:
                send(("exact", label, exact_text(sp, derivs[label][0].subs(point), show)))
    send(("done",))


def exact_text(sp: Any, value: Any, show: Callable[[Any], str]) -> str:
    """An exact value for --exact, bounded by size: simplified only when small (S.SIMPLIFY_OPS
    operations), not shown past S.SHOWN_OPS, and marked "≈" where SymPy had to keep a float
    (a power too large to compute exactly, symbolic._sym_pow)."""
    ops = sp.count_ops(value)
    if ops > S.SHOWN_OPS:
        return f"(an exact expression of {ops:,} operations; not shown)"
    if ops <= S.SIMPLIFY_OPS:
        value = sp.simplify(value)
    text = show(value)
    return f"≈ {text}" if value.has(sp.Float) else text


def run_budgeted(work: Callable[[Callable[[tuple[Any, ...]], None]], None],
                 timeout: float, *, in_process: bool = False) -> tuple[list[tuple[Any, ...]], str]:
    """Run `work` in a child process, collecting what it sends until it is done or time is up.
    `in_process` runs it here instead, without a budget: for work known to be small, where
    starting a process would cost more than the work."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    messages: list[tuple[Any, ...]] = []
    if ctx is None or in_process:  # no fork here, or no need: run in this process, without a budget
        try:
            work(messages.append)
        except RecursionError:
            return messages, "the expression is too deeply nested for SymPy"
        except Exception:
            return messages, "SymPy could not work this expression out"
        return messages, ""
    receive, give = ctx.Pipe(duplex=False)

    def child() -> None:
        try:
            work(give.send)
        except RecursionError:
            give.send(("error", "the expression is too deeply nested for SymPy"))
        except Exception as exc:
            detail = str(exc).strip()
            text = "SymPy could not work this expression out" + (f" ({detail})" if detail else "")
            give.send(("error", text[:200]))
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


def _derived(check: Check, graph: Graph, trace: Trace | None, variables: list[str], latex: bool) -> set[str]:
    """The derivatives shown: each variable's from symbolic reverse mode, in the graph's own names
    (derive.formulas: f*x0*(1 - f), outer(2*q, x)) in place of SymPy's per element, which the
    check compares with; SymPy's stay where reverse mode has no rule or the formula is too long."""
    from .derive import formulas

    shapes = [core(v) for v in trace.values] if trace is not None and trace.mode != "points" else None
    if trace is not None and (trace.mode == "jacobian" or trace.upstream is not None or trace.out_shape != ()):
        return set()  # a Jacobian, or a vector-Jacobian product: SymPy's per element
    derived = formulas(graph, shapes, [v for v in variables if v not in graph.index_only], latex)
    if not derived:
        return set()
    kept = {label: text for label, text in check.derivatives.items() if _variable(label) not in derived}
    kept_latex = {label: text for label, text in check.latex.items() if _variable(label) not in derived}
    check.derivatives = {v: text for v, (text, _) in derived.items()} | kept
    check.latex = {v: tex for v, (_, tex) in derived.items() if tex} | kept_latex
    return set(derived)


def _variable(label: str) -> str:
    """The variable of an element's label: W for W[0,1]."""
    return label.split("[", 1)[0]


def symbolic_check(graph: Graph, trace: Trace | None, *, timeout: float = DEFAULT_TIMEOUT,
                   latex: bool = False, exact: dict[str, Any] | None = None,
                   only: list[str] | None = None, numeric: Check | None = None,
                   limit: int = S.SYMBOLIC_LIMIT) -> Check:
    """Differentiate with SymPy and, given a trace, compare with backprop at its point.

    The work is bounded by size (`limit`: symbolic.cost, the expression written out times the
    square of its depth; large inputs have fewer elements checked), so the
    same input gives the same report on every machine; `timeout` (seconds) is only a safety net.
    `numeric`, the numeric check of the same point, says what it found about each element (a
    kink, an infinite or undefined slope), which the verdicts take into account.
    """
    if trace is not None and trace.mode == "points":
        return Check("symbolic", "skipped", "many points: run with --check to check them")
    todo: list[tuple[str, tuple[int, ...], str]]
    todo = [(v, (), v) for v in graph.variables if only is None or v in only]
    note = ""
    per_element = S.cost(graph, trace)
    if per_element > limit:
        return Check("symbolic", "skipped", f"the expression is too large for SymPy: its size times its depth "
                     f"squared is {per_element:,}, above the limit of {limit:,} (--symbolic-limit raises it)")
    if trace is not None:
        todo, note = sample(elements(trace, only), S.elements_within(per_element, limit))
    if not todo:
        return Check("symbolic", "skipped", "no input has a gradient to check")
    import sympy  # noqa: F401 - imported here once, so that each forked check starts with it loaded

    by_element = None if exact is None else _per_element(exact)
    small = exact is None and per_element * len(todo) <= IN_PROCESS_COST
    messages, reason = run_budgeted(lambda send: _work(graph, trace, todo, latex, by_element, send), timeout,
                                    in_process=small)
    check = Check("symbolic", "pass", note=note)
    found: dict[str, list[tuple[str, float, str]]] = {}
    replayed: dict[str, list[tuple[str, float, str]]] = {}
    trouble = ""
    values_done = False
    for msg in messages:
        if msg[0] == "value":
            found[msg[1]] = msg[2]
        elif msg[0] == "replay":
            replayed[msg[1]] = msg[2]
        elif msg[0] == "trouble":
            trouble = msg[1]
        elif msg[0] == "skip":
            check.inputs[msg[1]] = ElementCheck("skipped", None, False, reason=msg[2])
        elif msg[0] == "values done":
            values_done = True
        elif msg[0] == "derivative":
            if msg[2]:
                check.derivatives[msg[1]] = msg[2]
            if msg[3]:
                check.latex[msg[1]] = msg[3]
        elif msg[0] == "exact":
            check.exact[msg[1]] = msg[2]
    derived = _derived(check, graph, trace, only or graph.variables, latex)
    if not values_done or (trace is None and reason and not check.derivatives):
        check.status, check.reason = "skipped", reason or "SymPy stopped early"
        check.inputs = {}
        return check
    check.lost = trouble
    if trace is not None:
        kinked = inputs_through_kinks(trace)
        for var, idx, label in todo:
            if label in found:
                got = backprop_value(trace, var, idx)
                other = numeric.inputs.get(label) if numeric is not None else None
                check.inputs[label] = _judge_symbolic(found[label], replayed.get(label), got,
                                                      noise_scale(trace, var, idx), other,
                                                      var in kinked, trouble or float_trouble(trace), bool(trouble))
    shown = sum(1 for _, _, label in todo[:SHOWN_DERIVATIVES]
                if (label in found or trace is None) and _variable(label) not in derived)
    shown += len(derived)
    if shown > len(check.derivatives) and not reason:
        missing = shown - len(check.derivatives)
        check.note = "; ".join(filter(None, [check.note, f"{missing} derivative{'s' if missing > 1 else ''} "
                                             f"not shown: more than {S.SHOWN_OPS} operations"]))
    if reason:
        check.note = "; ".join(filter(None, [check.note, f"derivatives not all shown: {reason}"]))
    check.status = status_of(check.inputs) if trace is not None else "pass"
    return check


def _judge_symbolic(found: list[tuple[str, float, str]], replayed: list[tuple[str, float, str]] | None,
                    got: Array, scale: float, numeric: ElementCheck | None, through_kink: bool,
                    trouble: str, replay_lost: bool = False) -> ElementCheck:
    """One element: SymPy's 30-digit value (kind, float, text per output element) against
    backprop, knowing what the numeric check found and what the 30-digit replay of backprop gave."""
    kinds = [k for k, _, _ in found]
    ref = np.array([x for _, x, _ in found])
    said = numeric.verdict if numeric is not None else "skipped"
    kink = ""
    if said == "kink":
        kink = numeric.reason if numeric is not None else ""
    elif said in ("skipped",) and through_kink:
        kink = "at a kink, where the conventions differ"
    known = Known(kink=kink, infinite=numeric.reason if numeric is not None and said == "infinite" else "",
                  undefined=numeric.reason if numeric is not None and said == "undefined" else "")
    true_text = ", ".join(t for _, _, t in found)
    if said == "undefined" and numeric is not None and not replay_lost:
        # the function itself is undefined at the point (a value nan or infinite in the mathematics):
        # whatever SymPy's algebra makes of it (log(-2) is complex), the gradient is undefined
        return ElementCheck("undefined", None, through_kink, reason=numeric.reason)
    if "none" in kinds:
        if kink:
            return ElementCheck("kink", None, True, reason=kink)
        return ElementCheck("skipped", None, through_kink,
                            reason=f"SymPy's derivative is not a number at this point ({true_text})")
    if "zoo" in kinds or "nan" in kinds:
        if "zoo" in kinds and not np.isfinite(got).all() and not np.isnan(got).any():
            return ElementCheck("infinite", None, False, [float(v) for v in got], reason=known.infinite or
                                "the gradient is infinite here (SymPy: complex infinity)", text=true_text)
        if "nan" in kinds and np.isnan(got).all():
            return ElementCheck("undefined", None, False, reason=known.undefined or
                                f"the derivative is undefined here (SymPy: {true_text})")
        return ElementCheck("skipped", None, through_kink, reason=f"SymPy's derivative is {true_text} here, "
                            "which says nothing at this point: the numeric check decides")
    if "big" in kinds:
        known = Known(unstable=trouble or f"the true value, {true_text}, is beyond float64")
    elif replayed is not None:
        kinds_r = [k for k, _, _ in replayed]
        same_as_sympy = all(k == "finite" for k in kinds_r) and np.allclose(
            [x for _, x, _ in replayed], ref, rtol=1e-12, atol=0)
        nan_like_float64 = any(k in ("nan", "zoo", "inf", "-inf", "none") for k in kinds_r) and not np.isfinite(
            got).all()
        if same_as_sympy or nan_like_float64:
            known = Known(kink=known.kink, unstable=trouble or "float64 lost precision")
    verdict = decide(ref, got, scale, known)
    checked = ElementCheck.of(verdict, ref, through_kink or said == "kink")
    if "big" in kinds or any(x == 0 and k == "finite" and t not in ("0", "0.0") for k, x, t in found):
        checked.text = true_text
    return checked


def run_checks(graph: Graph, trace: Trace, *, timeout: float = DEFAULT_TIMEOUT, eps: float | None = None,
               latex: bool = False, exact: dict[str, Any] | None = None, only: list[str] | None = None,
               limit: int = S.SYMBOLIC_LIMIT) -> list[Check]:
    """Both checks of one point, the numeric one first: what it finds out about each element
    (a kink, an infinite or undefined slope) goes into the symbolic check's verdicts.
    Returns [symbolic, numeric]."""
    numeric = numeric_check(trace, eps, only)
    symbolic = symbolic_check(graph, trace, timeout=timeout, latex=latex, exact=exact, only=only,
                              numeric=numeric, limit=limit)
    for label, r in numeric.inputs.items():
        s = symbolic.inputs.get(label)
        if symbolic.lost and r.verdict == "undefined" and "at this point" in r.reason:
            # the function is not finite in float64 here because float64 lost a value on the way (an
            # underflow to 0 divided by): the differences cannot judge; the symbolic check can
            r.verdict, r.reason = "skipped", f"the function is not finite in float64 here: {symbolic.lost}"
            continue
        if s is not None and s.verdict == "unstable" and r.verdict in ("wrong", "suspicious"):
            # The 30-digit replay showed backprop's rules right; the finite differences are float64
            # too, and disagree for the same reason.
            r.verdict, r.rel_error = "unstable", None
            r.reason = f"the finite differences are computed in float64 too: {s.reason}"
    numeric.status = status_of(numeric.inputs) if numeric.status != "skipped" else "skipped"
    return [symbolic, numeric]


def reached(trace: Trace, marked: dict[int, str]) -> dict[str, str]:
    """For each input whose gradient passes through a marked node: the first such node's text."""
    graph = trace.graph
    found: dict[str, str] = {}
    if not marked:
        return found
    for name, start in zip(graph.variables, graph.inputs):
        through = reach(graph.nodes, [start])
        first = next((i for i in sorted(marked) if through[i]), None)
        if first is not None:
            found[name] = marked[first]
    return found


def inputs_through_kinks(trace: Trace) -> set[str]:
    """The inputs whose gradient passes through a gate sitting on its kink at this point."""
    return set(reached(trace, {i: "" for i in trace.kinks}))


def edges_reached(trace: Trace) -> dict[str, str]:
    """For each input whose gradient passes through a gate at the edge of its domain (sqrt at 0,
    a^b at a = 0, a pole of /): that gate in words, "sqrt has an infinite slope at n1 = 0"."""
    graph = trace.graph
    marked: dict[int, str] = {}
    with np.errstate(all="ignore"):
        for i, node in enumerate(graph.nodes):
            prim = node.prim
            if prim is None or prim.edge is None or prim.edge_text is None:
                continue
            if bool(np.any(prim.edge(*prim_args(prim, [trace.values[j] for j in node.inputs])))):
                text = prim.edge_text.format(*(graph.labels[j] for j in node.inputs))
                marked[i] = f"{graph.labels[i]} = {describe(graph, i)}: {text}"
    return reached(trace, marked)


def _became_non_finite(trace: Trace) -> list[tuple[int, bool]]:
    """The nodes whose value is inf or nan although their inputs are finite, in node order, each
    with whether that is the mathematics' doing (the gate at the edge of its domain or outside it:
    x/0, log of a negative number) rather than float64's (exp(1000))."""
    graph, values = trace.graph, trace.values
    found: list[tuple[int, bool]] = []
    with np.errstate(all="ignore"):
        for i, node in enumerate(graph.nodes):
            prim = node.prim
            if prim is None or np.isfinite(values[i]).all():
                continue
            args = [values[j] for j in node.inputs]
            if not all(np.isfinite(a).all() for a in args):
                continue
            singular = any(test is not None and bool(np.any(test(*prim_args(prim, args))))
                           for test in (prim.edge, prim.outside))
            found.append((i, singular))
    return found


def singular_reached(trace: Trace) -> dict[str, str]:
    """For each input whose gradient passes through a gate whose value is inf or nan from finite
    inputs at a singular point of the mathematics (x/0, log of a negative number, sqrt(-1)): that gate
    in words.  The function is undefined there, whatever float64 makes of what follows."""
    graph, values = trace.graph, trace.values
    marked = {i: f"{graph.labels[i]} = {describe(graph, i)} is "
                 f"{'nan' if np.isnan(values[i]).any() else 'infinite'} here: the function is undefined"
              for i, singular in _became_non_finite(trace) if singular}
    return reached(trace, marked)


def float_trouble(trace: Trace) -> str:
    """Where float64 lost a value that the mathematics has: the first node that became inf or
    nan from finite inputs without being at the edge of its domain (exp(1000)), or whose backward
    step turned a finite upstream gradient into nan (0 * inf).  "" where there is none."""
    graph, values = trace.graph, trace.values
    overflowed = next((i for i, singular in _became_non_finite(trace) if not singular), None)
    if overflowed is not None:
        i = overflowed
        prim = graph.nodes[i].prim
        hint = f"; {prim.unstable_hint}" if prim is not None and prim.unstable_hint else ""
        return (f"float64 overflowed at {graph.labels[i]} = {describe(graph, i)} "
                f"({graph.labels[i]} = {short(values[i][0] if values[i].shape[0] == 1 else values[i], 4)})"
                f"{hint}")
    with np.errstate(all="ignore"):
        for i in range(len(graph.nodes) - 1, -1, -1):
            g = trace.grads[i]
            if g is None or not np.isfinite(g).all() or not trace.flows[i] or not all(
                    np.isfinite(values[j]).all() for j in (i, *graph.nodes[i].inputs)):
                continue
            if any(np.isnan(f.local).any() for f in trace.flows[i] if f.local is not None):
                continue  # the gate's own local gradient is undefined here (atan2 at 0, 0): not float64's doing
            for flow in trace.flows[i]:
                if np.isnan(flow.downstream).any():
                    j = flow.edge.source
                    return (f"0 · inf in the backward pass: {graph.labels[i]} = {describe(graph, i)} sends nan to "
                            f"{graph.labels[j]} (an infinite local gradient times a zero upstream gradient)")
    return ""


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


def combined(checks: list[Check]) -> dict[str, tuple[str, str]]:
    """Each checked element's verdict across the checks (the most severe; a skipped check counts
    least), with the reason of the check that gave it: label -> (verdict, reason)."""
    from .verdicts import SEVERITY

    out: dict[str, tuple[str, str]] = {}
    for c in checks:
        if c.status == "skipped":
            continue
        for label, r in c.inputs.items():
            if label not in out or SEVERITY.index(r.verdict) > SEVERITY.index(out[label][0]):
                out[label] = (r.verdict, r.reason)
    return out


def summary(checks: list[Check]) -> tuple[bool, str]:
    """One line: do backprop and the checks agree, and if not, where and why.  Only a ``wrong``
    verdict is a failure; the largest relative error is over the elements judged by it."""
    ran = [c for c in checks if c.status != "skipped"]
    skipped = [f"{c.kind} check skipped: {c.reason}" for c in checks if c.status == "skipped"]
    if not ran:
        return True, f"checks: {'; '.join(skipped)}"
    bad = [(c.kind, label, r) for c in ran for label, r in c.inputs.items() if r.verdict in FAILING]
    if bad:
        parts = ", ".join(f"{label} ({kind}, " + (f"relative error {_err(r.rel_error)})" if r.rel_error is not None
                                                  else f"{r.reason})") for kind, label, r in bad[:6])
        more = f" and {len(bad) - 6} more" if len(bad) > 6 else ""
        return False, f"checks: FAILED: backprop disagrees for {parts}{more}"
    verdicts = combined(checks)
    labels = sorted(verdicts, key=_order(checks))
    found: list[str] = []
    good = [lab for lab in labels if verdicts[lab][0] in ("excellent", "fine", "zero")]
    if good:
        who = "backprop and " + ran[0].kind if len(ran) == 1 else "backprop, " + " and ".join(c.kind for c in ran)
        errors = [c.inputs[lab].rel_error for c in ran for lab in good
                  if lab in c.inputs and c.inputs[lab].rel_error is not None]
        zeros = [lab for lab in good if verdicts[lab][0] == "zero"]
        worst = f"largest relative error {_err(max(e for e in errors if e is not None))}" if errors else ""
        zero = f"{_names(zeros)} zero to within the floor" if zeros else ""
        found.append(f"{who} agree for {_names(good)} ({', '.join(filter(None, [worst, zero]))})")
    words = {"kink": "at a kink, where the conventions differ: not a failure",
             "infinite": "infinite here, as backprop says", "undefined": "undefined here: not a failure",
             "unstable": "lost by float64 (see the true values above): not a failure of backprop",
             "suspicious": "suspicious (relative error above 1e-5)"}
    for name, text in words.items():
        these = [lab for lab in labels if verdicts[lab][0] == name]
        if these:
            found.append(f"{_names(these)} {text}" if name != "suspicious" else f"{text} for {_names(these)}")
    all_skipped = [lab for lab in labels if verdicts[lab][0] == "skipped"]
    if all_skipped:
        found.append(f"no check could judge {_names(all_skipped)}")
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
    `verdicts.Reference` for each, from backprop's gradient and what the checks found out.

    Where backprop was judged ``unstable`` an element's value is SymPy's 30-digit one (its text in
    `exact` where float64 cannot hold it); ``undefined`` makes it nan; ``infinite`` keeps backprop's
    ±inf; at a ``kink`` the one-sided derivatives are accepted beside symgrad's convention (PyTorch's).
    """
    from .verdicts import Reference

    refs: dict[str, Any] = {"": Reference(np.asarray(trace.value, dtype=float))}
    verdicts = combined(checks or [])
    by_kind = {c.kind: c for c in checks or []}
    for name, g in trace.gradient.items():
        value = np.array(g, dtype=float)
        others: list[Array] = []
        notes: list[str] = []
        texts: list[str] = []
        status = "finite"
        for var, idx, label in elements(trace, [name]):
            verdict, reason = verdicts.get(label, ("skipped", ""))
            if trace.mode != "point" or value.ndim != len(idx):
                break  # a Jacobian or an upstream: graded against backprop as it is
            if verdict == "unstable":
                sym = by_kind.get("symbolic")
                r = sym.inputs.get(label) if sym is not None else None
                if r is not None and r.reference:
                    value[idx] = r.reference[0]
                    if r.text:
                        texts.append(r.text if label == name else f"{label} = {r.text}")
                status = "unstable"
                notes.append(f"{label}: float64 lost this gradient; graded against its 30-digit value")
            elif verdict == "undefined":
                value[idx] = np.nan
                status = "undefined"
                notes.append(f"{label}: the gradient is undefined here ({reason})")
            elif verdict == "infinite":
                status = "infinite"
                notes.append(f"{label}: the gradient is infinite here")
            elif verdict == "kink":
                status = "kink"
                num = by_kind.get("numeric")
                r = num.inputs.get(label) if num is not None else None
                sides = r.sides if r is not None else None
                ours = float(value[idx])
                accepted = [ours]
                if sides is not None:
                    for side in sides:
                        if len(side) == 1 and not any(abs(side[0] - a) <= 1e-9 * max(1.0, abs(a)) for a in accepted):
                            alt = value.copy()
                            alt[idx] = _tidy(side[0])
                            others.append(alt)
                            accepted.append(_tidy(side[0]))
                convention = _kink_convention(trace, var)
                shown = " or ".join(short(a, 6) + (" (symgrad, PyTorch)" if k == 0 else "")
                                    for k, a in enumerate(accepted))
                notes.append(f"{label}: at a kink ({convention}): {shown} accepted")
        refs[name] = Reference(value, tuple(others), "; ".join(notes), "; ".join(texts), status)
    return refs


def node_references(graph: Graph, trace: Trace, answers: list[Any], *, timeout: float = 5.0,
                    limit: int | None = None) -> tuple[dict[str, Any], list[Check]]:
    """References for answers about other nodes than the inputs (`homework.Answer`s whose target
    `references` does not give), and the checks that verified them.

    value(q): the node's value.  d output / d q: the gradient of the graph cut at q
    (`graph.cut(graph, [q], output)`, q's value an input), checked by both checks as any input's
    gradient is, so that the upstream gradient backprop gives q is verified, not assumed.
    dq/dx: the gradient of the graph of q alone (`graph.cut(graph, q's inputs, q)`), checked too:
    q's local gradient, parallel edges summed; for an elementwise gate with an input of its own
    shape, the elementwise local gradient (the Jacobian's diagonal) is accepted as well.
    """
    from .engine import evaluate
    from .graph import cut
    from .verdicts import Reference

    refs: dict[str, Any] = {}
    own: list[Check] = []
    node_of = {label: i for i, label in enumerate(graph.labels) if label}
    bounds: dict[str, Any] = {"timeout": timeout} | ({"limit": limit} if limit is not None else {})
    for a in answers:
        if a.target in refs or not a.target or a.target in graph.variables or a.node < 0:
            continue
        value = trace.value_of(trace.values[a.node])
        if a.kind == "value":
            refs[a.target] = Reference(np.asarray(value, dtype=float), scale=_size(value))
            continue
        if a.kind == "gradient" and a.node == graph.output:  # d L / d L: the seed
            seed = np.ones(trace.out_shape) if trace.upstream is None else trace.upstream
            refs[a.target] = Reference(np.asarray(seed, dtype=float))
            continue
        if a.kind == "gradient" and (trace.grads[a.node] is None or not reach(graph.nodes, [a.node])[graph.output]):
            # the output does not read this node (q = x; f = 2*x): its gradient is 0
            refs[a.target] = Reference(np.zeros(np.shape(value) if trace.mode != "jacobian" else
                                                trace.out_shape + np.shape(value)))
            continue
        if a.kind == "gradient":
            part = cut(graph, [a.node], graph.output)
            label, upstream = graph.labels[a.node], trace.upstream
        else:
            part = cut(graph, graph.nodes[a.node].inputs, a.node)
            label, upstream = graph.labels[a.wrt], None
        point = {v: trace.value_of(trace.values[node_of[v]]) for v in part.variables}
        sub = evaluate(part, point, upstream=upstream)
        checks = run_checks(part, sub, only=[label], **bounds)
        own += checks
        ref = references(part, sub, checks)[label]
        scale = max([1.0, *(noise_scale(sub, var, idx) for var, idx, _ in elements(sub, [label]))])
        reshaped: tuple[Array, ...] = ()
        prim = graph.nodes[a.node].prim
        if a.kind == "local" and prim is not None and prim.elementwise:
            node_shape, input_shape = core(trace.values[a.node]), core(trace.values[a.wrt])
            if node_shape == input_shape and node_shape != ():
                n = int(np.prod(node_shape))
                reshaped = (np.asarray(ref.value).reshape(n, n).diagonal().reshape(node_shape),)
        refs[a.target] = replace(ref, scale=scale, reshaped=reshaped)
    return refs, own


def _size(value: Any) -> float:
    finite = np.abs(np.asarray(value, dtype=float))
    finite = finite[np.isfinite(finite)]
    return max(1.0, float(finite.max()) if finite.size else 0.0)


def _tidy(x: float) -> float:
    """A one-sided derivative from finite differences, rounded where it is within 1e-9 of a
    number of few digits (1.0000000000002 is 1)."""
    r = round(x, 9)
    return r if abs(r - x) <= 1e-9 * max(1.0, abs(x)) else x


def _kink_convention(trace: Trace, var: str) -> str:
    """The conventions of the kinked gates the input's gradient passes through."""
    graph = trace.graph
    found = reached(trace, {i: f"{graph.labels[i]} = {describe(graph, i)}: {text}" for i, text in trace.kinks.items()})
    return found.get(var, "conventions differ")
