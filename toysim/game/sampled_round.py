"""The paper's second setting: a Gaussian policy against an MLP reward model.

See docs/theory/neural.md. The same sampled-buffer loop also runs the linear
reward model, pairs of outputs under a Bradley-Terry follower (two of the policy's, or
its own against a fixed reference, the best of ``candidates`` draws by the current reward
model) and the three data regimes (``SampledSpec.reward_model``, ``data``, ``labels``,
``pairing``, ``candidates``, ``regime``; docs/theory/pairwise.md); the description below is
paper-nn's.

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

The RM's loss is not convex, so ``H^{-1}`` need not exist: the ``hessian`` switch picks a
rung of the curvature ladder (:mod:`toysim.game.curvature`, docs/theory/exact-fpo.md) for
``M`` in ``S``, ``H`` being the Hessian of the follower's objective (buffer MSE plus
``(wd/2)||phi||^2``) at its current parameters; the ``unrolled`` rung differentiates ``K``
of the follower's Adam steps instead (:mod:`toysim.game.unrolled`). With global influence,
``g = E_pi[grad_phi r] ~ grad_phi r(theta)`` (the policy's spread is at most
0.1) and ``v = M^{-1} g`` is solved once per outer iteration (warm-started from
the previous one), its iterations, residual and convergence recorded; with
local influence the solve sits inside ``S(y)`` and is differentiated through
``jax.lax.custom_linear_solve``. ``params = optimum`` is refused for the MLP (no unique
best response); for the linear reward model ``phi_s`` is the best response on the buffer
(:mod:`toysim.game.optimum`), where the rung is taken too. ``gamma = 2 omega`` is the exact
weight (:attr:`toysim.game.sampled.SampledSpec.new_sample_weight`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array
from jax.flatten_util import ravel_pytree

from toysim import linalg
from toysim.config import Method, as_float_arrays
from toysim.game.best_of_n import expert_move, gaussian_kl
from toysim.game.candidates import draw_candidates
from toysim.game.composition import Composition, CompositionParams
from toysim.game.curvature import curvature_inverse, network_curvature, rung_solver
from toysim.game.early_stop import GOLD_STREAM
from toysim.game.followers import (
    BufferData,
    SampleBuffer,
    adam_l2_optimizer,
    buffer_insert,
    follower_loss,
    optimizer_step,
)
from toysim.game.loop import GoldChecks, Round, Start, play
from toysim.game.optimum import buffer_optimum, newton_steps
from toysim.game.records import Trajectory
from toysim.game.sampled import (
    SampledHParams,
    SampledSpec,
    initial_reward_params,
    leader_objective,
    network_model,
    neural_utility,
    policy_block,
    sampled_buffer,
    schedule,
)
from toysim.game.steering import reward_gradient, sample_steering
from toysim.game.unrolled import unrolled_steering
from toysim.model.ensemble import ensemble_model
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
    spec: SampledSpec,
    hp: SampledHParams,
    model: RewardModel,
    phi: RewardParams,
    buffer: SampleBuffer,
    key: Array,
    x0: Array | None = None,
) -> Callable[[Array], linalg.Solution]:
    """``b -> M^{-1} b`` for ``spec.method``'s curvature rung at ``phi`` on ``buffer``.

    :func:`toysim.game.curvature.network_curvature` of the follower's objective
    (:func:`network_objective`), solved by ``spec.solver`` or the rung's default
    (:func:`toysim.game.curvature.rung_solver`) from the warm start ``x0``;
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
    solver = rung_solver(spec.method) if spec.solver is None else spec.solver
    return curvature_inverse(m, solver, x0)


class LeaderView(NamedTuple):
    """What the gradient leader climbs at one iteration.

    Attributes:
      phi: ``phi_s``, the RM parameters of its reward and steering terms: the follower's
        best response ``phi*`` on the buffer (``params = optimum``) or its current ``phi_t``.
      penalty: ``y -> S(y)`` at ``phi_s`` (:func:`network_steering`).
      solution: the global solve ``v = M^{-1} g`` with its diagnostics.
      optimum: how well ``phi*`` solves ``grad L = 0``
        (:func:`toysim.game.optimum.stationarity`), or ``None`` with ``params = current``.
    """

    phi: RewardParams
    penalty: Callable[[Array], Array]
    solution: linalg.Solution
    optimum: linalg.SolveInfo | None


