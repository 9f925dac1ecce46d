"""`--jobs N` for `symgrad batch` and `symgrad grade`: the work shared out over a pool of processes
(symgrad/parallel.py), the output byte for byte what one process writes.

Most tests run the command in this process (CliRunner) with small chunks (pipeline.CHUNK_LINES), so
that a few dozen lines make many chunks and fill the window of chunks in flight; the pool's workers
are real processes.  The tests that need a real command (a writer that waits for each answer, a
worker killed, Ctrl-C) start one.  No test depends on the clock: the timeouts below only keep a
broken build from hanging the suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import jsonl, no_traceback, run
from test_worksheet import FAN, KEY, write_class

from symgrad import parallel, pipeline

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
GUARD = 120  # seconds: only against a hang

DEEP = "f(x) = " + "sin(" * 20 + "x" + ")" * 20  # a symbolic check large enough to run in a child process


def requests(tag: str) -> list[str]:
    """Batch lines of every kind: good ones, bad JSON, errors, answers, files named with @, a line
    over a 2k input limit, blank lines; `tag` makes the ids of each copy differ."""
    return [
        json.dumps({"id": f"{tag}1", "expr": "x*y", "at": {"x": 2, "y": 3}}),
        "not json",
        "",
        json.dumps({"id": f"{tag}2", "expr": "x*"}),
        json.dumps({"id": f"{tag}3", "expr": "x*y", "at": {"x": 2}}),
        json.dumps({"id": f"{tag}4", "expr": "log(x)", "at": {"x": -1}}),
        json.dumps({"id": f"{tag}5", "expr": "f(x,y,z)=(x+y)*z", "at": "x=-2,y=5,z=-4", "expect": "x=-4,y=4,z=3"}),
        json.dumps({"id": f"{tag}6", "expr": "f(x,y,z)=(x+y)*z", "at": "x=-2,y=5,z=-4",
                    "expect": {"x": -4, "y": -4, "z": 3}}),
        "[1, 2]",
        "   ",
        json.dumps({"id": f"{tag}7", "expr": "sum(W * W)", "at": "W=@w.json"}),  # inside --data-dir
        json.dumps({"id": f"{tag}8", "expr": "sum(W)", "at": "W=@../outside.json"}),  # never
        json.dumps({"id": f"{tag}9", "expr": "sum(W)", "at": "W=@/etc/passwd"}),  # never
        json.dumps({"id": f"{tag}10", "expr": "sum(W)", "at": "W=@big.json"}),  # over a 2k limit
        json.dumps({"id": f"{tag}11", "expr": "x + y", "at": {"x": 1, "y": 2}, "pad": "x" * 3000}),  # a long line
        json.dumps({"id": f"{tag}12", "expr": "x*y", "at": {"x": 2, "y": 3}, "colour": "red"}),
        "[" * 5000 + "]" * 5000,
        json.dumps({"id": float("nan"), "expr": "x*y", "at": {"x": -1.5, "y": 4}}),
        json.dumps({"id": [tag], "expr": "x*y", "at": {"x": 2, "y": 3}}),  # the first request again
    ]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A --data-dir with a small and a large value, and a file beside it that no request may read."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "w.json").write_text("[[1, 2], [3, 4]]", encoding="utf-8")
    (folder / "big.json").write_text("[" + ", ".join(["1"] * 1500) + "]", encoding="utf-8")
    (tmp_path / "outside.json").write_text("[5, 6]", encoding="utf-8")
    return folder


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 3 lines: a few dozen lines are many chunks, more than the window holds."""
    monkeypatch.setattr(pipeline, "CHUNK_LINES", 3)


