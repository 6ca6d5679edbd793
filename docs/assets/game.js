// toysim's linear game (paper-linear) in plain JavaScript, float64, no dependencies.
//
// The updates of toysim.game.trajectory with the point policy y = theta, the linear reward
// model r_w(y) = w . y and the published follower (one SGD step per iteration on the
// newest output, decoupled weight decay, omega = 1). Iteration t:
//   theta' = theta + alpha grad F(theta),   grad F = w_s - 2 c theta - gamma grad S(theta)
//   w'     = (1 - wd) w - 2 eta omega (w . theta' - U(theta')) theta'
// with U(y) = A exp(-tau ||y - m||^2) and toysim.game.leader's steering penalty at y = theta,
//   S = (1/2) g^T M^-1 grad_w l(w_s; y),
// whose four switches choose: M = H = lambda I + 2 omega theta theta^T (hessian exact,
// solved by Sherman-Morrison, exact for this rank-one H) or I (identity; the other rungs
// are refused); g = theta held fixed (influence global) or y (local); grad_w l =
// 2 (w_s . y - U(y)) y (oracle) or 2 y (none); w_s = w (params current) or the best
// response w* = w - 2 omega (w . theta - U(theta)) H^-1 theta (optimum), which the myopic
// term w_s uses too. Its gradient, written out (k = 1 global, 2 local):
//   oracle: grad S = (theta . M^-1 theta) (w_s - grad U(theta)) + k (w_s . theta - U) M^-1 theta
//   none:   grad S = k M^-1 theta
// The page's data (assets/explorer.json, `python -m toysim explorer-data`) gives each
// method's configuration and seed 0's initial reward weights w_0.

const SUPPORTED = {
  follower: ["sgd"], buffer_size: [1], follower_steps: [1], anchor: ["proximal"],
  regime: ["window"], policy: ["point"],
};

function check(ok, message) {
  if (!ok) throw new Error(message);
}

/** sum_k c_k x_k for terms [[c_1, x_1], [c_2, x_2], ...] of equal length (plain loops). */
export function combine(terms) {
  const out = new Float64Array(terms[0][1].length);
  for (const [c, x] of terms) for (let i = 0; i < out.length; i++) out[i] += c * x[i];
  return out;
}

