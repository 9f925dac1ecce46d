"""Text to syntax: the Lark grammar, and friendly messages for what it rejects.

The LALR parser runs the callbacks below as it reduces, in post-order, so a
program becomes a flat list of syntax entries whose children always come
before them.  Nothing here (or later) walks a tree recursively, so
expressions nested 100,000 deep parse like any other.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from array import array
from collections.abc import Sequence, Set
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, overload

from .errors import Source, SymgradError
from .lalr import END, FORMAT, Lexeme, ParseFailure, Tables

if TYPE_CHECKING:
    from fractions import Fraction

    from lark import Lark


@dataclass(slots=True)
class Syntax:
    """One entry of the flat syntax list.

    kind is "num" (text is the literal, or a vulgar fraction: ½), "name", "call" (text
    is the function name; ‖x‖ is a call of norm), "op" (text is the operation: add, sub,
    mul, div, matmul, neg, pow),
    "index" (children: the indexed value, then the indices), "attr" (text is
    the attribute, as in W.T) or "array" (a bracketed list, [a, b]).
    children are indices of earlier entries.
    """

    kind: str
    text: str
    children: tuple[int, ...]
    start: int
    end: int


@dataclass(slots=True)
class Statement:
    kind: str  # "assign" or "bare"
    lhs: int | None
    rhs: int
    start: int
    end: int


KINDS = ("num", "name", "call", "op", "index", "attr", "array")
_KIND_CODE = {kind: code for code, kind in enumerate(KINDS)}
NAME, CALL = _KIND_CODE["name"], _KIND_CODE["call"]  # SyntaxList.kinds codes read directly


class SyntaxList(Sequence[Syntax]):
    """The flat syntax list, kept as columns: a kind code, the text, the children (a slice of one
    array of indices), the start and the end of each entry.  About 45 bytes an entry where a
    Syntax object with its tuple and its numbers takes 200: a program of a million statements
    has five million entries.  syntax[i] is a Syntax made when asked for (changing it changes
    nothing here); the columns are read directly where every entry is read in turn."""

    __slots__ = ("_children", "_firsts", "ends", "kinds", "starts", "texts")

    def __init__(self) -> None:
        self.kinds = bytearray()  # KINDS[code]
        self.texts: list[str] = []
        self._firsts = array("q", [0])  # entry i's children are _children[_firsts[i]:_firsts[i + 1]]
        self._children = array("q")
        self.starts = array("q")
        self.ends = array("q")

    def append(self, kind: str, text: str, children: tuple[int, ...], start: int, end: int) -> int:
        """Add an entry; its index."""
        self.kinds.append(_KIND_CODE[kind])
        self.texts.append(text)
        self._children.extend(children)
        self._firsts.append(len(self._children))
        self.starts.append(start)
        self.ends.append(end)
        return len(self.kinds) - 1

    def __len__(self) -> int:
        return len(self.kinds)

    @overload
    def __getitem__(self, i: int) -> Syntax: ...

    @overload
    def __getitem__(self, i: slice) -> list[Syntax]: ...

    def __getitem__(self, i: int | slice) -> Syntax | list[Syntax]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self.kinds)
        return Syntax(KINDS[self.kinds[i]], self.texts[i], self.children(i), self.starts[i], self.ends[i])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SyntaxList):
            return (self.kinds, self.texts, self._firsts, self._children, self.starts, self.ends) == (
                other.kinds, other.texts, other._firsts, other._children, other.starts, other.ends)
        return isinstance(other, list) and list(self) == other

    __hash__ = None  # type: ignore[assignment]

    def kind(self, i: int) -> str:
        return KINDS[self.kinds[i]]

    def children(self, i: int) -> tuple[int, ...]:
        return tuple(self._children[self._firsts[i]:self._firsts[i + 1]])

    def first_child(self, i: int) -> int | None:
        """The first child of entry i, or None for a leaf."""
        at = self._firsts[i]
        return self._children[at] if at < self._firsts[i + 1] else None

    def set_span(self, i: int, start: int, end: int) -> None:
        """Where entry i is in the text: (x + y) in brackets spans its brackets."""
        self.starts[i], self.ends[i] = start, end


@dataclass
class Program:
    source: Source
    syntax: SyntaxList
    statements: list[Statement]


def post_order(syntax: SyntaxList, root: int) -> range:
    """The entries reachable from root, children before parents (that is, in index order).

    The parser appends an entry when its rule is reduced, after its children's entries, and
    every entry it makes is attached to its parent: so an entry's descendants are exactly the
    entries from its leftmost leaf (reached by first children) up to itself, a contiguous range.
    Only the parser makes syntax lists."""
    first = root
    while (child := syntax.first_child(first)) is not None:
        first = child
    return range(first, root + 1)


def grammar_text() -> str:
    """The grammar, from the installed package (symgrad/symgrad.lark) or, in a source checkout, grammar/."""
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (os.path.join(here, "symgrad.lark"), os.path.join(os.path.dirname(here), "grammar", "symgrad.lark")):
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                return f.read()
    raise FileNotFoundError("symgrad.lark, the grammar, is missing from the installation")


_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")

# The vulgar fractions pasted text carries (¼ ½ ¾ and ⅐ to ⅞, the grammar's FRACTION token), exactly.
VULGAR_FRACTIONS: dict[str, str] = dict(zip(
    "¼½¾⅐⅑⅒⅓⅔⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞",
    ["1/4", "1/2", "3/4", "1/7", "1/9", "1/10", "1/3", "2/3", "1/5", "2/5", "3/5", "4/5", "1/6", "5/6", "1/8",
     "3/8", "5/8", "7/8"], strict=True))


def number(text: str) -> Fraction:
    """The exact value of a number as the grammar reads it: a literal (2, 0.1, 1e-3) or a vulgar
    fraction (½ is 1/2).  Raises ValueError for any other text."""
    from fractions import Fraction

    return Fraction(VULGAR_FRACTIONS.get(text, text))


def number_value(text: str) -> float:
    """A number as the grammar reads it, in float64: 0.1, ½ is 0.5, 1e999 is inf."""
    fraction = VULGAR_FRACTIONS.get(text)
    if fraction is None:
        return float(text)
    numerator, denominator = fraction.split("/")
    return int(numerator) / int(denominator)  # correctly rounded, as float(Fraction) is

# The grammar's binary rule keeps its operator's token; this is the operation each one names.
_OPERATION = {"PLUS": "add", "MINUS": "sub", "TIMES": "mul", "DIVIDE": "div", "MATMUL": "matmul", "POWER": "pow"}


_BRACKETS_LINES_COMMENTS = re.compile(r"[()\[\]\n#]")


def join_bracketed_lines(text: str) -> str:
    """A statement may go on over several lines while a bracket is open: line
    breaks (and comments) between a bracket and the one that closes it become
    spaces, so that every character keeps its position for error messages.
    A bracket that is never closed joins nothing, so its error stays on its line.
    One scan over the brackets, line breaks and comments only (a regular expression finds them)."""
    if "\n" not in text:
        return text
    marks: list[tuple[int, str]] = []  # brackets, line breaks and comment starts, in order
    matched: set[int] = set()  # where a bracket that is closed opens, and where it closes
    opened: list[int] = []
    pos, n = 0, len(text)
    search = _BRACKETS_LINES_COMMENTS.search
    while (m := search(text, pos)) is not None:
        i, ch = m.start(), m.group()
        if ch == "#":
            end = text.find("\n", i)
            end = n if end < 0 else end
            marks.append((i, "#"))
            pos = end
            continue
        marks.append((i, ch))
        if ch in "([":
            opened.append(i)
        elif ch in ")]" and opened:
            matched.add(opened.pop())
            matched.add(i)
        pos = i + 1
    out: list[str] | None = None
    depth = 0  # how many closed brackets enclose the position
    for i, ch in marks:
        if ch in "([":
            depth += i in matched
        elif ch in ")]":
            depth -= i in matched
        elif depth > 0:
            if out is None:
                out = list(text)
            if ch == "\n":
                out[i] = " "
            else:
                end = text.find("\n", i)
                end = n if end < 0 else end
                out[i:end] = " " * (end - i)
    return text if out is None else "".join(out)


# The most syntax entries (operations and operands) one statement may have unless the node limit
# says otherwise: a program is parsed whole before its graph is built, so an expression of millions
# of terms is refused while it is read, in seconds, rather than after minutes and gigabytes.
EXPRESSION_LIMIT = 1_000_000


class ExpressionTooLong(Exception):
    """Raised by the parser's callbacks when a statement passes its limit; pos is where."""

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


