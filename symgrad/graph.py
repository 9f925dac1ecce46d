"""Syntax to computational graph.

The graph is a flat list of nodes in topological order: inputs first, then
every operation after the nodes it reads.  Calls of the user's functions are
inlined, and the nodes of each call made from the program itself are marked
as one group, so views can show the call as a single grouped gate while the
engine runs plain primitives.  Building uses an explicit stack of frames, so
deeply nested expressions and long chains of functions never recurse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from . import primitives as P
from .errors import Source, SymgradError
from .parser import Program, Syntax, parse, suggest


@dataclass(slots=True)
class Node:
    op: str  # a primitive's name, "input" or "const"
    inputs: tuple[int, ...] = ()
    name: str | None = None  # the user's name for this node, if any
    value: float | None = None  # constants: the number
    text: str | None = None  # constants: as written ("2", "pi")
    span: tuple[int, int] | None = None  # where in the source it comes from
    group: int | None = None  # the call (index into Graph.groups) it belongs to


@dataclass(slots=True)
class Group:
    """One call of a user's function from the program: a grouped gate."""

    function: str
    args: tuple[int, ...]  # the nodes passed in
    params: tuple[int, ...]  # the nodes standing for the parameters inside the gate (one per argument)
    start: int  # the call's nodes are start .. output
    output: int
    span: tuple[int, int]


@dataclass
class Function:
    name: str
    params: tuple[str, ...]
    body: int  # root syntax index
    syntax: list[Syntax]
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

    def visible(self, node_id: int) -> bool:
        """Is this node shown, rather than hidden inside a grouped gate?"""
        g = self.nodes[node_id].group
        return g is None or self.groups[g].output == node_id


def build(text: str, name: str = "expression", *, expand: bool = False, start: str = "program") -> Graph:
    """Parse a program (or with start="value", a single expression) and build its graph."""
    return _Builder(parse(text, name, start=start), expand).run()


@cache
def _expansion(prim_name: str) -> Function:
    prim = P.PRIMITIVES[prim_name]
    assert prim.expansion is not None
    prog = parse(prim.expansion, f"expansion of {prim_name}", start="value")
    return Function(prim_name, prim.params, prog.statements[0].rhs, prog.syntax, (0, 0))


# What a constant's name means when it is not the user's variable, and how to write it then.
_MEANING = {"e": ("Euler's number", "exp(1)"), "pi": ("the number π", "4*atan(1)")}


def _canonical(name: str) -> str:
    """A name as the graph knows it: π is pi, so that both spellings are one name."""
    return P.constant(name) or name


def _post_order(syntax: list[Syntax], root: int) -> list[int]:
    """Indices reachable from root, children before parents (their index order)."""
    seen = {root}
    todo = [root]
    while todo:
        for c in syntax[todo.pop()].children:
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return sorted(seen)


@dataclass
class _Frame:
    syntax: list[Syntax]
    order: list[int]
    env: dict[str, int]
    function: Function | None  # the function whose body this is, if any
    pos: int = 0
    results: dict[int, int] = field(default_factory=dict)
    pending: int | None = None  # syntax index of a call waiting for its body
    group_start: int | None = None
    args: tuple[int, ...] = ()  # a grouped gate's arguments (its env holds its parameter nodes)
    call_span: tuple[int, int] | None = None


