// Plain SVG plots and number controls for the explorer (explorer.js) and the theory pages'
// widgets (widgets.js, round.js). No dependencies; nothing is fetched from elsewhere.

const SVG = "http://www.w3.org/2000/svg";
const MARGIN = { left: 58, right: 16, top: 14, bottom: 46 };

/** An SVG element `tag` with `attrs`, appended to `parent`, holding `text`. */
export function el(tag, attrs, parent, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

/** An HTML element, as `el`. */
export function html(tag, attrs, parent, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

/** About five round values (1, 2 or 5 times a power of ten) between lo and hi. */
export function ticks(lo, hi) {
  const raw = (hi - lo) / 5;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((f) => f * power).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(+v.toFixed(6));
  return out;
}

/** A frame with ticks and labels in the `svg` (its viewBox `width` x `height`); returns the
 *  data-to-pixel maps `sx`, `sy` and a `layer` clipped to the frame. */
export function axes(svg, width, height, xDomain, yDomain, xLabel, yLabel) {
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
  el("text", { x: (x0 + x1) / 2, y: height - 8, "text-anchor": "middle", class: "tx-label" }, g, xLabel);
  const ly = (y0 + y1) / 2;
  el("text", { x: 16, y: ly, transform: `rotate(-90 16 ${ly})`, "text-anchor": "middle",
    class: "tx-label" }, g, yLabel);
  const clip = `tx-clip-${svg.id}`;
  const cp = el("clipPath", { id: clip }, el("defs", {}, svg));
  el("rect", { x: x0, y: y1, width: x1 - x0, height: y0 - y1 }, cp);
  return { sx, sy, layer: el("g", { "clip-path": `url(#${clip})` }, svg) };
}

/** The SVG path through the points (xs[i], ys[i]). */
export function pathData(xs, ys, sx, sy) {
  let d = "";
  for (let i = 0; i < xs.length; i++) d += `${i ? "L" : "M"}${sx(xs[i]).toFixed(1)},${sy(ys[i]).toFixed(1)}`;
  return d;
}

/** The points of a five-pointed star of radius r at (cx, cy). */
export function star(cx, cy, r) {
  const points = [];
  for (let i = 0; i < 10; i++) {
    const a = -Math.PI / 2 + (i * Math.PI) / 5;
    const rr = i % 2 ? r * 0.45 : r;
    points.push(`${(cx + rr * Math.cos(a)).toFixed(1)},${(cy + rr * Math.sin(a)).toFixed(1)}`);
  }
  return points.join(" ");
}

/** A row of line swatches, one per [color, dash, text] of `entries`. */
export function legend(parent, entries) {
  const box = html("div", { class: "tx-methods" }, parent);
  for (const [color, dash, text] of entries) {
    const label = html("span", {}, box);
    const swatch = el("svg", { width: 34, height: 10, "aria-hidden": "true" }, label);
    el("line", { x1: 1, x2: 33, y1: 5, y2: 5, stroke: color, "stroke-width": 3, "stroke-dasharray": dash }, swatch);
    label.appendChild(document.createTextNode(text));
  }
}

/** `value` to 3 significant digits, as a number (0.1 stays 0.1). */
export function round3(value) {
  return +value.toPrecision(3);
}

/** A slider and a number box for one number in [min, max], in `step`; `log` spaces the
 *  slider logarithmically from min > 0 (100 positions a decade, 3 significant digits), with
 *  0 at its left end if `zero`. Either input calls `onChange(value)`; the box takes any
 *  number in the range (from 0 with `zero`), else it says what is allowed. */
export function numberControl(parent, { id, title, symbol, min, max, step, log, zero, value, onChange }) {
  const box = html("div", { class: "tx-slider" }, parent);
  html("label", { class: "tx-title", for: `${id}-box` }, box, title);
  const decades = log ? Math.log10(max / min) : 0;
  const first = log && zero ? 1 : 0; // the slider position of min
  const positions = log ? first + Math.round(100 * decades) : Math.round((max - min) / step);
  const toValue = (p) => {
    if (!log) return +(min + p * step).toFixed(10);
    return p < first ? 0 : round3(min * Math.pow(10, ((p - first) / (positions - first)) * decades));
  };
  const toPosition = (v) => {
    if (!log) return Math.round((v - min) / step);
    return v <= 0 ? 0 : first + Math.round((Math.log10(Math.max(v, min) / min) / decades) * (positions - first));
  };
  const range = html("input", { type: "range", min: 0, max: positions, step: 1, id, "aria-label": title }, box);
  html("span", { class: "tx-symbol" }, box, `${symbol} =`);
  const lo = log && zero ? 0 : min;
  const number = html("input", { type: "number", id: `${id}-box`, min: lo, max, step: "any" }, box);
  const note = html("span", { class: "tx-note" }, box);
  const control = { value };
  const set = (v, from) => {
    control.value = v;
    if (from !== range) range.value = Math.min(positions, Math.max(0, toPosition(v)));
    if (from !== number) number.value = String(v);
    onChange(v);
  };
  range.addEventListener("input", () => set(toValue(+range.value), range));
  number.addEventListener("input", () => {
    const v = number.value === "" ? NaN : +number.value;
    const ok = Number.isFinite(v) && v >= lo && v <= max;
    note.textContent = ok ? "" : `${symbol} must be a number from ${lo} to ${max}`;
    if (ok) set(v, number);
  });
  range.value = toPosition(value);
  number.value = String(value);
  return control;
}

let pending = null;

/** The pages' data, assets/explorer.json, fetched once per page. */
export function pageData() {
  const url = new URL("explorer.json", import.meta.url);
  pending ??= fetch(url).then((response) => {
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  });
  return pending;
}

/** Build each element of `roots` with `build(root, data)` once the data is in; an element
 *  that fails says why in place of the widget. */
export function buildWith(roots, build) {
  if (!roots.length) return; // the module is loaded on every page; most have no root
  pageData().then((data) => {
    for (const root of roots) {
      try {
        build(root, data);
        root.dataset.ready = "true";
      } catch (err) {
        root.textContent = `This widget could not run (${err.message}).`;
        console.error(err);
      }
    }
  }).catch((err) => {
    for (const root of roots) root.textContent = `This widget could not load its data (${err.message}).`;
    console.error(err);
  });
}

/** The segments of the curve f(x, y) = 0 over a grid of nx x ny cells (marching squares),
 *  each crossing of a cell's edge found by bisection along that edge, so every vertex
 *  is on the curve to rounding. */
export function zeroContour(f, [x0, x1], [y0, y1], nx, ny) {
  const xs = Array.from({ length: nx + 1 }, (_, i) => x0 + ((x1 - x0) * i) / nx);
  const ys = Array.from({ length: ny + 1 }, (_, j) => y0 + ((y1 - y0) * j) / ny);
  const values = xs.map((x) => ys.map((y) => f(x, y)));
  const crossing = (p, q, fp) => { // p, q: [x, y] with f of opposite signs
    let [a, b] = [p, q];
    for (let k = 0; k < 60; k++) {
      const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
      if ((f(...mid) > 0) === (fp > 0)) a = mid; else b = mid;
    }
    return [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
  };
  const segments = [];
  for (let i = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      const corners = [[i, j], [i + 1, j], [i + 1, j + 1], [i, j + 1]];
      const points = [];
      for (let k = 0; k < 4; k++) {
        const [p, q] = [corners[k], corners[(k + 1) % 4]];
        const [fp, fq] = [values[p[0]][p[1]], values[q[0]][q[1]]];
        if ((fp > 0) !== (fq > 0)) points.push(crossing([xs[p[0]], ys[p[1]]], [xs[q[0]], ys[q[1]]], fp));
      }
      // two crossings: one segment; four (a saddle): pair them around the cell
      for (let k = 0; k + 1 < points.length; k += 2) segments.push([points[k], points[k + 1]]);
    }
  }
  return segments;
}
