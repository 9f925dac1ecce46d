"""The language: numbers, precedence, look-alikes, statements, spans, errors, round trips and deep input.

Structure is checked through the flat syntax list of symgrad.parser.parse (written out as
s-expressions) and, where it matters, through values and gradients computed by hand.
"""

from __future__ import annotations

import math

import lark
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lark.exceptions import GrammarError, LexError
from lark.parsers.lalr_analysis import LALR_Analyzer

import symgrad
from symgrad.errors import SymgradError
from symgrad.parser import Program, grammar_text, parse
from symgrad.views.source import program_text

# ---- helpers ---------------------------------------------------------------


def sexprs(program: Program) -> list[str]:
    """Every syntax entry as an s-expression, built from the flat list without recursion."""
    out: list[str] = []
    for s in program.syntax:
        kids = [out[c] for c in s.children]
        if s.kind in ("num", "name"):
            out.append(s.text)
        elif s.kind == "call":
            out.append("(call " + " ".join([s.text, *kids]) + ")")
        else:
            out.append("(" + " ".join([s.text, *kids]) + ")")
    return out


def sexpr(text: str, start: str = "program") -> str:
    """The s-expression of the (only) statement's right-hand side."""
    program = parse(text, start=start)
    assert len(program.statements) == 1
    return sexprs(program)[program.statements[0].rhs]


def shape(program: Program) -> list[tuple[str, str, tuple[int, ...]]]:
    """The syntax list in post-order without positions: what a round trip must keep."""
    return [(s.kind, s.text, s.children) for s in program.syntax]


def statements_shape(program: Program) -> list[tuple[str, int | None, int]]:
    return [(st_.kind, st_.lhs, st_.rhs) for st_ in program.statements]


def error_of(text: str, start: str = "program") -> SymgradError:
    with pytest.raises(SymgradError) as info:
        parse(text, start=start)
    return info.value


def caret_matches(err: SymgradError, char: str) -> None:
    """In render(), the first '^' sits under `char` in the echoed line."""
    lines = err.render().split("\n")
    caret_row = next(i for i, line in enumerate(lines) if line.strip() and set(line.strip()) == {"^"})
    shown, caret = lines[caret_row - 1], lines[caret_row]
    assert shown[caret.index("^")] == char, (shown, caret)


# ---- numbers and constants -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0.0),
        ("7", 7.0),
        ("42", 42.0),
        ("1.5", 1.5),
        (".5", 0.5),
        ("2.", 2.0),
        ("0.25", 0.25),
        ("1e-3", 0.001),
        ("2.5E4", 25000.0),
        ("1E+2", 100.0),
        ("3e0", 3.0),
        (".5e1", 5.0),
        ("2.e2", 200.0),
    ],
)
def test_number_literals(text: str, value: float) -> None:
    program = parse(text)
    assert [(s.kind, s.text) for s in program.syntax] == [("num", text)]
    assert (program.syntax[0].start, program.syntax[0].end) == (0, len(text))
    got, grad = symgrad.gradient(text)
    assert got == pytest.approx(value, rel=1e-15)
    assert grad == {}


def test_negative_exponent_is_part_of_the_number_not_a_subtraction() -> None:
    # 1e-3 is one literal; 1 - 3 is two.
    assert sexpr("1e-3") == "1e-3"
    assert sexpr("1 - 3") == "(sub 1 3)"
    assert sexpr("x*1e-3") == "(mul x 1e-3)"
    assert symgrad.gradient("x*1e-3", x=2.0)[0] == pytest.approx(0.002)


@pytest.mark.parametrize(("text", "value"), [("pi", math.pi), ("e", math.e), ("π", math.pi)])
def test_constants(text: str, value: float) -> None:
    assert sexpr(text) == text
    assert symgrad.gradient(text) == (pytest.approx(value, rel=1e-15), {})


def test_constants_are_not_variables() -> None:
    value, grad = symgrad.gradient("e*x + pi*y + π", x=2.0, y=3.0)
    assert value == pytest.approx(2 * math.e + 4 * math.pi)
    assert grad == {"x": pytest.approx(math.e), "y": pytest.approx(math.pi)}


def test_two_dots_is_not_a_number() -> None:
    with pytest.raises(SymgradError):
        parse("1.2.3")