class _Builder:
    def __init__(self, program: Program, expand: bool) -> None:
        self.program = program
        self.source = program.source
        self.syntax = program.syntax
        self.expand = expand
        self.nodes: list[Node] = []
        self.called: set[str] = set()  # the user's functions that something calls
        self.dep: list[bool] = []  # does the node depend on an input?
        self.groups: list[Group] = []
        self.functions: dict[str, Function] = {}
        self.warnings: list[str] = []
        self.notes: list[str] = []
        # Constants' names (e, pi) that the program assigns or its header declares: there they are
        # the user's variables in every statement of the program (function bodies keep the constant).
        self.shadowed: dict[str, tuple[str, str]] = {}  # canonical name -> (as written, why)

    def error(self, kind: str, message: str, span: tuple[int, int] | None, hint: str | None = None) -> SymgradError:
        return SymgradError(kind, message, source=self.source, span=span, hint=hint)

    def line(self, pos: int) -> int:
        return self.source.line_col(pos)[0]

    # ---- statements ----------------------------------------------------------

    def run(self) -> Graph:
        stmts = self.program.statements
        self._find_shadowed()
        header: tuple[str, tuple[str, ...], tuple[int, int]] | None = None
        plan: list[tuple[str | None, int, tuple[int, int]]] = []  # (assigned name, rhs root, span)
        for i, st in enumerate(stmts):
            last = i == len(stmts) - 1
            span = (st.start, st.end)
            if st.kind == "bare":
                if not last:
                    raise self.error(
                        "unused", "this expression's value is never used", span,
                        "name it (q = ...) so later lines can use it, or make it the last line",
                    )
                plan.append((None, st.rhs, span))
                continue
            assert st.lhs is not None
            lhs = self.syntax[st.lhs]
            if lhs.kind == "name":
                self._check_assignable(lhs.text, (lhs.start, lhs.end))
                plan.append((_canonical(lhs.text), st.rhs, span))
            elif lhs.kind == "call":
                params = self._header(lhs)
                if last:
                    header = (lhs.text, params, (lhs.start, lhs.end))
                    plan.append((lhs.text, st.rhs, span))
                else:
                    self._define(lhs.text, params, st.rhs, (lhs.start, lhs.end))
            else:
                raise self.error(
                    "syntax", "the left of '=' must be a name or a function header", (lhs.start, lhs.end),
                    "write q = x + y to name a value, or g(a, b) = a * b to define a function",
                )
        variables = self._variables(plan, header)
        env: dict[str, int] = {}
        inputs = []
        for v in variables:
            env[v] = self._add(Node("input", name=v))
            inputs.append(env[v])
        made: list[tuple[str | None, int, tuple[int, int]]] = []
        for assigned, root, span in plan:
            node = self._expr(root, env)
            if assigned is not None:
                node = self._named(node, assigned, span)
            if assigned is not None:
                env[assigned] = node
            made.append((assigned, node, span))
        output = made[-1][1]
        if plan[-1][0] is None:
            output_name = self._fresh_output_name(variables)
            output = self._named(output, output_name, plan[-1][2])
        else:
            output_name = plan[-1][0]
        self._warn_unused(made, output)
        for fname, f in self.functions.items():
            if fname not in self.called:
                self.warnings.append(f"function {fname} (line {self.line(f.span[0])}) is never called")
        if header is not None:
            head = f"{header[0]}({', '.join(header[1])})"
        else:
            head = f"{output_name}({', '.join(variables)})"
        for const, (written, _) in self.shadowed.items():
            named = "" if written == const else f" (named {const})"
            what, spelled = _MEANING[const]
            self.notes.append(f"{written} is a variable here{named}; {what} is {spelled}")
        graph = Graph(
            self.program, self.source, self.nodes, variables, inputs, output, output_name, head,
            self.groups, self.functions, self.warnings, notes=self.notes,
        )
        graph.labels = _labels(graph)
        graph.index_only = _index_only(graph)
        return graph

    def _find_shadowed(self) -> None:
        """The constants' names that this program takes for its own variables: assigned
        anywhere in the program, or parameters of the header on its last line."""
        stmts = self.program.statements
        for i, st in enumerate(stmts):
            if st.lhs is None:
                continue
            lhs = self.syntax[st.lhs]
            if lhs.kind == "name":
                names = [lhs]
                why = f"line {self.line(lhs.start)} assigns it"
            elif lhs.kind == "call" and i == len(stmts) - 1:
                names = [self.syntax[c] for c in lhs.children if self.syntax[c].kind == "name"]
                why = f"it is a parameter of {lhs.text}"
            else:
                continue
            for s in names:
                const = P.constant(s.text)
                if const is not None and const not in self.shadowed:
                    self.shadowed[const] = (s.text, why)

    def _check_assignable(self, name: str, span: tuple[int, int]) -> None:
        if name in self.functions:
            raise self.error("name", f"{name} is a function defined earlier; it cannot also name a value",
                             span, "choose another name")

    def _header(self, lhs: Syntax) -> tuple[str, ...]:
        params = []
        for c in lhs.children:
            s = self.syntax[c]
            if s.kind != "name":
                raise self.error(
                    "syntax", f"a definition header takes plain names, but {lhs.text}(...) has "
                    f"'{self.source.text[s.start:s.end]}'", (s.start, s.end),
                    f"write the parameters as names, like {lhs.text}(x, y) = ...",
                )
            name = _canonical(s.text)
            if name in params:
                raise self.error("name", f"parameter {s.text} appears twice in {lhs.text}(...)",
                                 (s.start, s.end))
            params.append(name)
        if P.constant(lhs.text):
            raise self.error("name", f"{lhs.text} is a constant and cannot name a function",
                             (lhs.start, lhs.end), "choose another name for the function")
        return tuple(params)

    def _define(self, name: str, params: tuple[str, ...], body: int, span: tuple[int, int]) -> None:
        if name in self.functions:
            prev = self.functions[name]
            raise self.error("name", f"function {name} is defined twice (first on line {self.line(prev.span[0])})",
                             span, "give the second one another name")
        for p in params:
            if p in _MEANING:
                what, spelled = _MEANING[p]
                self.notes.append(f"inside {name}, {p} is {name}'s parameter; {what} is {spelled}")
        for i in _post_order(self.syntax, body):
            s = self.syntax[i]
            if s.kind == "name" and _canonical(s.text) in self.shadowed and _canonical(s.text) not in params:
                why = self.shadowed[_canonical(s.text)][1]
                what, spelled = _MEANING[_canonical(s.text)]
                raise self.error(
                    "name", f"{s.text} is a variable of this program ({why}), which the body of {name} "
                    f"cannot see", (s.start, s.end),
                    f"for {what} write {spelled}; to use the variable, pass it in: "
                    f"{name}({', '.join((*params, s.text))}) = ...",
                )
            if s.kind == "name" and _canonical(s.text) not in params and not P.constant(s.text):
                raise self.error(
                    "name", f"{s.text} is not a parameter of {name}", (s.start, s.end),
                    f"a function body sees only its parameters, constants and functions; "
                    f"add it to the header: {name}({', '.join((*params, s.text))}) = ...",
                )
            if s.kind == "call":
                if s.text == name:
                    raise self.error("recursion", f"{name} calls itself: recursion is not supported",
                                     (s.start, s.end))
                self._resolve_function(s)
                self.called.add(s.text)
        self.functions[name] = Function(name, params, body, self.syntax, span, len(self.functions))

    def _variables(self, plan: list[tuple[str | None, int, tuple[int, int]]],
                   header: tuple[str, tuple[str, ...], tuple[int, int]] | None) -> list[str]:
        """The inputs: the header's parameters, or free names in order of first use."""
        assigned: dict[str, int] = {}
        free: dict[str, tuple[int, int]] = {}  # name -> span of its first use
        for i, (name, root, span) in enumerate(plan):
            for j in _post_order(self.syntax, root):
                s = self.syntax[j]
                v = _canonical(s.text)
                if s.kind != "name" or v in assigned or (P.constant(v) and v not in self.shadowed):
                    continue
                declared = header is not None and v in header[1]
                if v in self.functions or (P.function(v) and not declared):
                    raise self.error("name", f"{s.text} is a function: call it as {s.text}(...)",
                                     (s.start, s.end))
                free.setdefault(v, (s.start, s.end))
            is_last = i == len(plan) - 1
            if name is not None and not (is_last and header is not None):
                if name in free and name in self.shadowed:
                    what, spelled = _MEANING[name]
                    raise self.error(
                        "name", f"{self.shadowed[name][0]} is used on line {self.line(free[name][0])} before "
                        f"any value is assigned to it", free[name],
                        f"assigning {name} (line {self.line(span[0])}) makes it a variable in the whole program, "
                        f"not {what}: for {what} write {spelled}, or choose another name for the new value",
                    )
                if name in free:
                    raise self.error(
                        "name", f"{name} is an input (used on line {self.line(free[name][0])} before any "
                        f"value is assigned to it) and cannot be assigned", (span[0], span[0] + len(name)),
                        "choose another name for the new value",
                    )
                assigned[name] = span[0]
        if header is None:
            return list(free)
        fname, params, hspan = header
        if fname in params:
            raise self.error("name", f"{fname} names the output and cannot also be one of its parameters",
                             hspan, "choose another name for the output or for the parameter")
        for p in params:
            if p in assigned:
                raise self.error("name", f"{p} is a named intermediate (line {self.line(assigned[p])}) "
                                 f"and cannot also be a parameter of {fname}", hspan)
        for v, where in free.items():
            if v not in params:
                raise self.error(
                    "name", f"{v} is not a parameter of {fname}", where,
                    f"every variable must be listed in the header: {fname}({', '.join((*params, v))}) = ...",
                )
        return list(params)

    def _fresh_output_name(self, variables: list[str]) -> str:
        taken = set(variables) | {n.name for n in self.nodes if n.name} | set(self.functions)
        for name in ("f", "out", "result"):
            if name not in taken:
                return name
        k = 1
        while f"f{k}" in taken:
            k += 1
        return f"f{k}"

    def _named(self, node: int, name: str | None, span: tuple[int, int]) -> int:
        """Give a node the user's name; a node that has one already, or is a
        constant or input, gets an identity node to carry the new name."""
        n = self.nodes[node]
        if n.name is not None or n.op in ("input", "const"):
            node = self._add(Node("id", (node,), span=span))
        self.nodes[node].name = name
        return node

    def _warn_unused(self, made: list[tuple[str | None, int, tuple[int, int]]], output: int) -> None:
        used = [False] * len(self.nodes)
        used[output] = True
        for i in range(len(self.nodes) - 1, -1, -1):
            if used[i]:
                for j in self.nodes[i].inputs:
                    used[j] = True
        for name, node, span in made[:-1]:
            if not used[node]:
                self.warnings.append(f"{name} (line {self.line(span[0])}) is never used by the output")

    # ---- expressions -----------------------------------------------------------

    def _add(self, node: Node) -> int:
        self.nodes.append(node)
        self.dep.append(node.op == "input" or any(self.dep[j] for j in node.inputs))
        return len(self.nodes) - 1

    def _resolve_function(self, s: Syntax) -> None:
        """Check that a call names a known function."""
        if s.text in self.functions or P.function(s.text) is not None:
            return
        known = sorted(set(P.function_names()) | set(self.functions) | set(P.FUNCTION_ALIASES))
        near = suggest(s.text, known)
        later = next((self.line(st.start) for st in self.program.statements if st.lhs is not None
                      and self.syntax[st.lhs].kind == "call" and self.syntax[st.lhs].text == s.text), None)
        if later is not None:
            hint = f"{s.text} is defined later in the program (line {later}): define a function before using it"
        elif near:
            hint = f"did you mean {near}? (symgrad --help lists the functions)"
        else:
            hint = f"if {s.text} is a variable, write {s.text}*(...) to multiply; symgrad --help lists the functions"
        raise self.error("name", f"unknown function {s.text}", (s.start, s.start + len(s.text)), hint)

    def _expr(self, root: int, env: dict[str, int]) -> int:
        """Build the nodes of one expression of the program; calls of functions
        run their bodies on a stack of frames rather than by recursion."""
        stack = [_Frame(self.syntax, _post_order(self.syntax, root), env, None)]
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
                s = fr.syntax[i]
                callee = self._callee(s, fr)
                if callee is not None:
                    self.called.add(callee.name)
                    args = tuple(fr.results[c] for c in s.children)
                    self._check_arity(s, len(callee.params), callee.params, fr)
                    frame = _Frame(callee.syntax, _post_order(callee.syntax, callee.body),
                                   dict(zip(callee.params, args)), callee)
                    fr.pending = i
                    frame.call_span = (s.start, s.end) if fr.syntax is self.syntax else fr.call_span
                    if len(stack) == 1 and not self.expand:
                        # A grouped gate: its parameters get nodes of their own, so that the
                        # gate's local gradient is told apart per parameter even in g(x, x).
                        frame.group_start = len(self.nodes)
                        frame.env = {p: self._add(Node("id", (a,), span=frame.call_span))
                                     for p, a in zip(callee.params, args)}
                        frame.args = args
                    stack.append(frame)
                    pushed = True
                    break
                fr.results[i] = self._node(s, fr)
                fr.pos += 1
            if pushed:
                continue
            returned = fr.results[fr.order[-1]]
            stack.pop()
            if not stack:
                return returned
            if fr.group_start is not None:
                returned = self._close_group(fr, returned)

    def _callee(self, s: Syntax, fr: _Frame) -> Function | None:
        """The body to run for a call: a user's function, or with --expand a grouped gate."""
        if s.kind != "call":
            return None
        f = self.functions.get(s.text)
        if f is not None and fr.syntax is self.syntax and (fr.function is None or f.index < fr.function.index):
            return f  # expansions see only built-ins; a body, only functions defined before it
        prim = P.function(s.text)
        if self.expand and prim is not None and prim.expansion is not None:
            return _expansion(prim.name)
        return None

    def _close_group(self, frame: _Frame, result: int) -> int:
        assert frame.group_start is not None and frame.function is not None
        start = frame.group_start
        params = tuple(frame.env[p] for p in frame.function.params)
        if result in params or self.nodes[result].op == "const":  # the gate's output needs a node of its own
            result = self._add(Node("id", (result,), span=frame.call_span))
        g = len(self.groups)
        assert frame.call_span is not None
        self.groups.append(Group(frame.function.name, frame.args, params, start, result, frame.call_span))
        for n in self.nodes[start:result + 1]:
            n.group = g
        return result

    def _check_arity(self, s: Syntax, arity: int, params: tuple[str, ...], fr: _Frame) -> None:
        if len(s.children) != arity:
            what = "no arguments" if arity == 0 else (
                f"1 argument ({params[0]})" if arity == 1 else f"{arity} arguments ({', '.join(params)})")
            raise self.error("arity", f"{s.text} takes {what}, but {len(s.children)} "
                             f"{'was' if len(s.children) == 1 else 'were'} given", (s.start, s.end))

    def _node(self, s: Syntax, fr: _Frame) -> int:
        span = (s.start, s.end) if fr.syntax is self.syntax else fr.call_span
        if s.kind == "num":
            return self._add(Node("const", value=float(s.text), text=s.text, span=span))
        if s.kind == "name":
            if _canonical(s.text) in fr.env:
                return fr.env[_canonical(s.text)]
            const = P.constant(s.text)
            if const is not None:
                return self._add(Node("const", value=P.CONSTANTS[const], text=const, span=span))
            raise self.error("name", f"unknown name {s.text}", span)  # the checks above make this rare
        args = tuple(fr.results[c] for c in s.children)
        if s.kind == "op":
            return self._add(Node(s.text, args, span=span))
        if s.kind == "index":
            return self._add(Node("index", args, span=span))
        if s.kind == "array":
            return self._add(Node("stack", args, span=span))
        if s.kind == "attr":
            if s.text != "T":
                hint = "W.T is the transpose of W"
                if s.text.lower() in ("toml", "csv", "tsv", "json", "jsonl", "npy", "sg", "txt"):
                    hint = f"if this is a file name, there is no such file; {hint}"
                raise self.error("name", f"unknown attribute .{s.text}", span, hint)
            return self._add(Node("transpose", args, span=span))
        prim = P.function(s.text, len(args))
        if prim is None:
            self._resolve_function(s)
            arities = sorted({p.arity for p in P.overloads(s.text)})
            if len(arities) > 1:
                raise self.error("arity", f"{s.text} takes {' or '.join(map(str, arities))} arguments, "
                                 f"but {len(args)} {'was' if len(args) == 1 else 'were'} given", span)
            prim = P.overloads(s.text)[0]
            self._check_arity(s, prim.arity, prim.params, fr)
        for k, a in enumerate(args):
            if not prim.differentiable(k) and self.dep[a]:
                raise self.error("value", f"the {prim.params[k]} of {s.text} must be a constant number",
                                 (fr.syntax[s.children[k]].start, fr.syntax[s.children[k]].end)
                                 if fr.syntax is self.syntax else span, f"write it as a number: {s.text}(x, 0)")
        return self._add(Node(prim.name, args, span=span))


