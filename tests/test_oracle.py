"""An independent oracle: symgrad against JAX on random programs.

A small seeded generator (random.Random, so the same programs on every run) builds random expression
trees over symgrad's primitives. From each tree it writes two things: the program in symgrad's language
and the same computation as a Python function over `jax.numpy`, through this file's own mapping from
each primitive to JAX (`_JAX_UNARY`, `_JAX_BINARY` and `apply` below). Neither is made from the other:
symgrad's text is never evaluated as Python, and nothing here calls symgrad's table of primitives to
compute the reference. JAX runs on the CPU in float64 (`jax_enable_x64`); one `jax.vjp` gives the value
and the gradient (upstream 1) or, for a vector or matrix output, the vector-Jacobian product with a
random upstream gradient. symgrad must match: its value and gradient; for an array output both its
Jacobian (shaped output + input) contracted with that upstream gradient and its backward pass run
from it (`evaluate(graph, at, upstream=u)`). Each number must agree to a relative 1e-9, or to 1e-9
times the largest number of its array (at least 1) where it is the small result of a cancellation.

What the programs use: + - * / ^ (also `**`, `pow(a, b)`, `x²`, `x³`), unary minus and plus, every
function of one argument in the table (exp, log and `ln`, log2, log10, sqrt, sin, cos, tan, asin, acos,
atan, log1p, sinh, cosh, tanh, sigmoid and `σ`, softplus, relu, abs, sign, step), atan2, max and min
of two, the constants pi and e; and on vectors and matrices: @ (matrix by matrix, matrix by vector,
vector by vector), `.T` and `transpose`, sum and mean (of all, and along an axis, also negative), dot,
norm, max and min of one array, logsumexp and softmax (over the last axis), indexing (`s[i]`, `W[i, j]`,
`W[i]`, negative indices, index variables), gathers (`v[ys]`, `S[ys]`, `S[arange(N), ys]` with label
variables or written lists, repeated indices included), arange, onehot, arrays written `[a, b]`, and
elementwise operations broadcasting a scalar or a row against a matrix. Also: named intermediates
(`q1 = ...`, used several times: fan-out, and `id` where one is just a name), functions of the
program's own (`h(p, q) = ...`, called on scalars and arrays), headers (`f(x, y) = ...`, sometimes with
a parameter nothing uses, whose gradient is 0) or none. Scalar programs have scalar inputs only (arrays
come from `[a, b]`); tensor programs have vectors of length 2 to 4 and matrices of those sizes. Every
fifth program is also compared with `expand=True`. Not generated: logsumexp and softmax of a scalar.

Kinks. Where a gate is not differentiable, the two libraries may choose different subgradients:

- relu'(0) = 0 in both; sign' = step' = 0 everywhere in both;
- a tie at max(a, b) or min(a, b) sends half the gradient to each input in both, and tied largest
  (smallest) elements of max(x) (min(x)) share it equally in both;
- abs'(0) is 0 in symgrad (as PyTorch) but 1 in JAX;
- norm(x) at x = 0: symgrad takes the gradient as 0; sqrt(sum(x^2)) in JAX gives nan;
- atan2(y, x) jumps by 2π across the negative x axis.

The points are random, so they are almost surely on no kink; so that rounding cannot put one there
either, a program is redrawn (the next attempt of its seed) where the argument of a kinked gate is
within 1e-6 of its kink: relu, abs, sign and step within 1e-6 of 0, the two inputs of max or min within
1e-6 of each other, the two largest (smallest) elements of max(x) (min(x)) within 1e-6, a norm below
1e-6, atan2 within 1e-6 of the negative x axis or of the origin. Domains are kept by construction: log,
log2, log10, sqrt and log1p take positive expressions (1 + a^2, exp(a), sigmoid(a), softmax(v), ...),
a divisor is positive, a^b with a real exponent has a positive base, asin and acos take 0.9 times a
tanh, sin, cos or sigmoid, and tan a number in [-1, 1]. A program is also redrawn where JAX finds a
value of any node, or a gradient, above 1e6 or not finite (exp of exp, sinh of a large number):
comparing rounding noise tells nothing. `test_programs_are_rarely_redrawn` keeps redrawing rare;
`test_every_primitive_is_covered` checks, on the graphs symgrad builds from the generated text, that
every primitive in symgrad's table is exercised; `test_the_oracle_catches_a_wrong_rule` breaks a rule
in the table on purpose and expects the comparison to fail.

Speed: JAX compiles each operation once per shape on first use; the programs' shapes are few, so most
of that is paid by the first programs. The seeds past SCALAR_PROGRAMS and TENSOR_PROGRAMS are marked
slow.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from support import close, sin_with_wrong_sign, trace_of

import symgrad
from symgrad import primitives as P
from symgrad.engine import core

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
jax_logsumexp = pytest.importorskip("jax.scipy.special").logsumexp

Shape = tuple[int, ...]

RTOL = 1e-9
KINK = 1e-6  # a point this close to a kink is redrawn
LIMIT = 1e6  # a point where a value or a gradient is larger is redrawn
ATTEMPTS = 60

SCALAR_PROGRAMS = 60  # in the everyday run (-m "not slow"); CI runs every seed below the SLOW_ counts
TENSOR_PROGRAMS = 30
COVERED_SCALAR = 200  # the programs the coverage and variety tests (slow) count over
COVERED_TENSOR = 100
SLOW_SCALAR_PROGRAMS = 1000  # seeds up to these are marked slow
SLOW_TENSOR_PROGRAMS = 400


# ---- the mapping: each primitive as JAX computes it ------------------------------------------------


def _step(x: Any) -> Any:
    return jnp.where(x > 0, 1.0, 0.0)


def _norm(a: Any) -> Any:
    return jnp.sqrt(jnp.sum(a * a))


_JAX_UNARY: dict[str, Callable[[Any], Any]] = {
    "neg": jnp.negative,
    "exp": jnp.exp,
    "log": jnp.log,
    "log2": jnp.log2,
    "log10": jnp.log10,
    "sqrt": jnp.sqrt,
    "sin": jnp.sin,
    "cos": jnp.cos,
    "tan": jnp.tan,
    "asin": jnp.arcsin,
    "acos": jnp.arccos,
    "atan": jnp.arctan,
    "log1p": jnp.log1p,
    "sinh": jnp.sinh,
    "cosh": jnp.cosh,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "softplus": jax.nn.softplus,
    "relu": jax.nn.relu,
    "abs": jnp.abs,
    "sign": jnp.sign,
    "step": _step,
    "transpose": lambda a: a.T,
    "sum": jnp.sum,
    "mean": jnp.mean,
    "norm": _norm,
    "amax": jnp.max,
    "amin": jnp.min,
    "logsumexp": lambda a: jax_logsumexp(a, axis=-1),
    "softmax": lambda a: jax.nn.softmax(a, axis=-1),
    "ones_like": jnp.ones_like,
}

_JAX_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": jnp.add,
    "sub": jnp.subtract,
    "mul": jnp.multiply,
    "div": jnp.divide,
    "pow": jnp.power,  # a whole constant exponent is a ** k instead (exact for negative a)
    "atan2": jnp.arctan2,
    "max": jnp.maximum,
    "min": jnp.minimum,
    "matmul": jnp.matmul,
    "dot": lambda a, b: jnp.sum(a * b),
    "outer": jnp.outer,
}

# The table's other entries, computed in `apply`: sum and mean along an axis, indexing and gathers,
# arrays written [a, b], arange, onehot; and id, which symgrad makes where a name stands for a node.
OTHERS = {"sum_axis", "mean_axis", "index", "stack", "arange", "onehot", "id"}

ELEMENTWISE_UNARY = [
    "neg", "exp", "sin", "cos", "atan", "sinh", "cosh", "tanh", "sigmoid", "softplus", "relu", "abs", "sign",
    "step", "log", "log2", "log10", "sqrt", "log1p", "tan", "asin", "acos",
]


# ---- expression trees ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """One operation: a primitive's name ("add", "index", ...) or "var" (an input or a function's
    parameter), "ref" (a named intermediate), "const", "call" (a function of the program's), "pos"
    (unary plus). `data` is what the operation needs besides its arguments: the name, the constant's
    (text, value), the indices, the axis, or the spelling."""

    op: str
    args: tuple[Node, ...] = ()
    shape: Shape = ()
    data: Any = None


SUM, PRODUCT, UNARY, POWER, ATOM = 1, 2, 3, 4, 5  # how tightly each form binds, as in the grammar


def write(n: Node) -> tuple[str, int]:
    """The node in symgrad's language, and how tightly the text binds (parentheses go where needed)."""
    op, a = n.op, n.args
    if op in ("var", "ref"):
        return n.data, ATOM
    if op == "const":
        return n.data[0], ATOM
    if op in ("add", "sub"):
        return f"{wrap(a[0], SUM)} {'+' if op == 'add' else '-'} {wrap(a[1], PRODUCT)}", SUM
    if op in ("mul", "div", "matmul"):
        symbol = {"mul": "*", "div": "/", "matmul": "@"}[op]
        return f"{wrap(a[0], PRODUCT)} {symbol} {wrap(a[1], UNARY)}", PRODUCT
    if op in ("neg", "pos"):
        inner = wrap(a[0], UNARY)
        return ("-" if op == "neg" else "+") + inner, UNARY
    if op == "pow":
        if n.data == "pow":
            return f"pow({write(a[0])[0]}, {write(a[1])[0]})", ATOM
        if n.data == "superscript":
            return f"{wrap(a[0], ATOM)}{'²' if a[1].data[1] == 2 else '³'}", POWER
        return f"{wrap(a[0], ATOM)}{n.data}{wrap(a[1], UNARY)}", POWER
    if op == "transpose" and n.data == ".T":
        return f"{wrap(a[0], ATOM)}.T", ATOM
    if op == "index":
        rest = ", ".join(index_text(i) for i in n.data)
        return f"{wrap(a[0], ATOM)}[{rest}]", ATOM
    if op == "stack":
        return "[" + ", ".join(write(x)[0] for x in a) + "]", ATOM
    args = [write(x)[0] for x in a]
    if op in ("sum_axis", "mean_axis"):
        args.append(str(n.data))
    if op == "arange":
        args = [str(n.data)]
    if op == "onehot":
        args = [index_text(n.data[0]), str(n.data[1])]
    name = {"sum_axis": "sum", "mean_axis": "mean", "amax": "max", "amin": "min", "call": n.data}.get(op, op)
    if op in ("log", "sigmoid", "transpose") and n.data is not None:
        name = n.data  # ln, σ, transpose
    return f"{name}({', '.join(args)})", ATOM


def wrap(n: Node, tightness: int) -> str:
    text, binds = write(n)
    return text if binds >= tightness else f"({text})"


def _gap(a: Any, largest: bool) -> float:
    """How far the largest (smallest) element of a is from the next one: 0 at a tie."""
    flat = np.sort(np.asarray(a, dtype=float).reshape(-1))
    if flat.size < 2:
        return math.inf
    return float(flat[-1] - flat[-2]) if largest else float(flat[1] - flat[0])


KINKED = {"relu", "abs", "sign", "step", "max", "min", "amax", "amin", "norm", "atan2"}


def _kink_distance(op: str, args: list[Any]) -> float:
    """How far the arguments of a kinked gate are from its kink."""
    concrete = [np.asarray(x, dtype=float) for x in args]
    if op in ("relu", "abs", "sign", "step"):
        return float(np.min(np.abs(concrete[0])))
    if op in ("max", "min"):
        return float(np.min(np.abs(concrete[0] - concrete[1])))
    if op in ("amax", "amin"):
        return _gap(concrete[0], op == "amax")
    if op == "norm":
        return float(np.sqrt(np.sum(concrete[0] ** 2)))
    if op == "atan2":
        y, x = np.broadcast_arrays(*concrete)
        axis = np.where(x < 0, np.abs(y), np.inf)
        return float(min(np.min(axis), np.min(np.hypot(y, x))))
    return math.inf


@dataclass
class Seen:
    """What one run of a program's JAX function met besides its output: the kinked gates (their names
    and arguments) and the value of every node."""

    ops: list[str] = field(default_factory=list)
    kink_args: list[list[Any]] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)