# ---- precedence and associativity -----------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("-x^2", "(neg (pow x 2))"),
        ("-2^2", "(neg (pow 2 2))"),
        ("(-2)^2", "(pow (neg 2) 2)"),
        ("2^3^2", "(pow 2 (pow 3 2))"),
        ("2^-1", "(pow 2 (neg 1))"),
        ("e^-x", "(pow e (neg x))"),
        ("2^-x^2", "(pow 2 (neg (pow x 2)))"),
        ("x^(-1)", "(pow x (neg 1))"),
        ("(a^b)^c", "(pow (pow a b) c)"),
        ("a-b-c", "(sub (sub a b) c)"),
        ("a-(b-c)", "(sub a (sub b c))"),
        ("a/b/c", "(div (div a b) c)"),
        ("a/(b/c)", "(div a (div b c))"),
        ("a-b+c", "(add (sub a b) c)"),
        ("a/b*c", "(mul (div a b) c)"),
        ("x**2", "(pow x 2)"),
        ("2**3**2", "(pow 2 (pow 3 2))"),
        ("x**-2", "(pow x (neg 2))"),
        ("+x", "x"),
        ("-+x", "(neg x)"),
        ("+-x", "(neg x)"),
        ("--x", "(neg (neg x))"),
        ("2^+1", "(pow 2 1)"),
        ("1+2*3", "(add 1 (mul 2 3))"),
        ("1*2+3*4", "(add (mul 1 2) (mul 3 4))"),
        ("2*3^2", "(mul 2 (pow 3 2))"),
        ("a*-b", "(mul a (neg b))"),
        ("-a*b", "(mul (neg a) b)"),
        ("a - -b", "(sub a (neg b))"),
        ("(x+y)*z", "(mul (add x y) z)"),
        ("x+y*z", "(add x (mul y z))"),
        ("f(x, y+1)^2", "(pow (call f x (add y 1)) 2)"),
        ("g()", "(call g)"),
        ("((x))", "x"),
    ],
)
def test_structure(text: str, tree: str) -> None:
    assert sexpr(text) == tree


def test_value_start_rule_has_the_same_precedence() -> None:
    assert sexpr("2^-1", start="value") == "(pow 2 (neg 1))"
    assert sexpr("-x^2", start="value") == "(neg (pow x 2))"
    assert sexpr("pi/4", start="value") == "(div pi 4)"


def test_power_spelled_two_ways_gives_the_same_structure() -> None:
    assert shape(parse("x**2")) == shape(parse("x^2"))
    assert shape(parse("a**b**c")) == shape(parse("a^b^c"))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2^3^2", 512.0),  # 2^(3^2) = 2^9, not (2^3)^2 = 64
        ("2**3**2", 512.0),
        ("(2^3)^2", 64.0),
        ("2^-1", 0.5),
        ("2^-2", 0.25),
        ("-2^2", -4.0),  # -(2^2), not (-2)^2
        ("(-2)^2", 4.0),
        ("10-4-3", 3.0),  # (10-4)-3, not 10-(4-3) = 9
        ("10-(4-3)", 9.0),
        ("24/4/3", 2.0),  # (24/4)/3, not 24/(4/3) = 18
        ("24/(4/3)", 18.0),
        ("1+2*3", 7.0),
        ("1*2+3*4", 14.0),
        ("2*3^2", 18.0),
        ("8/2*4", 16.0),
        ("8-2+1", 7.0),
        ("+3", 3.0),
        ("-+3", -3.0),
        ("--3", 3.0),
        ("3 - -2", 5.0),
        ("2*-3", -6.0),
        ("4^.5", 2.0),
        ("2^+3", 8.0),
    ],
)
def test_constant_values(text: str, value: float) -> None:
    got, grad = symgrad.gradient(text)
    assert got == pytest.approx(value, rel=1e-12)
    assert grad == {}


def test_minus_x_squared_values() -> None:
    # -(x^2): value -9 and derivative -2x = -6 at x = 3; (-x)^2 would give 9 and 6.
    assert symgrad.gradient("-x^2", x=3.0) == (pytest.approx(-9.0), {"x": pytest.approx(-6.0)})
    assert symgrad.gradient("(-x)^2", x=3.0) == (pytest.approx(9.0), {"x": pytest.approx(6.0)})


def test_e_to_the_minus_x() -> None:
    value, grad = symgrad.gradient("e^-x", x=1.0)
    assert value == pytest.approx(math.exp(-1.0))
    assert grad == {"x": pytest.approx(-math.exp(-1.0))}
    value, grad = symgrad.gradient("e^-x", x=-2.0)
    assert value == pytest.approx(math.exp(2.0))
    assert grad == {"x": pytest.approx(-math.exp(2.0))}


