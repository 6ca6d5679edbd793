"""The paper's second setting: a Gaussian policy against an MLP reward model.

See docs/theory/neural.md.

One outer iteration ``t`` of ``T``:

1. the leader takes ``K = 15`` inner steps, each on one reparameterised sample
   ``y = theta + sigma_t eps``: ``theta += lr_t clip(grad_theta F(y), -1, 1)`` with
   ``F(y) = r_phi(y) - c ||y||^2 - gamma S(y)``;
2. the policy emits 5 samples from ``N(theta, sigma_t^2 I)``, labelled by
   ``U``, into a buffer that keeps the last 50;
3. the follower takes one Adam step (L2 weight decay added to the gradient)
   on the mean squared error over the buffer.

``sigma_t`` and ``lr_t`` decay as ``end + (start - end)(1 - (t/T)^4)``.
The steering penalty is the same ``S = (1/2) g^T H^{-1} grad_phi l(phi; y)``
as in :mod:`toysim.game.leader`, with gradients over every RM parameter
(double backpropagation through ``grad_phi r(y)``).

The RM's loss is not convex, so ``H^{-1}`` need not exist: with
``hessian = exact`` toysim solves with the damped ``H + mu I``, where ``H`` is
the Hessian of the follower's objective (buffer MSE plus the L2 term
``(wd/2)||phi||^2``) at its current parameters, by conjugate gradients on
Hessian-vector products (:mod:`toysim.linalg`; ``NeuralSpec.solver`` picks
another solver). With global influence,
``g = E_pi[grad_phi r] ~ grad_phi r(theta)`` (the policy's spread is at most
0.1) and ``v = (H + mu I)^{-1} g`` is solved once per outer iteration, its
iterations and residual recorded; with local influence the solve sits inside
``S(y)`` and is differentiated implicitly (``jax.lax.custom_linear_solve``).
``params = optimum`` is refused: a non-convex RM has no unique best response.
The new data are ``samples_per_step`` samples in a buffer of ``buffer_size``,
so ``omega = samples_per_step / buffer_size`` and ``gamma = 2 omega`` is the
exact weight.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array
from jax.flatten_util import ravel_pytree

from toysim import linalg
from toysim.config import ConfigError, Method, as_float_arrays
from toysim.model.mlp import MLPParams, mlp_init, mlp_reward
from toysim.model.sampling import standard_normal
from toysim.model.utility import Utility, utility

NEURAL_METHODS = ("rlhf", "fpo-exact", "fpo-relaxed", "fpo-practical", "fpo")


@dataclasses.dataclass(frozen=True)
class NeuralSpec:
    """Static structure of the neural game (changing a field recompiles).

    Attributes:
      dim, signal_dims: ``d`` and the number of coordinates ``m`` lives on.
      hidden: hidden layer widths of the MLP reward model.
      steps: outer iterations ``T``.
      inner_steps: leader steps per outer iteration.
      buffer_size, samples_per_step: the follower's buffer and how many new
        samples enter it per outer iteration (``buffer_size`` a multiple of it).
      method: the leader method; any switches but ``params = optimum``.
      solver: the solver of exact FPO's damped Hessian system, a :mod:`toysim.linalg`
        solver: ``CG`` (matrix-free, the default: relative tolerance ``1e-6``, at most
        100 iterations), ``MINRES`` (matrix-free, for indefinite systems), or the
        direct ``LU`` / ``Cholesky`` (they form the damped Hessian; a cross-check).
      record_state: also record the RM parameters and buffer at every iteration.
    """

    dim: int = 10
    signal_dims: int = 2
    hidden: tuple[int, ...] = (32, 32)
    steps: int = 4000
    inner_steps: int = 15
    buffer_size: int = 50
    samples_per_step: int = 5
    method: Method = Method("rlhf", foresight=False, params="current")
    solver: linalg.Solver = linalg.CG(tol=1e-6, maxiter=100)
    record_state: bool = False

    def validate(self) -> None:
        """Check the sizes, the buffer, the solver and the method (``params`` must be ``current``).

        Raises:
            ConfigError: naming the first invalid field and what is allowed.
        """
        for field in ("dim", "steps", "inner_steps", "buffer_size", "samples_per_step"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{field} must be an integer >= 1; got {value!r}")
        if not 1 <= self.signal_dims < self.dim:
            raise ConfigError(
                f"signal_dims must be an integer with 1 <= signal_dims < dim = {self.dim}; "
                f"got {self.signal_dims!r}"
            )
        if self.buffer_size % self.samples_per_step:
            raise ConfigError(
                f"buffer_size must be a multiple of samples_per_step = {self.samples_per_step}; "
                f"got {self.buffer_size!r}"
            )
        self.method.validate()
        solvers = (linalg.CG, linalg.MINRES, linalg.LU, linalg.Cholesky)
        if not isinstance(self.solver, solvers):
            raise ConfigError(
                "solver must be a toysim.linalg solver: CG, MINRES, LU or Cholesky (the identity "
                f"is the relaxation hessian = identity); got {self.solver!r}"
            )
        if self.method.foresight and self.method.params != "current":
            raise ConfigError(
                "params must be current for the neural reward model: a non-convex RM has no "
                f"unique best response phi* to evaluate at; got {self.method.params!r} "
                f"(method {self.method.name!r})"
            )


class NeuralHParams(NamedTuple):
    """The neural game's numbers (all traced: a sweep over them compiles once).

    Attributes:
      amplitude, tau, ideal_value: ``U = A exp(-tau ||y - m||^2)``, ``m = v`` on the signal dims.
      action_cost: ``c`` in ``F``.
      gamma: the steering weight.
      sigma_start, sigma_end: the policy's spread schedule.
      lr_start, lr_end: the leader's step-size schedule.
      follower_lr: Adam's learning rate.
      weight_decay: L2 weight decay added to the follower's gradient.
      clip: the leader's gradient is clipped to ``[-clip, clip]`` per coordinate.
      init_scale: standard deviation of the RM's initial weights.
      damping: ``mu`` in the damped Hessian ``H + mu I`` of exact FPO. The
        undamped ``H`` is indefinite along paper-nn runs (docs/theory/neural.md
        gives its spectrum), so CG needs ``mu`` well above 0; with ``mu = 1`` it
        converged on 88% of iterations over seeds 0-15
        (``python -m toysim reproduce --neural``).
    """

    amplitude: float = 10.0
    tau: float = 0.2
    ideal_value: float = 2.5
    action_cost: float = 0.01
    gamma: float = 0.005
    sigma_start: float = 0.1
    sigma_end: float = 0.001
    lr_start: float = 0.05
    lr_end: float = 0.001
    follower_lr: float = 1e-3
    weight_decay: float = 1e-3
    clip: float = 1.0
    init_scale: float = 0.1
    damping: float = 1.0


def neural_utility(spec: NeuralSpec, hp: NeuralHParams) -> Utility:
    """``U`` with ``m = v`` on the first ``k`` coordinates."""
    signal_mask = (jnp.arange(spec.dim) < spec.signal_dims).astype(jnp.result_type(float))
    return Utility(hp.amplitude, hp.tau, hp.ideal_value * signal_mask)


def schedule(start: Array, end: Array, t: Array, steps: int) -> Array:
    """``end + (start - end) (1 - (t/T)^4)``."""
    return end + (start - end) * (1.0 - (t / steps) ** 4)


def neural_loss(params: MLPParams, y: Array, label: Array, oracle: bool) -> Array:
    """``l(phi; y) = (r_phi(y) - U(y))^2``, or ``2 r_phi(y)`` without the oracle (section 4)."""
    r = mlp_reward(params, y)
    return (r - label) ** 2 if oracle else 2.0 * r


def local_steering(
    params: MLPParams, y: Array, u: Utility, solve: linalg.LinearMap, oracle: bool
) -> Array:
    """``S(y) = (1/2) grad_phi r(y)^T H^{-1} grad_phi l(phi; y)``, gradients over all parameters.

    With ``solve`` the identity this is the relaxed penalty ``(r - U) ||grad_phi r||^2``
    (with the oracle) or the practical ``||grad_phi r||^2`` (without).
    """
    g = ravel_pytree(jax.grad(mlp_reward)(params, y))[0]
    gl = ravel_pytree(jax.grad(neural_loss)(params, y, utility(u, y), oracle))[0]
    return 0.5 * g @ solve(gl)


class Buffer(NamedTuple):
    """The follower's data: ``[blocks, samples_per_step, d]`` outputs, their labels, and
    which blocks are filled (``[blocks]``)."""

    y: Array
    label: Array
    filled: Array


def follower_objective(params: MLPParams, buffer: Buffer, weight_decay: Array) -> Array:
    """The follower's loss: mean squared error on the buffer plus ``(wd/2)||phi||^2``,
    the L2 term whose gradient Adam's weight decay adds."""
    errors = (mlp_reward(params, buffer.y) - buffer.label) ** 2
    count = jnp.maximum(jnp.sum(buffer.filled), 1.0) * buffer.label.shape[-1]
    flat = ravel_pytree(params)[0]
    return jnp.sum(buffer.filled[:, None] * errors) / count + 0.5 * weight_decay * flat @ flat


