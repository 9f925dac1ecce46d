"""What symgrad reads: files named by untrusted input, regular files only, the input limit,
closed standard input, and the counts that --points and batch print when records fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support import run

from symgrad.errors import SymgradError
from symgrad.files import Files, parse_size, read_text, size_text


def batch_records(stdin: str, *args: str, code: int | None = None) -> list[dict]:
    result = run("batch", *args, input=stdin, code=code)
    return [json.loads(line) for line in result.stdout.splitlines()]


def request(at: str, expr: str = "sum(W)") -> str:
    return json.dumps({"expr": expr, "at": at}) + "\n"


# ---- files named by a batch line -----------------------------------------------------------


def test_a_batch_line_may_not_name_a_file_without_data_dir(tmp_path: Path) -> None:
    (tmp_path / "W.json").write_text("[1, 2]", encoding="utf-8")
    records = batch_records(request(f"W=@{tmp_path / 'W.json'}") + request("W=[1,2]"), code=1)
    assert records[0]["ok"] is False and records[0]["error"]["kind"] == "files"
    assert "--data-dir" in records[0]["error"]["message"] + records[0]["error"].get("hint", "")
    assert records[1]["ok"] is True and records[1]["value"] == 3  # the next line is still answered


def test_a_refusal_never_tells_whether_the_file_exists(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "secret.json").write_text("[1]", encoding="utf-8")
    for args in ((), ("--data-dir", str(tmp_path / "data"))):
        messages = []
        for target in (tmp_path / "secret.json", tmp_path / "missing.json", Path("/etc/passwd"), Path("/no/such")):
            rec = batch_records(request(f"W=@{target}"), *args, code=1)[0]
            assert rec["error"]["kind"] == "files"
            messages.append(rec["error"]["message"].replace(str(target), "PATH"))
        assert len(set(messages)) == 1, messages


def test_data_dir_allows_relative_paths_inside_it_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "W.json").write_text("[1, 2, 4]", encoding="utf-8")
    np.save(data / "W.npy", np.array([0.5, 0.25]))
    (tmp_path / "outside.json").write_text("[1]", encoding="utf-8")
    (data / "link.json").symlink_to(tmp_path / "outside.json")
    lines = [request("W=@sub/W.json"), request("W=@W.npy"), request("W=@sub/../W.npy"),
             request("W=@../outside.json"), request(f"W=@{data / 'W.npy'}"), request("W=@link.json"),
             request("W=@~/W.json")]
    records = batch_records("".join(lines), "--data-dir", str(data), code=1)
    assert [r["ok"] for r in records] == [True, True, True, False, False, False, False]
    assert [r["value"] for r in records[:3]] == [7, 0.75, 0.75]
    assert all(r["error"]["kind"] == "files" for r in records[3:])


def test_device_files_are_never_read(tmp_path: Path) -> None:
    (tmp_path / "zero").symlink_to("/dev/zero")  # a link out of the folder is refused as any path out of it
    assert batch_records(request("W=@zero"), "--data-dir", str(tmp_path), code=1)[0]["error"]["kind"] == "files"
    os.mkfifo(tmp_path / "fifo")  # inside the folder, but not a regular file: refused without waiting for a writer
    rec = batch_records(request("W=@fifo"), "--data-dir", str(tmp_path), code=1)[0]
    assert rec["error"]["kind"] == "io" and "not a regular file" in rec["error"]["message"]
    for device in ("/dev/zero", "/dev/urandom"):  # the command line may name any file, but only regular ones
        result = run("sum(W)", "--at", f"W=@{device}", code=2)
        assert "not a regular file" in result.stderr


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "prog"
    os.mkfifo(fifo)
    result = run("--file", str(fifo), "--at", "x=1", code=2)
    assert "not a regular file" in result.stderr
    result = run("x", "--points", str(fifo), code=2)
    assert "not a regular file" in result.stderr


# ---- files named by a homework file --------------------------------------------------------


HOMEWORK = """\
[[problem]]
name = "from a file in the same folder"
function = "f(W) = sum(W)"
at = "W=@W.json"
expect = "W=[1, 1]"

[[problem]]
name = "from a file outside"
function = "f(W) = sum(W)"
at = "W=@{outside}"
expect = "W=[1]"

