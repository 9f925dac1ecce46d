"""The backward pass as code: the staged forward and backward pass of a program, one line per node,
as the lecture writes it by hand, in Python (scalars, math), NumPy (tensors) or PyTorch (a
torch.autograd.Function); or in the lecture's modular style, a class per gate with forward and
backward methods.

The code is printed from the derivation (derive.py): the forward graph's nodes, then the backward
pass's, whose gradients are named as the lecture names them (dq for q, dx for x).  Where a node
feeds several others, its gradient is set by the first branch and grown by the others with +=
(in NumPy and PyTorch dx = dx + ..., as += would change the array under its other names).
Names come from the user's program, made into identifiers; nothing of the user's text is
printed but names and numbers.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import ClassVar

from . import primitives as P
from .derive import Derivation, derive
from .errors import SymgradError
from .graph import Graph, Kind, Node

LANGS = ("python", "numpy", "torch")
STYLES = ("staged", "modular")

# Precedence when written: higher binds tighter (as in Python).
SUM, PRODUCT, UNARY, POWER, ATOM = 1, 2, 3, 4, 5
INFIX = {"add": ("+", SUM), "sub": ("-", SUM), "mul": ("*", PRODUCT), "div": ("/", PRODUCT),
         "matmul": ("@", PRODUCT), "pow": ("**", POWER)}


@dataclass(frozen=True)
class Lang:
    """How one target language writes each primitive: a template with {0}, {1} (the inputs),
    {rest} (all but the first) and {all}; and the helper functions some of them need."""

    name: str
    header: str
    calls: dict[str, str]
    helpers: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    scalars_only: bool = False


_PY_HELPERS = {
    "sigmoid": "def sigmoid(x):\n"
               "    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))",
    "softplus": "def softplus(x):\n    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))",
    "step": "def step(x):\n    return 1.0 if x > 0 else 0.0",
    "sign": "def sign(x):\n    return (x > 0) - (x < 0)",
}
PYTHON = Lang("python", "import math", {
    "neg": "-{0}", "exp": "math.exp({0})", "log": "math.log({0})", "log2": "math.log2({0})",
    "log10": "math.log10({0})", "sqrt": "math.sqrt({0})", "sin": "math.sin({0})", "cos": "math.cos({0})",
    "tan": "math.tan({0})", "asin": "math.asin({0})", "acos": "math.acos({0})", "atan": "math.atan({0})",
    "atan2": "math.atan2({0}, {1})", "log1p": "math.log1p({0})", "sinh": "math.sinh({0})",
    "cosh": "math.cosh({0})", "tanh": "math.tanh({0})", "sigmoid": "sigmoid({0})", "softplus": "softplus({0})",
    "relu": "max({0}, 0.0)", "abs": "abs({0})", "sign": "sign({0})", "step": "step({0})",
    "max": "max({0}, {1})", "min": "min({0}, {1})", "id": "{0}", "ones_like": "1.0",
}, _PY_HELPERS, {"pi": "math.pi", "e": "math.e"}, scalars_only=True)

_NP_HELPERS = {
    "sigmoid": "def sigmoid(x):\n    return np.exp(-np.logaddexp(0.0, -x))",
    "softmax": "def softmax(x):\n    e = np.exp(x - np.max(x, axis=-1, keepdims=True))\n"
               "    return e / np.sum(e, axis=-1, keepdims=True)",
    "logsumexp": "def logsumexp(x):\n    top = np.max(x, axis=-1, keepdims=True)\n"
                 "    return np.log(np.sum(np.exp(x - top), axis=-1)) + top[..., 0]",
    "onehot": "def onehot(y, c):\n    return np.eye(int(c))[np.asarray(y, dtype=int)]",
    "index": "def ix(i):\n    return np.asarray(i, dtype=int)",
}
NUMPY = Lang("numpy", "import numpy as np", {
    "neg": "-{0}", "exp": "np.exp({0})", "log": "np.log({0})", "log2": "np.log2({0})", "log10": "np.log10({0})",
    "sqrt": "np.sqrt({0})", "sin": "np.sin({0})", "cos": "np.cos({0})", "tan": "np.tan({0})",
    "asin": "np.arcsin({0})", "acos": "np.arccos({0})", "atan": "np.arctan({0})", "atan2": "np.arctan2({0}, {1})",
    "log1p": "np.log1p({0})", "sinh": "np.sinh({0})", "cosh": "np.cosh({0})", "tanh": "np.tanh({0})",
    "sigmoid": "sigmoid({0})", "softplus": "np.logaddexp(0.0, {0})", "relu": "np.maximum({0}, 0.0)",
    "abs": "np.abs({0})", "sign": "np.sign({0})", "step": "np.heaviside({0}, 0.0)", "max": "np.maximum({0}, {1})",
    "min": "np.minimum({0}, {1})", "id": "{0}", "ones_like": "np.ones_like({0})", "transpose": "{0}.T",
    "sum": "np.sum({0})", "sum_axis": "np.sum({0}, axis={1})", "mean": "np.mean({0})",
    "mean_axis": "np.mean({0}, axis={1})", "dot": "np.sum({0} * {1})", "norm": "np.linalg.norm({0})",
    "amax": "np.max({0})", "amin": "np.min({0})", "logsumexp": "logsumexp({0})", "softmax": "softmax({0})",
    "index": "{0}[{ix}]", "arange": "np.arange({0})", "onehot": "onehot({0}, {1})", "outer": "np.outer({0}, {1})",
    "stack": "np.array([{all}])",
}, _NP_HELPERS, {"pi": "np.pi", "e": "np.e"})

_TORCH_HELPERS = {
    "stack": "def stack(*items):\n    return torch.stack([torch.as_tensor(v, dtype=torch.float64) for v in items])",
    "onehot": "def onehot(y, c):\n    return torch.nn.functional.one_hot(torch.as_tensor(y).long(), int(c)).double()",
    "index": "def ix(i):\n    return torch.as_tensor(i).long()",
}
TORCH = Lang("torch", "import math\n\nimport torch", {
    "neg": "-{0}", "exp": "torch.exp({0})", "log": "torch.log({0})", "log2": "torch.log2({0})",
    "log10": "torch.log10({0})", "sqrt": "torch.sqrt({0})", "sin": "torch.sin({0})", "cos": "torch.cos({0})",
    "tan": "torch.tan({0})", "asin": "torch.asin({0})", "acos": "torch.acos({0})", "atan": "torch.atan({0})",
    "atan2": "torch.atan2({0}, {1})", "log1p": "torch.log1p({0})", "sinh": "torch.sinh({0})",
    "cosh": "torch.cosh({0})", "tanh": "torch.tanh({0})", "sigmoid": "torch.sigmoid({0})",
    "softplus": "torch.nn.functional.softplus({0})", "relu": "torch.relu({0})", "abs": "torch.abs({0})",
    "sign": "torch.sign({0})", "step": "torch.heaviside({0}, torch.zeros_like({0}))",
    "max": "torch.maximum({0}, {1})", "min": "torch.minimum({0}, {1})", "id": "{0}",
    "ones_like": "torch.ones_like({0})", "transpose": "{0}.T", "sum": "torch.sum({0})",
    "sum_axis": "torch.sum({0}, dim={1})", "mean": "torch.mean({0})", "mean_axis": "torch.mean({0}, dim={1})",
    "dot": "torch.sum({0} * {1})", "norm": "torch.linalg.norm({0})", "amax": "torch.max({0})",
    "amin": "torch.min({0})", "logsumexp": "torch.logsumexp({0}, dim=-1)", "softmax": "torch.softmax({0}, dim=-1)",
    "index": "{0}[{ix}]", "arange": "torch.arange(int({0}), dtype=torch.float64)", "onehot": "onehot({0}, {1})",
    "outer": "torch.outer({0}, {1})", "stack": "stack({all})",
}, _TORCH_HELPERS, {"pi": "math.pi", "e": "math.e"})

LANGUAGES = {"python": PYTHON, "numpy": NUMPY, "torch": TORCH}


class _Names:
    """Identifiers for the program's names: the user's where they are identifiers already, made
    into one otherwise (c' -> c_1), never a keyword or a name of the generated code."""

    RESERVED: ClassVar[set[str]] = {
        "math", "np", "torch", "ctx", "self", "ix", "onehot", "softmax", "logsumexp", "sigmoid", "softplus", "step",
        "sign", "forward", "backward", "forward_backward", "grad", "grads", "Derived", "Function",
    }

    def __init__(self) -> None:
        self.taken: set[str] = set(self.RESERVED)

    def make(self, wanted: str) -> str:
        base = re.sub(r"\W", "_", wanted.replace("'", "_p")) or "t"
        if base[0].isdigit():
            base = "t" + base
        if keyword.iskeyword(base):
            base += "_"
        name, k = base, 1
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name


class _Writer:
    """Expressions of the derivation's nodes in one language: named nodes by their names, the
    inner nodes of a backward rule written out where they are used."""

    def __init__(self, d: Derivation, lang: Lang) -> None:
        self.d = d
        self.lang = lang
        self.names: dict[int, str] = {}
        self.used: set[str] = set()  # the primitives written, for their helper functions

    def constant(self, i: int) -> str:
        node = self.d.nodes[i]
        if node.text in self.lang.constants:
            return self.lang.constants[node.text]
        value = float(node.value if node.value is not None else 0.0)
        return repr(int(value)) + ".0" if value.is_integer() and abs(value) < 1e15 else repr(value)

    def expr(self, i: int, top: bool = True) -> tuple[str, int]:
        """Node i as (text, precedence)."""
        if i in self.names and not top:
            return self.names[i], ATOM
        node = self.d.nodes[i]
        if node.kind is Kind.CONST:
            text = self.constant(i)
            return text, UNARY if text.startswith("-") else ATOM
        if node.prim is None:
            return self.names[i], ATOM
        prim = node.prim
        name = prim.name
        self.used.add(name)
        args = node.inputs
        if name in INFIX:
            symbol, prec = INFIX[name]
            left, lp = self.expr(args[0], False)
            right, rp = self.expr(args[1], False)
            right_assoc = name == "pow"
            left = left if (lp > prec or (lp == prec and not right_assoc)) else f"({left})"
            right = right if (rp > prec or (rp == prec and right_assoc)) else f"({right})"
            return f"{left} {symbol} {right}", prec
        template = self.lang.calls.get(name)
        if template is None or (self.lang.scalars_only and not prim.elementwise):
            raise SymgradError("usage", f"{self.lang.name} code has no {prim.called_as} (a tensor gate)",
                               hint="write NumPy or PyTorch code: --lang numpy or --lang torch")
        parts = [self.expr(j, False) for j in args]
        if self.lang.name == "torch" and name not in ("index", "sum_axis", "mean_axis", "onehot", "arange", "stack"):
            # torch's functions take tensors, not Python numbers
            parts = [(f"torch.tensor({t}, dtype=torch.float64)", ATOM) if self.d.nodes[j].kind is Kind.CONST
                     else (t, p) for j, (t, p) in zip(args, parts)]
        texts = [t for t, _ in parts]
        if template == "-{0}":
            inner, p = parts[0]
            return "-" + (inner if p > UNARY else f"({inner})"), UNARY
        if template in ("{0}.T", "{0}[{ix}]"):
            inner, p = parts[0]
            base = inner if p == ATOM else f"({inner})"
            if template == "{0}.T":
                return base + ".T", ATOM
            return base + "[" + ", ".join(self._index(j, t) for j, t in zip(args[1:], texts[1:])) + "]", ATOM
        text = template.format(*texts, rest=", ".join(texts[1:]), all=", ".join(texts))
        if name in ("sum_axis", "mean_axis"):  # the axis as a whole number
            axis = texts[1]
            axis = str(int(float(axis))) if re.fullmatch(r"-?[\d.]+", axis) else f"int({axis})"
            text = template.format(texts[0], axis)
        return text, ATOM if not text.startswith("-") else UNARY

    def _index(self, j: int, text: str) -> str:
        node = self.d.nodes[j]
        if node.kind is Kind.CONST and node.value is not None and float(node.value).is_integer():
            return str(int(node.value))
        return f"ix({text})"

    def helpers(self) -> list[str]:
        return [self.lang.helpers[n] for n in sorted(self.used) if n in self.lang.helpers]


def generate(graph: Graph, lang: str = "python", style: str = "staged",
             shapes: list[tuple[int, ...]] | None = None) -> str:
    """The program's forward and backward pass as code in `lang` ("python", "numpy" or "torch"),
    in the staged style (one function, a line per node) or the lecture's modular style (a class
    per gate).  `shapes`: each node's core shape at a point (tensor programs need them).  Raises
    SymgradError ("usage") where the language cannot write a gate (tensors in plain Python) or
    symbolic reverse mode has no rule for it."""
    language = LANGUAGES[lang]
    if language.scalars_only:
        tensor = next((n.prim for n in graph.nodes if n.prim is not None and not n.prim.elementwise), None)
        if tensor is not None:
            raise SymgradError("usage", f"{lang} code has no {tensor.called_as} (a tensor gate)",
                               hint="write NumPy or PyTorch code: --lang numpy or --lang torch")
    d = derive(graph, shapes, upstream=True)
    if style == "modular":
        return _modular(d, language)
    return _staged(d, language)


def _function_names(d: Derivation, w: _Writer, names: _Names) -> tuple[list[str], dict[int, str]]:
    graph = d.graph
    params = []
    for v, i in zip(graph.variables, graph.inputs):
        w.names[i] = names.make(v)
        params.append(w.names[i])
    for i, node in enumerate(graph.nodes):
        if node.kind is Kind.GATE:
            w.names[i] = names.make(graph.labels[i] or f"t{i}")
    grads = {i: names.make("d" + w.names[i]) for i in sorted(d.grads, reverse=True)
             if d.nodes[i].kind is not Kind.CONST}
    return params, grads


def _staged(d: Derivation, lang: Lang) -> str:
    graph = d.graph
    w = _Writer(d, lang)
    names = _Names()
    params, grads = _function_names(d, w, names)
    out = w.names[graph.output]
    w.names[d.seed] = grads[graph.output]
    body = ["    # forward pass"]
    for i, node in enumerate(graph.nodes):
        if node.kind is Kind.GATE:
            body.append(f"    {w.names[i]} = {w.expr(i)[0]}")
    body.append("    # backward pass")
    body += _backward_lines(d, w, grads, "    ")
    wanted = _returned(graph, w, grads, lang)
    body.append(f"    return {out}, ({', '.join(wanted)}{',' if len(wanted) == 1 else ''})")
    seed_name = grads[graph.output]
    head = f"def forward_backward({', '.join(params)}, {seed_name}=1.0):"
    doc = (f'    """{graph.output_name} and its gradient with respect to {", ".join(graph.variables)}, by '
           f'the staged backward pass;\n    {seed_name} is the gradient arriving at {graph.output_name}."""')
    if lang.name == "torch":
        return _torch(d, w, params, grads, body)
    parts = [lang.header, *w.helpers(), "\n".join([head, doc, *body])]
    return "\n\n\n".join(parts) + "\n"


def _returned(graph: Graph, w: _Writer, grads: dict[int, str], lang: Lang) -> list[str]:
    """Each input's gradient as returned: its d-name; zero where no gradient reaches it; None for
    an input used only as an index (it has none)."""
    zero = {"python": "0.0", "numpy": "np.zeros_like({0})", "torch": "torch.zeros_like({0})"}[lang.name]
    return ["None" if v in graph.index_only else grads[i] if i in grads else zero.format(w.names[i])
            for v, i in zip(graph.variables, graph.inputs)]


def _accumulate(indent: str, name: str, text: str, lang: Lang) -> str:
    """A branch added to a gradient: += for Python's numbers; for arrays and tensors, which += would
    change in place under every other name they have (dx = dq makes them one array), a new sum."""
    return f"{indent}{name} += {text}" if lang.scalars_only else f"{indent}{name} = {name} + {text}"


def _backward_lines(d: Derivation, w: _Writer, grads: dict[int, str], indent: str) -> list[str]:
    """d node = the first branch; d node += each other branch; nodes in backward order."""
    lines = []
    for i in sorted(grads, reverse=True):
        if i == d.graph.output:
            continue
        name = grads[i]
        for k, part in enumerate(d.parts[i]):
            text = w.expr(part)[0] if part not in w.names else w.names[part]
            lines.append(f"{indent}{name} = {text}" if k == 0 else _accumulate(indent, name, text, w.lang))
        w.names.setdefault(d.grads[i], name)
    return lines


def _torch(d: Derivation, w: _Writer, params: list[str], grads: dict[int, str], body: list[str]) -> str:
    """A torch.autograd.Function whose forward is the forward pass and whose backward is the staged
    backward pass (the forward values recomputed from the saved inputs)."""
    graph = d.graph
    seed = grads[graph.output]
    forward = [line for line in body[1:body.index("    # backward pass")]]
    backward = body[body.index("    # backward pass") + 1:-1]
    wanted = _returned(graph, w, grads, TORCH)
    out = w.names[graph.output]
    lines = [
        "class Derived(torch.autograd.Function):",
        f'    """{graph.output_name} with the backward pass written out, as the lecture derives it."""',
        "",
        "    @staticmethod",
        f"    def forward(ctx, {', '.join(params)}):",
        f"        ctx.save_for_backward({', '.join(params)}{',' if len(params) == 1 else ''})",
        *["    " + line for line in forward],
        f"        return {out}",
        "",
        "    @staticmethod",
        f"    def backward(ctx, {seed}):",
        f"        {', '.join(params)}{',' if len(params) == 1 else ''} = ctx.saved_tensors",
        *["    " + line for line in forward],
        *["    " + line for line in backward],
        f"        return {', '.join(wanted)}",
    ]
    return "\n\n\n".join([TORCH.header, *w.helpers(), "\n".join(lines)]) + "\n"


# ---- the lecture's modular style --------------------------------------------------------------

def _modular(d: Derivation, lang: Lang) -> str:
    """The lecture's modular implementation: a class per kind of gate whose forward caches its inputs
    and output and whose backward returns the gradient for each input (the upstream times the local
    gradient); a function that runs the gates forward, then backward in reverse order."""
    if lang.name == "torch":
        raise SymgradError("usage", "the modular style is written in Python or NumPy",
                           hint="use --lang python or --lang numpy with --style modular")
    graph = d.graph
    w = _Writer(d, lang)
    names = _Names()
    params, grads = _function_names(d, w, names)
    classes: dict[tuple[str, int, tuple[str, ...]], str] = {}
    sources: list[str] = []
    gate_of: dict[int, str] = {}
    class_of: dict[int, str] = {}
    for i, node in enumerate(graph.nodes):
        if node.kind is not Kind.GATE or node.prim is None:
            continue
        # the rules of the inputs that carry a gradient ("" for the others: a constant exponent)
        rules = tuple(r if _carries(d, i, k) else "" for k, r in enumerate(_rules(d, i)))
        key = (node.prim.name, len(node.inputs), rules)
        if key not in classes:
            classes[key] = names.make("".join(p.capitalize() for p in node.prim.name.split("_")) + "Gate")
            sources.append(_gate_class(classes[key], node.prim, len(node.inputs), rules, lang, w))
        gate_of[i] = names.make(f"{w.names[i]}_gate")
        class_of[i] = classes[key]
    seed = grads[graph.output]
    body = ["    # forward pass: each gate computes its output and keeps what its backward needs"]
    for i, cls in gate_of.items():
        args = ", ".join(w.expr(j, False)[0] for j in graph.nodes[i].inputs)
        body.append(f"    {cls} = {class_of[i]}()")
        body.append(f"    {w.names[i]} = {cls}.forward({args})")
    body.append("    # backward pass: each gate, last first, turns its upstream gradient into its inputs' gradients")
    started: set[int] = set()
    for i in sorted(gate_of, reverse=True):
        if i not in grads:
            continue
        node = graph.nodes[i]
        if not any(_carries(d, i, k) for k in range(len(node.inputs))):
            continue  # numbers alone: nothing to send back
        targets, after = [], []
        for k, j in enumerate(node.inputs):
            if not _carries(d, i, k):
                targets.append("_")
                continue
            broadcast = node.prim.elementwise and d.shapes[j] != d.shapes[i]  # type: ignore[union-attr]
            if j not in started and not broadcast:
                targets.append(grads[j])
            else:
                part = names.make(f"{grads[j]}_part")
                targets.append(part)
                text = _sum_to(part, d.shapes[j], d.shapes[i], lang) if broadcast else part
                after.append(_accumulate("    ", grads[j], text, lang) if j in started
                             else f"    {grads[j]} = {text}")
            started.add(j)
        body.append(f"    {', '.join(targets)}{',' if len(targets) == 1 else ''} = {gate_of[i]}.backward({grads[i]})")
        body += after
    wanted = _returned(graph, w, grads, lang)
    body.append(f"    return {w.names[graph.output]}, ({', '.join(wanted)}{',' if len(wanted) == 1 else ''})")
    head = f"def forward_backward({', '.join(params)}, {seed}=1.0):"
    doc = (f'    """{graph.output_name} and its gradient with respect to {", ".join(graph.variables)}, gate by '
           f'gate;\n    {seed} is the gradient arriving at {graph.output_name}."""')
    return "\n\n\n".join([lang.header, *w.helpers(), *sources, "\n".join([head, doc, *body])]) + "\n"


def _sum_to(text: str, to: tuple[int, ...], frm: tuple[int, ...], lang: Lang) -> str:
    """A gradient shaped `frm` summed back to an input shaped `to` that an elementwise gate
    broadcast: over all axes for a scalar, over the leading ones for a vector added to each row."""
    if to == ():
        return lang.calls["sum"].format(text)
    for _ in range(len(frm) - len(to)):
        text = lang.calls["sum_axis"].format(text, 0)
    return text


def _carries(d: Derivation, i: int, k: int) -> bool:
    """Does gate i's input k get a gradient (not an index, not a number, reached by the output)?"""
    node = d.graph.nodes[i]
    j = node.inputs[k]
    return node.prim is not None and node.prim.differentiable(k) and j in d.grads and \
        d.graph.nodes[j].kind is not Kind.CONST and d.dep[j]


def _rules(d: Derivation, i: int) -> tuple[str, ...]:
    """The backward rules of gate i for its inputs' shapes (as derive used them)."""
    from .derive import operands

    node = d.graph.nodes[i]
    assert node.prim is not None
    return node.prim.backward_rules(operands(d.graph.nodes, i, d.shapes))


def _gate_class(name: str, prim: P.Primitive, arity: int, rules: tuple[str, ...], lang: Lang, w: _Writer) -> str:
    """One gate's class: forward(inputs) keeps them and the output; backward(g) returns the
    gradient for each input from the table's backward rule."""
    from types import SimpleNamespace

    from .derive import _Builder

    params = [prim.param(k) for k in range(arity)]
    scratch = _Builder(SimpleNamespace(nodes=[], labels=[]), [], shaped=False)  # type: ignore[arg-type]
    env = {p: scratch.add(Node(Kind.INPUT, name=p), ()) for p in params}
    env["out"] = scratch.add(Node(Kind.INPUT, name="out"), ())
    env["g"] = scratch.add(Node(Kind.INPUT, name="g"), ())
    writer = _Writer(SimpleNamespace(nodes=scratch.nodes), lang)  # type: ignore[arg-type]
    writer.names = {i: ("g" if p == "g" else f"self.{p}") for p, i in env.items()}
    applied = Node(Kind.GATE, prim, tuple(env[p] for p in params))
    forward_writer = _Writer(SimpleNamespace(nodes=[*scratch.nodes, applied]), lang)  # type: ignore[arg-type]
    forward_writer.names = {env[p]: p for p in params}
    forward = forward_writer.expr(len(scratch.nodes))[0]
    grads = []
    for k in range(arity):
        if k < len(rules) and rules[k]:
            grads.append(writer.expr(scratch.instantiate(rules[k], env))[0])
        else:
            grads.append("None")
    w.used |= writer.used | forward_writer.used
    keep = ", ".join(f"self.{p}" for p in params)
    role = f": {prim.called_as} {prim.role}" if prim.role else ""
    return "\n".join([
        f"class {name}:",
        f'    """{prim.summary}{role}."""',
        "",
        f"    def forward(self, {', '.join(params)}):",
        f"        {keep} = {', '.join(params)}",
        f"        self.out = {forward}",
        "        return self.out",
        "",
        "    def backward(self, g):",
        f"        return {', '.join(grads)}{',' if len(grads) == 1 else ''}",
    ])
