"""What a person sees in a real terminal (issue 14): the rich tables run in tmux at 60, 100 and 160 columns,
read back with capture-pane (lines the terminal had to wrap joined back: a line too wide shows as one).
Without tmux these tests skip, except under CI (CI=true), where .ci/run installs it and a missing tmux is a
failure.  The colours, and the matrices' columns, are read from rich consoles that record them."""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from rich.console import Console

import symgrad
from symgrad.records import records
from symgrad.views import plain, table

ROOT = Path(__file__).resolve().parents[1]
HOMEWORK = ROOT / "examples" / "homework"
INDEXED = ("f(s,b) = 2*s[b] + s[0]", "s=[1,2,3],b=1")
HEADLINE = ["f(x,y,z)=(x+y)*z", "--at", "x=-2,y=5,z=-4"]


def tmux_or_skip() -> str:
    found = shutil.which("tmux")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is missing under CI: .ci/run should have installed it")
        pytest.skip("tmux is not installed")
    return found


def in_terminal(args: list[str], width: int) -> str:
    """symgrad ARGS in a tmux window `width` columns wide, as the screen shows it (with what scrolled
    off it; a line the terminal wrapped is one line again).  COLUMNS and LINES are unset: the
    terminal's own size counts."""
    tmux = tmux_or_skip()
    name = f"symgrad-{uuid.uuid4().hex[:8]}"
    command = " ".join(["env -u COLUMNS -u LINES PYTHONIOENCODING=utf-8", sys.executable, "-m", "symgrad",
                        *(shlex.quote(a) for a in args)])
    done = f"/tmp/{name}.done"
    subprocess.run([tmux, "new-session", "-d", "-s", name, "-x", str(width), "-y", "60",
                    f"{command}; touch {done}; sleep 600"], check=True, env={**os.environ, "TERM": "xterm-256color"})
    try:
        for _ in range(6000):  # until the command has ended, however busy the machine (10 minutes: a hang)
            if os.path.exists(done):
                break
            time.sleep(0.1)
        return subprocess.run([tmux, "capture-pane", "-p", "-J", "-S", "-", "-t", name], capture_output=True,
                              text=True, check=True).stdout
    finally:
        subprocess.run([tmux, "kill-session", "-t", name], check=False)
        if os.path.exists(done):
            os.remove(done)


@pytest.mark.parametrize("width", [60, 100, 160])
def test_index_brackets_show_in_a_real_terminal(width: int) -> None:
    screen = in_terminal([INDEXED[0], "--at", INDEXED[1], "--no-check"], width)
    rows = {line.split()[0]: line for line in screen.splitlines() if line.split() and not line.startswith(" ")}
    assert "s[b]" in rows["n1"] and "s[0]" in rows["n3"], screen  # the node's row, not the header line
    assert all(len(line) <= width for line in screen.splitlines())


def test_user_text_is_never_rich_markup() -> None:
    # [b], [bold] and [/] in the user's program are text, in the table and in the blocks of a narrow terminal
    for text, at in (INDEXED, ("f(bold, s) = s[bold] * 2", "bold=0,s=[3,4]")):
        trace = symgrad.evaluate(symgrad.parse(text), _point(at))
        for width in (60, 160):
            out = io.StringIO()
            console = Console(file=out, width=width, force_terminal=True, color_system=None)
            table.render(console, trace, records(trace), sym=plain.UNICODE)
            rows = {line.split()[0]: line for line in out.getvalue().splitlines()
                    if line.split() and not line.startswith(" ")}
            assert "s[b]" in rows["n1"] or "s[bold]" in rows["n1"], out.getvalue()


def _point(at: str) -> dict:
    from symgrad.binding import parse_at

    return parse_at([at])[0]


STAGED_WITH_COMMENTS = "\n".join([
    "sigy = 1/(1+exp(-y))   # the sigmoid of y, computed the long way as the lecture does",
    "num = x + sigy        # the numerator of the lecture's staged example",
    "sigx = 1/(1+exp(-x))  # the sigmoid of x, again by hand",
    "xpy = x + y           # x plus y",
    "xpysqr = xpy^2        # its square",
    "den = sigx + xpysqr   # the denominator",
    "invden = 1/den        # one over it",
    "f = num*invden        # and the output",
])


