"""Tests of the output views: the rich view (a table when it fits, else blocks), --steps, --wrt,
--digits, --expand, the notes column, NO_COLOR and ASCII output.

The plain view's exact text is pinned by the transcripts in tests/test_readme.py; these tests check
properties instead: widths, numbers that stay whole, colours, which rows and steps appear, and that
the views agree with each other.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console
from support import run, run_json, trace_of

import symgrad
from symgrad.binding import parse_at
from symgrad.engine import Trace
from symgrad.records import Record, records
from symgrad.views import plain, table

ROOT = Path(__file__).resolve().parents[1]

HEADLINE = ("f(x,y,z)=(x+y)*z", "x=-2,y=5,z=-4")
NEURON_AT = "w0=2,x0=-1,w1=-3,x1=-2,w2=-3"
NEURON = ("f(w0,x0,w1,x1,w2) = sigmoid(w0*x0 + w1*x1 + w2)", NEURON_AT)
NEURON_WRITTEN = ("f(w0,x0,w1,x1,w2) = 1/(1+exp(-(w0*x0 + w1*x1 + w2)))", NEURON_AT)
VECTOR = ("f(W,x) = sum((W @ x)^2)", "W=[[0.1,0.5],[-0.3,0.8]],x=[0.2,0.4]")
NAMED = ("q = x + y; f = q * z", "x=-2,y=5,z=-4")
FANOUT = ("f(x)=x*x+x", "x=3")
KINKS = ("f(x, y) = relu(x) + max(x, y)", "x=0,y=0")
GROUPED = ("sq(a) = a * a; f(x, y) = sq(x) * y", "x=3,y=2")
LAYER = ("h = relu(W @ x + b)", "W=[[0.2,-0.5],[1.5,1.3]],x=[1,-2],b=[0.1,0.2]")

EXAMPLES = {"headline": HEADLINE, "neuron": NEURON, "vector": VECTOR}
WIDTHS = [200, 120, 80, 60, 40]
# Which layout each example gets at each width: the table is 78, 118 and 111 columns wide.
LAYOUT = {
    "headline": {200: "table", 120: "table", 80: "table", 60: "blocks", 40: "blocks"},
    "neuron": {200: "table", 120: "table", 80: "blocks", 60: "blocks", 40: "blocks"},
    "vector": {200: "table", 120: "table", 80: "blocks", 60: "blocks", 40: "blocks"},
}

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SGR = re.compile(r"\x1b\[([0-9;]*)m")
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w.])")
TITLE_LINE = re.compile(r"^node\s+computes\s+value\s+local gradients\s+upstream\s+sends down")


# ---------------------------------------------------------------------------
# helpers


def shown(trace: Trace) -> list[Record]:
    """The records that the tables show as rows: every node but the constants."""
    return [r for r in records(trace) if r.op != "const"]


def rich_text(trace: Trace, width: int, color_system: str | None = "truecolor", *, digits: int = 4) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=True, color_system=color_system)  # type: ignore[arg-type]
    table.render(console, trace, records(trace), digits=digits)
    return buf.getvalue()


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def styled_lines(text: str) -> list[list[tuple[str, frozenset[str]]]]:
    """Each output line as (character, SGR parameters in force) pairs."""
    lines: list[list[tuple[str, frozenset[str]]]] = [[]]
    codes: frozenset[str] = frozenset()

    def add(chunk: str) -> None:
        for ch in chunk:
            if ch == "\n":
                lines.append([])
            else:
                lines[-1].append((ch, codes))

    pos = 0
    for m in SGR.finditer(text):
        add(text[pos:m.start()])
        params = m.group(1)
        codes = frozenset() if params in ("", "0") else frozenset(params.split(";"))
        pos = m.end()
    add(text[pos:])
    return lines


def words_in(text: str, code: str) -> Counter[str]:
    """The words printed with one SGR code (32 green, 31 red) in force."""
    return Counter(styled_text(text, code).split())


def styled_text(text: str, code: str) -> str:
    """The output with everything not printed with the SGR code blanked out."""
    return "\n".join("".join(ch if code in codes else " " for ch, codes in line) for line in styled_lines(text))


def cell_words(trace: Trace, columns: tuple[int, ...], digits: int = 4) -> Counter[str]:
    recs = records(trace)
    out: Counter[str] = Counter()
    for rec in shown(trace):
        cells = plain.cells(rec, recs, digits, plain.UNICODE, one_per_line=True)
        for c in columns:
            out.update(" ".join(cells[c]).split())
    return out


def numbers(text: str) -> Counter[str]:
    return Counter(NUMBER.findall(text))


def row_labels(text: str) -> list[str]:
    """The labels that start rows (table) or blocks: a label, then two or more spaces."""
    return [m.group(1) for m in re.finditer(r"^([A-Za-z_]\w*'*)\s{2,}\S", text, flags=re.M)
            if m.group(1) != "node"]


def summary_gradients(text: str, out: str = "f") -> dict[str, str]:
    """∂f/∂v = number pairs from the summary (from the line that starts with 'f = ' to the next blank
    line: a narrow console wraps it)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{out} = "))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return dict(re.findall(rf"∂{out}/∂(\w+) = (\S+)", " ".join(lines[start:end])))


