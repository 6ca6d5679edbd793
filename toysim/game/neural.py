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
The steering penalty is the generic ``S = (1/2) g^T H^{-1} grad_phi l(phi; y)``
of :mod:`toysim.game.steering`, with gradients over every RM parameter
(double backpropagation through ``grad_phi r(y)``); the buffer, the follower's
objective and its Adam step are the generic ones of :mod:`toysim.game.followers`.

The RM's loss is not convex, so ``H^{-1}`` need not exist: the ``hessian``
switch picks a rung of the curvature ladder (:mod:`toysim.game.curvature`,
docs/theory/exact-fpo.md) for ``M`` in ``S``: the exact ``H`` (the Hessian of the
follower's objective, buffer MSE plus the L2 term ``(wd/2)||phi||^2``, at its
current parameters; MINRES on Hessian-vector products, since ``H`` is
indefinite), ``H + mu I`` (CG), Gauss-Newton (Woodbury over the buffer), the
diagonal (Hutchinson) or the identity. With global influence,
``g = E_pi[grad_phi r] ~ grad_phi r(theta)`` (the policy's spread is at most
0.1) and ``v = M^{-1} g`` is solved once per outer iteration (warm-started from
the previous one), its iterations, residual and convergence recorded; with
local influence the solve sits inside ``S(y)`` and is differentiated through
``jax.lax.custom_linear_solve``.
``params = optimum`` is refused: a non-convex RM has no unique best response.
The new data are ``samples_per_step`` samples in a buffer of ``buffer_size``,
so ``omega = samples_per_step / buffer_size`` and ``gamma = 2 omega`` is the
exact weight.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.flatten_util import ravel_pytree

