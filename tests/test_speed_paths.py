"""The slow paths issue 16 found, kept linear: counted work, never timed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import run, run_json

import symgrad
from symgrad import errors, parser
from symgrad.graph import build


def unused_program(n: int) -> str:
    return "\n".join([*(f"t{k} = x * {k}" for k in range(n)), "f(x) = x + 1"])


def test_unused_statements_are_counted_in_one_warning_and_listed_with_verbose() -> None:
    graph = symgrad.parse(unused_program(6))
    assert graph.warnings == ["6 named statements are never used by the output: t0 (line 1), t1 (line 2), "
                              "t2 (line 3) and 3 more (--verbose lists them all)"]
    assert graph.unused[5] == "t5 (line 6) is never used by the output"
    result = run(unused_program(6), "--at", "x=1", "--no-check", "--format", "plain", code=0)
    assert result.stderr.count("warning:") == 1
    result = run(unused_program(6), "--at", "x=1", "--no-check", "--format", "plain", "--verbose", code=0)
    assert result.stderr.count("warning:") == 6 and "warning: t5 (line 6) is never used by the output" in result.stderr
    few = symgrad.parse(unused_program(5))  # up to five, each its own warning, as before
    assert len(few.warnings) == 5


def test_line_numbers_are_found_without_rescanning_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    # a warning per statement used to count the newlines before each one: quadratic in the program's length
    scans = []
    real = errors.re.finditer

    def counted(pattern: str, text: str) -> object:
        scans.append(len(text))
        return real(pattern, text)

    monkeypatch.setattr(errors.re, "finditer", counted)
    graph = symgrad.parse(unused_program(3000))
    assert len(graph.unused) == 3000
    assert len(scans) == 1  # the line starts are found once, then each line number is a binary search


def test_timings_name_every_stage_on_stderr_and_in_json() -> None:
    # what the clock read is not tested (machines differ); that every stage is reported, and nothing else changes
    result = run("f(x,y,z)=(x+y)*z", "--at", "x=-2,y=5,z=-4", "--timings", "--format", "plain", code=0)
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("timings: parse ") and all(f" {s} " in line for s in
                                                      ("build", "forward", "backward", "checks", "output", "total"))
    plain = run("f(x,y,z)=(x+y)*z", "--at", "x=-2,y=5,z=-4", "--format", "plain", code=0)
    assert result.stdout == plain.stdout
    data = run_json("f(x,y,z)=(x+y)*z", "--at", "x=-2,y=5,z=-4", "--timings")
    assert list(data["timings"]) == ["parse", "build", "forward", "backward", "checks", "output", "total"]
    assert all(v >= 0 for v in data["timings"].values())
    assert "timings" not in run_json("f(x,y,z)=(x+y)*z", "--at", "x=-2,y=5,z=-4")
    refused = run("x*y", "--points", "-", "--timings", input="x,y\n1,2\n", code=2)  # was silently ignored
    assert "--timings reports the stages of one point" in refused.stderr


def test_a_csv_row_makes_no_records(monkeypatch: pytest.MonkeyPatch) -> None:
    # the per-node records are for the tables, JSON and pictures; one CSV row never reads them
    import importlib

    def refuse(trace: object) -> list[object]:
        raise AssertionError("records made for a CSV row")

    monkeypatch.setattr(importlib.import_module("symgrad.records"), "records", refuse)
    result = run("f(x, y) = x * y", "--at", "x=2,y=3", "--no-check", "--format", "csv", code=0)
    assert result.stdout.splitlines() == ["x,y,f,df/dx,df/dy,error", "2.0,3.0,6.0,3.0,2.0,"]


def test_a_statement_of_millions_of_terms_is_refused_while_it_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # 5 million terms in one sum used to run for more than 15 minutes; the parser now stops at the limit
    from symgrad import lalr

    made = []
    real = lalr.Lexeme.__init__

    def counted(self: lalr.Lexeme, *args: object) -> None:
        made.append(1)
        real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(lalr.Lexeme, "__init__", counted)
    text = "f(x) = " + "+".join(["x"] * 20_000)
    with pytest.raises(errors.SymgradError) as caught:
        parser.parse(text, limit=1_000)
    assert caught.value.kind == "limit" and "more than 1,000 operations and operands" in caught.value.message
    assert len(made) < 1_100  # the tokens shifted before the limit, not the 40,000 of the whole sum
    assert build("f(x) = " + "+".join(["x"] * 400), nodes=1_000).output is not None
    monkeypatch.setattr(parser, "EXPRESSION_LIMIT", 1_000)  # the default; --node-limit may raise it
    result = run("--at", "x=1", "--", text, code=2)
    assert "more than 1,000 operations and operands" in result.stderr and "split it into statements" in result.stderr
    run("--node-limit", "50000", "--at", "x=1", "--no-check", "--format", "csv", "--", text, code=0)
    result = run("--node-limit", "10", "--at", "x=1", "--", "f(x) = " + "+".join(["x"] * 20), code=2)
    assert "more than 10 nodes" in result.stderr  # a small node limit is about nodes


def test_an_unclosed_bracket_after_many_open_ones_is_found_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # 10^6 '(' and no ')' took more than two minutes for the error alone
    from symgrad import lalr

    replays, tries = [], []
    real_stack, real_shifts = lalr.Tables._stack, lalr.Tables._shifts
    monkeypatch.setattr(lalr.Tables, "_stack", lambda self, *a: replays.append(1) or real_stack(self, *a))
    monkeypatch.setattr(lalr.Tables, "_shifts", lambda self, *a: tries.append(1) or real_shifts(self, *a))
    with pytest.raises(errors.SymgradError) as caught:
        symgrad.parse("(" * 100_000)
    assert caught.value.message.startswith("unexpected end of input: expected an expression")
    assert caught.value.hint == "a parenthesis opened at column 100000 is never closed"
    assert len(replays) == 1 and len(tries) <= 30  # the tokens replayed once; each terminal tried once


NEURON = "f(w0,x0,w1,x1,w2) = sigmoid(w0*x0 + w1*x1 + w2)"


def test_json_lines_of_numbers_go_as_csv_s_blocks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # JSON Lines in was 4x CSV in: a Python object per row and per cell.  Numbers now go as CSV's blocks of
    # floats, and the output is the same, errors included
    from symgrad import pipeline

    rows = [dict(zip(["w0", "x0", "w1", "x1", "w2"], [k / 7, -k / 3, 0.5, 2.0, -1.0])) for k in range(300)]
    jsonl = [json.dumps(r) for r in rows]
    csv_lines = ["w0,x0,w1,x1,w2"] + [",".join(repr(v) for v in r.values()) for r in rows]
    bad_jsonl = {5: '{"w0": 1, "x0": [1, 2], "w1": 0, "x1": 0, "w2": 0}', 9: "{not json", 12: '{"w0": 1}',
                 20: '{"w0": 1, "x0": 2, "w1": 3, "x1": 4, "w2": 5, "v": 1}', 30: ""}
    for k, text in bad_jsonl.items():
        jsonl[k] = text
    (tmp_path / "p.jsonl").write_text("\n".join(jsonl) + "\n")
    written = []
    monkeypatch.setattr(pipeline.TableWriter, "write", lambda self, *a: written.append(1) or True)
    fast = run(NEURON, "--points", str(tmp_path / "p.jsonl"), code=1)
    assert not written  # no row went the per-row way
    monkeypatch.undo()
    (tmp_path / "p.csv").write_text("\n".join(csv_lines) + "\n")
    from_csv = run(NEURON, "--points", str(tmp_path / "p.csv"), code=0).stdout.splitlines()
    lines = fast.stdout.splitlines()
    assert lines[0] == from_csv[0]
    good = [k for k in range(300) if k not in bad_jsonl]
    by_line = {k: line for k, line in zip([k for k in range(300) if k != 30], lines[1:])}
    for k in good:
        assert by_line[k] == from_csv[1 + k]
    assert by_line[5].endswith("\"line 6: x0 has shape (2,), but the columns are for shape () (use --format jsonl)\"")
    assert "line 10 is not valid JSON" in by_line[9] and "line 13: no value for x0" in by_line[12]
    assert "line 21: v names no variable of the expression" in by_line[20]
    rows_way = run(NEURON, "--points", str(tmp_path / "p.jsonl"), "--format", "jsonl", code=1).stdout
    assert len(rows_way.splitlines()) == 299  # JSON Lines out: the per-row way, every record kept


def chain_program(n: int) -> str:
    """n statements the output reads in turn, of the issue's kinds, and as many it never reads."""
    lines = ["t0 = a * b"]
    for k in range(1, n):
        lines.append([f"t{k} = t{k - 1} * t{k // 2} * 0.5", f"t{k} = relu(t{k - 1}) - b", f"t{k} = t{k - 1} + a",
                      f"t{k} = tanh(t{k - 1}) * a"][k % 4])
        lines.append(f"u{k} = t{k} + {k}")
    lines.append(f"f(a, b) = t{n - 1}")
    return "\n".join(lines)


def calls(*args: str) -> int:
    """The Python function calls a whole command makes (symgrad's and its libraries'): work, not time."""
    import sys

    count = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        run(*args, code=0)
    finally:
        sys.setprofile(None)
    return count


@pytest.mark.parametrize("fmt", ["plain", "json", "csv", "table"])
def test_every_view_does_work_linear_in_the_program(fmt: str) -> None:
    # a 100,000-statement chain took 120 s in plain text, and 100,000 unused statements 263 s: the views were slower
    # than the engine.  Twice the program must cost about twice the calls (some are per run, so less than twice)
    small, large = (calls("--at", "a=0.5,b=-0.3", "--no-check", "--format", fmt, "--", chain_program(n))
                    for n in (300, 600))
    assert 1.5 < large / small < 2.1, (small, large)
