"""The README's, docs/' and examples/' examples are run and compared with what they show.

- transcripts (`$ symgrad ...` blocks, tests/transcripts.py) are run and compared, and JSON they show is
  validated against its schema;
- Python blocks are executed, and a `print(...)  # text` line must print exactly that text;
- shell blocks in docs/ are run in bash, in a scratch folder holding a copy of examples/;
- TOML and CSV homework files and submissions are loaded and graded by symgrad, JSON requests answered by
  `symgrad batch`;
- every fenced block is of one of these kinds, every relative link leads to a file (and heading) that
  exists, and docs/options.md lists every option of every command.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
from support import run as run_symgrad
from support import strict_json
from transcripts import BLOCK, ROOT, execute, run, shell_env, transcripts

from symgrad import schemas
from symgrad.cli import main

README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", *DOCS]
EXAMPLES = ROOT / "examples"


# ---- fenced blocks ------------------------------------------------------------------------------

FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*) *\n(?P<body>.*?)^(?P=indent)``` *$", flags=re.M | re.S)


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence
    lang: str
    body: str  # without the fences' indentation
    before: str  # the line before the opening fence

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}"


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        indent = m.group("indent")
        body = "".join(line[len(indent):] if line.startswith(indent) else line
                       for line in m.group("body").splitlines(keepends=True))
        start = text.count("\n", 0, m.start())
        lines = text.splitlines()
        found.append(Block(path, start + 1, m.group("lang"), body, lines[start - 1] if start else ""))
    return found


def doc_blocks(lang: str) -> list[Block]:
    return [b for page in DOCS for b in blocks(page) if b.lang == lang]


def is_command_example(block: Block) -> bool:
    """A transcript of symgrad, or a shell block that runs it."""
    if block.lang == "sh":
        return re.search(r"(^|\| )symgrad ", block.body, flags=re.M) is not None
    return re.match(r"\$ ([^\n]*\| )?symgrad ", block.body) is not None


# ---- transcripts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "command", "shown"), transcripts(),
    ids=[f"{p.name}:{c[:50]}" for p, c, _ in transcripts()],
)
def test_transcript(path: Path, command: str, shown: str) -> None:
    assert run(command, path).rstrip() == shown.rstrip(), \
        f"{path.relative_to(ROOT)}: run python tests/transcripts.py to update"


def test_every_example_has_a_transcript() -> None:
    having = {p for p, _, _ in transcripts()}
    for md in EXAMPLES.glob("*.md"):
        assert md in having, md.name
    assert ROOT / "README.md" in having
    shell = {b.path for b in doc_blocks("sh")}
    for page in DOCS:
        if any(is_command_example(b) for b in blocks(page)):
            assert page in having or page in shell, f"docs/{page.name}: its command examples are not run"


def test_every_transcript_is_found() -> None:
    """A block that starts with `$ symgrad` but that the transcripts miss (a language tag, an indent, a
    command they cannot run) would never be compared."""
    found = {(p, c) for p, c, _ in transcripts()}
    for page in [*PAGES, *sorted(EXAMPLES.glob("*.md"))]:
        for block in blocks(page):
            first = block.body.split("\n", 1)[0]
            if first.startswith("$ ") and "symgrad" in first and not first.startswith("$ python tests/bench/"):
                assert (page, first[2:]) in found, f"{block.id}: not a transcript the tests run: {first}"


def schema_for(args: list[str], record: dict[str, Any]) -> str:
    """The schema a record symgrad wrote should follow, from the command that wrote it."""
    command = args[0] if args and args[0] in main.commands else "grad"
    if "error" in record and "line" not in record:
        return "error"
    if command == "batch":
        return "batch"
    if command == "check":
        return "homework" if any(a.endswith(".toml") for a in args[1:]) else "check"
    if command == "worksheet":
        return "worksheet"
    if command == "grade":
        return "class"
    return "point" if "--points" in args else "result"


def validate(name: str, record: Any) -> None:
    schema = schemas.load(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(record))
    assert not errors, (name, [f"{list(e.path)}: {e.message}" for e in errors[:5]])


def records_of(text: str) -> list[Any]:
    """One JSON object, or JSON Lines."""
    try:
        return [strict_json(text)]
    except ValueError:
        return [strict_json(line) for line in text.splitlines() if line.strip()]


JSON_TRANSCRIPTS = [(p, c) for p, c, _ in transcripts()
                    if re.search(r"--format (json|jsonl)\b", c) or re.search(r"(^|\| )symgrad batch\b", c)]


@pytest.mark.parametrize(("path", "command"), JSON_TRANSCRIPTS,
                         ids=[f"{p.name}:{c[:50]}" for p, c in JSON_TRANSCRIPTS])
def test_json_in_transcripts_follows_its_schema(path: Path, command: str) -> None:
    ran = execute(command, path)
    records = records_of(ran.stdout)
    assert records
    for record in records:
        validate(schema_for(ran.args, record), record)


def test_json_transcripts_are_found() -> None:
    assert any(p.name == "json.md" for p, _ in JSON_TRANSCRIPTS)
    assert any("batch" in c for _, c in JSON_TRANSCRIPTS)


# ---- Python -------------------------------------------------------------------------------------

SHOWN = re.compile(r"^\s*print\(.*\)\s+# (.*?)\s*$")


def run_python(code: str, name: str) -> dict[int, list[str]]:
    """Execute a documentation block (our own text, not user input); what each line printed."""
    printed: dict[int, list[str]] = {}

    def record(*args: Any, sep: str | None = " ", **_: Any) -> None:
        frame = sys._getframe(1)
        text = (" " if sep is None else sep).join(str(a) for a in args)
        printed.setdefault(frame.f_lineno if frame.f_code.co_filename == name else 0, []).append(text)

    exec(compile(code, name, "exec"), {"print": record, "__name__": "__docs__"})
    return printed


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


@pytest.mark.parametrize("block", doc_blocks("python"), ids=lambda b: b.id)
def test_docs_python_block(block: Block) -> None:
    printed = run_python(block.body, block.id)
    for number, line in enumerate(block.body.splitlines(), start=1):
        m = SHOWN.match(line)
        if m:
            assert printed.get(number) == [m.group(1)], f"{block.id}, line {number} of the block: {line.strip()}"


def test_docs_have_python_blocks() -> None:
    assert {b.path.name for b in doc_blocks("python")} >= {"python.md", "json.md"}


# ---- shell --------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", doc_blocks("sh"), ids=lambda b: b.id)
def test_docs_shell_block(block: Block, tmp_path: Path) -> None:
    """Run in a scratch folder holding a copy of examples/, as from the root of a checkout."""
    shutil.copytree(EXAMPLES, tmp_path / "examples", ignore=shutil.ignore_patterns("*.ipynb", ".*"))
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block.body], cwd=tmp_path, env=shell_env(),
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, (block.id, done.stdout[-2000:], done.stderr[-2000:])
    assert "Traceback" not in done.stderr


# ---- homework files, submissions and requests ---------------------------------------------------


def scratch_homework(tmp_path: Path) -> Path:
    """A copy of examples/homework, so that a file's values may name the files beside it."""
    folder = tmp_path / "homework"
    shutil.copytree(EXAMPLES / "homework", folder)
    return folder


