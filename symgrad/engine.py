"""Forward and backward passes: one loop each over the graph's node list.

Every value carries a leading axis that no primitive looks into: length 1
for one point, P for many points at once.  Backward starts from
d(output)/d(output) = 1 (or, for a vector output, from every row of the
identity at once, along that same leading axis, which gives the Jacobian;
or from a given upstream gradient).  It accumulates each node's upstream
gradient along the graph's edges and keeps, for every edge a gradient went
down, a Flow: the local gradient and the downstream gradient sent along it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from math import isfinite
from typing import Any

import numpy as np

from . import primitives as P
from .errors import SymgradError
from .graph import Edge, Graph, Kind, describe, gc_paused, reach
from .numbers import short
from .timing import stage

Array = np.ndarray

# A local Jacobian is worked out for display only up to this many entries.
JACOBIAN_LIMIT = 400


@dataclass
class Warning_:
    node: int | None
    message: str


@dataclass(slots=True)
class Flow:
    """What one edge carries in the backward pass.

    `local` is the local gradient d target / d source of an elementwise primitive, shaped like
    the target's value (leading axis included), or a plain number where it is constant (1 for
    add); None for other primitives, whose Jacobian local_jacobian works out when a view asks.
    `downstream` is the gradient the target sends to the source: the upstream gradient times
    the local gradient (the vector-Jacobian product), summed over the axes broadcasting added,
    so shaped like the source with the seed's leading axis."""

    edge: Edge
    local: Array | float | None
    downstream: Array


@dataclass
class Trace:
    """Everything one evaluation found, node by node (graph node ids).

    Arrays keep the leading axis: values have length 1 (one point) or P
    (many points); gradients have the length of the seed: 1, P, or the
    output's size in "jacobian" mode.  The accessors below drop it.
    """

    graph: Graph
    values: list[Array]
    grads: list[Array | None]  # d output / d node, the upstream gradient; None where no gradient flows
    flows: list[list[Flow]]  # per node: the edges into it that a gradient flowed back along, in argument order
    dep: list[bool]  # does the node's value depend on an input (through differentiable edges)?
    mode: str = "point"  # "point", "points" or "jacobian"
    upstream: Array | None = None  # the gradient backpropagated from the output, when one was given
    kinks: dict[int, str] = field(default_factory=dict)  # node -> the convention used there
    warnings: list[Warning_] = field(default_factory=list)
    _out: list[list[Flow]] | None = field(default=None, repr=False)

    def consumers(self, j: int) -> list[Flow]:
        """The flows out of node j: the downstream gradient each consumer sends it, in consumer
        order (a consumer reading it twice, x * x, sends twice)."""
        if self._out is None:
            self._out = [[] for _ in self.values]
            for flows in self.flows:
                for flow in flows:
                    self._out[flow.edge.source].append(flow)
        return self._out[j]

    def __repr__(self) -> str:
        """One line, not the arrays: <Trace f(x, y) = x * y at x = 1, y = 2, value 2>."""
        from .numbers import short
        from .views.source import program_text

        graph = self.graph
        text = program_text(graph.program)
        text = text if len(text) <= 60 else text[:59] + "…"
        if self.mode == "points":
            return f"<Trace {text} at {len(self.values[graph.output])} points>"
        at = ", ".join(f"{v} = {short(self.value_of(self.values[i]), 4, oneline=True)}"
                       for v, i in zip(graph.variables, graph.inputs))
        return f"<Trace {text}" + (f" at {at}" if at else "") + f", value {short(self.value, 4, oneline=True)}>"

    # Jupyter shows an evaluated trace as the picture and the table, as SymPy's expressions show
    # themselves; the views are imported here, where a notebook asks, never on the command's paths.
    def _repr_svg_(self) -> str | None:
        """In Jupyter: the graph drawn as the lecture draws it (views.picture); None for many points
        or a graph too large to draw."""
        from .records import records
        from .views import picture

        if self.mode == "points" or len(self.graph.nodes) > picture.LARGEST:
            return None
        svg = picture.svg(picture.dot(self.graph, records(self)))
        return svg[svg.index("<svg"):]

    def _repr_html_(self) -> str | None:
        """In Jupyter: the picture above the annotated table (views.picture, views.plain)."""
        import html

        from .records import records
        from .views import plain

        if self.mode == "points":
            return None
        picture = self._repr_svg_() or ""
        return f"<div>{picture}</div><pre>{html.escape(plain.render(self, records(self)))}</pre>"

    @property
    def out_shape(self) -> tuple[int, ...]:
        return core(self.values[self.graph.output])

    def value_of(self, a: Array) -> Array:
        """A value (or a local gradient) without the leading axis of a single point."""
        return a if self.mode == "points" else a[0]

    def grad_of(self, a: Array) -> Array:
        """A gradient as users read it: shaped like its node, or (output + node) for a Jacobian."""
        if self.mode == "points":
            return a
        if self.mode == "jacobian":
            return np.asarray(a.reshape(self.out_shape + a.shape[1:]))
        return np.asarray(a[0])

    @property
    def value(self) -> Array:
        return self.value_of(self.values[self.graph.output])

    @property
    def gradient(self) -> dict[str, Array]:
        """d output / d input for every input (the Jacobian for a vector output), in input order.
        Inputs used only as indices have none."""
        out = {}
        for name, node in zip(self.graph.variables, self.graph.inputs):
            g = self.grads[node]
            if g is not None:
                out[name] = self.grad_of(g)
        return out