/** a . b */
export function dot(a, b) {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** The game of `method` in `data` (explorer.json), with `gamma`, `c` and `steps` changed. */
export function gameOf(data, method, { gamma, c, steps } = {}) {
  check(method in data.methods, `method must be one of ${Object.keys(data.methods)}; got ${method}`);
  const { spec, hparams: hp } = data.methods[method].config;
  const structure = { ...spec, policy: hp.sigma === 0 ? "point" : "gaussian" };
  for (const [field, allowed] of Object.entries(SUPPORTED)) {
    check(allowed.includes(structure[field]),
      `${field} must be ${allowed.join(" or ")} in the browser; got ${structure[field]}`);
  }
  const switches = spec.method;
  check(!switches.foresight || ["exact", "identity"].includes(switches.hessian),
    `hessian must be exact or identity in the browser; got ${switches.hessian}`);
  const game = {
    dim: spec.dim, steps: steps ?? spec.steps, switches,
    amplitude: hp.amplitude, tau: hp.tau, alpha: hp.leader_lr, eta: hp.follower_lr,
    wd: hp.weight_decay, lam: hp.lam, omega: 1 / spec.buffer_size,
    gamma: gamma ?? hp.gamma, c: c ?? hp.action_cost,
    m: Float64Array.from({ length: spec.dim }, (_, i) => (i < spec.signal_dims ? hp.ideal_value : 0)),
    w0: Float64Array.from(data.w0),
  };
  check(game.w0.length === game.dim, `w0 must have ${game.dim} entries; got ${game.w0.length}`);
  check(Number.isInteger(game.steps) && game.steps >= 1, `steps must be an integer >= 1; got ${game.steps}`);
  check(Number.isFinite(game.c) && game.c >= 0, `c must be a number >= 0; got ${game.c}`);
  check(Number.isFinite(game.gamma) && game.gamma >= 0, `gamma must be a number >= 0; got ${game.gamma}`);
  check(switches.foresight || game.gamma === 0, `gamma must be 0 for ${method}; got ${game.gamma}`);
  return game;
}

/** U(y) = A exp(-tau ||y - m||^2). */
export function utility(game, y) {
  let d2 = 0;
  for (let i = 0; i < y.length; i++) d2 += (y[i] - game.m[i]) ** 2;
  return game.amplitude * Math.exp(-game.tau * d2);
}

/** v -> H^-1 v with H = lambda I + 2 omega theta theta^T (Sherman-Morrison). */
export function hessianSolve(game, theta) {
  const k = (2 * game.omega) / (game.lam + 2 * game.omega * dot(theta, theta));
  return (v) => combine([[1 / game.lam, v], [-k * dot(theta, v) / game.lam, theta]]);
}

/** grad U(y) = -2 tau (y - m) U(y). */
export function utilityGradient(game, y) {
  const k = 2 * game.tau * utility(game, y);
  return combine([[-k, y], [k, game.m]]);
}

/** The follower's best response to the leader's output theta, from w (proximal anchor). */
export function bestResponse(game, w, theta) {
  const k = 2 * game.omega * (dot(w, theta) - utility(game, theta));
  return combine([[1, w], [-k, hessianSolve(game, theta)(theta)]]);
}

/** grad F(theta): the leader's ascent direction at the follower's w (toysim.game.leader). */
export function leaderGradient(game, theta, w) {
  const sw = game.switches;
  const ws = sw.params === "optimum" ? bestResponse(game, w, theta) : w;
  const myopic = [[1, ws], [-2 * game.c, theta]];
  if (!sw.foresight) return combine(myopic);
  const mTheta = sw.hessian === "exact" ? hessianSolve(game, theta)(theta) : theta; // M^-1 g_bar
  const quad = dot(theta, mTheta);
  const local = sw.influence === "local" ? 2 : 1; // local: g = y moves too
  let steer; // grad S
  if (sw.oracle === "true") { // quad (w_s - grad U) + local (w_s . theta - U) M^-1 theta
    const residual = dot(ws, theta) - utility(game, theta);
    const gradU = utilityGradient(game, theta);
    steer = [[quad, ws], [-quad, gradU], [local * residual, mTheta]];
  } else { // S = v . y (global) or y^T M^-1 y (local)
    steer = [[local, mTheta]];
  }
  return combine([...myopic, ...steer.map(([k, x]) => [-game.gamma * k, x])]); // omega_t/omega_1 = 1
}

/** The leader's move: theta + alpha grad F(theta). */
export function leaderStep(game, theta, w) {
  return combine([[1, theta], [game.alpha, leaderGradient(game, theta, w)]]);
}

/** The follower's move after the leader played theta: one SGD step, decoupled decay. */
export function followerStep(game, w, theta) {
  const k = 2 * game.omega * (dot(w, theta) - utility(game, theta));
  return combine([[1 - game.wd, w], [-game.eta * k, theta]]);
}

/** The plane through the origin spanned by m and w_0: every theta_t and w_t of the game
 *  stays in it (each update adds multiples of w, theta and m), so (a, b) = (y . mHat,
 *  y . nHat) are exact coordinates; |b| is the projection coordinates' noise. */
export function planeBasis(game) {
  const mNorm = Math.sqrt(dot(game.m, game.m));
  const mHat = combine([[1 / mNorm, game.m]]);
  const rest = combine([[1, game.w0], [-dot(game.w0, mHat), mHat]]);
  return { mHat, nHat: combine([[1 / Math.sqrt(dot(rest, rest)), rest]]), mNorm };
}

/** One run from theta = 0, w = w_0: per iteration (after both moves) theta and w
 *  (flat, [T d]), U(theta), the proxy w . theta and the projection coordinates; a run
 *  that goes non-finite stops there, and `nonfiniteAt` is that iteration (1-based). */
export function simulate(game) {
  const { dim: d, steps: T } = game;
  const { mHat } = planeBasis(game);
  const out = {
    theta: new Float64Array(T * d), w: new Float64Array(T * d), utility: new Float64Array(T),
    proxy: new Float64Array(T), signal: new Float64Array(T), noise: new Float64Array(T),
    steps: T, nonfiniteAt: null,
  };
  let theta = new Float64Array(d);
  let w = Float64Array.from(game.w0);
  for (let t = 0; t < T; t++) {
    theta = leaderStep(game, theta, w);
    w = followerStep(game, w, theta);
    const signal = dot(theta, mHat);
    const rest = combine([[1, theta], [-signal, mHat]]);
    const record = [utility(game, theta), dot(w, theta), signal, Math.sqrt(dot(rest, rest))];
    if (!record.every(Number.isFinite) || !theta.every(Number.isFinite) || !w.every(Number.isFinite)) {
      out.nonfiniteAt = t + 1;
      out.steps = t;
      break;
    }
    out.theta.set(theta, t * d);
    out.w.set(w, t * d);
    [out.utility[t], out.proxy[t], out.signal[t], out.noise[t]] = record;
  }
  return out;
}
