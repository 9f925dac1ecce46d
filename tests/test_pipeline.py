"""Tests of the shell-pipeline features: every --format for one point, --points (CSV, TSV, JSON Lines),
bad rows, large inputs in chunks, `symgrad batch`, closed pipes, exit statuses and the JSON Schemas.

Most tests run the click command in-process with CliRunner; where a real pipe matters (a reader that
goes away, SIGINT, a large file streamed to a file) they run `python -m symgrad` as a subprocess.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from click.testing import Result
from support import jsonl, run, run_json, sin_with_wrong_sign, strict_json

import symgrad
from symgrad import schemas

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
HEADLINE = "f(x,y,z)=(x+y)*z"
HEADLINE_AT = "x=-2,y=5,z=-4"
NEURON = "f(w0,x0,w1,x1,w2) = sigmoid(w0*x0 + w1*x1 + w2)"
NEURON_VARS = ["w0", "x0", "w1", "x1", "w2"]
NEURON_AT = "w0=2,x0=-1,w1=-3,x1=-2,w2=-3"
NEURON_POINT = {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}
NEURON_HEADER = [*NEURON_VARS, "f", *(f"df/d{v}" for v in NEURON_VARS), "error"]
LECTURE = ROOT / "examples" / "homework" / "lecture.toml"


# ---------------------------------------------------------------------------
# helpers


def sg(*args: str, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "symgrad", *args], input=input, capture_output=True, text=True,
                          env=ENV, cwd=ROOT, timeout=timeout)


def table(text: str, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


@functools.cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = schemas.load(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def valid(name: str, record: Any) -> None:
    errors = sorted(validator(name).iter_errors(record), key=lambda e: list(e.path))
    assert not errors, (name, [f"{list(e.path)}: {e.message}" for e in errors[:5]], record)


def api(text: str, **at: float) -> tuple[float, dict[str, float]]:
    return symgrad.gradient(text, **at)


def same(a: float, b: float) -> bool:
    """Equal to a few ulps: a chunk is evaluated along a point axis, one point alone as scalars."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or math.isclose(a, b, rel_tol=1e-13)


