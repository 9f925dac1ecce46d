"""Transcripts in the README and examples/: ``$ symgrad ...`` blocks with their output.

The tests run every command and compare; after a deliberate change of output,
``python tests/transcripts.py`` writes the new output into the files.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```\n(\$ symgrad [^\n]*)\n(.*?)```", flags=re.S)


def files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "examples").glob("*.md"))]


def transcripts() -> list[tuple[Path, str, str]]:
    found = []
    for path in files():
        for command, shown in BLOCK.findall(path.read_text(encoding="utf-8")):
            found.append((path, command[2:], shown))
    return found


def run(command: str) -> str:
    """What the command prints (stdout then stderr), run in examples/ so that relative files resolve."""
    import os

    import support

    args = shlex.split(command)[1:]
    here = os.getcwd()
    os.chdir(ROOT / "examples")
    try:
        result = support.run(*args)
    finally:
        os.chdir(here)
    return result.stdout + result.stderr


def update() -> None:
    for path in files():
        text = path.read_text(encoding="utf-8")

        def redo(m: re.Match[str]) -> str:
            return f"```\n{m.group(1)}\n{run(m.group(1)[2:]).rstrip()}\n```"

        new = BLOCK.sub(redo, text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"updated {path.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    update()