from toysim import linalg
from toysim.config import ConfigError, Method, as_float_arrays, check_steps, integers_as_int
from toysim.game.curvature import (
    DEFAULT_SOLVERS,
    CurvatureOptions,
    curvature_inverse,
    network_curvature,
)
from toysim.game.followers import (
    BufferData,
    SampleBuffer,
    adam_l2_optimizer,
    buffer_insert,
    empty_buffer,
    follower_loss,
    optimizer_step,
)
from toysim.game.steering import reward_gradient, sample_steering
from toysim.model.interface import RewardModel, RewardParams, mlp_reward_model
from toysim.model.metrics import block_signal_noise
from toysim.model.sampling import standard_normal
from toysim.model.utility import Utility, utility
from toysim.rules import NEURAL_HPARAM_RULES, check_numbers


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
      solver: the solver of the curvature rung's system, a :mod:`toysim.linalg` solver
        (``CG``, ``MINRES``, ``LU`` or ``Cholesky``), or ``None`` for the rung's default
        (:data:`toysim.game.curvature.DEFAULT_SOLVERS`: MINRES for ``exact``, CG for
        ``damped``, both at relative tolerance ``1e-6``; direct for the others).
      curvature: how the rungs are built (:class:`toysim.game.curvature.CurvatureOptions`:
        spectral or fixed damping, Lanczos steps, Hutchinson probes, warm starts).
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
    solver: linalg.Solver | None = None
    curvature: CurvatureOptions = CurvatureOptions()
    record_state: bool = False

    def __post_init__(self) -> None:
        integers_as_int(self)

    def validate(self) -> None:
        """Check the sizes, the buffer, the solver and the method (``params`` must be ``current``).

        Raises:
            ConfigError: naming the first invalid field and what is allowed.
        """
        for field in ("dim", "steps", "inner_steps", "buffer_size", "samples_per_step"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{field} must be an integer >= 1; got {value!r}")
        check_steps(self.steps)
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
        self.curvature.validate()
        solvers = (linalg.CG, linalg.MINRES, linalg.LU, linalg.Cholesky)
        if self.solver is not None and not isinstance(self.solver, solvers):
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
      damping: for ``hessian = damped``, ``mu`` in ``H + mu I`` (``spec.curvature.damping
        = fixed``) or the margin of ``mu = max(margin - lambda_min, 0)`` (``spectral``).
        The undamped ``H`` is indefinite along paper-nn runs (docs/theory/neural.md
        gives its spectrum): with a fixed ``mu = 1`` CG converged on 88% of iterations
        over seeds 0-15.
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

    def validate(self, spec: NeuralSpec) -> None:
        """Check every number against :data:`toysim.rules.NEURAL_HPARAM_RULES` (finite, in
        range) and ``gamma = 0`` for rlhf.

        Raises:
            ConfigError: naming the first bad field, what is allowed and the value.
        """
        check_numbers(self, NEURAL_HPARAM_RULES)
        if not spec.method.foresight and np.any(np.asarray(self.gamma) != 0):
            raise ConfigError(f"gamma must be 0 for rlhf (no steering term); got {self.gamma!r}")


def neural_utility(spec: NeuralSpec, hp: NeuralHParams) -> Utility:
    """``U`` with ``m = v`` on the first ``k`` coordinates."""
    signal_mask = (jnp.arange(spec.dim) < spec.signal_dims).astype(jnp.result_type(float))
    return Utility(hp.amplitude, hp.tau, hp.ideal_value * signal_mask)


def schedule(start: Array, end: Array, t: Array, steps: int) -> Array:
    """``end + (start - end) (1 - (t/T)^4)``."""
    return end + (start - end) * (1.0 - (t / steps) ** 4)


def network_model(spec: NeuralSpec) -> RewardModel:
    """The MLP reward model ``d -> hidden -> 1`` of ``spec`` (unit-scale initial weights)."""
    return mlp_reward_model((spec.dim, *spec.hidden, 1))


def network_objective(
    model: RewardModel, buffer: SampleBuffer, weight_decay: Array
) -> Callable[[RewardParams], Array]:
    """``phi -> L(phi)``: mean squared error on ``buffer`` plus ``(wd/2)||phi||^2``.

    :func:`toysim.game.followers.follower_loss` with the mean over the buffer
    and a ridge anchor of weight ``wd``: the objective whose gradient Adam's
    L2 weight decay follows, and whose Hessian exact FPO solves with.
    """
    data = BufferData(model, buffer, None)

    def objective(phi: RewardParams) -> Array:
        return follower_loss(phi, data, None, weight_decay)

    return objective


def network_steering(
    method: Method,
    model: RewardModel,
    phi: RewardParams,
    inverse: Callable[[Array], linalg.Solution],
    theta: Array,
    u: Utility,
) -> tuple[Callable[[Array], Array], linalg.Solution]:
    """``(S, solution)``: the penalty ``y -> S(y)`` at the RM parameters ``phi``, and the
    global solve's :class:`toysim.linalg.Solution`.

    ``S(y) = (1/2) g^T M^{-1} grad_phi l(phi; y)``
    (:func:`toysim.game.steering.sample_steering`) with ``b -> M^{-1} b`` given as
    ``inverse`` (:func:`network_inverse`: a rung of the curvature ladder, or the
    identity); ``g = grad_phi r(theta)`` held fixed (global) or ``grad_phi r(y)``
    (local). ``solution`` is ``v = M^{-1} g`` of the global solve with its
    diagnostics (``x = 0``, 0 iterations, residual 0, converged when there is none).
    """
    dtype = jnp.result_type(float)
    flat = ravel_pytree(phi)[0]
    none = linalg.identity_solution(jnp.zeros_like(flat))
    oracle = method.oracle == "true"
    if not method.foresight:
        return (lambda y: jnp.zeros((), dtype)), none
    label_of = functools.partial(utility, u)
    if method.influence == "local":
        local = linalg.linear_map(inverse)
        return (lambda y: sample_steering(model, phi, y, label_of, local, oracle)), none
    solution = inverse(reward_gradient(model, phi, theta))
    identity = linalg.linear_map(linalg.identity_solution)

    def penalty(y):
        return sample_steering(model, phi, y, label_of, identity, oracle, solution.x)

    return penalty, solution


def network_inverse(
    spec: NeuralSpec,
    hp: NeuralHParams,
    model: RewardModel,
    phi: RewardParams,
    buffer: SampleBuffer,
    key: Array,
    x0: Array | None = None,
) -> Callable[[Array], linalg.Solution]:
    """``b -> M^{-1} b`` for ``spec.method``'s curvature rung at ``phi`` on ``buffer``.

    :func:`toysim.game.curvature.network_curvature` of the follower's objective
    (:func:`network_objective`), solved by ``spec.solver`` or the rung's default
    (:data:`toysim.game.curvature.DEFAULT_SOLVERS`) from the warm start ``x0``;
    the identity for ``hessian = identity``.
    """
    hessian = spec.method.hessian
    if hessian == "identity":
        return linalg.identity_solution
    objective = network_objective(model, buffer, hp.weight_decay)
    m = network_curvature(
        hessian, objective, model, phi, buffer, hp.weight_decay, hp.damping, spec.curvature, key
    )
    solver = DEFAULT_SOLVERS[hessian] if spec.solver is None else spec.solver
    return curvature_inverse(m, solver, x0)


class NeuralTrajectory(NamedTuple):
    """Per outer iteration (leading axis ``T``, after any vmapped axes).

    Attributes:
      theta: the policy mean, ``[T, d]``.
      utility: ``U(theta)``; proxy_reward: ``r_phi(theta)``, ``[T]``.
      signal, noise: ``||theta[:k]||`` and ``||theta[k:]||``, ``[T]``.
      sigma: the policy's spread at that iteration, ``[T]``.
      buffer_loss: the follower's mean squared error on its buffer before its step, ``[T]``.
      solve_iterations, solve_residual, solve_converged: iterations, relative residual
        and convergence flag of that iteration's curvature solve (global influence with a
        ``hessian`` other than ``identity``; 0, 0 and True otherwise), ``[T]``.
      rm_params, buffer: with ``spec.record_state``, the flat RM parameters
        (``[T, P]``) and the buffer the leader saw at each iteration (for the
        non-convexity diagnostics, :mod:`toysim.game.nonconvexity`); ``None`` otherwise.
    """

    theta: Array
    utility: Array
    proxy_reward: Array
    signal: Array
    noise: Array
    sigma: Array
    buffer_loss: Array
    solve_iterations: Array
    solve_residual: Array
    solve_converged: Array
    rm_params: Array | None = None
    buffer: SampleBuffer | None = None


def make_neural_trajectory(spec: NeuralSpec) -> Callable[[Array, NeuralHParams], NeuralTrajectory]:
    """A pure ``run(key, hparams) -> NeuralTrajectory`` for the paper-nn game."""
    spec.validate()
    method = spec.method
    model = network_model(spec)
    blocks = spec.buffer_size // spec.samples_per_step

    def run(key: Array, hp: NeuralHParams) -> NeuralTrajectory:
        hp = as_float_arrays(hp)
        dtype = jnp.result_type(float)
        u = neural_utility(spec, hp)
        init_key, loop_key = jax.random.split(key)
        phi = [(hp.init_scale * w, b) for w, b in model.init(init_key, dtype)]
        optimizer = adam_l2_optimizer(hp.follower_lr, hp.weight_decay)
        buffer = empty_buffer(blocks, spec.dim, dtype, spec.samples_per_step)
        previous = jnp.zeros_like(ravel_pytree(phi)[0])
        state = (jnp.zeros(spec.dim, dtype), phi, optimizer.init(phi), buffer, previous)

        def outer(carry, inputs):
            theta, phi, opt_state, buffer, previous = carry
            seen_phi, seen_buffer = phi, buffer
            t, step_key = inputs
            sigma = schedule(hp.sigma_start, hp.sigma_end, t, spec.steps)
            lr = schedule(hp.lr_start, hp.lr_end, t, spec.steps)
            inner_key, sample_key = jax.random.split(step_key)
            curvature_key = jax.random.fold_in(step_key, 1)  # leaves the split keys unchanged
            x0 = previous if spec.curvature.warm_start else None
            inverse = network_inverse(spec, hp, model, phi, buffer, curvature_key, x0)
            penalty, solution = network_steering(method, model, phi, inverse, theta, u)

            def objective(y):
                reward = model.reward(phi, y) - hp.action_cost * y @ y
                return reward - hp.gamma * penalty(y)

            def inner(theta, eps):
                grad = jax.grad(objective)(theta + sigma * eps)
                return theta + lr * jnp.clip(grad, -hp.clip, hp.clip), None

            eps = standard_normal(inner_key, (spec.inner_steps, spec.dim), dtype)
            theta, _ = jax.lax.scan(inner, theta, eps)

            samples = theta + sigma * standard_normal(
                sample_key, (spec.samples_per_step, spec.dim), dtype
            )
            buffer = buffer_insert(buffer, samples, utility(u, samples))
            data = BufferData(model, buffer, None)
            loss, phi, opt_state = optimizer_step(optimizer, data.loss, phi, opt_state)
            record = (theta, model.reward(phi, theta), sigma, loss, *solution.info)
            if spec.record_state:  # what the leader saw at this iteration
                record = (*record, ravel_pytree(seen_phi)[0], seen_buffer)
            return (theta, phi, opt_state, buffer, solution.x), record

        steps = jnp.arange(spec.steps, dtype=dtype)
        keys = jax.random.split(loop_key, spec.steps)
        _, records = jax.lax.scan(outer, state, (steps, keys))
        theta, proxy = records[:2]
        state_record = records[7:] if spec.record_state else (None, None)
        signal_noise = block_signal_noise(theta, spec.signal_dims)
        solves = records[2:7]  # sigma, loss, and the solve's iterations, residual, converged
        return NeuralTrajectory(
            theta, utility(u, theta), proxy, *signal_noise, *solves, *state_record
        )

    return run


def paper_nn(method: str, **switches) -> tuple[NeuralSpec, NeuralHParams]:
    """The ``paper-nn`` preset (docs/settings.md) with ``method``.

    ``gamma``: 0 for rlhf; the published 0.005 with ``H -> I``; with any other
    curvature rung (``M`` approximating ``H``), ``2 omega = 2 * 5 / 50 = 0.2``.
    """
    from toysim.config import method_from_name

    m = method_from_name(method, **switches)
    if m.foresight and switches.get("params") is None:
        m = dataclasses.replace(m, params="current")  # curvature at phi_t here
    spec = NeuralSpec(method=m)
    if not m.foresight:
        gamma = 0.0
    elif m.hessian != "identity":
        gamma = 2.0 * spec.samples_per_step / spec.buffer_size
    else:
        gamma = NeuralHParams().gamma
    return spec, NeuralHParams(gamma=gamma)