class Pools:
    """parallel.executor, counted: how many pools were made, with how many workers, and how many
    chunks they were given."""

    def __init__(self) -> None:
        self.jobs: list[int] = []
        self.chunks = 0


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> Pools:
    seen = Pools()
    make = parallel.executor

    def counted(jobs: int, setup: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        pool = make(jobs, setup, args)
        submit = pool.submit

        def counted_submit(*a: Any, **k: Any) -> Any:
            seen.chunks += 1
            return submit(*a, **k)

        pool.submit = counted_submit  # type: ignore[method-assign]
        seen.jobs.append(jobs)
        return pool

    monkeypatch.setattr(parallel, "executor", counted)
    return seen


def same_output(*args: str, input: str, jobs: str = "2") -> tuple[Any, Any]:
    """The command with --jobs 1 and with --jobs `jobs`: stdout, stderr and exit status equal."""
    one = run(*args, "--jobs", "1", input=input)
    many = run(*args, "--jobs", jobs, input=input)
    assert (many.exit_code, many.stderr) == (one.exit_code, one.stderr)
    assert many.stdout == one.stdout
    return one, many


# ---- batch -------------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [[], ["--data-dir", "DATA"], ["--data-dir", "DATA", "--input-limit", "2k"]],
                         ids=["no-data-dir", "data-dir", "data-dir-2k"])
def test_batch_jobs_2_writes_what_jobs_1_writes(options: list[str], data: Path, small_chunks: None,
                                                pools: Pools) -> None:
    lines = [line for k in range(4) for line in requests(f"r{k}-")]
    text = "\n".join(lines) + "\n"
    args = ["batch", *(str(data) if o == "DATA" else o for o in options)]
    one, _ = same_output(*args, input=text)
    assert pools.jobs == [2]  # --jobs 1 made no pool; --jobs 2 one, of two workers
    assert pools.chunks >= len(lines) // 3 - 2 > 2 * parallel.WINDOW  # many chunks, more than the window
    records = jsonl(one.stdout)
    assert one.exit_code == 1 and "lines failed" in one.stderr
    assert [r["line"] for r in records] == [k + 1 for k, line in enumerate(lines) if line.strip()]
    by_id = {str(r.get("id")): r for r in records}
    by_line = {r["line"]: r for r in records}
    w = by_id["r2-7"]
    if options:
        assert w["ok"] is True and w["value"] == 30.0
    else:
        assert w["error"]["kind"] == "files" and "--data-dir" in w["error"]["message"]
    for refused in ("r2-8", "r2-9"):
        assert by_id[refused]["error"]["kind"] == "files"
    long = by_line[next(k + 1 for k, line in enumerate(lines) if '"r2-11"' in line)]  # no id, over 2k
    for over in (by_id["r2-10"], long):  # a file, a line over the input limit
        assert (over.get("error", {}).get("kind") == "limit") == ("2k" in options)


def test_batch_checks_in_workers(small_chunks: None, pools: Pools) -> None:
    """--check in a worker: the symbolic check of a large expression runs in a child of the worker
    (checks.run_budgeted, under --check-timeout), a small one in the worker itself."""
    lines = []
    for k in range(12):
        lines.append(json.dumps({"id": k, "expr": DEEP if k % 4 == 0 else "x*y + sin(x)",
                                 "at": {"x": 0.3} if k % 4 == 0 else {"x": 0.1 * k, "y": 2}}))
    one, _ = same_output("batch", "--check", input="\n".join(lines) + "\n")
    assert pools.jobs == [2]
    records = jsonl(one.stdout)
    assert one.exit_code == 0, one.stderr
    assert all(r["checks"]["symbolic"]["status"] == "pass" for r in records)


def test_batch_more_jobs_than_work_and_one_chunk(pools: Pools) -> None:
    """One chunk of work (all the input fits in one) is answered in this process: no pool."""
    lines = "\n".join(requests("a")) + "\n"
    same_output("batch", input=lines, jobs="8")
    assert pools.jobs == []


def test_batch_jobs_1_makes_no_pool(monkeypatch: pytest.MonkeyPatch, small_chunks: None) -> None:
    def refuse(*args: Any) -> Any:
        raise AssertionError("--jobs 1 must not start a pool")

    monkeypatch.setattr(parallel, "executor", refuse)
    lines = [line for k in range(3) for line in requests(f"r{k}-")]
    result = run("batch", "--jobs", "1", input="\n".join(lines) + "\n")
    assert result.exit_code == 1 and len(jsonl(result.stdout)) == len([x for x in lines if x.strip()])


def test_batch_empty_input_with_jobs(pools: Pools) -> None:
    result = run("batch", "--jobs", "2", input="")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert pools.jobs == []