def leader_view(
    spec: SampledSpec,
    hp: SampledHParams,
    u: Utility,
    models: tuple[RewardModel, RewardModel],
    phi: RewardParams,
    buffer: SampleBuffer,
    theta: Array,
    key: Array,
    x0: Array | None = None,
    opt_state: Any = None,
) -> LeaderView:
    """The :class:`LeaderView` of ``spec.method`` at the follower's ``phi`` on ``buffer``.

    With ``params = optimum``, ``phi_s = phi*`` (:func:`toysim.game.optimum.buffer_optimum`
    from 0 on ``buffer``, the data the follower has trained on, before the leader's new block),
    where the curvature rung is taken too; else ``phi_s = phi``. The steering term is
    :func:`network_steering` through :func:`network_inverse`; for pairs it sees a pair as one
    sample (:func:`toysim.model.preference.steering_view`), its global direction taken at the
    pair ``(theta, theta)``, ``theta`` the policy's mean. ``models`` is ``(model,
    follower_model)``: the pointwise model the leader scores with and the one the follower
    trains (its pairwise form on pairs); ``key`` draws the rung's random vectors, ``x0`` is the
    Krylov solve's warm start, ``opt_state`` the optimizer state ``unrolled`` steps from.
    """
    model, follower_model = models
    optimum = None
    if spec.method.params == "optimum":
        start = jnp.zeros_like(phi)
        steps = newton_steps(spec.data)
        phi, optimum = buffer_optimum(follower_model, buffer, hp.weight_decay, start, steps)
    if spec.method.foresight and spec.method.hessian == "unrolled":
        phi, penalty = unrolled_steering(spec, hp, u, models, phi, opt_state, buffer, theta)
        none = linalg.identity_solution(jnp.zeros_like(ravel_pytree(phi)[0]))
        return LeaderView(phi, penalty, none, optimum)
    inverse = network_inverse(spec, hp, follower_model, phi, buffer, key, x0)
    point = theta
    if spec.data == "pairs":
        model = steering_view(model, hp.beta, hp.label_noise, spec.against_reference)
        point = jnp.stack([theta, theta])
    penalty, solution = network_steering(spec.method, model, phi, inverse, point, u)
    return LeaderView(phi, penalty, solution, optimum)