def test_signed_exponent_with_power_inside() -> None:
    # 2^-(x^2): d/dx = 2^(-x^2) * ln 2 * (-2x)
    value, grad = symgrad.gradient("2^-x^2", x=1.0)
    assert value == pytest.approx(0.5)
    assert grad == {"x": pytest.approx(0.5 * math.log(2) * -2.0)}


def test_subtraction_chain_gradients() -> None:
    value, grad = symgrad.gradient("a-b-c", a=10.0, b=3.0, c=2.0)
    assert value == pytest.approx(5.0)
    assert grad == {"a": pytest.approx(1.0), "b": pytest.approx(-1.0), "c": pytest.approx(-1.0)}
    # a-(b-c): c enters with a plus sign
    value, grad = symgrad.gradient("a-(b-c)", a=10.0, b=3.0, c=2.0)
    assert value == pytest.approx(9.0)
    assert grad == {"a": pytest.approx(1.0), "b": pytest.approx(-1.0), "c": pytest.approx(1.0)}


def test_division_chain_gradients() -> None:
    # (a/b)/c: d/da = 1/(bc), d/db = -a/(b^2 c), d/dc = -a/(b c^2)
    value, grad = symgrad.gradient("a/b/c", a=24.0, b=4.0, c=3.0)
    assert value == pytest.approx(2.0)
    assert grad == {"a": pytest.approx(1 / 12), "b": pytest.approx(-0.5), "c": pytest.approx(-2 / 3)}


def test_double_star_same_values_as_caret() -> None:
    assert symgrad.gradient("x**2", x=3.0) == symgrad.gradient("x^2", x=3.0) == (9.0, {"x": 6.0})
    value, grad = symgrad.gradient("x**3**2", x=1.1)
    assert value == pytest.approx(1.1**9)
    assert grad == {"x": pytest.approx(9 * 1.1**8)}


def test_unary_plus_is_the_identity() -> None:
    assert symgrad.gradient("+x", x=2.0) == (2.0, {"x": 1.0})
    assert symgrad.gradient("3 * +x", x=2.0) == (6.0, {"x": 3.0})


def test_mixed_product_and_sum() -> None:
    # x*y + z*x at x=2, y=3, z=5: value 16; d/dx = y + z = 8, d/dy = x = 2, d/dz = x = 2
    value, grad = symgrad.gradient("x*y + z*x", x=2.0, y=3.0, z=5.0)
    assert value == pytest.approx(16.0)
    assert grad == {"x": pytest.approx(8.0), "y": pytest.approx(2.0), "z": pytest.approx(2.0)}
    # x + y*z - x/y
    value, grad = symgrad.gradient("x + y*z - x/y", x=6.0, y=3.0, z=5.0)
    assert value == pytest.approx(6 + 15 - 2)
    assert grad == {"x": pytest.approx(1 - 1 / 3), "y": pytest.approx(5 + 6 / 9), "z": pytest.approx(3.0)}


# ---- look-alikes pasted from slides ----------------------------------------


@pytest.mark.parametrize(
    ("pasted", "plain"),
    [
        ("a − b", "a - b"),
        ("−x^2", "-x^2"),
        ("2^−1", "2^-1"),
        ("e^−x", "e^-x"),
        ("a × b", "a * b"),
        ("a · b", "a * b"),
        ("a ⋅ b", "a * b"),
        ("a ÷ b", "a / b"),
        ("a − b − c", "a - b - c"),
        ("a ÷ b ÷ c", "a / b / c"),
        ("a × b + c ÷ d", "a * b + c / d"),
    ],
)
def test_look_alike_operators(pasted: str, plain: str) -> None:
    assert sexpr(pasted) == sexpr(plain)


