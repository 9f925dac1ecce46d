"""Second derivatives as text: the Hessian as a matrix (scalar inputs) or block by block, the
Hessian-vector product, and the checks of each row."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from ..checks import summary
from ..numbers import short
from .plain import Symbols


def lines(rows: list[Any], product: Any, output: str, sym: Symbols, digits: int,
          width: int | None = None) -> list[str]:
    """The Hessian's lines (rows from hessian.hessian), then the Hessian-vector product's (hessian.hvp);
    with `width` (a terminal's columns), the checks' lines wrap between words under their start."""
    d = sym.partial
    out: list[str] = []
    if rows:
        names = [r.variable for r in rows]
        scalars = all(np.shape(b) == () for r in rows for b in r.blocks.values())
        out.append(f"Hessian {d}²{output}/{d}row {d}column:" if scalars else f"Hessian {d}²{output}/{d}a {d}b:")
        if scalars:
            cells = [["", *names]] + [[r.variable, *(short(r.blocks[c], digits) for c in names)] for r in rows]
            widths = [max(len(row[k]) for row in cells) for k in range(len(cells[0]))]
            out += ["  " + "  ".join(cell.rjust(widths[k]) if k else cell.ljust(widths[k])
                                     for k, cell in enumerate(row)).rstrip() for row in cells]
        else:
            for r in rows:
                for c, block in r.blocks.items():
                    head = f"  {d}²{output}/{d}{r.variable}{d}{c} = "
                    text = short(block, digits).replace("\n", "\n" + " " * len(head))
                    out.append(head + text)
        out += [f"  checks of {d}{output}/{d}{r.variable}: {summary(r.checks)[1].removeprefix('checks: ')}"
                for r in rows if r.checks]
    if product is not None:
        out.append("Hessian-vector product H·v:")
        for c, block in product.blocks.items():
            head = f"  (H·v) for {c} = "
            out.append(head + short(block, digits).replace("\n", "\n" + " " * len(head)))
        if product.checks:
            out.append(f"  checks of v·∇{output}: {summary(product.checks)[1].removeprefix('checks: ')}")
    if width is None:
        return out
    return [wrapped for line in out for wrapped in (
        textwrap.wrap(line, width, subsequent_indent="      ", break_long_words=False, break_on_hyphens=False)
        if line.startswith("  checks of") and len(line) > width else [line])]


def failed(rows: list[Any], product: Any) -> bool:
    """Did a check find backprop through the gradient graph wrong?"""
    found = [*rows, *([product] if product is not None else [])]
    return any(c.failed for r in found for c in r.checks)


def json(rows: list[Any], product: Any) -> dict[str, Any]:
    """The JSON of the second derivatives: hessian {row: {column: block}} shaped row's shape +
    column's shape, hvp {input: value}, and each one's checks."""
    from ..numbers import exact
    from .json_view import check_json

    out: dict[str, Any] = {}
    if rows:
        out["hessian"] = {r.variable: {c: exact(b) for c, b in r.blocks.items()} for r in rows}
        out["hessian_checks"] = {r.variable: _checks(r.checks, check_json) for r in rows if r.checks}
    if product is not None:
        out["hvp"] = {c: exact(b) for c, b in product.blocks.items()}
        if product.checks:
            out["hvp_checks"] = _checks(product.checks, check_json)
    return out


def _checks(checks: list[Any], check_json: Any) -> dict[str, Any]:
    agree, line = summary(checks)
    return {c.kind: check_json(c) for c in checks} | {"agree": agree, "summary": line}