def _index_only(graph: Graph) -> list[str]:
    """Inputs that reach the output only as indices (a class label y): they get no gradient."""
    as_index = [False] * len(graph.nodes)
    as_value = [False] * len(graph.nodes)
    for node in graph.nodes:
        if node.op in ("input", "const"):
            continue
        prim = P.PRIMITIVES[node.op]
        for k, j in enumerate(node.inputs):
            if prim.differentiable(k):
                as_value[j] = True
            else:
                as_index[j] = True
    return [graph.nodes[i].name or "" for i in graph.inputs if as_index[i] and not as_value[i]]


def _again(name: str, times: int) -> str:
    if times == 0:
        return name
    return name + "'" * times if times <= 3 else f"{name}#{times + 1}"


def _labels(graph: Graph) -> list[str]:
    """What each node is called in views: the user's name, a constant as written,
    or a generated n1, n2, ... that never collides with the user's names."""
    taken = {n.name for n in graph.nodes if n.name} | set(graph.functions)
    labels: list[str] = []
    k = 0
    times: dict[str, int] = {}  # a name assigned again is c, then c', c'', c''', c#5, ...
    for i, n in enumerate(graph.nodes):
        if n.name is not None:
            again = times[n.name] = times.get(n.name, -1) + 1
            labels.append(_again(n.name, again))
        elif n.op == "const":
            labels.append(n.text or repr(n.value))
        elif not graph.visible(i):
            labels.append("")
        else:
            k += 1
            while f"n{k}" in taken:
                k += 1
            labels.append(f"n{k}")
    return labels


def describe(graph: Graph, i: int) -> str:
    """What a node computes, written with its inputs' labels: "x + y", "exp(n1)", "sq(x)"."""
    node = graph.nodes[i]
    labels = graph.labels
    if node.op in ("input", "const"):
        return labels[i]
    if node.group is not None and graph.groups[node.group].output == i:
        grp = graph.groups[node.group]
        return f"{grp.function}({', '.join(labels[a] for a in grp.args)})"
    args = [labels[a] for a in node.inputs]
    prim = P.PRIMITIVES[node.op]
    if node.op == "id":
        return args[0]
    if node.op == "index":
        return f"{args[0]}[{', '.join(args[1:])}]"
    if node.op == "stack":
        return f"[{', '.join(args)}]"
    if node.op == "transpose":
        return f"{args[0]}.T"
    if prim.operator and prim.arity == 2 and prim.symbol:
        return f"{args[0]} {prim.symbol} {args[1]}"
    if prim.operator:
        return f"{prim.symbol}{args[0]}"
    if node.op == "pow":
        return f"{args[0]}^{args[1]}"
    return f"{prim.called_as}({', '.join(args)})"
