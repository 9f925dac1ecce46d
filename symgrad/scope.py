"""What the names of a program mean: the rules the graph builder asks.

A name in a program is an input (a parameter of the header on its last line, or else a free
name, in order of first use), a named intermediate (assigned, and perhaps assigned again: c, c',
c''), a constant (e, pi, unless the program takes the name for a variable of its own), a function
(a built-in, or the user's, defined before it is called) or, inside a function body, a parameter.

`Names` checks the statements and function bodies against these rules before any node is built,
answers what a name or a call means while `graph._Builder` lowers the syntax to nodes, and keeps
the notes and warnings about names.  It never builds a node itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, overload

from . import primitives as P
from .errors import Source, SymgradError
from .parser import NAME, Program, Syntax, parse, post_order, suggest

if TYPE_CHECKING:
    from .graph import Function, Graph

Span = tuple[int, int]

# W^T with T not a variable is the transpose as papers write it: refused, with W.T offered.
TRANSPOSE_NAME = "T"

# What a constant's name means when it is not the user's variable, and how to write it then.
MEANING = {"e": ("Euler's number", "exp(1)"), "pi": ("the number π", "4*atan(1)")}


def canonical(name: str) -> str:
    """A name as the graph knows it: π is pi, so that both spellings are one name."""
    return P.constant(name) or name


@cache
def expansion(prim_name: str) -> Function:
    """A grouped gate's body, written in symgrad's own language, as a function to inline (--expand)."""
    from .graph import Function  # graph imports this module

    prim = P.PRIMITIVES[prim_name]
    assert prim.expansion is not None
    prog = parse(prim.expansion, f"expansion of {prim_name}", start="value")
    return Function(prim_name, prim.params, prog.statements[0].rhs, prog.syntax, (0, 0))


@dataclass(slots=True)
class Step:
    """One statement to lower, in program order: the root of its value, and the
    name it assigns (None for a bare expression on the last line)."""

    name: str | None
    root: int
    span: Span


@dataclass(slots=True)
class Header:
    """The definition header on the last line, f(x, y) = ...: it names the output and orders the inputs."""

    name: str
    params: tuple[str, ...]
    span: Span


class Names:
    """The name rules of one program, and the notes and warnings about names.

    plan() checks every statement and function body and says what to lower; while lowering,
    lookup(), callee(), primitive() and attribute() say what a name, a call or an attribute
    means there; finish() adds the warnings and notes that need the finished graph."""

    def __init__(self, program: Program, expand: bool) -> None:
        self.program = program
        self.source = program.source
        self.syntax = program.syntax
        self.expand = expand
        self.functions: dict[str, Function] = {}
        self.called: set[str] = set()  # the user's functions that something calls
        self.header: Header | None = None
        self.warnings: list[str] = []
        self.unused: Sequence[str] = ()  # a warning per named statement the output never uses
        self.notes: list[str] = []
        # Constants' names (e, pi) that the program assigns or its header declares: there they are
        # the user's variables in every statement of the program (function bodies keep the constant).
        self.shadowed: dict[str, tuple[str, str]] = {}  # canonical name -> (as written, why)
        self._find_shadowed()

    def error(self, kind: str, message: str, span: Span | None, hint: str | None = None) -> SymgradError:
        return SymgradError(kind, message, source=self.source, span=span, hint=hint)

    def line(self, pos: int) -> int:
        return self.source.line_col(pos)[0]

    # ---- the program's statements, before any node is built -------------------

    def plan(self) -> tuple[list[Step], list[str]]:
        """The statements to lower, in order, and the inputs' names.  Function definitions
        are checked and kept (functions), and so is the header of the last line (header)."""
        stmts = self.program.statements
        steps: list[Step] = []
        for i, st in enumerate(stmts):
            last = i == len(stmts) - 1
            span = (st.start, st.end)
            if st.kind == "bare":
                if not last:
                    raise self.error(
                        "unused", "this expression's value is never used", span,
                        "name it (q = ...) so later lines can use it, or make it the last line",
                    )
                steps.append(Step(None, st.rhs, span))
                continue
            assert st.lhs is not None
            lhs = self.syntax[st.lhs]
            if lhs.kind == "name":
                self._check_assignable(lhs.text, (lhs.start, lhs.end))
                steps.append(Step(canonical(lhs.text), st.rhs, span))
            elif lhs.kind == "call":
                params = self._params(lhs)
                if last:
                    self.header = Header(lhs.text, params, (lhs.start, lhs.end))
                    steps.append(Step(lhs.text, st.rhs, span))
                else:
                    self._define(lhs.text, params, st.rhs, (lhs.start, lhs.end))
            else:
                raise self.error(
                    "syntax", "the left of '=' must be a name or a function header", (lhs.start, lhs.end),
                    "write q = x + y to name a value, or g(a, b) = a * b to define a function",
                )
        return steps, self._variables(steps)

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

    def _check_assignable(self, name: str, span: Span) -> None:
        if name in self.functions:
            raise self.error("name", f"{name} is a function defined earlier; it cannot also name a value",
                             span, "choose another name")

    def _params(self, lhs: Syntax) -> tuple[str, ...]:
        """The parameters of a definition header, g(a, b)."""
        params = []
        for c in lhs.children:
            s = self.syntax[c]
            if s.kind != "name":
                raise self.error(
                    "syntax", f"a definition header takes plain names, but {lhs.text}(...) has "
                    f"'{self.source.text[s.start:s.end]}'", (s.start, s.end),
                    f"write the parameters as names, like {lhs.text}(x, y) = ...",
                )
            name = canonical(s.text)
            if name in params:
                raise self.error("name", f"parameter {s.text} appears twice in {lhs.text}(...)",
                                 (s.start, s.end))
            params.append(name)
        if P.constant(lhs.text):
            raise self.error("name", f"{lhs.text} is a constant and cannot name a function",
                             (lhs.start, lhs.end), "choose another name for the function")
        return tuple(params)

    def _define(self, name: str, params: tuple[str, ...], body: int, span: Span) -> None:
        """Keep a function definition whose body sees only its parameters, constants and the functions before it."""
        from .graph import Function  # graph imports this module

        if name in self.functions:
            prev = self.functions[name]
            raise self.error("name", f"function {name} is defined twice (first on line {self.line(prev.span[0])})",
                             span, "give the second one another name")
        for p in params:
            if p in MEANING:
                what, spelled = MEANING[p]
                self.notes.append(f"inside {name}, {p} is {name}'s parameter; {what} is {spelled}")
        for i in post_order(self.syntax, body):
            s = self.syntax[i]
            if s.kind == "name" and canonical(s.text) in self.shadowed and canonical(s.text) not in params:
                why = self.shadowed[canonical(s.text)][1]
                what, spelled = MEANING[canonical(s.text)]
                raise self.error(
                    "name", f"{s.text} is a variable of this program ({why}), which the body of {name} "
                    f"cannot see", (s.start, s.end),
                    f"for {what} write {spelled}; to use the variable, pass it in: "
                    f"{name}({', '.join((*params, s.text))}) = ...",
                )
            if s.kind == "name" and canonical(s.text) not in params and not P.constant(s.text):
                transpose = self._transpose_meant([body]) if s.text == TRANSPOSE_NAME else None
                raise self.error(
                    "name", f"{s.text} is not a parameter of {name}", (s.start, s.end),
                    (f"{self._transpose_hint(transpose[0])}; " if transpose is not None else "")
                    + f"a function body sees only its parameters, constants and functions; "
                    f"add it to the header: {name}({', '.join((*params, s.text))}) = ...",
                )
            if s.kind == "call":
                if s.text == name:
                    raise self.error("recursion", f"{name} calls itself: recursion is not supported",
                                     (s.start, s.end))
                self._resolve_function(s)
                self.called.add(s.text)
        self.functions[name] = Function(name, params, body, self.syntax, span, len(self.functions))

    def _variables(self, steps: list[Step]) -> list[str]:
        """The inputs: the header's parameters, or free names in order of first use."""
        header = self.header
        assigned: dict[str, int] = {}
        free: dict[str, Span] = {}  # name -> span of its first use
        for i, step in enumerate(steps):
            name, span = step.name, step.span
            syntax = self.syntax  # its columns, read directly: this runs for every entry
            for j in post_order(syntax, step.root):
                if syntax.kinds[j] != NAME:
                    continue
                text = syntax.texts[j]
                v = canonical(text)
                if v in assigned or (P.constant(v) and v not in self.shadowed):
                    continue
                declared = header is not None and v in header.params
                if v in self.functions or (P.function(v) and not declared):
                    raise self.error("name", f"{text} is a function: call it as {text}(...)",
                                     (syntax.starts[j], syntax.ends[j]))
                if v not in free:
                    free[v] = (syntax.starts[j], syntax.ends[j])
            is_last = i == len(steps) - 1
            if name is not None and not (is_last and header is not None):
                if name in free and name in self.shadowed:
                    what, spelled = MEANING[name]
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
        transpose = self._transpose_meant([step.root for step in steps]) if TRANSPOSE_NAME in free else None
        if header is None:
            if transpose is not None and transpose[1]:
                power = transpose[0][0]
                last = steps[-1]
                out = last.name or self.output_name(list(free), set())
                body = self._text(self.syntax[last.root])
                raise self.error(
                    "name", f"{self._text(power)} reads as a power, and {TRANSPOSE_NAME} is not a declared variable",
                    (power.start, power.end),
                    f"{self._transpose_hint(transpose[0])}; for a power of a variable {TRANSPOSE_NAME}, declare it "
                    f"in a header on the last line: {out}({', '.join(free)}) = {body}",
                )
            return list(free)
        fname, params, hspan = header.name, header.params, header.span
        if fname in params:
            raise self.error("name", f"{fname} names the output and cannot also be one of its parameters",
                             hspan, "choose another name for the output or for the parameter")
        for p in params:
            if p in assigned:
                raise self.error("name", f"{p} is a named intermediate (line {self.line(assigned[p])}) "
                                 f"and cannot also be a parameter of {fname}", hspan)
        for v, where in free.items():
            if v not in params:
                listed = f"{fname}({', '.join((*params, v))}) = ..."
                if v == TRANSPOSE_NAME and transpose is not None:
                    power = transpose[0][0]
                    raise self.error(
                        "name", f"{self._text(power)}: {v} is not a parameter of {fname}", (power.start, power.end),
                        f"{self._transpose_hint(transpose[0])}; for a power of a variable {v}, add it to the "
                        f"header: {listed}",
                    )
                raise self.error(
                    "name", f"{v} is not a parameter of {fname}", where,
                    f"every variable must be listed in the header: {listed}",
                )
        return list(params)

    def _text(self, s: Syntax) -> str:
        return self.source.text[s.start:s.end]

    def _transpose_meant(self, roots: list[int]) -> tuple[list[Syntax], bool] | None:
        """Where the program writes W^T (or W**T) with T a name and W not a number or a constant, as
        papers write the transpose: those powers, and whether T is used nowhere else.  None if none."""
        powers: list[Syntax] = []
        uses = 0
        for root in roots:
            for j in post_order(self.syntax, root):
                s = self.syntax[j]
                if s.kind == "name" and canonical(s.text) == TRANSPOSE_NAME:
                    uses += 1
                if s.kind == "op" and s.text == "pow":
                    base, exponent = (self.syntax[c] for c in s.children)
                    if (exponent.kind == "name" and exponent.text == TRANSPOSE_NAME and base.kind != "num"
                            and not (base.kind == "name" and P.constant(base.text))):
                        powers.append(s)
        return (powers, len(powers) == uses) if powers else None

    def _transpose_hint(self, powers: list[Syntax]) -> str:
        base = self._text(self.syntax[powers[0].children[0]])
        return f"for the transpose write {base}.T (or {base}ᵀ)"

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

    # ---- while lowering: what a name, a call or an attribute means here -------

    def lookup(self, text: str, env: dict[str, int], span: Span | None) -> int | str:
        """What a name means where env holds the names in scope (canonical name -> node: the
        inputs and named intermediates so far, or in a body, its parameters): the node it
        names there, or else the constant it is, by its canonical name (e, pi)."""
        name = canonical(text)
        if name in env:
            return env[name]
        const = P.constant(text)
        if const is not None:
            return const
        raise self.error("name", f"unknown name {text}", span)  # plan()'s checks make this rare

    def callee(self, s: Syntax, in_program: bool, within: Function | None) -> Function | None:
        """The body to run for a call: a user's function, or with --expand a grouped gate.
        in_program: the call is written in the program (not in a grouped gate's expansion);
        within: the function whose body holds the call, if any."""
        if s.kind != "call":
            return None
        f = self.functions.get(s.text)
        if f is not None and in_program and (within is None or f.index < within.index):
            self.called.add(f.name)
            return f  # expansions see only built-ins; a body, only functions defined before it
        prim = P.function(s.text)
        if self.expand and prim is not None and prim.expansion is not None:
            self.called.add(prim.name)
            return expansion(prim.name)
        return None

    def check_arity(self, s: Syntax, arity: int, params: tuple[str, ...]) -> None:
        if len(s.children) != arity:
            what = "no arguments" if arity == 0 else (
                f"1 argument ({params[0]})" if arity == 1 else f"{arity} arguments ({', '.join(params)})")
            raise self.error("arity", f"{s.text} takes {what}, but {len(s.children)} "
                             f"{'was' if len(s.children) == 1 else 'were'} given", (s.start, s.end))

    def primitive(self, s: Syntax, nargs: int, span: Span | None) -> P.Primitive:
        """The built-in function a call with nargs arguments means."""
        prim = P.function(s.text, nargs)
        if prim is None:
            self._resolve_function(s)
            arities = sorted({p.arity for p in P.overloads(s.text)})
            if len(arities) > 1:
                raise self.error("arity", f"{s.text} takes {' or '.join(map(str, arities))} arguments, "
                                 f"but {nargs} {'was' if nargs == 1 else 'were'} given", span)
            prim = P.overloads(s.text)[0]
            self.check_arity(s, prim.arity, prim.params)
        return prim

    def attribute(self, s: Syntax, span: Span | None) -> str:
        """The operation an attribute names: W.T is the transpose, and there is no other."""
        if s.text != "T":
            hint = "W.T is the transpose of W"
            if s.text.lower() in ("toml", "csv", "tsv", "json", "jsonl", "npy", "sg", "txt"):
                hint = f"if this is a file name, there is no such file; {hint}"
            raise self.error("name", f"unknown attribute .{s.text}", span, hint)
        return "transpose"

    # ---- once the nodes are built ------------------------------------------------

    def output_name(self, variables: list[str], taken: set[str]) -> str:
        """A name for the value of a bare last line, free among the variables, the
        nodes' names (taken) and the functions: f, out, result, then f1, f2, ..."""
        taken = set(variables) | taken | set(self.functions)
        for name in ("f", "out", "result"):
            if name not in taken:
                return name
        k = 1
        while f"f{k}" in taken:
            k += 1
        return f"f{k}"

    def head(self, output_name: str, variables: list[str]) -> str:
        """The program as a function, "f(x, y, z)": its header, or the output's name and the inputs."""
        if self.header is not None:
            return f"{self.header.name}({', '.join(self.header.params)})"
        return f"{output_name}({', '.join(variables)})"

    def finish(self, unused: list[tuple[str | None, Span]]) -> None:
        """The warnings and notes that need the built graph: named values the output never
        uses (name, statement span), functions nothing calls, constants taken for variables."""
        self.unused = UnusedWarnings(unused, self.source)
        if len(self.unused) <= SHOWN_UNUSED:
            self.warnings += self.unused
        else:  # one line, not one per statement (18,000 lines for a long program)
            first = ", ".join(f"{name} (line {self.line(span[0])})" for name, span in unused[:3])
            self.warnings.append(f"{len(unused):,} named statements are never used by the output: {first} and "
                                 f"{len(unused) - 3:,} more (--verbose lists them all)")
        for fname, f in self.functions.items():
            if fname not in self.called:
                self.warnings.append(f"function {fname} (line {self.line(f.span[0])}) is never called")
        for const, (written, _) in self.shadowed.items():
            named = "" if written == const else f" (named {const})"
            what, spelled = MEANING[const]
            self.notes.append(f"{written} is a variable here{named}; {what} is {spelled}")


