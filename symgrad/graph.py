"""Syntax to computational graph.

The graph is a flat list of nodes in topological order: inputs first, then
every operation after the nodes it reads.  Calls of the user's functions are
inlined, and the nodes of each call made from the program itself are marked
as one group, so views can show the call as a single grouped gate while the
engine runs plain primitives.  Building uses an explicit stack of frames, so
deeply nested expressions and long chains of functions never recurse.  What a
name means (and the notes and warnings about names) is scope.py's; here the
syntax is lowered to nodes.
"""

from __future__ import annotations

import enum
import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from . import primitives as P
from .errors import Source, SymgradError
from .numbers import LONGEST_NUMBER, too_long
from .parser import CALL, Program, SyntaxList, number_value, parse, post_order
from .scope import Names, labels
from .timing import stage


class Kind(enum.Enum):
    """What a node is: one of the function's inputs, a constant, or a gate applying a primitive."""

    INPUT = "input"
    CONST = "const"
    GATE = "gate"


@dataclass(slots=True)
class Node:
    kind: Kind
    prim: P.Primitive | None = None  # gates: the primitive they apply (None for inputs and constants)
    inputs: tuple[int, ...] = ()
    name: str | None = None  # the user's name for this node, if any
    value: float | None = None  # constants: the number
    text: str | None = None  # constants: as written ("2", "pi")
    span: tuple[int, int] | None = None  # where in the source it comes from
    group: int | None = None  # the call (index into Graph.groups) it belongs to

    @property
    def op(self) -> str:
        """The node's operation as JSON spells it: a primitive's name, "input" or "const"."""
        return self.prim.name if self.prim is not None else self.kind.value


def gate(name: str, inputs: tuple[int, ...], span: tuple[int, int] | None) -> Node:
    """A node applying the primitive of that name from the table."""
    return Node(Kind.GATE, P.PRIMITIVES[name], inputs, span=span)


@dataclass(frozen=True, slots=True)
class Edge:
    """One argument of one gate: the value of node `source` flows into node `target` as its
    argument number `position`, and the gradient flows back along it when it is `differentiable`
    (an index, an axis or a function's constant parameter carries none)."""

    source: int
    target: int
    position: int
    differentiable: bool


def edges(node: Node, i: int) -> tuple[Edge, ...]:
    """The edges into node i, in argument order (none for inputs and constants)."""
    if node.prim is None:
        return ()
    d = node.prim.differentiable
    return tuple(Edge(j, i, k, d(k)) for k, j in enumerate(node.inputs))


@dataclass(slots=True)
class Group:
    """One call of a user's function from the program: a grouped gate."""

    function: str
    args: tuple[int, ...]  # the nodes passed in
    params: tuple[int, ...]  # the nodes standing for the parameters inside the gate (one per argument)
    start: int  # the call's nodes are start .. output
    output: int
    span: tuple[int, int]


@dataclass(slots=True)
class Cluster:
    """One call run inline when grouped gates are expanded (--expand): its nodes are start .. end,
    which a picture draws inside a box labelled with the function's name.  Calls within calls give
    clusters within clusters (their ranges nest)."""

    function: str
    start: int
    end: int


@dataclass
class Function:
    name: str
    params: tuple[str, ...]
    body: int  # root syntax index
    syntax: SyntaxList
    span: tuple[int, int]
    index: int = -1  # definition order: a body sees only functions with a smaller index


@dataclass
class Graph:
    program: Program
    source: Source
    nodes: list[Node]
    variables: list[str]  # the inputs' names, in order
    inputs: list[int]  # the inputs' node ids, in the same order
    output: int
    output_name: str
    header: str  # "f(x, y, z)"
    groups: list[Group] = field(default_factory=list)
    functions: dict[str, Function] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    index_only: list[str] = field(default_factory=list)  # inputs used only as indices: no gradient
    notes: list[str] = field(default_factory=list)  # not problems: e or pi taken as a variable's name
    clusters: list[Cluster] = field(default_factory=list)  # with --expand: the calls run inline, outermost first
    unused: Sequence[str] = ()  # a warning per named statement the output never uses

    def visible(self, node_id: int) -> bool:
        """Is this node shown, rather than hidden inside a grouped gate?"""
        g = self.nodes[node_id].group
        return g is None or self.groups[g].output == node_id


NODES_PER_CHARACTER = 50  # the automatic node limit: this many per character of the program,
LEAST_NODE_LIMIT = 1_000_000  # and at least this many