def steps_of(output: str) -> list[str]:
    """The --steps lines after the 'backward pass' heading."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("backward pass, starting from"))
    body = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        body.append(line)
    return body


def step_parts(line: str) -> tuple[str, str, str]:
    """(left, middle, result) of one step line, with the note in brackets dropped."""
    text = re.sub(r"\s{3}\([^()]*\)$", "", line.strip())
    left, rest = text.split(" = ", 1)
    middle, result = rest.rsplit(" = ", 1)
    return left.strip(), middle.strip(), result.strip()


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS",
                        "PYTHONIOENCODING", "SYMGRAD_DEBUG")}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONIOENCODING"] = "utf-8"  # whatever the locale, unless a test asks for another
    env.update(extra)
    return env


def run_process(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "symgrad", *args], capture_output=True, cwd=tmp_path,
                          env=subprocess_env(**env), timeout=120, check=False)


def run_on_pty(args: list[str], tmp_path: Path, **env: str) -> tuple[int, str]:
    """Run symgrad with a pseudo-terminal as stdout, as a user at a terminal would."""
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "symgrad", *args], stdout=slave, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, cwd=tmp_path, env=subprocess_env(**env))
    finally:
        os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    proc.communicate(timeout=120)
    return proc.returncode, b"".join(chunks).decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------
# the rich view: widths, layouts, numbers, labels, colours


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_rich_view_fits_the_width(name: str, width: int) -> None:
    trace = trace_of(*EXAMPLES[name])
    for system in ("truecolor", None):
        out = strip_ansi(rich_text(trace, width, system))
        too_long = [line for line in out.splitlines() if cell_len(line) > width]
        assert not too_long, (system, too_long)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_rich_view_keeps_every_number_whole(name: str, width: int) -> None:
    trace = trace_of(*EXAMPLES[name])
    out = strip_ansi(rich_text(trace, width))
    found = numbers(out)
    # The numbers of the value and upstream columns and of the summary, as the plain view prints them.
    expected = Counter(n for w in cell_words(trace, (2, 4)).elements() for n in NUMBER.findall(w))
    expected += numbers("\n".join(plain.summary(trace, 4, plain.UNICODE)))
    missing = expected - found
    assert not missing, f"numbers broken or lost at width {width}: {dict(missing)}\n{out}"
    # Nothing is split into new numbers either: the same numbers as the plain view, as many times.
    assert found == numbers(plain.render(trace, records(trace))), out


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_rich_view_shows_every_node_once(name: str, width: int) -> None:
    trace = trace_of(*EXAMPLES[name])
    out = strip_ansi(rich_text(trace, width))
    assert row_labels(out) == [r.label for r in shown(trace)], out


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_rich_view_is_a_table_when_it_fits_else_blocks(name: str, width: int) -> None:
    trace = trace_of(*EXAMPLES[name])
    out = strip_ansi(rich_text(trace, width))
    lines = out.splitlines()
    titled = [line for line in lines if TITLE_LINE.match(line)]
    if LAYOUT[name][width] == "table":
        assert len(titled) == 1, out
        if name != "vector":  # the vector example has no notes
            assert titled[0].rstrip().endswith("notes")
        assert not any(re.match(r"\s+(local|upstream|sends|value): ", line) for line in lines), out
    else:
        assert not titled, out
        for label in ("local: ", "upstream: ", "sends: "):
            assert any(line.startswith(f"    {label}") for line in lines), (label, out)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_rich_view_switches_to_blocks_exactly_when_the_table_no_longer_fits(name: str) -> None:
    trace = trace_of(*EXAMPLES[name])
    wide = strip_ansi(rich_text(trace, 300))
    natural = next(cell_len(line) for line in wide.splitlines() if line.startswith("──"))  # the rule under the titles
    at_width = strip_ansi(rich_text(trace, natural))
    assert any(TITLE_LINE.match(line) for line in at_width.splitlines()), at_width
    assert all(cell_len(line) <= natural for line in at_width.splitlines())
    narrower = strip_ansi(rich_text(trace, natural - 1))
    assert not any(TITLE_LINE.match(line) for line in narrower.splitlines()), narrower
    assert all(cell_len(line) <= natural - 1 for line in narrower.splitlines())


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_rich_view_colours_values_green_and_gradients_red(name: str, width: int) -> None:
    trace = trace_of(*EXAMPLES[name])
    out = rich_text(trace, width, "truecolor")
    assert "\x1b[" in out
    assert words_in(out, "32") == cell_words(trace, (2,)), "green should be exactly the values"
    assert words_in(out, "31") == cell_words(trace, (4, 5)), "red should be exactly the gradients (upstream, sends)"
    # The local gradients and the summary are not coloured.
    for line in styled_lines(out):
        text = "".join(ch for ch, _ in line)
        if text.startswith("f = "):
            assert all(not ({"31", "32"} & codes) for _, codes in line), text


@pytest.mark.parametrize("width", [200, 60])
def test_rich_view_colour_styles_via_a_recording_console(width: int) -> None:
    trace = trace_of(*HEADLINE)
    console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system="truecolor", record=True)
    table.render(console, trace, records(trace))
    styled: dict[str, set[str]] = {}
    for seg in console._record_buffer:  # what was printed, segment by segment, with its style
        if seg.text.strip() and seg.style is not None and seg.style.color is not None:
            styled.setdefault(seg.style.color.name, set()).update(seg.text.split())
    assert {"-12", "-2", "5", "-4", "3"} <= styled.get("green", set())
    assert {"-4", "3", "1", "←"} <= styled.get("red", set())
    assert not any("∂" in w for words in styled.values() for w in words), styled  # local gradients: no colour


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_rich_view_without_colour_system_has_no_escape_codes(name: str, width: int) -> None:
    trace = trace_of(*EXAMPLES[name])
    bare = rich_text(trace, width, None)
    assert "\x1b[" not in bare
    assert bare == strip_ansi(rich_text(trace, width, "truecolor"))


@pytest.mark.parametrize("width", [80, 60, 40])
def test_rich_blocks_keep_multiline_arrays_lined_up(width: int) -> None:
    """A matrix in a block keeps its rows under each other, as in the plain view: the second row's
    bracket one column right of the first row's double bracket."""
    trace = trace_of(*VECTOR)
    lines = strip_ansi(rich_text(trace, width)).splitlines()
    recs = records(trace)
    checked = 0
    for rec in shown(trace):
        cells = plain.cells(rec, recs, 4, plain.UNICODE, one_per_line=True)
        for c in (2, 4):  # value, upstream
            cell = [line.strip() for line in cells[c]]
            if len(cell) < 2:
                continue
            first = next(i for i, line in enumerate(lines) if line.rstrip().endswith(cell[0])
                         and line.lstrip().startswith(("value: ", "upstream: ")))
            col = lines[first].rindex(cell[0])
            assert lines[first + 1].rstrip() == " " * (col + 1) + cell[1], (
                f"{rec.label} column {plain.TITLES[c]}:\n{lines[first]}\n{lines[first + 1]}")
            checked += 1
    assert checked == 2  # W's value and W's upstream


