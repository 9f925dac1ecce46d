"""Benchmark: symgrad against its peers and its speed goals, in one run.

Run by hand (never in CI; nothing here fails on a time):

    python tests/bench/bench_speed.py                  # every section, full sizes (about ten minutes)
    python tests/bench/bench_speed.py --quick          # small sizes, to try the script out (about a minute)
    python tests/bench/bench_speed.py --only long      # one section: long, pathological, startup, points, batch
    python tests/bench/bench_speed.py --only long --large   # and symgrad at 10^6 statements (two more minutes)

Every command is timed as a whole process (wall time, and peak memory from os.wait4), started from this one
process, one at a time: nothing else of the benchmark runs meanwhile, but anything else on the machine
counts, so each table ends with the load average. symgrad is the `symgrad` console script next to this
interpreter, run on this checkout (PYTHONPATH), with bytecode written (PYTHONDONTWRITEBYTECODE dropped), so
that its modules are compiled once, as an installed symgrad's are. Temporary files go to a temporary folder.
Each section prints a table in which every ratio stands beside its goal, with "met" or "not met".

1. long: a random program of N statements (--statements, 100,000 by default; fixed seed), text to gradients
   at a=0.5, b=-0.3: symgrad (`symgrad -f prog.sg --at a=0.5,b=-0.3 --no-check --format csv`) against
   micrograd, from PyPI, in a virtual environment of this benchmark's own (build/bench-env/, or --env; made
   and `pip install micrograd` on the first run, reused after), running the same text as Python with a tanh
   written on its Value, and against PyTorch's scalar autograd (0-d float64 tensors) where `import torch`
   works here. Goals: symgrad / micrograd at most 2.5x (aim 1.5x); symgrad's backward at most 2x its forward
   (from `--timings`); time(N) / time(N/10) at most 11 (--large: 10N against N, i.e. 10^6 against 10^5
   statements); symgrad's peak memory under 2 GB at 10^6 statements. micrograd's and PyTorch's gradients
   are compared with symgrad's.
2. pathological: a 10 MB sum x+x+...+x of 5 million terms, and 10^6 '(' never closed (a clean error,
   exit status 2, no traceback). Goal: each under 60 s; a run is stopped at --timeout (120 s).
3. startup: the headline command, and the same with --no-check --format json, against importing the
   libraries they need (sympy, numpy, lark, click, rich; numpy, lark, click), --repeat times (15)
   interleaved, medians. Goal: at most 1.3x each. The commands are bench_checks.py's.
4. points: the sigmoid neuron of bench_points.py at --points-count points (10^6): the pipeline with JSON
   Lines in against CSV in (goal at most 1.5x), and symgrad's computation against hand-written NumPy
   (goal at most 2x), with bench_points.py's functions (the computation is timed in this process).
5. batch: requests per second of `symgrad batch` for --requests JSON Lines requests of the lecture's kind
   (3,000), without and with --check, and students a minute graded by `symgrad grade` for a class of
   --students (200) made as bench_class.py makes it (goal: 1,200 a minute, bench_class.py's 200 in 10 s);
   both with --jobs 1 and with the default where the command has --jobs.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import filecmp
import importlib.util
import io
import itertools
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SECTIONS = ("long", "pathological", "startup", "points", "batch")
AT = "a=0.5,b=-0.3"
LONG_TIMEOUT = 1800.0  # seconds: the most one long-program process may take before it is stopped
GB = 1e9


def sibling(name: str) -> ModuleType:
    """Import another benchmark of this folder by its path (tests/bench is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------------------
# Running a process


@dataclass
class Run:
    seconds: float
    status: int | None  # the exit status; None when the run was stopped at its time limit
    stdout: str
    stderr: str
    peak: int  # bytes: the largest resident set of the process (and of the children it waited for)

    @property
    def finished(self) -> bool:
        return self.status is not None

    def last_error_line(self) -> str:
        """The line of stderr that says what went wrong: the first error, else the last line."""
        lines = self.stderr.strip().splitlines() or ["(nothing on stderr)"]
        return next((line for line in lines if line.startswith("error")), lines[-1])[:200]


def run(cmd: list[str], tmp: Path, *, timeout: float, env: dict[str, str] | None = None,
        stdin: Path | None = None, stdout: Path | None = None) -> Run:
    """Run a command as a whole process and time it: wall time, exit status, output and peak memory.

    The process gets a session of its own, so that at the time limit it is killed with its children.
    Its resource usage comes from os.wait4, which reports this child alone."""
    out_path = stdout or tmp / "stdout.txt"
    err_path = tmp / "stderr.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err, \
            (open(stdin, "rb") if stdin else contextlib.nullcontext(subprocess.DEVNULL)) as source:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=source, stdout=out, stderr=err, env=env, start_new_session=True)
        stopped = threading.Event()

        def stop() -> None:
            stopped.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, stop)
        timer.start()
        _, wait_status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(wait_status)
    with contextlib.suppress(ProcessLookupError):  # whatever the process left behind in its session
        os.killpg(proc.pid, signal.SIGKILL)
    peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)  # bytes on macOS, KiB on Linux
    text = "" if stdout else out_path.read_text(errors="replace")
    return Run(seconds, None if stopped.is_set() else proc.returncode, text,
               err_path.read_text(errors="replace"), peak)


