"""The fast driver (symgrad/lalr.py) against Lark's own parser on the same grammar and callbacks:
the same syntax for every text Lark accepts, and the same first problem for every text it rejects."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from test_fuzz import SYNTAX, fuzz_settings, mutated, programs

from symgrad import lalr, parser
from symgrad.errors import SymgradError
from symgrad.lalr import END, ParseFailure

# pieces of the language, so that random joins of them are often programs, and often nearly programs
PIECES = ["x", "y", "W", "θ", "f", "sin", "max", "norm", "2", "0.5", "1e-3", ".5", "½", "+", "-", "−", "*", "×", "·",
          "/", "÷", "^", "**", "@", "(", ")", "[", "]", ",", ";", "=", ".", "T", "ᵀ", "²", "⁻¹", "‖", "\n", " ",
          "# note\n", "f(x) = ", "q = ", "(x+y)", "sum(", "[1, 2]", "\n\n", "\u00a0"]


@functools.cache
def _lark_with_handlers() -> tuple[Lark, Any]:
    """Lark's own LALR parser for the grammar, calling the same handlers through a Transformer."""
    handlers = {n: f for n, f in vars(parser._Builder).items() if not n.startswith("_") and callable(f)}
    adapter_class = v_args(inline=True)(type("Handlers", (parser._Builder, Transformer), handlers))
    adapter = adapter_class()
    Transformer.__init__(adapter, visit_tokens=False)
    lark = Lark(parser.grammar_text(), parser="lalr", lexer="basic", start=["program", "value"],
                maybe_placeholders=True, transformer=adapter)
    return lark, adapter


def _lark(text: str, start: str) -> tuple[str, Any]:
    """What Lark's own LALR parser makes of text: ("ok", syntax, statements) or the exception."""
    lark, handlers = _lark_with_handlers()
    handlers.reset(parser.EXPRESSION_LIMIT)
    try:
        statements = lark.parse(parser.join_bracketed_lines(text), start=start)
    except UnexpectedInput as exc:
        return "error", exc
    return "ok", (handlers.syntax, statements)


def _fast(text: str, start: str) -> tuple[str, Any]:
    builder = parser._builder
    builder.reset(parser.EXPRESSION_LIMIT)
    try:
        statements = parser._tables().parse(parser.join_bracketed_lines(text), start)
    except ParseFailure as failure:
        return "error", failure
    return "ok", (builder.syntax, statements)


def _lark_accepts(text: str, upto: int, start: str) -> set[str]:
    """Lark's InteractiveParser.accepts after the tokens before position upto."""
    lark, _ = _lark_with_handlers()
    joined = parser.join_bracketed_lines(text)
    interactive = lark.parse_interactive(joined[:upto], start=start)
    tokens = list(interactive.iter_parse())
    assert not tokens or tokens[-1].end_pos <= upto
    return set(interactive.accepts())  # type: ignore[no-untyped-call]


def same(text: str) -> None:
    for start in ("program", "value"):
        lark_kind, lark_result = _lark(text, start)
        fast_kind, fast_result = _fast(text, start)
        assert fast_kind == lark_kind, (text, start, lark_result, fast_result)
        if lark_kind == "ok":
            assert fast_result == lark_result
            continue
        failure: ParseFailure = fast_result
        exc = lark_result
        if isinstance(exc, UnexpectedCharacters):
            assert (failure.kind, failure.pos) == ("character", exc.pos_in_stream)
            continue
        assert failure.kind == "token" and failure.token is not None
        if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == END):
            assert failure.token.type == END
            upto = len(text)
        else:
            assert isinstance(exc, UnexpectedToken) and isinstance(exc.token, Token)
            assert (failure.token.type, failure.pos) == (exc.token.type, exc.token.start_pos)
            upto = failure.pos
        lark_accepts = _lark_accepts(text, upto, start)
        if lark_accepts:
            assert failure.accepts == lark_accepts, (text, start)


@fuzz_settings(scale=10)
@given(st.lists(st.sampled_from(PIECES), max_size=14).map("".join))
def test_joined_pieces_parse_as_lark_parses_them(text: str) -> None:
    same(text)


@fuzz_settings(scale=2)
@given(st.one_of(programs(), mutated(), st.text(alphabet=SYNTAX, max_size=30)))
def test_programs_and_mutations_parse_as_lark_parses_them(text: str) -> None:
    same(text)


def test_the_examples_parse_as_lark_parses_them() -> None:
    for text in ["f(x,y,z)=(x+y)*z", "q = x + y\nf = q * z", "f() = 1", "g(a) = a^2; f(x) = g(x)", "[1, 2][0]",
                 "W.T @ x", "Wᵀx", "x²⁻¹", "‖x‖²", "-x^2", "2^-1", "½x", "f(x) = (x\n + 1)", "", "\n;\n", "x ! y",
                 "((((x", "x))))", "f(x,", "a = b = c", "x # c\n y", "{x}", "3 ½"]:
        same(text)


def test_deep_nesting_and_long_programs_need_no_recursion() -> None:
    deep = "(" * 100_000 + "x" + ")" * 100_000
    program = parser.parse(deep)
    assert [s.kind for s in program.syntax] == ["name"] and program.syntax[0].start == 0
    unclosed = parser._tables()
    try:
        unclosed.parse("(" * 100_000, "program")
    except ParseFailure as failure:
        assert failure.token is not None and failure.token.type == END
        assert failure.accepts >= {"NAME", "NUMBER", "LPAR"}


