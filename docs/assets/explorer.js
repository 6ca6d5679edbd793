// The toysim explorer (docs/explorer.md): paper-linear run live in the browser (game.js) for
// any gamma and c, drawn as plain SVG. Its data, assets/explorer.json, holds each method's
// configuration and seed 0's initial reward weights (`python -m toysim explorer-data`);
// nothing is fetched from anywhere else, so the page works offline.
import { gameOf, simulate, utility as utilityAt } from "./game.js";
import { axes, buildWith, el, html, numberControl, pathData, star } from "./plot.js";

// Okabe-Ito colours and a dash pattern per method, as toysim.plots.STYLES.
const STYLE = {
  rlhf: { color: "#D55E00", dash: "", label: "RLHF" },
  "fpo-exact": { color: "#009E73", dash: "10 3 2 3", label: "exact FPO" },
  "fpo-relaxed": { color: "#0072B2", dash: "7 4", label: "relaxed FPO" },
  "fpo-practical": { color: "#E69F00", dash: "2 3", label: "practical FPO" },
};

/** Each shown method's run at (gamma, c), and the milliseconds the runs took. */
function runAll(data, methods, gamma, c) {
  const start = performance.now();
  const runs = {};
  for (const m of methods) {
    const foresight = data.methods[m].config.spec.method.foresight;
    runs[m] = simulate(gameOf(data, m, { gamma: foresight ? gamma : 0, c }));
  }
  return { runs, ms: performance.now() - start };
}

/** Whole units above the largest finite value of `series` (at least `least`), so the
 *  axes move in steps as the sliders do. */
function extent(series, least) {
  let top = least;
  for (const s of series) for (const v of s) if (Number.isFinite(v)) top = Math.max(top, v);
  return Math.ceil(Math.min(top, 4 * least) + 1e-9);
}

