from __future__ import annotations

import numpy as np
import pytest

import symgrad


def grad_at(text: str, **at: float) -> tuple[float, dict[str, float]]:
    trace = symgrad.evaluate(symgrad.parse(text), at)
    return float(trace.value), {k: float(v) for k, v in trace.gradient.items()}


@pytest.fixture
def close():
    def check(a: object, b: object, rtol: float = 1e-9, atol: float = 1e-12) -> None:
        np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=atol)

    return check