# ---------------------------------------------------------------------------------------------------------
# Tables


@dataclass
class Table:
    title: str
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    load: float = field(default_factory=lambda: os.getloadavg()[0])  # when the section began

    def add(self, what: str, measured: str, goal: str = "", verdict: str = "") -> None:
        self.rows.append((what, measured, goal, verdict))

    def print(self) -> None:
        self.notes.append(f"load average {self.load:.2f} before, {os.getloadavg()[0]:.2f} after")
        print(f"\n== {self.title} ==")
        header = ("", "measured", "goal", "")
        widths = [max(len(row[k]) for row in [header, *self.rows]) for k in range(4)]
        for k, row in enumerate([header, *self.rows]):
            cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].ljust(widths[2]), row[3]]
            print("  ".join(cells).rstrip())
            if k == 0:
                print("  ".join("-" * w for w in widths))
        for note in self.notes:
            print(f"  {note}")
        sys.stdout.flush()


def verdict(value: float, limit: float, *, aim: float | None = None, at_least: bool = False) -> str:
    def ok(bound: float) -> bool:
        return value >= bound if at_least else value <= bound
    if not ok(limit):
        return "not met"
    if aim is None:
        return "met"
    return "met, and the aim too" if ok(aim) else "met, not the aim"


def seconds(s: float) -> str:
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.2f} s"


def size(n: float) -> str:
    return f"{n / GB:.2f} GB" if n >= GB else f"{n / 1e6:.0f} MB"


def time_or_timeout(r: Run, limit: float) -> str:
    return seconds(r.seconds) if r.finished else f"did not finish in {limit:.0f} s"


# ---------------------------------------------------------------------------------------------------------
# Shared setting


@dataclass
class Setup:
    args: argparse.Namespace
    tmp: Path
    symgrad: list[str]  # the console script next to this interpreter
    env: dict[str, str]  # for symgrad's processes: this checkout on PYTHONPATH, bytecode written


def symgrad_help(setup: Setup, command: str) -> str:
    return subprocess.run([*setup.symgrad, command, "--help"], capture_output=True, text=True, env=setup.env,
                          check=False).stdout


# ---------------------------------------------------------------------------------------------------------
# 1. Long programs

FORMS = ("t{i} = t{a} * t{b} * 0.5", "t{i} = relu(t{a}) - b", "t{i} = t{a} + t{b}", "t{i} = tanh(t{a}) * a")


def long_program(n: int, seed: int = 0) -> str:
    """The issue's random program of n statements: each uses earlier ones; the output the last two."""
    rng = random.Random(seed)
    lines = ["t0 = a * b", "t1 = a + b"]
    for i in range(2, n):
        a, b = rng.randrange(i), rng.randrange(i)
        lines.append(FORMS[rng.randrange(len(FORMS))].format(i=i, a=a, b=b))
    lines.append(f"f(a, b) = t{n - 1} + t{n - 2}")
    return "\n".join(lines) + "\n"


# The peers run the same text as Python: the last line, `f(a, b) = ...`, becomes `f = ...`. Each prints one
# JSON object: the gradients, and how long the exec (graph and forward pass) and the backward pass took.
PEER_PRELUDE = '''\
import json, math, re, sys, threading, time

def program(path):
    text = open(path).read()
    return re.sub(r"^f\\(.*?\\)\\s*=", "f =", text, count=1, flags=re.M)

result = {}
'''