def test_the_header_of_a_commented_program_drops_the_comments(tmp_path: object) -> None:
    from pathlib import Path

    from support import run

    path = Path(str(tmp_path)) / "staged.sg"
    path.write_text(STAGED_WITH_COMMENTS + "\n", encoding="utf-8")
    head = run("--file", str(path), "--at", "x=3,y=-4", "--no-check", code=0).stdout.splitlines()[0]
    assert "#" not in head and "lecture" not in head
    assert head.startswith("sigy = 1 / (1 + exp(-y)); num = x + sigy;") and "f = num * invden" in head
    long = "\n".join(f"t{k} = x * {k}   # step {k} of many" for k in range(40)) + "\nf = t39 + t0\n"
    path.write_text(long, encoding="utf-8")
    head = run("--file", str(path), "--at", "x=1", "--no-check", code=0).stdout.splitlines()[0]
    assert "#" not in head and "step" not in head and "…" in head and head.startswith("t0 = x * 0; t1 = x * 1;")


# ---- the checks, the check report and the class report: rich tables that fit the terminal ----------

REPORTS = {
    "checks": (HEADLINE, {"✓"}, set()),
    "matrix checks": (["f(W)=W*[[1,2],[3,40]]", "--at", "W=[[1,2],[3,4]]"], {"✓"}, set()),
    "kink": (["f(x)=relu(x)+2*x", "--at", "x=0", "--exact"], set(), set()),
    "check": (["check", *HEADLINE, "--expect", "dx=-4,dy=-3,dz=3"], {"✓", "✗"}, set()),
    "homework": (["check", str(HOMEWORK / "lecture.toml")], {"✓", "✗"}, set()),
    "grade": (["grade", str(HOMEWORK / "key.toml"), str(HOMEWORK / "submissions.toml")], {"✓", "✗"},
              {"mistakes", "mistake", "who"}),
}
WORD = re.compile(r"[A-Za-z]+")
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w.])")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def piped(args: list[str]) -> str:
    """symgrad ARGS into a pipe: the plain text."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE")}
    return subprocess.run([sys.executable, "-m", "symgrad", *args], capture_output=True, check=False,
                          env={**env, "PYTHONIOENCODING": "utf-8"}).stdout.decode("utf-8")


@pytest.mark.parametrize("width", [60, 100, 160])
@pytest.mark.parametrize("name", list(REPORTS))
def test_reports_are_rich_tables_that_fit_a_real_terminal(name: str, width: int) -> None:
    args, marks, titles = REPORTS[name]
    screen = in_terminal(args, width)
    lines = [line.rstrip() for line in screen.splitlines()]
    assert all(len(line) <= width for line in lines), "\n".join(line for line in lines if len(line) > width)
    assert any(line.strip().startswith("──") for line in lines), screen  # a rich table's rule under its titles
    for mark in marks:
        assert mark in screen, screen
    # No word and no number broken between two lines: each is one the plain text has, whole.
    text = piped(args)
    assert set(WORD.findall(screen)) <= set(WORD.findall(text)) | titles, (
        set(WORD.findall(screen)) - set(WORD.findall(text)), screen)
    assert set(NUMBER.findall(screen)) <= set(NUMBER.findall(text)), (
        set(NUMBER.findall(screen)) - set(NUMBER.findall(text)), screen)


@pytest.mark.parametrize("width", [60, 100, 160])
def test_the_check_report_keeps_its_rule_and_verdicts_whole(width: int) -> None:
    screen = in_terminal(REPORTS["check"][0], width)
    rows = {line.split()[0]: line.split() for line in screen.splitlines() if line.startswith("∂f/∂")}
    assert rows["∂f/∂y"][:3] == ["∂f/∂y", "-3", "-4"] and "✗" in rows["∂f/∂y"], screen
    rule = " ".join(word for line in screen.splitlines() for word in line.split() if word in ("exact", "(relative"))
    assert rule.count("exact") == 3 and rule.count("(relative") == 3, screen
    assert "2 of 3 right" in screen


@pytest.mark.parametrize("width", [60, 160])
def test_plain_text_on_a_terminal_when_asked_for(width: int) -> None:
    # --format plain is the plain text on a terminal too (at 160 columns nothing needs wrapping)
    for args in (REPORTS["check"][0], REPORTS["grade"][0]):
        screen = in_terminal([*args, "--format", "plain"], width)
        assert "──" not in screen
        assert screen.splitlines()[0].rstrip() == piped(args).splitlines()[0]  # the plain titles, 3 or 2 apart
        if width == 160:
            assert [line.rstrip() for line in screen.splitlines() if line.strip()] == \
                [line for line in piped(args).splitlines() if line.strip()]


CHECK_PLAIN = """\
answer   given   correct   verdict   rule
∂f/∂x       -4        -4   ✓         exact (relative 1e-9)
∂f/∂y       -3        -4   ✗         exact (relative 1e-9)
∂f/∂z        3         3   ✓         exact (relative 1e-9)
2 of 3 right
"""

CHECKS_PLAIN = """\
input  backprop  symbolic  rel. error  numeric  rel. error  verdict
x      -4        -4        0           -4       9.2e-12     excellent
y      -4        -4        0           -4       0           excellent
z      3         3         0           3        9.2e-12     excellent
∂f/∂x = z
∂f/∂y = z
∂f/∂z = n1    where n1 = x + y
checks: backprop, symbolic and numeric agree for x, y, z (largest relative error 9.2e-12)
"""

GRADE_PLAIN = """\
student  problem      right  score
ann      worksheet 1  7/7    1/1
bob      worksheet 1  4/7    0.5714/1
    you left out the branch through b: a feeds 2 nodes, and their gradients add