def node_limit(text: str) -> int:
    """The most nodes a program may build unless told otherwise: 50 per character of its text, at
    least 1,000,000.  Calls of the user's functions are inlined, so a short program can ask for
    exponentially many (g2(x) = g1(g1(x)), g3(x) = g2(g2(x)), ...); this keeps memory linear in
    the input."""
    return max(LEAST_NODE_LIMIT, NODES_PER_CHARACTER * len(text))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a while, as it was after.  Parsing, building and
    the passes make many small objects and no cycles, and the collector, run every 700 new
    objects, would walk them over and over: a fifth to a third of a long program's time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def statement_limit() -> int:
    """The most operations and operands one statement may have unless --node-limit allows more."""
    from . import parser

    return parser.EXPRESSION_LIMIT


def build(text: str, name: str = "expression", *, expand: bool = False, start: str = "program",
          nodes: int | None = None) -> Graph:
    """Parse a program (or with start="value", a single expression) and build its graph, of at most
    `nodes` nodes (None: node_limit(text)) and of statements of at most parser.EXPRESSION_LIMIT
    operations and operands, or `nodes` where that is more.  Raises SymgradError: the parser's and the names'
    kinds, "limit" past either limit, "value" for a number of more than 1,000 characters."""
    with gc_paused():
        with stage("parse"):
            program = parse(text, name, start=start, limit=None if nodes is None else max(nodes, statement_limit()))
        with stage("build"):
            return _Builder(program, expand, node_limit(text) if nodes is None else nodes).run()


def reach(nodes: Sequence[Node], start: Iterable[int], *, every_edge: bool = False) -> list[bool]:
    """Which nodes depend on the start nodes: the start nodes, and every node that reads a
    reached node along a differentiable edge, one a gradient flows back along (an index or an
    axis carries none), or along any edge with every_edge.  One pass in node order, which is
    topological; no recursion.

    reach(graph.nodes, graph.inputs) is where a gradient can flow between the output and the
    inputs; reach(graph.nodes, [graph.inputs[k]]) is what the k-th input's gradient passes through.
    The builder keeps reach(nodes, inputs, every_edge=True) as it goes, with reads_reached: a
    value that an input changes in any way, which an axis must not be."""
    reached = [False] * len(nodes)
    for i in start:
        reached[i] = True
    for i, node in enumerate(nodes):
        if not reached[i]:
            reached[i] = reads_reached(node, reached, every_edge=every_edge)
    return reached


def reads_reached(node: Node, reached: Sequence[bool], *, every_edge: bool = False) -> bool:
    """One step of reach: does this node read a reached node along a differentiable edge (any edge with every_edge)?"""
    if node.prim is None:
        return False
    if every_edge:
        return any(reached[j] for j in node.inputs)
    differentiable = node.prim.differentiable
    return any(reached[j] for k, j in enumerate(node.inputs) if differentiable(k))


@dataclass
class _Frame:
    """One expression being lowered: the program's, or the body of a call that runs inline."""

    syntax: SyntaxList
    order: Sequence[int]
    env: dict[str, int]  # the names in scope: canonical name -> node
    function: Function | None  # the function whose body this is, if any
    pos: int = 0
    results: dict[int, int] = field(default_factory=dict)
    pending: int | None = None  # syntax index of a call waiting for its body
    group_start: int | None = None
    args: tuple[int, ...] = ()  # a grouped gate's arguments (its env holds its parameter nodes)
    call_span: tuple[int, int] | None = None
    first: int = 0  # the first node the call makes