def index_value(item: Any, env: dict[str, Any]) -> Any:
    """One index as JAX takes it: a whole number, an index or label variable, a list of whole
    numbers, or arange(n)."""
    if isinstance(item, int):
        return item
    if isinstance(item, str):
        return env[item]
    kind, data = item
    return np.array(data) if kind == "list" else np.arange(data)


def index_text(item: Any) -> str:
    if isinstance(item, int | str):
        return str(item)
    kind, data = item
    return "[" + ", ".join(map(str, data)) + "]" if kind == "list" else f"arange({data})"


def run(n: Node, env: dict[str, Any], functions: dict[str, tuple[tuple[str, ...], Node]], seen: Seen) -> Any:
    """The node computed with JAX; what it meets on the way goes into `seen`."""
    op = n.op
    if op in ("var", "ref"):
        return env[n.data]
    if op == "const":
        return np.float64(n.data[1])  # not a Python float: JAX keeps every value a strong float64
    args = [run(a, env, functions, seen) for a in n.args]
    if op in KINKED:
        seen.ops.append(op)
        seen.kink_args.append(args)
    out = apply(n, args, env, functions, seen)
    seen.values.append(out)
    return out


def apply(n: Node, args: list[Any], env: dict[str, Any], functions: dict[str, tuple[tuple[str, ...], Node]],
          seen: Seen) -> Any:
    op = n.op
    if op == "pos":
        return args[0]
    if op == "call":
        params, body = functions[n.data]
        return run(body, dict(zip(params, args)), functions, seen)
    if op == "pow" and n.args[1].op == "const" and float(n.args[1].data[1]).is_integer():
        return args[0] ** int(n.args[1].data[1])
    if op in ("sum_axis", "mean_axis"):
        return (jnp.sum if op == "sum_axis" else jnp.mean)(args[0], axis=n.data)
    if op == "index":
        return args[0][tuple(index_value(i, env) for i in n.data)]
    if op == "arange":
        return jnp.arange(n.data, dtype=jnp.float64)
    if op == "onehot":
        labels, classes = n.data
        return jax.nn.one_hot(index_value(labels, env), classes, dtype=jnp.float64)
    if op == "stack":
        return jnp.stack([jnp.asarray(x, dtype=jnp.float64) for x in args])
    if op in _JAX_UNARY:
        return _JAX_UNARY[op](*args)
    return _JAX_BINARY[op](*args)


