"""Shared test helpers: independent ways to get gradients."""

from __future__ import annotations

import symgrad


def numeric_grad(text: str, h: float = 1e-6, **at: float) -> dict[str, float]:
    """Centred finite differences of symgrad's forward value, independent of the backward pass."""
    graph = symgrad.parse(text)
    out = {}
    for name in graph.variables:
        hi = dict(at, **{name: at[name] + h})
        lo = dict(at, **{name: at[name] - h})
        fh = float(symgrad.evaluate(graph, hi).value)
        fl = float(symgrad.evaluate(graph, lo).value)
        out[name] = (fh - fl) / (2 * h)
    return out
