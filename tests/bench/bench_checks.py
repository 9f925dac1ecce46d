"""Benchmark: whole checked `symgrad` commands against the cost of importing their libraries.

Run by hand (not in CI):  python tests/bench/bench_checks.py [--repeat N]

A checked command must import SymPy, NumPy, Lark and Click whatever symgrad does, so the
floor is a Python process that imports just those (and Rich):
`python -c "import sympy, numpy, lark, click, rich"`. Each command is timed as a whole
process (the `symgrad` console script of this interpreter's environment, run on this
checkout, output to /dev/null), N times, interleaved so that a change of load hits every
command alike; the median is reported, and the minimum. The targets:

- the headline, symgrad "f(x,y,z)=(x+y)*z" --at x=-2,y=5,z=-4, within 1.3x the floor;
- the lecture's sigmoid neuron written out, and the staged program examples/staged.sg,
  within 1.5x the floor.

The headline with --no-check --format json needs no SymPy: it is set against
`python -c "import numpy, lark, click"`, without a target. This is a report: nothing here
fails on a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STAGED = ROOT / "examples" / "staged.sg"

FLOOR = "import sympy, numpy, lark, click, rich"
FLOOR_NO_CHECK = "import numpy, lark, click"
HEADLINE = ["f(x,y,z)=(x+y)*z", "--at", "x=-2,y=5,z=-4"]
SIGMOID = ["f(w0,x0,w1,x1,w2) = 1/(1+exp(-(w0*x0+w1*x1+w2)))", "--at", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3"]
STAGED_ARGS = ["--file", str(STAGED), "--at", "x=3,y=-4"]


def symgrad_command() -> list[str]:
    """The console script next to this interpreter, or `python -m symgrad` where there is none."""
    script = Path(sys.executable).with_name("symgrad.exe" if os.name == "nt" else "symgrad")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "symgrad"]


def once(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                   check=False)
    return time.perf_counter() - start


def warm_up(name: str, cmd: list[str], env: dict[str, str]) -> str:
    """Run a command once, untimed (it fills the page cache); stop if it fails, and say if the
    symbolic check was skipped, since the time then measures something else."""
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
        sys.exit(f"{name} failed with exit status {done.returncode}: {last}\n  command: {' '.join(cmd)}")
    skipped = [line.strip() for line in done.stdout.splitlines() if "check skipped" in line]
    return f"   ({skipped[0]})" if skipped else ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    symgrad = symgrad_command()
    # (name, command, floor it is set against, target ratio or None)
    runs: list[tuple[str, list[str], str | None, float | None]] = [
        ("floor", [sys.executable, "-c", FLOOR], None, None),
        ("headline", [*symgrad, *HEADLINE], "floor", 1.3),
        ("sigmoid neuron", [*symgrad, *SIGMOID], "floor", 1.5),
        ("staged program", [*symgrad, *STAGED_ARGS], "floor", 1.5),
        ("floor without sympy", [sys.executable, "-c", FLOOR_NO_CHECK], None, None),
        ("headline, no checks", [*symgrad, *HEADLINE, "--no-check", "--format", "json"], "floor without sympy",
         None),
    ]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    notes = {name: warm_up(name, cmd, env) for name, cmd, _, _ in runs}
    times: dict[str, list[float]] = {name: [] for name, _, _, _ in runs}
    for _ in range(args.repeat):
        for name, cmd, _, _ in runs:
            times[name].append(once(cmd, env))
    median = {name: statistics.median(ts) for name, ts in times.items()}

    labels = {
        "floor": f'floor: python -c "{FLOOR}"',
        "headline": 'headline: symgrad "f(x,y,z)=(x+y)*z" --at x=-2,y=5,z=-4',
        "sigmoid neuron": "sigmoid neuron, written out, with checks",
        "staged program": "staged program, examples/staged.sg, with checks",
        "floor without sympy": f'floor without SymPy: python -c "{FLOOR_NO_CHECK}"',
        "headline, no checks": "headline with --no-check --format json",
    }
    width = max(map(len, labels.values())) + 1
    runner = "python -m symgrad" if len(symgrad) > 1 else symgrad[0]
    busy = "" if load is None else f" (load average {load:.2f} before, {os.getloadavg()[0]:.2f} after)"
    print(f"{args.repeat} runs of each, median (min); {runner}; Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs{busy}")
    for name, _, floor, target in runs:
        ms = f"{median[name] * 1e3:7.0f} ms ({min(times[name]) * 1e3:5.0f})"
        line = f"{labels[name] + ':':<{width}} {ms}"
        if floor is not None:
            ratio = median[name] / median[floor]
            line += f"   {ratio:5.2f}x the floor"
            if target is not None:
                line += f"   target {target:.1f}x: {'met' if ratio <= target else 'not met'}"
        print(line + notes[name])
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not sys.pycache_prefix \
            and not (ROOT / "symgrad" / "__pycache__").is_dir():
        print("(PYTHONDONTWRITEBYTECODE is set and symgrad/ has no __pycache__: symgrad's own modules are "
              "compiled from source in every run, which the floor's installed libraries are not)")


if __name__ == "__main__":
    main()