def primitives_of(n: Node) -> set[str]:
    """The primitives the tree uses (by the table's names)."""
    found = {n.op} if n.op in P.PRIMITIVES else set()
    for a in n.args:
        found |= primitives_of(a)
    return found


def calls_of(n: Node) -> set[str]:
    """The program's functions the tree calls."""
    found = {n.data} if n.op == "call" else set()
    for a in n.args:
        found |= calls_of(a)
    return found


def variables_of(n: Node) -> set[str]:
    found = {n.data} if n.op == "var" else set()
    for a in n.args:
        found |= variables_of(a)
    return found


# ---- the generator --------------------------------------------------------------------------------

SCALAR_NAMES = ["x", "y", "z", "w", "t"]
VECTOR_NAMES = ["u", "v", "s", "r", "b"]
MATRIX_NAMES = ["W", "V", "A", "M"]
INDEX_NAMES = ["k", "j"]
LABEL_NAMES = ["ys", "cs"]
NICE_CONSTANTS = [("2", 2.0), ("3", 3.0), ("0.5", 0.5), ("1.5", 1.5), ("pi", math.pi), ("e", math.e),
                  ("2.5e-1", 0.25), ("1e0", 1.0), (".75", 0.75)]


@dataclass
class Program:
    text: str
    variables: dict[str, Shape]  # the inputs that carry a gradient, in the order JAX takes them
    indices: dict[str, int | list[int]]  # inputs used only as indices or labels
    point: dict[str, Any]
    statements: list[tuple[str, Node]]  # named intermediates, in order
    output: Node
    functions: dict[str, tuple[tuple[str, ...], Node]] = field(default_factory=dict)

    def jax_function(self, ops: list[str]) -> Callable[..., Any]:
        """The program as a function of its inputs (in the order of `variables`) to its output and, as
        auxiliary data, the arguments of its kinked gates (whose names it appends to `ops`) and the
        value of every node."""

        def f(*args: Any) -> tuple[Any, tuple[list[list[Any]], list[Any]]]:
            env: dict[str, Any] = dict(zip(self.variables, args))
            env.update({name: np.asarray(v) for name, v in self.indices.items()})
            seen = Seen(ops)
            for name, node in self.statements:
                env[name] = run(node, env, self.functions, seen)
            out = jnp.asarray(run(self.output, env, self.functions, seen), dtype=jnp.float64)
            return out, (seen.kink_args, seen.values)

        return f

    def primitives(self) -> set[str]:
        """The primitives the program computes with (a function's body counts where it is called)."""
        trees = [self.output, *(node for _, node in self.statements)]
        found = set().union(*map(primitives_of, trees))
        called = set().union(*map(calls_of, trees))
        return found.union(*(primitives_of(self.functions[name][1]) for name in called))