@pytest.mark.parametrize(
    ("pasted", "at", "value", "grad"),
    [
        ("a − b", {"a": 5.0, "b": 2.0}, 3.0, {"a": 1.0, "b": -1.0}),
        ("a × b", {"a": 3.0, "b": 4.0}, 12.0, {"a": 4.0, "b": 3.0}),
        ("a · b", {"a": 3.0, "b": 4.0}, 12.0, {"a": 4.0, "b": 3.0}),
        ("a ÷ b", {"a": 3.0, "b": 4.0}, 0.75, {"a": 0.25, "b": -3 / 16}),
        ("−x^2", {"x": 3.0}, -9.0, {"x": -6.0}),
        ("2 × π × r", {"r": 0.5}, math.pi, {"r": 2 * math.pi}),
    ],
)
def test_look_alike_values(pasted: str, at: dict[str, float], value: float, grad: dict[str, float]) -> None:
    got, got_grad = symgrad.gradient(pasted, **at)
    assert got == pytest.approx(value)
    assert got_grad == pytest.approx(grad)


def test_pi_letter_is_pi() -> None:
    assert symgrad.gradient("π")[0] == pytest.approx(math.pi)
    assert symgrad.gradient("π/4 + x", x=0.0) == (pytest.approx(math.pi / 4), {"x": 1.0})


@pytest.mark.parametrize("x", [0.0, 2.0, -1.5])
def test_sigma_is_sigmoid(x: float) -> None:
    s = 1 / (1 + math.exp(-x))
    value, grad = symgrad.gradient("σ(x)", x=x)
    assert value == pytest.approx(s)
    assert grad == {"x": pytest.approx(s * (1 - s))}
    plain_value, plain_grad = symgrad.gradient("sigmoid(x)", x=x)
    assert value == pytest.approx(plain_value)
    assert grad == {"x": pytest.approx(plain_grad["x"])}


def test_sigma_of_zero_is_a_half() -> None:
    assert symgrad.gradient("σ(0)") == (pytest.approx(0.5), {})
    assert symgrad.gradient("σ(x)", x=0.0) == (pytest.approx(0.5), {"x": pytest.approx(0.25)})


# ---- statements, separators, comments --------------------------------------


def test_newline_and_semicolon_separate_statements() -> None:
    for text in ("q = x + y\nq * z", "q = x + y; q * z", "q = x + y ;q * z"):
        program = parse(text)
        assert [st_.kind for st_ in program.statements] == ["assign", "bare"]
        trees = sexprs(program)
        assert trees[program.statements[0].lhs] == "q"
        assert trees[program.statements[0].rhs] == "(add x y)"
        assert trees[program.statements[1].rhs] == "(mul q z)"


def test_blank_lines_comments_and_trailing_separators() -> None:
    texts = [
        "\n\nq = x + y\n\n\nq * z\n\n",
        "# a header comment\nq = x + y  # the sum\n# a line that is only a comment\nq * z # the product",
        "q = x + y;\nq * z;",
        "q = x + y;;; q * z;;\n;\n",
        ";\n q = x + y\n\t\n q * z",
        "q = x + y\r\nq * z\r\n",
    ]
    expected = ["(add x y)", "(mul q z)"]
    for text in texts:
        program = parse(text)
        trees = sexprs(program)
        assert [trees[st_.rhs] for st_ in program.statements] == expected, text


def test_comment_reaches_the_end_of_the_line_only() -> None:
    program = parse("x # ; y\ny")
    # the ';' inside the comment does not separate statements: two statements, x and y
    assert [sexprs(program)[st_.rhs] for st_ in program.statements] == ["x", "y"]


def test_statements_evaluate_in_order() -> None:
    text = "# README example, written as statements\nq = x + y  # sum\n\nf = q * z;\n"
    assert symgrad.gradient(text, x=-2.0, y=5.0, z=-4.0) == (-12.0, {"x": -4.0, "y": -4.0, "z": 3.0})
    assert symgrad.gradient("q = x*2 # double\n\n\nq + 1", x=3.0) == (7.0, {"x": 2.0})


def test_function_definition_and_call_statement() -> None:
    program = parse("f(a, b) = a * b\nf(1, 2)")
    trees = sexprs(program)
    assert [(st_.kind, trees[st_.lhs] if st_.lhs is not None else None, trees[st_.rhs])
            for st_ in program.statements] == [
        ("assign", "(call f a b)", "(mul a b)"),
        ("bare", None, "(call f 1 2)"),
    ]
    assert symgrad.gradient("g(a, b) = a * b + a\ng(x, 3)", x=2.0) == (8.0, {"x": 4.0})


def test_spans_are_character_offsets() -> None:
    text = "f(x) = (x + 1) * 2"
    program = parse(text)
    assert [text[s.start:s.end] for s in program.syntax] == ["x", "f(x)", "x", "1", "(x + 1)", "2", "(x + 1) * 2"]
    (statement,) = program.statements
    assert text[statement.start:statement.end] == text