@pytest.mark.parametrize("command", [["batch"], ["grade", "KEY", "SUBS"]])
@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5", ""])
def test_a_bad_jobs_value_is_a_clean_usage_error(command: list[str], value: str, tmp_path: Path) -> None:
    key, subs = write_class(tmp_path)
    args = [str(key) if a == "KEY" else str(subs) if a == "SUBS" else a for a in command]
    result = run(*args, "--jobs", value, input="")
    assert result.exit_code == 2
    assert "Invalid value for '--jobs'" in result.stderr
    assert result.stdout == ""


def test_default_jobs_is_the_cores_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parallel.cores() >= 1
    if hasattr(os, "sched_getaffinity"):
        assert parallel.cores() == len(os.sched_getaffinity(0))
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert parallel.cores() == 1


def test_chunks_share_the_work_out_evenly() -> None:
    items = list(range(100))
    chunks = parallel.chunked(items, 2)
    assert [x for c in chunks for x in c] == items
    assert len(chunks) == 2 * parallel.WINDOW
    assert parallel.chunked(items[:1], 4) == [[0]]
    assert parallel.chunked([], 4) == []
    assert [len(c) for c in parallel.chunked(items[:10], 8, least=4)] == [4, 4, 2]
    assert max(len(c) for c in parallel.chunked(list(range(10_000)), 2)) == 64


def test_errors_cross_between_processes_whole() -> None:
    import pickle

    from symgrad.errors import Source, SymgradError

    err = SymgradError("syntax", "unexpected end", source=Source("x*", "expression"), span=(2, 2), hint="finish it")
    back = pickle.loads(pickle.dumps(err))
    assert (back.kind, back.message, back.source, back.span, back.hint, str(back)) == (
        "syntax", "unexpected end", err.source, (2, 2), "finish it", "unexpected end")


def test_an_error_sent_back_from_a_worker_keeps_its_class_and_text() -> None:
    import pickle

    from symgrad.derive import NotDerivable

    failed = parallel._Failed(NotDerivable("conv"))
    back = pickle.loads(pickle.dumps(failed)).exc
    assert type(back) is NotDerivable and str(back) == "symbolic reverse mode has no rule for conv yet"
    assert back.kind == "usage" and back.hint

    class Odd(Exception):
        def __init__(self, a: int, b: int) -> None:
            super().__init__(f"{a} and {b}")

    back = pickle.loads(pickle.dumps(parallel._Failed(Odd(1, 2)))).exc
    assert type(back) is RuntimeError and str(back) == "Odd: 1 and 2"


