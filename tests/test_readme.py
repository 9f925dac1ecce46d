"""The README's examples are run and compared with what they show."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from symgrad.cli import main

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def transcripts() -> list[tuple[str, str]]:
    """Every ``$ symgrad ...`` block in the README: (command, shown output)."""
    found = []
    for block in re.findall(r"```\n(\$ symgrad .*?)```", README, flags=re.S):
        first, _, rest = block.partition("\n")
        found.append((first[2:], rest))
    return found


@pytest.mark.parametrize(("command", "shown"), transcripts(), ids=lambda v: v[:40] if isinstance(v, str) else v)
def test_readme_transcript(command: str, shown: str) -> None:
    args = shlex.split(command)[1:]
    result = CliRunner().invoke(main, args)
    printed = result.stdout + result.stderr
    assert printed.rstrip() == shown.rstrip()


def test_readme_has_transcripts() -> None:
    assert len(transcripts()) >= 2


def test_readme_python_example() -> None:
    code = re.search(r"```python\n(.*?)```", README, flags=re.S)
    assert code is not None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), "README.md", "exec"), {})  # the README's own code, not user input
    lines = out.getvalue().splitlines()
    expected = re.findall(r"print\(.*?\)\s+# (.*)", code.group(1))
    shown = [line for line in lines if not line.startswith(("x ", "y ", "z ", "n1 ", "f "))]
    assert shown == expected
    assert any(line.startswith("n1 x + y 3.0") for line in lines)
