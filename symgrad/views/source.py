"""The program written back out, tidily: "f(x, y, z) = (x + y) * z"."""

from __future__ import annotations

from ..parser import Program, Syntax
from ..primitives import PREC_ATOM, PREC_POWER, PREC_PRODUCT, PREC_SUM, PREC_UNARY

_BINARY = {"add": ("+", PREC_SUM), "sub": ("-", PREC_SUM), "mul": ("*", PREC_PRODUCT),
           "div": ("/", PREC_PRODUCT), "matmul": ("@", PREC_PRODUCT), "pow": ("^", PREC_POWER)}

# Past this length the text is shown as typed, cut short, instead of rewritten.
LIMIT = 240


def program_text(program: Program) -> str:
    raw = program.source.text
    if len(raw) > LIMIT:
        flat = " ".join(raw.split())
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
    if s.text == "neg":
        (t, p), = kids
        return ("-" + (t if p > PREC_UNARY else f"({t})")), PREC_UNARY
    sym, prec = _BINARY[s.text]
    (lt, lp), (rt, rp) = kids
    if s.text == "pow":
        left = lt if lp > PREC_POWER else f"({lt})"
        right = rt if rp >= PREC_UNARY else f"({rt})"
        return f"{left}^{right}", PREC_POWER
    left = lt if lp >= prec else f"({lt})"
    right = rt if rp > prec else f"({rt})"
    return f"{left} {sym} {right}", prec
