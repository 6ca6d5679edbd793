"""The paper's second setting: a Gaussian policy against an MLP reward model.

See docs/theory/neural.md. The same sampled-buffer loop also runs the linear
reward model, pairs of outputs under a Bradley-Terry follower and the three
data regimes (``NeuralSpec.reward_model``, ``data``, ``labels``, ``regime``;
docs/theory/pairwise.md); the description below is paper-nn's.

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
indefinite), ``H + mu I`` (CG), Gauss-Newton (Woodbury over the buffer), its
diagonal (or Hutchinson's estimate of ``diag H``) or the identity. With global influence,
``g = E_pi[grad_phi r] ~ grad_phi r(theta)`` (the policy's spread is at most
0.1) and ``v = M^{-1} g`` is solved once per outer iteration (warm-started from
the previous one), its iterations, residual and convergence recorded; with
local influence the solve sits inside ``S(y)`` and is differentiated through
``jax.lax.custom_linear_solve``.
``params = optimum`` is refused: a non-convex RM has no unique best response.
The new data are ``samples_per_step`` samples in a buffer of ``buffer_size``,
so ``omega = samples_per_step / buffer_size`` and ``gamma = 2 omega`` is the
exact weight.

The same loop (:func:`sampled_buffer_loop`) runs the mitigations of
docs/results/mitigations.md: an ensemble of reward models whose aggregate the
leader climbs (:func:`toysim.game.ensemble.ensemble_model`) and early stopping
on a held-out gold budget (:mod:`toysim.game.early_stop`), through
:func:`make_mitigated_neural_trajectory`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array
from jax.flatten_util import ravel_pytree

from toysim import linalg
from toysim.config import ConfigError, Method, as_float_arrays
from toysim.game.curvature import DEFAULT_SOLVERS, curvature_inverse, network_curvature
from toysim.game.early_stop import (
    StopParams,
    check_and_update,
    gold_estimate,
    initial_stop_state,
)
from toysim.game.ensemble import GOLD_STREAM, MitigationParams, MitigationSpec, ensemble_model
from toysim.game.followers import (
    BufferData,
    SampleBuffer,
    adam_l2_optimizer,
    buffer_insert,
    empty_buffer,
    follower_loss,
    optimizer_step,
    regime_blocks,
)
from toysim.game.sampled import (
    NeuralHParams,
    NeuralSpec,
    initial_reward_params,
    leader_reward,
    network_model,
    neural_utility,
    policy_block,
    schedule,
)
from toysim.game.steering import reward_gradient, sample_steering
from toysim.model.interface import RewardModel, RewardParams, pairwise
from toysim.model.metrics import block_signal_noise
from toysim.model.preference import steering_view
from toysim.model.sampling import standard_normal
from toysim.model.utility import Utility, utility


def network_objective(
    model: RewardModel, buffer: SampleBuffer, weight_decay: Array
) -> Callable[[RewardParams], Array]:
    """``phi -> L(phi)``: the mean loss on ``buffer`` plus ``(wd/2)||phi||^2``.

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
    options = spec.curvature.for_loss(squared=spec.data == "points")
    m = network_curvature(
        hessian, objective, model, phi, buffer, hp.weight_decay, hp.damping, options, key
    )
    solver = DEFAULT_SOLVERS[hessian] if spec.solver is None else spec.solver
    return curvature_inverse(m, solver, x0)


SOLVE_FIELDS = ("solve_iterations", "solve_residual", "solve_backward_error", "solve_converged")
"""The :class:`NeuralTrajectory` fields of an iteration's :class:`toysim.linalg.SolveInfo`."""


