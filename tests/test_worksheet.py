"""Worksheets for teachers and class grading (issue 13): the exercise with blanks, its key, variants
per student, a round trip through symgrad check, and a class report that names and counts mistakes."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from support import run

# a = x*y = 6, b = a + x = 8, L = a*b = 48 at x = 2, y = 3.  By hand: dL/db = a = 6;
# dL/da = b + dL/db * 1 = 8 + 6 = 14; dL/dx = dL/da * y + dL/db = 42 + 6 = 48; dL/dy = dL/da * x = 28.
FAN = "a = x * y; b = a + x; L = a * b"
KEY = {"dL/dx": "48", "dL/dy": "28", "value(a)": "6", "dL/da": "14", "value(b)": "8", "dL/db": "6", "L": "48"}


def test_a_worksheet_has_blanks_for_every_value_and_gradient_but_the_given() -> None:
    out = run("worksheet", FAN, "--at", "x=2,y=3", code=0).stdout
    lines = out.splitlines()
    assert lines[0] == "a = x * y; b = a + x; L = a * b    at x = 2, y = 3"
    rows = {line.split()[0]: line.split() for line in lines[3:] if line.strip()}
    assert rows["x"] == ["x", "input", "2", "______"] and rows["y"] == ["y", "input", "3", "______"]
    assert rows["a"] == ["a", "x", "*", "y", "______", "______"]
    assert rows["L"][-2:] == ["______", "1"]  # the output's gradient is given
    key = run("worksheet", FAN, "--at", "x=2,y=3", "--key", code=0).stdout
    filled = {line.split()[0]: line.split()[-2:] for line in key.splitlines()[3:] if line.strip()}
    assert filled == {"x": ["2", "48"], "y": ["3", "28"], "a": ["6", "14"], "b": ["8", "6"], "L": ["48", "1"]}


def test_the_key_as_json_and_as_a_homework_file() -> None:
    data = json.loads(run("worksheet", FAN, "--at", "x=2,y=3", "--format", "json", code=0).stdout)
    ws = data["worksheets"][0]
    assert ws["key"] == [f"{k}={v}" for k, v in KEY.items()]
    toml = tomllib.loads(run("worksheet", FAN, "--at", "x=2,y=3", "--format", "toml", code=0).stdout)
    assert toml["problem"][0]["expect"] == ", ".join(f"{k}={v}" for k, v in KEY.items())


def test_variants_per_student_are_reproducible_and_round_trip(tmp_path: Path) -> None:
    names = tmp_path / "class.txt"
    names.write_text("ann\nbob\n\ncat\n", encoding="utf-8")
    first = run("worksheet", FAN, "--students", str(names), "--seed", "3", "--format", "toml", code=0).stdout
    again = run("worksheet", FAN, "--students", str(names), "--seed", "3", "--format", "toml", code=0).stdout
    assert first == again
    problems = tomllib.loads(first)["problem"]
    assert [p["name"] for p in problems] == ["ann", "bob", "cat"]
    assert len({p["at"] for p in problems}) > 1  # each student's own numbers
    key = tmp_path / "key.toml"
    key.write_text(first, encoding="utf-8")
    assert "3 of 3 problems right" in run("check", str(key), code=0).stdout


def test_every_drawn_key_passes_symgrad_s_own_check(tmp_path: Path) -> None:
    # a variant where sigmoid saturated (a - b = 29) had dL/dn2 = 1e-13, which float64 loses (1 - sigmoid(29)
    # cancels): its key held float64's value and symgrad check, grading against the 30-digit one, failed it.
    # Drawn points now avoid a tiny gradient at any node, not only at the inputs
    names = tmp_path / "class.txt"  # s006, s096, s102 and s109 drew such a variant (the names seed the draws)
    names.write_text("".join(f"s{k:03d}\n" for k in [*range(10), 96, 102, 109]), encoding="utf-8")
    key = tmp_path / "key.toml"
    key.write_text(run("worksheet", "a = x * y; b = x + y; L = a * b + sigmoid(a - b)", "--students", str(names),
                       "--format", "toml", code=0).stdout, encoding="utf-8")
    assert "13 of 13 problems right" in run("check", str(key), code=0).stdout


def test_a_key_at_a_given_point_holds_the_values_float64_loses(tmp_path: Path) -> None:
    # at x=-4, y=-5, a - b = 29: float64's 1 - sigmoid(29) cancels, and dL/dn2 came out 2.5446e-13 against the
    # true e^-29/(1 + e^-29)^2 = 2.5437e-13; the key held float64's value and failed symgrad's own check
    import math

    program = "a = x * y; b = x + y; L = a * b + sigmoid(a - b)"
    text = run("worksheet", program, "--at", "x=-4,y=-5", "--key", "--format", "toml", code=0).stdout
    answers = dict(a.split("=") for a in tomllib.loads(text)["problem"][0]["expect"].split(", "))
    e = math.exp(-29)
    assert math.isclose(float(answers["dL/dn2"]), e / (1 + e) ** 2, rel_tol=1e-12)
    assert answers["dL/dx"] == "64.99999999999847"  # float64's own where it lost nothing (1e-14 from 65)
    key = tmp_path / "key.toml"
    key.write_text(text, encoding="utf-8")
    assert "1 of 1 problems right" in run("check", str(key), code=0).stdout
    # float64's own value is graded against the 30-digit one, and no mistake is named for the loss
    given = run("check", program, "--at", "x=-4,y=-5", "--expect", "dL/dn2=2.544631172440211e-13", code=1).stdout
    assert "float64 lost this gradient" in given and "lost a sign" not in given


def test_drawn_points_avoid_kinks_and_undefined_values() -> None:
    # relu(x - y) has a kink where x = y; log(x) needs x > 0: no drawn point may sit on either.
    for seed in range(20):
        data = json.loads(run("worksheet", "f(x, y) = relu(x - y) + log(x*x)", "--seed", str(seed), "--format",
                              "json", code=0).stdout)
        at = dict(kv.split("=") for kv in data["worksheets"][0]["at"].split(","))
        assert float(at["x"]) != float(at["y"]) and float(at["x"]) != 0


def test_a_worksheet_needs_a_point_or_a_seed() -> None:
    assert "--seed" in run("worksheet", FAN, code=2).stderr


def write_class(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "key.toml"
    key.write_text(run("worksheet", FAN, "--at", "x=2,y=3", "--format", "toml", code=0).stdout, encoding="utf-8")
    right = ", ".join(f"{k}={v}" for k, v in KEY.items())
    subs = tmp_path / "subs.toml"
    subs.write_text(
        f'[[submission]]\nstudent = "ann"\nanswers = "{right}"\n\n'
        # dL/da without the branch through b: 8
        '[[submission]]\nstudent = "bob"\nanswers = "dL/da=8, dL/db=6, L=48"\n\n'
        # dL/dx without the branch through b: 42; and the swap at a: dL/dy = 14 * y = 42
        '[[submission]]\nstudent = "cat"\nanswers = { "dL/dx" = 42, "dL/dy" = 42 }\n\n'
        '[[submission]]\nstudent = "dan"\nanswers = "dL/dx=42"\n', encoding="utf-8")
    return key, subs


def test_a_class_report_scores_and_counts_the_mistakes(tmp_path: Path) -> None:
    key, subs = write_class(tmp_path)
    result = run("grade", str(key), str(subs), code=1)
    lines = result.stdout.splitlines()
    assert lines[1].split()[:4] == ["ann", "worksheet", "1", "7/7"]
    assert "4 students, 4 submissions" in result.stdout
    assert ("2 of 4 students: you left out the branch through b: x feeds 2 nodes, and their gradients add "
            "(cat, dan)") in result.stdout
    assert "1 of 4 students: you left out the branch through b: a feeds 2 nodes" in result.stdout
    assert "you swapped the inputs of the mul gate a = x * y" in result.stdout
    data = json.loads(run("grade", str(key), str(subs), "--format", "json", code=1).stdout)
    scores = {s["student"]: (s["right"], s["total"]) for s in data["submissions"]}
    assert scores == {"ann": (7, 7), "bob": (2, 7), "cat": (0, 7), "dan": (0, 7)}
    assert data["mistakes"][0]["count"] == 2
    report = run("grade", str(key), str(subs), "--format", "csv", code=1).stdout.splitlines()
    assert report[0] == "student,problem,right,total,score,points,mistakes,error"
    assert report[1].startswith("ann,worksheet 1,7,7,1.0,1.0,")


def test_submissions_as_csv_and_their_errors(tmp_path: Path) -> None:
    key, _ = write_class(tmp_path)
    subs = tmp_path / "subs.csv"
    subs.write_text("student,dL/dx,dL/dy,value(a)\nann,48,28,6\nbob,42,,6\neve,48,28,@/etc/passwd\n",
                    encoding="utf-8")
    data = json.loads(run("grade", str(key), str(subs), "--format", "json", code=1).stdout)
    rows = {s["student"]: s for s in data["submissions"]}
    assert rows["ann"]["right"] == 3 and rows["bob"]["right"] == 1
    assert rows["bob"]["mistakes"] == ["you left out the branch through b: x feeds 2 nodes, and their gradients add"]
    # one answer that cannot be read (a file name: data, never a file) costs that answer only
    assert rows["eve"]["error"] is None and rows["eve"]["right"] == 2
    assert rows["eve"]["problems"][0].startswith("value(a)=@/etc/passwd")
    bad = tmp_path / "bad.toml"
    bad.write_text('[[submission]]\nstudent = "zed"\nproblem = "nope"\nanswers = "L=48"\n', encoding="utf-8")
    assert "no problem nope" in run("grade", str(key), str(bad), code=1).stdout


def test_a_wrong_key_is_reported_to_the_teacher(tmp_path: Path) -> None:
    key = tmp_path / "key.toml"
    key.write_text(f'[[problem]]\nname = "lecture"\nfunction = "{FAN}"\nat = "x=2,y=3"\nexpect = "dL/dx=47"\n',
                   encoding="utf-8")
    subs = tmp_path / "subs.toml"
    subs.write_text('[[submission]]\nstudent = "ann"\nanswers = "dL/dx=48"\n', encoding="utf-8")
    result = run("grade", str(key), str(subs), code=0)
    assert "note for the teacher: problem lecture: the key's answers for ∂L/∂x are wrong" in result.stdout


@pytest.mark.parametrize(("name", "bad"), [("subs.toml", ""), ("subs.csv", "name,score\nann,1\n"),
                                           ("subs.csv", "student,dL/dx\n")])
def test_bad_submission_files_are_clean_errors(tmp_path: Path, name: str, bad: str) -> None:
    key, _ = write_class(tmp_path)
    subs = tmp_path / name
    subs.write_text(bad, encoding="utf-8")
    assert run("grade", str(key), str(subs), code=2).stderr.startswith("error:")


def test_a_broken_submission_is_reported_and_the_others_graded(tmp_path: Path) -> None:
    key, _ = write_class(tmp_path)
    subs = tmp_path / "subs.toml"
    subs.write_text('[[submission]]\nanswers = "L=48"\n\n[[submission]]\nstudent = "bob"\nnotes = "late"\n\n'
                    '[[submission]]\nstudent = "ann"\nanswers = "L=48, dL/dx=48, x=48, value(z)=1, six=6"\n\n'
                    '[[submission]]\nstudent = "ann"\nanswers = "L=48"\n', encoding="utf-8")
    data = json.loads(run("grade", str(key), str(subs), "--format", "json", code=1).stdout)
    rows = data["submissions"]
    assert "needs a student" in rows[0]["error"] and "unknown key notes" in rows[1]["error"]
    ann = rows[2]
    assert (ann["right"], ann["total"], ann["error"]) == (2, 7, None)  # L and dL/dx right
    assert [p.split(":")[0] for p in ann["problems"]] == ["x", "value(z)=1", "six=6"]
    assert "answered twice" in ann["problems"][0]
    assert "a second submission by ann" in rows[3]["error"]


def test_scores_count_the_key_s_questions_only(tmp_path: Path) -> None:
    key = tmp_path / "key.toml"
    key.write_text(f'[[problem]]\nname = "two"\nfunction = "{FAN}"\nat = "x=2,y=3"\nexpect = "dL/dx=48, dL/dy=28"\n'
                   'points = 10\n', encoding="utf-8")
    subs = tmp_path / "subs.toml"
    right = ", ".join(f"{k}={v}" for k, v in KEY.items())
    subs.write_text(f'[[submission]]\nstudent = "ann"\nanswers = "{right}"\n\n'
                    '[[submission]]\nstudent = "bob"\nanswers = "dL/dx=42, dL/dy=1, L=48"\n', encoding="utf-8")
    data = json.loads(run("grade", str(key), str(subs), "--format", "json", code=1).stdout)
    ann, bob = data["submissions"]
    assert (ann["right"], ann["total"], ann["score"]) == (2, 2, 10)
    assert (bob["right"], bob["total"], bob["score"]) == (0, 2, 0)
    assert "L: not asked by the key" in bob["problems"]


def test_a_student_without_a_submission_is_listed(tmp_path: Path) -> None:
    names = tmp_path / "class.txt"
    names.write_text("ann\nbob\ncat\n", encoding="utf-8")
    key = tmp_path / "key.toml"
    key.write_text(run("worksheet", FAN, "--students", str(names), "--format", "toml", code=0).stdout,
                   encoding="utf-8")
    subs = tmp_path / "subs.toml"
    subs.write_text('[[submission]]\nstudent = "ann"\nanswers = "L=0"\n', encoding="utf-8")
    data = json.loads(run("grade", str(key), str(subs), "--format", "json", code=1).stdout)
    assert [(r["student"], r["error"]) for r in data["submissions"]][1:] == [("bob", "no submission"),
                                                                               ("cat", "no submission")]


def test_errors_inside_a_homework_file_point_at_its_lines(tmp_path: Path) -> None:
    path = tmp_path / "hw.toml"
    path.write_text('[[problem]]\nname = "p1"\nfunction = "f(x) = x*x"\nat = "x=3,y=2"\nexpect = "x=6"\n\n'
                    '[[problem]]\nname = "p2"\nfunction = "f(x) = x*x"\nat = "x=3"\nexpect = "x=6, w=1"\n',
                    encoding="utf-8")
    out = run("check", str(path), code=1).stdout
    assert f"in {path}, line 4, the value of at, column 5:" in out
    assert f"in {path}, line 11, the value of expect, column 6:" in out
    assert "--at" not in out and "--expect" not in out


def test_worksheet_and_class_records_match_their_schemas(tmp_path: Path) -> None:
    import jsonschema

    from symgrad import schemas

    key, subs = write_class(tmp_path)
    records = {
        "worksheet": json.loads(run("worksheet", FAN, "--at", "x=2,y=3", "--format", "json", code=0).stdout),
        "class": json.loads(run("grade", str(key), str(subs), "--format", "json", code=1).stdout),
    }
    for name, record in records.items():
        schema = schemas.load(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(record))
        assert not errors, (name, [e.message for e in errors[:3]])


def test_the_example_class_report_is_what_symgrad_grade_makes() -> None:
    examples = Path(__file__).resolve().parent.parent / "examples" / "homework"
    result = run("grade", str(examples / "key.toml"), str(examples / "submissions.toml"), "--format", "csv", code=1)
    assert result.stdout == (examples / "report.csv").read_text(encoding="utf-8"), "regenerate report.csv"


def test_a_tensor_worksheet_shows_its_point_and_key() -> None:
    # q = W @ x = [-1, -1]; f = sum(q^2) = 2; df/dq = 2q = [-2, -2]; df/dx = W.T @ df/dq = [-8, -12]
    out = run("worksheet", "q = W @ x; f = sum(q^2)", "--at", "W=[[1,2],[3,4]],x=[1,-1]", "--key", code=0).stdout
    assert out.splitlines()[0] == "q = W @ x; f = sum(q^2)    at W = [[1, 2], [3, 4]], x = [1, -1]"
    assert "[-8, -12]" in out and "[-2, -2]" in out


def test_class_lists_skip_comments_and_refuse_a_name_twice(tmp_path: Path) -> None:
    names = tmp_path / "class.txt"
    names.write_text("# section B\nann\nbob\n", encoding="utf-8")
    problems = tomllib.loads(run("worksheet", FAN, "--students", str(names), "--format", "toml", code=0).stdout)
    assert [p["name"] for p in problems["problem"]] == ["ann", "bob"]
    names.write_text("ann\nbob\nann\n", encoding="utf-8")
    assert "names ann twice" in run("worksheet", FAN, "--students", str(names), code=2).stderr


def test_drawn_points_keep_a_sigmoid_out_of_saturation() -> None:
    # sigmoid(w*x) at w*x = -20 has a gradient of 2e-9: useless as homework; the draw avoids it
    for seed in range(10):
        ws = json.loads(run("worksheet", "f(w,x) = sigmoid(w*x)", "--seed", str(seed), "--format", "json",
                            code=0).stdout)["worksheets"][0]
        grads = [abs(r["gradient"]) for r in ws["rows"] if r["computes"] == "input"]
        assert all(g >= 1e-3 for g in grads), ws["at"]


def test_a_constant_answer_needs_no_point() -> None:
    # q = x + y: dq/dx is 1 at every point, so it is graded without --at; a number that is not the
    # answer everywhere still asks for the point
    out = run("check", "q = x + y; f = q * z", "--expect", "dq/dx=1", code=0).stdout
    assert "formula, symbolic" in out
    assert "give the point with --at" in run("check", "q = x + y; f = q * z", "--expect", "dq/dx=2", code=2).stderr
