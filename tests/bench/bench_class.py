"""Grading a class of 200 (run by hand, not in CI): per-student worksheet variants of the lecture's
fan-out program, 200 submissions with some answers wrong, graded by one `symgrad grade` command.
Prints the wall time of each step; the target is under 10 s for the grading on a 2-core machine.

    python tests/bench/bench_class.py [--students N] [--symgrad PATH]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

PROGRAM = "a = x * y; b = a + x; L = a * b"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--symgrad", default=shutil.which("symgrad") or "symgrad")
    args = parser.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        names = [f"student{k:03d}" for k in range(args.students)]
        (folder / "class.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
        start = time.perf_counter()
        key = subprocess.run([args.symgrad, "worksheet", PROGRAM, "--students", str(folder / "class.txt"),
                              "--format", "toml"], capture_output=True, text=True, check=True).stdout
        made = time.perf_counter() - start
        (folder / "key.toml").write_text(key, encoding="utf-8")
        chunks = []
        for problem in tomllib.loads(key)["problem"]:
            answers = [a.strip() for a in problem["expect"].split(",")]
            if rng.random() < 0.4:  # a wrong answer: off by one, or with the sign flipped
                k = rng.randrange(len(answers))
                name, value = answers[k].split("=")
                answers[k] = f"{name}={float(value) + 1 if rng.random() < 0.5 else -float(value)}"
            chunks.append(f'[[submission]]\nstudent = "{problem["name"]}"\nanswers = "{", ".join(answers)}"\n')
        (folder / "subs.toml").write_text("\n".join(chunks), encoding="utf-8")
        start = time.perf_counter()
        report = subprocess.run([args.symgrad, "grade", str(folder / "key.toml"), str(folder / "subs.toml"),
                                 "--format", "csv"], capture_output=True, text=True, check=False)
        graded = time.perf_counter() - start
    rows = report.stdout.splitlines()[1:]
    print(f"{args.students} students; Python {sys.version.split()[0]}")
    print(f"worksheet variants and key:  {made:6.2f} s")
    print(f"grading the class:           {graded:6.2f} s   ({len(rows)} rows; target under 10 s)")


if __name__ == "__main__":
    main()