class NeuralTrajectory(NamedTuple):
    """Per outer iteration (leading axis ``T``, after any vmapped axes).

    Attributes:
      theta: the policy mean, ``[T, d]``.
      utility: ``U(theta)``; proxy_reward: ``r_phi(theta)`` (an ensemble's aggregate), ``[T]``.
      signal, noise: ``||theta[:k]||`` and ``||theta[k:]||``, ``[T]``.
      sigma: the policy's spread at that iteration, ``[T]``.
      buffer_loss: the follower's mean loss on its buffer before its step (an ensemble's
        summed over members), ``[T]``.
      solve_iterations, solve_residual, solve_backward_error, solve_converged: iterations,
        relative residual, normwise backward error and convergence flag of that
        iteration's curvature solve (global influence with a ``hessian`` other than
        ``identity``; 0, 0, 0 and True otherwise; :class:`toysim.linalg.SolveInfo`), ``[T]``.
      rm_params, buffer: with ``spec.record_state``, the flat RM parameters
        (``[T, P]``) and the buffer the leader saw at each iteration (for the
        non-convexity diagnostics, :mod:`toysim.game.nonconvexity`); ``None`` otherwise.
      climb, stopped, gold_spent, gold_estimate: a mitigated run's
        (:func:`make_mitigated_neural_trajectory`) climb ``C``, 1.0 once stopped, gold labels
        spent and the latest gold estimate (:mod:`toysim.game.early_stop`; 0 without a gold
        budget), ``[T]``; ``None`` otherwise.
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
    solve_backward_error: Array
    solve_converged: Array
    rm_params: Array | None = None
    buffer: SampleBuffer | None = None
    climb: Array | None = None
    stopped: Array | None = None
    gold_spent: Array | None = None
    gold_estimate: Array | None = None


def make_neural_trajectory(spec: NeuralSpec) -> Callable[[Array, NeuralHParams], NeuralTrajectory]:
    """A pure ``run(key, hparams) -> NeuralTrajectory`` for the sampled-buffer game.

    paper-nn (points, MLP, a window of 10 blocks) and the pairwise presets
    (docs/theory/pairwise.md): with ``spec.data = pairs`` each leader step and
    each of the ``samples_per_step`` new samples is a pair of outputs of the
    policy, and the steering term sees a pair as one sample
    (:func:`toysim.model.preference.steering_view`), its global direction
    taken at the pair ``(theta, theta)``.
    """
    loop = sampled_buffer_loop(spec, None, "mean", 0)
    return lambda key, hp: loop(key, hp, None)


def make_mitigated_neural_trajectory(
    spec: MitigationSpec,
) -> Callable[[Array, MitigationParams], NeuralTrajectory]:
    """A pure ``run(key, params) -> NeuralTrajectory`` of the sampled-buffer game
    ``spec.game`` with an ensemble of ``spec.members`` reward models and early stopping on a
    gold budget of ``spec.gold_budget`` (:func:`sampled_buffer_loop`).

    Raises:
      ConfigError: a field of ``spec`` is invalid, or ``members > 1`` with a foresight
        method (the ensemble runs under leaders without a steering term).
    """
    spec.validate()
    if spec.members > 1 and spec.method.foresight:
        raise ConfigError(
            f"members must be 1 with a foresight method (the sampled-buffer ensemble has no "
            f"steering term); got members = {spec.members} with method {spec.method.name!r}"
        )
    loop = sampled_buffer_loop(spec.game, spec.members, spec.aggregate, spec.gold_budget)
    return lambda key, params: loop(key, params.game, params.stop)


def sampled_buffer_loop(
    spec: NeuralSpec, members: int | None, aggregate: str, gold_budget: int
) -> Callable[[Array, NeuralHParams, StopParams | None], NeuralTrajectory]:
    """The sampled-buffer game's ``run(key, hp, stop)``, one ``lax.scan`` over ``T``.

    Args:
      spec: the game (validated here).
      members: ``None`` for the single reward model; ``k >= 1`` for the ensemble
        :func:`toysim.game.ensemble.ensemble_model` (member 0 the single model's draw, a
        leading member axis even for ``k = 1``), which also records the stopping fields.
      aggregate: ``mean`` or ``min``, the ensemble's aggregate reward the leader ascends.
      gold_budget: ``b``, gold labels per early-stopping check (0: no early stopping); with
        ``b > 0`` ``theta`` is frozen once :func:`toysim.game.early_stop.check_and_update`
        stops, the climb ``C`` summing ``r_phi(theta_{t+1}) - r_phi(theta_t)`` under the
        reward model the leader ascended, the gold estimate drawn from ``N(theta, sigma_t^2 I)``
        with the key ``fold_in(fold_in(key, GOLD_STREAM), t)``.
    """
    spec.validate()
    method = spec.method
    model = network_model(spec)
    pairs = spec.data == "pairs"
    follower_model = pairwise(model) if pairs else model
    if members is not None:
        model, follower_model = (
            ensemble_model(m, members, aggregate) for m in (model, follower_model)
        )
    window = spec.buffer_size // spec.samples_per_step
    blocks = regime_blocks(spec.regime, window, spec.steps)
    sample_shape = (2, spec.dim) if pairs else (spec.dim,)

    def run(key: Array, hp: NeuralHParams, stop_p: StopParams | None) -> NeuralTrajectory:
        hp = as_float_arrays(hp)
        dtype = jnp.result_type(float)
        u = neural_utility(spec, hp)
        init_key, loop_key = jax.random.split(key)
        gold_key = jax.random.fold_in(key, GOLD_STREAM)
        phi = initial_reward_params(model, hp, init_key, dtype)
        optimizer = adam_l2_optimizer(hp.follower_lr, hp.weight_decay)
        buffer = empty_buffer(blocks, spec.dim, dtype, spec.samples_per_step, pairs)
        previous = jnp.zeros_like(ravel_pytree(phi)[0])
        stop0 = (initial_stop_state(dtype), jnp.zeros((), dtype))
        state = (jnp.zeros(spec.dim, dtype), phi, optimizer.init(phi), buffer, previous, stop0)

        def outer(carry, inputs):
            start, phi, opt_state, buffer, previous, (stop, climb) = carry
            seen_buffer = buffer
            t, step_key = inputs
            sigma = schedule(hp.sigma_start, hp.sigma_end, t, spec.steps)
            lr = schedule(hp.lr_start, hp.lr_end, t, spec.steps)
            inner_key, sample_key, *label_key = jax.random.split(step_key, 3 if pairs else 2)
            curvature_key = jax.random.fold_in(step_key, 1)  # leaves the split keys unchanged
            x0 = previous if spec.curvature.warm_start else None
            inverse = network_inverse(spec, hp, follower_model, phi, buffer, curvature_key, x0)
            steer_model, point = model, start
            if pairs:
                steer_model = steering_view(model, hp.beta, hp.label_noise)
                point = jnp.stack([start, start])
            penalty, solution = network_steering(method, steer_model, phi, inverse, point, u)

            def objective(y):
                return leader_reward(model, phi, y, hp.action_cost) - hp.gamma * penalty(y)

            def inner(theta, eps):
                grad = jax.grad(lambda x: objective(x + sigma * eps))(theta)  # a pair: both
                return theta + lr * jnp.clip(grad, -hp.clip, hp.clip), None

            eps = standard_normal(inner_key, (spec.inner_steps, *sample_shape), dtype)
            theta, _ = jax.lax.scan(inner, start, eps)
            if gold_budget:
                theta = jnp.where(stop.stopped, start, theta)
                climb = climb + model.reward(phi, theta) - model.reward(phi, start)

            block = policy_block(
                spec, hp, u, theta, sigma, sample_key, label_key[0] if pairs else sample_key
            )
            buffer = buffer_insert(buffer, *block)
            data = BufferData(follower_model, buffer, None)
            loss, new_phi, opt_state = optimizer_step(optimizer, data.loss, phi, opt_state)
            if gold_budget:
                draw = jax.random.fold_in(gold_key, t.astype(jnp.int32))
                gold = gold_estimate(draw, theta, sigma, u, gold_budget, stop_p.label_noise)
                stop = check_and_update(stop, t + 1, gold, climb, gold_budget, stop_p)
            record = dict(
                theta=theta,
                proxy_reward=model.reward(new_phi, theta),
                sigma=sigma,
                buffer_loss=loss,
                **dict(zip(SOLVE_FIELDS, solution.info, strict=True)),
            )
            if spec.record_state:  # what the leader saw at this iteration
                record.update(rm_params=ravel_pytree(phi)[0], buffer=seen_buffer)
            if members is not None:
                record.update(
                    climb=climb,
                    stopped=stop.stopped.astype(dtype),
                    gold_spent=stop.spent,
                    gold_estimate=stop.last_gold,
                )
            return (theta, new_phi, opt_state, buffer, solution.x, (stop, climb)), record

        steps = jnp.arange(spec.steps, dtype=dtype)
        keys = jax.random.split(loop_key, spec.steps)
        _, records = jax.lax.scan(outer, state, (steps, keys))
        theta = records["theta"]
        signal, noise = block_signal_noise(theta, spec.signal_dims)
        return NeuralTrajectory(utility=utility(u, theta), signal=signal, noise=noise, **records)

    return run