class _Builder:
    """The parser's handlers, one per rule of the grammar (named by its alias or its name), taking
    the rule's kept children (tokens as Lexemes, reduced rules as what their handlers returned):
    append each reduced rule to a flat list, return its index."""

    def __init__(self) -> None:
        self.reset(EXPRESSION_LIMIT)

    def reset(self, limit: int) -> None:
        """Start a new text whose statements may each have at most `limit` syntax entries."""
        self.syntax = SyntaxList()
        self.limit = limit
        self.statement_start = 0  # the first entry of the statement being parsed

    def _add(self, kind: str, text: str, children: tuple[int, ...], start: int, end: int) -> int:
        syntax = self.syntax
        if len(syntax) - self.statement_start >= self.limit:
            raise ExpressionTooLong(start)
        return syntax.append(kind, text, children, start, end)

    def _span(self, index: int) -> tuple[int, int]:
        return self.syntax.starts[index], self.syntax.ends[index]

    def number(self, tok: Lexeme) -> int:
        return self._add("num", str(tok), (), tok.start_pos or 0, tok.end_pos or 0)

    def name(self, tok: Lexeme) -> int:
        return self._add("name", str(tok), (), tok.start_pos or 0, tok.end_pos or 0)

    def call(self, name: Lexeme, lpar: Lexeme, args: list[int] | None, rpar: Lexeme) -> int:
        return self._add("call", str(name), tuple(args or ()), name.start_pos or 0, rpar.end_pos or 0)

    def args(self, *items: Any) -> list[int]:
        return [i for i in items if isinstance(i, int)]

    def group(self, lpar: Lexeme, inner: int, rpar: Lexeme) -> int:
        self.syntax.set_span(inner, lpar.start_pos or 0, rpar.end_pos or 0)
        return inner

    def _binary(self, op: str, a: int, b: int) -> int:
        return self._add("op", op, (a, b), self._span(a)[0], self._span(b)[1])

    def binary(self, a: int, operator: Lexeme, b: int) -> int:
        return self._binary(_OPERATION[operator.type], a, b)

    def index(self, a: int, lsqb: Lexeme, args: list[int], rsqb: Lexeme) -> int:
        return self._add("index", "[]", (a, *args), self._span(a)[0], rsqb.end_pos or 0)

    def attribute(self, a: int, dot: Lexeme, name: Lexeme) -> int:
        return self._add("attr", str(name), (a,), self._span(a)[0], name.end_pos or 0)

    def transpose(self, a: int, tok: Lexeme) -> int:
        return self._add("attr", "T", (a,), self._span(a)[0], tok.end_pos or 0)  # Wᵀ is W.T

    def norm(self, left: Lexeme, inner: int, right: Lexeme) -> int:
        return self._add("call", "norm", (inner,), left.start_pos or 0, right.end_pos or 0)  # ‖x‖ is norm(x)

    def array(self, lsqb: Lexeme, args: list[int], rsqb: Lexeme) -> int:
        return self._add("array", "[]", tuple(args), lsqb.start_pos or 0, rsqb.end_pos or 0)

    def superscript(self, a: int, tok: Lexeme) -> int:
        digits = str(tok).translate(_SUPERSCRIPTS)
        exponent = self._add("num", digits.lstrip("-"), (), tok.start_pos or 0, tok.end_pos or 0)
        if digits.startswith("-"):
            exponent = self._add("op", "neg", (exponent,), tok.start_pos or 0, tok.end_pos or 0)
        return self._binary("pow", a, exponent)

    def neg(self, tok: Lexeme, a: int) -> int:
        return self._add("op", "neg", (a,), tok.start_pos or 0, self._span(a)[1])

    def pos(self, tok: Lexeme, a: int) -> int:
        return a

    def assign(self, lhs: int, rhs: int) -> Statement:
        self.statement_start = len(self.syntax)
        return Statement("assign", lhs, rhs, self._span(lhs)[0], self._span(rhs)[1])

    def bare(self, rhs: int) -> Statement:
        self.statement_start = len(self.syntax)
        start, end = self._span(rhs)
        return Statement("bare", None, rhs, start, end)

    def program(self, *statements: Statement) -> list[Statement]:
        return list(statements)

    def empty(self) -> list[Statement]:
        return []

    def value(self, root: int) -> list[Statement]:
        return [self.bare(root)]