class _Builder:
    """Lowering: the program's syntax to nodes, in order, asking scope.Names what each name
    and call means.  Calls of the user's functions (and with --expand, of grouped gates) run
    their bodies inline on an explicit stack of frames, never by recursion."""

    def __init__(self, program: Program, expand: bool, limit: int) -> None:
        self.program = program
        self.limit = limit
        self.source = program.source
        self.syntax = program.syntax
        self.expand = expand
        self.names = Names(program, expand)
        self.nodes: list[Node] = []
        # Does the node depend on an input along any edge?  reach(nodes, inputs, every_edge=True), kept as nodes come.
        self.dep: list[bool] = []
        self.groups: list[Group] = []
        self.clusters: list[Cluster] = []

    def run(self) -> Graph:
        names = self.names
        steps, variables = names.plan()
        env: dict[str, int] = {}
        inputs = []
        for v in variables:
            env[v] = self._add(Node(Kind.INPUT, name=v))
            inputs.append(env[v])
        made: list[tuple[str | None, int, tuple[int, int]]] = []  # (assigned name, node, statement span)
        for step in steps:
            node = self._expr(step.root, env)
            if step.name is not None:
                node = self._named(node, step.name, step.span)
                env[step.name] = node
            made.append((step.name, node, step.span))
        output = made[-1][1]
        if steps[-1].name is None:
            output_name = names.output_name(variables, {n.name for n in self.nodes if n.name})
            output = self._named(output, output_name, steps[-1].span)
        else:
            output_name = steps[-1].name
        names.finish(self._unused(made, output))
        graph = Graph(
            self.program, self.source, self.nodes, variables, inputs, output, output_name,
            names.head(output_name, variables), self.groups, names.functions, names.warnings, notes=names.notes,
            unused=names.unused,
        )
        graph.clusters = sorted(self.clusters, key=lambda c: (c.start, -c.end))
        graph.labels = labels(graph)
        graph.index_only = _index_only(graph)
        return graph

    def _named(self, node: int, name: str | None, span: tuple[int, int]) -> int:
        """Give a node the user's name; a node that has one already, or is a
        constant or input, gets an identity node to carry the new name."""
        n = self.nodes[node]
        if n.name is not None or n.prim is None:
            node = self._add(gate("id", (node,), span))
        self.nodes[node].name = name
        return node

    def _unused(self, made: list[tuple[str | None, int, tuple[int, int]]],
                output: int) -> list[tuple[str | None, tuple[int, int]]]:
        """The named statements (all but the last) whose value the output does not read."""
        used = [False] * len(self.nodes)
        used[output] = True
        for i in range(len(self.nodes) - 1, -1, -1):
            if used[i]:
                for j in self.nodes[i].inputs:
                    used[j] = True
        return [(name, span) for name, node, span in made[:-1] if not used[node]]

    # ---- expressions -----------------------------------------------------------

    def _add(self, node: Node) -> int:
        if len(self.nodes) >= self.limit:
            raise SymgradError(
                "limit", f"the program builds more than {self.limit:,} nodes (the calls of your functions are "
                f"inlined, and a call of a call multiplies them)", source=self.source, span=node.span,
                hint="raise the limit with --node-limit N (by default 50 nodes per character of the program, at "
                "least 1,000,000)")
        self.nodes.append(node)
        dep = self.dep
        reads = node.kind is Kind.INPUT
        for j in node.inputs:  # reads_reached(node, dep, every_edge=True), without a generator: it runs per node
            if dep[j]:
                reads = True
                break
        dep.append(reads)
        return len(self.nodes) - 1

    def _expr(self, root: int, env: dict[str, int]) -> int:
        """Build the nodes of one expression of the program; calls of functions
        run their bodies on a stack of frames rather than by recursion."""
        stack = [_Frame(self.syntax, post_order(self.syntax, root), env, None)]
        returned = -1
        while True:
            fr = stack[-1]
            if fr.pending is not None:
                fr.results[fr.pending] = returned
                fr.pending = None
                fr.pos += 1
            pushed = False
            while fr.pos < len(fr.order):
                i = fr.order[fr.pos]
                callee = None
                if fr.syntax.kinds[i] == CALL:
                    s = fr.syntax[i]
                    callee = self.names.callee(s, fr.syntax is self.syntax, fr.function)
                if callee is not None:
                    args = tuple(fr.results[c] for c in s.children)
                    self.names.check_arity(s, len(callee.params), callee.params)
                    frame = _Frame(callee.syntax, post_order(callee.syntax, callee.body),
                                   dict(zip(callee.params, args)), callee)
                    fr.pending = i
                    frame.first = len(self.nodes)
                    frame.call_span = (s.start, s.end) if fr.syntax is self.syntax else fr.call_span
                    if len(stack) == 1 and not self.expand:
                        # A grouped gate: its parameters get nodes of their own, so that the
                        # gate's local gradient is told apart per parameter even in g(x, x).
                        frame.group_start = len(self.nodes)
                        frame.env = {p: self._add(gate("id", (a,), frame.call_span))
                                     for p, a in zip(callee.params, args)}
                        frame.args = args
                    stack.append(frame)
                    pushed = True
                    break
                fr.results[i] = self._node(i, fr)
                fr.pos += 1
            if pushed:
                continue
            returned = fr.results[fr.order[-1]]
            stack.pop()
            if not stack:
                return returned
            if fr.group_start is not None:
                returned = self._close_group(fr, returned)
            elif self.expand and fr.function is not None and len(self.nodes) > fr.first:
                self.clusters.append(Cluster(fr.function.name, fr.first, len(self.nodes) - 1))

    def _close_group(self, frame: _Frame, result: int) -> int:
        assert frame.group_start is not None and frame.function is not None
        start = frame.group_start
        params = tuple(frame.env[p] for p in frame.function.params)
        if result in params or self.nodes[result].kind is Kind.CONST:  # the gate's output needs a node of its own
            result = self._add(gate("id", (result,), frame.call_span))
        g = len(self.groups)
        assert frame.call_span is not None
        self.groups.append(Group(frame.function.name, frame.args, params, start, result, frame.call_span))
        for n in self.nodes[start:result + 1]:
            n.group = g
        return result

    def _node(self, i: int, fr: _Frame) -> int:
        """The node of syntax entry i, whose children are built (a call that runs a body is not one).
        The common entries are read from the syntax's columns, without a Syntax object."""
        syntax = fr.syntax
        kind, text = syntax.kind(i), syntax.texts[i]
        span = (syntax.starts[i], syntax.ends[i]) if syntax is self.syntax else fr.call_span
        if kind == "num":
            if len(text) > LONGEST_NUMBER:
                raise too_long(text).located(self.source, span)
            return self._add(Node(Kind.CONST, value=number_value(text), text=text, span=span))
        if kind == "name":
            meaning = self.names.lookup(text, fr.env, span)
            if isinstance(meaning, int):
                return meaning
            return self._add(Node(Kind.CONST, value=P.CONSTANTS[meaning], text=meaning, span=span))
        args = tuple(fr.results[c] for c in syntax.children(i))
        if kind == "op":
            return self._add(gate(text, args, span))
        s = syntax[i]
        if s.kind == "index":
            return self._add(gate("index", args, span))
        if s.kind == "array":
            return self._add(gate("stack", args, span))
        if s.kind == "attr":
            return self._add(gate(self.names.attribute(s, span), args, span))
        prim = self.names.primitive(s, len(args), span)
        for k in prim.constant_args:
            if self.dep[args[k]]:
                example = ", ".join(("0" if p == "axis" else "2") if m == k else p for m, p in enumerate(prim.params))
                raise self.names.error(
                    "value", f"the {prim.params[k]} of {s.text} must be a constant number",
                    (fr.syntax[s.children[k]].start, fr.syntax[s.children[k]].end)
                    if fr.syntax is self.syntax else span, f"write it as a number: {s.text}({example})")
        return self._add(gate(prim.name, args, span))


