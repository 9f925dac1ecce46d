"""The example notebook (examples/lecture.ipynb) runs from top to bottom in a real Jupyter kernel, and an
evaluated trace shows itself there as the picture and the table (Trace._repr_svg_ and _repr_html_).

The notebook is executed once per run with nbclient, in an IPython kernel of this interpreter: a "python3"
kernel spec whose argv is sys.executable is installed into a temporary JUPYTER_PATH, so neither the user's
kernels nor whichever `python` is first on PATH are used. The 600 s per cell is only a safety net; nothing
here depends on how fast the machine is. Every number the notebook prints is compared with a value derived
by hand in this file.
"""

from __future__ import annotations

import html
import math
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
from IPython.core.formatters import DisplayFormatter
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

import symgrad

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOTEBOOK = EXAMPLES / "lecture.ipynb"
SVG = "{http://www.w3.org/2000/svg}"
# The code cells that display a trace, and what each one's picture and table must show.
TRACES = {
    "ex1-trace": (["x", "y", "z", "+", "×", "-2", "5", "-4", "3", "-12"],
                  ["x + y", "n1 * z", "f = -12", "∂f/∂x = -4", "∂f/∂y = -4", "∂f/∂z = 3"]),
    "patterns-trace": (["max", "-12", "-10", "-20"],
                       ["max(z, w)", "f = -20", "∂f/∂x = -8", "∂f/∂y = 6", "∂f/∂z = 2", "∂f/∂w = 0"]),
    "fan-out-trace": (["x", "6 + 1 = 7", "×", "+", "9", "12"], ["x * x", "f = 12", "∂f/∂x = 7", "branches add"]),
    "neuron-trace": (["exp", "0.3679", "1.368", "0.7311", "-0.5344", "0.1966"],
                     ["exp(n5)", "1 / n7", "f = 0.7311", "∂f/∂w0 = -0.1966", "∂f/∂x1 = -0.5898"]),
    "sigmoid-trace": (["σ", "0.7311", "0.1966"], ["sigmoid(n4)", "f*(1 - f) = 0.1966", "∂f/∂x0 = 0.3932"]),
    "expand-trace": (["sigmoid", "exp", "0.3679", "1.368", "0.7311"], ["exp(n5)", "n6 + 1", "∂f/∂w1 = -0.3932"]),
    "vector-trace": (["W (2, 2)", "x (2,)", "q (2,)", "[0.22, 0.26]", "[-0.112, 0.636]", "0.116"],
                     ["W @ x", "[0.22, 0.26]", "f = 0.116", "[-0.112, 0.636]"]),
}


def g4(v: float) -> str:
    """A number as the notebook prints it (4 significant digits)."""
    return f"{v:.4g}"


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import ipykernel.kernelspec

    tmp = tmp_path_factory.mktemp("jupyter")
    ipykernel.kernelspec.install(kernel_name="python3", prefix=str(tmp))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("JUPYTER_PATH", str(tmp / "share" / "jupyter"))
        env.setenv("JUPYTER_RUNTIME_DIR", str(tmp / "runtime"))
        env.setenv("IPYTHONDIR", str(tmp / "ipython"))
        spec = KernelSpecManager().get_kernel_spec("python3")
        assert spec.argv[0] == sys.executable, spec.argv  # the kernel runs in this interpreter
        nb = nbformat.read(NOTEBOOK, as_version=4)
        NotebookClient(nb, kernel_name="python3", timeout=600,
                       resources={"metadata": {"path": str(EXAMPLES)}}).execute()
    yield nb


def cell(nb: Any, cid: str) -> Any:
    found = [c for c in nb.cells if c.get("id") == cid]
    assert len(found) == 1, f"no cell {cid!r} in {NOTEBOOK.name}"
    return found[0]


def stdout(nb: Any, cid: str) -> str:
    return "".join(o.text for o in cell(nb, cid).outputs if o.output_type == "stream" and o.name == "stdout")


def chain_lines(text: str) -> dict[tuple[str, str], tuple[str, str, str]]:
    """The chain rule as printed: (input, via gate) -> (upstream, local, downstream); an input reached
    twice through one gate (x * x) is listed under (input, via gate, 2)."""
    found: dict[Any, tuple[str, str, str]] = {}
    for m in re.finditer(r"^∂f/∂(\w+) via (\w+): (\S+) × (\S+) = (\S+)", text, re.M):
        key: Any = (m[1], m[2])
        if key in found:
            key = (m[1], m[2], 2)
        found[key] = (m[3], m[4], m[5])
    return found


def test_the_committed_notebook_has_no_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert 15 <= len(nb.cells) <= 25


def test_every_cell_runs_without_an_error(notebook: Any) -> None:
    for c in notebook.cells:
        if c.cell_type == "code":
            assert c.execution_count is not None, c.source
            errors = [o for o in c.outputs if o.output_type == "error"]
            assert not errors, f"cell {c.id}: {errors[0].ename}: {errors[0].evalue}"
            assert not any(o.output_type == "stream" and o.name == "stderr" for o in c.outputs), c.id


