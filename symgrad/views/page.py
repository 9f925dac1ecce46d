"""The explainer page: one self-contained HTML file with the picture, the annotated table, the checks
and the chain-rule steps, that opens offline (no CDN, no network).

Clicking a node (in the picture, the table or the steps) highlights its row, its edges and its steps
and shows its chain rule with the numbers; a step control (buttons, or the arrow keys) walks the
forward pass and then the backward pass node by node, the edges' values and then their gradients
appearing in order.  Nothing moves unless the user asks.  The page's style and script are
symgrad's own (page.css, page.js beside this module), inlined; every piece of the user's text is
escaped, and reaches the script only as JSON data, which the script sets as text, never as markup.
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from typing import Any

from .. import __version__
from ..engine import Trace
from ..numbers import short
from ..records import Record
from . import picture, plain
from . import steps as steps_view
from .plain import UNICODE, Symbols
from .source import program_text


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _script_json(data: Any) -> str:
    """JSON that is safe inside <script>: no '<' can end the element or open a comment."""
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


SCALE = 1.6  # CSS pixels per Graphviz point: a little larger than print size (4/3), for the screen


def _scaled(svg: str) -> str:
    """The picture's width and height in CSS pixels at SCALE (its viewBox keeps the drawing's own units)."""
    def px(m: re.Match[str]) -> str:
        return f'{m.group(1)}="{float(m.group(2)) * SCALE:.0f}px"'

    opening, rest = svg.split(">", 1)
    return re.sub(r'\b(width|height)="([\d.]+)pt"', px, opening) + ">" + rest


def _width(svg: str) -> int:
    """The picture's width in CSS pixels: the figure takes that much before the chain-rule panel
    beside it goes below."""
    found = re.search(r'width="(\d+)px"', svg)
    return int(found.group(1)) if found else 600


def _lines(lines: list[str]) -> str:
    return "<br>".join(html.escape(line.rstrip()) for line in lines)


def render(trace: Trace, records: list[Record], check_lines: list[str], *, digits: int = 4,
           sym: Symbols = UNICODE, wrt: list[str] | None = None) -> str:
    """The page for one evaluated graph: `records` as records.records(trace) gives them,
    `check_lines` the checks as text (checks_view.lines; empty when not checked).  Returns the HTML
    document as a string.  Raises ValueError for a graph too large to draw (picture.LARGEST)."""
    svg = picture.svg(picture.dot(trace.graph, records, digits=digits, wrt=wrt))
    svg = _scaled(svg[svg.index("<svg"):])
    shown = [r for r in records if r.kind != "const"]
    rows = steps_view.rows(trace, records, digits=digits, sym=sym)
    data = {"nodes": {str(r.id): _node(r, records, rows, digits, sym, trace.graph.output_name) for r in shown},
            "steps": _walk(trace, records, digits, sym), "output": next(r.id for r in records if r.is_output)}
    program = program_text(trace.graph.program)
    title = html.escape(program)
    at = plain.point_text(trace, digits)
    summary = plain.summary(trace, digits, sym, wrt)
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title} · symgrad</title>", f"<style>\n{_asset('page.css')}</style>", "</head>", "<body>",
        "<header>", f'<h1><code>{title}</code></h1>',
        f'<p class="point">at {html.escape(at)}</p>' if at else "",
        f'<p class="summary">{_lines(summary)}</p>', "</header>",
        '<nav class="controls" aria-label="step through the passes">',
        '<button type="button" id="first" title="before the forward pass (Home)">|◀ start</button>',
        '<button type="button" id="back" title="one step back (←)">◀ back</button>',
        '<button type="button" id="next" title="one step on (→)">next ▶</button>',
        '<button type="button" id="all" title="everything at once (End)">all ▶|</button>',
        '<output id="status" aria-live="polite">All values and gradients are shown. Press next ▶ or → to step '
        "through the forward pass and then the backward pass; click a node for its chain rule.</output>",
        "</nav>",
        '<main>', '<section class="picture">', f'<div class="figure" style="--width: {_width(svg)}px">{svg}</div>',
        '<aside id="chain" aria-live="polite"><h2>Chain rule</h2>'
        '<p class="hint">Click a node, in the picture, the table or the steps.</p></aside>', "</section>",
        '<section><h2>Every node</h2><div class="scroll">', _table(shown, records, digits, sym), "</div></section>",
    ]
    if check_lines:
        parts += ['<section><h2>Checks</h2><div class="scroll"><pre class="checks">',
                  html.escape("\n".join(check_lines)), "</pre></div></section>"]
    parts += ['<section><h2>Backward pass, step by step</h2>', _steps(trace, rows, digits, sym), "</section>",
              "</main>", f'<footer>Made by symgrad {__version__}. Values are green, gradients red.</footer>',
              f'<script type="application/json" id="symgrad-data">{_script_json(data)}</script>',
              f"<script>\n{_asset('page.js')}</script>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _table(shown: list[Record], records: list[Record], digits: int, sym: Symbols) -> str:
    out = ['<table class="nodes"><thead><tr>' + "".join(f"<th>{t}</th>" for t in plain.TITLES) + "</tr></thead><tbody>"]
    for r in shown:
        cells = plain.cells(r, records, digits, sym, one_per_line=True)
        kind = "output" if r.is_output else r.kind
        tds = "".join(f'<td class="c{c}">{_lines(cell)}</td>' for c, cell in enumerate(cells))
        out.append(f'<tr data-node="{r.id}" class="{kind}" tabindex="0">{tds}</tr>')
    out.append("</tbody></table>")
    return "\n".join(out)


def _steps(trace: Trace, rows: list[steps_view.Step], digits: int, sym: Symbols) -> str:
    if trace.mode == "jacobian":
        return (f"<p>The output {html.escape(trace.graph.output_name)} is not a scalar: its gradient is a "
                "Jacobian, one backward pass per element. Give <code>--upstream</code> to follow one.</p>")
    out = [f"<p>{html.escape(steps_view.seed(trace, digits, sym))}</p>", '<ol class="steps">']
    for s in rows:
        note = f' <span class="note">{html.escape(s.note)}</span>' if s.note else ""
        out.append(f'<li data-node="{s.node}"><code>{html.escape(s.left)} = {html.escape(s.middle)} = '
                   f'<b>{html.escape(s.result)}</b></code>{note}</li>')
    out.append("</ol>")
    return "\n".join(out)


def _node(r: Record, records: list[Record], rows: list[steps_view.Step], digits: int, sym: Symbols,
          output: str) -> dict[str, Any]:
    """What the script needs of a node: its edges in the picture and its chain rule as text."""
    cells = plain.cells(r, records, digits, sym, one_per_line=True)
    d = sym.partial
    value = short(r.value, digits, oneline=True)
    forward = f"{r.label} = {value} (an input)" if r.kind == "input" else f"{r.label} = {r.computes} = {value}"
    inputs = [f"{records[e.source].label} = {short(records[e.source].value, digits, oneline=True)}"
              for e in r.edges]
    return {
        "label": r.label,
        "edges": [{"id": f"edge-{r.id}-{k}", "source": e.source} for k, e in enumerate(r.edges)
                  if records[e.source].kind != "const"],
        "forward": forward + (f"   with {', '.join(inputs)}" if inputs else ""),
        "local": [line for line in cells[3] if line],
        "upstream": "" if r.upstream is None else f"{d}{output}/{d}{r.label} = "
                    f"{short(r.upstream, digits, oneline=True)}",
        "chain": [f"{s.left} = {s.middle} = {s.result}" + (f"   {s.note}" if s.note else "")
                  for s in rows if s.node == r.id],
        "notes": [line for line in cells[6] if line],
    }


def _walk(trace: Trace, records: list[Record], digits: int, sym: Symbols) -> list[dict[str, Any]]:
    """The step control's steps: the forward pass node by node, then the backward pass from the
    output (for a scalar output, or with an upstream gradient), each with the sentence the status
    line shows."""
    d, out = sym.partial, trace.graph.output_name
    shown = [r for r in records if r.kind != "const"]
    walk: list[dict[str, Any]] = []
    for r in shown:
        value = short(r.value, digits, oneline=True)
        text = (f"{r.label} = {value}: an input" if r.kind == "input"
                else f"{r.label} = {r.computes} = {value}")
        walk.append({"node": r.id, "phase": "forward", "text": text})
    if trace.mode == "jacobian":  # no single backward pass: one per element of the output
        return walk
    for r in reversed(shown):
        if r.upstream is None:
            continue
        grad = short(r.upstream, digits, oneline=True)
        if r.is_output:
            text = f"{d}{out}/{d}{out} = {grad}: the backward pass starts at the output"
        elif len(r.contributions) > 1:
            text = f"{d}{out}/{d}{r.label} = {grad}: its branches add up"
        else:
            text = f"{d}{out}/{d}{r.label} = {grad} reaches {r.label}"
        sends = [e for e in r.edges if e.downstream is not None]
        if sends:
            text += "; it sends down " + ", ".join(
                f"{records[e.source].label} {sym.arrow} {short(e.downstream, digits, oneline=True)}"
                for e in sends)
        walk.append({"node": r.id, "phase": "backward", "text": text})
    return walk