def core(a: Array) -> tuple[int, ...]:
    return tuple(a.shape[1:])


def align(args: list[Array]) -> list[Array]:
    """Give every argument of an elementwise primitive the same number of axes, by
    inserting axes after the leading one, so that NumPy broadcasts core axes only
    and the leading axes line up: (P,) with (P, 3) becomes (P, 1) with (P, 3)."""
    if len(args) == 1 or (len(args) == 2 and args[0].ndim == args[1].ndim):
        return args
    rank = max(a.ndim for a in args)
    return [a if a.ndim == rank else a.reshape(a.shape[:1] + (1,) * (rank - a.ndim) + a.shape[1:])
            for a in args]


def prim_args(prim: P.Primitive, args: list[Array]) -> list[Array]:
    return align(args) if prim.elementwise else args


def check_point(graph: Graph, at: Mapping[str, Any]) -> None:
    missing = [v for v in graph.variables if v not in at]
    unknown = [v for v in at if v not in graph.variables]
    if unknown:
        known = ", ".join(graph.variables) or "none"
        raise SymgradError("binding", f"a value is given for {unknown[0]}, which is not a variable of "
                           f"{graph.header} (its variables: {known})")
    if missing:
        raise SymgradError("binding", f"no value for {missing[0]}",
                           hint=f"give every variable a value: --at {','.join(v + '=1' for v in missing)}")


def depends_on_inputs(graph: Graph) -> list[bool]:
    """Which nodes a gradient can flow into: inputs, and nodes that read one
    through a differentiable edge (not an index or an axis): graph.reach from the inputs."""
    return reach(graph.nodes, graph.inputs)


def forward(graph: Graph, inputs: Mapping[str, Array], *, watch: bool = True) -> tuple[list[Array], list[Warning_]]:
    """Every node's value; inputs already carry the leading axis.  Warnings
    where a value stops being finite (unless `watch` is off, as for many points
    at once, where each point's own value tells); an error where shapes or
    indices are wrong."""
    values: list[Array] = []
    warnings: list[Warning_] = []
    finite: list[bool] = []
    with np.errstate(all="ignore"):
        for i, node in enumerate(graph.nodes):
            if node.kind is Kind.INPUT:
                assert node.name is not None
                v = inputs[node.name]
            elif node.prim is None:
                v = np.full((1,), node.value, dtype=float)
            else:
                v = _apply(graph, i, [values[j] for j in node.inputs])
            ok = not watch or (isfinite(v.item()) if v.size == 1 else bool(np.isfinite(v).all()))
            if not ok and node.kind is Kind.INPUT:
                warnings.append(Warning_(i, f"the value given for {node.name} is {_what(v)}"))
            elif not ok and all(finite[j] for j in node.inputs) and node.prim is not None:
                warnings.append(Warning_(i, _bad_value(graph, i, v, values)))
            values.append(v)
            finite.append(ok)
    return values, warnings


def _apply(graph: Graph, i: int, args: list[Array]) -> Array:
    node = graph.nodes[i]
    prim = node.prim
    assert prim is not None
    problem = None
    if prim.check is not None:
        problem = prim.check(*args)
    elif prim.elementwise and len(args) > 1 and not _same_shapes(args):
        try:
            np.broadcast_shapes(*(core(a) for a in args))
        except ValueError:
            problem = "shapes " + " and ".join(str(core(a)) for a in args) + " do not broadcast"
    if problem is None:
        try:
            return np.asarray(prim.forward(*(align(args) if prim.elementwise else args)), dtype=float)
        except (ValueError, IndexError) as exc:
            problem = str(exc)
    labels = [graph.labels[j] for j in node.inputs]
    raise SymgradError(
        prim.error_kind,
        f"{graph.labels[i]} = {describe(graph, i)}: {problem.format(*labels)}",
        source=graph.source, span=node.span,
    )