def steering_penalty(
    method: Method,
    params: MLPParams,
    follower_objective: Callable[[MLPParams], Array],
    theta: Array,
    u: Utility,
    damping: Array,
    solver: linalg.Solver,
) -> tuple[Callable[[Array], Array], tuple[Array, Array]]:
    """``(S, record)``: the penalty ``y -> S(y)`` at the RM parameters ``params``, and the
    solve's record.

    ``S(y) = (1/2) g^T M grad_phi l(phi; y)`` with ``M = (H + mu I)^{-1}``
    (``H`` the Hessian of ``follower_objective`` at ``params``, solved by ``solver``:
    CG or MINRES on Hessian-vector products, or LU / Cholesky of the formed
    ``[P, P]`` matrix) or ``M = I``; ``g = grad_phi r(theta)`` held fixed
    (global) or ``grad_phi r(y)`` (local). ``record`` is (iterations, relative
    residual) of the global solve, zeros when there is none.
    """
    dtype = jnp.result_type(float)
    no_cg = (jnp.zeros((), jnp.int32), jnp.zeros((), dtype))
    oracle = method.oracle == "true"
    if not method.foresight:
        return (lambda y: jnp.zeros((), dtype)), no_cg
    flat, unravel = ravel_pytree(params)
    solve = linalg.identity_solution
    if method.hessian == "exact":
        hessian = linalg.hessian_operator(lambda x: follower_objective(unravel(x)), flat)
        solve = linalg.inverse(linalg.damped(hessian, damping), solver)
    if method.influence == "local":
        return (lambda y: local_steering(params, y, u, linalg.linear_map(solve), oracle)), no_cg
    g_bar = ravel_pytree(jax.grad(mlp_reward)(params, theta))[0]
    solution = solve(g_bar)
    v, cg = solution.x, (solution.info.iterations, solution.info.residual)

    def penalty(y):
        grad_l = jax.grad(neural_loss)(params, y, utility(u, y), oracle)
        return 0.5 * v @ ravel_pytree(grad_l)[0]

    return penalty, cg


