"""A small, fast driver for the grammar's own LALR tables.

Lark analyses grammar/symgrad.lark (the one definition of the language) into a
lexer's terminals and an LALR(1) parse table; this module runs them with one
compiled pattern and one loop, as Lark's own BasicLexer and parser do, but
without a Token object per token or a lookup by rule object per reduction.
Everything it knows comes from the analysed grammar: the terminals in Lark's
own order (so the first alternative that matches wins, as in Lark), the
table's shifts, reductions and gotos, and Lark's callback for each rule (which
filters, inlines and names the children as the grammar says).  A unit rule of
an inlined ``?rule`` (sum: product) passes its child through, as Lark's
callback would.

On bad input it stops at the first problem and reports what Lark's exceptions
would (the position, the offending token, the token before it, and the
terminals the parser could have taken there), so error messages are made from
the same facts.  Source of the algorithm: the LR parsing loop of Aho, Sethi and
Ullman, "Compilers" (1986), section 4.7; the "accepts" check follows Lark's
InteractiveParser.accepts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lark import Lark, Tree

END = "$END"


class Lexeme:
    """One token as the driver saw it: its terminal's name (NAME, PLUS, $END), its text and
    where it is in the parsed text (character offsets, end exclusive).  It answers to the names
    of Lark's Token (type, start_pos, end_pos, and str() for the text), so that the same
    callbacks serve Lark's parser and this one."""

    __slots__ = ("end_pos", "start_pos", "text", "type")

    def __init__(self, type: str, text: str, start_pos: int, end_pos: int) -> None:
        self.type, self.text, self.start_pos, self.end_pos = type, text, start_pos, end_pos

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Lexeme({self.type!r}, {self.text!r}, {self.start_pos}, {self.end_pos})"


class ParseFailure(Exception):
    """The first place the text stops being the language.

    kind is "character" (no terminal matches at `pos`) or "token" (`token`, possibly $END at
    the end of the text, cannot follow what came before).  `previous` is the token before it
    (None at the start) and `accepts` the terminals the parser could have taken instead,
    worked out before any reduction the offending token would trigger."""

    def __init__(self, kind: str, pos: int, token: Lexeme | None = None, previous: Lexeme | None = None,
                 accepts: frozenset[str] = frozenset()) -> None:
        super().__init__(f"{kind} at {pos}")
        self.kind, self.pos, self.token, self.previous, self.accepts = kind, pos, token, previous, accepts


Callback = Callable[..., Any]

# How a reduction makes its value (Tables.rules): a unit rule passing its child through, a rule
# passing one kept child through, a handler called with all children or with the kept ones, an
# inlined _rule's kept children (spliced into its parent's), a handler called with its kept
# children and those of its inlined _rules, or Lark's own callback (placeholders for [x]).
UNIT, PICK, ALL, KEPT, SPLICE, SPLICED, LARK = range(7)


class Inlined(list[Any]):
    """The kept children of an inlined rule (_sep, and the helpers Lark makes for x* and x+),
    which its parent takes in their place (Lark's ChildFilterLALR, with the same reuse of the
    first child's list that keeps a left-recursive repetition linear)."""

    __slots__ = ()