cat      worksheet 1  5/7    0.7143/1
    you left out the branch through b: x feeds 2 nodes, and their gradients add
    you swapped the inputs of the mul gate a = x * y: each input's local gradient is the other input's value, \
not its own

3 students, 3 submissions: 2.286 of 3 points
1 of 3 students: you left out the branch through b: a feeds 2 nodes, and their gradients add (bob)
1 of 3 students: you left out the branch through b: x feeds 2 nodes, and their gradients add (cat)
1 of 3 students: you swapped the inputs of the mul gate a = x * y: each input's local gradient is the other \
input's value, not its own (cat)
"""


def test_piped_output_is_the_plain_text_as_before() -> None:
    assert piped(REPORTS["check"][0]) == CHECK_PLAIN
    assert piped(HEADLINE).endswith("\n\n" + CHECKS_PLAIN)
    assert piped(REPORTS["grade"][0]) == GRADE_PLAIN
    for name in REPORTS:
        text = piped(REPORTS[name][0])
        assert not ANSI.search(text) and "──" not in text


# ---- colours and matrices, from a rich console ----------------------------------------------------------


def console(width: int) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width, force_terminal=True, color_system="truecolor", highlight=False), out


def coloured(text: str, code: str, what: str) -> bool:
    """Whether `what` is printed with the SGR colour `code` (32 green, 31 red, 33 yellow) in force."""
    return re.search(rf"\x1b\[(?:[0-9;]*;)?{code}(?:;[0-9;]*)?m(?:\x1b\[[0-9;]*m)*{re.escape(what)}", text) is not None


def _grading(function: str, at: dict, expect: str) -> object:
    from symgrad.homework import grade, parse_expect

    graph = symgrad.parse(function)
    return grade(graph, symgrad.evaluate(graph, at), parse_expect([expect], graph))


@pytest.mark.parametrize("width", [60, 100, 160])
def test_marks_and_verdicts_are_coloured(width: int) -> None:
    from symgrad.views import checks_view, class_view, grading

    con, out = console(width)
    grading.render(con, _grading(HEADLINE[0], {"x": -2, "y": 5, "z": -4}, "dx=-4,dy=-3,dz=3"), False)
    text = out.getvalue()
    assert coloured(text, "32", "✓") and coloured(text, "31", "✗"), text
    assert not coloured(text, "32", "✗") and not coloured(text, "31", "✓")

    for program, at, verdict, code in (("f(x,y)=x*y", {"x": 2.0, "y": 3.0}, "excellent", "32"),
                                       ("f(x)=relu(x)", {"x": 0.0}, "kink", "33")):
        from symgrad.checks import run_checks

        trace = symgrad.evaluate(symgrad.parse(program), at)
        con, out = console(width)
        checks_view.render(con, run_checks(trace.graph, trace), trace, plain.UNICODE, 4)
        assert coloured(out.getvalue(), code, verdict), out.getvalue()
    assert coloured(out.getvalue(), "33", "kink") and "✓" not in ANSI.sub("", out.getvalue())
    from symgrad.views.terminal import verdict

    con, out = console(width)  # backprop itself is never wrong here: the verdict as a check would show it
    con.print(verdict("wrong", "WRONG"))
    assert coloured(out.getvalue(), "31", "✗") and coloured(out.getvalue(), "31", "WRONG"), out.getvalue()

    from symgrad.classwork import Result

    con, out = console(width)
    full = _grading("f(x,y)=x*y", {"x": 2.0, "y": 3.0}, "x=3,y=2")
    half = _grading("f(x,y)=x*y", {"x": 2.0, "y": 3.0}, "x=3,y=3")
    class_view.render(con, [Result("[b]ann", "p", 1.0, full, total=2), Result("bob", "p", 1.0, half, total=2)])
    text = out.getvalue()
    assert coloured(text, "32", "✓") and coloured(text, "31", "✗"), text
    assert "✓ 2/2" in ANSI.sub("", text) and "✗ 1/2" in ANSI.sub("", text)
    assert "[b]ann" in ANSI.sub("", text)  # a name is text, never rich markup


def test_a_matrix_lines_up_by_column() -> None:
    from symgrad.views import checks_view, grading
    from symgrad.views.terminal import matrix_lines

    assert matrix_lines("[[1, -2], [30, 4]]") == ["[[ 1, -2],", " [30,  4]]"]
    assert matrix_lines("[1, -2, 30, 4]", (2, 2)) == ["[[ 1, -2],", " [30,  4]]"]
    assert matrix_lines("[1, 2]") == ["[1, 2]"] and matrix_lines("x*y") == ["x*y"]
    assert matrix_lines("[[1,2],[3]]") == ["[[1,2],[3]]"]  # ragged: as written

    def aligned(text: str, first: str, second: str) -> None:
        lines = ANSI.sub("", text).splitlines()
        k = next(k for k, line in enumerate(lines) if first in line)
        assert lines[k + 1].index(second) == lines[k].index(first) + 1, "\n".join(lines[k:k + 2])

    for width in (60, 100, 160):
        con, out = console(width)  # the answer as the student wrote it, and the correct value
        grading.render(con, _grading("f(W) = sum(W*[[1,2],[3,40]])", {"W": [[0.0, 0.0], [0.0, 0.0]]},
                                     "W=[[1,2],[3,40]]"), False)
        aligned(out.getvalue(), "[[ 1,  2],", "[ 3, 40]]")
        con, out = console(width)  # each element's row of the Jacobian of a matrix output, as that matrix
        from symgrad.checks import run_checks

        trace = symgrad.evaluate(symgrad.parse("f(W)=W*[[1,2],[3,40]]"), {"W": [[1.0, 2.0], [3.0, 4.0]]})
        checks_view.render(con, run_checks(trace.graph, trace), trace, plain.UNICODE, 4)
        aligned(out.getvalue(), "[[ 0,  0],", "[ 0, 40]]")
        aligned(out.getvalue(), "[[1, 0],", "[0, 0]]")


@pytest.mark.parametrize("width", [60, 100, 160])
def test_the_hessian_fits_a_real_terminal(width: int) -> None:
    # f = sin(x) y³ at (0.5, 2): f_xx = -sin(x) y³ = -3.835, f_xy = 3 cos(x) y² = 10.53, f_yy = 6 sin(x) y = 5.753
    screen = in_terminal(["f(x,y)=sin(x)*y^3", "--at", "x=0.5,y=2", "--hessian"], width)
    assert "  x  -3.835  10.53" in screen and "  y   10.53  5.753" in screen
    assert all(len(line) <= width for line in screen.splitlines())
    checks = [line for line in screen.splitlines() if line.startswith("  checks of ")]
    assert len(checks) == 2 and all("backprop" in line for line in checks)
