"""What a person sees in a real terminal (issue 14): the rich table run in tmux at 60, 100 and 160 columns,
read back with capture-pane.  Without tmux these tests skip, except under CI (CI=true), where .ci/run
installs it and a missing tmux is a failure."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from rich.console import Console

import symgrad
from symgrad.records import records
from symgrad.views import plain, table

INDEXED = ("f(s,b) = 2*s[b] + s[0]", "s=[1,2,3],b=1")


def tmux_or_skip() -> str:
    found = shutil.which("tmux")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is missing under CI: .ci/run should have installed it")
        pytest.skip("tmux is not installed")
    return found


def in_terminal(args: list[str], width: int) -> str:
    """symgrad ARGS in a tmux window `width` columns wide, as the screen shows it."""
    tmux = tmux_or_skip()
    name = f"symgrad-{uuid.uuid4().hex[:8]}"
    command = " ".join([sys.executable, "-m", "symgrad", *(repr(a) for a in args)])
    done = f"/tmp/{name}.done"
    subprocess.run([tmux, "new-session", "-d", "-s", name, "-x", str(width), "-y", "60",
                    f"{command}; touch {done}; sleep 600"], check=True, env={**os.environ, "TERM": "xterm-256color"})
    try:
        for _ in range(6000):  # until the command has ended, however busy the machine (10 minutes: a hang)
            if os.path.exists(done):
                break
            time.sleep(0.1)
        return subprocess.run([tmux, "capture-pane", "-p", "-t", name], capture_output=True, text=True,
                              check=True).stdout
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