def test_a_bug_on_one_line_ends_the_batch_as_with_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The records before the line, then the internal error (status 3): here in this process, where
    the input is one chunk (a monkeypatch reaches no worker)."""
    from symgrad import app

    answer = app.answer_request

    def buggy(line: str | None, number: int, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if number == 4:  # the fourth line (the third is blank)
            raise ValueError("a bug")
        return answer(line, number, *args, **kwargs)

    monkeypatch.setattr(app, "answer_request", buggy)
    _, many = same_output("batch", input="\n".join(requests("a")[:6]) + "\n")
    assert many.exit_code == 3 and "internal error: ValueError: a bug" in many.stderr
    assert len(jsonl(many.stdout)) == 3  # lines 1 and 2, then the error as JSON


def test_no_processes_to_be_had_is_a_clean_error(monkeypatch: pytest.MonkeyPatch, small_chunks: None) -> None:
    def none(*args: Any) -> Any:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(parallel, "executor", none)
    result = run("batch", "--jobs", "2", input="\n".join(requests("a") * 2) + "\n")
    assert result.exit_code == 2
    assert "error: cannot start the worker processes: Resource temporarily unavailable" in result.stderr
    assert "--jobs 1" in result.stderr


# ---- grade -------------------------------------------------------------------------------------


def write_big_class(tmp_path: Path) -> tuple[Path, Path]:
    """A key with a variant per student (worksheet --students) and a broken problem, and
    submissions of every kind: right, wrong (named mistakes), unreadable answers, a second
    submission, a problem the key lacks, a record without a student, and the broken problem."""
    names = tmp_path / "class.txt"
    students = [f"s{k:02d}" for k in range(14)]
    names.write_text("\n".join(students) + "\n", encoding="utf-8")
    key = tmp_path / "key.toml"
    text = run("worksheet", FAN, "--students", str(names), "--seed", "5", "--format", "toml", code=0).stdout
    key.write_text(text + '\n[[problem]]\nname = "broken"\nfunction = "f(x) = x*"\nat = "x=1"\nexpect = "x=1"\n',
                   encoding="utf-8")
    import tomllib

    problems = {p["name"]: p for p in tomllib.loads(text)["problem"]}
    subs = []
    for k, s in enumerate(students[:-1]):  # the last student hands nothing in
        answers = problems[s]["expect"]
        if k % 3 == 1:  # dL/dx without the branch through b: dL/da * y
            given = dict(pair.split("=") for pair in answers.split(", "))
            y = float(dict(pair.split("=") for pair in problems[s]["at"].split(","))["y"])
            answers = answers.replace(f"dL/dx={given['dL/dx']}", f"dL/dx={float(given['dL/da']) * y:g}")
        if k % 5 == 2:
            answers += ", value(zz)=1, dL/dx=3"
        subs.append(f'[[submission]]\nstudent = "{s}"\nanswers = "{answers}"\n')
    subs.append(f'[[submission]]\nstudent = "s01"\nanswers = "{problems["s01"]["expect"]}"\n')  # a second one
    subs.append('[[submission]]\nstudent = "zed"\nproblem = "nope"\nanswers = "L=48"\n')
    subs.append('[[submission]]\nanswers = "L=48"\n')
    subs.append('[[submission]]\nstudent = "s03"\nproblem = "broken"\nanswers = "x=1"\n')
    path = tmp_path / "subs.toml"
    path.write_text("\n".join(subs), encoding="utf-8")
    return key, path


@pytest.mark.parametrize("fmt", ["plain", "json", "csv"])
def test_grade_jobs_2_writes_what_jobs_1_writes(fmt: str, tmp_path: Path, pools: Pools) -> None:
    key, subs = write_big_class(tmp_path)
    one, _ = same_output("grade", str(key), str(subs), "--format", fmt, input="")
    assert one.exit_code == 1
    assert pools.jobs == [2] and pools.chunks > 2  # submissions a few a chunk
    if fmt == "json":
        rows = json.loads(one.stdout)["submissions"]
        errors = [r["error"] for r in rows if r["error"]]
        assert any("second submission" in e for e in errors) and any("no problem nope" in e for e in errors)
        assert any("the key's problem broken" in e for e in errors)
        assert any(r["mistakes"] for r in rows) and any(r["problems"] for r in rows)


def test_grade_a_student_without_a_submission(tmp_path: Path, pools: Pools) -> None:
    key, subs = write_big_class(tmp_path)
    text = subs.read_text(encoding="utf-8")
    subs.write_text(text[:text.index('[[submission]]\nstudent = "zed"')], encoding="utf-8")
    one, _ = same_output("grade", str(key), str(subs), "--format", "json", input="")
    rows = json.loads(one.stdout)["submissions"]
    missing = next(r for r in rows if r["student"] == "s13")
    assert missing["error"] == "no submission"
    assert pools.jobs == [2]


def test_grade_one_problem_for_the_whole_class(tmp_path: Path, pools: Pools) -> None:
    """Every worker verifies the key's one problem for itself; the reports agree."""
    key, subs = write_class(tmp_path)
    more = subs.read_text(encoding="utf-8") + "".join(
        f'\n[[submission]]\nstudent = "x{k}"\nanswers = "dL/dx={40 + k}, L=48, dL/da=8"\n' for k in range(10))
    subs.write_text(more, encoding="utf-8")
    for fmt in ("plain", "json"):
        same_output("grade", str(key), str(subs), "--format", fmt, input="", jobs="3")
    assert pools.jobs == [3, 3]


def test_grade_one_chunk_of_submissions_makes_no_pool(tmp_path: Path, pools: Pools) -> None:
    """A class of up to classwork.LEAST_CHUNK submissions is graded in this process."""
    key, subs = write_class(tmp_path)  # four submissions
    same_output("grade", str(key), str(subs), input="", jobs="4")
    one = tmp_path / "one.toml"
    right = ", ".join(f"{k}={v}" for k, v in KEY.items())
    one.write_text(f'[[submission]]\nstudent = "ann"\nanswers = "{right}"\n', encoding="utf-8")
    same_output("grade", str(key), str(one), input="")
    assert pools.jobs == []