MICROGRAD_RUNNER = PEER_PRELUDE + '''
from importlib.metadata import version
from micrograd.engine import Value

def tanh(v):
    t = math.tanh(v.data)
    out = Value(t, (v,), "tanh")
    def _backward():
        v.grad += (1 - t * t) * out.grad
    out._backward = _backward
    return out

def main():
    text = program(sys.argv[1])
    start = time.perf_counter()
    scope = {"a": Value(0.5), "b": Value(-0.3), "relu": lambda v: v.relu(), "tanh": tanh}
    exec(compile(text, sys.argv[1], "exec"), scope)
    built = time.perf_counter()
    scope["f"].backward()  # its topological sort recurses: hence the limit and the thread's large stack
    done = time.perf_counter()
    result.update(version=version("micrograd"), da=scope["a"].grad, db=scope["b"].grad,
                  exec=built - start, backward=done - built)

sys.setrecursionlimit(10_000_000)
threading.stack_size(1 << 30)
thread = threading.Thread(target=main)
thread.start()
thread.join()
print(json.dumps(result))
sys.exit(0 if result else 1)
'''

TORCH_RUNNER = PEER_PRELUDE + '''
import torch

text = program(sys.argv[1])
start = time.perf_counter()
a = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
b = torch.tensor(-0.3, dtype=torch.float64, requires_grad=True)
scope = {"a": a, "b": b, "relu": torch.relu, "tanh": torch.tanh}
exec(compile(text, sys.argv[1], "exec"), scope)
built = time.perf_counter()
scope["f"].backward()
done = time.perf_counter()
print(json.dumps({"version": torch.__version__, "da": a.grad.item(), "db": b.grad.item(),
                  "exec": built - start, "backward": done - built}))
'''


