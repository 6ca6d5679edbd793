// The toysim explorer (docs/explorer.md): precomputed paper-linear runs drawn as plain SVG.
// The data is assets/explorer.json, written by `python -m toysim explorer-data`; nothing is
// fetched from anywhere else, so the page works offline.
(function () {
  "use strict";
  const root = document.getElementById("toysim-explorer");
  if (!root) return; // loaded on every page of the site; only the explorer page has a root
  const dataUrl = new URL("explorer.json", document.currentScript.src);
  const SVG = "http://www.w3.org/2000/svg";
  // Okabe-Ito colours and a dash pattern per method, as toysim.plots.STYLES.
  const STYLE = {
    rlhf: { color: "#D55E00", dash: "", label: "RLHF" },
    "fpo-exact": { color: "#009E73", dash: "10 3 2 3", label: "exact FPO" },
    "fpo-relaxed": { color: "#0072B2", dash: "7 4", label: "relaxed FPO" },
    "fpo-practical": { color: "#E69F00", dash: "2 3", label: "practical FPO" },
  };
  const MARGIN = { left: 58, right: 16, top: 14, bottom: 46 };

  function el(tag, attrs, parent, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function html(tag, attrs, parent, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function ticks(lo, hi) {
    // About five round values (1, 2 or 5 times a power of ten) between lo and hi.
    const raw = (hi - lo) / 5;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((f) => f * power).find((s) => s >= raw);
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(+v.toFixed(6));
    return out;
  }

  function axes(svg, width, height, xDomain, yDomain, xLabel, yLabel) {
    // Draw a frame with ticks and labels; return the (x, y) data-to-pixel maps.
    const [x0, x1] = [MARGIN.left, width - MARGIN.right];
    const [y0, y1] = [height - MARGIN.bottom, MARGIN.top];
    const sx = (v) => x0 + ((v - xDomain[0]) / (xDomain[1] - xDomain[0])) * (x1 - x0);
    const sy = (v) => y0 + ((v - yDomain[0]) / (yDomain[1] - yDomain[0])) * (y1 - y0);
    const g = el("g", { class: "tx-axes" }, svg);
    el("rect", { x: x0, y: y1, width: x1 - x0, height: y0 - y1, class: "tx-frame" }, g);
    for (const v of ticks(...xDomain)) {
      el("line", { x1: sx(v), x2: sx(v), y1: y0, y2: y0 + 5 }, g);
      el("text", { x: sx(v), y: y0 + 18, "text-anchor": "middle" }, g, String(v));
    }
    for (const v of ticks(...yDomain)) {
      el("line", { x1: x0 - 5, x2: x0, y1: sy(v), y2: sy(v) }, g);
      el("text", { x: x0 - 8, y: sy(v) + 4, "text-anchor": "end" }, g, String(v));
    }
    el("text", { x: (x0 + x1) / 2, y: height - 8, "text-anchor": "middle", class: "tx-label" },
      g, xLabel);
    const ly = (y0 + y1) / 2;
    el("text", { x: 16, y: ly, transform: `rotate(-90 16 ${ly})`, "text-anchor": "middle",
      class: "tx-label" }, g, yLabel);
    const clip = `tx-clip-${svg.id}`;
    const cp = el("clipPath", { id: clip }, el("defs", {}, svg));
    el("rect", { x: x0, y: y1, width: x1 - x0, height: y0 - y1 }, cp);
    return { sx, sy, layer: el("g", { "clip-path": `url(#${clip})` }, svg) };
  }

  function pathData(xs, ys, sx, sy) {
    return xs.map((x, i) => `${i ? "L" : "M"}${sx(x).toFixed(1)},${sy(ys[i]).toFixed(1)}`)
      .join("");
  }

  function star(cx, cy, r) {
    const points = [];
    for (let i = 0; i < 10; i++) {
      const a = -Math.PI / 2 + (i * Math.PI) / 5;
      const rr = i % 2 ? r * 0.45 : r;
      points.push(`${(cx + rr * Math.cos(a)).toFixed(1)},${(cy + rr * Math.sin(a)).toFixed(1)}`);
    }
    return points.join(" ");
  }

  function slider(parent, name, title, values, start, describe) {
    const box = html("label", { class: "tx-slider" }, parent);
    html("span", { class: "tx-title" }, box, title);
    const input = html("input", { type: "range", min: 0, max: values.length - 1, step: 1,
      value: Math.max(0, values.indexOf(start)), id: `tx-${name}`, name }, box);
    const readout = html("span", { class: "tx-value" }, box);
    const show = () => { readout.textContent = describe(values[+input.value]); };
    input.addEventListener("input", show);
    show();
    return input;
  }

  function build(data) {
    const methods = Object.keys(STYLE).filter((m) => m in data.methods);
    const { amplitude: A, tau, ideal_norm: mNorm } = data.utility;
    const rlhfRuns = data.methods.rlhf.runs.flat();
    const signalMax = Math.max(mNorm, ...rlhfRuns.flatMap((r) => r.signal));
    const noiseMax = Math.max(...rlhfRuns.flatMap((r) => r.noise));
    const phaseDomain = { x: [0, 1.08 * signalMax], y: [0, 1.15 * noiseMax] };
    const relaxedGamma = data.methods["fpo-relaxed"].default_gamma;
    const exactGamma = data.methods["fpo-exact"].default_gamma;

    const controls = html("div", { class: "tx-controls" }, root);
    const gamma = slider(controls, "gamma", "steering weight", data.grid.gamma, relaxedGamma, (g) =>
      `γ = ${g}` + (g === relaxedGamma ? " (published, relaxed and practical FPO)" : "")
      + (g === exactGamma ? " (exact Stackelberg weight)" : ""));
    const cost = slider(controls, "c", "action cost", data.grid.c, data.methods.rlhf.config.hparams.action_cost,
      (c) => `c = ${c}`);
    const boxes = html("div", { class: "tx-methods" }, controls);
    const shown = {};
    for (const m of methods) {
      const label = html("label", {}, boxes);
      shown[m] = html("input", { type: "checkbox", checked: "", value: m }, label);
      const swatch = el("svg", { width: 34, height: 10, "aria-hidden": "true" }, label);
      el("line", { x1: 1, x2: 33, y1: 5, y2: 5, stroke: STYLE[m].color, "stroke-width": 3,
        "stroke-dasharray": STYLE[m].dash }, swatch);
      label.appendChild(document.createTextNode(STYLE[m].label));
    }

    const phase = el("svg", { id: "tx-phase", viewBox: "0 0 720 330", role: "img",
      "aria-label": "policy trajectories over the signal-noise plane" }, root);
    const utility = el("svg", { id: "tx-utility", viewBox: "0 0 720 260", role: "img",
      "aria-label": "true utility over iterations" }, root);
    const table = html("table", { class: "tx-table" }, root);

    function draw() {
      const gi = +gamma.value;
      const ci = +cost.value;
      root.dataset.gamma = data.grid.gamma[gi];
      root.dataset.c = data.grid.c[ci];
      phase.replaceChildren();
      utility.replaceChildren();
      const p = axes(phase, 720, 330, phaseDomain.x, phaseDomain.y,
        "signal (projection on m)", "noise (distance from the m axis)");
      // U is constant on circles around (|m|, 0): one band per unit of utility.
      for (let level = 1; level < A; level++) {
        const r = Math.sqrt(Math.log(A / level) / tau);
        el("ellipse", { cx: p.sx(mNorm), cy: p.sy(0), rx: p.sx(r) - p.sx(0),
          ry: p.sy(0) - p.sy(r), class: "tx-contour" }, p.layer);
        if (level % 2 === 0) { // labelled low on the right, away from the trajectories
          const a = Math.PI / 12;
          el("text", { x: p.sx(mNorm + r * Math.cos(a)) - 3, y: p.sy(r * Math.sin(a)),
            class: "tx-contour-label", "text-anchor": "end" }, p.layer, `U = ${level}`);
        }
      }
      el("polygon", { points: star(p.sx(mNorm), p.sy(0) - 2, 11), class: "tx-ideal" }, p.layer);
      el("text", { x: p.sx(mNorm) + 12, y: p.sy(0) - 14, class: "tx-contour-label" }, p.layer,
        "ideal m");
      el("text", { x: p.sx(phaseDomain.x[1]) - 8, y: p.sy(phaseDomain.y[1]) + 16,
        "text-anchor": "end", class: "tx-contour-label" }, p.layer,
        `start at the origin; dot: iteration ${data.iterations.at(-1)}`);
      const u = axes(utility, 720, 260, [0, data.iterations.at(-1)], [0, 1.05 * A],
        "iteration", "true utility U(θ)");
      el("line", { x1: u.sx(0), x2: u.sx(data.iterations.at(-1)), y1: u.sy(A), y2: u.sy(A),
        class: "tx-reference" }, u.layer);
      el("text", { x: u.sx(4), y: u.sy(A) + 14, class: "tx-contour-label" }, u.layer,
        `U(m) = ${A}`);

      table.replaceChildren();
      const head = html("tr", {}, html("thead", {}, table));
      for (const h of ["method", "γ", "final signal", "final noise", "final U", "peak U", ""]) {
        html("th", {}, head, h);
      }
      const body = html("tbody", {}, table);
      for (const m of methods) {
        if (!shown[m].checked) continue;
        const entry = data.methods[m];
        const run = entry.runs[entry.gamma.length === 1 ? 0 : gi][ci];
        const style = { stroke: STYLE[m].color, "stroke-dasharray": STYLE[m].dash,
          "data-method": m, class: "tx-run" };
        const n = run.signal.length;
        el("path", { ...style, d: pathData(run.signal, run.noise, p.sx, p.sy) }, p.layer);
        el("path", { ...style, d: pathData(data.iterations.slice(0, n), run.utility, u.sx, u.sy) },
          u.layer);
        if (!run.nonfinite_at) {
          el("circle", { cx: p.sx(run.signal[n - 1]), cy: p.sy(run.noise[n - 1]), r: 5,
            fill: STYLE[m].color, class: "tx-end" }, p.layer);
        }
        const row = html("tr", {}, body);
        html("td", { style: `color: ${STYLE[m].color}` }, row, STYLE[m].label);
        html("td", {}, row, entry.gamma.length === 1 ? "none" : String(entry.gamma[gi]));
        const finals = run.nonfinite_at ? [] : [run.signal[n - 1], run.noise[n - 1], run.utility[n - 1]];
        for (let k = 0; k < 3; k++) html("td", {}, row, k < finals.length ? finals[k].toFixed(2) : "–");
        html("td", {}, row, Math.max(...run.utility).toFixed(2));
        html("td", {}, row, run.nonfinite_at
          ? `diverged: non-finite at iteration ${run.nonfinite_at} (drawn up to ${data.iterations[n - 1]})`
          : "");
      }
    }

    gamma.addEventListener("input", draw);
    cost.addEventListener("input", draw);
    for (const m of methods) shown[m].addEventListener("change", draw);
    draw();
    root.dataset.ready = "true";
  }

  fetch(dataUrl)
    .then((response) => {
      if (!response.ok) throw new Error(`${dataUrl}: HTTP ${response.status}`);
      return response.json();
    })
    .then(build)
    .catch((err) => {
      root.textContent = `The explorer could not load its data (${err.message}).`;
      console.error(err);
    });
})();