_lock = threading.Lock()


def cache_folder() -> str | None:
    """Where the analysed grammar is kept between runs: the user's cache folder
    ($XDG_CACHE_HOME/symgrad or ~/.cache/symgrad), made if need be and private to the user; None
    where there is none to write."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "symgrad")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
    except OSError:
        return None
    return folder


def lark_parser() -> Lark:
    """Lark's LALR parser for the grammar, without handlers (Lark's own trees).  Building its
    tables takes about 0.15 s and needs Lark imported: _tables() keeps what they say instead."""
    from lark import Lark

    return Lark(grammar_text(), parser="lalr", lexer="basic", start=["program", "value"], maybe_placeholders=True)


_builder = _Builder()


@cache
def _tables() -> Tables:
    """The analysed grammar for the driver (lalr.py), bound to the handlers, once per process.
    The analysis is kept in the cache folder as JSON, with the grammar it was made from and a
    CRC-32 of the whole, and made again (by Lark) whenever the file is not a regular file that
    reads back whole and consistent, made from the same grammar in the same format: so a run reads
    one small file and never imports Lark.  A cache that cannot be read or written is only slower."""
    grammar = grammar_text()
    folder = cache_folder()
    path = None if folder is None else os.path.join(folder, f"tables-{FORMAT}.json")
    if path is not None:
        kept = _read_kept(path)
        if kept is not None and kept.get("grammar") == grammar and kept.get("format") == FORMAT:
            with contextlib.suppress(Exception):  # damaged in any way: made again below
                tables = Tables(kept)
                if _reads_right(tables):
                    return tables.bind(_builder)

    tables = Tables.from_lark(lark_parser())
    if path is not None:
        _keep(path, {"grammar": grammar, **tables.data()})
    return tables.bind(_builder)


# Two texts whose syntax the kept tables must give, or be made again: every kind of entry the tests of
# a damaged file touch (the operators told apart, names not ignored, both start symbols).
_PROBES = {
    ("program", "f(x, y) = x - y/2 + [x][0]*x"): [
        ("name", "x"), ("name", "y"), ("call", "f"), ("name", "x"), ("name", "y"), ("num", "2"), ("op", "div"),
        ("op", "sub"), ("name", "x"), ("array", "[]"), ("num", "0"), ("index", "[]"), ("name", "x"), ("op", "mul"),
        ("op", "add")],
    ("value", "2^-1"): [("num", "2"), ("num", "1"), ("op", "neg"), ("op", "pow")],
}


def _reads_right(tables: Tables) -> bool:
    """Do these tables parse the probes as the grammar says?  (A kept file that reads back whole
    can still have been edited.)"""
    builder = _Builder()
    tables.bind(builder)
    for (start, text), expected in _PROBES.items():
        builder.reset(EXPRESSION_LIMIT)
        tables.parse(text, start)
        if [(s.kind, s.text) for s in builder.syntax] != expected:
            return False
    return True


_KEPT_LARGEST = 1 << 22  # bytes: the kept tables are about 60 KB


def _read_kept(path: str) -> dict[str, Any] | None:
    """The kept analysis, if the file is a regular file of at most _KEPT_LARGEST bytes whose first
    line is the CRC-32 of the JSON object on the rest; else None.  Never blocks on a FIFO or a device."""
    import stat
    import zlib

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _KEPT_LARGEST:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            content = f.read(_KEPT_LARGEST + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    check, _, body = content.partition(b"\n")
    try:
        if int(check, 16) != zlib.crc32(body):
            return None
        kept = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return kept if isinstance(kept, dict) else None


def _keep(path: str, data: dict[str, Any]) -> None:
    """Write the cache file whole or not at all (another run may be reading it): the CRC-32 of the
    JSON on the first line, the JSON after it."""
    import tempfile
    import zlib

    body = json.dumps(data).encode("utf-8")
    try:
        fd, temporary = tempfile.mkstemp(prefix=".tables-", dir=os.path.dirname(path))
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(b"%08x\n" % zlib.crc32(body) + body)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.remove(temporary)


def parse(text: str, name: str = "expression", *, start: str = "program", limit: int | None = None) -> Program:
    """Parse a program (or, with start="value", one expression) into flat syntax, each statement of
    at most `limit` entries (None: EXPRESSION_LIMIT).  Raises SymgradError: "syntax" with where,
    what was expected, and a hint; "limit" for a statement past its limit."""
    source = Source(text, name)
    builder = _builder
    tables = _tables()
    with _lock:
        builder.reset(EXPRESSION_LIMIT if limit is None else limit)
        try:
            statements: list[Statement] = tables.parse(join_bracketed_lines(text), start)
        except ParseFailure as failure:
            raise _syntax_error(failure, source) from None
        except ExpressionTooLong as too_long:
            raise SymgradError(
                "limit", f"this statement has more than {builder.limit:,} operations and operands",
                source=source, span=(too_long.pos, too_long.pos + 1),
                hint="split it into statements (q = ...), or raise the limit with --node-limit N",
            ) from None
        finally:
            syntax = builder.syntax
            builder.reset(EXPRESSION_LIMIT)
    if not statements:
        raise SymgradError(
            "syntax", "the program is empty", source=source, span=(0, 0),
            hint='write an expression such as "f(x,y,z) = (x+y)*z"',
        )
    return Program(source, syntax, statements)


# ---- error messages -------------------------------------------------------

_OPERAND = {"NUMBER", "NAME", "LPAR", "MINUS", "PLUS", "LSQB"}
_DESCRIBE = {
    "NUMBER": "a number", "NAME": "a name", "LPAR": "'('", "RPAR": "')'", "COMMA": "','",
    "PLUS": "'+'", "MINUS": "'-'", "TIMES": "'*'", "DIVIDE": "'/'", "POWER": "'^'", "MATMUL": "'@'",
    "LSQB": "'['", "RSQB": "']'", "DOT": "'.'",
    "EQUAL": "'='", "SEMICOLON": "';'", "_NEWLINE": "a new line", "$END": "the end",
}


def _expected(expected: Set[str]) -> str:
    names = set(expected)
    parts = []
    if names >= _OPERAND or {"NUMBER", "NAME", "LPAR"} <= names:
        parts.append("an expression")
        names -= _OPERAND
    if {"PLUS", "MINUS", "TIMES", "DIVIDE"} <= names:
        parts.append("an operator")
        names -= {"PLUS", "MINUS", "TIMES", "DIVIDE", "POWER", "MATMUL", "LSQB", "DOT"}
    for n in ("RPAR", "RSQB", "COMMA"):
        if n in names:
            parts.append(_DESCRIBE[n])
    if names & {"$END", "_NEWLINE", "SEMICOLON"} and parts:
        parts.append("the end of the statement")
    if not parts:
        parts = sorted(_DESCRIBE.get(n, n) for n in names if n not in ("_NEWLINE", "SEMICOLON", "$END"))
    if not parts:
        return "nothing more here"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def _brackets(text: str) -> tuple[list[int], list[int]]:
    """Unclosed '(' or '[' positions and unmatched ')' or ']' positions, ignoring comments."""
    opened: list[int] = []
    stray: list[int] = []
    in_comment = False
    for i, ch in enumerate(text):
        if in_comment:
            in_comment = ch != "\n"
        elif ch == "#":
            in_comment = True
        elif ch == "\n":
            # A statement ends at a new line: its brackets must close on it.
            if opened:
                break
        elif ch in "([":
            opened.append(i)
        elif ch in ")]":
            if opened:
                opened.pop()
            else:
                stray.append(i)
    return opened, stray


def _hint(source: Source, pos: int, token: Lexeme | None, prev: Lexeme | None) -> str | None:
    opened, stray = _brackets(join_bracketed_lines(source.text))  # as parsed: matched brackets span lines
    if token is not None and token.type in ("RPAR", "RSQB") and stray:
        return f"this '{token}' has no matching '{'(' if token.type == 'RPAR' else '['}'"
    if (token is None or token.type in ("$END", "_NEWLINE", "SEMICOLON")) and opened:
        line, col = source.line_col(opened[-1])
        where = f"column {col}" if "\n" not in source.text else f"line {line}, column {col}"
        what = "parenthesis" if source.text[opened[-1]] == "(" else "bracket"
        return f"a {what} opened at {where} is never closed"
    if token is not None and prev is not None and prev.type in _ENDS_OPERAND and token.type in _STARTS_OPERAND:
        return _juxtaposed(source.text, pos, prev, token)
    if token is not None and token.type == "COMMA":
        joined = join_bracketed_lines(source.text)  # as parsed: a statement's open brackets span its lines
        if not _brackets(joined[_line_start(joined, pos):pos])[0]:
            return _comma_hint(joined, pos)
    if token is not None and token.type == "EQUAL":
        return "'=' assigns a name (q = x + y) or defines a function (f(x) = ...); it cannot stand inside an expression"
    return None


# What may end an operand (so that the next one needs an operator first), and what may start one.
_ENDS_OPERAND = {"NUMBER", "FRACTION", "NAME", "RPAR", "RSQB", "TRANSPOSE", "SUPERSCRIPT", "NORM"}
_STARTS_OPERAND = {"NUMBER", "FRACTION", "NAME", "LPAR", "NORM"}
_TOKEN_OPERAND = {"NUMBER", "FRACTION", "NAME"}  # an operand that is one token
_CLOSING = {")": "(", "]": "[", "‖": "‖"}
_OPENING = {"(": ")", "[": "]", "‖": "‖"}
# How far the operands shown in a hint reach, at most: a hint quotes, it does not copy a program.
_QUOTE = 40


def _juxtaposed(text: str, pos: int, prev: Lexeme, token: Lexeme) -> str | None:
    """Two operands side by side (2x, (x+y)z, sin(x) cos(x), ½x): symgrad does not multiply by
    juxtaposition, so the hint writes the '*' between the operands as written."""
    if prev.type == "NAME" and token.type == "LPAR":
        return None  # a call: its error is elsewhere
    if prev.type == "NUMBER" and token.type == "FRACTION":
        return f"a number and a fraction side by side: write {prev} + {token} for the mixed number, or {prev}*{token}"
    left = str(prev) if prev.type in _TOKEN_OPERAND else _operand_before(text, pos)
    right = str(token) if token.type in ("NUMBER", "FRACTION") else _operand_after(text, pos)
    if prev.type == "NAME" and _is_function(left):
        return f"a function's argument goes in parentheses: write {left}({right})"
    return f"missing operator between '{left}' and '{right}'? write {left}*{right}"


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _is_name_char(ch: str) -> bool:
    """Part of a name or a number (letters, digits, superscripts, ᵀ and ½ count: str.isalnum)."""
    return ch.isalnum() or ch in "_."


def _operand_before(text: str, pos: int) -> str:
    """The operand that ends just before pos (spaces skipped), as written: '2', 'x', '(x+y)', 'f(x)',
    'W[0]', 'Wᵀ', '‖x‖'.  One backward scan; brackets matched by counting, not by recursion."""
    end = pos
    while end > 0 and text[end - 1] in " \t":
        end -= 1
    start = end
    while start > 0 and end - start <= _QUOTE:
        ch = text[start - 1]
        if ch in _CLOSING:
            opener, depth, k = _CLOSING[ch], 0, start - 1
            if ch == "‖":
                k = text.rfind("‖", 0, start - 1)
                if k < 0:
                    break
            else:
                while k >= 0:
                    depth += {ch: 1, opener: -1}.get(text[k], 0)
                    if depth == 0:
                        break
                    k -= 1
                if k < 0:
                    break
            start = k
            continue  # a call's name or an indexed value may stand before the bracket
        if _is_name_char(ch) or ch == "⁻":
            start -= 1
            continue
        break
    return text[start:end] if end - start <= _QUOTE else "..." + text[end - _QUOTE:end]


def _operand_after(text: str, pos: int) -> str:
    """The operand that starts at pos, as written: 'z', '(x-y)', 'cos(x)', 'W[0]', '‖x‖' (up to the
    bracket that closes it).  One forward scan; brackets matched by counting."""
    end = pos
    while end < len(text) and end - pos <= _QUOTE:
        ch = text[end]
        if ch in _OPENING:
            closer, depth, k = _OPENING[ch], 0, end
            if ch == "‖":
                k = text.find("‖", end + 1)
            else:
                while k < len(text):
                    depth += {ch: 1, closer: -1}.get(text[k], 0)
                    if depth == 0:
                        break
                    k += 1
            if not 0 <= k < len(text):
                return text[pos:end + 1] + "..."
            end = k + 1
            continue  # W[0][1], f(x)[0]
        if _is_name_char(ch) and (end == pos or text[end - 1] not in _CLOSING):
            end += 1
            continue
        break
    return text[pos:end] if end - pos <= _QUOTE else text[pos:pos + _QUOTE] + "..."


def _comma_hint(text: str, pos: int) -> str:
    """A ',' outside brackets: statements are separated by ';' or new lines (q = x + y, f = q*z)."""
    start = _line_start(text, pos)
    end = text.find("\n", pos)
    line = text[start:len(text) if end < 0 else end]
    before, after = line[:pos - start].rstrip(), line[pos - start + 1:].strip()
    separate = "statements are separated by ';' or new lines"
    if "=" in after and len(line) <= 2 * _QUOTE:
        return f"{separate}, not ',': write {before}; {after}"
    return f"{separate}; ',' separates the arguments of a call or the entries of an array [a, b]"


def _is_function(name: str) -> bool:
    from .primitives import function

    return function(name) is not None


def _syntax_error(failure: ParseFailure, source: Source) -> SymgradError:
    text = source.text
    pos = failure.pos
    if failure.kind == "character":
        ch = text[pos] if pos < len(text) else ""
        hint = None
        if ch in "{}":
            hint = "use round brackets ( ) for grouping and square brackets [ ] for arrays"
        elif ch == "!":
            hint = "factorial is not supported"
        elif ch == "=":
            hint = "'=' assigns a name (q = x + y) or defines a function (f(x) = ...)"
        else:
            hint = "names are letters, digits and _; operators are + - * / ^ **"
        return SymgradError(
            "syntax", f"unexpected character {ch!r}", source=source, span=(pos, pos + 1), hint=hint
        )
    tok, prev = failure.token, failure.previous
    assert tok is not None
    if tok.type == END:
        pos = prev.end_pos if prev is not None else 0
        return SymgradError(
            "syntax", f"unexpected end of input: expected {_expected(failure.accepts)}",
            source=source, span=(pos, pos + 1), hint=_hint(source, pos, None, None),
        )
    shown = "end of line" if tok.type == "_NEWLINE" else repr(tok.text)
    hint = _hint(source, pos, tok, prev)
    if tok.type == "_NEWLINE" and hint is None:
        hint = "a statement ends at the end of its line; continue it on the same line"
    return SymgradError(
        "syntax", f"unexpected {shown}: expected {_expected(failure.accepts)}",
        source=source, span=(pos, max(pos + 1, tok.end_pos)), hint=hint,
    )


def suggest(name: str, candidates: list[str]) -> str | None:
    """The nearest known name, for 'did you mean'."""
    import difflib

    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return close[0] if close else None