@pytest.mark.parametrize("cid", list(TRACES))
def test_a_displayed_trace_is_the_picture_and_the_table(notebook: Any, cid: str) -> None:
    in_picture, in_table = TRACES[cid]
    shown = [o for o in cell(notebook, cid).outputs if o.output_type in ("execute_result", "display_data")]
    assert len(shown) == 1, cid
    data = shown[0].data
    svg, page = data["image/svg+xml"], data["text/html"]
    texts = [(t.text or "").strip() for t in ET.fromstring(svg).iter(f"{SVG}text")]
    for want in in_picture:
        assert want in texts, (cid, want)
    # the HTML is the picture above the table: well-formed, with the table's text in a <pre>
    root = ET.fromstring(f"<root>{page}</root>")
    assert root.find(f"div/{SVG}svg") is not None
    table = root.find("pre")
    assert table is not None and table.text is not None
    for want in in_table:
        assert want in table.text, (cid, want)


def test_the_first_example_step_by_step(notebook: Any) -> None:
    x, y, z = -2.0, 5.0, -4.0
    q = x + y  # 3: the add gate
    # backward: the mul gate switches (local gradients z and q), the add gate distributes (local 1)
    hand = {("n1", "f"): (1, z, z), ("z", "f"): (1, q, q), ("x", "n1"): (z, 1, z), ("y", "n1"): (z, 1, z)}
    assert chain_lines(stdout(notebook, "ex1-chain")) == {
        k: tuple(g4(v) for v in vs) for k, vs in hand.items()}
    assert f"∂f/∂x = {g4(z)}   ∂f/∂y = {g4(z)}   ∂f/∂z = {g4(q)}" in stdout(notebook, "ex1-chain")
    assert stdout(notebook, "ex1-check").strip() == f"{q * z} {{'x': {z}, 'y': {z}, 'z': {q}}} True"


def test_add_distributes_mul_switches_max_routes(notebook: Any) -> None:
    x, y = 3.0, -4.0  # and z = 2 > w = -1: max routes everything to z
    up = 2.0  # f = 2 * (x*y + max(z, w)): the sum's upstream is the constant 2
    hand = {("n3", "f"): (1, 2, up), ("n1", "n3"): (up, 1, up), ("n2", "n3"): (up, 1, up),
            ("z", "n2"): (up, 1, up), ("w", "n2"): (up, 0, 0), ("x", "n1"): (up, y, up * y),
            ("y", "n1"): (up, x, up * x)}
    text = stdout(notebook, "patterns-chain")
    assert chain_lines(text) == {k: tuple(g4(v) for v in vs) for k, vs in hand.items()}
    assert "(max routes)" in text and "(mul switches)" in text and "(add distributes)" in text
    assert f"∂f/∂x = {g4(up * y)}   ∂f/∂y = {g4(up * x)}   ∂f/∂z = {g4(up)}   ∂f/∂w = 0" in text


def test_branches_add_at_fan_out(notebook: Any) -> None:
    x = 3.0
    text = stdout(notebook, "fan-out-trace")
    hand = {("n1", "f"): (1, 1, 1), ("x", "f"): (1, 1, 1), ("x", "n1"): (1, x, x), ("x", "n1", 2): (1, x, x)}
    assert chain_lines(text) == {k: tuple(g4(v) for v in vs) for k, vs in hand.items()}
    assert f"x receives {g4(2 * x)} + 1 = {g4(2 * x + 1)}" in text


def neuron_by_hand() -> tuple[dict[str, float], dict[str, float]]:
    """The sigmoid neuron at the lecture's point: the forward values and d f / d each input."""
    w0, x0, w1, x1, w2 = 2.0, -1.0, -3.0, -2.0, -3.0
    s = w0 * x0 + w1 * x1 + w2  # 1
    n5, n6 = -s, math.exp(-s)
    n7 = 1 + n6
    f = 1 / n7
    d = f * (1 - f)
    forward = {"s": s, "n5": n5, "n6": n6, "n7": n7, "f": f, "d": d}
    return forward, {"w0": x0 * d, "x0": w0 * d, "w1": x1 * d, "x1": w1 * d, "w2": d}