class NeuralTrajectory(NamedTuple):
    """Per outer iteration (leading axis ``T``, after any vmapped axes).

    Attributes:
      theta: the policy mean, ``[T, d]``.
      utility: ``U(theta)``; proxy_reward: ``r_phi(theta)``, ``[T]``.
      signal, noise: ``||theta[:k]||`` and ``||theta[k:]||``, ``[T]``.
      sigma: the policy's spread at that iteration, ``[T]``.
      buffer_loss: the follower's mean squared error on its buffer before its step, ``[T]``.
      cg_iterations, cg_residual: iterations and relative residual of that iteration's
        solve by ``spec.solver`` (exact Hessian with global influence; 0 otherwise), ``[T]``.
      rm_params, buffer: with ``spec.record_state``, the flat RM parameters
        (``[T, P]``) and the buffer the leader saw at each iteration (for the
        non-convexity diagnostics); ``None`` otherwise.
    """

    theta: Array
    utility: Array
    proxy_reward: Array
    signal: Array
    noise: Array
    sigma: Array
    buffer_loss: Array
    cg_iterations: Array
    cg_residual: Array
    rm_params: Array | None = None
    buffer: Buffer | None = None


def follower_optimizer(hp: NeuralHParams) -> optax.GradientTransformation:
    """Adam with L2 weight decay added to the gradient (PyTorch's ``Adam(weight_decay=...)``)."""
    return optax.chain(optax.add_decayed_weights(hp.weight_decay), optax.adam(hp.follower_lr))