def test_spans_across_lines_and_unicode() -> None:
    # π and × are one character each (two bytes in UTF-8): spans count characters.
    text = "# area\nA = π × r^2\nA ÷ 2"
    program = parse(text)
    assert [(s.kind, text[s.start:s.end]) for s in program.syntax] == [
        ("name", "A"),
        ("name", "π"),
        ("name", "r"),
        ("num", "2"),
        ("op", "r^2"),
        ("op", "π × r^2"),
        ("name", "A"),
        ("num", "2"),
        ("op", "A ÷ 2"),
    ]
    assert (program.syntax[1].start, program.syntax[1].end) == (11, 12)
    assert [text[st_.start:st_.end] for st_ in program.statements] == ["A = π × r^2", "A ÷ 2"]


def test_spans_of_unary_and_calls() -> None:
    text = "-x^2 + max(a, -b)"
    program = parse(text)
    assert [text[s.start:s.end] for s in program.syntax] == [
        "x", "2", "x^2", "-x^2", "a", "b", "-b", "max(a, -b)", "-x^2 + max(a, -b)",
    ]


def test_children_come_before_their_parent() -> None:
    program = parse("f(x, y) = sin(x)^2 - x/(y + 1)*exp(-y)\nf(1, 2)")
    for i, s in enumerate(program.syntax):
        assert all(0 <= c < i for c in s.children)


# ---- the grammar itself ----------------------------------------------------


def _lalr_conflicts_raise(text: str) -> None:
    """Build the LALR(1) tables in strict mode: a shift/reduce or reduce/reduce conflict raises GrammarError."""
    loose = lark.Lark(text, parser="lalr", lexer="basic", start=["program", "value"])
    LALR_Analyzer(loose.parser.parser_conf, strict=True).compute_lalr()


def test_grammar_has_no_lalr_conflicts() -> None:
    _lalr_conflicts_raise(grammar_text())


def test_grammar_builds_in_lark_strict_mode() -> None:
    try:
        built = lark.Lark(grammar_text(), parser="lalr", lexer="basic", start=["program", "value"], strict=True)
    except LexError as exc:
        # Lark's strict lexer checks need the optional 'interegular' package; the parser tables (and so
        # the conflict check) are built before the lexer, so reaching this point means no conflicts.
        if "interegular" not in str(exc):
            raise
        pytest.skip("lark strict mode needs 'interegular' for its lexer checks (pip install 'lark[interegular]')")
    assert built.parse("x + 1", start="value") is not None


def test_conflict_check_can_fail() -> None:
    # Sanity check of the check: a left-recursive power rule is ambiguous with the right-recursive one.
    ambiguous = grammar_text().replace("| postfix POWER unary", "| postfix POWER unary\n      | power POWER unary")
    assert ambiguous != grammar_text()
    with pytest.raises(GrammarError):
        _lalr_conflicts_raise(ambiguous)


# ---- error messages --------------------------------------------------------


def test_unexpected_end_of_input_readme_example() -> None:
    err = error_of("f(x)=(x+")
    assert err.kind == "syntax"
    assert err.message == "unexpected end of input: expected an expression"
    assert err.hint == "a parenthesis opened at column 6 is never closed"
    assert err.line_col == (1, 9)
    assert err.render() == (
        "error: unexpected end of input: expected an expression\n"
        "  f(x)=(x+\n"
        "          ^\n"
        "hint: a parenthesis opened at column 6 is never closed"
    )


def test_unclosed_parenthesis_reports_the_innermost_open_one() -> None:
    # '(' at columns 1 and 4: the one at 4 is closed, the one at 1 stays open.
    err = error_of("(a*(b+c)")
    assert "expected" in err.message
    assert err.hint == "a parenthesis opened at column 1 is never closed"
    err = error_of("((a+b)*(c")
    assert err.hint == "a parenthesis opened at column 8 is never closed"
    err = error_of("f(x, ")
    assert err.message == "unexpected end of input: expected an expression"
    assert err.hint == "a parenthesis opened at column 2 is never closed"


@pytest.mark.parametrize(
    ("text", "write", "col"),
    [("2x", "write 2*x", 2), ("3 y", "write 3*y", 3), ("x y", "write x*y", 3), ("a = 1\nb = 2 3", "write 2*3", 7)],
)
def test_missing_operator(text: str, write: str, col: int) -> None:
    err = error_of(text)
    assert err.kind == "syntax"
    assert err.hint is not None and err.hint.endswith(write)
    assert "missing operator" in err.hint
    assert err.line_col[1] == col
    assert "expected an operator" in err.message