class Generator:
    """Random trees of a given shape. `tensors`: inputs may be vectors and matrices (else every input is
    a scalar, and arrays are built from scalars with [a, b, c]). Inside a function's body (`params`) only
    elementwise operations on the parameters and constants are used, so the function applies to arrays
    elementwise as well."""

    def __init__(self, rng: random.Random, tensors: bool) -> None:
        self.rng = rng
        self.tensors = tensors
        top = 4 if tensors else 3
        self.dims = (rng.randint(2, top), rng.randint(2, top))
        self.variables: dict[str, Shape] = {}
        self.indices: dict[str, int | list[int]] = {}
        self.refs: list[tuple[str, Shape]] = []
        self.functions: dict[str, tuple[tuple[str, ...], Node]] = {}
        self.params: tuple[str, ...] | None = None

    # -- leaves

    def constant(self, positive: bool = False) -> Node:
        rng = self.rng
        if rng.random() < 0.6:
            text, value = rng.choice(NICE_CONSTANTS)
        else:
            value = round(rng.uniform(0.1, 3.0), rng.choice([1, 2, 3]))
            text = repr(value)
        node = Node("const", data=(text, value))
        return node if positive or rng.random() < 0.7 else Node("neg", (node,), data=None)

    def variable(self, shape: Shape) -> Node:
        rng = self.rng
        if self.params is not None:
            return Node("var", data=rng.choice(self.params))
        same = [name for name, s in self.variables.items() if s == shape]
        names = SCALAR_NAMES if shape == () else VECTOR_NAMES if len(shape) == 1 else MATRIX_NAMES
        free = [name for name in names if name not in self.variables]
        if same and (not free or rng.random() < 0.6):
            return Node("var", shape=shape, data=rng.choice(same))
        name = free[0] if free else f"{names[0]}{len(self.variables)}"
        self.variables[name] = shape
        return Node("var", shape=shape, data=name)

    def leaf(self, shape: Shape) -> Node:
        rng = self.rng
        refs = [name for name, s in self.refs if s == shape and self.params is None]
        if refs and rng.random() < 0.35:
            return Node("ref", shape=shape, data=rng.choice(refs))
        if shape == () and rng.random() < 0.2:
            return self.constant()
        if shape and not self.tensors:
            return Node("stack", tuple(self.leaf(shape[1:]) for _ in range(shape[0])), shape)
        return self.variable(shape)

    def index(self, length: int) -> int | str:
        """One whole-number index into an axis of this length: a constant (negative from the end) or,
        in tensor programs, an index variable (0 or 1, valid for every axis)."""
        rng = self.rng
        if self.tensors and rng.random() < 0.3:
            if self.indices and rng.random() < 0.5:
                scalars = [name for name, v in self.indices.items() if isinstance(v, int)]
                if scalars:
                    return rng.choice(scalars)
            free = [name for name in INDEX_NAMES if name not in self.indices]
            if free:
                self.indices[free[0]] = rng.randint(0, 1)
                return free[0]
        return rng.randint(-length, length - 1)

    def labels(self, count: int, bound: int, negative: bool = True) -> str | tuple[str, Any]:
        """`count` whole numbers below `bound` (labels, or indices gathering along an axis of length
        `bound`; with `negative`, also counted from the end): a label variable (values 0 to the smaller
        dimension, so valid everywhere) in tensor programs, or a list written out."""
        rng = self.rng
        if self.tensors and rng.random() < 0.5:
            fits = [name for name, v in self.indices.items() if isinstance(v, list) and len(v) == count]
            if fits and rng.random() < 0.6:
                return rng.choice(fits)
            name = f"{LABEL_NAMES[len(self.indices) % len(LABEL_NAMES)]}{len(self.indices)}"
            self.indices[name] = [rng.randrange(min(self.dims)) for _ in range(count)]
            return name
        low = -bound if negative else 0
        return ("list", tuple(rng.randrange(low, bound) for _ in range(count)))

    # -- shapes

    def array_shape(self) -> Shape:
        n, m = self.dims
        return self.rng.choice([(n,), (m,), (m, n), (n, m)])

    def operand_shapes(self, shape: Shape) -> tuple[Shape, Shape]:
        """Two shapes that broadcast to `shape`."""
        options = [(shape, shape), (shape, shape), (shape, ()), ((), shape)] if shape else [((), ())]
        if len(shape) == 2:
            options += [(shape[1:], shape), (shape, shape[1:])]
        return self.rng.choice(options)

    # -- expressions

    def expr(self, shape: Shape, depth: int) -> Node:
        rng = self.rng
        if depth <= 0 or (depth < 3 and rng.random() < 0.2):
            return self.leaf(shape)
        kinds = ["unary"] * 6 + ["binary"] * 6 + ["power"] * 2
        if self.functions:
            kinds += ["call"] * 4
        if self.params is None:
            kinds += ["array"] * (6 if shape == () else 4)
        kind = rng.choice(kinds)
        if kind == "call":
            name = rng.choice(list(self.functions))
            params, body = self.functions[name]
            used = [k for k, p in enumerate(params) if p in variables_of(body)]
            if used or shape == ():
                # the call has the shape of the arguments its body uses, broadcast
                shapes = [rng.choice([shape, ()]) for _ in params]
                if used:
                    shapes[rng.choice(used)] = shape
                return Node("call", tuple(self.expr(s, depth - 1) for s in shapes), shape, data=name)
            kind = "unary"
        if kind == "unary":
            return self.unary(rng.choice([*ELEMENTWISE_UNARY, "pos"]), shape, depth - 1)
        if kind == "binary":
            op = rng.choice(["add", "sub", "mul", "div", "max", "min", "atan2", "add", "mul", "sub"])
            left, right = self.operand_shapes(shape)
            a = self.expr(left, depth - 1)
            b = self.positive(right, depth - 1) if op == "div" else self.expr(right, depth - 1)
            return Node(op, (a, b), shape)
        if kind == "power":
            return self.power(shape, depth - 1)
        return self.array(shape, depth - 1)

    def unary(self, op: str, shape: Shape, depth: int) -> Node:
        rng = self.rng
        if op in ("log", "log2", "log10", "sqrt"):
            arg = self.positive(shape, depth)
        elif op == "log1p":
            arg = self.positive(shape, depth) if rng.random() < 0.5 else self.bounded(shape, depth)
        elif op == "tan":
            arg = self.bounded(shape, depth)
        elif op in ("asin", "acos"):
            arg = Node("mul", (Node("const", data=("0.9", 0.9)), self.bounded(shape, depth)), shape)
        else:
            arg = self.expr(shape, depth)
        spelling = None
        if op == "log" and rng.random() < 0.3:
            spelling = "ln"
        if op == "sigmoid" and rng.random() < 0.3:
            spelling = "σ"
        return Node(op, (arg,), shape, data=spelling)

    def power(self, shape: Shape, depth: int) -> Node:
        rng = self.rng
        choice = rng.random()
        if choice < 0.45:  # any base, a whole exponent
            k = rng.choice([2, 2, 3, 0, 1])
            base, exponent = self.expr(shape, depth), Node("const", data=(str(k), float(k)))
        elif choice < 0.7:  # a positive base, a real constant exponent
            value = rng.choice([0.5, 1.5, 2.5, -1.0, -0.5, -2.0])
            const = Node("const", data=(repr(abs(value)), abs(value)))
            exponent = Node("neg", (const,)) if value < 0 else const
            base = self.positive(shape, depth)
        else:  # a positive base, an exponent that depends on the inputs
            left, right = self.operand_shapes(shape)
            base, exponent = self.positive(left, depth), self.bounded(right, depth)
        spellings = ["^", "^", "**", "pow"]
        if exponent.op == "const" and exponent.data[1] in (2.0, 3.0) and base.op in ("var", "ref"):
            spellings.append("superscript")
        return Node("pow", (base, exponent), shape, data=rng.choice(spellings))

    def positive(self, shape: Shape, depth: int) -> Node:
        """An expression of this shape whose every element is positive."""
        rng = self.rng
        if depth <= 0:
            if shape == () and rng.random() < 0.3:
                return self.constant(positive=True)
            return Node("exp", (self.leaf(shape),), shape)
        options = ["square", "exp", "sigmoid", "softplus", "cosh", "abs", "product", "sum", "quotient"]
        if shape and self.params is None:
            options.append("softmax")
        if shape == () and self.params is None:
            options += ["sum_exp", "norm", "mean"]
        kind = rng.choice(options)
        one = Node("const", data=rng.choice([("1", 1.0), ("0.5", 0.5), ("2", 2.0)]))
        if kind == "square":
            sq = Node("pow", (self.expr(shape, depth - 1), Node("const", data=("2", 2.0))), shape, data="^")
            return Node("add", (one, sq), shape)
        if kind in ("exp", "sigmoid", "softplus", "cosh", "softmax"):
            return Node(kind, (self.expr(shape, depth - 1),), shape)
        if kind == "abs":
            return Node("add", (Node("abs", (self.expr(shape, depth - 1),), shape), one), shape)
        if kind in ("product", "sum", "quotient"):
            left, right = self.operand_shapes(shape)
            op = {"product": "mul", "sum": "add", "quotient": "div"}[kind]
            return Node(op, (self.positive(left, depth - 1), self.positive(right, depth - 1)), shape)
        inner = self.array_shape()
        if kind == "sum_exp":
            return Node("sum", (Node("exp", (self.expr(inner, depth - 1),), inner),))
        if kind == "norm":
            return Node("add", (Node("norm", (self.expr(inner, depth - 1),)), one))
        return Node("mean", (self.positive(inner, depth - 1),))

    def bounded(self, shape: Shape, depth: int) -> Node:
        """An expression of this shape with every element in [-1, 1]."""
        op = self.rng.choice(["tanh", "sin", "cos", "sigmoid"])
        return Node(op, (self.expr(shape, depth),), shape)

    def array(self, shape: Shape, depth: int) -> Node:
        """The operations on vectors and matrices that give this shape."""
        rng = self.rng
        if shape == ():
            kind = rng.choice(["sum", "mean", "norm", "amax", "amin", "dot", "logsumexp", "index", "index",
                               "matmul"])
            if kind == "logsumexp":
                inner: Shape = (rng.choice(self.dims),)
            elif kind == "matmul":
                k = rng.choice(self.dims)
                return Node("matmul", (self.expr((k,), depth), self.expr((k,), depth)), shape)
            else:
                inner = self.array_shape()
            if kind == "dot":
                return Node("dot", (self.expr(inner, depth), self.expr(inner, depth)), shape)
            if kind == "index":
                return Node("index", (self.expr(inner, depth),), shape, data=tuple(self.index(d) for d in inner))
            return Node(kind, (self.expr(inner, depth),), shape)
        if len(shape) == 1:
            (k,) = shape
            p = rng.choice(self.dims)
            kind = rng.choice(["matmul", "matmul", "softmax", "sum_axis", "mean_axis", "logsumexp", "row",
                               "stack", "gather", "pick", "arange", "onehot", "ones"])
            if kind == "ones":  # ones_like(v) * w: the ones only shape the product
                return Node("mul", (Node("ones_like", (self.expr(shape, depth),), shape), self.expr(shape, depth)),
                            shape)
            if kind == "matmul":
                if rng.random() < 0.5:
                    return Node("matmul", (self.expr((k, p), depth), self.expr((p,), depth)), shape)
                return Node("matmul", (self.expr((p,), depth), self.expr((p, k), depth)), shape)
            if kind == "softmax":
                return Node("softmax", (self.expr(shape, depth),), shape)
            if kind in ("sum_axis", "mean_axis"):
                if rng.random() < 0.5:
                    return Node(kind, (self.expr((k, p), depth),), shape, data=rng.choice([1, -1]))
                return Node(kind, (self.expr((p, k), depth),), shape, data=rng.choice([0, -2]))
            if kind == "logsumexp":
                return Node("logsumexp", (self.expr((k, p), depth),), shape)
            if kind == "row":
                return Node("index", (self.expr((p, k), depth),), shape, data=(self.index(p),))
            if kind == "gather":  # v[ys]: entries of a vector, some perhaps repeated
                return Node("index", (self.expr((p,), depth),), shape, data=(self.labels(k, p),))
            if kind == "pick":  # S[arange(N), ys]: one entry of each row
                if rng.random() < 0.7:
                    return Node("index", (self.expr((k, p), depth),), shape, data=(("arange", k), self.labels(k, p)))
                return Node("index", (self.expr((p, k), depth),), shape, data=(self.labels(k, p), ("arange", k)))
            if kind == "arange":
                return Node(rng.choice(["add", "mul"]), (self.expr(shape, depth), Node("arange", (), shape, k)), shape)
            if kind == "onehot":
                label = self.index(k) if self.tensors and rng.random() < 0.5 else rng.randrange(k)
                if isinstance(label, int) and label < 0:
                    label += k
                hot = Node("onehot", (), shape, data=(label, k))
                return Node("mul", (hot, self.expr(shape, depth)), shape)
            return Node("stack", tuple(self.expr((), depth) for _ in range(k)), shape)
        rows, cols = shape
        kind = rng.choice(["matmul", "matmul", "transpose", "softmax", "stack", "gather", "onehot", "outer"])
        if kind == "outer":
            return Node("outer", (self.expr((rows,), depth), self.expr((cols,), depth)), shape)
        if kind == "matmul":
            p = rng.choice(self.dims)
            return Node("matmul", (self.expr((rows, p), depth), self.expr((p, cols), depth)), shape)
        if kind == "transpose":
            return Node("transpose", (self.expr((cols, rows), depth),), shape,
                        data=rng.choice([".T", ".T", "transpose"]))
        if kind == "softmax":
            return Node("softmax", (self.expr(shape, depth),), shape)
        if kind == "gather":  # S[ys]: rows of a matrix, some perhaps repeated
            p = rng.choice(self.dims)
            return Node("index", (self.expr((p, cols), depth),), shape, data=(self.labels(rows, p),))
        if kind == "onehot":  # onehot(ys, C) * S: one entry of each row
            hot = Node("onehot", (), shape, data=(self.labels(rows, cols, negative=False), cols))
            return Node("mul", (hot, self.expr(shape, depth)), shape)
        return Node("stack", tuple(self.expr((cols,), depth) for _ in range(rows)), shape)

    # -- whole programs

    def program(self) -> Program:
        rng = self.rng
        lines: list[str] = []
        depth = 4
        if rng.random() < 0.3:
            name = rng.choice(["h", "g"])
            params = ("p", "q")[: rng.randint(1, 2)]
            self.params = params
            body = self.expr((), rng.randint(2, 3))
            self.params = None
            self.functions[name] = (params, body)
            lines.append(f"{name}({', '.join(params)}) = {write(body)[0]}")
        statements: list[tuple[str, Node]] = []
        for i in range(rng.choice([0, 0, 1, 1, 2])):
            shape = rng.choice([(), (), self.array_shape()]) if self.tensors else ()
            node = self.expr(shape, depth - 1)
            name = f"q{i + 1}"
            statements.append((name, node))
            self.refs.append((name, shape))
            lines.append(f"{name} = {write(node)[0]}")
        out_shape: Shape = ()
        if self.tensors and rng.random() < 0.4:
            out_shape = self.array_shape()
        output = self.expr(out_shape, depth)
        body = write(output)[0]
        header = rng.random()
        if header < 0.7:
            unused = [name for name in SCALAR_NAMES if name not in self.variables]
            if unused and rng.random() < 0.15:
                self.variables[unused[0]] = ()  # a parameter nothing uses: its gradient is 0
            params_ = list(self.variables) + list(self.indices)
            rng.shuffle(params_)
            lines.append(f"f({', '.join(params_)}) = {body}")
        elif header < 0.85:
            lines.append(f"f = {body}")
        else:
            lines.append(body)
        text = rng.choice(["; ", "\n"]).join(lines)
        point: dict[str, Any] = {}
        for name, shape in self.variables.items():
            values = np.array([rng.uniform(-2.0, 2.0) for _ in range(int(np.prod(shape)))]).reshape(shape)
            point[name] = float(values) if shape == () else values.tolist()
        point.update(self.indices)
        return Program(text, dict(self.variables), dict(self.indices), point, statements, output,
                       dict(self.functions))