def _same_shapes(args: list[Array]) -> bool:
    """Do all the arguments have one shape (so that nothing broadcasts, and nothing needs aligning)?"""
    shape = args[0].shape
    return all(a.shape == shape for a in args)


def _what(v: Array) -> str:
    return "nan (undefined)" if np.isnan(v).any() else "infinite"


def _bad_value(graph: Graph, i: int, v: Array, values: list[Array]) -> str:
    return f"{graph.labels[i]} = {describe(graph, i)} is {_what(v)}{_inputs_at(graph, i, values)}"


def _inputs_at(graph: Graph, i: int, values: list[Array]) -> str:
    """ at x = -2, y = 3: the node's inputs that are not constants, each once."""
    seen = dict.fromkeys(j for j in graph.nodes[i].inputs if graph.nodes[j].kind is not Kind.CONST)
    shown = ", ".join(f"{graph.labels[j]} = {_num(values[j])}" for j in seen)
    return f" at {shown}" if shown else ""


def _num(v: Array) -> str:
    if v.size == 1:
        return short(v.reshape(-1)[0], 6)
    if v.shape[0] == 1:
        return f"an array of shape {core(v)}"
    return f"{v.shape[0]} points"


def unbroadcast(g: Array, shape: tuple[int, ...]) -> Array:
    """Sum a gradient over the core axes broadcasting added, back to the core `shape`.
    The leading axis stays as it is."""
    if g.shape[1:] == shape:
        return g
    extra = g.ndim - 1 - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(1, 1 + extra)))
    axes = tuple(1 + k for k, n in enumerate(shape) if n == 1 and g.shape[1 + k] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    if g.shape[1:] != shape:  # a size-1 gradient for a larger input (a constant broadcast)
        g = np.broadcast_to(g, g.shape[:1] + shape)
    return g


Grads = dict[int, Array]
_NO_FLOWS: list[Flow] = []  # shared by the nodes no gradient flowed into: never appended to
# A replacement for edge_vjp, with its arguments: (edge, primitive, g, out, args, shape) -> (local, downstream).
EdgeRule = Callable[[Edge, P.Primitive, Array, Array, list[Array], tuple[int, ...]], tuple[Any, Array]]


def edge_vjp(prim: P.Primitive, k: int, g: Array, out: Array, args: list[Array],
             shape: tuple[int, ...]) -> tuple[Array | float | None, Array]:
    """Backprop along one edge: (the local gradient, the downstream gradient) for input k of a
    gate with upstream gradient `g` (leading axis of the seed), value `out` and arguments `args`
    (aligned for elementwise primitives); the downstream gradient summed to the input's core
    `shape`.  Elementwise: the table's partial times g, exactly 0 where a selecting gate does not
    select (PyTorch's threshold_backward), so that 0 * inf is 0 there.  Otherwise the table's
    vector-Jacobian product, and no local gradient."""
    if prim.vjp is not None:
        return None, unbroadcast(np.asarray(prim.vjp(k, g, out, *args), dtype=float), shape)
    part = prim.partials[k](out, *args)
    if isinstance(part, float):  # a constant local gradient, 1 for add: no multiplication
        return part, unbroadcast(g if part == 1.0 else -g if part == -1.0 else g * part, shape)
    part = np.asarray(part, dtype=float)
    d = g * part
    if prim.selects:
        if part.size == 1:  # one number: where it is 0 the gate sends exactly 0 (np.where is 4x slower)
            if part.item() == 0:
                d = np.zeros_like(d)
        else:
            d = np.where(part == 0, 0.0, d)
    return part, unbroadcast(d, shape)


def sweep(graph: Graph, values: list[Array], dep: list[bool], start: int, top: int,
          seed: Array, *, record: bool = True, rule: EdgeRule | None = None,
          unused: bool = True) -> tuple[Grads, list[Flow]]:
    """Reverse accumulation: backpropagate `seed` from node `top` through nodes start..top.

    Returns the upstream gradient of every node reached, by node id, and (with `record`) the
    flow along every edge a gradient went down, in the order the sweep took them.  A node the top
    does not depend on (an unused statement) receives no gradient and sends none, as in PyTorch,
    where it is not in the output's graph: with `record` and `unused` it is shown with upstream 0
    sending exactly 0, never 0 times an infinite local gradient; otherwise it is skipped.  `rule`, where
    given, computes each edge's flow instead of edge_vjp (mistakes.py simulates a student's
    mistake with it).
    """
    grads: Grads = {top: seed}
    flows: list[Flow] = []
    nodes = graph.nodes
    with np.errstate(all="ignore"):
        for i in range(top, start - 1, -1):
            prim = nodes[i].prim
            if prim is None or not dep[i]:
                continue
            upstream = grads.get(i)
            live = upstream is not None
            if upstream is None:  # nothing downstream of it reaches the top: it sends no gradient
                if not (record and unused):
                    continue
                upstream = grads[i] = np.zeros((seed.shape[0], *core(values[i])))
            g = upstream
            inputs = nodes[i].inputs
            args = [values[j] for j in inputs]
            if prim.elementwise and len(args) > 1:
                args = align(args)
            out, stop = values[i], prim.nondiff_from  # inputs from `stop` on carry no gradient
            for k, j in enumerate(inputs):
                if not dep[j] or (stop is not None and k >= stop):
                    continue
                edge = Edge(j, i, k, True) if record or rule is not None else None
                if rule is None:
                    local, d = edge_vjp(prim, k, g, out, args, values[j].shape[1:])
                else:
                    assert edge is not None
                    local, d = rule(edge, prim, g, out, args, values[j].shape[1:])
                if live:
                    before = grads.get(j)
                    grads[j] = d if before is None else before + d
                else:  # shown as sending exactly 0 (not 0 * an infinite local gradient), and added nowhere
                    d = np.zeros_like(d)
                if edge is not None and record:
                    flows.append(Flow(edge, local, d))
    return grads, flows


def backward(graph: Graph, values: list[Array], upstream: Array | None = None, *,
             many: bool = False, unused: bool = True) -> Trace:
    """The backward pass from the output: from 1 for a scalar output, from
    `upstream` (shaped like the output) when given, else the Jacobian.  `unused`: give the nodes
    the output does not read their zero gradients and flows too (for the tables); without it
    their gradients are None, and inputs nothing reads still get 0."""
    dep = depends_on_inputs(graph)
    out = graph.output
    out_core = core(values[out])
    if upstream is not None:
        seed, mode = np.asarray(upstream, dtype=float), ("points" if many else "point")
    elif out_core == ():
        seed, mode = np.ones_like(values[out]), ("points" if many else "point")
    elif many:
        raise SymgradError("shape", f"the output {graph.output_name} has shape {out_core}: many points at once "
                           "need a scalar output, or an upstream gradient")
    else:
        size = int(np.prod(out_core))
        seed, mode = np.eye(size).reshape((size, *out_core)), "jacobian"
    g, flows = sweep(graph, values, dep, 0, out, seed, record=not many, unused=unused)
    grads: list[Array | None] = [g.get(i) for i in range(len(graph.nodes))]
    for name, i in zip(graph.variables, graph.inputs):  # inputs nothing reads: gradient 0
        if grads[i] is None and name not in graph.index_only:
            grads[i] = np.zeros((seed.shape[0], *core(values[i])))
    into: list[list[Flow]] = [_NO_FLOWS] * len(graph.nodes)  # (most nodes of a long program have none)
    for flow in flows:  # each node's flows were taken in argument order
        target = flow.edge.target
        if into[target] is _NO_FLOWS:
            into[target] = []
        into[target].append(flow)
    trace = Trace(graph, values, grads, into, dep, mode)
    if not many:
        _inspect(trace)
    return trace


def _inspect(trace: Trace) -> None:
    """Flag kinks, and gradients that stop being finite where the values are."""
    graph, values = trace.graph, trace.values
    # A gradient that stops being finite anywhere shows in some input's gradient.
    all_finite = all(g is None or np.isfinite(g).all() for g in (trace.grads[i] for i in graph.inputs))
    for i, node in enumerate(graph.nodes):
        prim = node.prim
        if prim is None:
            continue
        at_kink = prim.kink is not None and trace.grads[i] is not None and bool(
            np.any(prim.kink(*prim_args(prim, [values[j] for j in node.inputs]))))
        if at_kink:
            trace.kinks[i] = prim.kink_text or "not differentiable here"
        g = trace.grads[i]
        if all_finite or g is None or not np.isfinite(g).all() or not np.isfinite(values[i]).all():
            continue
        for flow in trace.flows[i]:
            if not np.isfinite(flow.downstream).all():
                trace.warnings.append(Warning_(
                    i, f"the gradient {graph.labels[i]} = {describe(graph, i)} sends to "
                    f"{graph.labels[flow.edge.source]} is {_what(flow.downstream)}{_inputs_at(graph, i, values)}"))


def as_floats(value: Any, what: str) -> Array:
    """A number or nested lists of numbers as a float64 array; SymgradError ("binding") for
    anything else (text, ragged lists), naming `what` ("the value of x")."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise SymgradError("binding", f"{what} is not a number or an array of numbers",
                           hint="give a number, or nested lists of numbers with rows of one length") from None


def point_inputs(graph: Graph, at: Mapping[str, Any]) -> dict[str, Array]:
    """One point's values, each given the leading axis of length 1."""
    check_point(graph, at)
    return {name: as_floats(at[name], f"the value of {name}")[None] for name in graph.variables}


def evaluate(graph: Graph, at: Mapping[str, Any], *, upstream: Any = None, unused: bool = True) -> Trace:
    """Forward and backward at one point.

    A scalar output gives the gradient with respect to every input; a vector
    or matrix output gives the Jacobian, or, with `upstream` (shaped like the
    output), the vector-Jacobian product.  `unused` as for backward.
    """
    with gc_paused(), stage("forward"):
        values, warnings = forward(graph, point_inputs(graph, at))
    seed = None
    if upstream is not None:
        seed = as_floats(upstream, "the upstream gradient")
        want = core(values[graph.output])
        if seed.shape != want:
            raise SymgradError("shape", f"the upstream gradient has shape {seed.shape}, but the output "
                               f"{graph.output_name} has shape {want}", hint="give it the output's shape")
        seed = seed[None]
    with gc_paused(), stage("backward"):
        trace = backward(graph, values, seed, unused=unused)
    trace.upstream = None if seed is None else seed[0]
    trace.warnings[:0] = warnings
    return trace


def evaluate_points(graph: Graph, points: Mapping[str, Any], fixed: Mapping[str, Any] | None = None, *,
                    upstream: Any = None) -> Trace:
    """Forward and backward at many points at once.  Each value in `points`
    has a leading axis of one entry per point; values in `fixed` are the same
    at every point.  The output must be a scalar, or `upstream` give one
    gradient per point."""
    fixed = fixed or {}
    check_point(graph, {**points, **fixed})
    columns = {name: as_floats(v, f"the values of {name}") for name, v in points.items()}
    count = next(iter(columns.values())).shape[0] if columns else 1
    for name, a in columns.items():
        if a.ndim == 0 or a.shape[0] != count:
            raise SymgradError("binding", f"{name} has {a.shape[0] if a.ndim else 0} points, "
                               f"but the others have {count}")
    inputs = dict(columns)
    for name, v in fixed.items():
        a = as_floats(v, f"the value of {name}")
        inputs[name] = np.broadcast_to(a, (count, *a.shape))
    values, warnings = forward(graph, inputs, watch=False)
    seed = None if upstream is None else as_floats(upstream, "the upstream gradient")
    trace = backward(graph, values, seed, many=True)
    trace.warnings[:0] = warnings
    return trace


def group_local(trace: Trace, group: int) -> tuple[Array | None, ...]:
    """Local gradients of a grouped gate with a scalar output: backprop 1 through its body alone."""
    graph = trace.graph
    grp = graph.groups[group]
    out = trace.values[grp.output]
    if core(out) != ():
        return tuple(None for _ in grp.args)
    dep = trace.dep
    grads, _ = sweep(graph, trace.values, dep, grp.start, grp.output, np.ones_like(out), record=False)
    result: list[Array | None] = []
    for p in grp.params:
        if not dep[p]:
            result.append(None)
            continue
        g = grads.get(p)
        result.append(g if g is not None else np.zeros((1, *core(trace.values[p]))))
    return tuple(result)


def local_jacobian(trace: Trace, i: int, k: int) -> Array | None:
    """d node / d input k for a non-elementwise primitive, shaped (node + input), if small enough."""
    node = trace.graph.nodes[i]
    prim = node.prim
    j = node.inputs[k]
    if trace.mode == "points" or prim is None or prim.vjp is None or not trace.dep[j] or not prim.differentiable(k):
        return None
    out, arg = trace.values[i], trace.values[j]
    m, n = int(np.prod(core(out))), int(np.prod(core(arg)))
    if m * n > JACOBIAN_LIMIT:
        return None
    basis = np.eye(m).reshape((m, *core(out)))
    with np.errstate(all="ignore"):
        rows = unbroadcast(np.asarray(prim.vjp(k, basis, out, *[trace.values[a] for a in node.inputs])), core(arg))
    return np.asarray(rows.reshape(core(out) + core(arg)))
