"""Tests of the `symgrad` command line: options, output formats, errors and exit statuses.

Most tests run the click command in-process with CliRunner; a few run `python -m symgrad`
as a subprocess to check what only a real process shows (encodings, closed pipes, the
working directory).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import no_traceback, run, run_json, strict_json

import symgrad
from symgrad import primitives as P

ROOT = Path(__file__).resolve().parents[1]
HEADLINE = "f(x,y,z)=(x+y)*z"
POINT = "x=-2,y=5,z=-4"


# ---------------------------------------------------------------------------
# helpers


def summary_parts(stdout: str) -> list[str]:
    """The summary line of a plain table ("f = -12      ∂f/∂x = -4 ..."), split into its parts."""
    lines = stdout.splitlines()[1:]  # after the header line; the checks follow the summary
    line = next(line for line in lines if re.match(r"^[^\s∂]+ = ", line))
    return re.split(r"\s{2,}", line.strip())


def table_rows(stdout: str) -> dict[str, str]:
    """The rows of a plain table by node label (continuation lines left out)."""
    lines = stdout.splitlines()
    assert lines[2].split()[:3] == ["node", "computes", "value"]
    rows: dict[str, str] = {}
    for line in lines[3:]:
        if not line.strip():
            break
        if not line[0].isspace():
            rows[line.split()[0]] = line
    return rows


def sg(*args: str, cwd: Path, env: dict[str, str] | None = None, input: str | None = None,
       timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `python -m symgrad` as a separate process from another directory."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT))
    full_env.pop("SYMGRAD_DEBUG", None)
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "symgrad", *args], cwd=cwd, env=full_env, input=input,
                          capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=timeout)


# ---------------------------------------------------------------------------
# the headline example


def test_headline_plain() -> None:
    result = run(HEADLINE, "--at", POINT)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert summary_parts(result.stdout) == ["f = -12", "∂f/∂x = -4", "∂f/∂y = -4", "∂f/∂z = 3"]
    # the table has the rows of the README: the inputs, n1 = x + y and f = n1 * z
    rows = table_rows(result.stdout)
    assert list(rows) == ["x", "y", "z", "n1", "f"]
    assert "x + y" in rows["n1"] and "n1 * z" in rows["f"]
    assert result.stdout.splitlines()[0].startswith("f(x, y, z) = (x + y) * z")


def test_headline_explicit_grad_subcommand_is_the_same() -> None:
    short = run(HEADLINE, "--at", POINT)
    explicit = run("grad", HEADLINE, "--at", POINT)
    assert explicit.exit_code == 0, explicit.stderr
    assert explicit.stdout == short.stdout


def test_headline_named_intermediate() -> None:
    result = run("q = x + y; f = q * z", "--at", POINT)
    assert result.exit_code == 0, result.stderr
    assert summary_parts(result.stdout) == ["f = -12", "∂f/∂x = -4", "∂f/∂y = -4", "∂f/∂z = 3"]
    rows = table_rows(result.stdout)
    assert list(rows) == ["x", "y", "z", "q", "f"]
    assert "x + y" in rows["q"] and "q * z" in rows["f"]
    data = run_json("q = x + y; f = q * z", "--at", POINT)
    assert data["gradient"] == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert [n["name"] for n in data["nodes"] if n["op"] == "add"] == ["q"]


def test_headline_json() -> None:
    data = run_json(HEADLINE, "--at", POINT)
    assert data["value"] == -12.0
    assert data["gradient"] == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert data["variables"] == ["x", "y", "z"]
    assert data["at"] == {"x": -2.0, "y": 5.0, "z": -4.0}
    assert data["output"] == "f"
    assert data["expression"] == HEADLINE
    assert data["warnings"] == []


# ---------------------------------------------------------------------------
# --format json


def test_json_is_one_strict_object_with_the_documented_keys() -> None:
    result = run(HEADLINE, "--at", POINT, "--format", "json")
    assert result.exit_code == 0
    assert result.stderr == ""
    data = strict_json(result.stdout)  # the whole of stdout: one object and nothing else
    assert isinstance(data, dict)
    for key in ("symgrad_version", "expression", "program", "variables", "at", "output", "value",
                "gradient", "warnings", "kinks", "nodes"):
        assert key in data, key
    assert data["symgrad_version"] == symgrad.__version__
    assert isinstance(data["warnings"], list)


def test_json_nodes_topological_with_output_last() -> None:
    data = run_json("q = x + y; r = q * z; f = r + sin(q) * x", "--at", POINT)
    nodes = data["nodes"]
    seen: set[int] = set()
    for node in nodes:
        for key in ("id", "name", "label", "op", "inputs", "computes", "value", "grad", "local", "downstream"):
            assert key in node, (key, node)
        assert node["id"] not in seen
        assert all(i in seen for i in node["inputs"]), node  # inputs come first
        assert len(node["local"]) == len(node["inputs"]) or node["op"] in ("input", "const")
        assert len(node["downstream"]) == len(node["local"])
        seen.add(node["id"])
    assert nodes[-1]["name"] == data["output"] == "f"
    assert nodes[-1]["value"] == data["value"]
    assert nodes[-1]["grad"] == 1.0
    by_name = {n["name"]: n for n in nodes if n["op"] == "input"}
    assert {k: by_name[k]["grad"] for k in "xyz"} == data["gradient"]


def test_json_contributions_of_a_shared_node() -> None:
    data = run_json("f(x)=x*x+x", "--at", "x=3")
    assert data["value"] == 12.0
    assert data["gradient"] == {"x": 7.0}
    nodes = {n["id"]: n for n in data["nodes"]}
    (x,) = [n for n in data["nodes"] if n["op"] == "input"]
    assert x["grad"] == 7.0
    contributions = x["contributions"]
    assert sum(c["value"] for c in contributions) == x["grad"]
    by_op = {nodes[c["from"]]["op"]: c["value"] for c in contributions}
    assert by_op == {"mul": 6.0, "add": 1.0}
    # nodes with one consumer have no contributions
    assert all("contributions" not in n for n in data["nodes"] if n is not x)


def test_json_downstream_is_null_for_constant_inputs() -> None:
    data = run_json("f(x)=2*x", "--at", "x=1")
    (mul,) = [n for n in data["nodes"] if n["op"] == "mul"]
    const = [n["id"] for n in data["nodes"] if n["op"] == "const"]
    k = mul["inputs"].index(const[0])
    assert mul["downstream"][k] is None
    assert mul["downstream"][1 - k] == 2.0


def test_json_nan_is_a_string_and_a_warning() -> None:
    result = run("log(x)", "--at", "x=-1", "--format", "json")
    assert result.exit_code == 0
    data = strict_json(result.stdout)
    assert data["value"] == "NaN"
    assert data["nodes"][-1]["value"] == "NaN"
    assert data["warnings"] and "nan" in data["warnings"][0]
    assert "warning:" in result.stderr


def test_json_infinities_are_strings() -> None:
    result = run("1/x", "--at", "x=0", "--format", "json")
    assert result.exit_code == 0
    data = strict_json(result.stdout)
    assert data["value"] == "Infinity"
    assert data["gradient"] == {"x": "-Infinity"}
    assert data["warnings"]


def test_json_full_precision_matches_python_api() -> None:
    text = "f(w,x) = sigmoid(w*x)"
    data = run_json(text, "--at", "w=2,x=-1")
    trace = symgrad.evaluate(symgrad.parse(text), {"w": 2, "x": -1})
    recs = symgrad.records(trace)
    assert data["value"] == float(trace.value)  # JSON keeps every bit of the API's float
    assert math.isclose(data["value"], 1 / (1 + math.exp(2)), rel_tol=1e-15)  # sigmoid(-2), independently
    assert data["gradient"] == {k: float(v) for k, v in trace.gradient.items()}
    s = 1 / (1 + math.exp(2))
    assert math.isclose(data["gradient"]["x"], 2 * s * (1 - s), rel_tol=1e-14)  # w * sigmoid'(-2), by hand
    assert len(data["nodes"]) == len(recs)
    for node, rec in zip(data["nodes"], recs):
        assert node["id"] == rec.id
        assert node["value"] == float(rec.value)
        assert node["grad"] == (None if rec.upstream is None else float(rec.upstream))
        assert node["local"] == [None if v is None else float(v) for v in (e.local for e in rec.edges)]
        assert node["downstream"] == [None if v is None else float(v) for v in (e.downstream for e in rec.edges)]


def test_json_full_precision_of_at_values() -> None:
    data = run_json("x+y", "--at", "x=pi/3,y=0.1")
    assert data["at"] == {"x": math.pi / 3, "y": 0.1}
    assert data["value"] == math.pi / 3 + 0.1


# ---------------------------------------------------------------------------
# --format json errors


def test_json_syntax_error() -> None:
    result = run("f(x)=(x+", "--at", "x=1", "--format", "json")
    assert result.exit_code == 2
    data = strict_json(result.stdout)
    err = data["error"]
    for key in ("kind", "message", "line", "column"):
        assert key in err
    assert err["kind"] == "syntax"
    assert err["line"] == 1
    assert err["column"] == 9
    assert "column 6" in err["hint"]
    assert "error:" in result.stderr
    assert err["message"] in result.stderr


def test_json_binding_error() -> None:
    result = run("x + y", "--at", "x=1", "--format", "json")
    assert result.exit_code == 2
    err = strict_json(result.stdout)["error"]
    assert "y" in err["message"]
    assert set(err) >= {"kind", "message", "line", "column"}
    assert err["message"] in result.stderr


def test_json_io_error() -> None:
    result = run("--file", "/nonexistent/prog.sg", "--at", "x=1", "--format", "json")
    assert result.exit_code == 2
    err = strict_json(result.stdout)["error"]
    assert "/nonexistent/prog.sg" in err["message"]
    assert "/nonexistent/prog.sg" in result.stderr


def test_json_strict_error() -> None:
    result = run("log(x)", "--at", "x=-1", "--strict", "--format", "json")
    assert result.exit_code == 2
    err = strict_json(result.stdout)["error"]
    assert "nan" in err["message"]
    assert "error:" in result.stderr


def test_json_option_error_is_json_too() -> None:
    """README: with --format json an error is a JSON object on stdout, with the message on stderr.

    That should hold for a mistake in the options as well, such as an expression starting with '-'.
    """
    result = run("--format", "json", "--at", "x=3", "-x^2")
    assert result.exit_code == 2
    assert "'--'" in result.stderr
    err = strict_json(result.stdout)["error"]
    assert "--" in err["message"]


# ---------------------------------------------------------------------------
# --at


def test_at_commas_inside_brackets() -> None:
    data = run_json("x*y", "--at", "x=pow(2,3),y=1")
    assert data["at"] == {"x": 8.0, "y": 1.0}
    assert data["gradient"] == {"x": 1.0, "y": 8.0}
    data = run_json("x*y", "--at", "x=max(1,min(2,3)),y=(1+2)")
    assert data["at"] == {"x": 2.0, "y": 3.0}


def test_at_negatives_scientific_and_constants() -> None:
    data = run_json("x+y+z+w", "--at", "x=-1e-3,y=2.5e2,z=pi/4,w=-e")
    assert data["at"] == {"x": -0.001, "y": 250.0, "z": math.pi / 4, "w": -math.e}


def test_at_unicode_minus_and_pi() -> None:
    data = run_json("x+y", "--at", "x=−2,y=π")
    assert data["at"] == {"x": -2.0, "y": math.pi}


def test_at_repeated_options_merge() -> None:
    merged = run_json(HEADLINE, "--at", "x=-2", "--at", "y=5,z=-4")
    assert merged["gradient"] == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert merged["at"] == {"x": -2.0, "y": 5.0, "z": -4.0}


def test_at_spaces_around_names() -> None:
    data = run_json("x*y", "--at", "x = 2, y = 3")
    assert data["at"] == {"x": 2.0, "y": 3.0}


@pytest.mark.parametrize(
    ("expr", "at", "needle"),
    [
        pytest.param("x + y", ["x=1"], "y", id="missing"),
        pytest.param("f(x,y)=x*y", ["x=1"], "y", id="missing-with-header"),
        pytest.param("x", ["x=1,w=2"], "w", id="unknown"),
        pytest.param("x", ["x=1,x=2"], "x is given twice", id="repeated"),
        pytest.param("x", ["x=1", "x=2"], "x is given twice", id="repeated-across-options"),
        pytest.param("x + y", ["x=y,y=1"], "y", id="value-uses-variable"),
        pytest.param("x", ["x=1,"], "empty", id="empty-binding"),
        pytest.param("x", ["x="], "x", id="no-value"),
        pytest.param("x", ["x"], "x", id="no-equals"),
        pytest.param("x", ["1x=2"], "1x", id="bad-name"),
        pytest.param("x", ["x=(1"], "never closed", id="unclosed"),
        pytest.param("x", ["x=foo(1)"], "foo", id="unknown-function"),
        pytest.param("x", ["x=1;y=2"], "error:", id="semicolon"),
    ],
)
def test_at_errors(expr: str, at: list[str], needle: str) -> None:
    args = [expr]
    for a in at:
        args += ["--at", a]
    result = run(*args)
    assert result.exit_code == 2, result.stdout
    assert result.stdout == ""
    assert result.stderr.startswith("error:")
    assert needle in result.stderr
    no_traceback(result)


def test_at_error_names_unknown_variable_and_lists_known_ones() -> None:
    result = run("f(x)=x", "--at", "x=1,w=2")
    assert result.exit_code == 2
    assert "no variable w" in result.stderr
    assert "its variables are: x" in result.stderr
    assert "^" in result.stderr  # it points into the --at text


def test_at_value_using_a_variable_is_an_error() -> None:
    result = run("x*y", "--at", "x=2*y,y=1")
    assert result.exit_code == 2
    assert "the value of x" in result.stderr
    assert "uses y" in result.stderr


def test_at_missing_gives_a_hint_with_every_missing_variable() -> None:
    result = run(HEADLINE, "--at", "x=1")
    assert result.exit_code == 2
    assert "no value for y, z" in result.stderr
    assert "--at y=1,z=1" in result.stderr


def test_no_at_for_a_constant_program() -> None:
    data = run_json("2*pi")
    assert data["value"] == 2 * math.pi
    assert data["gradient"] == {}


# ---------------------------------------------------------------------------
# where the program comes from


def test_program_from_file(tmp_path: Path) -> None:
    prog = tmp_path / "prog.sg"
    prog.write_text("# the lecture example\nq = x + y\nf = q * z\n", encoding="utf-8")
    data = run_json("--file", str(prog), "--at", POINT)
    assert data["gradient"] == {"x": -4.0, "y": -4.0, "z": 3.0}
    data = run_json("-f", str(prog), "--at", POINT)
    assert data["value"] == -12.0


def test_program_from_stdin_dash_expr() -> None:
    data = run_json("-", "--at", "x=1,y=2", input="x*y\n")
    assert data["value"] == 2.0
    assert data["gradient"] == {"x": 2.0, "y": 1.0}


def test_program_from_stdin_dash_file() -> None:
    data = run_json("--file", "-", "--at", "x=1,y=2", input="q = x*y\nf = q + 1\n")
    assert data["value"] == 3.0


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sg"
    result = run("--file", str(missing), "--at", "x=1")
    assert result.exit_code == 2
    assert "error:" in result.stderr
    assert str(missing) in result.stderr
    assert "No such file" in result.stderr or "not found" in result.stderr
    assert result.stdout == ""
    no_traceback(result)


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    prog = tmp_path / "latin1.sg"
    prog.write_bytes(b"x * \xff\n")
    result = run("--file", str(prog), "--at", "x=1")
    assert result.exit_code == 2
    assert "error:" in result.stderr
    no_traceback(result)


def test_both_expr_and_file(tmp_path: Path) -> None:
    prog = tmp_path / "prog.sg"
    prog.write_text("x*x\n", encoding="utf-8")
    result = run("x", "--file", str(prog), "--at", "x=1")
    assert result.exit_code == 2
    assert "error:" in result.stderr
    assert "both" in result.stderr
    assert result.stdout == ""


def test_no_program() -> None:
    result = run("grad", "--at", "x=1")
    assert result.exit_code == 2
    assert "no program" in result.stderr


# ---------------------------------------------------------------------------
# arguments that look like options or subcommands


def test_expression_starting_with_minus_after_double_dash() -> None:
    result = run("--at", "x=3", "--", "-x^2")
    assert result.exit_code == 0, result.stderr
    assert summary_parts(result.stdout) == ["f = -9", "∂f/∂x = -6"]
    data = run_json("--at", "x=3", "--", "-x^2")
    assert data["value"] == -9.0
    assert data["gradient"] == {"x": -6.0}


def test_expression_starting_with_minus_without_double_dash() -> None:
    result = run("--at", "x=3", "-x^2")
    assert result.exit_code == 2
    assert "'--'" in result.stderr
    assert "-- -x^2" in result.stderr
    no_traceback(result)


def test_grad_check_differentiates_an_expression_called_check() -> None:
    data = run_json("grad", "check", "--at", "check=2")
    assert data["variables"] == ["check"]
    assert data["value"] == 2.0
    assert data["gradient"] == {"check": 1.0}


def test_grad_grad_differentiates_an_expression_called_grad() -> None:
    data = run_json("grad", "grad*grad", "--at", "grad=3")
    assert data["gradient"] == {"grad": 6.0}
    data = run_json("grad", "grad", "--at", "grad=3")
    assert data["gradient"] == {"grad": 1.0}


def test_options_before_the_expression() -> None:
    data = run_json("--at", POINT, HEADLINE)
    assert data["gradient"] == {"x": -4.0, "y": -4.0, "z": 3.0}


# ---------------------------------------------------------------------------
# --version and --help


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag: str) -> None:
    result = run(flag)
    assert result.exit_code == 0
    assert symgrad.__version__ in result.stdout
    assert "symgrad" in result.stdout


EXPECTED_ARITY = {
    "exp": "x", "log": "x", "log2": "x", "log10": "x", "sqrt": "x", "sin": "x", "cos": "x", "tan": "x",
    "asin": "x", "acos": "x", "atan": "x", "sinh": "x", "cosh": "x", "tanh": "x", "sigmoid": "x",
    "softplus": "x", "relu": "x", "abs": "x", "sign": "x", "step": "x",
    "max": "a, b", "min": "a, b", "pow": "a, b",
}


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["grad", "--help"]])
def test_help_lists_every_function_with_its_arity(args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 0
    text = result.stdout
    for name, params in EXPECTED_ARITY.items():
        assert f"{name}({params})" in text, name
    for name in P.function_names():  # and whatever else the table of primitives has
        assert f"{name}({', '.join(P.PRIMITIVES[name].params)})" in text, name


@pytest.mark.parametrize("args", [["--help"], ["grad", "--help"]])
def test_help_has_worked_examples(args: list[str]) -> None:
    text = run(*args).stdout
    assert "Examples:" in text
    assert 'symgrad "f(x,y,z)=(x+y)*z" --at x=-2,y=5,z=-4' in text
    assert "symgrad --at x=3 -- -x^2" in text
    assert "--file" in text


def test_help_examples_run() -> None:
    """The examples in --help work as written (those not needing a file)."""
    assert run(HEADLINE, "--at", POINT).exit_code == 0
    assert run("q = x + y; f = q * z", "--at", POINT, "--format", "json").exit_code == 0
    assert run("f(w,x) = sigmoid(w*x)", "--at", "w=2,x=-1", "--expand").exit_code == 0
    assert run("-", "--at", "x=1,y=2", input="x*y\n").exit_code == 0


def test_grad_help_lists_options() -> None:
    text = run("grad", "--help").stdout
    for option in ("--at", "--file", "--format", "--expand", "--digits", "--strict"):
        assert option in text


# ---------------------------------------------------------------------------
# warnings and --strict


def test_nan_without_strict_is_a_warning() -> None:
    result = run("log(x)", "--at", "x=-1")
    assert result.exit_code == 0
    assert result.stderr.startswith("warning:")
    assert "nan" in result.stderr
    assert "warning" not in result.stdout
    assert summary_parts(result.stdout)[0] == "f = nan"


def test_nan_with_strict_is_an_error() -> None:
    result = run("log(x)", "--at", "x=-1", "--strict")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error:")
    assert "nan" in result.stderr


def test_inf_with_strict_is_an_error() -> None:
    result = run("1/x", "--at", "x=0", "--strict")
    assert result.exit_code == 2
    assert "error:" in result.stderr


def test_strict_without_problems_is_quiet() -> None:
    result = run(HEADLINE, "--at", POINT, "--strict")
    assert result.exit_code == 0
    assert result.stderr == ""


def test_strict_rejects_a_non_finite_point() -> None:
    """--strict: "nan or inf values are errors"; an infinite --at value makes inf and nan values."""
    result = run("x*0", "--at", "x=1/0", "--strict")
    assert result.exit_code == 2, result.stdout


def test_non_finite_result_from_a_non_finite_point_is_warned_about() -> None:
    """README: results with nan or inf values exit 0 with the warnings on stderr."""
    result = run("x*0", "--at", "x=1e999")
    assert result.exit_code == 0
    assert summary_parts(result.stdout)[0] == "f = nan"
    assert "warning:" in result.stderr


# ---------------------------------------------------------------------------
# --expand


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("f(x)=sigmoid(x)", "x=0.7"),
        ("f(x)=σ(x)", "x=-1.3"),
        ("f(x)=tanh(x)", "x=0.7"),
        ("f(x)=softplus(x)", "x=0.7"),
        ("f(w,x) = sigmoid(w*x)", "w=2,x=-1"),
        ("g(a)=a*a+3*a; f(x)=g(x)*2", "x=1.5"),
        ("g(a, b) = a*b + tanh(a); f(x, y) = g(x, y) + g(y, x)", "x=0.3,y=-0.4"),
    ],
)
def test_expand_same_gradients_more_rows(text: str, at: str) -> None:
    grouped = run_json(text, "--at", at)
    expanded = run_json(text, "--at", at, "--expand")
    assert expanded["gradient"].keys() == grouped["gradient"].keys()
    for k, v in grouped["gradient"].items():
        assert expanded["gradient"][k] == pytest.approx(v, rel=1e-12, abs=1e-15)
    assert expanded["value"] == pytest.approx(grouped["value"], rel=1e-12)
    assert len(expanded["nodes"]) > len(grouped["nodes"])
    if text.startswith("g("):  # a user function is a gate with a `function` until expanded
        assert any(n.get("function") == "g" for n in grouped["nodes"])
        assert not any("function" in n for n in expanded["nodes"])
    else:
        assert {n["op"] for n in grouped["nodes"]} & {"sigmoid", "tanh", "softplus"}
        assert not {n["op"] for n in expanded["nodes"]} & {"sigmoid", "tanh", "softplus"}


def test_expand_user_function_single_op_body() -> None:
    text = "sq(a)=a*a; f(x)=sq(x)+1"
    grouped = run(text, "--at", "x=3")
    expanded = run(text, "--at", "x=3", "--expand")
    assert grouped.exit_code == expanded.exit_code == 0
    assert summary_parts(grouped.stdout) == summary_parts(expanded.stdout) == ["f = 10", "∂f/∂x = 6"]
    assert "grouped gate sq" in grouped.stdout
    assert "grouped gate" not in expanded.stdout
    # sq's body is a single multiplication, so the expanded table is no shorter
    assert len(expanded.stdout.splitlines()) >= len(grouped.stdout.splitlines())


def test_expand_plain_sigmoid_shows_primitives() -> None:
    grouped = run("f(w,x) = sigmoid(w*x)", "--at", "w=2,x=-1")
    expanded = run("f(w,x) = sigmoid(w*x)", "--at", "w=2,x=-1", "--expand")
    assert summary_parts(grouped.stdout) == summary_parts(expanded.stdout)
    assert len(expanded.stdout.splitlines()) > len(grouped.stdout.splitlines())
    assert "exp" in expanded.stdout


# ---------------------------------------------------------------------------
# --digits


def test_digits() -> None:
    four = run("x/3", "--at", "x=1")
    nine = run("x/3", "--at", "x=1", "--digits", "9")
    assert summary_parts(four.stdout)[0] == "f = 0.3333"
    assert summary_parts(nine.stdout)[0] == "f = 0.333333333"


@pytest.mark.parametrize("digits", ["0", "18", "x"])
def test_digits_out_of_range(digits: str) -> None:
    result = run("x", "--at", "x=1", "--digits", digits)
    assert result.exit_code == 2
    assert "--digits" in result.stderr


def test_bad_format() -> None:
    result = run("x", "--at", "x=1", "--format", "xml")
    assert result.exit_code == 2
    assert "--format" in result.stderr


# ---------------------------------------------------------------------------
# syntax errors


def test_syntax_error_plain() -> None:
    result = run("f(x)=(x+", "--at", "x=1")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error:")
    assert "  f(x)=(x+" in lines
    caret = lines[lines.index("  f(x)=(x+") + 1]
    assert caret.strip() == "^"
    assert caret.index("^") == len("  f(x)=(x+")  # just past the end of the text: column 9
    assert any(line.startswith("hint:") and "column 6" in line for line in lines)
    no_traceback(result)


@pytest.mark.parametrize(
    "text",
    ["x +* y", "f(x)=", "(x", "x)", "x y", "1..2", "f(x,)=x", "$x", "g(a)=a; g(1,2)", "foo(x)", "sin(x, y)",
     "x = ", "; ;", "#only a comment", "f(x)=y"],
)
def test_bad_programs_exit_2_with_an_error(text: str) -> None:
    result = run(text, "--at", "x=1")
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith("error:")
    no_traceback(result)


def test_syntax_error_on_a_later_line_names_the_line() -> None:
    result = run("q = x + 1\nf = q *\n", "--at", "x=1", "--format", "json")
    assert result.exit_code == 2
    err = strict_json(result.stdout)["error"]
    assert err["line"] == 2
    assert "line 2" in result.stderr


# ---------------------------------------------------------------------------
# never a traceback

TOKENS = [
    *"+-*/^(),=;\n \t.#xyzabfq0123456789e",
    "**", "sin", "max", "pow", "sigmoid", "log", "σ", "π", "−", "×", "·", "÷", "é", "∂", "𝑥", "ﬁ", "١", "\u200b",
    "1e308", "1e-400", "--", "-", "grad", "check",
]


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=20).map("".join))
def test_random_text_never_a_traceback(text: str) -> None:
    for args in (["--at", "x=1", text], ["--at", "x=1", "--format", "json", "--", text]):
        result = run(*args)
        assert result.exit_code in (0, 2), (text, result.exit_code, result.stdout, result.stderr, result.exception)
        assert result.exception is None or isinstance(result.exception, SystemExit), (text, result.exception)
        assert "Traceback" not in result.stdout + result.stderr
        if "--format" in args and result.stdout:
            data = strict_json(result.stdout)
            assert ("error" in data) == (result.exit_code == 2)


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=12).map("".join))
def test_random_at_text_never_a_traceback(text: str) -> None:
    result = run("x", "--at", text)
    assert result.exit_code in (0, 2), (text, result.stdout, result.stderr, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stdout + result.stderr


def test_deep_nesting_is_not_a_traceback() -> None:
    text = "(" * 3000 + "x" + ")" * 3000
    result = run(text, "--at", "x=1")
    assert result.exit_code in (0, 2)
    no_traceback(result)


# ---------------------------------------------------------------------------
# as a real process


def test_subprocess_from_another_directory_json(tmp_path: Path) -> None:
    proc = sg(HEADLINE, "--at", POINT, "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = strict_json(proc.stdout)
    assert data["gradient"] == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert proc.stderr == ""


def test_subprocess_plain_utf8(tmp_path: Path) -> None:
    proc = sg(HEADLINE, "--at", POINT, cwd=tmp_path, env={"PYTHONIOENCODING": "utf-8"})
    assert proc.returncode == 0, proc.stderr
    assert summary_parts(proc.stdout) == ["f = -12", "∂f/∂x = -4", "∂f/∂y = -4", "∂f/∂z = 3"]
    assert "x ← -4" in proc.stdout


def test_subprocess_ascii_output(tmp_path: Path) -> None:
    proc = sg(HEADLINE, "--at", POINT, cwd=tmp_path, env={"PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    assert "∂" not in proc.stdout and "←" not in proc.stdout
    assert proc.stdout.isascii()
    assert summary_parts(proc.stdout) == ["f = -12", "df/dx = -4", "df/dy = -4", "df/dz = 3"]
    assert "x <- -4" in proc.stdout


def test_subprocess_ascii_output_with_unicode_input(tmp_path: Path) -> None:
    proc = sg("f(x) = σ(x) × π", "--at", "x=1", cwd=tmp_path, env={"PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    assert "∂" not in proc.stdout and "←" not in proc.stdout
    err = sg("f(x) = σ(x) × ", "--at", "x=1", cwd=tmp_path, env={"PYTHONIOENCODING": "ascii"})
    assert err.returncode == 2
    no_traceback(err)
    assert "error:" in err.stderr


def test_subprocess_stdin(tmp_path: Path) -> None:
    proc = sg("-", "--at", "x=2", "--format", "json", cwd=tmp_path, input="f(x) = x^3\n")
    assert proc.returncode == 0, proc.stderr
    assert strict_json(proc.stdout)["gradient"] == {"x": 12.0}


def test_subprocess_error_exit_status(tmp_path: Path) -> None:
    proc = sg("f(x)=(x+", "--at", "x=1", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("error:")
    assert "hint:" in proc.stderr
    no_traceback(proc)


def _long_program(n: int = 1000) -> str:
    """A program whose output (260 kB plain, 850 kB JSON) is far longer than a pipe holds (64 kB)."""
    return "; ".join(["a0 = x"] + [f"a{i} = a{i - 1} * 1.0001 + x" for i in range(1, n)])


@pytest.mark.parametrize("read_first", [200, 0], ids=["after-200-bytes", "before-any-output"])
@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_subprocess_closed_pipe_is_quiet(tmp_path: Path, fmt: str, read_first: int) -> None:
    """Like `symgrad ... | head -c 200`: the reader goes away before symgrad has written everything."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("SYMGRAD_DEBUG", None)
    read_end, write_end = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "symgrad", _long_program(), "--at", "x=1", "--format", fmt],
                            cwd=tmp_path, env=env, stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    try:
        if read_first:
            assert os.read(read_end, read_first)  # the output is far longer than a pipe holds
        os.close(read_end)
        assert proc.stderr is not None
        err = proc.stderr.read().decode("utf-8", "replace")
        proc.wait(timeout=120)
    finally:
        proc.kill()
    assert "Traceback" not in err
    assert "BrokenPipe" not in err
    assert "Exception ignored" not in err
    assert err == ""
    assert proc.returncode == 0