[[problem]]
name = "climbing out"
function = "f(W) = sum(W)"
at = "W=@../up.json"
expect = "W=[1]"
"""


def test_a_homework_file_names_files_in_its_own_folder_only(tmp_path: Path) -> None:
    folder = tmp_path / "hw"
    folder.mkdir()
    (folder / "W.json").write_text("[3, 4]", encoding="utf-8")
    (tmp_path / "up.json").write_text("[1]", encoding="utf-8")
    path = folder / "homework.toml"
    path.write_text(HOMEWORK.format(outside=tmp_path / "up.json"), encoding="utf-8")
    result = run("check", str(path), "--format", "json", code=1)
    problems = json.loads(result.stdout)["problems"]
    assert problems[0]["passed"] is True
    for p in problems[1:]:
        assert p["error"]["kind"] == "files" and "its own folder" in p["error"]["message"]
    # the same file from another working directory: paths are relative to the homework file's folder
    here = os.getcwd()
    try:
        os.chdir(tmp_path)
        again = json.loads(run("check", "hw/homework.toml", "--format", "json", code=1).stdout)["problems"]
    finally:
        os.chdir(here)
    assert again[0]["passed"] is True


# ---- the input limit ----------------------------------------------------------------------


def test_sizes() -> None:
    assert [parse_size(t) for t in ("100", "2k", "100M", "1G", "3MiB", "7 kb")] == [
        100, 2048, 100 * 2**20, 2**30, 3 * 2**20, 7 * 2**10]
    for bad in ("", "M", "-1", "1.5M", "1T", "ten"):
        with pytest.raises(ValueError):
            parse_size(bad)
    assert size_text(100 * 2**20) == "100 MiB" and size_text(1000) == "1,000 bytes"


def test_inputs_read_whole_are_held_to_the_limit(tmp_path: Path) -> None:
    program = tmp_path / "prog.sg"
    program.write_text("f(x) = " + " + ".join(["x"] * 1000), encoding="utf-8")  # about 4 KiB
    result = run("--file", str(program), "--at", "x=1", "--no-check", "--input-limit", "2k", code=2)
    assert "larger than the input limit of 2 KiB" in result.stderr and "--input-limit" in result.stderr
    assert run("--file", str(program), "--at", "x=1", "--no-check", "--input-limit", "8k", code=0)
    big = tmp_path / "W.json"
    big.write_text(json.dumps([1.0] * 2000), encoding="utf-8")
    assert "input limit" in run("sum(W)", "--at", f"W=@{big}", "--input-limit", "1k", code=2).stderr
    assert "input limit" in run("-", "--at", "x=1", "--input-limit", "10", input="x * x + x * x", code=2).stderr
    with pytest.raises(SymgradError) as info:
        read_text(program, 100)
    assert info.value.kind == "limit"


def test_a_line_over_the_limit_in_batch_is_one_error_record(tmp_path: Path) -> None:
    long = request("W=[" + ",".join(["1"] * 600) + "]")
    records = batch_records(request("W=[1]") + long + "\n" + request("W=[2]"), "--input-limit", "1k", code=1)
    assert [r["line"] for r in records] == [1, 2, 4]  # the blank line 3 is skipped, and the count goes on
    assert [r["ok"] for r in records] == [True, False, True]
    assert records[1]["error"]["kind"] == "limit"


def test_a_points_line_over_the_limit_stops_with_a_message() -> None:
    # A row of numbers is never that long: the run stops (exit 2) naming the line, rather than hold it.
    rows = "x\n1\n" + "2" * 5000 + "\n3\n"
    result = run("x*x", "--points", "-", "--input-limit", "1k", input=rows, code=2)
    assert "line 3 of the points is larger than the input limit of 1 KiB" in result.stderr


def test_options_refuse_a_bad_size() -> None:
    assert "not a size" in run("x", "--at", "x=1", "--input-limit", "lots", code=2).stderr


# ---- standard input closed ----------------------------------------------------------------


@pytest.mark.parametrize("args", [["-", "--at", "x=0"], ["x", "--points", "-"], ["batch"]])
def test_closed_standard_input_is_a_clean_error(args: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "symgrad", *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, check=False, preexec_fn=lambda: os.close(0))
    assert proc.returncode == 2, proc.stderr
    assert "standard input is closed" in proc.stderr and "Traceback" not in proc.stderr


# ---- counts of failed records -------------------------------------------------------------


def test_points_with_bad_rows_say_how_many_failed() -> None:
    rows = "x\n1\nabc\n2\n1,2\n4\n"
    result = run("log(x)", "--points", "-", input=rows, code=1)
    assert result.stderr.strip() == "2 of 5 rows failed: lines 3, 5"
    assert len(result.stdout.splitlines()) == 6  # the header and every row, in order
    jsonl = run("log(x)", "--points", "-", "--format", "jsonl", input='{"x": 1}\n{"y": 2}\n', code=1)
    assert jsonl.stderr.strip() == "1 of 2 rows failed: line 2"


def test_batch_says_how_many_lines_failed_and_skips_blank_lines() -> None:
    stdin = request("W=[1]") + "\n   \n" + "not json\n" + request("W=[1,2]") + '{"expr": "x"}\n'
    result = run("batch", input=stdin, code=1)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in records] == [1, 4, 5, 6]  # one record per non-blank line, with its number
    assert result.stderr.strip() == "2 of 4 lines failed: lines 4, 6"


def test_files_policies() -> None:
    assert Files.anywhere().path("/etc/hosts", "x") == Path("/etc/hosts")
    with pytest.raises(SymgradError) as info:
        Files().path("a.json", "the value of W")
    assert info.value.kind == "files"
    inside = Files.inside("/tmp", "only /tmp")
    assert inside.path("a/b.json", "W") == Path("/tmp/a/b.json").resolve()
    for bad in ("/etc/hosts", "../x", "a/../../x", "", "..", "~/x"):
        with pytest.raises(SymgradError):
            inside.path(bad, "W")
