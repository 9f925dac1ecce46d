"""The table of primitives: every operation symgrad knows, declared once.

Each entry holds the forward computation (NumPy), the local gradient with
respect to each input, the SymPy form, how it is written, the gate's role in
the lecture's words, where it is not differentiable, and, for grouped gates,
its expansion in symgrad's own language.  Forward, backward, the symbolic
check, the printers and the help text all read this table.

Local gradients of elementwise primitives are partial derivatives
``partial(out, *args)`` with the arguments' shapes broadcast; the engine
multiplies them by the upstream gradient and sums over broadcast axes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray
Partial = Callable[..., Any]

# Precedence for printing: higher binds tighter.
PREC_SUM, PREC_PRODUCT, PREC_UNARY, PREC_POWER, PREC_ATOM = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class Primitive:
    name: str
    arity: int
    forward: Callable[..., Any]
    partials: tuple[Partial, ...]
    sympy: Callable[..., Any]  # (sympy module, *args) -> expression
    summary: str  # one line for --help
    symbol: str | None = None  # infix or prefix operator symbol
    prec: int = PREC_ATOM  # precedence when written infix/prefix
    local_text: tuple[str, ...] = ()  # local gradient per input; {0}, {1} inputs, {out} the node
    role: str | None = None  # the gate's role in the lecture's words
    kink: Callable[..., Any] | None = None  # where the gate is not differentiable
    kink_text: str | None = None  # the convention used there
    expansion: str | None = None  # grouped gates: body in symgrad's language, parameter x
    params: tuple[str, ...] = ("x",)  # parameter names for help and expansion
    callable: bool = True  # may the user call it by name?
    operator: bool = False  # written as an operator rather than a call


def _ones(out: Array, *args: Array) -> Array:
    return np.ones_like(out)


def _step(x: Array) -> Array:
    return np.asarray(x > 0, dtype=float)


def _pow_base(out: Array, a: Array, b: Array) -> Array:
    return np.where(b == 0, 0.0, b * np.power(a, b - 1))


def _pow_exponent(out: Array, a: Array, b: Array) -> Array:
    # d(a^b)/db = a^b log a; taken as 0 where a = 0 and b >= 0 (as PyTorch does),
    # and where the power is 0.
    return np.asarray(np.where(((a == 0) & (b >= 0)) | (out == 0), 0.0, out * np.log(a)))


def _sigmoid(x: Array) -> Array:
    return np.asarray(np.exp(-np.logaddexp(0.0, -x)))


def _tie_share(a: Array, b: Array) -> Array:
    return np.where(a > b, 1.0, np.where(a == b, 0.5, 0.0))


def _zeros(out: Array, *args: Array) -> Array:
    return np.zeros_like(out)


LN2, LN10 = math.log(2.0), math.log(10.0)

_TABLE: list[Primitive] = [
    # Operators.
    Primitive(
        "add", 2, np.add, (_ones, _ones),
        lambda sp, a, b: a + b,
        "a + b", symbol="+", prec=PREC_SUM, local_text=("1", "1"),
        role="distributes", params=("a", "b"), callable=False, operator=True,
    ),
    Primitive(
        "sub", 2, np.subtract, (_ones, lambda out, a, b: -np.ones_like(out)),
        lambda sp, a, b: a - b,
        "a - b", symbol="-", prec=PREC_SUM, local_text=("1", "-1"),
        params=("a", "b"), callable=False, operator=True,
    ),
    Primitive(
        "mul", 2, np.multiply,
        (lambda out, a, b: np.broadcast_to(b, out.shape), lambda out, a, b: np.broadcast_to(a, out.shape)),
        lambda sp, a, b: a * b,
        "a * b", symbol="*", prec=PREC_PRODUCT, local_text=("{1}", "{0}"),
        role="switches", params=("a", "b"), callable=False, operator=True,
    ),
    Primitive(
        "div", 2, np.divide,
        (lambda out, a, b: np.broadcast_to(1.0 / b, out.shape), lambda out, a, b: -out / b),
        lambda sp, a, b: a / b,
        "a / b", symbol="/", prec=PREC_PRODUCT, local_text=("1/{1}", "-{0}/{1}^2"),
        params=("a", "b"), callable=False, operator=True,
    ),
    Primitive(
        "neg", 1, np.negative, (lambda out, a: -np.ones_like(out),),
        lambda sp, a: -a,
        "-a", symbol="-", prec=PREC_UNARY, local_text=("-1",),
        params=("a",), callable=False, operator=True,
    ),
    Primitive(
        "pow", 2, np.power, (_pow_base, _pow_exponent),
        lambda sp, a, b: a**b,
        "a to the power b (also a^b and a**b)", symbol="^", prec=PREC_POWER,
        local_text=("{1}*{0}^({1} - 1)", "{out}*log({0})"), params=("a", "b"),
    ),
    # Functions of one argument.
    Primitive(
        "exp", 1, np.exp, (lambda out, x: out,),
        lambda sp, x: sp.exp(x),
        "e to the power x", local_text=("exp({0})",),
    ),
    Primitive(
        "log", 1, np.log, (lambda out, x: 1.0 / x,),
        lambda sp, x: sp.log(x),
        "natural logarithm (also ln)", local_text=("1/{0}",),
    ),
    Primitive(
        "log2", 1, np.log2, (lambda out, x: 1.0 / (x * LN2),),
        lambda sp, x: sp.log(x, 2),
        "logarithm base 2", local_text=("1/({0}*log(2))",),
    ),
    Primitive(
        "log10", 1, np.log10, (lambda out, x: 1.0 / (x * LN10),),
        lambda sp, x: sp.log(x, 10),
        "logarithm base 10", local_text=("1/({0}*log(10))",),
    ),
    Primitive(
        "sqrt", 1, np.sqrt, (lambda out, x: 0.5 / out,),
        lambda sp, x: sp.sqrt(x),
        "square root", local_text=("1/(2*sqrt({0}))",),
    ),
    Primitive(
        "sin", 1, np.sin, (lambda out, x: np.cos(x),),
        lambda sp, x: sp.sin(x), "sine (radians)", local_text=("cos({0})",),
    ),
    Primitive(
        "cos", 1, np.cos, (lambda out, x: -np.sin(x),),
        lambda sp, x: sp.cos(x), "cosine (radians)", local_text=("-sin({0})",),
    ),
    Primitive(
        "tan", 1, np.tan, (lambda out, x: 1.0 + out * out,),
        lambda sp, x: sp.tan(x), "tangent (radians)", local_text=("1 + tan({0})^2",),
    ),
    Primitive(
        "asin", 1, np.arcsin, (lambda out, x: 1.0 / np.sqrt(1.0 - x * x),),
        lambda sp, x: sp.asin(x), "inverse sine", local_text=("1/sqrt(1 - {0}^2)",),
    ),
    Primitive(
        "acos", 1, np.arccos, (lambda out, x: -1.0 / np.sqrt(1.0 - x * x),),
        lambda sp, x: sp.acos(x), "inverse cosine", local_text=("-1/sqrt(1 - {0}^2)",),
    ),
    Primitive(
        "atan", 1, np.arctan, (lambda out, x: 1.0 / (1.0 + x * x),),
        lambda sp, x: sp.atan(x), "inverse tangent", local_text=("1/(1 + {0}^2)",),
    ),
    Primitive(
        "sinh", 1, np.sinh, (lambda out, x: np.cosh(x),),
        lambda sp, x: sp.sinh(x), "hyperbolic sine", local_text=("cosh({0})",),
    ),
    Primitive(
        "cosh", 1, np.cosh, (lambda out, x: np.sinh(x),),
        lambda sp, x: sp.cosh(x), "hyperbolic cosine", local_text=("sinh({0})",),
    ),
    # Grouped gates: one node with its own local gradient; --expand rewrites them.
    Primitive(
        "tanh", 1, np.tanh, (lambda out, x: 1.0 - out * out,),
        lambda sp, x: sp.tanh(x), "hyperbolic tangent (grouped gate)",
        local_text=("1 - {out}^2",), expansion="(exp(x) - exp(-x)) / (exp(x) + exp(-x))",
    ),
    Primitive(
        "sigmoid", 1, _sigmoid, (lambda out, x: out * (1.0 - out),),
        lambda sp, x: 1 / (1 + sp.exp(-x)), "logistic sigmoid 1/(1+exp(-x)) (also σ; grouped gate)",
        local_text=("{out}*(1 - {out})",), expansion="1 / (1 + exp(-x))",
    ),
    Primitive(
        "softplus", 1, lambda x: np.logaddexp(0.0, x), (lambda out, x: _sigmoid(x),),
        lambda sp, x: sp.log(1 + sp.exp(x)), "log(1 + exp(x)) (grouped gate)",
        local_text=("sigmoid({0})",), expansion="log(1 + exp(x))",
    ),
    # Gates with kinks: the subgradient used where they are not differentiable is PyTorch's.
    Primitive(
        "relu", 1, lambda x: np.maximum(x, 0.0), (lambda out, x: _step(x),),
        lambda sp, x: sp.Max(x, 0), "max(x, 0)",
        local_text=("step({0})",), kink=lambda x: x == 0, kink_text="relu'(0) = 0",
    ),
    Primitive(
        "abs", 1, np.abs, (lambda out, x: np.sign(x),),
        lambda sp, x: sp.Abs(x), "absolute value",
        local_text=("sign({0})",), kink=lambda x: x == 0, kink_text="abs'(0) = 0",
    ),
    Primitive(
        "sign", 1, np.sign, (_zeros,),
        lambda sp, x: sp.sign(x), "-1, 0 or 1",
        local_text=("0",), kink=lambda x: x == 0, kink_text="sign'(0) = 0",
    ),
    Primitive(
        "step", 1, _step, (_zeros,),
        lambda sp, x: sp.Heaviside(x, 0), "Heaviside step: 1 for x > 0, else 0",
        local_text=("0",), kink=lambda x: x == 0, kink_text="step'(0) = 0",
    ),
    Primitive(
        "max", 2, np.maximum,
        (lambda out, a, b: _tie_share(a, b), lambda out, a, b: _tie_share(b, a)),
        lambda sp, a, b: sp.Max(a, b), "the larger of a and b",
        local_text=("[{0} > {1}]", "[{1} > {0}]"), role="routes", params=("a", "b"),
        kink=lambda a, b: a == b, kink_text="a tie sends half the gradient to each input",
    ),
    Primitive(
        "min", 2, np.minimum,
        (lambda out, a, b: _tie_share(b, a), lambda out, a, b: _tie_share(a, b)),
        lambda sp, a, b: sp.Min(a, b), "the smaller of a and b",
        local_text=("[{0} < {1}]", "[{1} < {0}]"), role="routes", params=("a", "b"),
        kink=lambda a, b: a == b, kink_text="a tie sends half the gradient to each input",
    ),
    # The identity: gives a second name to a node that already has one (f(x) = x).
    Primitive(
        "id", 1, lambda x: x, (_ones,),
        lambda sp, x: x, "the same value", local_text=("1",), callable=False,
    ),
]

PRIMITIVES: dict[str, Primitive] = {p.name: p for p in _TABLE}

# Other names and pasted symbols for functions and constants.
FUNCTION_ALIASES: dict[str, str] = {"ln": "log", "σ": "sigmoid"}
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
CONSTANT_ALIASES: dict[str, str] = {"π": "pi"}


def function(name: str) -> Primitive | None:
    """The built-in function a user may call by this name, if any."""
    prim = PRIMITIVES.get(FUNCTION_ALIASES.get(name, name))
    return prim if prim is not None and prim.callable else None


def function_names() -> list[str]:
    return sorted(p.name for p in _TABLE if p.callable)


def constant(name: str) -> str | None:
    """The canonical constant name that `name` stands for, if it is one."""
    name = CONSTANT_ALIASES.get(name, name)
    return name if name in CONSTANTS else None