def micrograd_python(setup: Setup) -> Path | None:
    """The benchmark's own virtual environment with micrograd from PyPI: made once, reused after."""
    env_dir = Path(setup.args.env).resolve()
    python = env_dir / "bin" / "python"
    if python.is_file() and subprocess.run([python, "-c", "import micrograd"], capture_output=True,
                                           check=False).returncode == 0:
        return python
    print(f"(making {env_dir} with micrograd from PyPI; later runs reuse it)", flush=True)
    steps = [[sys.executable, "-m", "venv", str(env_dir)],
             [str(python), "-m", "pip", "install", "--quiet", "micrograd"]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            print(f"(could not make the micrograd environment: {' '.join(step)}: {last})")
            return None
    return python


def relative_difference(x: float, y: float) -> float:
    return abs(x - y) / max(abs(x), abs(y), 1e-300)


def symgrad_gradient(r: Run) -> tuple[float, float]:
    row = next(csv.DictReader(io.StringIO(r.stdout)))
    return float(row["df/da"]), float(row["df/db"])


def interleaved(commands: dict[str, tuple[list[str], dict[str, str] | None]], repeat: int, tmp: Path,
                timeout: float) -> dict[str, list[Run]]:
    """Run each command `repeat` times, taking turns, so that a change of load hits them alike; a command
    that failed is not run again (its last run says why)."""
    runs: dict[str, list[Run]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, (cmd, env) in commands.items():
            if all(succeeded(r) for r in runs[name]):
                runs[name].append(run(cmd, tmp, timeout=timeout, env=env))
    return runs


def succeeded(r: Run) -> bool:
    return r.finished and r.status == 0


def median_time(runs: list[Run]) -> float:
    return statistics.median(r.seconds for r in runs)


def section_long(setup: Setup) -> None:
    n, repeat = setup.args.statements, setup.args.long_repeat
    table = Table(f"1. Long programs: random statements, text to gradients at {AT}; {repeat} run(s) of each "
                  f"at {n // 10:,} and {n:,} statements, interleaved, median (min)")
    for k in [n // 10, n] + ([10 * n] if setup.args.large else []):
        (setup.tmp / f"prog{k}.sg").write_text(long_program(k), encoding="utf-8")

    def symgrad_cmd(k: int, *extra: str) -> list[str]:
        return [*setup.symgrad, "-f", str(setup.tmp / f"prog{k}.sg"), "--at", AT, "--no-check", "--format", "csv",
                *extra]

    prog = str(setup.tmp / f"prog{n}.sg")
    commands: dict[str, tuple[list[str], dict[str, str] | None]] = {
        "symgrad small": (symgrad_cmd(n // 10), setup.env), "symgrad": (symgrad_cmd(n), setup.env)}
    python = micrograd_python(setup)
    if python is None:
        table.notes.append("micrograd: skipped (its environment could not be made)")
    else:
        (setup.tmp / "micrograd_runner.py").write_text(MICROGRAD_RUNNER, encoding="utf-8")
        commands["micrograd"] = ([str(python), str(setup.tmp / "micrograd_runner.py"), prog], None)
    if importlib.util.find_spec("torch") is None:
        table.notes.append(f"PyTorch: skipped (no torch in {sys.executable})")
    else:
        (setup.tmp / "torch_runner.py").write_text(TORCH_RUNNER, encoding="utf-8")
        commands["PyTorch"] = ([sys.executable, str(setup.tmp / "torch_runner.py"), prog], None)
    runs = interleaved(commands, repeat, setup.tmp, LONG_TIMEOUT)
    if setup.args.large:  # once: it takes a while
        runs["symgrad large"] = [run(symgrad_cmd(10 * n), setup.tmp, timeout=LONG_TIMEOUT, env=setup.env)]

    time_of: dict[str, float] = {}
    statements = {"symgrad small": n // 10, "symgrad": n, "symgrad large": 10 * n}
    labels = {name: f"symgrad, {k:,} statements" for name, k in statements.items()}
    labels["symgrad large"] += " (once)"
    for name, rs in runs.items():
        label = labels.get(name, f"{name}, {n:,} statements")
        if not succeeded(rs[-1]):
            table.add(label, time_or_timeout(rs[-1], LONG_TIMEOUT), "", "failed")
            table.notes.append(f"{label}: exit status {rs[-1].status}: {rs[-1].last_error_line()}")
            continue
        if name in ("micrograd", "PyTorch"):
            got = json.loads(rs[0].stdout)
            label = (f"PyTorch {got['version']} scalar autograd" if name == "PyTorch" else
                     f"micrograd {got['version']}") + f", {n:,} statements"
        time_of[name] = median_time(rs)
        table.add(label, f"{seconds(time_of[name])} ({seconds(min(r.seconds for r in rs))})")
    if "symgrad" not in time_of:
        table.print()
        return

    da, db = symgrad_gradient(runs["symgrad"][0])
    table.notes.append(f"symgrad at {n:,}: df/da = {da!r}, df/db = {db!r}")
    for name in ("micrograd", "PyTorch"):
        if name in time_of:
            got = json.loads(runs[name][0].stdout)
            worst = max(relative_difference(got["da"], da), relative_difference(got["db"], db))
            agree = "agree" if worst <= 1e-9 else "DO NOT AGREE"
            table.notes.append(f"{name}: exec of the program (graph and forward) {seconds(got['exec'])}, backward "
                               f"{seconds(got['backward'])}, peak memory {size(runs[name][0].peak)}; its df/da, "
                               f"df/db {agree} with symgrad's (largest relative difference {worst:.1e}, "
                               "allowed 1e-9)")
    if "micrograd" in time_of:
        ratio = time_of["symgrad"] / time_of["micrograd"]
        table.add("symgrad / micrograd", f"{ratio:.2f}x", "at most 2.5x (aim 1.5x)", verdict(ratio, 2.5, aim=1.5))
    if "PyTorch" in time_of:
        table.add("symgrad / PyTorch", f"{time_of['symgrad'] / time_of['PyTorch']:.2f}x", "(no goal)")

    timed = run(symgrad_cmd(n, "--timings"), setup.tmp, timeout=LONG_TIMEOUT, env=setup.env)
    stages = {name: float(value) for name, value in re.findall(r"(\w+) ([-+.\deE]+) s", timed.stderr)}
    if {"forward", "backward"} <= set(stages):
        for name, value in stages.items():
            table.add(f"  symgrad --timings, {n:,}: {name}", seconds(value))
        ratio = stages["backward"] / stages["forward"]
        table.add("symgrad backward / forward", f"{ratio:.2f}x", "at most 2x", verdict(ratio, 2.0))
    else:
        table.notes.append(f"symgrad --timings printed no stage times: {timed.last_error_line()}")

    for small, big in itertools.pairwise(["symgrad small", "symgrad", "symgrad large"]):
        if small in time_of and big in time_of:
            ratio = time_of[big] / time_of[small]
            table.add(f"symgrad time({statements[big]:,}) / time({statements[small]:,})", f"{ratio:.1f}",
                      "at most 11", verdict(ratio, 11))
    largest = "symgrad large" if "symgrad large" in runs else "symgrad"
    if succeeded(runs[largest][-1]):
        peak, k = max(r.peak for r in runs[largest]), statements[largest]
        judged = verdict(peak, 2 * GB) if k >= 1_000_000 or peak >= 2 * GB else "(judged at 10^6: --large)"
        table.add(f"symgrad peak memory, {k:,} statements", size(peak), "under 2 GB at 10^6 statements", judged)
    table.print()


# ---------------------------------------------------------------------------------------------------------
# 2. Pathological input


def section_pathological(setup: Setup) -> None:
    terms, brackets, limit = setup.args.sum_terms, setup.args.brackets, setup.args.timeout
    table = Table("2. Pathological input, each a whole process")
    long_sum = setup.tmp / "sum.sg"
    long_sum.write_text("f(x) = " + "+".join(["x"] * terms) + "\n", encoding="utf-8")
    r = run([*setup.symgrad, "-f", str(long_sum), "--at", "x=1", "--no-check", "--format", "csv"], setup.tmp,
            timeout=limit, env=setup.env)
    what = f"sum x+x+...+x of {terms:,} terms ({long_sum.stat().st_size / 1e6:.0f} MB)"
    if not r.finished:
        table.add(what, f"did not finish in {limit:.0f} s", "under 60 s", "not met")
        table.add("  its peak memory until stopped", size(r.peak))
    else:
        row = next(csv.DictReader(io.StringIO(r.stdout)), {}) if r.status == 0 else {}
        right = row.get("f") and float(row["f"]) == float(row["df/dx"]) == terms
        if right:
            judged = verdict(r.seconds, 60.0)
        elif r.status == 2 and "Traceback" not in r.stderr:  # the goal: a result or a clean error
            judged = "met: a clean error (exit 2)" if r.seconds < 60.0 else "not met: a clean error, too late"
        else:
            judged = f"failed (exit status {r.status})"
        table.add(what, seconds(r.seconds), "under 60 s", judged)
        table.add("  its peak memory", size(r.peak))
        table.notes.append(f"the sum: f and df/dx {'are' if right else 'are NOT'} both {terms:,}"
                           + ("" if r.status == 0 else f"; stderr: {r.last_error_line()}"))

    unclosed = setup.tmp / "brackets.sg"
    unclosed.write_text("f(x) = " + "(" * brackets + "x\n", encoding="utf-8")
    r = run([*setup.symgrad, "-f", str(unclosed), "--at", "x=1", "--no-check", "--format", "csv"], setup.tmp,
            timeout=limit, env=setup.env)
    what = f"{brackets:,} '(' never closed"
    if not r.finished:
        table.add(what, f"did not finish in {limit:.0f} s", "under 60 s", "not met")
        table.add("  its peak memory until stopped", size(r.peak))
    else:
        clean = r.status == 2 and "Traceback" not in r.stderr
        table.add(what, seconds(r.seconds), "under 60 s, exit 2, no traceback",
                  verdict(r.seconds, 60.0) if clean else "not met")
        table.notes.append(f"the brackets: exit status {r.status}, "
                           f"{'a traceback' if 'Traceback' in r.stderr else 'no traceback'} on stderr; "
                           f"its first line: {(r.stderr.strip().splitlines() or [''])[0][:120]}")
    table.print()


# ---------------------------------------------------------------------------------------------------------
# 3. Start-up


def section_startup(setup: Setup) -> None:
    checks = sibling("bench_checks")  # its commands, its timing of one run and its warm-up
    runs = {
        "floor": [sys.executable, "-c", checks.FLOOR],
        "headline": [*setup.symgrad, *checks.HEADLINE],
        "floor without SymPy": [sys.executable, "-c", checks.FLOOR_NO_CHECK],
        "headline, no checks": [*setup.symgrad, *checks.HEADLINE, "--no-check", "--format", "json"],
    }
    for name, cmd in runs.items():
        checks.warm_up(name, cmd, setup.env)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(setup.args.repeat):
        for name, cmd in runs.items():
            times[name].append(checks.once(cmd, setup.env))
    median = {name: statistics.median(ts) for name, ts in times.items()}

    table = Table(f"3. Start-up: {setup.args.repeat} runs of each, interleaved, median (min)")
    for name, label in [("floor", f'python -c "{checks.FLOOR}"'),
                        ("headline", 'symgrad "f(x,y,z)=(x+y)*z" --at x=-2,y=5,z=-4'),
                        ("floor without SymPy", f'python -c "{checks.FLOOR_NO_CHECK}"'),
                        ("headline, no checks", "the same with --no-check --format json")]:
        table.add(label, f"{median[name] * 1e3:.0f} ms ({min(times[name]) * 1e3:.0f})")
    for name, floor in [("headline", "floor"), ("headline, no checks", "floor without SymPy")]:
        ratio = median[name] / median[floor]
        table.add(f"{name} / {floor}", f"{ratio:.2f}x", "at most 1.3x", verdict(ratio, 1.3))
    stale = uncompiled_modules(runs["headline"], setup.env)
    if stale:
        table.notes.append(f"{len(stale)} of the modules of symgrad that the headline imports have no up-to-date "
                           f".pyc ({', '.join(stale)}): they are compiled from source in every run, which the "
                           "floor's libraries are not")
    table.print()


def uncompiled_modules(cmd: list[str], env: dict[str, str]) -> list[str]:
    """symgrad's modules that the command imports (by -X importtime) whose .pyc is missing or older than
    the source."""
    done = subprocess.run(cmd, capture_output=True, text=True, env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
                          check=False)
    stale = []
    for name in sorted(set(re.findall(r"\|\s*(symgrad(?:\.\w+)*)\s*$", done.stderr, re.M))):
        base = ROOT / name.replace(".", "/")
        source = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        cached = Path(importlib.util.cache_from_source(str(source)))
        if source.is_file() and (not cached.is_file() or cached.stat().st_mtime < source.stat().st_mtime):
            stale.append(name)
    return stale


# ---------------------------------------------------------------------------------------------------------
# 4. --points


def section_points(setup: Setup) -> None:
    import numpy as np

    import symgrad

    points = sibling("bench_points")  # the neuron, the hand-written code, and best_of
    n = setup.args.points_count
    rng = np.random.default_rng(0)
    cols = {name: rng.normal(0.0, 2.0, n) for name in points.NAMES}
    table = Table(f"4. --points: the sigmoid neuron at {n:,} points")

    csv_in, jsonl_in = setup.tmp / "points.csv", setup.tmp / "points.jsonl"
    np.savetxt(csv_in, np.column_stack([cols[k] for k in points.NAMES]), delimiter=",",
               header=",".join(points.NAMES), comments="", fmt="%.17g")
    with open(jsonl_in, "w", encoding="utf-8") as sink:
        for values in zip(*(cols[k].tolist() for k in points.NAMES)):
            sink.write(json.dumps(dict(zip(points.NAMES, values))) + "\n")
    out = {}
    pipeline = {}
    for name, source in [("CSV", csv_in), ("JSON Lines", jsonl_in)]:
        out[name] = setup.tmp / f"grads-from-{source.suffix[1:]}.csv"
        r = run([*setup.symgrad, points.EXPR, "--points", str(source)], setup.tmp, timeout=LONG_TIMEOUT,
                env=setup.env, stdout=out[name])
        if not r.finished or r.status != 0:
            table.add(f"pipeline, {name} in, CSV out", time_or_timeout(r, LONG_TIMEOUT), "", "failed")
            table.notes.append(f"{name} in: exit status {r.status}: {r.last_error_line()}")
            continue
        pipeline[name] = r.seconds
        with open(out[name], encoding="utf-8") as written:
            rows = sum(1 for _ in written) - 1
        table.add(f"pipeline, {name} in ({source.stat().st_size / 1e6:.0f} MB), CSV out", seconds(r.seconds))
        table.notes.append(f"{name} in: {rows:,} rows written, peak memory {size(r.peak)}")
    if len(pipeline) == 2:
        ratio = pipeline["JSON Lines"] / pipeline["CSV"]
        table.add("JSON Lines in / CSV in", f"{ratio:.2f}x", "at most 1.5x", verdict(ratio, 1.5))
        same = filecmp.cmp(out["CSV"], out["JSON Lines"], shallow=False)
        table.notes.append(f"the two outputs are {'identical' if same else 'DIFFERENT'}")

    args = [cols[k] for k in points.NAMES]
    hand = points.best_of(setup.args.repeat_points, lambda: points.by_hand(*args))
    table.add("hand-written NumPy forward + backward", seconds(hand))
    for label, text in [("sigmoid gate", points.EXPR), ("written out gate by gate", points.WRITTEN_OUT)]:
        graph = symgrad.parse(text)
        ours = points.best_of(setup.args.repeat_points, lambda g=graph: points.evaluate_points(g, cols))
        table.add(f"symgrad, {label}", seconds(ours))
        table.add("  / hand-written NumPy", f"{ours / hand:.2f}x", "at most 2x", verdict(ours / hand, 2.0))
    table.notes.append(f"computation: best of {setup.args.repeat_points} in this process")
    table.print()


# ---------------------------------------------------------------------------------------------------------
# 5. batch and grade

LECTURE = {  # the lecture's examples, and the right answers where a request carries some
    "f(x,y,z)=(x+y)*z": lambda x, y, z: {"x": z, "y": z, "z": x + y},
    "a = x * y; b = a + x; L = a * b": lambda x, y: {"x": (2 * x * y + x) * y + x * y, "y": (2 * x * y + x) * x},
    "f(w, x, b) = sigmoid(w*x + b)": None,
    "f(w0,x0,w1,x1,w2) = 1/(1+exp(-(w0*x0+w1*x1+w2)))": None,
}


def lecture_requests(n: int, seed: int = 0) -> list[dict[str, object]]:
    """n requests cycling through the lecture's examples, at random whole-number points; the first two
    examples carry the right answers, to be graded."""
    rng = random.Random(seed)
    requests: list[dict[str, object]] = []
    for k in range(n):
        expr, answers = list(LECTURE.items())[k % len(LECTURE)]
        names = re.findall(r"\((.*?)\)", expr)[0].split(",") if expr.startswith("f(") else ["x", "y"]
        at = {name.strip(): rng.randint(-5, 5) for name in names}
        request: dict[str, object] = {"id": k, "expr": expr, "at": at}
        if answers is not None:
            request["expect"] = answers(*at.values())
        requests.append(request)
    return requests


def jobs_variants(setup: Setup, command: str) -> list[tuple[str, list[str]]]:
    if "--jobs" in symgrad_help(setup, command):
        return [("--jobs 1", ["--jobs", "1"]), (f"default jobs ({os.cpu_count()} cores)", [])]
    return [("", [])]


def section_batch(setup: Setup) -> None:
    n, students, limit = setup.args.requests, setup.args.students, LONG_TIMEOUT
    table = Table(f"5. symgrad batch ({n:,} requests of the lecture's kind) and symgrad grade ({students} students)")
    requests = lecture_requests(n)
    plain = setup.tmp / "requests.jsonl"
    plain.write_text("".join(json.dumps(r) + "\n" for r in requests), encoding="utf-8")
    configs = [("no checks", [], plain), ("--check", ["--check"], plain)]
    probe = setup.tmp / "probe.jsonl"
    probe.write_text(json.dumps({"expr": "x*y", "at": {"x": 1, "y": 2}, "check": False}) + "\n", encoding="utf-8")
    if run([*setup.symgrad, "batch", "--check"], setup.tmp, timeout=60, env=setup.env, stdin=probe).status == 0:
        unchecked = setup.tmp / "requests-check-false.jsonl"
        unchecked.write_text("".join(json.dumps({**r, "check": False}) + "\n" for r in requests), encoding="utf-8")
        configs.append(('--check, every request "check": false', ["--check"], unchecked))
    else:
        table.notes.append('a request cannot say "check": false (an unknown key): batch checks only with --check')
    batch_jobs = jobs_variants(setup, "batch")
    if batch_jobs[0][0] == "":
        table.notes.append("symgrad batch has no --jobs: one process")
    for label, options, source in configs:
        for jobs_label, jobs in batch_jobs:
            r = run([*setup.symgrad, "batch", *options, *jobs], setup.tmp, timeout=limit, env=setup.env,
                    stdin=source)
            what = f"batch, {label}" + (f", {jobs_label}" if jobs_label else "")
            if not r.finished:
                table.add(what, f"did not finish in {limit:.0f} s", "", "failed")
                continue
            lines = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
            ok = sum(1 for line in lines if line.get("ok"))
            if ok != n:
                table.add(what, "", "", f"failed ({ok} of {n} requests ok, exit status {r.status})")
                table.notes.append(f"{what}: {r.last_error_line()}")
                continue
            table.add(what, f"{n / r.seconds:,.0f} requests/s", "(no goal)")
    table.notes.append(f"requests/s: {n:,} requests over the whole process's wall time, start-up included")

    key, subs, _ = sibling("bench_class").make_class(setup.tmp, students, setup.symgrad, setup.env)
    grade_jobs = jobs_variants(setup, "grade")
    if grade_jobs[0][0] == "":
        table.notes.append("symgrad grade has no --jobs: one process")
    for jobs_label, jobs in grade_jobs:
        r = run([*setup.symgrad, "grade", str(key), str(subs), "--format", "csv", *jobs], setup.tmp,
                timeout=limit, env=setup.env)
        what = "grade" + (f", {jobs_label}" if jobs_label else "")
        rows = len(r.stdout.splitlines()) - 1
        if not r.finished or rows != students:
            table.add(what, time_or_timeout(r, limit), "", f"failed ({rows} rows, exit status {r.status})")
            continue
        per_minute = students * 60 / r.seconds
        table.add(f"{what}: {students} students", seconds(r.seconds))
        table.add("  students a minute", f"{per_minute:,.0f}", "at least 1,200 (200 in 10 s)",
                  verdict(per_minute, 1200, at_least=True))
    table.notes.append("students a minute: the class over the grading's wall time, times 60 (start-up included)")
    table.print()


# ---------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the script out")
    parser.add_argument("--only", choices=SECTIONS, help="run one section")
    parser.add_argument("--statements", type=int, help="statements of the long program (100,000)")
    parser.add_argument("--large", action="store_true", help="also symgrad at 10x --statements (10^6)")
    parser.add_argument("--long-repeat", type=int, help="runs of each long-program command (3)")
    parser.add_argument("--env", default=str(ROOT / "build" / "bench-env"),
                        help="the virtual environment for micrograd (build/bench-env)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a pathological input may take")
    parser.add_argument("--repeat", type=int, help="runs of each start-up command (15)")
    parser.add_argument("--points-count", type=int, help="points for --points (1,000,000)")
    parser.add_argument("--requests", type=int, help="requests for symgrad batch (3,000)")
    parser.add_argument("--students", type=int, help="students for symgrad grade (200)")
    args = parser.parse_args()
    quick = args.quick
    defaults = {"statements": (10_000, 100_000), "long_repeat": (1, 3), "repeat": (3, 15),
                "points_count": (100_000, 1_000_000), "requests": (300, 3_000), "students": (40, 200)}
    for name, (small, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, small if quick else full)
    args.sum_terms = 500_000 if quick else 5_000_000
    args.brackets = 100_000 if quick else 1_000_000
    args.repeat_points = 3 if quick else 5

    script = Path(sys.executable).with_name("symgrad")
    if not script.is_file():
        sys.exit(f"no symgrad console script next to {sys.executable}: install symgrad in this environment")
    # This checkout first on PYTHONPATH, as bench_checks.py runs it; and bytecode written, so that symgrad's
    # modules are compiled once, as an installed symgrad's are (and as the floors' libraries are).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"PYTHONPATH": str(ROOT)}
    load = os.getloadavg()[0]
    version = subprocess.run([script, "--version"], capture_output=True, text=True, env=env, check=False)
    print(f"symgrad {version.stdout.strip().split()[-1] if version.stdout else '?'} ({script}); "
          f"Python {sys.version.split()[0]}; {os.cpu_count()} CPUs; load average {load:.2f} before"
          + ("; --quick: smaller inputs than the goals are set for" if quick else ""))
    sections: dict[str, Callable[[Setup], None]] = {
        "long": section_long, "pathological": section_pathological, "startup": section_startup,
        "points": section_points, "batch": section_batch,
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_speed-") as tmp:
        setup = Setup(args, Path(tmp), [str(script)], env)
        for name, section in sections.items():
            if args.only in (None, name):
                section(setup)
    print(f"\n(the run took {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.2f} after)")


if __name__ == "__main__":
    main()