def test_call_is_not_a_missing_operator() -> None:
    # f(x) is a call, so "f(x" is an unclosed call, not "write f*(".
    err = error_of("f(x")
    assert err.hint == "a parenthesis opened at column 2 is never closed"


@pytest.mark.parametrize(
    ("text", "line_col"),
    [("x)", (1, 2)), ("(x))", (1, 4)), ("x*)", (1, 3)), ("a=1\nb = )", (2, 5))],
)
def test_stray_closing_parenthesis(text: str, line_col: tuple[int, int]) -> None:
    err = error_of(text)
    assert err.kind == "syntax"
    assert err.message.startswith("unexpected ')'")
    assert err.hint == "this ')' has no matching '('"
    assert err.line_col == line_col
    caret_matches(err, ")")


@pytest.mark.parametrize("text", ["x)", "(x))", "x = y = z"])
def test_expected_list_does_not_leave_out_valid_operators(text: str) -> None:
    # After "x", '*', '/', '^' (and the end of the statement) are as valid as '+' and '-':
    # the message must not claim only '+', '-' (or '=') could follow.
    err = error_of(text)
    assert "an operator" in err.message, err.message


@pytest.mark.parametrize(("text", "char", "col"), [("x + $", "$", 5), ("a = 1; b = a & 2", "&", 14), ("3!", "!", 2)])
def test_unexpected_character(text: str, char: str, col: int) -> None:
    err = error_of(text)
    assert err.kind == "syntax"
    assert err.message == f"unexpected character {char!r}"
    assert err.line_col == (1, col)
    assert err.span == (col - 1, col)
    assert err.hint
    caret_matches(err, char)


def test_curly_brackets_hint() -> None:
    err = error_of("2 * {x + 1}")
    assert err.hint is not None and "round brackets" in err.hint


@pytest.mark.parametrize("text", ["", "   ", "\n\n", ";", " ; \n ;", "# only a comment", "# one\n\n# two\n"])
def test_empty_program(text: str) -> None:
    err = error_of(text)
    assert err.kind == "syntax"
    assert err.message == "the program is empty"
    assert err.hint
    assert "error: the program is empty" in err.render()


def test_error_on_second_line() -> None:
    err = error_of("q = x + 1\nq * * 2")
    assert err.kind == "syntax"
    assert err.line_col == (2, 5)
    rendered = err.render()
    assert "line 2, column 5" in rendered
    assert "q * * 2" in rendered
    assert "q = x + 1" not in rendered
    caret_matches(err, "*")


def test_unclosed_parenthesis_on_second_line() -> None:
    err = error_of("x = 1\ny = (x + 2\nz")
    assert err.message == "unexpected end of line: expected an operator or ')'"
    assert err.line_col == (2, 11)
    assert err.hint == "a parenthesis opened at line 2, column 5 is never closed"
    rendered = err.render()
    assert "  line 2, column 11:" in rendered
    assert "  y = (x + 2\n" in rendered


def test_statement_broken_across_lines() -> None:
    err = error_of("x +\n y")
    assert err.line_col == (1, 4)
    assert err.message == "unexpected end of line: expected an expression"
    assert err.hint is not None and "same line" in err.hint


def test_character_error_on_a_later_line() -> None:
    err = error_of("x\n\n\n   $")
    assert err.line_col == (4, 4)
    assert "line 4, column 4" in err.render()
    caret_matches(err, "$")


@pytest.mark.parametrize(
    ("text", "char"),
    [("x + $", "$"), ("\tx $", "$"), ("a = 1\nb = a $ 2", "$"), ("2x", "x"), ("π × r ^ $", "$"), ("y = 1 2", "2")],
)
def test_caret_under_the_right_column(text: str, char: str) -> None:
    caret_matches(error_of(text), char)


def test_caret_at_the_end_of_input_is_one_past_the_last_character() -> None:
    err = error_of("f(x)=(x+")
    lines = err.render().split("\n")
    assert lines[1] == "  f(x)=(x+"
    assert lines[2].index("^") == len(lines[1])


