"""Transcripts in the README, docs/ and examples/: ``$ symgrad ...`` blocks with their output.

A transcript is a fenced block (no language) whose first line is a command and the rest what it prints
(stdout, then stderr). The command is one of

    $ symgrad ARGS...
    $ printf '...' | symgrad ARGS...              standard input from printf, echo or cat
    $ symgrad ARGS... | python -m json.tool ...   the output through another program

symgrad runs in this process (`support.run`); what is piped into it or out of it runs in bash, where
`symgrad` and `python` are this interpreter's. Each command runs where a reader would type it: the
examples' own folder for examples/*.md, the checkout's root for README.md and docs/*.md.

The tests run every command and compare; after a deliberate change of output,
``python tests/transcripts.py`` writes the new output into the files.
"""

from __future__ import annotations

import atexit
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```\n(\$ (?:(?:printf|echo|cat) [^\n]*? \| )?symgrad [^\n]*)\n(.*?)```", flags=re.S)


def files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").glob("*.md"))]


def transcripts() -> list[tuple[Path, str, str]]:
    found = []
    for path in files():
        for command, shown in BLOCK.findall(path.read_text(encoding="utf-8")):
            found.append((path, command[2:], shown))
    return found


def workdir(path: Path | None) -> Path:
    """Where the commands of a file run: examples/ for its own pages, the root for the README and docs/."""
    if path is not None and path.parent == ROOT / "examples":
        return ROOT / "examples"
    return ROOT if path is not None else ROOT / "examples"


_BIN: list[Path] = []


def shell_env() -> dict[str, str]:
    """The environment for the shell around a command: `symgrad` and `python` are this interpreter's.
    Where jq is not installed, a stand-in answers the simple path filters (`jq .gradient.x`) the docs use."""
    if not _BIN:
        folder = Path(tempfile.mkdtemp(prefix="symgrad-docs-bin-"))
        atexit.register(shutil.rmtree, folder, True)
        scripts = {"symgrad": f'exec "{sys.executable}" -m symgrad "$@"\n',
                   "python": f'exec "{sys.executable}" "$@"\n'}
        if shutil.which("jq") is None:
            scripts["jq"] = f'exec "{sys.executable}" "{Path(__file__).resolve()}" --jq "$@"\n'
        for name, body in scripts.items():
            (folder / name).write_text("#!/bin/sh\n" + body, encoding="utf-8")
            (folder / name).chmod(0o755)
        _BIN.append(folder)
    return {**os.environ, "PATH": f"{_BIN[0]}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1"}


@dataclass
class Ran:
    args: list[str]  # symgrad's own arguments
    stdout: str  # what symgrad wrote, before any program it is piped into
    stderr: str
    exit_code: int
    shown: str  # what the transcript shows: the last program's stdout, then symgrad's stderr


def execute(command: str, path: Path | None = None) -> Ran:
    """Run a transcript's command (without its `$ `)."""
    import support

    tokens = shlex.split(command)
    pipes = [i for i, t in enumerate(tokens) if t == "|"]
    start = tokens.index("symgrad")
    before = tokens[:start - 1] if start else []
    after_at = next((i for i in pipes if i > start), len(tokens))
    args = tokens[start + 1:after_at]
    after = tokens[after_at + 1:]
    where = workdir(path)

    def shell(words: list[str], stdin: str | None) -> str:
        done = subprocess.run(["bash", "-c", shlex.join(words)], input=stdin, capture_output=True, text=True,
                              cwd=where, env=shell_env(), timeout=600, check=True)
        return done.stdout

    stdin = shell(before, None) if before else None
    here = os.getcwd()
    os.chdir(where)
    try:
        result = support.run(*args, input=stdin)
    finally:
        os.chdir(here)
    out = shell(after, result.stdout) if after else result.stdout
    return Ran(args, result.stdout, result.stderr, result.exit_code, out + result.stderr)


def run(command: str, path: Path | None = None) -> str:
    """What the transcript of the command shows."""
    return execute(command, path).shown


def update() -> None:
    for path in files():
        text = path.read_text(encoding="utf-8")

        def redo(m: re.Match[str], path: Path = path) -> str:
            return f"```\n{m.group(1)}\n{run(m.group(1)[2:], path).rstrip()}\n```"

        new = BLOCK.sub(redo, text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"updated {path.relative_to(ROOT)}")


def jq_stand_in(args: list[str]) -> int:
    """`jq .a.b` for a shell without jq: the value at a path of keys, as JSON."""
    import json

    (path,) = [a for a in args if not a.startswith("-")]
    if not re.fullmatch(r"\.|(\.\w+)+", path):
        print(f"the jq stand-in reads only paths of keys, not {path}", file=sys.stderr)
        return 2
    value = json.load(sys.stdin)
    for key in path.split(".")[1:] if path != "." else []:
        value = value[key]
    print(json.dumps(value, indent=None if "-c" in args else 2))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--jq"]:
        sys.exit(jq_stand_in(sys.argv[2:]))
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT))
    update()
