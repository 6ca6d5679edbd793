"""The linear game's round: a linear reward model against a point or Gaussian policy.

:func:`linear_trajectory` builds the game's :class:`~toysim.game.loop.Round` and runs it
through :func:`toysim.game.loop.play`. One iteration ``t`` (as in the published code):

1. the leader ascends ``F`` from ``theta_t``: ``theta_{t+1} = theta_t + lr grad F(theta_t)``;
2. the follower trains on the leader's new output(s): ``w_t -> w_{t+1}``;
3. the record stores the state after both moves.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from toysim.config import LinearHParams, LinearSpec, as_float_arrays
from toysim.game.best_of_n import expert_move, gaussian_kl
from toysim.game.composition import Composition, CompositionParams
from toysim.game.early_stop import GOLD_STREAM
from toysim.game.followers import make_follower
from toysim.game.leader import follower_view, leader_gradient, steering_gradient
from toysim.game.loop import GoldChecks, Round, Start, play
from toysim.game.policy import GaussianPolicy, PointPolicy
from toysim.game.records import Trajectory
from toysim.model.ensemble import aggregate_gradients, aggregate_rewards, member_keys
from toysim.model.metrics import block_signal_noise, projection_signal_noise
from toysim.model.sampling import standard_normal
from toysim.model.utility import Utility, utility

SCAN_UNROLL = 2
"""Iterations per loop body: fewer loop round trips (chosen by `python -m toysim bench`)."""


def utility_of(spec: LinearSpec, hp: LinearHParams) -> Utility:
    """``U`` with ``m = (v, ..., v, 0, ..., 0)`` (``k`` signal coordinates of value ``v``)."""
    signal_mask = (jnp.arange(spec.dim) < spec.signal_dims).astype(jnp.result_type(float))
    return Utility(
        amplitude=jnp.asarray(hp.amplitude),
        tau=jnp.asarray(hp.tau),
        ideal=hp.ideal_value * signal_mask,
    )


def biased_mask(spec: LinearSpec) -> Array:
    """1 on the ``spec.biased_dims`` noise coordinates right after the signal block."""
    i = jnp.arange(spec.dim)
    inside = (i >= spec.signal_dims) & (i < spec.signal_dims + spec.biased_dims)
    return inside.astype(jnp.result_type(float))


def initial_reward_weights(key: Array, spec: LinearSpec, hp: LinearHParams) -> Array:
    """``w_0 = (s, ..., s, b, ..., b, 0, ..., 0) + N(0, noise^2 I)`` (docs/settings.md).

    ``s`` on the ``k`` signal coordinates, ``b = rm_init_bias`` on the
    ``biased_dims`` coordinates after them (0 unless the sycophancy preset).
    """
    signal_mask = (jnp.arange(spec.dim) < spec.signal_dims).astype(jnp.result_type(float))
    eps = standard_normal(key, (spec.dim,), signal_mask.dtype)
    return (
        hp.rm_init_signal * signal_mask
        + hp.rm_init_bias * biased_mask(spec)
        + hp.rm_init_noise * eps
    )


def linear_trajectory(
    spec: LinearSpec | Composition,
) -> Callable[[Array, LinearHParams | CompositionParams], Trajectory]:
    """A pure ``run(key, hparams) -> Trajectory`` for the linear game ``spec``.

    ``spec`` is the game itself (a :class:`~toysim.config.LinearSpec`, run by its gradient
    leader with one reward model; ``hparams`` an :class:`~toysim.config.LinearHParams`) or a
    :class:`~toysim.game.composition.Composition` of it with a leader, an ensemble and early
    stopping (``hparams`` a :class:`~toysim.game.composition.CompositionParams`). One
    ``lax.scan`` runs every combination; the pieces:

    * the gradient leader: ``theta + lr agg_i grad F_i(theta)``, each member's gradient
      :func:`toysim.game.leader.leader_gradient` (mean, or the lowest member's under
      ``min``: Danskin), probes recorded for a plain game;
    * expert iteration (:func:`toysim.game.best_of_n.expert_move`), scoring each draw by
      the aggregated reward ``agg_i w_i . y``, with keys ``split(fold_in(key, 1), T)``;
    * the ensemble: member ``i``'s initial weights from
      :func:`toysim.model.ensemble.member_keys` (member 0 the single model's), the follower
      ``vmap``-ped over ``k > 1`` members;
    * early stopping: once :func:`toysim.game.early_stop.check_and_update` stops, ``theta``
      rolled back to its value at the check of the best gold estimate for the rest of the
      run (:func:`toysim.game.early_stop.played_policy`), the gold estimate of iteration
      ``t`` drawn from ``fold_in(fold_in(key, 0), t)`` out of the policy the leader samples
      from (expert iteration's ``N(theta, s^2 I)``).

    ``spec`` is validated here; ``hparams`` is traced and validated by
    :func:`toysim.simulate` or :func:`toysim.experiments.runner.run_seeds` (it cannot be
    inspected inside ``jit``).
    """
    spec.validate()
    composed = isinstance(spec, Composition)
    plan = spec if composed else Composition(spec)
    game = plan.game
    follower = make_follower(game)
    ensemble = plan.members > 1
    if ensemble:
        follower = follower._replace(
            init=jax.vmap(follower.init, in_axes=(0, None)),
            update=jax.vmap(follower.update, in_axes=(0, None, None, None)),
        )

    def run(key: Array, params) -> Trajectory:
        p = params if composed else CompositionParams(params)
        hp = as_float_arrays(p.game)
        stop_p, expert = as_float_arrays(p.stop), as_float_arrays(p.expert)
        u = utility_of(game, hp)
        policy = GaussianPolicy(hp.sigma) if game.policy == "gaussian" else PointPolicy()
        theta0 = jnp.zeros(game.dim, dtype=u.ideal.dtype)
        weights = [initial_reward_weights(k, game, hp) for k in member_keys(key, plan.members)]
        fstate0 = follower.init(jnp.stack(weights) if ensemble else weights[0], hp)

        def rewards(w: Array, theta: Array) -> Array:
            """Every member's ``E[r_{w_i}(y)]``, ``[k]``."""
            if ensemble:
                return jax.vmap(policy.expected_reward, in_axes=(0, None))(w, theta)
            return policy.expected_reward(w, theta)[None]

        def gradient_leader(state, theta, fstate, t, draw_key):
            """One step up the aggregated ``F``; it saw ``(||steering||, probes)``."""
            if ensemble:
                grads = jax.vmap(
                    lambda st: leader_gradient(game.method, policy, follower, st, theta, hp, u)
                )(fstate)
                before = rewards(fstate.w, theta)
                grad = aggregate_gradients(grads.total, before, plan.aggregate)
                return theta + hp.leader_lr * grad, state, (None, None)
            grad = leader_gradient(game.method, policy, follower, fstate, theta, hp, u)
            probes = None if composed else probe_directions(fstate, theta)
            seen = (jnp.linalg.norm(grad.steering), probes)
            return theta + hp.leader_lr * grad.total, state, seen

        def expert_leader(state, theta, fstate, t, draw_key):
            """One step of expert iteration on the aggregated reward."""

            def score(y):
                scores = y @ fstate.w.T if ensemble else (y @ fstate.w)[None]
                return aggregate_rewards(scores.T if ensemble else scores, plan.aggregate)

            moved = expert_move(
                draw_key, theta, expert.spread, expert, plan.max_n, plan.groups, score
            )
            return moved, state, (None, None)

        def probe_directions(fstate, theta) -> Array | None:
            """``-grad S`` of every probe method at the current state, ``[P, d]``."""
            if not game.probes:
                return None
            views = (follower_view(pr, follower, fstate, theta, hp, u) for pr in game.probes)
            return -jnp.stack(
                [
                    steering_gradient(probe, policy, view, theta, u)
                    for probe, view in zip(game.probes, views, strict=True)
                ]
            )

        def train(fstate, theta, t, key):
            return follower.update(fstate, theta, hp, u), None

        def ascended(fstate, seen, theta) -> Array:
            """The aggregated ``E[r_w(y)]`` the leader climbs."""
            return aggregate_rewards(rewards(fstate.w, theta), plan.aggregate)

        def gold_policy(theta):
            """Gold labels come from the policy the leader samples from."""
            return theta, expert.spread if plan.leader == "expert" else hp.sigma

        def record(theta, fstate, seen, trained) -> dict:
            steering_norm, probes = seen
            if composed:
                member_rewards = rewards(fstate.w, theta)
                return composed_record(theta, member_rewards)
            if game.record == "full":  # metrics after the scan, vectorised over T
                return dict(theta=theta, w=fstate.w, steering_norm=steering_norm, probes=probes)
            return game_record(theta, fstate.w, steering_norm, probes)._asdict()

        def game_record(theta: Array, w: Array, steering_norm: Array, probes) -> Trajectory:
            """Every recorded quantity of a plain game, from ``(theta, w)``; ``[d]`` or
            ``[T, d]``."""
            signal, noise = block_signal_noise(theta, game.signal_dims)
            signal_proj, noise_proj = projection_signal_noise(theta, u.ideal)
            expected_u = policy.expected_utility(theta, u)
            proxy = jnp.sum(w * theta, axis=-1)  # E[r_w(y)] = w . theta (linear RM)
            full = game.record == "full"
            return Trajectory(
                theta=theta if full else None,
                w=w if full else None,
                signal=signal,
                noise=noise,
                signal_proj=signal_proj,
                noise_proj=noise_proj,
                utility=utility(u, theta),
                expected_utility=expected_u,
                proxy_reward=proxy,
                overconfidence=proxy - expected_u,
                steering_norm=steering_norm,
                ideal_reward=w @ u.ideal,
                biased_noise=biased_noise(theta),
                probe_steering=probes,
            )

        def biased_noise(theta: Array) -> Array:
            """``||theta * biased_mask||``; without biased coordinates, zeros and no pass over d."""
            if not game.biased_dims:
                return jnp.zeros(theta.shape[:-1], theta.dtype)
            return jnp.linalg.norm(theta * biased_mask(game), axis=-1)

        def composed_record(theta, member_rewards) -> dict:
            """A composition's scalars at one iteration, and ``theta``."""
            signal, noise = block_signal_noise(theta, game.signal_dims)
            return dict(
                theta=theta,
                signal=signal,
                noise=noise,
                utility=utility(u, theta),
                expected_utility=policy.expected_utility(theta, u),
                proxy_reward=aggregate_rewards(member_rewards, plan.aggregate),
                member_spread=jnp.max(member_rewards) - jnp.min(member_rewards),
            )

        leader = expert_leader if plan.leader == "expert" else gradient_leader
        pieces = Round(leader, train, ascended, gold_policy, record)
        checks = None
        if plan.gold_budget:
            gold_key = jax.random.fold_in(key, GOLD_STREAM)
            checks = GoldChecks(gold_key, plan.gold_budget, stop_p, u)
        draw_keys = None
        if plan.leader == "expert":
            draw_keys = jax.random.split(jax.random.fold_in(key, 1), game.steps)
        start = Start(theta0, None, fstate0)
        out = play(pieces, start, game.steps, draw_keys, checks, composed, SCAN_UNROLL)
        if composed and plan.leader == "expert":
            out["kl"] = gaussian_kl(out["theta"], expert.spread, theta0, expert.spread)
        if not composed and game.record == "full":
            return game_record(out["theta"], out["w"], out["steering_norm"], out["probes"])
        return Trajectory(**out)

    return run