# ---- a real command: streaming, a worker killed, Ctrl-C ----------------------------------------


class Lines:
    """The lines a process writes, read with a guard against a hang."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.buffer = b""

    def read(self, count: int) -> list[str]:
        out: list[str] = []
        while len(out) < count:
            if b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                out.append(line.decode())
                continue
            ready, _, _ = select.select([self.fd], [], [], GUARD)
            assert ready, f"no answer: {len(out)} of {count} lines read"
            data = os.read(self.fd, 65536)
            assert data, f"the output ended: {len(out)} of {count} lines read"
            self.buffer += data
        return out


def start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "symgrad", "batch", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=ROOT,
                            start_new_session=True)


def send(proc: subprocess.Popen[bytes], lines: list[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("".join(line + "\n" for line in lines).encode())
    proc.stdin.flush()


def burst(first: int, count: int) -> list[str]:
    return [json.dumps({"id": k, "expr": "x*y + sin(x)", "at": {"x": k, "y": 2}}) for k in range(first, first + count)]


def workers(pid: int) -> list[int]:
    """The pool's worker processes of the command `pid`: its children that multiprocessing spawned."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
                found.append(int(entry.name))
    return found


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def wait_until(done: Callable[[], bool]) -> None:
    import time

    deadline = time.monotonic() + GUARD
    while not done():
        assert time.monotonic() < deadline, "still waiting"
        time.sleep(0.02)


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to find the workers")


def test_a_writer_that_waits_for_each_answer_gets_it() -> None:
    """Requests one at a time, then a burst of many chunks, then one at a time again: each answer
    comes while the writer waits for it, though no chunk was full."""
    proc = start("--jobs", "2")
    try:
        out = Lines(proc)
        for k in range(3):
            send(proc, burst(k, 1))
            assert json.loads(out.read(1)[0])["id"] == k
        send(proc, burst(3, 200))  # the pool starts
        assert [json.loads(line)["id"] for line in out.read(200)] == list(range(3, 203))
        for k in range(203, 206):
            send(proc, burst(k, 1))
            assert json.loads(out.read(1)[0])["id"] == k
        rest, err = proc.communicate(timeout=GUARD)  # the end of the input
        rest = out.buffer + rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, rest, err) == (0, b"", b"")


@contextlib.contextmanager
def answering_in_workers() -> Iterator[tuple[subprocess.Popen[bytes], Lines, list[int]]]:
    """`symgrad batch --jobs 2` with its pool started (200 lines answered): the process, its output,
    its workers' process ids.  The process is killed at the end if it is still running."""
    proc = start("--jobs", "2")
    try:
        out = Lines(proc)
        send(proc, burst(0, 200))
        out.read(200)
        pids = workers(proc.pid)
        assert pids
        yield proc, out, pids
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@needs_proc
def test_a_worker_killed_is_a_clean_error() -> None:
    with answering_in_workers() as (proc, out, pids):
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: all(gone(pid) for pid in pids))
        send(proc, burst(200, 200))
        rest, err = proc.communicate(timeout=GUARD)  # the end of the input
        rest = out.buffer + rest
    assert proc.returncode == 2, err
    no_traceback(subprocess.CompletedProcess([], 2, rest, err))
    assert err.decode().startswith("error: a worker process stopped before it had answered")
    last = json.loads(rest.decode().splitlines()[-1])
    assert last["error"]["kind"] == "jobs"


@needs_proc
def test_ctrl_c_stops_the_workers_too() -> None:
    """Ctrl-C reaches the whole process group: the command ends with 130, no traceback from it or
    from its workers, and the workers are gone."""
    with answering_in_workers() as (proc, _, pids):
        os.killpg(proc.pid, signal.SIGINT)
        rest, err = proc.communicate(timeout=GUARD)
    assert proc.returncode == 130
    assert (rest, err) == (b"", b"")
    wait_until(lambda: all(gone(pid) for pid in pids))


@needs_proc
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_end_with_the_command_even_killed() -> None:
    """SIGKILL gives the command no chance to stop its workers: they end by themselves."""
    with answering_in_workers() as (proc, _, pids):
        proc.kill()
        proc.wait(timeout=GUARD)
        wait_until(lambda: all(gone(pid) for pid in pids))
        proc.communicate()