def cut(graph: Graph, inputs: Iterable[int], output: int) -> Graph:
    """The graph of node `output` as a function of the nodes `inputs`, each made an input named
    by its label (and of the graph's own inputs that `output` still reads by another way).

    cut(graph, [q], graph.output) differentiates the output with respect to q's value, every path
    from q to the output included: its gradient for q is d output / d q, the upstream gradient
    backprop gives q.  cut(graph, node.inputs, q) has q as its output and q's direct inputs as its
    inputs: its gradient is q's local gradient (its Jacobian), parallel edges (q = x * x) summed.
    Only the nodes the output needs are kept, renumbered in their order; grouped gates are not
    kept as groups.  Labels stay as the original graph shows them.  One pass each way; no recursion.
    """
    made = set(inputs)
    needed = [False] * (output + 1)
    needed[output] = True
    for i in range(output, -1, -1):
        if needed[i] and i not in made:
            for j in graph.nodes[i].inputs:
                needed[j] = True
    keep = [i for i in range(output + 1) if needed[i]]
    new = {old: k for k, old in enumerate(keep)}
    nodes = []
    for old in keep:
        node = graph.nodes[old]
        if old in made and old != output:
            nodes.append(Node(Kind.INPUT, name=graph.labels[old], span=node.span))
        else:
            nodes.append(Node(node.kind, node.prim, tuple(new[j] for j in node.inputs), node.name, node.value,
                              node.text, node.span))
    inputs_kept = [k for k, n in enumerate(nodes) if n.kind is Kind.INPUT]
    variables = [nodes[k].name or "" for k in inputs_kept]
    name = graph.output_name if output == graph.output else graph.labels[output]
    result = Graph(graph.program, graph.source, nodes, variables, inputs_kept, new[output], name,
                   f"{name}({', '.join(variables)})", functions=graph.functions)
    result.labels = [graph.labels[old] for old in keep]
    result.index_only = _index_only(result)
    return result


def _index_only(graph: Graph) -> list[str]:
    """Inputs that reach the output only as indices (a class label y): they get no gradient."""
    as_index = [False] * len(graph.nodes)
    as_value = [False] * len(graph.nodes)
    for node in graph.nodes:
        if node.prim is None:
            continue
        differentiable = node.prim.differentiable
        for k, j in enumerate(node.inputs):
            if differentiable(k):
                as_value[j] = True
            else:
                as_index[j] = True
    return [graph.nodes[i].name or "" for i in graph.inputs if as_index[i] and not as_value[i]]


def describe(graph: Graph, i: int) -> str:
    """What a node computes, written with its inputs' labels: "x + y", "exp(n1)", "sq(x)"."""
    node = graph.nodes[i]
    labels = graph.labels
    if node.prim is None:
        return labels[i]
    if node.group is not None and graph.groups[node.group].output == i:
        grp = graph.groups[node.group]
        return f"{grp.function}({', '.join(labels[a] for a in grp.args)})"
    return node.prim.write([labels[a] for a in node.inputs])  # the table says how