# ---- what JAX says ------------------------------------------------------------------------------


@dataclass
class Reference:
    value: np.ndarray
    upstream: np.ndarray | None  # for an array output: a random upstream gradient
    gradient: dict[str, np.ndarray]  # d output / d input, or for an array output upstream · Jacobian


def reference(program: Program, rng: random.Random) -> tuple[Reference, float, list[Any]]:
    """JAX's value and derivatives of the program (one jax.vjp), how close the point is to a kink, and
    the value of every node."""
    names = list(program.variables)
    args = [jnp.asarray(program.point[name], dtype=jnp.float64) for name in names]
    ops: list[str] = []
    value, pullback, (kink_args, values) = jax.vjp(program.jax_function(ops), *args, has_aux=True)
    value = np.asarray(value)
    if value.shape == ():
        upstream = None
        grads = pullback(jnp.ones((), dtype=jnp.float64))
    else:
        upstream = np.array([rng.gauss(0.0, 1.0) for _ in range(value.size)]).reshape(value.shape)
        grads = pullback(jnp.asarray(upstream))
    ref = Reference(value, upstream, {name: np.asarray(g) for name, g in zip(names, grads)})
    kink = min((_kink_distance(op, a) for op, a in zip(ops, kink_args)), default=math.inf)
    return ref, kink, values


