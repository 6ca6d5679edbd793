// One Stackelberg round at a time (docs/theory/game.md, #toysim-round): the leader's move,
// then the follower's refit, of paper-linear from seed 0 (game.js, assets/explorer.json).
//
// The picture is exact. Every update adds multiples of w, theta and m to w and theta
// (grad U(theta) is a multiple of theta - m, H^-1 theta of theta), so from theta_0 = 0 and
// w_0 the whole game stays in the plane spanned by m and w_0 (planeBasis in game.js), for
// every method. In its coordinates (a, b) = (y . mHat, y . nHat) the policy is a point,
// U(y) = A exp(-tau ((a - ||m||)^2 + b^2)) and the RM r_w(y) = a (w . mHat) + b (w . nHat);
// the curve drawn is where the RM is right on that plane, w . y = U(y).
import { dot, followerStep, gameOf, leaderStep, planeBasis, utility } from "./game.js";
import { axes, buildWith, el, html, legend, pathData, star, zeroContour } from "./plot.js";

const DOMAIN = { a: [-0.5, 6.5], b: [-1, 3] };
const LABELS = { rlhf: "RLHF", "fpo-exact": "exact FPO", "fpo-relaxed": "relaxed FPO", "fpo-practical": "practical FPO" };

function build(root, data) {
  const controls = html("div", { class: "tx-controls" }, root);
  const select = html("select", { id: "tx-round-method", "aria-label": "leader method" }, controls);
  for (const m of Object.keys(LABELS).filter((k) => k in data.methods)) {
    html("option", { value: m }, select, `${LABELS[m]} (γ = ${data.methods[m].default_gamma})`);
  }
  const buttons = {};
  for (const [name, text] of [["leader", "leader moves θ"], ["follower", "follower refits w"],
    ["round", "one whole round"], ["ten", "ten rounds"], ["hundred", "a hundred rounds"], ["reset", "start again"]]) {
    buttons[name] = html("button", { type: "button", id: `tx-round-${name}`, class: "md-button" }, controls, text);
  }
  const readout = html("p", { class: "tx-status" }, root);
  const svg = el("svg", { id: "tx-round-plot", viewBox: "0 0 720 440", role: "img",
    "aria-label": "the policy and the reward model's zero-error curve in the plane of m and w_0" }, root);
  legend(root, [["#CC79A7", "", "where the RM is right, w·y = U(y)"], ["#56B4E9", "", "the RM's slope w"],
    ["#D55E00", "2 3", "the policy's path"]]);
  let game, basis, state;

  function reset() {
    game = gameOf(data, select.value);
    basis = planeBasis(game);
    state = { round: 0, next: "leader", theta: new Float64Array(game.dim), w: Float64Array.from(game.w0),
      path: [[0, 0]] };
    draw("The policy starts at the origin, the RM at w₀. The leader moves first.");
  }

  function leader() {
    state.theta = leaderStep(game, state.theta, state.w);
    state.path.push([dot(state.theta, basis.mHat), dot(state.theta, basis.nHat)]);
    state.next = "follower";
    draw("The leader climbed the RM it has now (the curve did not move).");
  }

  function follower() {
    state.w = followerStep(game, state.w, state.theta);
    state.round += 1;
    state.next = "leader";
    draw("The RM was refit on the leader's new output: the curve moved toward the policy.");
  }

  function draw(message) {
    const { mHat, nHat, mNorm } = basis;
    const at = (y) => [dot(y, mHat), dot(y, nHat)];
    const [wa, wb] = at(state.w);
    const { amplitude: A, tau } = game;
    const residual = (a, b) => a * wa + b * wb - A * Math.exp(-tau * ((a - mNorm) ** 2 + b ** 2));
    const segments = zeroContour(residual, DOMAIN.a, DOMAIN.b, 70, 40);
    const [ta, tb] = at(state.theta);
    const u = utility(game, state.theta), r = dot(state.w, state.theta);
    const atIdeal = dot(state.w, game.m);
    root.toysimState = { theta: Array.from(state.theta), w: Array.from(state.w), segments }; // for the test
    Object.assign(root.dataset, { round: state.round, next: state.next, residual: String(r - u) });
    buttons.leader.disabled = state.next !== "leader";
    buttons.follower.disabled = state.next !== "follower";
    readout.textContent = `${message} Round ${state.round}: θ at (${ta.toFixed(3)}, ${tb.toFixed(3)}), `
      + `U(θ) = ${u.toFixed(3)}, the RM's score w·θ = ${r.toFixed(3)}, error ${(r - u).toFixed(4)}; `
      + `at the ideal the RM scores w·m = ${atIdeal.toFixed(3)} against U(m) = ${A}.`;

    svg.replaceChildren();
    const p = axes(svg, 720, 440, DOMAIN.a, DOMAIN.b, "along m: y · m/‖m‖",
      "across: y · n, n ⟂ m in the plane of w₀");
    for (let level = 1; level < A; level++) {
      const rad = Math.sqrt(Math.log(A / level) / tau);
      el("ellipse", { cx: p.sx(mNorm), cy: p.sy(0), rx: p.sx(rad) - p.sx(0), ry: p.sy(0) - p.sy(rad),
        class: "tx-contour" }, p.layer);
    }
    el("line", { x1: p.sx(DOMAIN.a[0]), x2: p.sx(DOMAIN.a[1]), y1: p.sy(0), y2: p.sy(0), class: "tx-reference" }, p.layer);
    el("polygon", { points: star(p.sx(mNorm), p.sy(0), 11), class: "tx-ideal" }, p.layer);
    const d = segments.map(([[a0, b0], [a1, b1]]) =>
      `M${p.sx(a0).toFixed(1)},${p.sy(b0).toFixed(1)}L${p.sx(a1).toFixed(1)},${p.sy(b1).toFixed(1)}`).join("");
    el("path", { d, class: "tx-zero", "data-curve": "zero-error" }, p.layer);
    // the RM's slope w (its direction in the plane), drawn from the policy
    const scale = 0.5 / Math.hypot(wa, wb);
    el("line", { x1: p.sx(ta), y1: p.sy(tb), x2: p.sx(ta + scale * wa), y2: p.sy(tb + scale * wb),
      class: "tx-slope" }, p.layer);
    el("path", { d: pathData(state.path.map((q) => q[0]), state.path.map((q) => q[1]), p.sx, p.sy),
      class: "tx-path" }, p.layer);
    el("circle", { cx: p.sx(ta), cy: p.sy(tb), r: 6, class: "tx-policy" }, p.layer);
    el("text", { x: p.sx(mNorm) + 12, y: p.sy(0) - 12, class: "tx-contour-label" }, p.layer, "ideal m");
  }

  buttons.leader.addEventListener("click", leader);
  buttons.follower.addEventListener("click", follower);
  const rounds = (n) => () => { // a round under way is finished first, and counts
    for (let k = 0; k < n; k++) {
      if (state.next === "leader") leader();
      follower();
    }
  };
  buttons.round.addEventListener("click", rounds(1));
  buttons.ten.addEventListener("click", rounds(10));
  buttons.hundred.addEventListener("click", rounds(100));
  buttons.reset.addEventListener("click", reset);
  select.addEventListener("change", reset);
  reset();
}

buildWith([document.getElementById("toysim-round")].filter(Boolean), build);
