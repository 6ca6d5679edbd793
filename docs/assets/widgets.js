// Sliders beside the equations of the theory pages, each computed live from game.js on
// paper-linear with seed 0's initial reward weights (assets/explorer.json):
//   #toysim-xi         (the Stackelberg gradient) xi = 2 omega theta^T H^-1 theta, the share
//                      of the RM's slope the exact steering term replaces by grad U;
//   #toysim-lookahead  (the Stackelberg gradient) the one-step lookahead reward
//                      r_{w+(y)}(y) beside relaxed FPO's objective r - gamma P(y);
//   #toysim-leash      (the relaxations) practical FPO's penalty gamma ||y||^2 as a leash:
//                      its run beside RLHF's with the action cost c + gamma.
import {
  combine, dot, followerStep, gameOf, hessianSolve, planeBasis, simulate, utility,
} from "./game.js";
import { axes, buildWith, el, html, legend, numberControl, pathData } from "./plot.js";

const COLORS = { exact: "#009E73", first: "#0072B2", grey: "#777", rlhf: "#D55E00", practical: "#E69F00" };

function curve(layer, xs, ys, p, color, dash, name) {
  return el("path", { d: pathData(xs, ys, p.sx, p.sy), stroke: color, "stroke-dasharray": dash || "",
    class: "tx-run", "data-curve": name }, layer);
}

/** xi(theta) = 2 omega theta^T H^-1 theta, H = lambda I + 2 omega theta theta^T, with
 *  theta = norm * mHat (xi depends on ||theta|| only), and its first order 2 omega ||theta||^2 / lambda. */
function buildXi(root, data) {
  const game = gameOf(data, "fpo-exact");
  const { mHat, mNorm } = planeBasis(game);
  const state = { norm: +mNorm.toFixed(2), lam: game.lam };
  const xi = (norm, lam) => {
    const theta = combine([[norm, mHat]]);
    return 2 * game.omega * dot(theta, hessianSolve({ ...game, lam }, theta)(theta));
  };
  const firstOrder = (norm, lam) => (2 * game.omega * norm * norm) / lam;
  const controls = html("div", { class: "tx-controls" }, root);
  numberControl(controls, { id: "tx-xi-norm", title: "policy's distance from 0", symbol: "‖θ‖", min: 0,
    max: 8, step: 0.01, value: state.norm, onChange: (v) => { state.norm = v; draw(); } });
  numberControl(controls, { id: "tx-xi-lam", title: "anchor strength", symbol: "λ", min: 1, max: 1000,
    log: true, value: state.lam, onChange: (v) => { state.lam = v; draw(); } });
  const readout = html("p", { class: "tx-status" }, root);
  const svg = el("svg", { id: "tx-xi-plot", viewBox: "0 0 720 260", role: "img",
    "aria-label": "xi against the policy's distance from the origin" }, root);
  legend(root, [[COLORS.exact, "", "ξ = 2ω θᵀH⁻¹θ (exact)"], [COLORS.first, "7 4", "2ω‖θ‖²/λ (H⁻¹ → I/λ)"]]);

  function draw() {
    const { norm, lam } = state;
    const value = xi(norm, lam);
    root.dataset.xi = String(value);
    root.dataset.firstOrder = String(firstOrder(norm, lam));
    readout.textContent = `ξ = ${value.toFixed(4)}: at ‖θ‖ = ${norm} the exact gradient keeps `
      + `${(100 * (1 - value)).toFixed(1)}% of the RM's slope w and takes ${(100 * value).toFixed(1)}% `
      + `of the true slope ∇U. To first order, 2ω‖θ‖²/λ = ${firstOrder(norm, lam).toFixed(4)}.`;
    svg.replaceChildren();
    const p = axes(svg, 720, 260, [0, 8], [0, 1], "distance of the policy from the origin, ‖θ‖", "ξ");
    const xs = Array.from({ length: 161 }, (_, i) => i / 20);
    el("line", { x1: p.sx(mNorm), x2: p.sx(mNorm), y1: p.sy(0), y2: p.sy(1), class: "tx-reference" }, p.layer);
    el("text", { x: p.sx(mNorm) + 4, y: p.sy(0.92), class: "tx-contour-label" }, p.layer, "‖m‖");
    curve(p.layer, xs, xs.map((x) => xi(x, lam)), p, COLORS.exact, "", "exact");
    curve(p.layer, xs, xs.map((x) => firstOrder(x, lam)), p, COLORS.first, "7 4", "first-order");
    el("circle", { cx: p.sx(norm), cy: p.sy(value), r: 5, fill: COLORS.exact, class: "tx-end" }, p.layer);
  }
  draw();
}

/** Along the m axis, y = s mHat: the myopic reward w . y, the reward after the follower's
 *  SGD step on y (no weight decay, as on the page) r_{w+(y)}(y), and relaxed FPO's
 *  objective w . y - gamma (w . y - U(y)) ||y||^2, for w = w_0. */