def reachable(syntax: list[parser.Syntax], root: int) -> list[int]:
    """The entries reachable from root by following children: the definition post_order keeps to."""
    seen, todo = {root}, [root]
    while todo:
        for c in syntax[todo.pop()].children:
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return sorted(seen)


@fuzz_settings(scale=2)
@given(st.one_of(programs(), st.lists(st.sampled_from(PIECES), max_size=14).map("".join)))
def test_an_entry_s_descendants_are_the_range_from_its_leftmost_leaf(text: str) -> None:
    try:
        program = parser.parse(text)
    except SymgradError:
        return
    for root in range(len(program.syntax)):
        assert list(parser.post_order(program.syntax, root)) == reachable(program.syntax, root)


def kept_data(path: Any) -> Any:
    """The JSON of a kept-tables file (its first line is a CRC-32 of the rest)."""
    import json

    return json.loads(path.read_bytes().partition(b"\n")[2])


def keep_data(path: Any, data: Any, *, crc: bool = True) -> None:
    """Write a kept-tables file, with its CRC-32 right (as symgrad writes it) or left as it was."""
    import json
    import zlib

    body = json.dumps(data).encode()
    check = b"%08x" % zlib.crc32(body) if crc else path.read_bytes().partition(b"\n")[0]
    path.write_bytes(check + b"\n" + body)


@pytest.fixture
def own_cache(tmp_path: Any, monkeypatch: Any) -> Iterator[Any]:
    """A cache folder of the test's own; the path the kept tables go to."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    parser._tables.cache_clear()
    try:
        yield tmp_path / "symgrad" / f"tables-{lalr.FORMAT}.json"
    finally:
        parser._tables.cache_clear()


def fresh_parse() -> list[Any]:
    """The syntax of a program that uses every operator, parsed with the tables read anew."""
    parser._tables.cache_clear()
    program = parser.parse("f(x, y) = x - y/2 + [x, y][1]^2 * sin(x) @ y")
    return [(s.kind, s.text, s.children) for s in program.syntax]


def test_the_tables_are_kept_with_their_grammar_and_made_again_when_it_changes(own_cache: Any) -> None:
    import os

    expected = fresh_parse()
    data = kept_data(own_cache)
    assert data["grammar"] == parser.grammar_text() and data["actions"]
    made = os.stat(own_cache).st_mtime_ns
    assert fresh_parse() == expected and os.stat(own_cache).st_mtime_ns == made  # read back, not made again
    data["grammar"] += "\n// changed"
    data["actions"] = {}
    keep_data(own_cache, data)
    assert fresh_parse() == expected  # another grammar: made again (Lark may number the states otherwise), not read
    assert kept_data(own_cache)["grammar"] == parser.grammar_text()  # and kept again
    assert oct(os.stat(own_cache.parent).st_mode & 0o777) == "0o700"


@pytest.mark.parametrize("damage", ["actions", "handler", "start", "sizes", "pattern", "ignore", "nested", "empty",
                                    "not json", "crc", "directory", "fifo"])
def test_damaged_kept_tables_are_made_again_never_trusted(own_cache: Any, damage: str) -> None:
    # PLUS and MINUS swapped in a kept pattern once gave -12's gradient for +12: a file that does not read back
    # whole (its CRC-32), or is not consistent, is made again
    import os

    expected = fresh_parse()
    data = kept_data(own_cache)
    if damage == "actions":
        first = next(iter(data["actions"]))
        data["actions"][first] = {symbol: 10_000 for symbol in data["actions"][first]}  # leads nowhere
        keep_data(own_cache, data)
    elif damage == "handler":
        data["rules"][11][3] = "bogus"
        keep_data(own_cache, data)
    elif damage == "start":
        data["start_states"] = {}
        keep_data(own_cache, data)
    elif damage == "sizes":
        data["rules"] = [[10**9, *rule[1:]] for rule in data["rules"]]
        keep_data(own_cache, data)
    elif damage == "pattern":  # edited without its CRC: PLUS and MINUS swapped
        data["pattern"] = data["pattern"].replace("P<PLUS>", "P<TMP>").replace("P<MINUS>", "P<PLUS>").replace(
            "P<TMP>", "P<MINUS>")
        keep_data(own_cache, data, crc=False)
    elif damage == "ignore":
        data["ignore"].append("NAME")
        keep_data(own_cache, data, crc=False)
    elif damage == "nested":
        own_cache.write_bytes(b"[" * 100_000)
    elif damage == "empty":
        own_cache.write_bytes(b"")
    elif damage == "not json":
        own_cache.write_bytes(b"00000000\n{not json")
    elif damage == "crc":
        own_cache.write_bytes(b"zz\n" + own_cache.read_bytes().partition(b"\n")[2])
    elif damage == "directory":
        own_cache.unlink()
        own_cache.mkdir()
    elif damage == "fifo":
        own_cache.unlink()
        os.mkfifo(own_cache)  # reading it would wait for a writer: never opened for that
    assert fresh_parse() == expected
    if damage in ("directory", "fifo"):
        assert not [p for p in own_cache.parent.iterdir() if p.name.startswith(".tables-")]  # no temporary left
    else:
        assert kept_data(own_cache)["grammar"] == parser.grammar_text()
