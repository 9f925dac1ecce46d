"""Symbolic reverse mode: the backward pass written as new nodes of the graph.

`derive(graph)` walks the graph from the output back, as the engine's sweep does, but where the
sweep multiplies numbers, it builds nodes: for each gate and each input that carries a gradient,
the vector-Jacobian product from the table's `backward` rule (written in symgrad's own language:
g the upstream gradient, out the node, the inputs by their parameter names), instantiated with
the gate's own nodes.  A node that feeds several others gets the sum of its branches.  The result
is one list of nodes, the forward graph's followed by the backward pass's, in which the gradient
of the output with respect to every node is a node of its own, named as the lecture names it:
dq for q, dx for x.

This is what the lecture's staged backward pass is, and what the readable derivatives, the
generated code and the second derivatives are made from: the formulas it gives are in the
graph's own names (∂f/∂w0 = x0 * f * (1 - f) for the sigmoid neuron), independent of SymPy's
fully expanded derivative, which the checks compare with.  Nothing here recurses: the walk is a
loop over the nodes, and the rules are instantiated from their flat syntax in index order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from . import primitives as P
from .errors import SymgradError
from .graph import Graph, Kind, Node, gate, reach
from .parser import SyntaxList, number_value, parse, post_order


class NotDerivable(SymgradError):
    """A primitive whose backward rule the table does not give (yet): a tensor gate."""

    def __init__(self, prim: str) -> None:
        super().__init__("usage", f"symbolic reverse mode has no rule for {prim} yet",
                         hint="the numbers (table, checks) are not affected; only the derived formulas are")


@dataclass
class Derivation:
    """The forward graph with its backward pass appended.

    nodes: the forward graph's nodes (ids unchanged), then the backward pass's, in an order
    that evaluates (every node after its inputs); grads: forward node -> the node holding
    d output / d node (absent where no gradient reaches it); names: a name for every node (the
    forward graph's labels; d + label for a gradient; "" for the inner nodes of a rule)."""

    graph: Graph
    nodes: list[Node]
    grads: dict[int, int]
    names: list[str]
    # node -> what each consumer sends it (the branches that add up to its gradient), in the
    # order the backward pass meets them
    parts: dict[int, list[int]] = field(default_factory=dict)
    senders: dict[int, list[int]] = field(default_factory=dict)  # node -> the consumer that sent each part
    seed: int = -1  # the node of d output / d output: the constant 1, or an input (upstream=True)
    shapes: list[tuple[int, ...]] = field(default_factory=list)  # every node's core shape
    dep: list[bool] = field(default_factory=list)  # forward nodes: does the value depend on an input?

    def gradient(self, variable: str) -> int | None:
        """The node of d output / d variable (an input's name); None where no gradient reaches it."""
        return self.grads.get(self.graph.inputs[self.graph.variables.index(variable)])


@cache
def _rule(text: str) -> tuple[SyntaxList, range]:
    """A backward rule's flat syntax, parsed once by the grammar, with its entries in post order."""
    program = parse(text, "backward rule", start="value")
    root = len(program.syntax) - 1
    return program.syntax, post_order(program.syntax, root)


class _Builder:
    """The derivation's nodes as they are made, with each node's core shape (for the identities
    that depend on it)."""

    def __init__(self, graph: Graph, shapes: list[tuple[int, ...]], *, shaped: bool = True) -> None:
        self.shaped = shaped  # are the shapes known? (not for a gate class's generic rules)
        self.graph = graph
        self.nodes = list(graph.nodes)
        self.names = list(graph.labels)
        self.shapes = list(shapes)
        self.constants: dict[float, int] = {}

    def add(self, node: Node, shape: tuple[int, ...], name: str = "") -> int:
        self.nodes.append(node)
        self.names.append(name)
        self.shapes.append(shape)
        return len(self.nodes) - 1

    def constant(self, value: float, text: str) -> int:
        if value not in self.constants:
            self.constants[value] = self.add(Node(Kind.CONST, value=value, text=text), (), text)
        return self.constants[value]

    def is_constant(self, i: int, value: float) -> bool:
        node = self.nodes[i]
        return node.kind is Kind.CONST and node.value == value

    def is_ones_like(self, i: int) -> bool:
        """Is node i ones_like(something), perhaps under a second name (an identity)?"""
        node = self.nodes[i]
        while node.prim is not None and node.prim.name == "id":
            node = self.nodes[node.inputs[0]]
        return node.prim is not None and node.prim.name == "ones_like"

    def _ones_like(self, i: int, shape: tuple[int, ...]) -> bool:
        """Is node i ones_like(something) of a shape that `shape` already has (broadcasting)?"""
        return self.is_ones_like(i) and _broadcast(shape, self.shapes[i]) == shape

    def gate(self, name: str, args: tuple[int, ...]) -> int:
        """A new gate, with the obvious identities applied: 1 * a, a * 1 and a / 1 are a, and so
        is a * ones_like(b) where a already has b's shape."""
        if name == "mul":
            for one, other in ((args[0], args[1]), (args[1], args[0])):
                if self.is_constant(one, 1.0) and _broadcast(self.shapes[other], ()) == self.shapes[other]:
                    return other
                if self.shaped and self._ones_like(one, self.shapes[other]):
                    return other
        if name in ("div", "pow") and self.is_constant(args[1], 1.0):
            return args[0]
        prim = P.PRIMITIVES[name]
        if prim.elementwise and name != "ones_like" and all(self.nodes[j].kind is Kind.CONST for j in args):
            # numbers alone: their value (2 - 1 is 1), as the lecture writes b * a^(b - 1) for b = 2
            value = float(np.asarray(prim.forward(*(np.full(1, self.nodes[j].value) for j in args)))[0])
            if np.isfinite(value):
                return self.constant(value, f"{value:.17g}")
        return self.add(gate(name, args, None), self._shape(name, args))

    def _shape(self, name: str, args: tuple[int, ...]) -> tuple[int, ...]:
        """The core shape of a new gate's value: broadcast for elementwise gates, else what the
        gate's forward makes of zeros of its inputs' shapes (constants as themselves)."""
        prim = P.PRIMITIVES[name]
        shapes = [self.shapes[j] for j in args]
        if not self.shaped:
            return ()
        if prim.elementwise:
            return _broadcast(*shapes)
        if all(s == () for s in shapes) and name not in ("stack", "arange", "onehot"):
            return ()
        probe = [np.full((1, *self.shapes[j]), self.nodes[j].value or 0.0) for j in args]
        return tuple(np.asarray(prim.forward(*probe)).shape[1:])

    def instantiate(self, text: str, env: dict[str, int]) -> int:
        """The rule's expression built from the nodes named in env; returns its root node."""
        syntax, order = _rule(text)
        made: dict[int, int] = {}
        for k in order:
            s = syntax[k]
            args = tuple(made[c] for c in s.children)
            if s.kind == "num":
                made[k] = self.constant(number_value(s.text), s.text)
            elif s.kind == "name":
                made[k] = env[s.text] if s.text in env else self.constant(P.CONSTANTS[s.text], s.text)
            elif s.kind == "op":
                made[k] = self.gate(s.text, args)
            elif s.kind == "call":
                prim = P.function(s.text, len(args))
                assert prim is not None, f"backward rule {text!r}: no function {s.text}"
                made[k] = self.gate(prim.name, args)
            elif s.kind == "attr":
                made[k] = self.gate("transpose", args)
            elif s.kind == "index":
                made[k] = self.gate("index", args)
            elif s.kind == "array":
                made[k] = self.gate("stack", args)
            else:
                raise AssertionError(f"backward rule {text!r}: {s.kind} is not used in rules")
        return made[order[-1]]


def derive(graph: Graph, shapes: list[tuple[int, ...]] | None = None, *, upstream: bool = False) -> Derivation:
    """The backward pass of `graph` as nodes (see the module's docstring), seeded with 1 at the
    output (for a vector or matrix output, ones: the gradient of the sum of its elements).
    `shapes`: each node's core shape at the point (Trace: core(values[i])), which tensor
    gates' rules depend on; None for a graph of scalars.  Raises NotDerivable for a gate whose rule
    the table does not give for its inputs' shapes.  With `upstream`, the gradient arriving at the
    output is an input of the backward pass (named d + the output's label) rather than 1: for a
    vector output, or code that takes it as an argument."""
    nodes = graph.nodes
    b = _Builder(graph, shapes if shapes is not None else [()] * len(nodes))
    shape = b.shapes.__getitem__
    out_shape = b.shapes[graph.output]
    if upstream:
        seed = b.add(Node(Kind.INPUT, name=f"d{graph.output_name}"), out_shape, f"d{graph.output_name}")
    elif out_shape != ():  # ones shaped like the output: the gradient of the sum of its elements
        seed = b.gate("ones_like", (graph.output,))
    else:
        seed = b.constant(1.0, "1")
    received: dict[int, list[int]] = {graph.output: [seed]}
    sent_by: dict[int, list[int]] = {graph.output: [-1]}
    numbers = numbers_of(nodes)
    grads: dict[int, int] = {}
    all_parts: dict[int, list[int]] = {}
    taken: set[int] = set()
    for i in range(graph.output, -1, -1):
        parts = received.pop(i, None)
        if parts is None:
            continue
        total = parts[0]
        for part in parts[1:]:
            total = b.gate("add", (total, part))
        label = graph.labels[i] or f"n#{i}"
        all_parts[i] = parts
        if i != graph.output and (total < len(nodes) or total == seed or total in taken):
            # another node's gradient, the seed or a forward node: this gradient gets a node of its
            # own (an identity), so that it has its own name (dq = dn4 after an add)
            total = b.add(gate("id", (total,), None), b.shapes[total])
        if b.nodes[total].kind is not Kind.CONST:
            b.names[total] = f"d{label}"
        taken.add(total)
        grads[i] = total
        node = nodes[i]
        if node.prim is None:
            continue
        prim = node.prim
        env = {"g": total, "out": i}
        env.update({prim.param(k): j for k, j in enumerate(node.inputs)})
        rules = prim.backward_rules(operands(nodes, i, b.shapes, numbers))
        for k, j in enumerate(node.inputs):
            if not prim.differentiable(k) or nodes[j].kind is Kind.CONST:
                continue
            if k >= len(rules) or not rules[k]:
                raise NotDerivable(prim.called_as)
            part = b.instantiate(rules[k], env)
            if prim.elementwise and b.is_ones_like(total) and b.shapes[total] == shape(i):
                # g is ones spread over this gate's shape: where the rule keeps the shape without
                # it (2 * q rather than 2 * q * ones_like(q)), write it so
                plain = b.instantiate(rules[k], {**env, "g": b.constant(1.0, "1")})
                part = plain if b.shapes[plain] == shape(i) else part
            if prim.elementwise:
                part = _unbroadcast(b, part, shape(j), shape(i), prim.called_as)
            received.setdefault(j, []).append(part)
            sent_by.setdefault(j, []).append(i)
    dep = reach(nodes, graph.inputs, every_edge=True)
    return Derivation(graph, b.nodes, grads, b.names, all_parts, sent_by, seed, b.shapes, dep)


def operands(nodes: list[Node], i: int, shapes: list[tuple[int, ...]],
             numbers: list[Any] | None = None) -> P.Operands:
    """What gate i's backward rules depend on: its inputs' shapes, values where they are numbers
    (numbers_of), and operations."""
    inputs = nodes[i].inputs
    known = numbers if numbers is not None else numbers_of(nodes)
    return P.Operands(tuple(shapes[j] for j in inputs), tuple(known[j] for j in inputs),
                      tuple(nodes[j].op for j in inputs))


def numbers_of(nodes: list[Node]) -> list[Any]:
    """Each node's value where it is a number the program writes without any input: 2, -1 (the
    negation of 1), 3 - 4 (an index written so), or a list of them ([-1, 0] as a tuple); None
    elsewhere.  One pass over the nodes."""
    known: list[Any] = []
    for node in nodes:
        value: Any = None
        if node.kind is Kind.CONST:
            value = node.value
        elif node.prim is not None and node.prim.name == "stack" and \
                all(isinstance(known[j], float) for j in node.inputs):
            value = tuple(known[j] for j in node.inputs)
        elif node.prim is not None and node.prim.elementwise and node.inputs and \
                all(isinstance(known[j], float) for j in node.inputs):
            with np.errstate(all="ignore"):
                out = float(np.asarray(node.prim.forward(*(np.full(1, known[j]) for j in node.inputs)))[0])
            value = out if np.isfinite(out) else None
        known.append(value)
    return known


def _broadcast(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(np.broadcast_shapes(*shapes))


def _unbroadcast(b: _Builder, part: int, to: tuple[int, ...], frm: tuple[int, ...], gate_name: str) -> int:
    """An elementwise gate's gradient for an input it broadcast: summed over the axes broadcasting
    added (a scalar input gets the sum of all, a vector added to each row of a matrix the sum down
    the rows), as the engine does."""
    if to == frm:
        return part
    if to == ():
        return b.gate("sum", (part,))
    if len(to) < len(frm) and frm[len(frm) - len(to):] == to:
        for _ in range(len(frm) - len(to)):
            part = b.gate("sum_axis", (part, b.constant(0.0, "0")))
        return part
    raise NotDerivable(f"{gate_name} broadcasting {to} to {frm}")


# ---- the derivatives as formulas ------------------------------------------------------------

# SymPy's own functions for the primitives it knows by the same name; the others stay unevaluated
# functions that print by symgrad's name (sigmoid(x), step(x), relu(x)), as the tables write them.
_SYMPY_NAMES = {"exp": "exp", "log": "log", "sqrt": "sqrt", "sin": "sin", "cos": "cos", "tan": "tan",
                "asin": "asin", "acos": "acos", "atan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh"}
_BILINEAR = ("matmul", "outer", "dot")
LARGEST_FORMULA = 400  # operations: a derivative longer than this is not shown as one formula
LONGEST_FORMULA = 240  # characters: nor one longer than this (symgrad codegen writes it stage by stage)


def to_sympy(d: Derivation, root: int) -> object:
    """Node `root` of the derivation as a SymPy expression whose symbols are the forward graph's
    labels: the backward nodes are written out, the forward nodes are named.  A loop over the
    nodes in order, not a recursion."""
    import sympy as sp

    forward = len(d.graph.nodes)

    def named(i: int) -> bool:  # a forward node the tables show: it stays a symbol
        return i < forward and bool(d.names[i]) and d.graph.visible(i)

    need = {root}
    for i in range(root, -1, -1):  # what root reads, down to named nodes (a grouped gate's inner ones are written out)
        if i in need and not named(i):
            need.update(d.nodes[i].inputs)
    made: dict[int, object] = {}
    for i in sorted(need):
        node = d.nodes[i]
        if node.kind is Kind.CONST:
            v = node.value if node.value is not None else 0.0
            made[i] = sp.Integer(int(v)) if v == int(v) else (sp.pi if node.text == "pi" else sp.E if node.text == "e"
                                                              else sp.nsimplify(v, rational=False))
        elif named(i) or node.kind is Kind.INPUT:
            made[i] = sp.Symbol(d.names[i])
        else:
            assert node.prim is not None
            args = [made[j] for j in node.inputs]
            made[i] = _apply(sp, node.prim, args)
    return made[root]


def _apply(sp: object, prim: P.Primitive, args: list[object]) -> object:
    import sympy

    a = args
    name = prim.name
    if name == "add":
        return a[0] + a[1]  # type: ignore[operator]
    if name == "sub":
        return a[0] - a[1]  # type: ignore[operator]
    if name == "mul":
        return a[0] * a[1]  # type: ignore[operator]
    if name == "div":
        return a[0] / a[1]  # type: ignore[operator]
    if name == "neg":
        return -a[0]  # type: ignore[operator]
    if name == "pow":
        return sympy.Pow(a[0], a[1])
    if name == "id" or (name in ("index", "transpose") and getattr(a[0], "is_Number", False)):
        return a[0]  # an element, or the transpose, of a number (an array of it) is that number
    zero = [getattr(x, "is_zero", False) is True for x in a]
    if (name in ("sum", "sum_axis", "mean", "mean_axis") and zero[0]) or (name in _BILINEAR and any(zero)):
        return sympy.Integer(0)  # zeros summed, or multiplied: zero (SymPy's 0 stands for zeros of any shape)
    if name in _SYMPY_NAMES:
        return getattr(sympy, _SYMPY_NAMES[name])(*a)
    return sympy.Function(prim.called_as)(*a)


def selections(d: Derivation, expr: Any) -> Any:
    """What onehot selects, written so: p * onehot(y, C) is p[y] * onehot(y, C) for a vector p of
    C elements, and sum(c * onehot(y, C)) is c for a number c; p[y] by its label where the graph
    has that node (n1 = p[y]).  So the softmax loss's gradient comes out as (p - onehot(y, C)), the
    lecture's form.  A few passes, each a walk over the (bounded) formula."""
    import sympy as sp

    graph = d.graph
    shape = {graph.labels[i]: d.shapes[i] for i in range(len(graph.nodes)) if graph.labels[i] and d.shapes}
    picked = {(graph.labels[n.inputs[0]], graph.labels[n.inputs[1]]): graph.labels[i]
              for i, n in enumerate(graph.nodes)
              if n.prim is not None and n.prim.name == "index" and len(n.inputs) == 2 and graph.labels[i]}

    def onehot_of(factor: Any) -> Any:
        if factor.is_Function and factor.func.__name__ == "onehot" and len(factor.args) == 2:
            y = factor.args[0]
            return y if y.is_Symbol and shape.get(str(y)) == () else None
        return None

    def select(m: Any) -> Any:
        factors = m.args
        ys = [onehot_of(f) for f in factors if onehot_of(f) is not None]
        if len(ys) != 1:
            return m
        y = ys[0]
        out = []
        for f in factors:
            if f.is_Symbol and len(shape.get(str(f), ())) == 1 and onehot_of(f) is None:
                name = picked.get((str(f), str(y)))
                out.append(sp.Symbol(name) if name else sp.Function("index")(f, y))
            else:
                out.append(f)
        return sp.Mul(*out)

    def scalar(f: Any) -> bool:
        return f.is_Number or (f.is_Symbol and shape.get(str(f)) == ()) or \
            (f.is_Pow and scalar(f.base) and scalar(f.exp))

    def summed(call: Any) -> Any:
        (arg,) = call.args
        factors = arg.args if arg.is_Mul else (arg,)
        onehots = [f for f in factors if onehot_of(f) is not None]
        if len(onehots) == 1 and all(scalar(f) for f in factors if f is not onehots[0]):
            return sp.Mul(*(f for f in factors if f is not onehots[0]))  # sum(onehot(y, C)) is 1
        return call

    if not expr.has(sp.Function("onehot")):
        return expr
    for _ in range(3):
        before = expr
        expr = sp.expand(expr)  # products over sums, so that each onehot meets what it multiplies
        expr = expr.replace(lambda e: e.is_Mul, select)
        expr = expr.replace(lambda e: e.is_Function and e.func.__name__ == "sum" and len(e.args) == 1, summed)
        if expr == before:
            break
    return expr


def written(expr: object, e_is_a_name: bool = False) -> str:
    """A SymPy expression in symgrad's own language: ^ for powers, e and pi, a @ b, W.T and s[i] for
    the matrix product, the transpose and indexing, other functions by the names the grammar
    reads; it parses back through the grammar to the same value."""
    printer = _Printer({"order": "none"})
    printer.e_is_a_name = e_is_a_name  # a variable called e: Euler's number is written exp(1)
    return str(printer.doprint(expr)).replace("**", "^")


def _printer() -> type:
    from sympy.printing.precedence import PRECEDENCE
    from sympy.printing.str import StrPrinter

    product = PRECEDENCE["Mul"]

    class Printer(StrPrinter):  # type: ignore[misc]
        e_is_a_name = False

        def _print_Exp1(self, expr: object) -> str:
            return "exp(1)" if self.e_is_a_name else "e"

        def _print_Pi(self, expr: object) -> str:
            return "pi"

        def parenthesize(self, item: Any, level: int, strict: bool = False) -> str:
            # a @ b binds as * does: inside a product or a power it needs parentheses as a product would
            if item.is_Function and item.func.__name__ == "matmul":
                text = str(self._print(item))
                return f"({text})" if product < level or (not strict and product <= level) else text
            return str(super().parenthesize(item, level, strict))

        def _atom(self, a: Any) -> str:
            text = str(self._print(a))
            # symbols, numbers, calls, W.T and s[i] need no parentheses; a @ b and sums do
            plain = a.is_Symbol or (a.is_Number and a >= 0)
            plain = plain or (a.is_Function and a.func.__name__ != "matmul")
            return text if plain else f"({text})"

        def _print_Function(self, expr: Any) -> str:
            name, args = expr.func.__name__, expr.args
            if name == "matmul":
                # left-associative, as * is: a parenthesized product on the right only
                return f"{self.parenthesize(args[0], product, strict=True)} @ {self.parenthesize(args[1], product)}"
            if name in ("transpose", "index") and args[0].is_Number:  # a number: 0.T and 0[1] are 0
                return str(self._print(args[0]))
            if name == "transpose":
                return f"{self._atom(args[0])}.T"
            if name == "index":
                return f"{self._atom(args[0])}[{', '.join(str(self._print(a)) for a in args[1:])}]"
            if name == "stack":
                return f"[{', '.join(str(self._print(a)) for a in args)}]"
            return str(super()._print_Function(expr))

    return Printer


_Printer = _printer()


def formula(d: Derivation, variable: str) -> str | None:
    """d output / d variable as one formula in the graph's names, tidied by SymPy; "0" where no
    gradient reaches the variable, None where the formula would be longer than LARGEST_FORMULA."""
    import sympy as sp

    node = d.gradient(variable)
    if node is None:
        return "0"
    expr = to_sympy(d, node)
    if sp.count_ops(expr) > LARGEST_FORMULA:
        return None
    return written(sp.factor_terms(selections(d, expr)), "e" in d.graph.labels)


def formulas(graph: Graph, shapes: list[tuple[int, ...]] | None, variables: list[str],
             latex: bool = False) -> dict[str, tuple[str, str]]:
    """Each variable's derivative (d output / d variable) in the graph's own names, with its LaTeX
    when asked: {variable: (text, latex)}.  Empty where symbolic reverse mode has no rule for a
    gate; a variable whose formula would be longer than LARGEST_FORMULA operations or
    LONGEST_FORMULA characters is left out."""
    import sympy as sp

    try:
        d = derive(graph, shapes)
    except NotDerivable:
        return {}
    found: dict[str, tuple[str, str]] = {}
    for v in variables:
        node = d.gradient(v)
        if node is None:
            found[v] = ("0", "0")
            continue
        expr = to_sympy(d, node)
        if sp.count_ops(expr) > LARGEST_FORMULA:
            continue
        tidy = sp.factor_terms(selections(d, expr))
        text = written(tidy, "e" in graph.labels)
        if len(text) <= LONGEST_FORMULA:
            found[v] = (text, _latex(tidy) if latex else "")
    return found


def _latex(expr: object) -> str:
    """The derivative as LaTeX, matrices as mathematicians write them: a b^\\top for outer(a, b),
    juxtaposition for a @ b, W^\\top, \\mathbf{1} for ones."""
    from sympy.printing.latex import LatexPrinter

    class Printer(LatexPrinter):  # type: ignore[misc]
        def _print_Function(self, expr: Any, exp: Any = None) -> str:
            name, args = expr.func.__name__, [self._print(a) for a in expr.args]
            wrapped = [rf"\left({a}\right)" if e.is_Add else a for a, e in zip(args, expr.args)]
            if name == "outer":
                return rf"{wrapped[0]} {wrapped[1]}^\top"
            if name == "matmul":
                return rf"{wrapped[0]} {wrapped[1]}"
            if name == "transpose":
                return rf"{wrapped[0]}^\top"
            if name == "index":
                return rf"{wrapped[0]}_{{{', '.join(args[1:])}}}"
            if name == "ones_like":
                return r"\mathbf{1}"
            if name == "onehot":
                return rf"\mathbb{{1}}_{{{args[0]}}}"
            return str(super()._print_Function(expr, exp))

    return str(Printer().doprint(expr))