SHOWN_UNUSED = 5  # unused statements warned of one by one; more are summarized in one warning


class UnusedWarnings(Sequence[str]):
    """The warnings "t2 (line 3) is never used by the output", one per unused named statement,
    written when read: a long program may have a million, which --verbose alone lists."""

    def __init__(self, unused: list[tuple[str | None, Span]], source: Source) -> None:
        self._unused, self._source = unused, source

    def __len__(self) -> int:
        return len(self._unused)

    @overload
    def __getitem__(self, k: int) -> str: ...

    @overload
    def __getitem__(self, k: slice) -> list[str]: ...

    def __getitem__(self, k: int | slice) -> str | list[str]:
        if isinstance(k, slice):
            return [self._warning(u) for u in self._unused[k]]
        return self._warning(self._unused[k])

    def _warning(self, unused: tuple[str | None, Span]) -> str:
        name, span = unused
        return f"{name} (line {self._source.line_col(span[0])[0]}) is never used by the output"


def _again(name: str, times: int) -> str:
    if times == 0:
        return name
    return name + "'" * times if times <= 3 else f"{name}#{times + 1}"


def labels(graph: Graph) -> list[str]:
    """What each node is called in views: the user's name (assigned again: c, c', c'', c''', c#5, ...),
    a constant as written, or a generated n1, n2, ... that never collides with the user's names."""
    taken = {n.name for n in graph.nodes if n.name} | set(graph.functions)
    result: list[str] = []
    k = 0
    times: dict[str, int] = {}
    for i, n in enumerate(graph.nodes):
        if n.name is not None:
            again = times[n.name] = times.get(n.name, -1) + 1
            result.append(_again(n.name, again))
        elif n.prim is None:  # a constant (inputs have names)
            result.append(n.text or repr(n.value))
        elif not graph.visible(i):
            result.append("")
        else:
            k += 1
            while f"n{k}" in taken:
                k += 1
            result.append(f"n{k}")
    return result