# ---------------------------------------------------------------------------
# NO_COLOR, pipes and terminals (real processes)


def test_no_color_table_has_no_escape_codes(tmp_path: Path) -> None:
    proc = run_process([HEADLINE[0], "--at", HEADLINE[1], "--format", "table"], tmp_path, NO_COLOR="1",
                       COLUMNS="200")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode("utf-8")
    assert "\x1b[" not in out
    assert any(TITLE_LINE.match(line) for line in out.splitlines()), out


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_no_color_on_a_terminal_turns_colour_off(tmp_path: Path) -> None:
    args = [HEADLINE[0], "--at", HEADLINE[1]]
    colour = re.compile(r"\x1b\[(?:[0-9]+;)*(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9]+)*m")
    code, out = run_on_pty(args, tmp_path, COLUMNS="200", TERM="xterm-256color")
    assert code == 0
    assert colour.search(out), "on a terminal the default is the coloured table"
    assert any(TITLE_LINE.match(strip_ansi(line)) for line in out.splitlines())
    code, out = run_on_pty(args, tmp_path, COLUMNS="200", TERM="xterm-256color", NO_COLOR="1")
    assert code == 0
    assert not colour.search(out), repr(out[:400])
    assert any(TITLE_LINE.match(strip_ansi(line)) for line in out.splitlines())