def grade_submissions(path: Path) -> None:
    result = run_symgrad("grade", str(EXAMPLES / "homework" / "key.toml"), str(path), "--format", "json")
    assert result.exit_code in (0, 1), result.stderr
    report = strict_json(result.stdout)
    validate("class", report)
    assert report["submissions"]
    for submission in report["submissions"]:
        assert submission["error"] is None and submission["problems"] == [], submission


@pytest.mark.parametrize("block", doc_blocks("toml"), ids=lambda b: b.id)
def test_docs_toml_block(block: Block, tmp_path: Path) -> None:
    data = tomllib.loads(block.body)
    path = scratch_homework(tmp_path) / "docs-example.toml"
    path.write_text(block.body, encoding="utf-8")
    if "problem" in data:  # a homework file: symgrad reads it, and it is a key: every answer is right
        result = run_symgrad("check", str(path), "--format", "json")
        report = strict_json(result.stdout)
        validate("homework", report)
        for problem in report["problems"]:
            assert "error" not in problem and problem["passed"], problem
        assert result.exit_code == 0
    elif "submission" in data:  # submissions, graded against examples/homework/key.toml
        grade_submissions(path)
    else:
        pytest.fail(f"{block.id}: a TOML block that is neither a homework file nor submissions")


@pytest.mark.parametrize("block", doc_blocks("csv"), ids=lambda b: b.id)
def test_docs_csv_block(block: Block, tmp_path: Path) -> None:
    header = next(csv.reader(io.StringIO(block.body)))
    assert "student" in header, f"{block.id}: a CSV block that is not submissions"
    path = tmp_path / "submissions.csv"
    path.write_text(block.body, encoding="utf-8")
    grade_submissions(path)