def make_neural_trajectory(spec: NeuralSpec) -> Callable[[Array, NeuralHParams], NeuralTrajectory]:
    """A pure ``run(key, hparams) -> NeuralTrajectory`` for the paper-nn game."""
    spec.validate()
    method = spec.method
    blocks = spec.buffer_size // spec.samples_per_step

    def run(key: Array, hp: NeuralHParams) -> NeuralTrajectory:
        hp = as_float_arrays(hp)
        dtype = jnp.result_type(float)
        u = neural_utility(spec, hp)
        init_key, loop_key = jax.random.split(key)
        sizes = (spec.dim, *spec.hidden, 1)
        params = [(hp.init_scale * w, b) for w, b in mlp_init(init_key, sizes, 1.0, dtype)]
        optimizer = follower_optimizer(hp)
        buffer_y = jnp.zeros((blocks, spec.samples_per_step, spec.dim), dtype)
        buffer_label = jnp.zeros((blocks, spec.samples_per_step), dtype)
        filled = jnp.zeros((blocks,), dtype)
        state = (jnp.zeros(spec.dim, dtype), params, optimizer.init(params))
        state = (*state, buffer_y, buffer_label, filled)

        def outer(carry, inputs):
            theta, params, opt_state, buf_y, buf_label, filled = carry
            seen_params = params
            t, step_key = inputs
            sigma = schedule(hp.sigma_start, hp.sigma_end, t, spec.steps)
            lr = schedule(hp.lr_start, hp.lr_end, t, spec.steps)
            inner_key, sample_key = jax.random.split(step_key)
            buffer = Buffer(buf_y, buf_label, filled)
            penalty, cg = steering_penalty(
                method,
                params,
                lambda p: follower_objective(p, buffer, hp.weight_decay),
                theta,
                u,
                hp.damping,
                spec.solver,
            )

            def objective(y):
                reward = mlp_reward(params, y) - hp.action_cost * y @ y
                return reward - hp.gamma * penalty(y)

            def inner(theta, eps):
                grad = jax.grad(objective)(theta + sigma * eps)
                return theta + lr * jnp.clip(grad, -hp.clip, hp.clip), None

            eps = standard_normal(inner_key, (spec.inner_steps, spec.dim), dtype)
            theta, _ = jax.lax.scan(inner, theta, eps)

            samples = theta + sigma * standard_normal(
                sample_key, (spec.samples_per_step, spec.dim), dtype
            )
            here = jnp.arange(blocks, dtype=jnp.int32) == (t.astype(jnp.int32) % blocks)
            buf_y = jnp.where(here[:, None, None], samples[None], buf_y)
            buf_label = jnp.where(here[:, None], utility(u, samples)[None], buf_label)
            filled = jnp.where(here, jnp.ones_like(filled), filled)

            def buffer_loss(params):
                errors = (mlp_reward(params, buf_y) - buf_label) ** 2
                return jnp.sum(filled[:, None] * errors) / (jnp.sum(filled) * spec.samples_per_step)

            loss, grads = jax.value_and_grad(buffer_loss)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            record = (theta, mlp_reward(params, theta), sigma, loss, *cg)
            if spec.record_state:  # what the leader saw at this iteration
                record = (*record, ravel_pytree(seen_params)[0], buffer)
            return (theta, params, opt_state, buf_y, buf_label, filled), record

        steps = jnp.arange(spec.steps, dtype=dtype)
        keys = jax.random.split(loop_key, spec.steps)
        _, records = jax.lax.scan(outer, state, (steps, keys))
        theta, proxy, sigma, loss, cg_iterations, cg_residual = records[:6]
        rm_params, buffer = records[6:] if spec.record_state else (None, None)
        return NeuralTrajectory(
            theta=theta,
            utility=utility(u, theta),
            proxy_reward=proxy,
            signal=jnp.linalg.norm(theta[:, : spec.signal_dims], axis=-1),
            noise=jnp.linalg.norm(theta[:, spec.signal_dims :], axis=-1),
            sigma=sigma,
            buffer_loss=loss,
            cg_iterations=cg_iterations,
            cg_residual=cg_residual,
            rm_params=rm_params,
            buffer=buffer,
        )

    return run


