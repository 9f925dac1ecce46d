"""Where a command's time goes (--timings): seconds per stage, accumulated while the command runs.

Stages are named as users think of them: parse, build, forward, backward, checks, output.  The
clock is read only here, and only the report reads what it measured: no result depends on it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

STAGES = ("parse", "build", "forward", "backward", "checks", "output")
_seconds: dict[str, float] = {}


def reset() -> None:
    """Start a command's measurements afresh."""
    _seconds.clear()


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Count the time inside the block towards stage `name` (stages may repeat, and add up)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        _seconds[name] = _seconds.get(name, 0.0) + time.perf_counter() - start


def report() -> dict[str, float]:
    """Seconds per stage, in STAGES order (stages that did not run are 0), and their total."""
    found = {name: _seconds.get(name, 0.0) for name in STAGES}
    return found | {"total": sum(found.values())}


def line(seconds: dict[str, float]) -> str:
    """timings: parse 0.81 s, build 0.10 s, ... total 1.6 s"""
    return "timings: " + ", ".join(f"{name} {value:.3g} s" for name, value in seconds.items())
