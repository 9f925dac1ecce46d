"""What the tests share: the command run in-process, its JSON, traces, comparing numbers, and
finite differences. Test files import from here (`from support import run, run_json, ...`);
tests/ is on sys.path under pytest, and for `python tests/transcripts.py`.

Tests that need a real process (`python -m symgrad` for encodings, terminals, closed pipes,
signals, what gets imported) run one themselves; everything else goes through `run`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from click.testing import CliRunner, Result

import symgrad
from symgrad import primitives as P
from symgrad.binding import parse_at
from symgrad.cli import main

if TYPE_CHECKING:
    import pytest


# ---- the command line, in this process --------------------------------------------------------


def no_traceback(result: Any) -> None:
    """Neither stdout nor stderr of a result (CliRunner's or a subprocess's) shows a Python traceback."""
    out = result.stdout + result.stderr
    if isinstance(out, bytes):
        out = out.decode("utf-8", "replace")
    assert "Traceback" not in out, out
    assert 'File "' not in out, out


def run(*args: str, input: str | None = None, env: Mapping[str, str] | None = None,
        code: int | None = None, charset: str = "utf-8") -> Result:
    """`symgrad ARGS...` through click's CliRunner, in this process, its stdout not a terminal.

    Whatever the arguments, it must end normally or by an exit (0, 1, 2, 3, 130): any other
    exception would have been a traceback for the user, and no traceback may be printed either.
    With `code`, the exit status must be that. `charset` is the encoding of stdin, stdout and
    stderr, as PYTHONIOENCODING sets it for a real process: with "ascii", writing anything
    else fails.
    """
    result = CliRunner(charset=charset).invoke(main, list(args), input=input, env=env, prog_name="symgrad")
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), (result.exception, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr, (result.stdout, result.stderr)
    if code is not None:
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def strict_json(text: str) -> Any:
    """Exactly one strict JSON value: NaN and Infinity literals are refused."""
    return json.loads(text, parse_constant=_no_constant)


def jsonl(text: str) -> list[Any]:
    """JSON Lines, each line one strict JSON value, the last line ended."""
    assert text.endswith("\n") or text == ""
    return [strict_json(line) for line in text.splitlines()]


def run_json(*args: str, input: str | None = None, env: Mapping[str, str] | None = None,
             code: int = 0) -> dict[str, Any]:
    """`symgrad ARGS... --format json`: the exit status is `code` and stdout is one strict JSON object.
    The option goes before a `--` (after which everything is the expression)."""
    cut = args.index("--") if "--" in args else len(args)
    result = run(*args[:cut], "--format", "json", *args[cut:], input=input, env=env, code=code)
    data = strict_json(result.stdout)
    assert isinstance(data, dict)
    return data


# ---- traces ------------------------------------------------------------------------------------


def trace_of(text: str | symgrad.Graph, at: str | None = None, /, *, upstream: Any = None, expand: bool = False,
             **values: Any) -> symgrad.Trace:
    """Parse (unless given a graph) and evaluate at a point: `trace_of("f(x)=x*x", x=3)`, or with the
    point as `--at` text, `trace_of("f(x)=x*x", "x=3")`. No Python warning (a NumPy RuntimeWarning)
    may escape the engine: domain problems are the trace's own warnings."""
    graph = text if isinstance(text, symgrad.Graph) else symgrad.parse(text, expand=expand)
    point = dict(parse_at([at])[0]) if at is not None else {}
    point.update(values)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return symgrad.evaluate(graph, point, upstream=upstream)


# ---- numbers -----------------------------------------------------------------------------------


def close(actual: Any, expected: Any, rtol: float = 1e-9, atol: float = 1e-12) -> None:
    """Numbers or arrays of one shape, equal to within rtol and atol, elementwise."""
    a, b = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def finite_differences(text: str | symgrad.Graph, at: Mapping[str, Any], h: float = 1e-6) -> dict[str, Any]:
    """The derivative of the output with respect to each input by centred differences of symgrad's
    own forward value, one element at a time (no backward pass involved), with the step h times
    max(1, |x|). Shaped output shape + input shape; a float where both are scalars. Inputs used only
    as indices are left out."""
    graph = text if isinstance(text, symgrad.Graph) else symgrad.parse(text)
    base = {k: np.asarray(v, dtype=float) for k, v in at.items()}
    out_shape = np.shape(trace_of(graph, **base).value)
    result: dict[str, Any] = {}
    for name in graph.variables:
        if name in graph.index_only:
            continue
        x = base[name]
        jac = np.zeros(out_shape + x.shape)
        for idx in np.ndindex(x.shape):
            step = h * max(1.0, abs(float(x[idx])))
            hi, lo = x.copy(), x.copy()
            hi[idx] += step
            lo[idx] -= step
            f_hi = np.asarray(trace_of(graph, **{**base, name: hi}).value, dtype=float)
            f_lo = np.asarray(trace_of(graph, **{**base, name: lo}).value, dtype=float)
            jac[(..., *idx)] = (f_hi - f_lo) / (2 * step)
        result[name] = float(jac) if jac.shape == () else jac
    return result


# ---- a wrong rule, on purpose ------------------------------------------------------------------


def sin_with_wrong_sign(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put a wrong local gradient for sin (-cos) into the primitive table, for this test only."""
    prim = P.PRIMITIVES["sin"]
    monkeypatch.setitem(P.PRIMITIVES, "sin", dataclasses.replace(prim, partials=(lambda out, x: -np.cos(x),)))


def hang_in_child(monkeypatch: pytest.MonkeyPatch, target: object, name: str) -> None:
    """Make `target.name` (a SymPy function, say) never return in a forked child, the process the
    symbolic work runs in under its time budget: the budget, not the speed of this machine, then
    ends the work. In this process it is the original."""
    parent = os.getpid()
    original = getattr(target, name)

    def hang(*args: Any, **kwargs: Any) -> Any:
        if os.getpid() == parent:
            return original(*args, **kwargs)
        while True:  # until the budget's end kills this process
            time.sleep(60)

    monkeypatch.setattr(target, name, hang)


def formula_value(trace: symgrad.Trace, text: str) -> Any:
    """A derivative formula as symgrad prints it (in the graph's labels), parsed back by the grammar
    and evaluated at the trace's point: every name it uses is a label of the table."""
    from symgrad import primitives as P
    from symgrad.parser import parse

    graph = trace.graph
    values = {graph.labels[i]: trace.value_of(trace.values[i]) for i in range(len(graph.nodes)) if graph.labels[i]}
    names = sorted({s.text for s in parse(text, "formula", start="value").syntax
                    if s.kind == "name" and (s.text in values or s.text not in P.CONSTANTS)})
    program = f"g({', '.join(names)}) = {text}" if names else text
    return symgrad.evaluate(symgrad.parse(program), {n: values[n] for n in names}).value