function buildLookahead(root, data) {
  const game = gameOf(data, "fpo-relaxed");
  const oneStep = { ...game, wd: 0 };
  const { mHat, mNorm } = planeBasis(game);
  const w = game.w0;
  const state = { gamma: data.methods["fpo-relaxed"].default_gamma };
  const xs = Array.from({ length: 121 }, (_, i) => (1.5 * mNorm * i) / 120);
  const ys = xs.map((s) => combine([[s, mHat]]));
  const myopic = ys.map((y) => dot(w, y));
  const lookahead = ys.map((y) => dot(followerStep(oneStep, w, y), y));
  const controls = html("div", { class: "tx-controls" }, root);
  numberControl(controls, { id: "tx-lookahead-gamma", title: "relaxed weight", symbol: "γ", min: 0, max: 0.2,
    step: 0.001, value: state.gamma, onChange: (v) => { state.gamma = v; draw(); } });
  const readout = html("p", { class: "tx-status" }, root);
  const svg = el("svg", { id: "tx-lookahead-plot", viewBox: "0 0 720 280", role: "img",
    "aria-label": "rewards along the line from the origin through the ideal" }, root);
  legend(root, [[COLORS.grey, "2 3", "myopic w·y"], [COLORS.exact, "", "after the follower's step, r_{w₊(y)}(y)"],
    [COLORS.first, "7 4", "relaxed FPO, w·y − γP(y)"]]);

  function draw() {
    const { gamma } = state;
    const relaxed = ys.map((y, i) => myopic[i] - gamma * (myopic[i] - utility(game, y)) * dot(y, y));
    const gap = Math.max(...relaxed.map((r, i) => Math.abs(r - lookahead[i])));
    root.dataset.gap = String(gap);
    root.toysimCurve = xs.map((s, i) => [s, lookahead[i], relaxed[i]]); // for the page's test
    readout.textContent = `γ = ${gamma} = ${(gamma / game.eta).toFixed(2)} η: the two curves differ by at most `
      + `${gap.toPrecision(3)} on the plotted line; they coincide at γ = 2η = ${2 * game.eta}. `
      + `Near the ideal γ‖y‖² = ${(gamma * mNorm * mNorm).toFixed(3)} of the RM's slope is traded for ∇U.`;
    svg.replaceChildren();
    const shown = [...myopic, ...lookahead]; // relaxed FPO's curve may leave the frame
    const lo = Math.floor(Math.min(...shown)) - 1, hi = Math.ceil(Math.max(...shown)) + 1;
    const p = axes(svg, 720, 280, [0, xs.at(-1)], [lo, hi], "position along the ideal's direction, y = s m/‖m‖", "reward");
    el("line", { x1: p.sx(mNorm), x2: p.sx(mNorm), y1: p.sy(lo), y2: p.sy(hi), class: "tx-reference" }, p.layer);
    el("text", { x: p.sx(mNorm) + 4, y: p.sy(hi) + 14, class: "tx-contour-label" }, p.layer, "m");
    curve(p.layer, xs, myopic, p, COLORS.grey, "2 3", "myopic");
    curve(p.layer, xs, lookahead, p, COLORS.exact, "", "lookahead");
    curve(p.layer, xs, relaxed, p, COLORS.first, "7 4", "relaxed");
  }
  draw();
}

/** Practical FPO's run at gamma beside RLHF's at the action cost c + gamma (and at c). */
function buildLeash(root, data) {
  const c = data.methods["fpo-practical"].config.hparams.action_cost;
  const state = { gamma: data.methods["fpo-practical"].default_gamma };
  const controls = html("div", { class: "tx-controls" }, root);
  numberControl(controls, { id: "tx-leash-gamma", title: "practical weight", symbol: "γ", min: 0, max: 0.5,
    step: 0.005, value: state.gamma, onChange: (v) => { state.gamma = v; draw(); } });
  const readout = html("p", { class: "tx-status" }, root);
  const svg = el("svg", { id: "tx-leash-plot", viewBox: "0 0 720 260", role: "img",
    "aria-label": "true utility over iterations" }, root);
  legend(root, [[COLORS.practical, "", "practical FPO, γ"], [COLORS.rlhf, "7 4", "RLHF, c + γ"],
    [COLORS.grey, "2 3", `RLHF, c = ${c}`]]);
  const plain = simulate(gameOf(data, "rlhf"));

  function draw() {
    const { gamma } = state;
    const practical = simulate(gameOf(data, "fpo-practical", { gamma }));
    const leashed = simulate(gameOf(data, "rlhf", { c: c + gamma }));
    let gap = 0, size = 0;
    for (let i = 0; i < practical.theta.length; i++) {
      gap = Math.max(gap, Math.abs(practical.theta[i] - leashed.theta[i]));
      size = Math.max(size, Math.abs(leashed.theta[i]));
    }
    const T = practical.steps;
    Object.assign(root.dataset, { practicalFinal: String(practical.utility[T - 1]),
      rlhfFinal: String(leashed.utility[T - 1]), gap: String(gap / size) });
    readout.textContent = `Final U: practical FPO ${practical.utility[T - 1].toFixed(3)}, `
      + `RLHF with c + γ = ${c + gamma} ${leashed.utility[T - 1].toFixed(3)}; their policies differ by at most `
      + `${(gap / size).toExponential(1)} of the largest coordinate over the ${T} iterations.`;
    svg.replaceChildren();
    const A = data.methods.rlhf.config.hparams.amplitude;
    const p = axes(svg, 720, 260, [0, T], [0, 1.05 * A], "iteration", "true utility U(θ)");
    const its = Array.from({ length: T }, (_, t) => t + 1);
    curve(p.layer, its, plain.utility, p, COLORS.grey, "2 3", "rlhf-c");
    curve(p.layer, its, practical.utility, p, COLORS.practical, "", "practical");
    curve(p.layer, its, leashed.utility, p, COLORS.rlhf, "7 4", "rlhf-leashed");
  }
  draw();
}

const BUILDERS = { "toysim-xi": buildXi, "toysim-lookahead": buildLookahead, "toysim-leash": buildLeash };
for (const [id, build] of Object.entries(BUILDERS)) {
  buildWith([document.getElementById(id)].filter(Boolean), build);
}