@dataclass
class Case:
    seed: int
    attempts: int  # programs drawn and redrawn before this one
    program: Program
    ref: Reference


_CASES: dict[tuple[bool, int], Case] = {}


def case(tensors: bool, seed: int) -> Case:
    """The program for this seed: the first one drawn (from random.Random("kind-seed-attempt")) with at
    least one input that carries a gradient, no kink within KINK of its point, and values and gradients
    finite and at most LIMIT in JAX."""
    key = (tensors, seed)
    if key in _CASES:
        return _CASES[key]
    kind = "tensor" if tensors else "scalar"
    for attempt in range(ATTEMPTS):
        rng = random.Random(f"{kind}-{seed}-{attempt}")
        program = Generator(rng, tensors).program()
        if not program.variables:
            continue
        with np.errstate(all="ignore"):
            ref, kink, values = reference(program, rng)
        numbers = [ref.value, *ref.gradient.values(), *values]
        if kink < KINK or not all(np.all(np.isfinite(a)) and np.all(np.abs(a) <= LIMIT) for a in numbers):
            continue
        _CASES[key] = Case(seed, attempt, program, ref)
        return _CASES[key]
    raise AssertionError(f"no usable {kind} program for seed {seed} in {ATTEMPTS} attempts")


# ---- comparing ----------------------------------------------------------------------------------


def agree(actual: Any, expected: np.ndarray, what: str, program: Program) -> None:
    """Equal to a relative RTOL, elementwise; where an element comes from cancellation, to RTOL times
    the size of the numbers it was computed from (the largest of the expected array, at least 1)."""
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    try:
        close(actual, expected, rtol=RTOL, atol=RTOL * scale)
    except AssertionError as error:
        raise AssertionError(f"{what} differs from JAX for\n{program.text}\nat {program.point}\n{error}") from None


