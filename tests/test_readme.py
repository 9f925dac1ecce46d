"""The README's and examples/' transcripts and code are run and compared with what they show."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from transcripts import ROOT, run, transcripts

README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("path", "command", "shown"), transcripts(),
    ids=[f"{p.name}:{c[:50]}" for p, c, _ in transcripts()],
)
def test_transcript(path: Path, command: str, shown: str) -> None:
    assert run(command).rstrip() == shown.rstrip(), f"{path.name}: run python tests/transcripts.py to update"


def test_every_example_has_a_transcript() -> None:
    having = {p.name for p, _, _ in transcripts()}
    for md in (ROOT / "examples").glob("*.md"):
        assert md.name in having
    assert "README.md" in having


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
