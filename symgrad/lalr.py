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
from array import array
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lark import Lark


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
# passing one kept child through, a handler called with all its children or with the kept ones,
# or (BUILD) a handler, or an inlined _rule's list, given the kept children with the children of
# inlined rules spliced in and None for an absent [x] (Lark's ChildFilterLALR).
UNIT, PICK, ALL, KEPT, BUILD = range(5)
FORMAT = 1  # of the data Tables.data() gives: change it when that changes

# A rule as data: (symbols popped, nonterminal, mode, handler name or None, kept positions,
# recipe: (position or -1 for None, splice it?) per argument, pass a single argument through?)
RuleData = tuple[int, str, int, str | None, tuple[int, ...], tuple[tuple[int, bool], ...], bool]


class Inlined(list[Any]):
    """The kept children of an inlined rule (_sep, and the helpers Lark makes for x* and x+),
    which its parent takes in their place (Lark's ChildFilterLALR, with the same reuse of the
    first child's list that keeps a left-recursive repetition linear)."""

    __slots__ = ()


class Tables:
    """The analysed grammar of a Lark LALR parser (lexer="basic"), as plain data, and parse().

    actions[state] maps a terminal or nonterminal name to an action code: a shift (or, for a
    nonterminal, a goto) to state s is s, and a reduction by rule r is -1 - r.  rules[r] is a
    RuleData.  Made by from_lark() (which needs Lark) or from the data() it gave, kept in a
    cache, which needs nothing; bind() names the object whose methods make the values: one per
    rule alias or name, taking the kept children as arguments, as with Lark's @v_args(inline=True)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.pattern_text: str = data["pattern"]
        self.pattern = re.compile(self.pattern_text)
        self.ignore: frozenset[str] = frozenset(data["ignore"])
        self.rule_data: list[RuleData] = [
            (size, origin, mode, name, tuple(keep), tuple((i, bool(e)) for i, e in recipe), bool(single))
            for size, origin, mode, name, keep, recipe, single in data["rules"]]
        self.actions: dict[int, dict[str, int]] = {int(state): row for state, row in data["actions"].items()}
        self.start_states: dict[str, int] = data["start_states"]
        self.end_states: dict[str, int] = data["end_states"]
        self.rules: list[tuple[int, str, int, Callback | None, tuple[int, ...], Any]] = []
        self._consistent()
        # after a unit rule's reduction, the state below the top and the lookahead decide the
        # next one: the top a chain of them ends in, found once (atom -> postfix -> ... -> sum)
        self._chains: dict[tuple[int, int, str], int] = {}

    def _consistent(self) -> None:
        """Every action leads to a state or a rule there is, every rule's nonterminal has a goto
        wherever it is reduced, and the start and end states exist: else ValueError (a kept file
        that is damaged is made again rather than trusted)."""
        states, rules = self.actions, self.rule_data
        for row in states.values():
            for code in row.values():
                if not (code in states if code >= 0 else -1 - code < len(rules)):
                    raise ValueError(f"an action leads nowhere: {code}")
        if not all(s in states for s in (*self.start_states.values(), *self.end_states.values())):
            raise ValueError("a start or end state is missing")
        for size, _, mode, _, keep, recipe, _ in rules:
            if size < 0 or mode not in (UNIT, PICK, ALL, KEPT, BUILD) or any(not 0 <= k < size for k in keep) or any(
                    i >= size for i, _ in recipe):
                raise ValueError("a rule is out of shape")

    @classmethod
    def from_lark(cls, lark: Lark) -> Tables:
        """The tables of a Lark parser built with parser="lalr", lexer="basic"."""
        frontend: Any = lark.parser
        lexer = frontend.lexer
        terminals = lexer.terminals  # Lark's order: the first alternative that matches wins
        parser = frontend.parser.parser
        table = parser.parse_table
        index: dict[Any, int] = {}
        rules: list[RuleData] = []
        for rule in parser.callbacks:
            index[rule] = len(rules)
            rules.append(_reduction(rule))
        actions = {state: {symbol: (-1 - index[arg] if action.name == "Reduce" else arg)
                           for symbol, (action, arg) in row.items()}
                   for state, row in table.states.items()}
        return cls({
            "pattern": "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in terminals),
            "ignore": sorted(lexer.ignore_types), "rules": rules, "actions": actions,
            "start_states": dict(table.start_states), "end_states": dict(table.end_states),
        })

    def data(self) -> dict[str, Any]:
        """Everything from_lark found, as JSON can keep it."""
        return {"format": FORMAT, "pattern": self.pattern_text, "ignore": sorted(self.ignore),
                "rules": self.rule_data, "actions": self.actions, "start_states": self.start_states,
                "end_states": self.end_states}

    def bind(self, handlers: object) -> Tables:
        """Make the values with these handlers' methods.  Raises ValueError for a rule that needs
        one it lacks (Lark would build a Tree there; symgrad's grammar has a handler for each)."""
        rules = []
        for size, origin, mode, name, keep, recipe, single in self.rule_data:
            handler = None
            if name is not None:
                handler = getattr(handlers, name, None)
                if handler is None:
                    raise ValueError(f"no handler {name} for the rule of {origin}")
            rules.append((size, origin, mode, handler, keep, (recipe, single)))
        self.rules = rules
        return self

    # ---- lexing --------------------------------------------------------------

    def lex(self, text: str) -> tuple[list[str], Sequence[int], Sequence[int], int | None]:
        """The tokens of text: their terminal names, starts and ends (ignored ones left out), up to
        the first character no terminal matches, and that character's position (None if none).
        The positions are kept in arrays of machine integers: 16 bytes a token, not 72."""
        types: list[str] = []
        starts = array("q")
        ends = array("q")
        match, ignore, pos, n = self.pattern.match, self.ignore, 0, len(text)
        while pos < n:
            m = match(text, pos)
            if m is None:
                return types, starts, ends, pos
            kind, end = m.lastgroup, m.end()
            if kind is None or end == pos:  # (Lark refuses terminals that match nothing; never loop on one)
                return types, starts, ends, pos
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
        texts: dict[str, str] = {}  # each token's text kept once: a name used a thousand times is one string
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
                word = text[s:e]
                values.append(Lexeme(kind, texts.setdefault(word, word), s, e))
                k += 1
                if k < count:
                    kind = types[k]
                elif bad is None:
                    kind = END
                else:  # every token before the character no terminal matches was taken
                    raise ParseFailure("character", bad, previous=_last(text, types, starts, ends))
                continue
            size, origin, mode, handler, keep, recipe = rules[-1 - code]  # recipe: BUILD's (recipe, single)
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
            else:
                value = _build(children, handler, *recipe)
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

    def _failure(self, text: str, types: list[str], starts: Sequence[int], ends: Sequence[int], k: int,
                 start: str) -> ParseFailure:
        token = (Lexeme(types[k], text[starts[k]:ends[k]], starts[k], ends[k]) if k < len(types)
                 else Lexeme(END, "", len(text), len(text)))
        previous = Lexeme(types[k - 1], text[starts[k - 1]:ends[k - 1]], starts[k - 1], ends[k - 1]) if k else None
        stack = self._stack(types, k, start)
        # what could come next; where nothing could (the token broke an earlier reduction), what the state expected
        accepts = self.accepts(stack) or frozenset(s for s in self.actions[stack[-1]] if s.isupper())
        return ParseFailure("token", token.start_pos, token, previous, accepts)


def _last(text: str, types: list[str], starts: Sequence[int], ends: Sequence[int]) -> Lexeme | None:
    return Lexeme(types[-1], text[starts[-1]:ends[-1]], starts[-1], ends[-1]) if types else None


def _reduction(rule: Any) -> RuleData:
    """A rule of Lark's grammar as data: how a reduction by it makes its value, as Lark's
    ParseTreeBuilder would (lark/parse_tree_builder.py: filtered tokens dropped, an absent [x] a
    None, _rules spliced into their parent, a ?rule's single child passed through, the handler
    named by the rule's alias or name called with the rest)."""
    options = rule.options
    expansion = rule.expansion
    keep = tuple(i for i, sym in enumerate(expansion)
                 if options.keep_all_tokens or not (sym.is_term and sym.filter_out))
    # an absent [x] (maybe_placeholders): options.empty_indices has a True where a None goes
    nones = [0] * (len(expansion) + 1)
    if options.empty_indices:
        nones = [len(ones) for ones in "".join(str(int(b)) for b in options.empty_indices).split("0")]
    recipe: list[tuple[int, bool]] = []
    waiting = 0
    for i, sym in enumerate(expansion):
        waiting += nones[i]
        if i in keep:
            recipe += [(-1, False)] * waiting + [(i, not sym.is_term and sym.name.startswith("_"))]
            waiting = 0
    recipe += [(-1, False)] * (waiting + nones[len(expansion)])
    single = bool(options.expand1 and not rule.alias)  # a ?rule: one child passes through
    name = rule.alias or options.template_source or rule.origin.name
    inlined = rule.origin.name.startswith("_") and not rule.alias
    plain = all(i >= 0 and not splice for i, splice in recipe)
    if plain and single and len(keep) == 1:
        return len(expansion), rule.origin.name, (UNIT if len(expansion) == 1 else PICK), None, keep, (), False
    if plain and not single and not inlined:
        return len(expansion), rule.origin.name, (ALL if len(keep) == len(expansion) else KEPT), name, keep, (), False
    return len(expansion), rule.origin.name, BUILD, None if inlined else name, keep, tuple(recipe), single


def _build(children: list[Any], handler: Callback | None, recipe: tuple[tuple[int, bool], ...], single: bool) -> Any:
    """A BUILD reduction's value: the arguments by the recipe (Lark's ChildFilterLALR), given to
    the handler, or kept as an Inlined list for the parent of an inlined rule."""
    args = Inlined()
    for i, splice in recipe:
        if i < 0:
            args.append(None)
        elif not splice:
            args.append(children[i])
        elif args:
            args.extend(children[i])
        else:  # the first: take its list over (a left-recursive repetition grows one list)
            args = children[i]
    if handler is None:
        return args
    if single and len(args) == 1:
        return args[0]
    return handler(*args)
