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


def make_class(folder: Path, students: int, symgrad: list[str],
               env: dict[str, str] | None = None) -> tuple[Path, Path, float]:
    """A class in `folder`: a worksheet variant per student (the key, key.toml) and a submission each
    (subs.toml), some answers wrong (off by one, or with the sign flipped; seeded).  Returns the two
    files and the seconds `symgrad worksheet` took."""
    rng = random.Random(0)
    names = [f"student{k:03d}" for k in range(students)]
    (folder / "class.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    start = time.perf_counter()
    key = subprocess.run([*symgrad, "worksheet", PROGRAM, "--students", str(folder / "class.txt"),
                          "--format", "toml"], capture_output=True, text=True, check=True, env=env).stdout
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
    return folder / "key.toml", folder / "subs.toml", made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--symgrad", default=shutil.which("symgrad") or "symgrad")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        key, subs, made = make_class(Path(tmp), args.students, [args.symgrad])
        start = time.perf_counter()
        report = subprocess.run([args.symgrad, "grade", str(key), str(subs), "--format", "csv"],
                                capture_output=True, text=True, check=False)
        graded = time.perf_counter() - start
    rows = report.stdout.splitlines()[1:]
    print(f"{args.students} students; Python {sys.version.split()[0]}")
    print(f"worksheet variants and key:  {made:6.2f} s")
    print(f"grading the class:           {graded:6.2f} s   ({len(rows)} rows; target under 10 s)")


if __name__ == "__main__":
    main()