def test_long_line_is_shown_as_a_window() -> None:
    text = "x + " * 3000 + "$" + " + x" * 3000
    err = error_of(text)
    assert err.line_col == (1, 12001)
    rendered = err.render()
    assert len(rendered) < 400
    assert all(len(line) <= 130 for line in rendered.split("\n"))
    shown = rendered.split("\n")[1]
    assert shown.lstrip().startswith("…") and shown.endswith("…")
    caret_matches(err, "$")


def test_long_line_window_at_the_end_of_the_line() -> None:
    err = error_of("x" * 10000 + "$")
    rendered = err.render()
    assert len(rendered) < 400
    caret_matches(err, "$")
    err = error_of("x + " * 3000 + "2 y")
    assert len(err.render()) < 400
    caret_matches(err, "y")


def test_render_without_a_place() -> None:
    err = SymgradError("input", "something is wrong", hint="try again")
    assert err.line_col == (None, None)
    assert err.render() == "error: something is wrong\nhint: try again"


# ---- property: nothing but SymgradError ------------------------------------

ALPHABET = [
    *"0123456789xyzeE.+-*/^(),;=# \t\n\r_",
    "**", "pi", "π", "σ", "θ", "−", "×", "·", "⋅", "÷", "f(", "sin(", "1e-", "$", "[", "]", "!", "@", "é",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(ALPHABET), max_size=30).map("".join), st.sampled_from(["program", "value"]))
def test_random_text_raises_only_symgrad_errors(text: str, start: str) -> None:
    try:
        program = parse(text, start=start)
    except SymgradError as err:
        assert err.kind == "syntax"
        line, col = err.line_col
        assert line is not None and col is not None
        assert 1 <= line <= text.count("\n") + 1
        assert isinstance(err.render(), str)
    else:
        assert program.statements
        for s in program.syntax:
            assert 0 <= s.start <= s.end <= len(text)


# ---- round trip through the source view ------------------------------------

ROUND_TRIP = [
    "f(x,y,z)=(x+y)*z",
    "q = x + y; f = q * z",
    "-x^2",
    "(-x)^2",
    "-(x^2)",
    "2^3^2",
    "(2^3)^2",
    "((a^b)^c)^d",
    "a^(b^(c^d))",
    "2^-1",
    "2^(-1)",
    "e^-x",
    "2^-x^2",
    "x^-(y^-z)",
    "(-2)^-(-3)",
    "x**-2",
    "a-b-c",
    "a-(b-c)",
    "a-(b+c)",
    "(a-b)-(c-d)",
    "a/b/c",
    "a/(b/c)",
    "a/(b*c)",
    "(a*b)/(c/d)",
    "a - -b",
    "a * -b",
    "-a * b",
    "-(a * b)",
    "--x",
    "-(-x)",
    "+x",
    "1+2*3",
    "(1+2)*3",
    "max(a, b, c)",
    "f(x, y+1, -z, g(w)^2)",
    "g()",
    "h(a-(b-c), (a-b)-c, a^b^c)",
    "pow(x, 2) + atan(y/x)",
    "1.5 + .5 + 2. + 1e-3 + 2.5E4",
    "a − b × c ÷ d · e",
    "2 × π × r",
    "σ(w0*x + θ)",
    "f(a, b) = a * b\ng(x) = f(x, x) - x\ng(3)",
    "sigmoid(-(x - 1)^2) / (1 + exp(-x))",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_round_trip(text: str) -> None:
    program = parse(text)
    written = program_text(program)
    again = parse(written)
    assert shape(again) == shape(program), written
    assert statements_shape(again) == statements_shape(program)
    # writing is stable: the rewritten text writes back to itself
    assert program_text(again) == written


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("f(x,y,z)=(x+y)*z", "f(x, y, z) = (x + y) * z"),
        ("a-(b-c)", "a - (b - c)"),
        ("a/(b/c)", "a / (b / c)"),
        ("(a-b)-c", "a - b - c"),
        ("(a^b)^c", "(a^b)^c"),
        ("a^(b^c)", "a^b^c"),
        ("-(x^2)", "-x^2"),
        ("(-x)^2", "(-x)^2"),
        ("2^(-1)", "2^-1"),
        ("x ** 2", "x^2"),
        ("a × b ÷ c", "a * b / c"),
        ("q = x+y\nq*z", "q = x + y; q * z"),
    ],
)
def test_written_form(text: str, written: str) -> None:
    assert program_text(parse(text)) == written


