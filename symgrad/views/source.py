"""The program written back out, tidily: "f(x, y, z) = (x + y) * z"."""

from __future__ import annotations

import re

from ..parser import Program, Syntax
from ..primitives import PREC_ATOM, PREC_UNARY, PRIMITIVES

# Past this length the text is shown as typed, cut short, instead of rewritten.
LIMIT = 240


def program_text(program: Program) -> str:
    """The program in one line: its statements rewritten tidily and joined with "; ", comments
    dropped.  A program longer than LIMIT characters is shown as typed (comments dropped, lines
    joined with "; "), cut short with "…": rewriting a long one would cost more than it shows."""
    raw = re.sub(r"#[^\n]*", "", program.source.text)
    if len(raw) > LIMIT:
        flat = "; ".join(" ".join(line.split()) for line in raw.splitlines() if line.strip())
        return flat[: LIMIT - 1] + "…"
    text: dict[int, tuple[str, int]] = {}
    for i, s in enumerate(program.syntax):
        text[i] = _write(s, text)
    parts = []
    for st in program.statements:
        rhs = text[st.rhs][0]
        parts.append(rhs if st.lhs is None else f"{text[st.lhs][0]} = {rhs}")
    return "; ".join(parts)


def _write(s: Syntax, done: dict[int, tuple[str, int]]) -> tuple[str, int]:
    """One entry's text and precedence, from its children's (already written)."""
    kids = [done[c] for c in s.children]
    if s.kind in ("num", "name"):
        return s.text, PREC_ATOM
    if s.kind == "call":
        return f"{s.text}({', '.join(k[0] for k in kids)})", PREC_ATOM
    if s.kind == "array":
        return f"[{', '.join(k[0] for k in kids)}]", PREC_ATOM
    if s.kind in ("index", "attr"):
        (t, p), rest = kids[0], kids[1:]
        base = t if p >= PREC_ATOM else f"({t})"
        if s.kind == "attr":
            return f"{base}.{s.text}", PREC_ATOM
        return f"{base}[{', '.join(k[0] for k in rest)}]", PREC_ATOM
    prim = PRIMITIVES[s.text]  # an operator: the table says how it is written and how it binds
    prec = prim.prec
    if len(kids) == 1:
        (t, p), = kids
        return prim.write([t if p > prec else f"({t})"]), prec
    (lt, lp), (rt, rp) = kids
    if prim.right_assoc:  # a^b^c is a^(b^c); a unary minus binds looser than ^ on the left only
        return prim.write([lt if lp > prec else f"({lt})", rt if rp >= PREC_UNARY else f"({rt})"]), prec
    return prim.write([lt if lp >= prec else f"({lt})", rt if rp > prec else f"({rt})"]), prec
