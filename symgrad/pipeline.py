"""Many points and many expressions, for scripts.

`--points FILE` evaluates one graph over many points: rows are read in
chunks, evaluated together along the leading point axis (no per-point walk
or reparse), and written in input order; a bad row gets an error of its own
and the others go on.  `symgrad batch` answers one JSON request per line;
with `--jobs N`, `answer_batch` shares the lines out over worker processes
(parallel.py) and writes the same records in the same order.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from .engine import Trace, core, evaluate_points
from .errors import SymgradError
from .files import Files
from .graph import Graph
from .numbers import is_number, json_loads, read_number

if TYPE_CHECKING:
    from .app import Tally

Array = np.ndarray
CHUNK = 65_536  # points evaluated together


# ---- reading points ----------------------------------------------------------------------


@dataclass
class Row:
    line: int  # 1-based line in the input
    values: dict[str, Any] | None  # name -> number or nested list
    error: str | None = None


def parse_fields(line: int, fields: list[str], width: int) -> list[float] | str:
    """One CSV row as numbers, or the message that says what is wrong with it."""
    if len(fields) != width:
        return f"line {line} has {len(fields)} fields, the header has {width}"
    try:
        return [read_number(f) for f in fields]
    except ValueError:
        bad = next(f for f in fields if not is_number(f))
        return f"line {line}: {bad.strip()!r} is not a number"


def read_csv(stream: Iterable[str], delimiter: str, variables: list[str], fixed: Mapping[str, Any]) -> Iterator[Row]:
    """Rows of a CSV (or TSV) file whose header names variables."""
    reader = csv.reader(stream, delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return
    _check_header(header, variables, fixed, first=True)
    width = len(header)
    for k, fields in enumerate(reader, start=2):
        if not fields or all(not f.strip() for f in fields):
            continue
        parsed = parse_fields(k, fields, width)
        if isinstance(parsed, str):
            yield Row(k, None, parsed)
        else:
            yield Row(k, dict(zip(header, parsed)))


def read_jsonl(stream: Iterable[str], variables: list[str], fixed: Mapping[str, Any]) -> Iterator[Row]:
    """Rows of JSON Lines: one object {name: number or nested list} per line."""
    for k, text in enumerate(stream, start=1):
        values = jsonl_values(k, text, variables, fixed)
        if isinstance(values, str):
            yield Row(k, None, values)
        elif values is not None:
            yield Row(k, values)


def jsonl_values(k: int, text: str, variables: list[str], fixed: Mapping[str, Any]) -> dict[str, Any] | str | None:
    """Line k of JSON Lines: its object {name: number or nested list}, the message that says what
    is wrong with it, or None for a blank line."""
    if not text.strip():
        return None
    try:
        data = json_loads(text)
    except json.JSONDecodeError as exc:
        return f"line {k} is not valid JSON: {exc.msg} at column {exc.colno}"
    except SymgradError as err:
        return f"line {k}: {err.message}"
    if not isinstance(data, dict):
        return f"line {k} is not a JSON object of variables"
    unknown = [name for name in data if name not in variables]
    if unknown:
        return f"line {k}: {unknown[0]} names no variable of the expression"
    clash = [name for name in data if name in fixed]
    missing = [v for v in variables if v not in data and v not in fixed]
    if clash or missing:
        what = f"{clash[0]} is also given in --at" if clash else f"no value for {', '.join(missing)}"
        return f"line {k}: {what}"
    wrong = next((name for name, v in data.items() if not _numbers(v)), None)
    if wrong is not None:  # as CSV: null, true or "3" is not a number
        return f"line {k}: the value of {wrong} is not a number or an array of numbers"
    return data


def _numbers(value: Any) -> bool:
    """Is this JSON value a number, or nested lists of numbers (true, null and text are not)?  A loop, no recursion."""
    todo = [value]
    while todo:
        v = todo.pop()
        if type(v) is list:
            todo.extend(v)
        elif type(v) is not int and type(v) is not float:
            return False
    return True


def scalar_jsonl(first: str, variables: list[str], fixed: Mapping[str, Any]) -> bool:
    """Does this first line of JSON Lines give every variable as a number (so that the points can
    go as blocks of floats, as CSV's do)?"""
    values = jsonl_values(1, first, variables, fixed)
    return isinstance(values, dict) and bool(values) and all(type(v) in (int, float) for v in values.values())


def read_jsonl_blocks(stream: Iterable[str], variables: list[str], fixed: Mapping[str, Any],
                      size: int = CHUNK) -> tuple[list[str], Iterator[Block]]:
    """JSON Lines of numbers as CSV's blocks of floats (the columns: the variables not in --at).
    A line with an array gets the error that CSV output gives it (its columns are for numbers)."""
    header = [v for v in variables if v not in fixed]

    def row(k: int, values: dict[str, Any]) -> list[float] | str:
        numbers = []
        for name in header:
            v = values[name]
            if type(v) is not float:
                try:
                    a = np.asarray(v, dtype=float)
                except (ValueError, TypeError):
                    return f"line {k}: a value is ragged or not a number"
                if a.ndim:
                    return (f"line {k}: {name} has shape {a.shape}, but the columns are for shape () "
                            "(use --format jsonl)")
                v = float(a)
            numbers.append(v)
        return numbers

    def blocks() -> Iterator[Block]:
        lines: list[int] = []
        rows: list[list[float]] = []
        errors: dict[int, str] = {}
        for k, text in enumerate(stream, start=1):
            values = jsonl_values(k, text, variables, fixed)
            if values is None:
                continue
            numbers = values if isinstance(values, str) else row(k, values)
            if isinstance(numbers, str):
                errors[len(lines)] = numbers
                numbers = [math.nan] * len(header)
            lines.append(k)
            rows.append(numbers)
            if len(rows) >= size:
                yield Block(lines, np.array(rows, dtype=float).reshape(len(rows), len(header)), errors)
                lines, rows, errors = [], [], {}
        if rows:
            yield Block(lines, np.array(rows, dtype=float).reshape(len(rows), len(header)), errors)

    return header, blocks()


def sniff(first: str) -> str:
    """csv or jsonl, from a stream's first character."""
    return "jsonl" if first.lstrip().startswith("{") else "csv"


def chunks(rows: Iterable[Row], size: int = CHUNK) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# ---- evaluating -------------------------------------------------------------------------


@dataclass
class PointResult:
    line: int
    at: dict[str, Any] | None = None  # a number (a float) or an array, per input
    value: Any = None
    gradient: dict[str, Any] | None = None
    warnings: list[str] | None = None
    error: str | None = None
    check: str | None = None  # the numeric check's verdict at this point, with --check


def evaluate_rows(graph: Graph, rows: list[Row], fixed: Mapping[str, Array], *, check: bool = False
                  ) -> list[PointResult]:
    """Every row of a chunk, evaluated together where their shapes agree; in input order."""
    results: dict[int, PointResult] = {}
    groups: dict[tuple[Any, ...], list[int]] = {}
    arrays: dict[int, dict[str, Array]] = {}
    for k, row in enumerate(rows):
        if row.values is None:
            results[k] = PointResult(row.line, error=row.error)
            continue
        if all(type(v) is float or type(v) is int for v in row.values.values()):  # numbers: the common case
            arrays[k] = row.values
            key = tuple((name, ()) for name in sorted(row.values))
            groups.setdefault(key, []).append(k)
            continue
        try:
            arrays[k] = {name: np.asarray(v, dtype=float) for name, v in row.values.items()}
        except (ValueError, TypeError):
            results[k] = PointResult(row.line, error=f"line {row.line}: a value is ragged or not a number")
            continue
        key = tuple((name, arrays[k][name].shape) for name in sorted(arrays[k]))
        groups.setdefault(key, []).append(k)
    for members in groups.values():
        for k, result in zip(members, _evaluate_group(graph, [arrays[k] for k in members],
                                                      [rows[k].line for k in members], fixed, check)):
            results[k] = result
    return [results[k] for k in range(len(rows))]


def _evaluate_group(graph: Graph, points: list[dict[str, Array]], lines: list[int],
                    fixed: Mapping[str, Array], check: bool) -> list[PointResult]:
    names = list(points[0])
    columns = {name: np.array([p[name] for p in points], dtype=float) for name in names}  # rows of one shape
    try:
        trace = evaluate_points(graph, columns, fixed)
    except SymgradError as err:
        if len(points) == 1:
            return [PointResult(lines[0], error=f"line {lines[0]}: {err.message}")]
        # Find the rows at fault: evaluate them one by one (rare: shape or index errors).
        out = []
        for p, line in zip(points, lines):
            out += _evaluate_group(graph, [p], [line], fixed, check)
        return out
    verdicts = numeric_point_check(trace) if check else None
    return _split(trace, columns, lines, verdicts)


def _split(trace: Trace, columns: dict[str, Array], lines: list[int], verdicts: list[str] | None
           ) -> list[PointResult]:
    graph = trace.graph
    value = np.broadcast_to(trace.value, (len(lines), *trace.out_shape))  # a constant has one value for all
    grads = trace.gradient
    finite = np.isfinite(value.reshape(len(lines), -1)).all(axis=1)
    # numbers as Python floats, arrays as arrays, read by row: one conversion a column, not one an element
    rows = len(lines)
    names = [name for name in graph.variables if name in columns]
    at_columns = [columns[name].tolist() if columns[name].ndim == 1 else columns[name] for name in names]
    values = value.tolist() if value.ndim == 1 else value
    gradient_columns = {v: (np.broadcast_to(g, (rows,)).tolist() if np.ndim(g) <= 1 else g) for v, g in grads.items()}
    out = []
    for k, line in enumerate(lines):
        at = {name: column[k] for name, column in zip(names, at_columns)}
        warnings = None if finite[k] else [f"{graph.output_name} is {'nan' if np.isnan(value[k]).any() else 'inf'}"]
        out.append(PointResult(line, at, values[k], {v: g[k] for v, g in gradient_columns.items()}, warnings,
                               check=None if verdicts is None else verdicts[k]))
    return out


def numeric_point_check(trace: Trace) -> list[str]:
    """The numeric check of every point at once, for scalar inputs, through the same estimator
    and verdict ladder as the check of one point (differences.estimate_all): per point, the most
    severe verdict over its inputs (excellent, fine, zero, kink, infinite, undefined, unstable,
    skipped, suspicious or wrong)."""
    with np.errstate(all="ignore"):
        return _point_verdicts(trace)


def _point_verdicts(trace: Trace) -> list[str]:
    from .differences import DEFAULT_STEP, Probe, estimate_all, kinks_crossed
    from .engine import forward
    from .verdicts import Known, worst

    graph = trace.graph
    count = trace.values[graph.output].shape[0]
    f0 = trace.values[graph.output].reshape(count, 1)
    trouble = _point_trouble(trace)
    known = [Known(unstable="float64 lost a value at this point" if t else "") for t in trouble]
    verdicts: list[list[str]] = [[] for _ in range(count)]
    for name, node in zip(graph.variables, graph.inputs):
        if name in graph.index_only or core(trace.values[node]) != ():
            continue
        x = np.broadcast_to(trace.values[node], (count,))

        def probe(h: Array, rows: Array, name: str = name, x: Array = x) -> Probe:
            outs, crossed, steps = [], [], []
            for sign in (1.0, -1.0):
                inputs = {v: np.broadcast_to(trace.values[i], (count, *core(trace.values[i])))[rows]
                          for v, i in zip(graph.variables, graph.inputs)}
                moved = x[rows] + sign * h
                inputs[name] = moved
                values, _ = forward(graph, inputs, watch=False)
                outs.append(np.broadcast_to(values[graph.output], (rows.size,)).reshape(-1, 1))
                crossed.append(kinks_crossed(graph, [v[rows] if v.shape[0] == count else v for v in trace.values],
                                             values, rows.size))
                steps.append(np.abs(moved - x[rows]))
            return Probe(outs[0], outs[1], crossed[0], crossed[1], steps[0], steps[1])

        backprop = np.broadcast_to(trace.gradient[name], (count,)).reshape(count, 1)
        at_kink = _at_kink(trace, name)
        edge, text = _at_edge(trace, name)
        singular, why = _at_edge(trace, name, singular=True)
        mine = [Known(unstable=k.unstable, edge=text if edge[p] else "", undefined=why if singular[p] else "")
                for p, k in enumerate(known)]
        scale = np.abs(backprop[:, 0])  # backprop's own size: no contributions are recorded for many points
        for k, (verdict, _) in enumerate(estimate_all(f0, backprop, at_kink, np.array(x), DEFAULT_STEP, probe,
                                                      np.where(np.isfinite(scale), scale, 0.0), mine)):
            verdicts[k].append(verdict.name)
    return [worst(v) if v else "skipped" for v in verdicts]


def _point_scales(trace: Trace) -> Array:
    """Per point, the size of its numbers (values and gradients), as checks.scale_of for one point."""
    count = trace.values[trace.graph.output].shape[0]
    biggest = np.zeros(count)
    for a in [*trace.values, *(g for g in trace.grads if g is not None)]:
        if a.shape[0] != count:
            a = np.broadcast_to(a, (count, *a.shape[1:]))
        flat = np.abs(a.reshape(count, -1))
        biggest = np.maximum(biggest, np.where(np.isfinite(flat), flat, 0.0).max(axis=1, initial=0.0))
    return biggest


def _point_trouble(trace: Trace) -> Array:
    """Per point: did float64 lose a value (a node overflowed from finite inputs without being at the
    edge of its domain, or the gradient is nan although every value is finite: 0 * inf)?"""
    from .engine import prim_args

    graph = trace.graph
    count = trace.values[graph.output].shape[0]
    lost = np.zeros(count, dtype=bool)
    all_finite = np.ones(count, dtype=bool)
    undefined_local = np.zeros(count, dtype=bool)  # a gate whose own gradient is nan there (atan2 at 0, 0)
    for i, node in enumerate(graph.nodes):
        v = np.broadcast_to(trace.values[i], (count, *trace.values[i].shape[1:])).reshape(count, -1)
        here = np.isfinite(v).all(axis=1)
        prim = node.prim
        if prim is not None:
            args = [trace.values[j] for j in node.inputs]
            inputs_ok = np.ones(count, dtype=bool)
            for a in args:
                inputs_ok &= np.isfinite(np.broadcast_to(a, (count, *a.shape[1:])).reshape(count, -1)).all(axis=1)
            excused = np.zeros(count, dtype=bool)
            for test in (prim.edge, prim.outside):
                if test is not None:
                    hit = np.asarray(test(*prim_args(prim, args)))
                    excused |= np.broadcast_to(hit, (count, *hit.shape[1:])).reshape(count, -1).any(axis=1)
            if prim.edge is not None and prim.elementwise:
                for partial in prim.partials:
                    local = np.atleast_1d(np.asarray(partial(trace.values[i], *prim_args(prim, args)), dtype=float))
                    nan = np.broadcast_to(np.isnan(local), (count, *local.shape[1:]))
                    undefined_local |= nan.reshape(count, -1).any(axis=1)
            lost |= ~here & inputs_ok & ~excused
        all_finite &= here
    for g in trace.gradient.values():
        nan_gradient = np.isnan(np.broadcast_to(g, (count, *g.shape[1:])).reshape(count, -1)).any(axis=1)
        lost |= all_finite & ~undefined_local & nan_gradient
    return lost


def _at_kink(trace: Trace, name: str) -> Array:
    """Per point: is the point on a kink of a gate that the input's gradient passes through?"""
    from .checks import reached
    from .engine import prim_args

    graph = trace.graph
    count = trace.values[graph.output].shape[0]
    found = np.zeros(count, dtype=bool)
    for i, node in enumerate(graph.nodes):
        prim = node.prim
        if prim is None or prim.kink is None:
            continue
        hit = np.asarray(prim.kink(*prim_args(prim, [trace.values[j] for j in node.inputs])))
        per_point = np.broadcast_to(hit, (count, *hit.shape[1:])).reshape(count, -1).any(axis=1)
        if per_point.any() and name in reached(trace, {i: ""}):
            found |= per_point
    return found


def _at_edge(trace: Trace, name: str, *, singular: bool = False) -> tuple[Array, str]:
    """Per point: is a gate that the input's gradient passes through at the edge of its domain
    (checks.edges_reached, point by point)?  And that gate in words.  With `singular`: is its value
    inf or nan there, at its edge or outside its domain (checks.singular_reached, point by point)?"""
    from .checks import reached
    from .engine import prim_args
    from .graph import describe

    graph = trace.graph
    count = trace.values[graph.output].shape[0]
    found = np.zeros(count, dtype=bool)
    text = ""
    for i, node in enumerate(graph.nodes):
        prim = node.prim
        if prim is None or prim.edge is None or prim.edge_text is None:
            continue
        args = prim_args(prim, [trace.values[j] for j in node.inputs])
        hit = np.asarray(prim.edge(*args))
        if singular:
            if prim.outside is not None:
                hit = hit | np.asarray(prim.outside(*args))
            hit = hit & ~np.isfinite(trace.values[i])
        per_point = np.broadcast_to(hit, (count, *hit.shape[1:])).reshape(count, -1).any(axis=1)
        if per_point.any() and name in reached(trace, {i: ""}):
            found |= per_point
            text = text or (f"{graph.labels[i]} = {describe(graph, i)}: "
                            + (prim.edge_text.format(*(graph.labels[j] for j in node.inputs)) if not singular
                               else "not finite here: the function is undefined"))
    return found, text


# ---- the fast path for CSV: whole chunks as float matrices -----------------------------


@dataclass
class Block:
    lines: list[int]  # the input line of each row
    matrix: Array  # rows x columns of floats; rows with errors hold nan
    errors: dict[int, str]  # row index -> message


def read_csv_blocks(stream: Iterable[str], delimiter: str, variables: list[str], fixed: Mapping[str, Any],
                    size: int = CHUNK) -> tuple[list[str], Iterator[Block]]:
    """The header, and the rows in blocks of floats: one conversion per block, not per cell."""
    reader = csv.reader(stream, delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        header = []
    else:
        _check_header(header, variables, fixed, first=True)

    def blocks() -> Iterator[Block]:
        width = len(header)
        lines: list[int] = []
        fields: list[list[str]] = []
        for k, row in enumerate(reader, start=2):
            if not row or all(not f.strip() for f in row):
                continue
            lines.append(k)
            fields.append(row)
            if len(fields) >= size:
                yield _block(lines, fields, width)
                lines, fields = [], []
        if fields:
            yield _block(lines, fields, width)

    return header, blocks()


def _check_header(header: list[str], variables: list[str], fixed: Mapping[str, Any], *, first: bool = False) -> None:
    """The header names each variable not in --at once, and nothing else.  `first`: it is the
    stream's first line, which must not be blank."""
    if first and not any(h for h in header):
        raise SymgradError("points", "the first line of the points is blank: it must be the header naming the "
                           "variables", hint=f"start with a line such as {','.join(variables) or 'x'} (CSV), or "
                           "with a JSON object (JSON Lines)")
    if not header:
        return
    unknown = [h for h in header if h not in variables]
    if unknown:
        raise SymgradError("points", f"the points' column {unknown[0]} names no variable of the expression",
                           hint=f"its variables are: {', '.join(variables) or 'none'}")
    given = sorted(set(header) & set(fixed))
    if given:
        raise SymgradError("points", f"{given[0]} is given both in the points and in --at",
                           hint="give each variable in one place")
    missing = [v for v in variables if v not in header and v not in fixed]
    if missing:
        raise SymgradError("points", f"no value for {', '.join(missing)}: no such column, and not in --at",
                           hint="add a column, or give it for every point with --at")


def _block(lines: list[int], fields: list[list[str]], width: int) -> Block:
    errors: dict[int, str] = {}
    try:
        return Block(lines, np.array(fields, dtype=float).reshape(len(fields), width), errors)
    except ValueError:
        pass  # a bad row somewhere: convert row by row to find it
    matrix = np.full((len(fields), width), np.nan)
    for k, row in enumerate(fields):
        parsed = parse_fields(lines[k], row, width)
        if isinstance(parsed, str):
            errors[k] = parsed
        else:
            matrix[k] = parsed
    return Block(lines, matrix, errors)


def evaluate_block(graph: Graph, header: list[str], block: Block, fixed: Mapping[str, Array], *,
                   check: bool = False) -> tuple[Array, list[str | None], list[str | None]]:
    """Value and gradient columns for a block of scalar points, with per-row errors and check verdicts."""
    good = np.array([k not in block.errors for k in range(len(block.lines))])
    rows = np.flatnonzero(good)
    width = 1 + sum(1 for v in graph.variables if v not in graph.index_only)
    out = np.full((len(block.lines), width), np.nan)
    errors: list[str | None] = [block.errors.get(k) for k in range(len(block.lines))]
    verdicts: list[str | None] = [None] * len(block.lines)
    pending = [rows] if rows.size else []
    while pending:
        part = pending.pop()
        columns = {name: block.matrix[part, j] for j, name in enumerate(header)}
        try:
            trace = evaluate_points(graph, columns, fixed)
        except SymgradError as err:
            if part.size == 1:
                errors[int(part[0])] = f"line {block.lines[int(part[0])]}: {err.message}"
            else:
                half = part.size // 2
                pending += [part[:half], part[half:]]
            continue
        if trace.out_shape != ():
            raise SymgradError("shape", f"the output {graph.output_name} has shape {trace.out_shape}: "
                               "csv and tsv need a scalar output", hint="use --format jsonl")
        out[part, 0] = trace.value
        grads = trace.gradient
        col = 1
        for v in graph.variables:
            if v in graph.index_only:
                continue
            g = grads[v]
            if g.ndim != 1:
                raise SymgradError("shape", f"{v} is not a scalar: csv and tsv need scalar inputs",
                                   hint="use --format jsonl")
            out[part, col] = g
            col += 1
        if check:
            for k, verdict in zip(part, numeric_point_check(trace)):
                verdicts[int(k)] = verdict
    return out, errors, verdicts


def write_block(out: TextIO, delimiter: str, block: Block, header: list[str], graph: Graph,
                fixed: Mapping[str, Array], results: Array, errors: list[str | None],
                verdicts: list[str | None], check: bool) -> None:
    """Rows in input order: inputs, value, gradients at full precision; errors in their own column."""
    inputs = np.column_stack([block.matrix[:, header.index(v)] if v in header else
                              np.full(len(block.lines), float(np.asarray(fixed[v]))) for v in graph.variables])
    table = np.hstack([inputs, results]).tolist()
    width = len(table[0]) if table else 0
    empty = delimiter * (width + (1 if check else 0))
    lines = []
    for k, row in enumerate(table):
        if errors[k] is not None:
            lines.append(empty + _cell(errors[k] or "", delimiter))
            continue
        text = delimiter.join(map(fmt_number, row))
        if check:
            text += delimiter + (verdicts[k] or "")
        warning = "" if np.isfinite(row[len(graph.variables)]) else f"{graph.output_name} is not finite"
        lines.append(text + delimiter + warning)
    out.write("\n".join(lines) + ("\n" if lines else ""))


def _cell(text: str, delimiter: str) -> str:
    if delimiter in text or '"' in text or "\n" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_header(graph: Graph, delimiter: str, check: bool) -> str:
    d = graph.output_name
    names = list(graph.variables) + [d] + [f"d{d}/d{v}" for v in graph.variables if v not in graph.index_only]
    return delimiter.join(names + (["check"] if check else []) + ["error"]) + "\n"


# ---- writing ----------------------------------------------------------------------------


def components(name: str, shape: tuple[int, ...]) -> list[tuple[str, tuple[int, ...]]]:
    """Column names of an array's elements: x, or W[0,1]."""
    if shape == ():
        return [(name, ())]
    return [(f"{name}[{','.join(map(str, idx))}]", idx) for idx in np.ndindex(*shape)]


def fmt_number(v: Any) -> str:
    """Full round-trip precision, as CSV text (v a number, or an array of one)."""
    v = float(v)
    return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))