def test_table_format_into_a_pipe_has_no_colour(tmp_path: Path) -> None:
    proc = run_process([NEURON[0], "--at", NEURON[1], "--format", "table"], tmp_path, COLUMNS="200")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode("utf-8")
    assert "\x1b[" not in out
    assert sum(1 for line in out.splitlines() if TITLE_LINE.match(line)) == 1, out
    assert row_labels(out.split("\n\n")[0]) == ["w0", "x0", "w1", "x1", "w2", "n1", "n2", "n3", "n4", "f"]


@pytest.mark.parametrize("example", [HEADLINE, VECTOR])
def test_default_into_a_pipe_is_the_plain_view(example: tuple[str, str], tmp_path: Path) -> None:
    default = run_process([example[0], "--at", example[1]], tmp_path, COLUMNS="200")
    as_plain = run(example[0], "--at", example[1], "--format", "plain", env={"COLUMNS": "200"})  # in this process
    assert default.returncode == as_plain.exit_code == 0, default.stderr
    assert default.stdout == as_plain.stdout_bytes
    text = default.stdout.decode("utf-8")
    assert text.splitlines()[1] == ""  # the plain view: a blank line after the header, no rule under the titles
    assert "──" not in text and "\x1b[" not in text
    trace = trace_of(*example)
    assert text.startswith(plain.render(trace, records(trace)))


# ---------------------------------------------------------------------------
# ASCII stand-ins


# In this process, with stdout encoded as PYTHONIOENCODING=ascii would encode it (writing anything else
# fails); test_cli runs real processes with PYTHONIOENCODING=ascii.