function build(root, data) {
  const methods = Object.keys(STYLE).filter((m) => m in data.methods);
  const rlhf = data.methods.rlhf.config;
  const hp = rlhf.hparams;
  const A = hp.amplitude;
  const mNorm = hp.ideal_value * Math.sqrt(rlhf.spec.signal_dims);
  const relaxedGamma = data.methods["fpo-relaxed"].default_gamma;
  const exactGamma = data.methods["fpo-exact"].default_gamma;
  const settings = { gamma: relaxedGamma, c: hp.action_cost };

  const controls = html("div", { class: "tx-controls" }, root);
  numberControl(controls, { id: "tx-gamma", title: "steering weight", symbol: "γ", min: 0.001,
    max: 10, log: true, zero: true, value: settings.gamma, onChange: (v) => { settings.gamma = v; draw(); } });
  numberControl(controls, { id: "tx-c", title: "action cost", symbol: "c", min: 0, max: 1,
    step: 0.005, value: settings.c, onChange: (v) => { settings.c = v; draw(); } });
  const boxes = html("div", { class: "tx-methods" }, controls);
  const shown = {};
  for (const m of methods) {
    const label = html("label", {}, boxes);
    shown[m] = html("input", { type: "checkbox", checked: "", value: m }, label);
    const swatch = el("svg", { width: 34, height: 10, "aria-hidden": "true" }, label);
    el("line", { x1: 1, x2: 33, y1: 5, y2: 5, stroke: STYLE[m].color, "stroke-width": 3,
      "stroke-dasharray": STYLE[m].dash }, swatch);
    label.appendChild(document.createTextNode(STYLE[m].label));
    shown[m].addEventListener("change", () => draw());
  }
  const status = html("p", { class: "tx-status" }, root);
  const phase = el("svg", { id: "tx-phase", viewBox: "0 0 720 330", role: "img",
    "aria-label": "policy trajectories over the signal-noise plane" }, root);
  const utility = el("svg", { id: "tx-utility", viewBox: "0 0 720 260", role: "img",
    "aria-label": "true utility over iterations" }, root);
  const table = html("table", { class: "tx-table" }, root);

  function draw() {
    const start = performance.now();
    const visible = methods.filter((m) => shown[m].checked);
    const { runs, ms } = runAll(data, visible, settings.gamma, settings.c);
    root.toysimRuns = runs; // for the page's test
    const T = data.methods.rlhf.config.spec.steps;
    const iterations = Array.from({ length: T + 1 }, (_, t) => t);
    const series = (run, name, first) => [first, ...run[name].subarray(0, run.steps)];
    const all = Object.values(runs);
    const xMax = extent(all.map((r) => series(r, "signal", 0)), 1.08 * mNorm);
    const yMax = extent(all.map((r) => series(r, "noise", 0)), 1);
    phase.replaceChildren();
    utility.replaceChildren();
    const p = axes(phase, 720, 330, [0, xMax], [0, yMax],
      "signal (projection on m)", "noise (distance from the m axis)");
    // U is constant on circles around (|m|, 0): one band per unit of utility.
    for (let level = 1; level < A; level++) {
      const r = Math.sqrt(Math.log(A / level) / hp.tau);
      el("ellipse", { cx: p.sx(mNorm), cy: p.sy(0), rx: p.sx(r) - p.sx(0), ry: p.sy(0) - p.sy(r),
        class: "tx-contour" }, p.layer);
      if (level % 2 === 0) { // labelled low on the right, away from the trajectories
        const a = Math.PI / 12;
        el("text", { x: p.sx(mNorm + r * Math.cos(a)) - 3, y: p.sy(r * Math.sin(a)),
          class: "tx-contour-label", "text-anchor": "end" }, p.layer, `U = ${level}`);
      }
    }
    el("polygon", { points: star(p.sx(mNorm), p.sy(0) - 2, 11), class: "tx-ideal" }, p.layer);
    el("text", { x: p.sx(mNorm) + 12, y: p.sy(0) - 14, class: "tx-contour-label" }, p.layer, "ideal m");
    el("text", { x: p.sx(xMax) - 8, y: p.sy(yMax) + 16, "text-anchor": "end",
      class: "tx-contour-label" }, p.layer, `start at the origin; dot: iteration ${T}`);
    const u = axes(utility, 720, 260, [0, T], [0, 1.05 * A], "iteration", "true utility U(θ)");
    el("line", { x1: u.sx(0), x2: u.sx(T), y1: u.sy(A), y2: u.sy(A), class: "tx-reference" }, u.layer);
    el("text", { x: u.sx(4), y: u.sy(A) + 14, class: "tx-contour-label" }, u.layer, `U(m) = ${A}`);

    table.replaceChildren();
    const head = html("tr", {}, html("thead", {}, table));
    for (const h of ["method", "γ", "final signal", "final noise", "final U", "peak U", ""]) html("th", {}, head, h);
    const body = html("tbody", {}, table);
    const startU = utilityAt(gameOf(data, "rlhf"), new Float64Array(rlhf.spec.dim)); // U(0)
    for (const m of visible) {
      const run = runs[m];
      const n = run.steps;
      const style = { stroke: STYLE[m].color, "stroke-dasharray": STYLE[m].dash, "data-method": m,
        class: "tx-run" };
      const us = series(run, "utility", startU);
      el("path", { ...style, d: pathData(series(run, "signal", 0), series(run, "noise", 0), p.sx, p.sy) }, p.layer);
      el("path", { ...style, d: pathData(iterations.slice(0, n + 1), us, u.sx, u.sy) }, u.layer);
      if (!run.nonfiniteAt) {
        el("circle", { cx: p.sx(run.signal[n - 1]), cy: p.sy(run.noise[n - 1]), r: 5,
          fill: STYLE[m].color, class: "tx-end" }, p.layer);
      }
      const row = html("tr", { "data-method": m }, body);
      html("td", { style: `color: ${STYLE[m].color}` }, row, STYLE[m].label);
      html("td", {}, row, data.methods[m].config.spec.method.foresight ? String(settings.gamma) : "none");
      const finals = run.nonfiniteAt ? [] : [run.signal[n - 1], run.noise[n - 1], run.utility[n - 1]];
      for (let k = 0; k < 3; k++) html("td", {}, row, k < finals.length ? finals[k].toFixed(2) : "–");
      html("td", {}, row, Math.max(...us).toFixed(2));
      html("td", {}, row, run.nonfiniteAt
        ? `diverged: non-finite at iteration ${run.nonfiniteAt} (drawn up to ${n})` : "");
    }
    root.dataset.gamma = settings.gamma;
    root.dataset.c = settings.c;
    root.dataset.computeMs = ms.toFixed(2);
    root.dataset.drawMs = (performance.now() - start).toFixed(2);
    status.textContent = `${visible.length} runs of ${T} iterations, computed in your browser in `
      + `${ms.toFixed(1)} ms (seed ${data.seed}, float64).`;
    if (exactGamma === settings.gamma) status.textContent += ` γ = ${exactGamma} is exact FPO's Stackelberg weight.`;
    if (relaxedGamma === settings.gamma) status.textContent += ` γ = ${relaxedGamma} is the published weight of relaxed and practical FPO.`;
  }

  draw();
}

// The module is loaded on every page of the site; only the explorer page has a root.
buildWith([document.getElementById("toysim-explorer")].filter(Boolean), build);
