"""Pictures of the graph (issue 14): DOT as the lecture draws it, SVG from Graphviz's WebAssembly build,
PNG rasterized from it; the committed pictures in examples/pictures are what the commands make."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support import run

from symgrad.views.picture import GREEN, LARGEST, RED

LECTURE = ("f(x,y,z)=(x+y)*z", "x=-2,y=5,z=-4")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def texts(svg: str) -> list[tuple[str | None, str]]:
    """(fill, text) of every <text> of an SVG."""
    root = ET.fromstring(svg.split("?>", 1)[-1].split("-->", 2)[-1] if svg.startswith("<?xml") else svg)
    return [(t.get("fill"), (t.text or "").strip()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_the_lecture_example_as_dot() -> None:
    text = run(LECTURE[0], "--at", LECTURE[1], "--dot", code=0).stdout
    assert text.startswith("digraph symgrad {") and "rankdir=LR;" in text
    assert 'label="x", shape=box' in text and 'label="+\\nn1", shape=circle' in text  # gates with their labels
    assert 'label="×\\nf", shape=circle, peripheries=2' in text  # the output stands out
    # each edge: the value flowing forward, then the gradient flowing back (by hand: q = 3, df/dq = z = -4)
    assert 'n3 -> n4 [label="3\\n-4", id="edge-4-0"]' in text and 'n2 -> n4 [label="-4\\n3", id="edge-4-1"]' in text
    assert 'label="-12\\n1", shape=plaintext' in text  # the output's value and its seed
    assert "checks" not in text  # the DOT text alone, in place of the table


def test_svg_colours_values_green_and_gradients_red(tmp_path: Path) -> None:
    path = tmp_path / "lecture.svg"
    out = run(LECTURE[0], "--at", LECTURE[1], "--svg", str(path), "--no-check", code=0).stdout
    assert "f = -12" in out  # the table is printed as usual
    found = texts(path.read_text(encoding="utf-8"))
    greens = [t for fill, t in found if fill == GREEN]
    reds = [t for fill, t in found if fill == RED]
    assert sorted(greens) == sorted(["-2", "5", "3", "-4", "-12"])
    assert sorted(reds) == sorted(["-4", "-4", "-4", "3", "1"])
    assert {t for fill, t in found if fill is None} >= {"x", "y", "z", "+", "×", "f"}


def test_png_is_rasterized_from_the_svg(tmp_path: Path) -> None:
    path = tmp_path / "lecture.png"
    run(LECTURE[0], "--at", LECTURE[1], "-o", str(path), "--no-check", code=0)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_the_output_file_s_ending_chooses_the_format(tmp_path: Path) -> None:
    run(LECTURE[0], "--at", LECTURE[1], "-o", str(tmp_path / "g.dot"), "--no-check", code=0)
    assert (tmp_path / "g.dot").read_text(encoding="utf-8").startswith("digraph")
    result = run(LECTURE[0], "--at", LECTURE[1], "-o", str(tmp_path / "g.gif"), "--no-check", code=2)
    assert "end the file's name with .svg, .png or .dot" in result.stderr


def test_without_a_point_the_graph_shows_its_formulas() -> None:
    text = run("q = x + y; f = q * z", "--dot", code=0).stdout
    assert 'label="+\\nq = x + y"' in text and 'label="×\\nf = q * z", shape=ellipse, peripheries=2' in text
    assert "->" in text and "\\n-" not in text  # no numbers


def test_fan_out_adds_its_branches_and_steps_number_the_backward_pass() -> None:
    # f = x*x + x at 3: x receives 3 + 3 from the product (6) and 1 from the sum: 6 + 1 = 7
    text = run("f(x) = x*x + x", "--at", "x=3", "--dot", "--steps", code=0).stdout
    assert 'label="x\\n6 + 1 = 7", shape=box' in text and 'class="branches"' in text
    numbers = sorted(int(n) for n in re.findall(r"\\n\((\d+)\) ", text))
    assert numbers == [1, 2, 3, 4]  # one number for each edge a gradient goes down


def test_constants_show_on_their_gate_and_kinks_are_dashed() -> None:
    text = run("f(x) = 1 / (x^2 + relu(x))", "--at", "x=0", "--dot", code=0).stdout
    assert 'label="^ 2\\nn1"' in text and '"1 ÷\\nf"' in text
    assert "style=dashed" in text and 'tooltip="kink: relu\'(0) = 0' in text


def test_a_graph_too_large_to_read_is_refused() -> None:
    text = " + ".join(f"sin({k}*x)" for k in range(LARGEST))
    result = run(text, "--at", "x=1", "--dot", "--no-check", code=2)
    assert f"more than a picture of {LARGEST} can show readably" in result.stderr


def test_expand_draws_a_labelled_cluster_around_each_call() -> None:
    # sigmoid's primitives in a box called sigmoid; h's nodes in a box called h, with sq's box inside it
    program = "sq(a)=a*a; h(a,b)=sq(a)+b; f(x,y)=sigmoid(h(x,y))*sq(y)"
    for point in (["--at", "x=1,y=2"], []):
        text = run(program, *point, "--expand", "--dot", "--no-check", code=0).stdout
        boxes = re.findall(r"subgraph cluster_\d+ \{ label=\"(\w+)\"", text)
        assert boxes == ["h", "sq", "sigmoid", "sq"], text
        h = text[text.index('label="h"'):text.index('label="sigmoid"')]
        assert h.count("{") == 2 and h.count("}") == 2  # sq's box closes inside h's
        members = text[text.index('label="sigmoid"'):].split("\n")[1].strip(" ;").split("; ")
        marks = [re.search(rf"  {m} \[label=\"([^\\]*)", text).group(1) for m in members]  # type: ignore[union-attr]
        assert [m.replace("1", "").strip() for m in marks] == ["−", "exp", "+", "÷"], marks  # 1 ÷ with a point
    grouped = run(program, "--at", "x=1,y=2", "--dot", "--no-check", code=0).stdout
    assert "cluster" not in grouped  # without --expand a call is one node


@pytest.mark.parametrize(("name", "args"), [
    ("lecture", ["f(x,y,z)=(x+y)*z", "--at", "x=-2,y=5,z=-4"]),
    ("sigmoid-neuron", ["f(w0,x0,w1,x1,w2) = sigmoid(w0*x0 + w1*x1 + w2)", "--at", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3"]),
    ("sigmoid-neuron-expanded", ["f(w0,x0,w1,x1,w2) = sigmoid(w0*x0 + w1*x1 + w2)", "--at",
                                 "w0=2,x0=-1,w1=-3,x1=-2,w2=-3", "--expand"]),
    ("fan-out", ["f(x) = x*x + x", "--at", "x=3", "--steps"]),
    ("vector-norm", ["q = W @ x; f = sum(q^2)", "--at", "W=[[0.1,0.5],[-0.3,0.8]],x=[0.2,0.4]"]),
])
def test_the_committed_pictures_are_what_symgrad_draws(tmp_path: Path, name: str, args: list[str]) -> None:
    path = tmp_path / f"{name}.svg"
    run(*args, "--svg", str(path), "--no-check", code=0)
    committed = (EXAMPLES / "pictures" / f"{name}.svg").read_text(encoding="utf-8")
    assert path.read_text(encoding="utf-8") == committed, f"redraw examples/pictures/{name}.svg"


def test_a_trace_shows_itself_in_a_notebook() -> None:
    import symgrad

    trace = symgrad.evaluate(symgrad.parse(LECTURE[0]), {"x": -2, "y": 5, "z": -4})
    svg = trace._repr_svg_()
    assert svg is not None and svg.startswith("<svg") and ">&#45;12<" in svg  # Graphviz writes - as &#45;
    page = trace._repr_html_()
    assert page is not None and "<svg" in page and "f = -12" in page and "∂f/∂x = -4" in page
    many = symgrad.engine.evaluate_points(symgrad.parse("x*x"), {"x": [1.0, 2.0]})
    assert many._repr_svg_() is None and many._repr_html_() is None


def test_a_trace_reads_as_one_line() -> None:
    # what Jupyter shows as text/plain, beside the picture: not the arrays of every node
    import symgrad

    trace = symgrad.evaluate(symgrad.parse(LECTURE[0]), {"x": -2, "y": 5, "z": -4})
    assert repr(trace) == "<Trace f(x, y, z) = (x + y) * z at x = -2, y = 5, z = -4, value -12>"
    many = symgrad.engine.evaluate_points(symgrad.parse("x*x"), {"x": [1.0, 2.0, 3.0]})
    assert repr(many) == "<Trace x * x at 3 points>"


def test_wrt_greys_the_inputs_not_asked_for_and_long_arrays_are_abbreviated() -> None:
    text = run("f(x,y)=x*y", "--at", "x=1,y=2", "--wrt", "x", "--dot", code=0).stdout
    y = next(line for line in text.splitlines() if 'label="y"' in line)
    x = next(line for line in text.splitlines() if 'label="x"' in line)
    assert "dashed" in y and "#8c959f" in y and "bold" in x and "#8c959f" not in x
    # a vector of 12 and a 2 x 12 matrix: their first elements, the shape on the node
    text = run("f(x,W)=sum(W@x)", "--at", "x=[1,2,3,4,5,6,7,8,9,10,11,12],W=[[1,2,3,4,5,6,7,8,9,10,11,12],"
               "[1,2,3,4,5,6,7,8,9,10,11,12]]", "--dot", "--no-check", code=0).stdout
    assert 'label="x (12,)"' in text and 'label="W (2, 12)"' in text
    assert '[label="[1, 2, 3, …, 12]\\n[2, 4, 6, …, 24]"' in text  # x, and its gradient Wᵀ·1 (W's column sums)
    assert '[label="[[1, 2, 3, …], …]\\n[[1, 2, 3, …], …]"' in text  # W's value, and its gradient 1 x^T