def paper_nn(method: str, **switches) -> tuple[NeuralSpec, NeuralHParams]:
    """The ``paper-nn`` preset (docs/settings.md) with ``method``.

    ``gamma``: 0 for rlhf; the published 0.005 with ``H -> I``; with the exact
    (damped) Hessian, ``2 omega = 2 * 5 / 50 = 0.2``.
    """
    from toysim.config import method_from_name

    m = method_from_name(method, **switches)
    if m.foresight and switches.get("params") is None:
        m = dataclasses.replace(m, params="current")  # exact = damped H at phi_t here
    spec = NeuralSpec(method=m)
    if not m.foresight:
        gamma = 0.0
    elif m.hessian == "exact":
        gamma = 2.0 * spec.samples_per_step / spec.buffer_size
    else:
        gamma = NeuralHParams().gamma
    return spec, NeuralHParams(gamma=gamma)


RELAXATIONS = (
    ("fpo-relaxed", Method("fpo-relaxed", hessian="identity", influence="local", params="current")),
    (
        "fpo-practical",
        Method(
            "fpo-practical", hessian="identity", influence="local", params="current", oracle="none"
        ),
    ),
    ("exact, local", Method("fpo", hessian="exact", influence="local", params="current")),
)
"""The steering terms compared with the damped exact (global) one along a trajectory."""


class Diagnostics(NamedTuple):
    """Non-convexity diagnostics at checkpoints of a paper-nn trajectory.

    Attributes:
      iteration: the checkpoint iterations, ``[C]``.
      smallest, largest: extreme eigenvalues of the follower's (undamped) Hessian, ``[C]``.
      indefinite: whether that Hessian has a negative eigenvalue, ``[C]``.
      cosines: label -> ``[C]`` cosines between that relaxation's steering direction
        ``-grad_y S`` at ``y = theta`` and the damped exact (global) one.
    """

    iteration: np.ndarray
    smallest: Array
    largest: Array
    indefinite: Array
    cosines: dict[str, Array]


def nonconvexity_diagnostics(
    spec: NeuralSpec, hp: NeuralHParams, trajectory: NeuralTrajectory, every: int
) -> Diagnostics:
    """Dense Hessian spectrum and steering cosines every ``every`` iterations of ``trajectory``.

    ``trajectory`` must come from a spec with ``record_state=True`` (the
    parameters and buffer the leader saw). The Hessian is dense here
    (``[P, P]``, ``P = 1,441`` for the published network): fine at this size.
    """
    from toysim.analysis import cosine

    if trajectory.rm_params is None:
        raise ConfigError("nonconvexity_diagnostics needs a trajectory run with record_state=True")
    hp = as_float_arrays(hp)
    u = neural_utility(spec, hp)
    template = mlp_init(jax.random.key(0), (spec.dim, *spec.hidden, 1))
    unravel = ravel_pytree(template)[1]
    reference = Method("fpo-exact", params="current")
    iterations = np.arange(0, spec.steps, every)

    def at(flat, buffer, theta):
        params = unravel(flat)

        def objective(p):
            return follower_objective(p, buffer, hp.weight_decay)

        hessian = linalg.hessian_operator(lambda x: objective(unravel(x)), flat)
        spectrum = linalg.spectrum(hessian.dense())

        def direction(method):
            penalty, _ = steering_penalty(
                method, params, objective, theta, u, hp.damping, spec.solver
            )
            return -jax.grad(penalty)(theta)

        exact = direction(reference)
        cosines = {label: cosine(direction(m), exact) for label, m in RELAXATIONS}
        return spectrum, cosines

    take = jax.tree.map(lambda x: x[iterations], (trajectory.rm_params, trajectory.buffer))
    theta_seen = jnp.concatenate([jnp.zeros((1, spec.dim)), trajectory.theta[:-1]])[iterations]
    spectrum, cosines = jax.jit(jax.vmap(at))(*take, theta_seen)
    return Diagnostics(
        iterations, spectrum.smallest, spectrum.largest, spectrum.indefinite, cosines
    )