class TableWriter:
    """CSV or TSV: a header, then one row per point, errors in their own column."""

    def __init__(self, out: TextIO, delimiter: str, graph: Graph, shapes: dict[str, tuple[int, ...]],
                 out_shape: tuple[int, ...], with_check: bool) -> None:
        self.out = out
        self.delimiter = delimiter
        self.graph = graph
        self.shapes = shapes
        d = graph.output_name
        self.inputs = [c for v in graph.variables for c in components(v, shapes.get(v, ()))]
        self.input_vars = [v for v in graph.variables for _ in components(v, shapes.get(v, ()))]
        self.value = components(d, out_shape)
        grads = [v for v in graph.variables if v not in graph.index_only]
        self.grads = [(v, c) for v in grads for c in components(v, shapes.get(v, ()))]
        header = [c for c, _ in self.inputs] + [c for c, _ in self.value]
        header += [f"d{d}/d{c}" for _, (c, _) in self.grads] + (["check"] if with_check else []) + ["error"]
        self.width = len(header)
        self.with_check = with_check
        self._writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
        self._scalar = all(idx == () for _, idx in [*self.inputs, *self.value, *(c for _, c in self.grads)])
        self._write(header)

    def _write(self, cells: list[str]) -> None:
        self._writer.writerow(cells)

    def write(self, r: PointResult, fixed: Mapping[str, Array]) -> bool:
        """One row; False when the point failed, or does not fit the columns of the first."""
        if r.error is None and r.at is not None and not (self._scalar and all(type(a) is float for a in r.at.values())):
            wrong = next((v for v, a in r.at.items() if np.shape(a) != self.shapes.get(v, ())), None)
            if wrong is not None:
                r = PointResult(r.line, error=f"line {r.line}: {wrong} has shape {np.shape(r.at[wrong])}, but the "
                                f"columns are for shape {self.shapes.get(wrong, ())} (use --format jsonl)")
        if r.error is not None:
            self._write([""] * (self.width - 1) + [r.error])
            return False
        assert r.at is not None and r.value is not None and r.gradient is not None
        cells = []
        if self._scalar:  # every column a number: no indexing into arrays
            at = r.at
            cells += [fmt_number(at[v] if v in at else fixed[v]) for v in self.input_vars]
            cells.append(fmt_number(r.value))
            cells += [fmt_number(r.gradient[v]) for v, _ in self.grads]
        else:
            for (_, idx), v in zip(self.inputs, self.input_vars):
                source = r.at[v] if v in r.at else fixed[v]
                cells.append(fmt_number(np.asarray(source)[idx]))
            cells += [fmt_number(np.asarray(r.value)[idx]) for _, idx in self.value]
            cells += [fmt_number(np.asarray(r.gradient[v])[idx]) for v, (_, idx) in self.grads]
        if self.with_check:
            cells.append(r.check or "")
        cells.append("; ".join(r.warnings or []))
        self._write(cells)
        return True