def test_the_sigmoid_neuron_written_out(notebook: Any) -> None:
    v, grad = neuron_by_hand()
    d7 = -1 / v["n7"] ** 2  # the 1/x gate's local gradient
    d5 = d7 * v["n6"]  # through +1 (distributes) and exp (local exp(n5))
    d4 = -d5  # the negation
    hand = {("n7", "f"): (1, d7, d7), ("n6", "n7"): (d7, 1, d7), ("n5", "n6"): (d7, v["n6"], d5),
            ("n4", "n5"): (d5, -1, d4), ("n3", "n4"): (d4, 1, d4), ("w2", "n4"): (d4, 1, d4),
            ("n1", "n3"): (d4, 1, d4), ("n2", "n3"): (d4, 1, d4), ("w1", "n2"): (d4, -2, d4 * -2),
            ("x1", "n2"): (d4, -3, d4 * -3), ("w0", "n1"): (d4, -1, -d4), ("x0", "n1"): (d4, 2, 2 * d4)}
    text = stdout(notebook, "neuron-chain")
    assert chain_lines(text) == {k: tuple(g4(x) for x in xs) for k, xs in hand.items()}
    assert "   ".join(f"∂f/∂{k} = {g4(g)}" for k, g in grad.items()) in text


def test_the_sigmoid_gate(notebook: Any) -> None:
    v, grad = neuron_by_hand()
    d = v["d"]
    lines = chain_lines(stdout(notebook, "sigmoid-trace"))
    assert lines[("n4", "f")] == (g4(1), g4(d), g4(d))  # one gate, local gradient σ(1 - σ)
    assert lines[("x1", "n2")] == (g4(d), "-3", g4(grad["x1"]))
    assert len(lines) == 9
    assert stdout(notebook, "sigmoid-check").splitlines() == [
        f"σ(1) = {g4(v['f'])}   1 - σ(1) = {g4(1 - v['f'])}   σ(1)(1 - σ(1)) = {g4(d)}",
        "gate == written out: True", "gate == by hand: True"]
    assert stdout(notebook, "expand-trace").splitlines() == [
        "['w0 * x0', 'w1 * x1', 'n1 + n2', 'n3 + w2', '-n4', 'exp(n5)', 'n6 + 1', '1 / n7']",
        "expanded == written out: True"]


def test_the_vector_example(notebook: Any) -> None:
    W, x = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])
    q = [float(W[0, 0] * x[0] + W[0, 1] * x[1]), float(W[1, 0] * x[0] + W[1, 1] * x[1])]
    f = q[0] ** 2 + q[1] ** 2
    dW = [[round(float(2 * q[i] * x[j]), 4) for j in range(2)] for i in range(2)]
    dx = [round(float(2 * q[0] * W[0, j] + 2 * q[1] * W[1, j]), 4) for j in range(2)]
    assert stdout(notebook, "vector-check").splitlines() == [
        f"q = W·x = {[round(v, 4) for v in q]}   f = {g4(f)}",
        f"∂f/∂W = {dW}   by hand 2q·xᵀ: {dW}", f"∂f/∂x = {dx}   by hand Wᵀ·2q: {dx}", "agree: True"]


def test_the_numbers_in_the_text_are_in_the_outputs(notebook: Any) -> None:
    """Every decimal number the markdown states is one the code prints or displays."""
    shown = []
    for c in notebook.cells:
        for o in c.get("outputs", []):
            if o.output_type == "stream":
                shown.append(o.text)
            elif "text/html" in o.get("data", {}):
                shown.append(html.unescape(o.data["text/html"].split("<pre>", 1)[1]))
    shown_text = "\n".join(shown)
    for c in notebook.cells:
        if c.cell_type == "markdown":
            for number in re.findall(r"[−-]?\d+\.\d+", c.source):
                assert number.replace("−", "-") in shown_text, (c.id, number)


def test_jupyter_shows_a_trace_as_svg_and_html() -> None:
    trace = symgrad.evaluate(symgrad.parse("f(x,y,z)=(x+y)*z"), {"x": -2, "y": 5, "z": -4})
    data, _ = DisplayFormatter().format(trace)
    assert data["image/svg+xml"].startswith("<svg") and ">&#45;12<" in data["image/svg+xml"]
    assert "<svg" in data["text/html"] and "f = -12" in data["text/html"]


def test_the_html_escapes_the_program_text(monkeypatch: pytest.MonkeyPatch) -> None:
    trace = symgrad.evaluate(symgrad.parse("f(s,b)=2*s[b]"), {"s": [1, 2, 3], "b": 1})
    page = trace._repr_html_()
    assert page is not None
    root = ET.fromstring(f"<root>{page}</root>")  # well-formed: no stray < or & from the text
    table = root.find("pre")
    assert table is not None and table.text is not None
    assert "f(s, b) = 2 * s[b]" in table.text and "n1    s[b]" in table.text
    assert [e.tag for e in root] == ["div", "pre"]
    # whatever the table's text holds, it reaches the page as text, never as markup
    from symgrad.views import plain

    monkeypatch.setattr(plain, "render", lambda *_: "<b>a & b</b> <script>x</script>")
    page = trace._repr_html_()
    assert page is not None and page.endswith("<pre>&lt;b&gt;a &amp; b&lt;/b&gt; &lt;script&gt;x&lt;/script&gt;</pre>")
