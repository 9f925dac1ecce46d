"""No internal errors and no tracebacks where the environment is hostile: closed or full output
streams, numbers too long to convert, closed input.  These need real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from support import run

LONG = "7" * 5000  # past Python's 4,300-digit limit for converting text to an integer


def symgrad(*args: str, stdout: object = subprocess.PIPE, stdin: object = subprocess.DEVNULL,
            close: tuple[int, ...] = ()) -> subprocess.CompletedProcess:
    """`python -m symgrad ARGS` in a real process, with the descriptors in `close` closed."""
    return subprocess.run([sys.executable, "-m", "symgrad", *args], stdout=stdout, stderr=subprocess.PIPE,
                          stdin=stdin, text=True, check=False,
                          preexec_fn=(lambda: [os.close(fd) for fd in close]) if close else None)


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["x", "--at", "x=1"], ["batch", "--help"]])
def test_a_full_device_is_a_clean_error(args: list[str]) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        proc = symgrad(*args, stdout=full)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: cannot write the output: No space left on device"


@pytest.mark.parametrize("args", [["--help"], ["x", "--at", "x=1"], ["x", "--at", "x=1", "--format", "json"]])
def test_closed_standard_output_is_a_clean_error(args: list[str]) -> None:
    proc = symgrad(*args, close=(1,))
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: standard output is closed: there is nowhere to write the result"


def test_closed_standard_error_does_not_matter() -> None:
    proc = symgrad("x", "--at", "x=1", "--format", "json", close=(2,))
    assert proc.returncode == 0 and json.loads(proc.stdout)["value"] == 1
    proc = symgrad("x", "--at", "x=", close=(2,))
    assert proc.returncode == 2


def test_a_reader_that_goes_away_ends_quietly() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "symgrad", "x", "--points", "-", "--no-check"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdout.close()  # the reader is gone before anything is written
    _, err = proc.communicate("x\n" + "1\n" * 200_000)
    assert proc.returncode == 0 and "Traceback" not in err


@pytest.mark.parametrize("args", [
    ["x", "--at", f"x=[{LONG}]"],
    ["x", "--at", f"x=[1.5, {LONG}]", "--exact"],
    ["x", "--at", f"x=[1, 2.{LONG}]"],
])
def test_a_number_too_long_to_convert_is_a_clean_error(args: list[str]) -> None:
    result = run(*args, code=2)
    assert "a number of 5,00" in result.stderr and "at most 1,000" in result.stderr


def test_a_number_too_long_in_a_batch_line_or_a_json_row() -> None:
    line = json.dumps({"expr": "x", "at": {"x": 1}}).replace("1}", LONG + "}")
    rec = json.loads(run("batch", input=line + "\n", code=1).stdout)
    assert rec["ok"] is False and "at most 1,000" in rec["error"]["message"]
    rows = run("x", "--points", "-", "--format", "jsonl", input='{"x": ' + LONG + '}\n{"x": 2}\n', code=1)
    first, second = (json.loads(r) for r in rows.stdout.splitlines())
    assert "at most 1,000" in first["error"]["message"] and second["value"] == 2


# ---- small ones ---------------------------------------------------------------------------


def test_help_is_a_command_not_a_variable() -> None:
    assert run("help", code=0).stdout == run("--help", code=0).stdout
    assert run("help", "check", code=0).stdout == run("check", "--help", code=0).stdout
    assert "help = 3" in run("f(help) = help", "--at", "help=3", "--no-check", code=0).stdout


def test_check_and_no_check_contradict() -> None:
    assert "contradict" in run("x", "--at", "x=1", "--check", "--no-check", code=2).stderr


def test_top_level_help_lists_every_exit_status() -> None:
    text = " ".join(run("--help", code=0).stdout.split())
    for status in ("0 success", "1 a check found a gradient wrong", "2 bad input", "3 an internal error"):
        assert status in text


def test_the_python_api_validates_like_the_command_line() -> None:
    import doctest

    import symgrad
    from symgrad import SymgradError

    assert doctest.testmod(symgrad).failed == 0
    value, grad = symgrad.gradient("f(W, x) = sum(W @ x)", W=[[1, 2], [3, 4]], x=[1, 1])
    assert value == 10 and grad["W"].tolist() == [[1, 1], [1, 1]] and grad["x"].tolist() == [4, 6]
    bad: list[tuple[str, dict, str]] = [
        ("f(W, x) = sum(W @ x)", {"W": "a", "x": [1, 1]}, "binding"),
        ("f(W, x) = sum(W @ x)", {"W": [[1, 2], [3]], "x": [1, 1]}, "binding"),
        ("f(W, x) = sum(W @ x)", {"W": [[1, 2], [3, 4]]}, "binding"),
        ("f(W, x) = sum(W @ x)", {"W": [[1, 2], [3, 4]], "x": [1, 1, 1]}, "shape"),
        ("f(x) = [x, x]", {"x": 1}, "shape"),
        ("f(x) = x +", {"x": 1}, "syntax"),
    ]
    for text, at, kind in bad:
        with pytest.raises(SymgradError) as info:
            symgrad.gradient(text, **at)
        assert info.value.kind == kind, (text, info.value.message)
    with pytest.raises(SymgradError) as info:
        symgrad.evaluate(symgrad.parse("f(x) = x"), {"x": 1}, upstream="a")
    assert info.value.kind == "binding"
    with pytest.raises(SymgradError):
        symgrad.parse(None)  # type: ignore[arg-type]


# ---- resource limits ----------------------------------------------------------------------


def test_exact_arithmetic_is_bounded_and_says_where_it_is_not_exact() -> None:
    # (1+1e-15)^(10^17) exactly would be a rational of about 10^19 digits: it is kept at 40 digits.
    out = run("x", "--at", "x=(1+1e-15)^(10^17)", "--exact", code=0).stdout
    assert "exact: f ≈ 2.6881171418160010425" in out and "∂f/∂x = 1" in out
    assert "exact: f = 1/300, ∂f/∂x = 1/15" in run("x^2/3", "--at", "x=0.1", "--exact", code=0).stdout


def test_a_numeric_check_that_overflows_is_not_a_wrong_verdict() -> None:
    result = run("f(x)=x^1e9", "--at", "x=1.0000001", code=0)
    assert "wrong" not in result.stdout.lower()
    assert "the check failed, not backprop" in result.stdout


def test_the_symbolic_check_of_a_deep_composition_is_skipped_by_size() -> None:
    program = "; ".join(["a0 = x"] + [f"a{i} = sigmoid(a{i - 1}*a{i - 1} + a{i - 1})" for i in range(1, 16)])
    out = run(program, "--at", "x=0.3", code=0).stdout
    assert "symbolic check skipped: the expression is too large for SymPy" in out
    assert "--symbolic-limit raises it" in out


def test_a_number_too_long_in_a_homework_file(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "hw.toml"
    path.write_text(f'[[problem]]\nfunction = "f(x)=x"\nat = {{ x = {LONG} }}\nexpect = "x=1"\n\n'
                    '[[problem]]\nfunction = "f(x)=x*x"\nat = "x=3"\nexpect = "x=6"\n', encoding="utf-8")
    result = run("check", str(path), code=1)
    assert "line 1: a value cannot be read" in result.stdout and "1 of 2 problems right" in result.stdout


def test_a_program_that_inlines_exponentially_many_nodes_is_stopped() -> None:
    from symgrad.errors import SymgradError
    from symgrad.graph import build, node_limit

    levels = "; ".join(["g0(x) = x*x"] + [f"g{i}(x) = g{i - 1}(g{i - 1}(x))" for i in range(1, 30)])
    text = levels + "; f(x) = g29(x)"  # 2^30 calls from 500 characters
    assert node_limit(text) == 1_000_000 and node_limit("x" * 100_000) == 5_000_000
    with pytest.raises(SymgradError) as info:
        build(text, nodes=10_000)
    assert info.value.kind == "limit" and "more than 10,000 nodes" in info.value.message
    assert "--node-limit" in (info.value.hint or "")
    result = run("x*x + x", "--at", "x=1", "--no-check", "--node-limit", "2", code=2)
    assert "more than 2 nodes" in result.stderr
    assert run("x*x + x", "--at", "x=1", "--no-check", "--node-limit", "3", code=0)


def test_a_number_literal_of_more_than_1000_characters_is_an_error() -> None:
    result = run(f"x * {'7' * 1001}", "--at", "x=1", code=2)
    assert "a number of 1,001 characters" in result.stderr and "7.77e4999" in result.stderr
    assert run(f"x * {'7' * 1000}", "--at", "x=1", "--no-check", code=0)


def test_an_infinite_axis_is_a_clean_error() -> None:
    # Found by a long fuzz run: mean(0, 1e99999) converted inf to an integer (exit 3).
    result = run("--no-check", "--", "mean(0, 1e99999)", code=2)
    assert "must be one whole number" in result.stderr


def test_values_nested_too_deeply_are_clean_errors(tmp_path: object) -> None:
    # Found by a fuzz run with another seed: Python's JSON and TOML readers recurse once per bracket.
    from pathlib import Path

    folder = Path(str(tmp_path))
    deep = "[" * 100_000 + "]" * 100_000
    (folder / "v.json").write_text(deep, encoding="utf-8")
    assert "nested too deeply" in run("sum(x)", "--at", f"x=@{folder / 'v.json'}", code=2).stderr
    rec = json.loads(run("batch", input=json.dumps({"expr": "x"})[:-1] + f', "at": {{"x": {deep}}}}}\n',
                         code=1).stdout)
    assert "nested too deeply" in rec["error"]["message"]
    hw = folder / "hw.toml"
    hw.write_text('[[problem]]\nfunction = "f(x)=sum(x)"\nat = { x = ' + "[" * 5000 + "1" + "]" * 5000 + ' }\n'
                  'expect = "x=1"\n\n[[problem]]\nfunction = "f(x)=x*x"\nat = "x=3"\nexpect = "x=6"\n',
                  encoding="utf-8")
    out = run("check", str(hw), code=1).stdout
    assert "nested too deeply" in out and "1 of 2 problems right" in out


@pytest.mark.parametrize("content", [b"", b"garbage", b"\x93NUMPY\x01\x00"])
def test_a_file_that_is_no_npy_is_a_clean_error(tmp_path: object, content: bytes) -> None:
    # Found by a fuzz run: an empty .npy file raised EOFError in numpy.load (exit 3).
    from pathlib import Path

    path = Path(str(tmp_path)) / "v.npy"
    path.write_bytes(content)
    assert "is not a NumPy .npy file" in run("sum(x)", "--at", f"x=@{path}", code=2).stderr