def point_record(r: PointResult, graph: Graph) -> dict[str, Any]:
    from .numbers import exact

    if r.error is not None:
        return {"line": r.line,
                "error": {"kind": "point", "message": r.error, "line": r.line, "column": None}}
    assert r.at is not None and r.gradient is not None
    rec: dict[str, Any] = {
        "line": r.line, "at": {k: exact(v) for k, v in r.at.items()},
        "value": exact(r.value), "gradient": {k: exact(v) for k, v in r.gradient.items()},
        "warnings": r.warnings or [],
    }
    if r.check is not None:
        rec["check"] = r.check
    return rec


# ---- symgrad batch in many processes ------------------------------------------------------

# A chunk of batch lines, one task for a worker: enough lines that sending them and their answers is
# a small part of the work (a small request takes about half a millisecond), and few enough that
# the last chunks share out evenly and answers stream.  A chunk also ends at CHUNK_CHARS
# characters, so that the lines in flight stay within WINDOW * jobs * CHUNK_CHARS (beyond one line
# longer than that, which is its own chunk).
CHUNK_LINES = 32
CHUNK_CHARS = 2**20


@dataclass
class BatchState:
    """What answering batch lines needs, in each process that answers them: which files the
    requests may name and the input limit (`files`), --check, the symbolic check's time budget
    (seconds) and size limit, and the graphs of the expressions seen so far."""

    files: Files
    check: bool
    timeout: float
    limit: int
    cache: dict[str, Any] = field(default_factory=dict)