def compare(c: Case, *, expand: bool = False) -> None:
    """symgrad's value and gradient against JAX's. For an array output, symgrad's Jacobian (shaped output +
    input), contracted with the random upstream gradient, and symgrad's backward pass from that upstream
    gradient (`upstream=`) must both give JAX's vector-Jacobian product."""
    program, ref = c.program, c.ref
    graph = symgrad.parse(program.text, expand=expand)
    assert set(graph.variables) == set(program.variables) | set(program.indices), program.text
    assert set(graph.index_only) == set(program.indices), program.text
    trace = trace_of(graph, **program.point)
    assert not trace.warnings, (program.text, trace.warnings)
    agree(trace.value, ref.value, "the value", program)
    assert set(trace.gradient) == set(ref.gradient), (program.text, set(trace.gradient), set(ref.gradient))
    if ref.upstream is None:
        for name, g in ref.gradient.items():
            agree(trace.gradient[name], g, f"d/d{name}", program)
        return
    out = ref.value.ndim
    with_upstream = trace_of(graph, upstream=ref.upstream, **program.point)
    for name, g in ref.gradient.items():
        jacobian = np.asarray(trace.gradient[name])
        assert jacobian.shape == ref.value.shape + g.shape, (program.text, name, jacobian.shape)
        agree(np.tensordot(ref.upstream, jacobian, axes=out), g, f"upstream · the Jacobian d/d{name}", program)
        agree(with_upstream.gradient[name], g, f"d/d{name} with upstream {ref.upstream.tolist()}", program)


# ---- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(SCALAR_PROGRAMS))
def test_scalar_program(seed: int) -> None:
    compare(case(False, seed))


@pytest.mark.parametrize("seed", range(TENSOR_PROGRAMS))
def test_tensor_program(seed: int) -> None:
    compare(case(True, seed))


@pytest.mark.parametrize("seed", range(0, SCALAR_PROGRAMS, 5))
def test_scalar_program_expanded(seed: int) -> None:
    """--expand: grouped gates (sigmoid, tanh, softplus, the program's functions) as their primitive graphs."""
    compare(case(False, seed), expand=True)


@pytest.mark.parametrize("seed", range(0, TENSOR_PROGRAMS, 5))
def test_tensor_program_expanded(seed: int) -> None:
    compare(case(True, seed), expand=True)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(SCALAR_PROGRAMS, SLOW_SCALAR_PROGRAMS))
def test_more_scalar_programs(seed: int) -> None:
    compare(case(False, seed))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(TENSOR_PROGRAMS, SLOW_TENSOR_PROGRAMS))
def test_more_tensor_programs(seed: int) -> None:
    compare(case(True, seed))


# ---- second derivatives and symbolic reverse mode, against JAX ------------------------------------

HESSIAN_PROGRAMS = 8  # scalar and tensor seeds each, in the everyday run (jax.hessian is slow); CI runs
SLOW_HESSIAN_PROGRAMS = 60  # the seeds up to these too
DERIVED_PROGRAMS = 60


def compare_hessian(c: Case) -> bool:
    """symgrad's Hessian (reverse over the backward pass written as nodes) against jax.hessian, for a
    program with a scalar output; False where symbolic reverse mode has no rule for one of its gates
    (the checks of the Hessian rows then say so)."""
    from symgrad.derive import NotDerivable
    from symgrad.hessian import hessian

    program, ref = c.program, c.ref
    if ref.value.shape != ():
        return False
    graph = symgrad.parse(program.text)
    trace = trace_of(graph, **program.point)
    try:
        rows = hessian(trace)
    except NotDerivable:
        return False
    names = list(program.variables)
    args = [jnp.asarray(program.point[name], dtype=jnp.float64) for name in names]
    function = program.jax_function([])
    expected = jax.hessian(lambda *a: function(*a)[0], argnums=tuple(range(len(names))))(*args)
    for row in rows:
        i = names.index(row.variable)
        for w, block in row.blocks.items():
            agree(block, np.asarray(expected[i][names.index(w)]), f"d²/d{row.variable}d{w}", program)
    return True