def write_csv(path: Path, header: list[str], rows: list[list[float]], delimiter: str = ",") -> Path:
    lines = [delimiter.join(header)] + [delimiter.join(repr(float(v)) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def neuron_points(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=2.0, size=(count, 5))


def assert_neuron_row(cells: list[str], point: list[float] | np.ndarray) -> None:
    """A CSV row of the neuron: inputs exactly as given, value and gradient as the Python API's."""
    assert len(cells) == len(NEURON_HEADER), cells
    inputs = [float(c) for c in cells[:5]]
    assert inputs == [float(v) for v in point]
    value, grad = api(NEURON, **dict(zip(NEURON_VARS, inputs)))
    assert same(float(cells[5]), value), (cells, value)
    for k, v in enumerate(NEURON_VARS):
        assert same(float(cells[6 + k]), grad[v]), (v, cells, grad)
    assert cells[-1] == ""


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """200,000 points of the sigmoid neuron: more than three chunks of 65,536 rows."""
    points = neuron_points(200_000)
    path = tmp_path_factory.mktemp("big") / "points.csv"
    np.savetxt(path, points, delimiter=",", header=",".join(NEURON_VARS), comments="", fmt="%.17g")
    return path, points


@pytest.fixture(scope="module")
def pipe_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """20,000 points of the sigmoid neuron: some 4 MB of output, far more than a pipe holds (64 kB)."""
    points = neuron_points(20_000)
    path = tmp_path_factory.mktemp("pipe") / "points.csv"
    np.savetxt(path, points, delimiter=",", header=",".join(NEURON_VARS), comments="", fmt="%.17g")
    return path, points


# ---------------------------------------------------------------------------
# one point in every format


def test_format_table_single_point() -> None:
    args = [NEURON, "--at", NEURON_AT, "--no-check", "--format", "table"]
    result = run(*args, env={"COLUMNS": "200"})  # a wide terminal
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    lines = [line.rstrip() for line in out.splitlines()]
    assert lines[1].split() == ["node", "computes", "value", "local", "gradients", "upstream", "sends", "down",
                                "notes"]
    assert any(line.split()[:3] == ["f", "sigmoid(n4)", "0.7311"] for line in lines if line.strip())
    for text in ("∂f/∂w0 = -0.1966", "∂f/∂x0 = 0.3932", "∂f/∂x1 = -0.5898", "∂f/∂w2 = 0.1966"):
        assert text in out, text
    assert result.stderr == ""


def test_format_plain_single_point() -> None:
    result = run(NEURON, "--at", NEURON_AT, "--no-check", "--format", "plain")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("f(w0, x0, w1, x1, w2) = sigmoid(w0 * x0 + w1 * x1 + w2)")
    assert any(line.startswith("node  computes") for line in lines)
    assert ("f = 0.7311      ∂f/∂w0 = -0.1966      ∂f/∂x0 = 0.3932      ∂f/∂w1 = -0.3932      "
            "∂f/∂x1 = -0.5898      ∂f/∂w2 = 0.1966") in lines


def test_default_format_into_a_pipe_is_plain() -> None:
    plain = run(NEURON, "--at", NEURON_AT, "--no-check", "--format", "plain")
    default = run(NEURON, "--at", NEURON_AT, "--no-check")
    assert default.exit_code == 0
    assert default.stdout == plain.stdout


def test_format_json_single_point_matches_python_api() -> None:
    result = run(NEURON, "--at", NEURON_AT, "--no-check", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = strict_json(result.stdout)
    value, grad = api(NEURON, **NEURON_POINT)
    assert data["value"] == value
    assert data["gradient"] == grad
    assert data["variables"] == NEURON_VARS
    assert data["schema_version"] == 2


def test_format_jsonl_single_point_is_one_strict_line() -> None:
    result = run(NEURON, "--at", NEURON_AT, "--no-check", "--format", "jsonl")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.endswith("\n") and result.stdout.count("\n") == 1
    data = strict_json(result.stdout)
    value, grad = api(NEURON, **NEURON_POINT)
    assert data["value"] == value and data["gradient"] == grad
    assert data == strict_json(run(NEURON, "--at", NEURON_AT, "--no-check", "--format", "json").stdout)


def test_format_jsonl_nan_is_a_string_not_a_literal() -> None:
    result = run("f(x) = log(x)", "--at", "x=-1", "--no-check", "--format", "jsonl")
    assert result.exit_code == 0
    assert result.stdout.count("\n") == 1
    data = strict_json(result.stdout)  # would raise on a NaN literal
    assert data["value"] == "NaN"
    assert data["warnings"] and "nan" in data["warnings"][0]
    with pytest.raises(ValueError, match="NaN"):
        strict_json('{"value": NaN}')  # the parser used here does refuse literals


@pytest.mark.parametrize(("fmt", "delimiter"), [("csv", ","), ("tsv", "\t")])
def test_format_csv_tsv_single_point_round_trips(fmt: str, delimiter: str) -> None:
    result = run(NEURON, "--at", NEURON_AT, "--no-check", "--format", fmt)
    assert result.exit_code == 0, result.stderr
    rows = table(result.stdout, delimiter)
    assert len(rows) == 2
    header, row = rows
    assert header == NEURON_HEADER
    value, grad = api(NEURON, **NEURON_POINT)
    assert [float(c) for c in row[:5]] == [NEURON_POINT[v] for v in NEURON_VARS]
    assert float(row[5]) == value  # exactly: full round-trip precision
    assert [float(c) for c in row[6:11]] == [grad[v] for v in NEURON_VARS]
    assert row[11] == ""


def test_format_csv_single_point_with_checks_has_a_check_column() -> None:
    result = run("f(x,y)=x*y", "--at", "x=-1,y=2", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    # the check column holds the same verdict as --points --check gives that point
    assert table(result.stdout) == [["x", "y", "f", "df/dx", "df/dy", "check", "error"],
                                    ["-1.0", "2.0", "-2.0", "2.0", "-1.0", "excellent", ""]]
    points = run("f(x,y)=x*y", "--points", "-", "--check", input="x,y\n-1,2\n")
    assert table(points.stdout)[1][5] == "excellent"


def test_format_csv_domain_problem_is_a_note_not_an_error() -> None:
    result = run("f(x) = log(x)", "--at", "x=-1", "--no-check", "--format", "csv")
    assert result.exit_code == 0
    header, row = table(result.stdout)
    assert header == ["x", "f", "df/dx", "error"]
    assert row[1] == "nan" and float(row[2]) == -1.0
    assert "nan" in row[3]
    assert "warning" in result.stderr


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_format_csv_of_a_vector_output_needs_upstream(fmt: str) -> None:
    result = run("f(x) = [x, 2*x]", "--at", "x=1", "--no-check", "--format", fmt)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--upstream" in result.stderr
    assert "hint:" in result.stderr and "--format json" in result.stderr


def test_format_csv_of_a_vector_output_with_upstream() -> None:
    result = run("f(x) = [x, 2*x]", "--at", "x=1", "--upstream", "[1,1]", "--no-check", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert table(result.stdout) == [["x", "f[0]", "f[1]", "df/dx", "error"], ["1.0", "1.0", "2.0", "3.0", ""]]


def test_json_piped_like_jq_gradient_x() -> None:
    """symgrad "f(x,y,z)=(x+y)*z" --at x=-2,y=5,z=-4 --format json | jq .gradient.x"""
    result = run(HEADLINE, "--at", HEADLINE_AT, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["gradient"]["x"] == -4.0
    assert result.stderr == ""


# ---------------------------------------------------------------------------
# the expression from stdin or a file


@pytest.mark.parametrize("fmt", ["json", "csv", "jsonl"])
@pytest.mark.parametrize("source", ["dash", "file-dash", "file"])
def test_expression_from_stdin_or_file(fmt: str, source: str, tmp_path: Path) -> None:
    program = "# the product\nq = x * y\nf(x, y) = q\n"
    if source == "dash":
        args, stdin = ["-"], program
    elif source == "file-dash":
        args, stdin = ["--file", "-"], program
    else:
        path = tmp_path / "prog.sg"
        path.write_text(program, encoding="utf-8")
        args, stdin = ["--file", str(path)], None
    result = run(*args, "--at", "x=1.5,y=-2", "--no-check", "--format", fmt, input=stdin)
    assert result.exit_code == 0, result.stderr
    if fmt == "csv":
        assert table(result.stdout) == [["x", "y", "f", "df/dx", "df/dy", "error"],
                                        ["1.5", "-2.0", "-3.0", "-2.0", "1.5", ""]]
        return
    if fmt == "jsonl":
        assert result.stdout.count("\n") == 1
    data = strict_json(result.stdout)
    assert data["value"] == -3.0 and data["gradient"] == {"x": -2.0, "y": 1.5}
    assert data["variables"] == ["x", "y"]


def test_program_from_file_with_points_from_stdin(tmp_path: Path) -> None:
    path = tmp_path / "prog.sg"
    path.write_text("f(x, y) = x * y + sin(x)\n", encoding="utf-8")
    result = run("--file", str(path), "--points", "-", input="x,y\n1,2\n3,4\n")
    assert result.exit_code == 0, result.stderr
    rows = table(result.stdout)
    assert rows[0] == ["x", "y", "f", "df/dx", "df/dy", "error"]
    for row, (x, y) in zip(rows[1:], [(1, 2), (3, 4)]):
        value, grad = api("f(x, y) = x * y + sin(x)", x=x, y=y)
        assert same(float(row[2]), value) and same(float(row[3]), grad["x"]) and same(float(row[4]), grad["y"])


def test_program_and_points_cannot_both_come_from_stdin() -> None:
    result = run("-", "--points", "-", input="x*y\n")
    assert result.exit_code == 2
    assert "standard input" in result.stderr


# ---------------------------------------------------------------------------
# --points: CSV, TSV and JSON Lines


def check_neuron_table(text: str, points: np.ndarray, delimiter: str = ",") -> None:
    rows = table(text, delimiter)
    assert rows[0] == NEURON_HEADER
    assert len(rows) == len(points) + 1
    for cells, point in zip(rows[1:], points):
        assert_neuron_row(cells, point)


def test_points_csv_file(tmp_path: Path) -> None:
    points = neuron_points(50)
    path = write_csv(tmp_path / "xs.csv", NEURON_VARS, points.tolist())
    result = run(NEURON, "--points", str(path))
    assert result.exit_code == 0, result.stderr
    check_neuron_table(result.stdout, points)
    assert result.stderr == ""


def test_points_csv_stdin() -> None:
    points = neuron_points(40, seed=1)
    text = ",".join(NEURON_VARS) + "\n" + "".join(",".join(map(repr, p)) + "\n" for p in points.tolist())
    result = run(NEURON, "--points", "-", input=text)
    assert result.exit_code == 0, result.stderr
    check_neuron_table(result.stdout, points)


def test_points_csv_columns_in_another_order_than_the_variables(tmp_path: Path) -> None:
    """The header names the variables; the output has them in the expression's order."""
    path = write_csv(tmp_path / "xs.csv", ["z", "x", "y"], [[-4, -2, 5], [1, 2, 3]])
    result = run(HEADLINE, "--points", str(path))
    assert result.exit_code == 0, result.stderr
    assert table(result.stdout) == [
        ["x", "y", "z", "f", "df/dx", "df/dy", "df/dz", "error"],
        ["-2.0", "5.0", "-4.0", "-12.0", "-4.0", "-4.0", "3.0", ""],
        ["2.0", "3.0", "1.0", "5.0", "1.0", "1.0", "5.0", ""],
    ]


@pytest.mark.parametrize("out", ["csv", "tsv", "jsonl"])
def test_points_tsv_file(out: str, tmp_path: Path) -> None:
    points = neuron_points(30, seed=2)
    path = write_csv(tmp_path / "xs.tsv", NEURON_VARS, points.tolist(), delimiter="\t")
    result = run(NEURON, "--points", str(path), "--format", out)
    assert result.exit_code == 0, result.stderr
    if out == "jsonl":
        records = jsonl(result.stdout)
        assert [r["line"] for r in records] == list(range(2, 32))
        for r, p in zip(records, points.tolist()):
            value, grad = api(NEURON, **dict(zip(NEURON_VARS, p)))
            assert r["at"] == dict(zip(NEURON_VARS, p))
            assert same(r["value"], value) and all(same(r["gradient"][v], grad[v]) for v in NEURON_VARS)
        return
    check_neuron_table(result.stdout, points, "\t" if out == "tsv" else ",")


@pytest.mark.parametrize("source", ["file", "stdin"])
@pytest.mark.parametrize("out", ["jsonl", "csv"])
def test_points_json_lines(source: str, out: str, tmp_path: Path) -> None:
    points = neuron_points(25, seed=3).tolist()
    text = "".join(json.dumps(dict(zip(NEURON_VARS, p))) + "\n" for p in points)
    if source == "file":
        path = tmp_path / "xs.jsonl"
        path.write_text(text, encoding="utf-8")
        result = run(NEURON, "--points", str(path), "--format", out)
    else:  # told apart by the first character, '{'
        result = run(NEURON, "--points", "-", "--format", out, input=text)
    assert result.exit_code == 0, result.stderr
    if out == "csv":
        check_neuron_table(result.stdout, np.array(points))
        return
    records = jsonl(result.stdout)
    assert [r["line"] for r in records] == list(range(1, 26))
    for r, p in zip(records, points):
        value, grad = api(NEURON, **dict(zip(NEURON_VARS, p)))
        assert r["at"] == dict(zip(NEURON_VARS, p))
        assert same(r["value"], value)
        assert set(r["gradient"]) == set(NEURON_VARS)
        assert all(same(r["gradient"][v], grad[v]) for v in NEURON_VARS)
        assert r["warnings"] == []


def test_points_json_lines_file_ending_wins_over_content(tmp_path: Path) -> None:
    path = tmp_path / "xs.jsonl"
    path.write_text('\n{"x": 2, "y": 3}\n', encoding="utf-8")  # starts with a blank line, not '{'
    result = run("f(x,y)=x*y", "--points", str(path), "--format", "jsonl")
    assert result.exit_code == 0, result.stderr
    assert jsonl(result.stdout) == [{"schema_version": 2, "symgrad_version": symgrad.__version__,
                                     "line": 2, "at": {"x": 2.0, "y": 3.0}, "value": 6.0,
                                     "gradient": {"x": 3.0, "y": 2.0}, "warnings": []}]


def test_points_keep_input_order_when_shapes_differ() -> None:
    """Rows of different shapes are evaluated in separate groups, and still written in input order."""
    xs = [[1, 2], [1, 2, 3], [3, 4], [5], [0.5, -1, 2], [7, 8]]
    text = "".join(json.dumps({"x": x}) + "\n" for x in xs)
    result = run("f(x) = sum(x^2) + x[0]", "--points", "-", "--format", "jsonl", input=text)
    assert result.exit_code == 0, result.stderr
    records = jsonl(result.stdout)
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5, 6]
    for r, x in zip(records, xs):
        a = np.array(x, dtype=float)
        assert r["at"] == {"x": [float(v) for v in x]}
        assert r["value"] == pytest.approx(float(np.sum(a**2) + a[0]), rel=1e-14)
        expected = 2 * a
        expected[0] += 1
        assert r["gradient"]["x"] == pytest.approx(expected.tolist(), rel=1e-14)


def test_points_fixed_scalar_from_at(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "xs.csv", ["x"], [[1.0], [-2.5], [4.0]])
    result = run("f(x,y) = x*y + y^2", "--at", "y=3", "--points", str(path))
    assert result.exit_code == 0, result.stderr
    rows = table(result.stdout)
    assert rows[0] == ["x", "y", "f", "df/dx", "df/dy", "error"]
    for row, x in zip(rows[1:], [1.0, -2.5, 4.0]):
        value, grad = api("f(x,y) = x*y + y^2", x=x, y=3)
        assert [float(c) for c in row[:5]] == [x, 3.0, value, grad["x"], grad["y"]]
        assert row[5] == ""
    assert len(rows) == 4


def test_points_fixed_matrix_from_at_with_vector_points() -> None:
    """--at "W=[[...]]" for every point, x vectors from JSON Lines, output JSON Lines."""
    text = "f(W,x) = sum((W @ x)^2)"
    W = [[0.1, 0.5], [-0.3, 0.8]]
    xs = [[1, 2], [0.5, -1], [3, 4], [-2, 0.25]]
    stdin = "".join(json.dumps({"x": x}) + "\n" for x in xs)
    result = run(text, "--at", "W=[[0.1,0.5],[-0.3,0.8]]", "--points", "-", "--format", "jsonl", input=stdin)
    assert result.exit_code == 0, result.stderr
    records = jsonl(result.stdout)
    assert [r["line"] for r in records] == [1, 2, 3, 4]
    graph = symgrad.parse(text)
    for r, x in zip(records, xs):
        trace = symgrad.evaluate(graph, {"W": W, "x": x})
        np.testing.assert_allclose(r["value"], float(trace.value), rtol=1e-14)
        np.testing.assert_allclose(r["gradient"]["W"], trace.gradient["W"], rtol=1e-14)
        np.testing.assert_allclose(r["gradient"]["x"], trace.gradient["x"], rtol=1e-14)
        assert np.shape(r["gradient"]["W"]) == (2, 2) and np.shape(r["gradient"]["x"]) == (2,)


def test_points_fixed_vector_from_at_with_csv_output() -> None:
    """A vector fixed by --at: its components are columns of the CSV output."""
    result = run("f(v,a) = sum(v*a)", "--at", "v=[1,2]", "--points", "-", input="a\n1\n-2\n")
    assert result.exit_code == 0, result.stderr
    assert table(result.stdout) == [
        ["v[0]", "v[1]", "a", "f", "df/dv[0]", "df/dv[1]", "df/da", "error"],
        ["1.0", "2.0", "1.0", "3.0", "1.0", "1.0", "3.0", ""],
        ["1.0", "2.0", "-2.0", "-6.0", "-2.0", "-2.0", "3.0", ""],
    ]


@pytest.mark.parametrize("out", ["csv", "jsonl"])
@pytest.mark.parametrize(("header", "at", "needle"), [
    ("x,z", [], "column z names no variable"),
    ("x,y", ["--at", "y=3"], "y is given both in the points and in --at"),
    ("x", [], "no value for y"),
])
def test_points_header_problems_exit_2(out: str, header: str, at: list[str], needle: str) -> None:
    result = run("f(x,y) = x*y", *at, "--points", "-", "--format", out, input=header + "\n1,2\n")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert needle in result.stderr
    assert "hint:" in result.stderr
    if out == "csv":
        assert result.stdout == ""  # not even a header
    else:  # one JSON error record, and no row answered
        (record,) = jsonl(result.stdout)
        assert record["error"]["kind"] == "points" and needle in record["error"]["message"]
        valid("error", record)


def test_points_at_naming_no_variable_exits_2() -> None:
    result = run("f(x) = x^2", "--at", "q=1", "--points", "-", input="x\n1\n")
    assert result.exit_code == 2
    assert "no variable q" in result.stderr


def test_points_json_format_is_refused() -> None:
    result = run("f(x) = x^2", "--points", "-", "--format", "json", input="x\n1\n")
    assert result.exit_code == 2
    assert "csv, tsv or jsonl" in result.stderr


def test_points_empty_input_writes_only_the_header() -> None:
    result = run("f(x,y) = x*y", "--points", "-", input="x,y\n")
    assert result.exit_code == 0
    assert table(result.stdout) == [["x", "y", "f", "df/dx", "df/dy", "error"]]


# ---------------------------------------------------------------------------
# bad rows: an error for that row, the rest answered, exit status 1


BAD_CSV = "x,y\n1,2\n3,abc\n5\n\n-1,2\n7,8,9\n7,8\n"
# line 2 good, line 3 not a number, line 4 too few fields, line 5 blank, line 6 a domain problem,
# line 7 too many fields, line 8 good


@pytest.mark.parametrize(("fmt", "extra"), [
    ("csv", []),  # the fast path: whole blocks as float matrices
    ("tsv", []),
    ("csv", ["--at", "k=[1]"]),  # a non-scalar --at: the row-by-row path
])
def test_points_bad_csv_rows(fmt: str, extra: list[str]) -> None:
    expr = "f(x,y) = log(x)*y" if not extra else "f(x,y,k) = log(x)*y*sum(k)"
    result = run(expr, *extra, "--points", "-", "--format", fmt, input=BAD_CSV)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    rows = table(result.stdout, "\t" if fmt == "tsv" else ",")
    header = rows[0]
    assert header[-1] == "error"
    body = rows[1:]
    assert len(body) == 6  # every non-blank input row has exactly one output row, in order
    assert all(len(r) == len(header) for r in body), body
    xs = header.index("x")
    value = header.index("f")
    good = [(0, 1.0, 2.0), (5, 7.0, 8.0)]
    for k, x, y in good:
        v, g = api("f(x,y) = log(x)*y", x=x, y=y)
        assert float(body[k][xs]) == x and same(float(body[k][value]), v)
        assert same(float(body[k][header.index("df/dx")]), g["x"])
        assert body[k][-1] == ""
    assert body[1][-1] == "line 3: 'abc' is not a number"
    assert body[2][-1].startswith("line 4 ") and "1 fields" in body[2][-1]
    assert body[4][-1].startswith("line 7 ") and "3 fields" in body[4][-1]
    for k in (1, 2, 4):
        assert all(c == "" for c in body[k][:-1]), body[k]
    # the domain problem is a row with a nan value and a note, not an error
    assert float(body[3][xs]) == -1.0 and body[3][value] == "nan"
    assert float(body[3][header.index("df/dx")]) == -2.0
    assert body[3][-1] != ""


def test_points_bad_csv_rows_as_json_lines() -> None:
    result = run("f(x,y) = log(x)*y", "--points", "-", "--format", "jsonl", input=BAD_CSV)
    assert result.exit_code == 1
    records = jsonl(result.stdout)
    assert [r["line"] for r in records] == [2, 3, 4, 6, 7, 8]
    assert [("error" in r) for r in records] == [False, True, True, False, True, False]
    for r in records:
        if "error" in r:
            assert r["error"]["kind"] == "point" and r["error"]["line"] == r["line"]
            assert r["error"]["message"].startswith(f"line {r['line']}")
            assert "value" not in r
        valid("point", r)
    domain = records[3]
    assert domain["value"] == "NaN" and domain["gradient"]["x"] == -2.0
    assert domain["warnings"] and "nan" in domain["warnings"][0]
    assert records[5]["value"] == pytest.approx(math.log(7) * 8, rel=1e-15)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_points_row_whose_evaluation_fails(fmt: str) -> None:
    """An index out of range, or not a whole number, at one row: an error for that row only."""
    stdin = "s,i\n1,0\n2,5\n3,2\n4,1.5\n5,-1\n"
    result = run("f(s,i) = ([1,2,3]*s)[i]", "--points", "-", "--format", fmt, input=stdin)
    assert result.exit_code == 1, result.stderr
    if fmt == "jsonl":
        records = jsonl(result.stdout)
        assert [r["line"] for r in records] == [2, 3, 4, 5, 6]
        assert [r.get("value") for r in records] == [1.0, None, 9.0, None, 15.0]
        assert "out of range" in records[1]["error"]["message"]
        assert records[1]["error"]["message"].startswith("line 3")
        assert records[3]["error"]["message"].startswith("line 5")
        assert records[0]["gradient"] == {"s": 1.0}  # i is only an index: no gradient
        for r in records:
            valid("point", r)
        return
    rows = table(result.stdout)
    assert rows[0] == ["s", "i", "f", "df/ds", "error"]
    assert rows[1] == ["1.0", "0.0", "1.0", "1.0", ""]
    assert rows[2][:4] == ["", "", "", ""] and rows[2][4].startswith("line 3") and "out of range" in rows[2][4]
    assert rows[3] == ["3.0", "2.0", "9.0", "3.0", ""]
    assert rows[4][:4] == ["", "", "", ""] and rows[4][4].startswith("line 5")
    assert rows[5] == ["5.0", "-1.0", "15.0", "3.0", ""]
    assert len(rows) == 6


def test_points_bad_json_lines() -> None:
    W = "W=[[0.1,0.5],[-0.3,0.8]]"
    lines = [
        '{"x": [1, 2]}',  # 1 good
        '{"x": [1, 2, 3]}',  # 2 shape mismatch in W @ x
        "not json",  # 3
        "[1, 2]",  # 4 not an object
        '{"x": ["a", 2]}',  # 5 not numbers
        '{"x": [1, 2], "q": 1}',  # 6 names no variable
        '{"x": [1, 2], "W": [[1, 0], [0, 1]]}',  # 7 also given in --at
        "{}",  # 8 no value for x
        "",  # 9 blank: skipped
        '{"x": [[1, 2], [3]]}',  # 10 ragged
        '{"x": [3, 4]}',  # 11 good
    ]
    result = run("f(W,x) = sum((W @ x)^2)", "--at", W, "--points", "-", "--format", "jsonl",
                 input="\n".join(lines) + "\n")
    assert result.exit_code == 1
    records = jsonl(result.stdout)
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5, 6, 7, 8, 10, 11]
    assert [("error" in r) for r in records] == [False] + [True] * 8 + [False]
    messages = {r["line"]: r["error"]["message"] for r in records if "error" in r}
    for line, message in messages.items():
        assert message.startswith(f"line {line}"), message
    assert "columns of W" in messages[2] or "(2, 2) @ (3,)" in messages[2]
    assert "not valid JSON" in messages[3]
    assert "q names no variable" in messages[6]
    assert "W is also given in --at" in messages[7]
    assert "no value for x" in messages[8]
    assert records[0]["value"] == pytest.approx(2.9, rel=1e-14)
    assert records[-1]["value"] == pytest.approx(10.58, rel=1e-14)
    for r in records:
        valid("point", r)


def test_points_all_rows_good_exit_0_and_domain_problems_only_exit_0() -> None:
    assert run("f(x,y) = log(x)*y", "--points", "-", input="x,y\n1,2\n3,4\n").exit_code == 0
    for fmt in ("csv", "tsv", "jsonl"):
        result = run("f(x,y) = log(x)*y", "--points", "-", "--format", fmt, input="x,y\n-1,2\n0,3\n2,1\n")
        assert result.exit_code == 0, (fmt, result.stdout)
    result = run("f(a,b) = a/b", "--points", "-", input="a,b\n1,0\n")
    assert result.exit_code == 0
    assert table(result.stdout)[1] == ["1.0", "0.0", "inf", "inf", "-inf", "f is not finite"]


def test_points_vector_rows_of_another_shape_written_as_csv_are_not_truncated() -> None:
    """BUG: with CSV output the columns come from the first good row; a later row of another shape
    was silently written with that row's columns (x=[1,2,3] became x[0],x[1], and the gradient lost a
    component) with exit status 0. Each row must either fill the header's columns or get an error."""
    result = run("f(x) = sum(x^2)", "--points", "-", input='{"x": [1, 2]}\n{"x": [1, 2, 3]}\n{"x": [3, 4]}\n')
    assert result.exit_code == 1, result.stdout
    rows = table(result.stdout)
    assert rows[0] == ["x[0]", "x[1]", "f", "df/dx[0]", "df/dx[1]", "error"]
    assert rows[1] == ["1.0", "2.0", "5.0", "2.0", "4.0", ""]
    assert rows[2][:5] == ["", "", "", "", ""] and rows[2][5].startswith("line 2"), rows[2]
    assert rows[3] == ["3.0", "4.0", "25.0", "6.0", "8.0", ""]


def test_points_scalar_then_vector_row_written_as_csv_is_not_an_internal_error() -> None:
    """BUG: a scalar first row then a vector row, CSV output: exit status 3 (internal TypeError)
    after part of the output. The vector row should get an error of its own."""
    result = run("f(x) = sum(x^2)", "--points", "-", input='{"x": 1}\n{"x": [1, 2, 3]}\n{"x": 2}\n')
    assert "internal error" not in result.stderr, result.stderr
    assert result.exit_code == 1
    rows = table(result.stdout)
    assert rows[0] == ["x", "f", "df/dx", "error"]
    assert rows[1] == ["1.0", "1.0", "2.0", ""]
    assert rows[2][:3] == ["", "", ""] and rows[2][3].startswith("line 2")
    assert rows[3] == ["2.0", "4.0", "4.0", ""]


# ---------------------------------------------------------------------------
# large inputs, in chunks


@pytest.mark.slow
def test_points_200000_rows_in_chunks(big_csv: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, points = big_csv
    out = tmp_path / "grads.csv"
    with out.open("w", encoding="utf-8") as sink:
        proc = subprocess.run([sys.executable, "-m", "symgrad", NEURON, "--points", str(path)], stdout=sink,
                              stderr=subprocess.PIPE, text=True, env=ENV, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 200_001
    assert lines[0].split(",") == NEURON_HEADER
    # spot checks, on both sides of each chunk boundary (65,536 rows)
    for k in (0, 1, 65_535, 65_536, 65_537, 131_071, 131_072, 196_607, 196_608, 199_999):
        assert_neuron_row(lines[k + 1].split(","), points[k])
    # the output keeps the input order all the way through
    firsts = np.array([float(line.split(",", 1)[0]) for line in lines[1:]])
    assert np.array_equal(firsts, points[:, 0])


@pytest.mark.slow
def test_points_bad_rows_at_a_chunk_boundary_keep_their_line_numbers(tmp_path: Path) -> None:
    points = neuron_points(70_000, seed=4)
    text = [",".join(NEURON_VARS)] + [",".join(map(repr, p)) for p in points.tolist()]
    text[65_536] = "oops,1,2,3,4"  # the last row of the first chunk: input line 65,537
    text[65_537] = "1,2,3"  # the first row of the second chunk: input line 65,538
    result = run(NEURON, "--points", "-", input="\n".join(text) + "\n")
    assert result.exit_code == 1
    rows = table(result.stdout)
    assert len(rows) == 70_001
    assert rows[65_536][-1] == "line 65537: 'oops' is not a number"
    assert rows[65_537][-1].startswith("line 65538 has 3 fields")
    for k in (0, 65_534, 65_537, 65_538, 69_999):
        assert_neuron_row(rows[k + 1], points[k])
    assert sum(1 for r in rows[1:] if r[-1]) == 2


# ---------------------------------------------------------------------------
# --check with --points


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_points_check_adds_verdicts(fmt: str) -> None:
    stdin = "x,y\n0,1\n1,2\n-1,3\n-2,0.5\n"
    result = run("f(x,y) = relu(x)*y + sin(y) + log(y - 1)", "--points", "-", "--check", "--format", fmt,
                 input=stdin)
    assert result.exit_code == 0, result.stdout
    if fmt == "csv":
        rows = table(result.stdout)
        assert rows[0] == ["x", "y", "f", "df/dx", "df/dy", "check", "error"]
        verdicts = [r[5] for r in rows[1:]]
        assert rows[1][-1] != "" and rows[4][-1] != ""  # -inf and nan values: a note, not an error
    else:
        records = jsonl(result.stdout)
        verdicts = [r["check"] for r in records]
        for r in records:
            valid("point", r)
    # y = 1 makes log(0) = -inf, and y = 0.5 a log of a negative number: undefined there, as the check of
    # one point says (at (0, 1) the gradient in y is infinite, in x undefined: the most severe is shown)
    assert verdicts == ["undefined", "excellent", "excellent", "undefined"]


def test_points_check_of_a_non_finite_point_leaks_no_python_warning() -> None:
    """BUG: the finite differences of log(x) at x = 0 subtract -inf from -inf outside np.errstate, and
    Python's 'RuntimeWarning: invalid value encountered in subtract' (with a source line of
    symgrad/pipeline.py) reached the user's stderr. Only symgrad's own messages belong there."""
    for text, stdin, verdict in [("f(x) = log(x)", "x\n0\n", "infinite"),
                                 ("f(x,y) = x*y + log(y - 1)", "x,y\n0,1\n", "undefined")]:
        proc = sg(text, "--points", "-", "--check", input=stdin)
        assert proc.returncode == 0, proc.stderr
        assert table(proc.stdout)[1][-2:] == [verdict, "f is not finite"]
        assert "RuntimeWarning" not in proc.stderr and "pipeline.py" not in proc.stderr, (text, proc.stderr)


def test_points_check_kink_and_pass_verdicts() -> None:
    result = run("f(x,y) = relu(x)*y + sin(y)", "--points", "-", "--check", input="x,y\n0,1\n1,2\n-1,3\n")
    assert result.exit_code == 0
    assert [r[5] for r in table(result.stdout)[1:]] == ["kink", "excellent", "excellent"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_points_check_finds_a_wrong_rule(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sin_with_wrong_sign(monkeypatch)
    result = run("f(x,y) = sin(x)*y", "--points", "-", "--check", "--format", fmt, input="x,y\n0.5,2\n1,3\n")
    assert result.exit_code == 1
    if fmt == "csv":
        assert [r[5] for r in table(result.stdout)[1:]] == ["wrong", "wrong"]
    else:
        assert [r["check"] for r in jsonl(result.stdout)] == ["wrong", "wrong"]


def test_points_without_check_have_no_check_column() -> None:
    result = run("f(x) = x^2", "--points", "-", input="x\n2\n")
    assert table(result.stdout)[0] == ["x", "f", "df/dx", "error"]
    assert "check" not in jsonl(run("f(x) = x^2", "--points", "-", "--format", "jsonl", input="x\n2\n").stdout)[0]


# ---------------------------------------------------------------------------
# symgrad batch


BATCH = [
    '{"id": 1, "expr": "x*y", "at": {"x": 2, "y": 3}}',  # 1 good
    '{"id": "two", "expr": "x*"}',  # 2 parse error
    "",  # 3 blank: no output
    "not json",  # 4 invalid JSON (no id)
    '{"id": 4, "expr": "x*y", "at": {"x": 2}}',  # 5 binding error: no y
    '{"id": 5, "expr": "x*y", "at": "x=2,y=3", "colour": "red"}',  # 6 unknown key
    '{"id": 6, "expr": "log(x)", "at": {"x": -1}}',  # 7 domain problem: a result with warnings
    '{"id": 7, "expr": "f(x,y,z)=(x+y)*z", "at": "x=-2,y=5,z=-4", "expect": "x=-4,y=4,z=3"}',  # 8 wrong answer
    '{"id": 8, "expr": "f(x,y,z)=(x+y)*z", "at": "x=-2,y=5,z=-4", "expect": {"x": -4, "y": -4, "z": 3}}',  # 9
    '{"expr": "x*y", "at": {"x": -1.5, "y": 4}}',  # 10 good, no id
    "[1, 2]",  # 11 not an object
    '{"id": null, "expr": "x*y", "at": {"x": 2, "y": 3, "q": 1}}',  # 12 binding error: no variable q
    '{"id": 13, "expr": "x*"}',  # 13 the same parse error again
    '{"id": [1], "expr": "x*y", "at": {"x": 2, "y": 3}}',  # 14 the first request again
]


def run_batch(lines: list[str], *args: str) -> tuple[Result, list[dict[str, Any]]]:
    result = run("batch", *args, input="\n".join(lines) + "\n")
    records = jsonl(result.stdout)
    for r in records:
        valid("batch", r)
    return result, records


def test_batch_one_line_out_per_line_in_order() -> None:
    result, records = run_batch(BATCH)
    assert result.exit_code == 1
    assert len(records) == len([line for line in BATCH if line.strip()])
    assert [r["line"] for r in records] == [1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    ids = {r["line"]: r.get("id", "<none>") for r in records}
    assert ids == {1: 1, 2: "two", 4: "<none>", 5: 4, 6: 5, 7: 6, 8: 7, 9: 8, 10: "<none>", 11: "<none>",
                   12: None, 13: 13, 14: [1]}
    ok = {r["line"]: r["ok"] for r in records}
    assert ok == {1: True, 2: False, 4: False, 5: False, 6: False, 7: True, 8: False, 9: True, 10: True,
                  11: False, 12: False, 13: False, 14: True}
    by_line = {r["line"]: r for r in records}
    assert by_line[1]["value"] == 6.0 and by_line[1]["gradient"] == {"x": 3.0, "y": 2.0}
    assert by_line[10]["value"] == -6.0 and by_line[10]["gradient"] == {"x": 4.0, "y": -1.5}
    assert by_line[2]["error"]["kind"] == "syntax"
    assert "not valid JSON" in by_line[4]["error"]["message"]
    assert by_line[5]["error"]["kind"] == "binding" and "y" in by_line[5]["error"]["message"]
    assert "colour" in by_line[6]["error"]["message"]
    assert "not a JSON object" in by_line[11]["error"]["message"]
    assert "q" in by_line[12]["error"]["message"]
    for line in (2, 4, 5, 6, 11, 12, 13):
        assert "value" not in by_line[line] and "nodes" not in by_line[line]
    # a domain problem is a result with warnings, as for a single command
    domain = by_line[7]
    assert domain["value"] == "NaN" and domain["gradient"] == {"x": -1.0}
    assert domain["warnings"] and "nan" in domain["warnings"][0]
    # expect: a wrong answer fails the line, a right one passes
    assert by_line[8]["passed"] is False
    assert [a["verdict"] for a in by_line[8]["answers"]] == ["right", "wrong", "right"]
    assert by_line[9]["passed"] is True and by_line[9]["score"]["right"] == 3
    # checks only with --check
    assert all("checks" not in r for r in records)


def test_batch_repeated_expressions_are_answered_consistently() -> None:
    _, records = run_batch(BATCH)
    by_line = {r["line"]: r for r in records}
    first, again = dict(by_line[1]), dict(by_line[14])
    for r in (first, again):
        del r["line"], r["id"]
    assert first == again
    assert by_line[2]["error"] == by_line[13]["error"]
    lines = [json.dumps({"id": k, "expr": "f(x) = x^3 - x", "at": {"x": x}}) for k, x in enumerate([2, -1, 0.5, 2])]
    result, records = run_batch(lines)
    assert result.exit_code == 0
    for r, x in zip(records, [2, -1, 0.5, 2]):
        value, grad = api("f(x) = x^3 - x", x=x)
        assert r["value"] == value and r["gradient"] == grad and r["id"] == r["line"] - 1
    assert records[0] | {"line": 0, "id": 0} == records[3] | {"line": 0, "id": 0}


def test_batch_all_good_exit_0_and_domain_problems_only_exit_0() -> None:
    result, records = run_batch(['{"id": 1, "expr": "x*y", "at": {"x": 2, "y": 3}}',
                                 '{"id": 2, "expr": "log(x)", "at": "x=-1"}',
                                 '{"id": 3, "expr": "1/x", "at": {"x": 0}}'])
    assert result.exit_code == 0, result.stdout
    assert [r["ok"] for r in records] == [True, True, True]
    assert records[2]["value"] == "Infinity" and records[2]["warnings"]


def test_batch_empty_input() -> None:
    result = run("batch", input="")
    assert result.exit_code == 0 and result.stdout == ""


def test_batch_check_adds_checks() -> None:
    result, records = run_batch(['{"id": 1, "expr": "f(x,y,z)=(x+y)*z", "at": "x=-2,y=5,z=-4"}',
                                 '{"id": 2, "expr": "x*", "at": "x=1"}'], "--check")
    assert result.exit_code == 1
    checks = records[0]["checks"]
    assert checks["agree"] is True
    assert checks["symbolic"]["status"] == checks["numeric"]["status"] == "pass"
    assert checks["symbolic"]["derivatives"] == {"x": "z", "y": "z", "z": "n1"}  # n1 = x + y, a node of the graph
    assert {v["verdict"] for v in checks["numeric"]["inputs"].values()} == {"excellent"}
    assert records[0]["ok"] is True and records[1]["ok"] is False


def test_batch_check_finds_a_wrong_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    sin_with_wrong_sign(monkeypatch)
    result, records = run_batch(['{"id": 1, "expr": "sin(x)*y", "at": "x=0.5,y=2"}'], "--check")
    assert result.exit_code == 1
    assert records[0]["ok"] is False
    assert records[0]["checks"]["agree"] is False


# ---------------------------------------------------------------------------
# a closed pipe ends quietly


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_closed_pipe_after_one_line_is_quiet(fmt: str, pipe_csv: tuple[Path, np.ndarray]) -> None:
    path, _ = pipe_csv
    proc = subprocess.Popen([sys.executable, "-m", "symgrad", NEURON, "--points", str(path), "--format", fmt],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert first
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert err == ""
    assert code == 0


def test_closed_pipe_head_in_a_shell_pipeline(pipe_csv: tuple[Path, np.ndarray]) -> None:
    path, _ = pipe_csv
    script = f"'{sys.executable}' -m symgrad '{NEURON}' --points '{path}' | head -1; exit ${{PIPESTATUS[0]}}"
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.stdout == ",".join(NEURON_HEADER) + "\n"
    assert "Traceback" not in proc.stderr and proc.stderr == ""
    assert proc.returncode == 0


def test_closed_pipe_batch_head() -> None:
    requests = "".join(json.dumps({"id": k, "expr": "x*y", "at": {"x": k, "y": 2}}) + "\n" for k in range(3000))
    script = f"'{sys.executable}' -m symgrad batch | head -1; exit ${{PIPESTATUS[0]}}"
    proc = subprocess.run(["bash", "-c", script], input=requests, capture_output=True, text=True, env=ENV,
                          timeout=120)
    assert json.loads(proc.stdout)["id"] == 0
    assert "Traceback" not in proc.stderr and proc.stderr == ""
    assert proc.returncode == 0


# ---------------------------------------------------------------------------
# exit statuses


def test_exit_0_success_with_warnings() -> None:
    result = run("f(x) = log(x)", "--at", "x=-1", "--no-check", "--format", "plain")
    assert result.exit_code == 0
    assert "warning:" in result.stderr and "nan" in result.stderr
    assert "warning:" not in result.stdout


def test_exit_1_when_a_check_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    sin_with_wrong_sign(monkeypatch)
    result = run("f(x, y) = sin(x) * y", "--at", "x=0.5,y=2", "--format", "json")
    assert result.exit_code == 1, result.stderr
    data = strict_json(result.stdout)
    assert data["checks"]["agree"] is False
    assert data["checks"]["symbolic"]["inputs"]["x"]["verdict"] == "wrong"
    assert data["checks"]["numeric"]["inputs"]["x"]["verdict"] == "wrong"
    valid("result", data)
    assert run("f(x, y) = sin(x) * y", "--at", "x=0.5,y=2", "--format", "csv").exit_code == 1
    # the same command with the true rule passes
    monkeypatch.undo()
    assert run("f(x, y) = sin(x) * y", "--at", "x=0.5,y=2", "--format", "json").exit_code == 0


def test_exit_1_for_a_wrong_answer_to_check() -> None:
    result = run("check", HEADLINE, "--at", HEADLINE_AT, "--expect", "x=-4,y=4,z=3")
    assert result.exit_code == 1
    assert run("check", HEADLINE, "--at", HEADLINE_AT, "--expect", "x=-4,y=-4,z=3").exit_code == 0


@pytest.mark.parametrize("args", [
    ["x", "--at", "x=1", "--format", "xml"],
    ["x", "--at", "x=1", "--digits", "0"],
    ["x", "--at", "x=1", "--no-such-option"],
    ["f(x)=(x+", "--at", "x=1"],
    ["--file", "/nonexistent/prog.sg", "--at", "x=1"],
    ["x*y", "--points", "/nonexistent/points.csv"],
    ["batch", "--no-such-option"],
])
def test_exit_2_for_bad_input(args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.strip()
    assert "Traceback" not in result.stderr


def test_exit_2_unreadable_points_names_the_file() -> None:
    result = run("x*y", "--points", "/nonexistent/points.csv", "--format", "jsonl")
    assert result.exit_code == 2
    assert "cannot read /nonexistent/points.csv" in result.stderr
    data = strict_json(result.stdout)
    valid("error", data)
    assert data["error"]["kind"] == "io"


def test_exit_130_on_sigint() -> None:
    """A batch reading from a pipe that stays open, interrupted: status 130, no traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "symgrad", "batch"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write('{"id": 1, "expr": "x*y", "at": {"x": 2, "y": 3}}\n')
        proc.stdin.flush()
        first = json.loads(proc.stdout.readline())  # now it waits for the next line
        assert first["id"] == 1 and first["ok"] is True
        proc.send_signal(signal.SIGINT)
        # stdin stays open until the process has ended: the interrupt ends it, not the end of its input
        proc.wait(timeout=60)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert out == ""


# ---------------------------------------------------------------------------
# JSON Schemas


def test_schema_result_scalar() -> None:
    data = run_json(HEADLINE, "--at", HEADLINE_AT, "--no-check")
    valid("result", data)
    assert data["gradient"] == {"x": -4.0, "y": -4.0, "z": 3.0} and "jacobian" not in data


def test_schema_result_nan() -> None:
    data = run_json("f(x) = log(x) + sqrt(x)", "--at", "x=-1", "--no-check")
    valid("result", data)
    assert data["value"] == "NaN"


def test_schema_result_tensor_with_jacobian() -> None:
    data = run_json("f(W,x) = W @ x", "--at", "W=[[1,2],[3,4]],x=[0.5,-1]", "--no-check")
    valid("result", data)
    assert "gradient" not in data
    assert np.shape(data["jacobian"]["W"]) == (2, 2, 2) and np.shape(data["jacobian"]["x"]) == (2, 2)
    assert data["jacobian"]["x"] == [[1.0, 2.0], [3.0, 4.0]]


def test_schema_result_with_upstream() -> None:
    data = run_json("f(W,x) = W @ x", "--at", "W=[[1,2],[3,4]],x=[0.5,-1]", "--upstream", "[1,-1]",
                    "--no-check")
    valid("result", data)
    assert data["upstream"] == [1.0, -1.0]
    assert data["gradient"]["x"] == [-2.0, -2.0]
    assert data["gradient"]["W"] == [[0.5, -1.0], [-0.5, 1.0]]


def test_schema_result_with_checks_and_exact() -> None:
    data = run_json(HEADLINE, "--at", HEADLINE_AT, "--exact")
    valid("result", data)
    assert data["checks"]["agree"] is True
    assert data["exact"] == {"f": "-12", "x": "-4", "y": "-4", "z": "3"}


def test_schema_error_syntax() -> None:
    data = run_json("f(x)=(x+", "--at", "x=1", code=2)
    valid("error", data)
    assert data["error"]["kind"] == "syntax" and data["error"]["column"] == 9


def test_schema_error_option() -> None:
    result = run("x", "--at", "x=1", "--digits", "0", "--format", "json")
    assert result.exit_code == 2
    data = strict_json(result.stdout)
    valid("error", data)
    assert "--digits" in data["error"]["message"]


def test_schema_error_of_a_points_command() -> None:
    result = run("f(x,y) = x*y", "--points", "-", "--format", "jsonl", input="x,q\n1,2\n")
    assert result.exit_code == 2
    valid("error", strict_json(result.stdout))


def test_schema_check() -> None:
    wrong = run_json("check", HEADLINE, "--at", HEADLINE_AT, "--expect", "x=-4,y=4,z=3", code=1)
    valid("check", wrong)
    assert wrong["passed"] is False and wrong["score"]["right"] == 2
    right = run_json("check", HEADLINE, "--expect", "x=z, y=z, z=x+y")
    valid("check", right)
    assert right["passed"] is True


def test_schema_homework() -> None:
    data = run_json("check", str(LECTURE), code=1)
    valid("homework", data)
    assert data["score"] == {"passed": 3, "total": 6}
    broken = data["problems"][-1]
    assert broken["passed"] is False and "error" in broken


def test_schema_batch_every_line() -> None:
    for args in ([], ["--check"]):
        _, records = run_batch(BATCH, *args)  # run_batch validates each line against the batch schema
        assert len(records) == 13


def test_schema_point_every_line() -> None:
    result = run("f(x,y) = log(x)*y", "--points", "-", "--format", "jsonl", "--check", input=BAD_CSV)
    records = jsonl(result.stdout)
    assert len(records) == 6 and sum("error" in r for r in records) == 3
    for r in records:
        valid("point", r)


@pytest.mark.parametrize(("name", "make"), [
    ("result", lambda: run_json(HEADLINE, "--at", HEADLINE_AT, "--no-check")),
    ("point", lambda: jsonl(run("x*y", "--points", "-", "--format", "jsonl", input="x,y\n1,2\n").stdout)[0]),
    ("batch", lambda: jsonl(run("batch", input='{"expr": "x", "at": "x=1"}\n').stdout)[0]),
    ("error", lambda: strict_json(run("(", "--format", "json").stdout)),
])
def test_schema_rejects_a_record_missing_a_required_key(name: str, make: Any) -> None:
    record = make()
    valid(name, record)
    for key in validator(name).schema["required"]:
        broken = {k: v for k, v in record.items() if k != key}
        with pytest.raises(jsonschema.ValidationError):
            validator(name).validate(broken)


def test_schema_rejects_wrong_types() -> None:
    record = jsonl(run("x*y", "--points", "-", "--format", "jsonl", input="x,y\n1,2\n").stdout)[0]
    with pytest.raises(jsonschema.ValidationError):
        validator("point").validate(record | {"value": "1.0"})  # a number as a string
    with pytest.raises(jsonschema.ValidationError):
        validator("point").validate(record | {"error": {"kind": "point", "message": "m", "line": 1, "column": None}})
    with pytest.raises(ValueError, match="no schema"):
        schemas.load("nonsense")


def test_json_lines_values_are_numbers_as_csv_s_are() -> None:
    # null, true and "3" were read as nan, 1 and 3 (NumPy's conversion); CSV calls '' and 'true' not numbers
    text = '{"x": null, "y": 2}\n{"x": true, "y": 2}\n{"x": 1, "y": "3"}\n{"x": [1, null], "y": 2}\n{"x": 1, "y": 2}\n'
    result = run("x*y", "--points", "-", input=text, code=1)
    lines = result.stdout.splitlines()
    assert lines[5] == "1.0,2.0,2.0,2.0,1.0,"
    for k, name in zip(range(1, 5), ["x", "x", "y", "x"]):
        assert lines[k].endswith(f"line {k}: the value of {name} is not a number or an array of numbers")
    records = jsonl(run("x*y", "--points", "-", "--format", "jsonl", input=text, code=1).stdout)
    assert [r.get("error", {}).get("line") for r in records] == [1, 2, 3, 4, None]