@pytest.mark.parametrize("text", ["2^-3^2", "-(2^2)^-1", "(1-2)-(3-4)/(5/6)", "2^(1/2)^-1", "-(-3)^(2^3/4)"])
def test_round_trip_keeps_the_value(text: str) -> None:
    written = program_text(parse(text))
    assert symgrad.gradient(written)[0] == pytest.approx(symgrad.gradient(text)[0], rel=1e-12)


_leaf = st.sampled_from(["x", "y", "θ", "w0", "pi", "e", "π", "1", "2.5", ".5", "3.", "1e-3", "2E2"])
_binop = st.sampled_from(["+", "-", "*", "/", "^", "**", "−", "×", "÷", "·"])


def _grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(inner, _binop, inner, st.booleans(), st.booleans()).map(
        lambda t: ("(" + t[0] + ")" if t[3] else t[0]) + t[1] + ("(" + t[2] + ")" if t[4] else t[2])
    )
    unary = st.tuples(st.sampled_from(["-", "+", "−"]), inner).map(lambda t: t[0] + t[1])
    group = inner.map(lambda s: "(" + s + ")")
    call = st.tuples(st.sampled_from(["f", "max", "σ"]), st.lists(inner, max_size=3)).map(
        lambda t: t[0] + "(" + ", ".join(t[1]) + ")"
    )
    return st.one_of(binary, unary, group, call)


EXPRESSIONS = st.recursive(_leaf, _grow, max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["", "q = ", "f(x, y) = "]), EXPRESSIONS), min_size=1, max_size=3),
       st.sampled_from(["\n", "; ", ";\n# c\n"]))
def test_round_trip_of_generated_programs(statements: list[tuple[str, str]], sep: str) -> None:
    text = sep.join(lhs + rhs for lhs, rhs in statements)
    assume(len(text) <= 200)  # longer sources are shown as typed, cut short, by design
    program = parse(text)
    written = program_text(program)
    again = parse(written)
    assert shape(again) == shape(program), (text, written)
    assert statements_shape(again) == statements_shape(program)


# ---- deep input: slow (a second or more each), run by `python -m pytest` ---------

DEPTH = 100_000


@pytest.mark.slow
def test_deeply_nested_parentheses_parse() -> None:
    text = "(" * DEPTH + "x" + ")" * DEPTH
    program = parse(text)
    assert [(s.kind, s.text) for s in program.syntax] == [("name", "x")]
    assert (program.syntax[0].start, program.syntax[0].end) == (0, len(text))
    assert len(program.statements) == 1


@pytest.mark.slow
def test_long_sum_parses() -> None:
    text = "+".join(["x"] * DEPTH)
    program = parse(text)
    assert len(program.syntax) == 2 * DEPTH - 1
    kinds = [(s.kind, s.text) for s in program.syntax]
    assert kinds.count(("name", "x")) == DEPTH
    assert kinds.count(("op", "add")) == DEPTH - 1
    # left-associative: each add takes the previous add and the next x
    assert program.syntax[-1].children == (2 * DEPTH - 4, 2 * DEPTH - 3)
    assert program.statements[0].rhs == 2 * DEPTH - 2


@pytest.mark.slow
def test_long_right_associative_power_chain_parses() -> None:
    program = parse("^".join(["x"] * DEPTH))
    assert len(program.syntax) == 2 * DEPTH - 1
    # right-associative: all the names come first, then the pows from the innermost out
    assert program.syntax[-1].children == (0, 2 * DEPTH - 3)


@pytest.mark.slow
def test_deep_unclosed_parentheses_error() -> None:
    err = error_of("(" * DEPTH + "x")
    assert err.hint == f"a parenthesis opened at column {DEPTH} is never closed"
    assert len(err.render()) < 400


@pytest.mark.slow
def test_deep_parentheses_evaluate() -> None:
    text = "(" * DEPTH + "x" + ")" * DEPTH
    assert symgrad.gradient(text, x=2.0) == (2.0, {"x": 1.0})


@pytest.mark.slow
def test_long_sum_evaluates() -> None:
    assert symgrad.gradient("+".join(["x"] * DEPTH), x=2.0) == (2.0 * DEPTH, {"x": float(DEPTH)})


@pytest.mark.slow
def test_deep_unary_minus_evaluates() -> None:
    # an even number of minus signs cancels out
    assert symgrad.gradient("-" * DEPTH + "x", x=2.0) == (2.0, {"x": 1.0})