@pytest.mark.parametrize("fmt", ["plain", "table"])
@pytest.mark.parametrize("example", [HEADLINE, NEURON, NAMED])
def test_ascii_output_with_steps(example: tuple[str, str], fmt: str) -> None:
    result = run(example[0], "--at", example[1], "--steps", "--format", fmt, charset="ascii", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    out = result.stdout_bytes.decode("utf-8")
    for ch in "∂←·":
        assert ch not in out
    out.encode("ascii")  # nothing the terminal cannot show
    assert "backward pass, starting from df/df = 1" in out
    assert re.search(r"df/d\w+ = df/df \* df/d\w+\|local", out), out
    assert "<-" in out


@pytest.mark.parametrize("fmt", ["plain", "table"])
def test_ascii_output_of_max_and_relu(fmt: str) -> None:
    """max's local gradient is written with ½; a terminal that cannot show ∂ cannot show ½ either."""
    result = run(KINKS[0], "--at", KINKS[1], "--steps", "--format", fmt, charset="ascii", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    out = result.stdout_bytes.decode("utf-8", errors="replace")
    assert "kink: relu'(0) = 0" in out
    non_ascii = sorted({ch for ch in out if ord(ch) > 127})
    assert not non_ascii, non_ascii


# ---------------------------------------------------------------------------
# --steps


def test_steps_of_the_named_headline() -> None:
    out = run(NAMED[0], "--at", NAMED[1], "--steps", code=0).stdout
    assert "backward pass, starting from ∂f/∂f = 1" in out
    steps = steps_of(out)
    parts = [step_parts(line) for line in steps]
    assert [(left, result) for left, _, result in parts] == [
        ("∂f/∂q", "-4"), ("∂f/∂z", "3"), ("∂f/∂x", "-4"), ("∂f/∂y", "-4")]
    assert "∂f/∂f · ∂f/∂q|local = 1 · z = 1 · (-4)" in steps[0]
    assert parts[0][1] == "∂f/∂f · ∂f/∂q|local = 1 · z = 1 · (-4)"
    assert parts[1][1].startswith("∂f/∂f · ∂f/∂z|local = 1 · q")
    assert parts[2][1] == "∂f/∂q · ∂q/∂x|local = -4 · 1"
    assert parts[3][1] == "∂f/∂q · ∂q/∂y|local = -4 · 1"
    assert steps[2].endswith("(add distributes)") and steps[3].endswith("(add distributes)")
    assert steps[0].endswith("(mul switches)")


def test_steps_fan_out_adds_the_branches() -> None:
    out = run(FANOUT[0], "--at", FANOUT[1], "--steps", code=0).stdout
    steps = steps_of(out)
    parts = [step_parts(line) for line in steps]
    branches = {left: result for left, _, result in parts if left.startswith("∂f/∂x (via")}
    assert branches == {"∂f/∂x (via f)": "1", "∂f/∂x (via n1, as a)": "3", "∂f/∂x (via n1, as b)": "3"}
    total = [p for p in parts if p[0] == "∂f/∂x"]
    assert total == [("∂f/∂x", "6 + 1", "7")]
    assert re.search(r"∂f/∂x\s+= 6 \+ 1\s+= 7\s+\(branches add: via n1, f\)$", steps[-1]), steps[-1]
    assert summary_gradients(out) == {"x": "7"}


@pytest.mark.parametrize("expand", [False, True])
@pytest.mark.parametrize("example", [NEURON, NEURON_WRITTEN], ids=["gate", "written-out"])
def test_steps_end_at_the_summary_gradients(example: tuple[str, str], expand: bool) -> None:
    args = [example[0], "--at", example[1], "--steps", *(["--expand"] if expand else [])]
    out = run(*args, code=0).stdout
    summary = summary_gradients(out)
    assert set(summary) == {"w0", "x0", "w1", "x1", "w2"}
    parts = [step_parts(line) for line in steps_of(out)]
    for v, grad in summary.items():
        finals = [result for left, _, result in parts if left == f"∂f/∂{v}"]
        assert finals, (v, parts)
        assert finals[-1] == grad, (v, finals, grad)
    # and the numbers are right: σ'(1) = 0.1966 times the switched inputs
    assert summary == {"w0": "-0.1966", "x0": "0.3932", "w1": "-0.3932", "x1": "-0.5898", "w2": "0.1966"}


def test_steps_of_a_vector_output_need_a_scalar_or_upstream() -> None:
    out = run(LAYER[0], "--at", LAYER[1], "--steps", code=0).stdout
    assert "backward steps need a scalar output, or --upstream" in out
    assert "backward pass, starting from" not in out


def test_steps_with_upstream_start_from_it() -> None:
    out = run(LAYER[0], "--at", LAYER[1], "--steps", "--upstream", "[1,-1]", code=0).stdout
    assert "backward pass, starting from ∂h/∂h = [1, -1]" in out
    steps = steps_of(out)
    assert "∂h/∂h · ∂h/∂n2|local = [1, -1]" in steps[0]
    finals: dict[str, str] = {}
    for left, _, result in (step_parts(line) for line in steps):
        finals[left] = result
    data = run_json(LAYER[0], "--at", LAYER[1], "--upstream", "[1,-1]")
    for v in ("W", "x", "b"):
        assert [float(n) for n in NUMBER.findall(finals[f"∂h/∂{v}"])] == pytest.approx(
            [float(n) for n in NUMBER.findall(json.dumps(data["gradient"][v]))], abs=1e-4), v
    # the summary says the same numbers
    summary = out.split("backpropagating the upstream gradient g = [1, -1]")[1]
    for v in ("W", "x", "b"):
        block = re.search(rf"g·∂h/∂{v} = (.*?)(?=\n  g·|\n\n|$)", summary, flags=re.S)
        assert block is not None
        assert NUMBER.findall(block.group(1)) == NUMBER.findall(finals[f"∂h/∂{v}"])


# ---------------------------------------------------------------------------
# --wrt


@pytest.mark.parametrize("fmt", ["plain", "table"])
def test_wrt_limits_the_summary(fmt: str) -> None:
    out = run(HEADLINE[0], "--at", HEADLINE[1], "--wrt", "x,z", "--format", fmt, env={"COLUMNS": "200"}, code=0).stdout
    assert summary_gradients(out) == {"x": "-4", "z": "3"}
    # the rows still show every node
    assert row_labels(out)[:5] == ["x", "y", "z", "n1", "f"]


def test_wrt_limits_the_json_gradient() -> None:
    data = run_json(HEADLINE[0], "--at", HEADLINE[1], "--wrt", "x,z")
    assert data["gradient"] == {"x": -4.0, "z": 3.0}
    full = run_json(HEADLINE[0], "--at", HEADLINE[1])
    assert full["gradient"] == {"x": -4.0, "y": -4.0, "z": 3.0}


def test_wrt_reports_no_other_gradient_anywhere() -> None:
    """--wrt x,z: 'report the gradients with respect to these inputs only' (README)."""
    out = run(HEADLINE[0], "--at", HEADLINE[1], "--wrt", "x,z", code=0).stdout
    assert "∂f/∂y" not in out, out


@pytest.mark.parametrize("fmt", ["plain", "table", "json"])
def test_wrt_with_an_unknown_name_exits_2_naming_it(fmt: str) -> None:
    result = run(HEADLINE[0], "--at", HEADLINE[1], "--wrt", "x,q", "--format", fmt)
    assert result.exit_code == 2
    assert "--wrt names q" in result.stderr
    assert "x, y, z" in result.stderr  # the hint lists the inputs
    if fmt == "json":
        error = json.loads(result.stdout)["error"]
        assert "q" in error["message"]


# ---------------------------------------------------------------------------
# --digits


@pytest.mark.parametrize("fmt", ["plain", "table"])
@pytest.mark.parametrize(("digits", "expect", "absent"), [
    ("2", {"f": ("0.73", "1"), "w0": ("2", "-0.2"), "x0": ("-1", "0.39"), "x1": ("-2", "-0.59")},
     ["0.7311", "0.1966", "-0.1966", "0.3932"]),
    ("8", {"f": ("0.73105858", "1"), "w0": ("2", "-0.19661193"), "x0": ("-1", "0.39322387"),
           "x1": ("-2", "-0.5898358")}, ["0.7311", "0.1966", "-0.1966", "0.3932"]),
])
def test_digits_change_the_table(fmt: str, digits: str, expect: dict[str, tuple[str, str]],
                                  absent: list[str]) -> None:
    out = run(NEURON[0], "--at", NEURON[1], "--digits", digits, "--format", fmt, env={"COLUMNS": "250"}, code=0).stdout
    view = out.split("\n\ninput ")[0]  # the table and the summary, without anything after them
    lines = view.splitlines()
    assert sum(1 for line in lines if TITLE_LINE.match(line)) == 1, view
    for label, (value, upstream) in expect.items():
        row = next(line for line in lines if line.startswith(f"{label} "))
        words = row.split()
        assert value in words and upstream in words, (label, row)
    summary = summary_gradients(view)
    assert summary["w0"] == expect["w0"][1] and summary["x1"] == expect["x1"][1]
    found = numbers(view)
    for text in absent:  # the default four digits are gone
        assert text not in found, (text, view)


def test_digits_leave_json_at_full_precision() -> None:
    sigma = 1 / (1 + math.exp(-1))
    runs = {d: run_json(NEURON[0], "--at", NEURON[1], "--digits", d) for d in ("2", "4", "8")}
    for data in runs.values():
        assert data["value"] == pytest.approx(sigma, rel=1e-15)
        assert data["gradient"]["w0"] == pytest.approx(-sigma * (1 - sigma), rel=1e-14)
        assert data["gradient"]["x1"] == pytest.approx(-3 * sigma * (1 - sigma), rel=1e-14)
    for key in ("value", "gradient", "nodes"):
        assert runs["2"][key] == runs["4"][key] == runs["8"][key], key


# ---------------------------------------------------------------------------
# --expand


def test_expand_shows_the_sigmoid_chain_with_the_same_gradients() -> None:
    grouped = run(NEURON[0], "--at", NEURON[1], code=0).stdout
    expanded = run(NEURON[0], "--at", NEURON[1], "--expand", code=0).stdout
    table_rows = expanded.split("\n\n")[1].splitlines()
    assert any(re.match(r"^n\d+\s+exp\(n\d+\)\s", row) for row in table_rows), expanded
    assert any(re.match(r"^f\s+1 / n\d+\s", row) for row in table_rows), expanded
    assert any(re.match(r"^n\d+\s+-n\d+\s", row) for row in table_rows), expanded
    assert not any(re.match(r"^\S+\s+exp\(", row) for row in grouped.split("\n\n")[1].splitlines())
    assert re.search(r"^f\s+sigmoid\(n4\)\s", grouped, flags=re.M)
    assert summary_gradients(expanded) == summary_gradients(grouped)
    a = run_json(NEURON[0], "--at", NEURON[1])
    b = run_json(NEURON[0], "--at", NEURON[1], "--expand")
    assert a["gradient"].keys() == b["gradient"].keys()
    for v in a["gradient"]:
        assert b["gradient"][v] == pytest.approx(a["gradient"][v], rel=1e-12)
    assert b["nodes"][-1]["computes"].startswith("1 / n")


def test_expand_in_the_rich_view() -> None:
    trace = trace_of(*NEURON, expand=True)
    out = strip_ansi(rich_text(trace, 200))
    assert re.search(r"^n\d+\s+exp\(n\d+\)\s", out, flags=re.M), out
    assert re.search(r"^f\s+1 / n7\s", out, flags=re.M), out
    assert summary_gradients(out) == summary_gradients(strip_ansi(rich_text(trace_of(*NEURON), 200)))


# ---------------------------------------------------------------------------
# notes: kinks, fan-out, grouped gates


def notes_of(text: str, label: str) -> str:
    """The notes column of a row (all its lines joined), located under the 'notes' title."""
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if TITLE_LINE.match(line))
    col = lines[head].index("notes")
    start = next(i for i in range(head + 1, len(lines)) if re.match(rf"^{re.escape(label)}\s", lines[i]))
    notes = [lines[start][col:].strip()]
    for line in lines[start + 1:]:
        if not line.strip() or not line.startswith(" "):
            break
        notes.append(line[col:].strip())
    return " | ".join(n for n in notes if n)


NOTE_CASES = [
    (KINKS, "n1", "kink: relu'(0) = 0"),
    (KINKS, "n2", "max: routes | kink: a tie sends half the gradient to each input"),
    (KINKS, "x", "branches add: 0 (via n1) + 0.5 (via n2)"),
    (FANOUT, "x", "branches add: 6 (via n1) + 1 (via f)"),
    (FANOUT, "n1", "mul: switches"),
    (GROUPED, "n1", "grouped gate sq"),
    (GROUPED, "f", "mul: switches"),
]


@pytest.mark.parametrize(("example", "label", "note"), NOTE_CASES)
def test_notes_column_in_the_plain_view(example: tuple[str, str], label: str, note: str) -> None:
    out = run(example[0], "--at", example[1], "--format", "plain", code=0).stdout
    assert notes_of(out, label) == note


@pytest.mark.parametrize(("example", "label", "note"), NOTE_CASES)
def test_notes_column_in_the_rich_table(example: tuple[str, str], label: str, note: str) -> None:
    out = strip_ansi(rich_text(trace_of(*example), 200))
    assert notes_of(out, label) == note


@pytest.mark.parametrize(("example", "label", "note"), NOTE_CASES)
def test_notes_in_the_rich_blocks(example: tuple[str, str], label: str, note: str) -> None:
    out = strip_ansi(rich_text(trace_of(*example), 60))
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{re.escape(label)}  \S", line))
    block = []
    for line in lines[start + 1:]:
        if not line.startswith("    "):
            break
        block.append(line.strip())
    for part in note.split(" | "):
        assert part in block, (part, block)


def test_notes_are_dim_in_the_rich_view() -> None:
    out = rich_text(trace_of(*KINKS), 200)
    assert "kink: relu'(0) = 0" in styled_text(out, "2")


# ---------------------------------------------------------------------------
# the lecture's neuron: the gate and the written-out form, as a student reads them


@pytest.mark.parametrize("view", ["plain", "table", "blocks"])
def test_both_neurons_show_every_node_once_with_equal_gradients(view: str) -> None:
    outs = {}
    for key, example in (("gate", NEURON), ("written", NEURON_WRITTEN)):
        trace = trace_of(*example)
        if view == "plain":
            out = plain.render(trace, records(trace))
        else:
            out = strip_ansi(rich_text(trace, 200 if view == "table" else 60))
            assert any(TITLE_LINE.match(line) for line in out.splitlines()) == (view == "table")
        expected = [r.label for r in shown(trace)]
        assert len(expected) == len(set(expected))
        assert row_labels(out) == expected, out
        assert all(r.op != "const" for r in shown(trace))
        outs[key] = out
    assert re.search(r"^f\s+sigmoid\(n4\)", outs["gate"], flags=re.M)
    assert re.search(r"^n\d+\s+exp\(n\d+\)", outs["written"], flags=re.M)
    assert re.search(r"^f\s+1 / n\d+", outs["written"], flags=re.M)
    gate, written = summary_gradients(outs["gate"]), summary_gradients(outs["written"])
    assert set(gate) == {"w0", "x0", "w1", "x1", "w2"}
    assert gate == written
    # and the exact numbers agree too
    a = symgrad.evaluate(symgrad.parse(NEURON[0]), parse_at([NEURON_AT])[0]).gradient
    b = symgrad.evaluate(symgrad.parse(NEURON_WRITTEN[0]), parse_at([NEURON_AT])[0]).gradient
    for v in a:
        assert float(a[v]) == pytest.approx(float(b[v]), rel=1e-12)
