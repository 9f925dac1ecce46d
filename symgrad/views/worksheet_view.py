"""Worksheets as people fill them in (plain text) and as graders read them (JSON, a homework TOML)."""

from __future__ import annotations

from typing import Any

from ..binding import split_top
from ..numbers import exact, short
from ..worksheet import Worksheet

BLANK = "______"


def plain(sheets: list[Worksheet], *, key: bool = False, digits: int = 4, sym_partial: str = "∂") -> str:
    """Each worksheet as a table: node, what it computes, value, gradient; blanks where the student
    writes (or, with `key`, the answers)."""
    parts = []
    for ws in sheets:
        who = f"{ws.student}: " if ws.student else ""
        point = ", ".join(piece.replace("=", " = ", 1) for _, piece in split_top(ws.at))
        head = f"{who}{ws.function}    at {point}"
        rows = [["node", "computes", "value", f"{sym_partial}{ws.output}/{sym_partial}node"]]
        for r in ws.rows:
            value = short(r.value, digits, oneline=True) if r.value_given or key else BLANK
            if r.gradient is None:
                grad = "-"
            else:
                grad = short(r.gradient, digits, oneline=True) if r.gradient_given or key else BLANK
            rows.append([r.label, r.computes, value, grad])
        widths = [max(len(row[c]) for row in rows) for c in range(4)]
        lines = [head, ""] + ["  ".join(row[c].ljust(widths[c]) for c in range(4)).rstrip() for row in rows]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def record(ws: Worksheet) -> dict[str, Any]:
    """One worksheet as JSON: the program, the point, the rows (values and gradients exact) and the key."""
    return {
        "student": ws.student, "function": ws.function, "at": ws.at, "output": ws.output,
        "rows": [{"node": r.label, "computes": r.computes, "value": exact(r.value),
                  "gradient": None if r.gradient is None else exact(r.gradient),
                  "value_given": r.value_given, "gradient_given": r.gradient_given} for r in ws.rows],
        "key": ws.key(),
    }


def homework_toml(sheets: list[Worksheet]) -> str:
    """A homework file with the key: one [[problem]] per worksheet (named after its student), whose
    `expect` fills every blank; `symgrad check` grades it, and `symgrad grade` grades a class with it.
    The values are written by tomli_w."""
    import tomli_w

    chunks = []
    for k, ws in enumerate(sheets, start=1):
        table = {"name": ws.student or f"worksheet {k}", "function": ws.function, "at": ws.at,
                 "expect": ", ".join(ws.key()), "points": 1}
        chunks.append("[[problem]]\n" + tomli_w.dumps(table))
    return "\n".join(chunks)