def answer_line(state: BatchState, item: tuple[int, str | None]) -> tuple[int, bool, str]:
    """One batch line, (its number, its text, or None where it was longer than the input limit),
    answered as app.answer_request answers it: (its number, whether it succeeded, its JSON record
    as one line of text, without the newline)."""
    from .app import answer_request
    from .views.json_view import dumps, envelope

    number, line = item
    record = answer_request(line, number, state.cache, state.files, check=state.check, timeout=state.timeout,
                            limit=state.limit)
    return number, bool(record.get("ok", False)), dumps(envelope(record))


def answer_batch(stream: TextIO, state: BatchState, jobs: int, write: Callable[[str], None]) -> Tally:
    """`symgrad batch --jobs N`: the non-blank lines of `stream` answered by `jobs` processes, each
    record passed to `write` in input order as soon as it and every line before it are answered,
    exactly as answering them one by one in this process would (app.answer_request).  Returns the
    app.Tally of the lines.

    Lines are read as they come, never all first: a chunk of lines goes to the pool as soon as the
    next line shows there is more, at most parallel.WINDOW chunks per worker are in flight, and
    whenever reading would wait for the writer the lines read so far are answered (in this process
    while no pool has started: one chunk of work needs none) and the answers written, so that a
    writer that waits for each answer gets it.  Raises SymgradError ("jobs") where a worker died;
    an error reading `stream` is raised after the lines read before it are answered.
    """
    from . import parallel
    from .app import Tally
    from .files import bounded_lines

    tally = Tally()
    chunk: list[tuple[int, str | None]] = []
    size = 0  # the characters of `chunk`
    full: tuple[list[tuple[int, str | None]], int] | None = None  # a full chunk, sent when more comes
    interrupted = False  # the pool or the output failed while reading waited, not the reading itself

    def emit(answer: tuple[int, bool, str]) -> None:
        number, ok, text = answer
        tally.add(number, ok)
        write(text)

    args = (state.files, state.check, state.timeout, state.limit)
    budget = parallel.WINDOW * jobs * CHUNK_CHARS
    with parallel.Ordered(jobs, answer_line, BatchState, args, emit, budget=budget) as pool:

        def send_all() -> None:
            """Send (or, with no pool started, answer here) every line read so far."""
            nonlocal full, chunk, size
            for lines, chars in ([full] if full else []) + ([(chunk, size)] if chunk else []):
                if pool.started:
                    pool.put(lines, chars)
                    continue
                results, failed = parallel.apply(answer_line, state, lines)
                for answer in results:
                    emit(answer)
                if failed is not None:
                    raise failed.exc
            full, chunk, size = None, [], 0

        def idle(fd: int) -> None:
            nonlocal interrupted
            try:
                send_all()
                pool.wait_for_input(fd)
            except BaseException:
                interrupted = True
                raise

        lines = enumerate(bounded_lines(parallel.watched_stdin(stream, idle), state.files.limit), start=1)
        while True:
            try:
                number, line = next(lines)
            except StopIteration:
                break
            except Exception:
                if not interrupted:  # reading failed: first answer what was read, as one process would have
                    send_all()
                    pool.drain()
                raise
            if line is not None and not line.strip():
                continue
            if full is not None:  # more than one chunk of work: the pool is worth starting
                pool.put(*full)
                full = None
            chunk.append((number, line))
            size += len(line or "")
            if len(chunk) >= CHUNK_LINES or size >= CHUNK_CHARS:
                full, chunk, size = (chunk, size), [], 0
        send_all()
    return tally