@pytest.mark.parametrize("tensors", [False, True], ids=["scalar", "tensor"])
def test_hessians_agree_with_jax(tensors: bool) -> None:
    compared = sum(compare_hessian(case(tensors, seed)) for seed in range(HESSIAN_PROGRAMS))
    assert compared >= (HESSIAN_PROGRAMS if not tensors else HESSIAN_PROGRAMS // 4), compared


@pytest.mark.slow
@pytest.mark.parametrize("tensors", [False, True], ids=["scalar", "tensor"])
def test_more_hessians_agree_with_jax(tensors: bool) -> None:
    compared = sum(compare_hessian(case(tensors, seed)) for seed in range(HESSIAN_PROGRAMS, SLOW_HESSIAN_PROGRAMS))
    assert compared >= (SLOW_HESSIAN_PROGRAMS - HESSIAN_PROGRAMS) // (1 if not tensors else 4), compared


@pytest.mark.parametrize("tensors", [False, True], ids=["scalar", "tensor"])
def test_derived_formulas_and_code_give_the_gradient(tensors: bool) -> None:
    """On the random programs: each derivative symgrad prints parses back and equals the gradient, and
    the NumPy code it writes runs to the gradient (scalar outputs; every gate derivable but a few)."""
    from support import formula_value

    from symgrad.codegen import generate
    from symgrad.derive import NotDerivable, derive, formula

    derived = 0
    for seed in range(DERIVED_PROGRAMS):
        program = case(tensors, seed).program
        graph = symgrad.parse(program.text)
        trace = trace_of(graph, **program.point)
        if trace.out_shape != ():
            continue
        shapes = [core(v) for v in trace.values]
        try:
            d = derive(graph, shapes)
        except NotDerivable:
            continue
        derived += 1
        for v in graph.variables:
            if v in graph.index_only:
                continue
            text = formula(d, v)
            want = np.asarray(trace.gradient[v])
            if text is not None:
                agree(np.broadcast_to(formula_value(trace, text), want.shape), want, f"the formula {text}", program)
        namespace: dict[str, Any] = {}
        exec(compile(generate(graph, "numpy", shapes=shapes), "<generated>", "exec"), namespace)  # symgrad's
        args = [np.asarray(program.point[v], dtype=float) for v in graph.variables]
        value, grads = namespace["forward_backward"](*args)
        agree(value, np.asarray(trace.value), "the generated code's value", program)
        for v, g in zip(graph.variables, grads):
            if v not in graph.index_only:
                agree(np.broadcast_to(g, np.shape(trace.gradient[v])), np.asarray(trace.gradient[v]),
                      f"the generated code's d/d{v}", program)
    assert derived >= (DERIVED_PROGRAMS if not tensors else DERIVED_PROGRAMS // 4), derived


def _graph_primitives(c: Case) -> set[str]:
    graph = symgrad.parse(c.program.text)
    return {node.prim.name for node in graph.nodes if node.prim is not None}


@pytest.mark.slow
def test_every_primitive_is_covered() -> None:
    """Every primitive in symgrad's table has a JAX counterpart here, and the programs compared above use
    each of them in at least 5 programs: read from the graphs symgrad builds from the generated text, and
    every primitive of a generated tree is in the graph of its text (`max(a, b)` is max, `max(x)` amax)."""
    mapped = set(_JAX_UNARY) | set(_JAX_BINARY) | OTHERS
    table = set(P.PRIMITIVES)
    assert table - mapped == set(), "primitives in symgrad's table with no JAX counterpart in the oracle"
    scalar = [case(False, s) for s in range(COVERED_SCALAR)]
    tensor = [case(True, s) for s in range(COVERED_TENSOR)]
    in_graphs: Counter[str] = Counter()
    for c in scalar + tensor:
        found = _graph_primitives(c)
        assert c.program.primitives() <= found, c.program.text
        in_graphs.update(found)
    missing = sorted(table - set(in_graphs))
    assert missing == [], f"never generated: {missing}"
    rare = sorted(name for name in table if in_graphs[name] < 5)
    assert rare == [], f"generated in fewer than 5 programs: {rare}"
    in_scalar = set().union(*(_graph_primitives(c) for c in scalar))
    assert {"stack", "softmax", "logsumexp", "dot", "norm", "amax", "index"} <= in_scalar


@pytest.mark.slow
def test_programs_vary() -> None:
    """The generator makes distinct programs: inputs of every shape, array outputs, functions, headers
    with a parameter nothing uses, index variables."""
    scalar = [case(False, s).program for s in range(COVERED_SCALAR)]
    tensor = [case(True, s).program for s in range(COVERED_TENSOR)]
    assert len({p.text for p in scalar}) == len(scalar)
    assert len({p.text for p in tensor}) == len(tensor)
    assert all(shape == () for p in scalar for shape in p.variables.values())
    ranks = Counter(len(shape) for p in tensor for shape in p.variables.values())
    assert min(ranks[0], ranks[1], ranks[2]) >= 20, ranks
    outputs = Counter(case(True, s).ref.value.ndim for s in range(COVERED_TENSOR))
    assert min(outputs[0], outputs[1], outputs[2]) >= 10, outputs
    assert sum(bool(p.functions) for p in scalar + tensor) >= 50
    assert sum(bool(p.statements) for p in scalar + tensor) >= 100
    assert sum(bool(p.indices) for p in tensor) >= 10
    trees = [[p.output, *(node for _, node in p.statements)] for p in scalar + tensor]
    unused = [set(p.variables) - set().union(*map(variables_of, t)) for p, t in zip(scalar + tensor, trees)]
    assert sum(bool(names) for names in unused) >= 5
    assert any("σ(" in p.text for p in scalar) and any("ln(" in p.text for p in scalar)
    assert any("²" in p.text for p in scalar) and any("**" in p.text for p in scalar)
    assert any("transpose(" in p.text for p in tensor) and any(".T" in p.text for p in tensor)


def test_programs_are_rarely_redrawn() -> None:
    """Points near kinks and overflowing programs are redrawn, but rarely: the oracle mostly compares
    the programs it first draws."""
    for tensors, count in ((False, SCALAR_PROGRAMS), (True, TENSOR_PROGRAMS)):
        redrawn = sum(case(tensors, s).attempts for s in range(count))
        assert redrawn < 0.5 * count, (tensors, redrawn)


def _softmax_without_its_sum(monkeypatch: pytest.MonkeyPatch) -> None:
    """softmax's vector-Jacobian product as out * g, leaving out - out * sum(g * out)."""
    prim = P.PRIMITIVES["softmax"]
    monkeypatch.setitem(P.PRIMITIVES, "softmax", dataclasses.replace(prim, vjp=lambda k, g, out, a: out * g))


def _index_overwriting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Indexing's backward pass writing each gradient to the element it was picked from instead of adding:
    an element picked more than once (v[[0, 0]], S[ys] with a repeated label) keeps one of them."""

    def vjp(k: int, g: Any, out: Any, a: Any, *idx: Any) -> Any:
        grad = np.zeros(g.shape[:1] + a.shape[1:])
        grad[P._index_arrays(grad, idx, g.shape[0])] = g
        return grad

    prim = P.PRIMITIVES["index"]
    monkeypatch.setitem(P.PRIMITIVES, "index", dataclasses.replace(prim, vjp=vjp))


@pytest.mark.parametrize(("primitive", "break_it"), [
    ("sin", sin_with_wrong_sign), ("softmax", _softmax_without_its_sum), ("index", _index_overwriting),
])
def test_the_oracle_catches_a_wrong_rule(primitive: str, break_it: Callable[[pytest.MonkeyPatch], None],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """With a wrong backward rule put into symgrad's table, the comparison fails for some of the
    programs that use that primitive, and still passes for every program that does not."""
    break_it(monkeypatch)
    caught = 0
    # a repeated index is what an overwriting scatter gets wrong: tensor programs have them now and then
    for c in [case(False, s) for s in range(SCALAR_PROGRAMS)] + [case(True, s) for s in range(3 * TENSOR_PROGRAMS)]:
        if primitive not in c.program.primitives():
            compare(c)
            continue
        try:
            compare(c)
        except AssertionError:
            caught += 1
    assert caught >= 3, caught
