from __future__ import annotations

import numpy as np
import pytest

import symgrad


def grad_at(text: str, **at: float) -> tuple[float, dict[str, float]]:
    trace = symgrad.evaluate(symgrad.parse(text), at)
    return float(trace.value), {k: float(v) for k, v in trace.gradient.items()}


def numeric_grad(text: str, h: float = 1e-6, **at: float) -> dict[str, float]:
    """Centred finite differences, independent of the backward pass."""
    graph = symgrad.parse(text)
    out = {}
    for name in graph.variables:
        hi = dict(at, **{name: at[name] + h})
        lo = dict(at, **{name: at[name] - h})
        fh = float(symgrad.evaluate(graph, hi).value)
        fl = float(symgrad.evaluate(graph, lo).value)
        out[name] = (fh - fl) / (2 * h)
    return out


@pytest.fixture
def close():
    def check(a: object, b: object, rtol: float = 1e-9, atol: float = 1e-12) -> None:
        np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=atol)

    return check