class Tables:
    """The analysed grammar of one Lark LALR parser (lexer="basic"), made ready for parse().

    actions[state] maps a terminal or nonterminal name to an action code: a shift (or, for a
    nonterminal, a goto) to state s is s, and a reduction by rule r is -1 - r.  rules[r] is
    (the number of symbols it pops, its nonterminal, how it makes its value (UNIT ... LARK),
    the handler, the positions of the children it keeps).

    `handlers` is the transformer Lark was given (its methods take their children inline,
    @v_args(inline=True)); a rule whose value Lark's callback would make by calling one of its
    methods with some of the children, or by passing one child through (a ?rule), is run
    here directly, as Lark's ParseTreeBuilder would; every other rule by Lark's callback."""

    def __init__(self, lark: Lark, handlers: object) -> None:
        frontend: Any = lark.parser
        lexer = frontend.lexer
        terminals = lexer.terminals  # Lark's order: the first alternative that matches wins
        self.pattern = re.compile("|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in terminals))
        self.ignore: frozenset[str] = frozenset(lexer.ignore_types)
        parser = frontend.parser.parser
        table = parser.parse_table
        callbacks = parser.callbacks
        index: dict[Any, int] = {}
        self.rules: list[tuple[int, str, int, Callback | None, tuple[int, ...], tuple[bool, ...]]] = []
        for rule in callbacks:
            index[rule] = len(self.rules)
            self.rules.append((len(rule.expansion), rule.origin.name, *_reduction(rule, handlers, callbacks[rule])))
        self.actions: dict[int, dict[str, int]] = {}
        for state, row in table.states.items():
            codes = {}
            for symbol, (action, arg) in row.items():
                codes[symbol] = -1 - index[arg] if action.name == "Reduce" else arg
            self.actions[state] = codes
        self.start_states: dict[str, int] = dict(table.start_states)
        self.end_states: dict[str, int] = dict(table.end_states)
        # after a unit rule's reduction, the state below the top and the lookahead decide the
        # next one: the top a chain of them ends in, found once (atom -> postfix -> ... -> sum)
        self._chains: dict[tuple[int, int, str], int] = {}

    # ---- lexing --------------------------------------------------------------

    def lex(self, text: str) -> tuple[list[str], list[int], list[int], int | None]:
        """The tokens of text: their terminal names, starts and ends (ignored ones left out), up to
        the first character no terminal matches, and that character's position (None if none)."""
        types: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        match, ignore, pos, n = self.pattern.match, self.ignore, 0, len(text)
        while pos < n:
            m = match(text, pos)
            if m is None:
                return types, starts, ends, pos
            kind, end = m.lastgroup, m.end()
            assert kind is not None
            if kind not in ignore:
                types.append(kind)
                starts.append(pos)
                ends.append(end)
            pos = end
        return types, starts, ends, None

    # ---- parsing -------------------------------------------------------------

    def parse(self, text: str, start: str) -> Any:
        """Lex and parse text from the start symbol; the handlers' value for the whole.
        Raises ParseFailure at the first problem: a token the parser cannot take before the first
        character no terminal matches is reported first, as Lark, which lexes as it parses, would."""
        types, starts, ends, bad = self.lex(text)
        actions, rules, chains = self.actions, self.rules, self._chains
        end_state = self.end_states[start]
        states = [self.start_states[start]]
        values: list[Any] = []
        count = len(types)
        k = 0
        if bad is not None and not count:
            raise ParseFailure("character", bad)
        kind = types[0] if count else END
        while True:
            code = actions[states[-1]].get(kind)
            if code is None:
                raise self._failure(text, types, starts, ends, k, start)
            if code >= 0:  # shift the token
                states.append(code)
                s, e = starts[k], ends[k]
                values.append(Lexeme(kind, text[s:e], s, e))
                k += 1
                if k < count:
                    kind = types[k]
                elif bad is None:
                    kind = END
                else:  # every token before the character no terminal matches was taken
                    raise ParseFailure("character", bad, previous=_last(text, types, starts, ends))
                continue
            size, origin, mode, handler, keep, expand = rules[-1 - code]
            if mode == UNIT:  # its one child passes through; so may the next few
                key = (states[-2], states[-1], kind)
                top = chains.get(key)
                if top is None:
                    top = chains[key] = self._chain(*key)
                states[-1] = top
                if kind == END and top == end_state:
                    return values[-1]
                continue
            if size:
                children = values[-size:]
                del values[-size:], states[-size:]
            else:
                children = []
            if mode == ALL:
                assert handler is not None
                value = handler(*children)
            elif mode == KEPT:
                assert handler is not None
                value = handler(*[children[i] for i in keep])
            elif mode == PICK:
                value = children[keep[0]]
            elif mode == SPLICE:
                value = _splice(children, keep, expand)
            elif mode == SPLICED:
                assert handler is not None
                value = handler(*_splice(children, keep, expand))
            else:
                assert handler is not None
                value = handler(children)
            states.append(actions[states[-1]][origin])
            values.append(value)
            if kind == END and states[-1] == end_state:
                return value

    def _chain(self, below: int, top: int, kind: str) -> int:
        """The top state after every unit reduction the lookahead `kind` triggers in turn."""
        while True:
            code = self.actions[top].get(kind)
            if code is None or code >= 0 or self.rules[-1 - code][2] != UNIT:
                return top
            top = self.actions[below][self.rules[-1 - code][1]]

    def accepts(self, stack: list[int]) -> frozenset[str]:
        """The terminals that could come next with this state stack: those the parser would shift
        after the reductions they trigger (Lark's InteractiveParser.accepts, on states alone)."""
        taken = set()
        for symbol in self.actions[stack[-1]]:
            if (symbol.isupper() or symbol == END) and self._shifts(list(stack), symbol):
                taken.add(symbol)
        return frozenset(taken)

    def _shifts(self, stack: list[int], symbol: str) -> bool:
        actions, rules = self.actions, self.rules
        while True:
            code = actions[stack[-1]].get(symbol)
            if code is None:
                return False
            if code >= 0:
                return True
            size, origin = rules[-1 - code][:2]
            if size:
                del stack[-size:]
            goto = actions[stack[-1]][origin]
            if symbol == END and goto in self.end_states.values():
                return True
            stack.append(goto)

    def _stack(self, types: list[str], upto: int, start: str) -> list[int]:
        """The state stack after shifting the first `upto` tokens (states only: no callbacks)."""
        actions, rules = self.actions, self.rules
        stack = [self.start_states[start]]
        for k in range(upto):
            while True:
                code = actions[stack[-1]][types[k]]
                if code >= 0:
                    stack.append(code)
                    break
                size, origin = rules[-1 - code][:2]
                if size:
                    del stack[-size:]
                stack.append(actions[stack[-1]][origin])
        return stack

    def _failure(self, text: str, types: list[str], starts: list[int], ends: list[int], k: int,
                 start: str) -> ParseFailure:
        token = (Lexeme(types[k], text[starts[k]:ends[k]], starts[k], ends[k]) if k < len(types)
                 else Lexeme(END, "", len(text), len(text)))
        previous = Lexeme(types[k - 1], text[starts[k - 1]:ends[k - 1]], starts[k - 1], ends[k - 1]) if k else None
        stack = self._stack(types, k, start)
        # what could come next; where nothing could (the token broke an earlier reduction), what the state expected
        accepts = self.accepts(stack) or frozenset(s for s in self.actions[stack[-1]] if s.isupper())
        return ParseFailure("token", token.start_pos, token, previous, accepts)


def _last(text: str, types: list[str], starts: list[int], ends: list[int]) -> Lexeme | None:
    return Lexeme(types[-1], text[starts[-1]:ends[-1]], starts[-1], ends[-1]) if types else None


def _reduction(rule: Any, handlers: object,
               callback: Callback) -> tuple[int, Callback | None, tuple[int, ...], tuple[bool, ...]]:
    """How a reduction by this rule makes its value: (mode, handler, kept positions, which of
    them are inlined rules to splice).  Mirrors Lark's ParseTreeBuilder (filtered tokens dropped,
    _rules spliced into their parent, a ?rule's single child passed through, the handler named by
    the rule's alias or name called with the rest) and leaves Lark's callback where a [x] needs
    placeholders, or where a rule has no handler and is not inlined (Lark would make a Tree)."""
    from lark.visitors import _vargs_inline

    options = rule.options
    keep = tuple(i for i, sym in enumerate(rule.expansion)
                 if options.keep_all_tokens or not (sym.is_term and sym.filter_out))
    expand = tuple(not rule.expansion[i].is_term and rule.expansion[i].name.startswith("_") for i in keep)
    if any(options.empty_indices or ()) or options.template_source:
        return LARK, callback, keep, expand
    if options.expand1 and not rule.alias and len(keep) == 1 and not any(expand):
        return (UNIT if len(rule.expansion) == 1 else PICK), None, keep, expand
    handler = getattr(handlers, rule.alias or rule.origin.name, None)
    if handler is None:
        inlined = rule.origin.name.startswith("_")
        return (SPLICE, None, keep, expand) if inlined else (LARK, callback, keep, expand)
    if getattr(handler, "visit_wrapper", None) is not _vargs_inline:
        return LARK, callback, keep, expand
    if any(expand):  # (a ?rule's spliced children may be one, which Lark would pass through: Lark's callback)
        if options.expand1 and not rule.alias:
            return LARK, callback, keep, expand
        return SPLICED, handler.base_func, keep, expand
    return (ALL if len(keep) == len(rule.expansion) else KEPT), handler.base_func, keep, expand  # the bound method


def _splice(children: list[Any], keep: tuple[int, ...], expand: tuple[bool, ...]) -> Inlined:
    """The kept children, with an inlined rule's own in its place (Lark's ChildFilterLALR)."""
    kept = Inlined()
    for i, inline in zip(keep, expand):
        child = children[i]
        if isinstance(child, Tree):  # an inlined rule that Lark's own callback reduced
            child = child.children
        if not inline:
            kept.append(child)
        elif kept:
            kept.extend(child)
        else:  # the first: take its list over (a left-recursive repetition grows one list)
            kept = child
    return kept
