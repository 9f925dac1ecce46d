// symgrad's explainer page: choose a node to see its chain rule; step through the forward pass and
// then the backward pass.  The data is JSON written by symgrad; user text is only ever set as text.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("symgrad-data").textContent);
  const ids = Object.keys(data.nodes).map(Number);
  const steps = data.steps;
  const byId = (id) => document.getElementById(id);
  const outgoing = new Map(ids.map((n) => [n, []]));  // node -> the edges that leave it
  for (const n of ids) {
    for (const e of data.nodes[n].edges) {
      if (outgoing.has(e.source)) outgoing.get(e.source).push(e.id);
    }
  }

  // ---- choosing a node ---------------------------------------------------------------------
  let chosen = null;

  function paragraph(panel, label, lines, cls) {
    if (!lines.length) return;
    const p = document.createElement("p");
    const name = document.createElement("span");
    name.className = "label";
    name.textContent = label + ": ";
    p.appendChild(name);
    lines.forEach((line, k) => {
      if (k > 0) p.appendChild(document.createElement("br"));
      const span = document.createElement("span");
      if (cls) span.className = cls;
      span.textContent = line;
      p.appendChild(span);
    });
    panel.appendChild(p);
  }

  function choose(n) {
    document.querySelectorAll(".selected").forEach((el) => el.classList.remove("selected"));
    chosen = n;
    const panel = byId("chain");
    panel.replaceChildren();
    const head = document.createElement("h2");
    panel.appendChild(head);
    if (n === null) {
      head.textContent = "Chain rule";
      const p = document.createElement("p");
      p.className = "hint";
      p.textContent = "Click a node, in the picture, the table or the steps.";
      panel.appendChild(p);
      return;
    }
    const node = data.nodes[n];
    head.textContent = "Chain rule at " + node.label;
    const marked = [byId("node-" + n), ...node.edges.map((e) => byId(e.id)),
      ...outgoing.get(n).map((id) => byId(id)),
      ...document.querySelectorAll('[data-node="' + n + '"]')];
    marked.forEach((el) => el && el.classList.add("selected"));
    paragraph(panel, "forward", [node.forward], "value");
    paragraph(panel, "local gradients", node.local, "");
    paragraph(panel, "upstream", node.upstream ? [node.upstream] : [], "gradient");
    paragraph(panel, "upstream × local = downstream", node.chain, "gradient");
    paragraph(panel, "notes", node.notes, "");
  }

  function chooser(n) {
    return (event) => { event.stopPropagation(); choose(chosen === n ? null : n); };
  }

  for (const n of ids) {
    const g = byId("node-" + n);
    if (g) {
      g.setAttribute("tabindex", "0");
      g.setAttribute("role", "button");
      g.setAttribute("aria-label", "node " + data.nodes[n].label);
      g.addEventListener("click", chooser(n));
      g.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); choose(n); }
      });
    }
  }
  document.querySelectorAll("[data-node]").forEach((el) => {
    const n = Number(el.dataset.node);
    el.addEventListener("click", chooser(n));
    el.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); choose(n); }
    });
  });

  // ---- stepping through the passes ---------------------------------------------------------
  let done = steps.length;  // how many steps are shown
  let overview = true;  // everything at once, as the page opens

  function texts(el, cls) {
    return el ? Array.from(el.querySelectorAll("text." + cls)) : [];
  }

  function show() {
    const stepping = !overview;
    document.body.classList.toggle("stepping", stepping);
    document.querySelectorAll(".current").forEach((el) => el.classList.remove("current"));
    const forward = new Set();
    const backward = new Set();
    steps.slice(0, done).forEach((s) => (s.phase === "forward" ? forward : backward).add(s.node));
    const reached = (set, n) => !stepping || set.has(n);
    for (const n of ids) {
      const g = byId("node-" + n);
      if (g) {
        g.classList.toggle("pending", !reached(forward, n));
        texts(g, "gradient").forEach((t) => t.classList.toggle("unreached", !reached(backward, n)));
      }
      for (const e of data.nodes[n].edges) {
        const edge = byId(e.id);
        if (!edge) continue;
        edge.classList.toggle("pending", !reached(forward, e.source));
        texts(edge, "value").forEach((t) => t.classList.toggle("unreached", !reached(forward, e.source)));
        texts(edge, "gradient").forEach((t) => t.classList.toggle("unreached", !reached(backward, n)));
      }
    }
    const result = byId("result");
    texts(result, "value").forEach((t) => t.classList.toggle("unreached", !reached(forward, data.output)));
    texts(result, "gradient").forEach((t) => t.classList.toggle("unreached", !reached(backward, data.output)));
    const status = byId("status");
    status.replaceChildren();
    if (overview) {
      status.textContent = "All values and gradients are shown. Press next ▶ or → to step through the forward " +
        "pass and then the backward pass; click a node for its chain rule.";
      return;
    }
    if (done === 0) {
      status.textContent = "Before the forward pass: nothing is computed yet. Press next ▶ or →.";
      return;
    }
    const step = steps[done - 1];
    const inPhase = steps.filter((s) => s.phase === step.phase);
    const phase = document.createElement("span");
    phase.className = "phase " + step.phase;
    phase.textContent = (step.phase === "forward" ? "Forward pass" : "Backward pass") + ", step " +
      (inPhase.indexOf(step) + 1) + " of " + inPhase.length + ": ";
    status.appendChild(phase);
    status.appendChild(document.createTextNode(step.text));
    const g = byId("node-" + step.node);
    if (g) g.classList.add("current");
    for (const e of data.nodes[step.node].edges) {
      const edge = byId(e.id);
      if (edge) edge.classList.add("current");
    }
    document.querySelectorAll('tr[data-node="' + step.node + '"]').forEach((el) => el.classList.add("current"));
  }

  function go(where) {
    if (where === "all") {
      overview = true;
      done = steps.length;
    } else if (where === "first") {
      overview = false;
      done = 0;
    } else if (where === "next") {
      done = overview ? 1 : Math.min(done + 1, steps.length);
      overview = false;
    } else if (where === "back") {
      done = overview ? steps.length : Math.max(done - 1, 0);
      overview = false;
    }
    show();
  }

  for (const where of ["first", "back", "next", "all"]) {
    byId(where).addEventListener("click", () => go(where));
  }
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const where = { ArrowRight: "next", ArrowLeft: "back", Home: "first", End: "all" }[event.key];
    if (where) { event.preventDefault(); go(where); }
    if (event.key === "Escape") choose(null);
  });
  show();
})();