@pytest.mark.parametrize("block", doc_blocks("json"), ids=lambda b: b.id)
def test_docs_json_block(block: Block) -> None:
    records = records_of(block.body)
    requests = [r for r in records if isinstance(r, dict) and "expr" in r]
    if requests:  # batch requests: symgrad answers every one
        assert len(requests) == len(records)
        result = run_symgrad("batch", input="".join(json.dumps(r) + "\n" for r in requests), code=0)
        answers = records_of(result.stdout)
        assert len(answers) == len(requests)
        for answer in answers:
            validate("batch", answer)
            assert answer["ok"], answer
    else:
        for record in records:
            assert isinstance(record, dict) and "schema_version" in record, f"{block.id}: JSON that is not a record"


# ---- every block is one of the kinds above ------------------------------------------------------


def test_every_block_is_tested() -> None:
    readme_python = [b for b in blocks(ROOT / "README.md") if b.lang == "python"]
    for page in PAGES:
        for block in blocks(page):
            first = block.body.split("\n", 1)[0]
            if block.lang == "" and BLOCK.match(f"```\n{block.body}```"):
                continue  # a transcript
            if page.name == "speed.md" and block.lang == "" and first.startswith("$ python tests/bench/"):
                continue  # a benchmark's figures: measurements, run by hand
            if page == ROOT / "README.md":
                if block.lang == "sh" and block.before in ("<!-- install-command -->", "<!-- test-command -->"):
                    continue  # run by CI (.ci/run)
                if block.lang == "python" and block.line == readme_python[0].line:
                    continue  # test_readme_python_example
                pytest.fail(f"{block.id}: a README block that no test runs")
            assert block.lang in ("python", "sh", "toml", "csv", "json"), f"{block.id}: a block no test runs"


# ---- links --------------------------------------------------------------------------------------

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """The text without fenced blocks and code spans."""
    text = FENCE.sub("", text)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a page."""
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} +(.*?) *#* *$", prose_headings(path), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        n, candidate = 0, slug
        while candidate in found:
            n += 1
            candidate = f"{slug}-{n}"
        found.add(candidate)
    return found


def prose_headings(path: Path) -> str:
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def links(path: Path) -> list[str]:
    return LINK.findall(prose(path.read_text(encoding="utf-8")))


def test_links_resolve() -> None:
    checked = 0
    for page in PAGES:
        for target in links(page):
            if re.match(r"[a-z]+:", target):
                continue  # https://...
            file, _, anchor = target.partition("#")
            where = (page.parent / file).resolve() if file else page
            assert where.exists(), f"{page.relative_to(ROOT)}: {target} leads nowhere"
            if anchor:
                assert where.suffix == ".md", f"{page.relative_to(ROOT)}: {target}"
                assert anchor in anchors(where), f"{page.relative_to(ROOT)}: no heading #{anchor} in {where.name}"
            checked += 1
    assert checked > 50


def test_readme_and_the_index_link_every_page() -> None:
    index = {(ROOT / "docs" / t.partition("#")[0]).resolve() for t in links(ROOT / "docs" / "README.md")}
    readme = {(ROOT / t.partition("#")[0]).resolve() for t in links(ROOT / "README.md")}
    for page in DOCS:
        if page.name != "README.md":
            assert page.resolve() in index, f"docs/README.md does not link {page.name}"
            assert page.resolve() in readme, f"README.md does not link docs/{page.name}"


def test_anchors_follow_github() -> None:
    assert "grading-a-class-symgrad-grade" in anchors(ROOT / "docs" / "homework.md")
    assert "where-a-gate-is-not-differentiable" in anchors(ROOT / "docs" / "language.md")


# ---- options ------------------------------------------------------------------------------------


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:end if end != -1 else len(text)]


# Commands that a change still under way is adding: once docs/options.md has their section, it is checked too.
PENDING: set[str] = set()


def test_options_page_lists_every_option() -> None:
    """docs/options.md has a section per command, naming each of its options and their choices."""
    page = (ROOT / "docs" / "options.md").read_text(encoding="utf-8")
    top = page[:page.index("\n## ")]
    for opt in ("-h", "--help", *(o for p in main.params for o in (*p.opts, *p.secondary_opts))):
        assert re.search(r"(?<![\w-])" + re.escape(opt) + r"(?![\w-])", top), opt
    for name, command in main.commands.items():
        heading = f"## `symgrad {name}`"
        if heading not in page:
            assert name in PENDING, f"docs/options.md has no section {heading}"
            continue
        text = section(page, heading)
        for param in command.params:
            if not isinstance(param, click.Option):
                assert param.human_readable_name.upper() in text, (name, param.name)
                continue
            for opt in (*param.opts, *param.secondary_opts):
                assert re.search(r"`" + re.escape(opt) + r"(?![\w-])", text), f"symgrad {name} {opt}"
            if isinstance(param.type, click.Choice):
                for choice in param.type.choices:
                    assert f"`{choice}`" in text or f"{choice}`" in text, f"symgrad {name} {param.name} {choice}"
