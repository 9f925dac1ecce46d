"""Benchmark: the lecture's sigmoid neuron over 1,000,000 points.

Run by hand (not in CI):  python tests/bench/bench_points.py [--points N]

It times (1) the whole pipeline, `symgrad EXPR --points in.csv > out.csv`, which
reads and writes CSV; (2) symgrad's gradient computation alone on the same arrays
(`evaluate_points`); and (3) hand-written NumPy forward and backward code for the
same function. The computation should be within 2x of the hand-written code, and
the pipeline bound by reading and writing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import symgrad
from symgrad.engine import evaluate_points

EXPR = "f(w0,x0,w1,x1,w2) = sigmoid(w0*x0 + w1*x1 + w2)"  # the neuron with the sigmoid gate
WRITTEN_OUT = "f(w0,x0,w1,x1,w2) = 1/(1+exp(-(w0*x0 + w1*x1 + w2)))"  # the same, gate by gate
NAMES = ["w0", "x0", "w1", "x1", "w2"]


def by_hand(w0: np.ndarray, x0: np.ndarray, w1: np.ndarray, x1: np.ndarray, w2: np.ndarray) -> tuple:
    """The forward and backward pass written out with NumPy, as in the lecture."""
    dot = w0 * x0 + w1 * x1 + w2
    f = 1.0 / (1.0 + np.exp(-dot))
    ddot = (1.0 - f) * f
    return f, (x0 * ddot, w0 * ddot, x1 * ddot, w1 * ddot, ddot)


def best_of(n: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.points
    rng = np.random.default_rng(0)
    cols = {name: rng.normal(0.0, 2.0, n) for name in NAMES}
    graph = symgrad.parse(EXPR)
    written = symgrad.parse(WRITTEN_OUT)

    hand = best_of(args.repeat, lambda: by_hand(*(cols[k] for k in NAMES)))
    ours = best_of(args.repeat, lambda: evaluate_points(graph, cols))
    ours_written = best_of(args.repeat, lambda: evaluate_points(written, cols))
    f, grads = by_hand(*(cols[k] for k in NAMES))
    for g in (graph, written):
        trace = evaluate_points(g, cols)
        assert np.allclose(trace.value, f) and all(np.allclose(trace.gradient[k], d) for k, d in zip(NAMES, grads))

    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "points.csv", Path(tmp) / "grads.csv"
        start = time.perf_counter()
        np.savetxt(src, np.column_stack([cols[k] for k in NAMES]), delimiter=",", header=",".join(NAMES),
                   comments="", fmt="%.17g")
        write_input = time.perf_counter() - start
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
        start = time.perf_counter()
        with open(out, "w") as sink:
            subprocess.run([sys.executable, "-m", "symgrad", EXPR, "--points", str(src)], stdout=sink, check=True,
                           env=env)
        pipeline = time.perf_counter() - start
        with open(out) as written:
            rows = sum(1 for _ in written) - 1

    print(f"points: {n:,}")
    print(f"hand-written NumPy forward + backward: {hand * 1e3:8.1f} ms")
    print(f"symgrad, sigmoid gate:                 {ours * 1e3:8.1f} ms   ({ours / hand:.2f}x the hand-written code)")
    print(f"symgrad, written out gate by gate:     {ours_written * 1e3:8.1f} ms   "
          f"({ours_written / hand:.2f}x the hand-written code)")
    print(f"whole pipeline, CSV in and out:        {pipeline:8.2f} s    ({rows:,} rows written; "
          f"the computation is {100 * ours / pipeline:.1f}% of it)")
    print(f"(writing the input CSV with numpy.savetxt took {write_input:.2f} s)")


if __name__ == "__main__":
    main()