def sampled_trajectory(
    spec: SampledSpec | Composition,
) -> Callable[[Array, SampledHParams | CompositionParams], Trajectory]:
    """A pure ``run(key, hparams) -> Trajectory`` for the sampled-buffer game, one
    ``lax.scan`` over its ``T`` outer iterations.

    ``spec`` is the game itself (a :class:`~toysim.game.sampled.SampledSpec`, its gradient
    leader and one reward model; ``hparams`` a :class:`~toysim.game.sampled.SampledHParams`)
    or a :class:`~toysim.game.composition.Composition` of it (``hparams`` a
    :class:`~toysim.game.composition.CompositionParams`). paper-nn (points, MLP, a window of
    10 blocks) and the pairwise presets (docs/theory/pairwise.md): with ``data = pairs`` each
    leader step and each of the ``samples_per_step`` new samples is a pair of outputs of the
    policy. The pieces:

    * the gradient leader: ``inner_steps`` clipped steps on sampled outputs up the reward and
      steering terms of its :func:`leader_view`, its curvature solve's diagnostics recorded
      (``solve``), and with ``params = optimum`` the best response's (``optimum``);
    * expert iteration (:func:`toysim.game.best_of_n.expert_move`) with the spread
      ``sigma_t``, scored by the (aggregated) reward model, its KL from the initial policy
      ``N(0, sigma_start^2 I)`` recorded (``kl``);
    * an ensemble of ``members > 1`` reward models (:func:`toysim.model.ensemble.ensemble_model`,
      member 0 the single model's draw) whose aggregate the leader climbs;
    * early stopping on a gold budget ``b > 0``: once
      :func:`toysim.game.early_stop.check_and_update` stops, the policy ``(theta, sigma_t)``
      rolled back to the one of the check of the best gold estimate for the rest of the run
      (:func:`toysim.game.early_stop.played_policy`; the buffer's new samples are drawn from
      it), the climb ``C`` summing ``r_phi(theta_{t+1}) - r_phi(theta_t)`` under the reward
      model the leader ascended,
      the gold estimate drawn from ``N(theta, sigma_t^2 I)`` with the key
      ``fold_in(fold_in(key, 0), t)``.

    A composition also records the stopping fields (zeros without early stopping).

    Raises:
      ConfigError: a field of ``spec`` is invalid (validated here).
    """
    spec.validate()
    composed = isinstance(spec, Composition)
    plan = spec if composed else Composition(spec)
    game = plan.game
    expert = plan.leader == "expert"
    model = network_model(game)
    pairs = game.data == "pairs"
    follower_model = pairwise(model) if pairs else model
    if plan.members > 1:
        model, follower_model = (
            ensemble_model(m, plan.members, plan.aggregate) for m in (model, follower_model)
        )
    sample_shape = (2, game.dim) if pairs else (game.dim,)

    def run(key: Array, params) -> Trajectory:
        p = params if composed else CompositionParams(params)
        hp = as_float_arrays(p.game)
        stop_p, expert_p = as_float_arrays(p.stop), as_float_arrays(p.expert)
        dtype = jnp.result_type(float)
        u = neural_utility(game, hp)
        init_key, loop_key = jax.random.split(key)
        phi = initial_reward_params(model, hp, init_key, dtype)
        optimizer = adam_l2_optimizer(hp.follower_lr, hp.weight_decay)
        theta0 = jnp.zeros(game.dim, dtype)

        def split(step_key: Array) -> list[Array]:
            """A round's keys: the leader's draws, the new samples' and (pairs) their labels'."""
            return list(jax.random.split(step_key, 3 if pairs else 2))

        def gradient_leader(start, fstate, previous, sigma, lr, inner_key, step_key, score):
            """``(theta, view)``: ``inner_steps`` clipped steps up F, its :class:`LeaderView`."""
            rung_key = jax.random.fold_in(step_key, 1)  # leaves the split keys unchanged
            x0 = previous if game.curvature.warm_start else None
            models, (phi, opt_state, buffer) = (model, follower_model), fstate
            view = leader_view(game, hp, u, models, phi, buffer, start, rung_key, x0, opt_state)

            objective = leader_objective(game, hp, model, view.phi, view.penalty, score, sigma)

            def inner(theta, draws):
                grad = jax.grad(objective)(theta, draws)
                return theta + lr * jnp.clip(grad, -hp.clip, hp.clip), None

            eps = standard_normal(inner_key, (game.inner_steps, *sample_shape), dtype)
            candidates = draw_candidates(inner_key, eps, game.candidates)
            theta, _ = jax.lax.scan(inner, start, (eps, candidates))
            return theta, view

        def leader(previous, policy, fstate, t, step_key):
            """``(theta, sigma_t)`` from ``theta_t``; the warm start passed on; what it saw."""
            start, _ = policy
            phi, _, buffer = fstate
            sigma = schedule(hp.sigma_start, hp.sigma_end, t.astype(dtype), game.steps)
            lr = schedule(hp.lr_start, hp.lr_end, t.astype(dtype), game.steps)
            inner_key = split(step_key)[0]
            score = functools.partial(model.reward, phi)  # the current RM (best of n)
            if expert:
                theta = expert_move(
                    inner_key, start, sigma, expert_p, plan.max_n, plan.groups, score
                )
                view = None
            else:
                args = (start, fstate, previous, sigma, lr, inner_key, step_key, score)
                theta, view = gradient_leader(*args)
            seen = Seen(phi if view is None else view.phi, view, phi, buffer)
            return (theta, sigma), previous if view is None else view.solution.x, seen

        def follower(fstate, policy, t, step_key):
            """One optimizer step on the buffer with the played policy's new block; its loss."""
            phi, opt_state, buffer = fstate
            theta, sigma = policy
            _, sample_key, *label_key = split(step_key)
            label = label_key[0] if pairs else sample_key
            score = functools.partial(model.reward, phi)
            block = policy_block(game, hp, u, theta, sigma, sample_key, label, score)
            buffer = buffer_insert(buffer, *block)
            data = BufferData(follower_model, buffer, None)
            loss, phi, opt_state = optimizer_step(optimizer, data.loss, phi, opt_state)
            return (phi, opt_state, buffer), loss

        def ascended(fstate, seen: Seen, policy) -> Array:
            """``r_phi_s(theta)``: the reward model the leader ascended."""
            return model.reward(seen.ascended, policy[0])

        def record(policy, fstate, seen: Seen, loss) -> dict:
            theta, sigma = policy
            proxy = model.reward(fstate[0], theta)
            out = dict(theta=theta, proxy_reward=proxy, sigma=sigma, buffer_loss=loss)
            if seen.view is not None:
                out.update(solve=seen.view.solution.info, optimum=seen.view.optimum)
            if game.record_state:  # what the leader saw at this iteration
                out.update(rm_params=ravel_pytree(seen.phi)[0], buffer=seen.buffer)
            return out

        pieces = Round(leader, follower, ascended, lambda policy: policy, record)
        checks = None
        if plan.gold_budget:
            gold_key = jax.random.fold_in(key, GOLD_STREAM)
            checks = GoldChecks(gold_key, plan.gold_budget, stop_p, u)
        previous = jnp.zeros_like(ravel_pytree(phi)[0])
        fstate0 = (phi, optimizer.init(phi), sampled_buffer(game, dtype))
        start = Start((theta0, hp.sigma_start), previous, fstate0)
        keys = jax.random.split(loop_key, game.steps)
        records = play(pieces, start, game.steps, keys, checks, composed)
        theta = records["theta"]
        signal, noise = block_signal_noise(theta, game.signal_dims)
        if expert:
            records["kl"] = gaussian_kl(theta, records["sigma"], theta0, hp.sigma_start)
        return Trajectory(utility=utility(u, theta), signal=signal, noise=noise, **records)

    return run


class Seen(NamedTuple):
    """What the sampled-buffer game's leader saw in a round.

    Attributes:
      ascended: ``phi_s``, the reward model's parameters it climbed.
      view: its :class:`LeaderView` (``None`` for expert iteration).
      phi, buffer: the follower's parameters and buffer it moved against.
    """

    ascended: RewardParams
    view: LeaderView | None
    phi: RewardParams
    buffer: SampleBuffer
