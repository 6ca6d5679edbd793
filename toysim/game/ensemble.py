"""Mitigations beside FPO: a reward-model ensemble and early stopping, in one ``lax.scan``.

**Ensemble.** ``k`` reward models (``k`` static) train on the same data the
leader produces, each from its own initialisation: member 0 draws its initial
weights from the run's key (so an ensemble of one is the single model of the
same seed), member ``i >= 1`` from ``jax.random.fold_in(key, i)``. The linear
followers of the presets train on the policy's output itself (no sampled
data), so the members differ by their initialisation only. The follower is
``vmap``-ped over the members. The leader ascends the aggregated objective

    F(theta) = agg_i E[r_{phi_i}(y)] - c E||y||^2 - gamma S_agg(theta),

* ``mean``: ``agg = (1/k) sum_i`` and ``S_agg = (1/k) sum_i S_i``, each
  member's own steering penalty (docs/theory/exact-fpo.md). Every member's
  best response depends on ``theta`` separately, so the Stackelberg gradient
  of the mean reward is the mean of the members' Stackelberg gradients: with
  every switch exact this is still the exact gradient.
* ``min``: the member whose reward of the policy is lowest,
  ``i* = argmin_i E[r_{phi_i}(y)]`` at the current RM weights; the leader
  follows that member's whole gradient, reward and steering terms
  (Danskin's theorem: where the minimiser is unique, the gradient of a
  minimum is the minimiser's gradient).

**Early stopping** (:mod:`toysim.game.early_stop`): with a gold budget
``b > 0`` the leader checks a held-out gold estimate every ``m`` iterations
and freezes ``theta`` once proxy and gold diverge; the follower keeps training
on the frozen policy.

``make_mitigated_trajectory(spec)`` returns a pure ``run(key, hparams)``, as
:func:`toysim.make_trajectory` does; the recorded quantities are scalars per
iteration (:class:`MitigatedTrajectory`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from toysim.config import ConfigError, GameSpec, HParams, Method, as_float_arrays
from toysim.game.early_stop import (
    StopParams,
    StopState,
    check_and_update,
    gold_estimate,
    initial_stop_state,
)
from toysim.game.followers import make_follower
from toysim.game.leader import leader_gradient
from toysim.game.policy import GaussianPolicy, PointPolicy
from toysim.game.sampled import NeuralHParams, NeuralSpec
from toysim.game.trajectory import SCAN_UNROLL, initial_reward_weights, utility_of
from toysim.model.interface import RewardModel, RewardParams
from toysim.model.metrics import block_signal_noise
from toysim.model.utility import utility

AGGREGATES = ("mean", "min")
GOLD_STREAM = 0
"""``fold_in(key, GOLD_STREAM)`` draws the gold budget; members ``i >= 1`` use stream ``i``."""


@dataclasses.dataclass(frozen=True)
class MitigationSpec:
    """The static structure of a mitigated game: changing any field recompiles.

    Attributes:
      game: the underlying game (preset structure and leader method): the linear game's
        :class:`~toysim.config.GameSpec` (:func:`make_mitigated_trajectory`) or the
        sampled-buffer game's :class:`~toysim.game.sampled.NeuralSpec`
        (:func:`toysim.game.neural.make_mitigated_neural_trajectory`).
      members: ``k >= 1``, the reward models in the ensemble.
      aggregate: ``mean`` or ``min`` over the members' rewards.
      gold_budget: ``b``, gold labels per early-stopping check (0: no early stopping).
    """

    game: GameSpec | NeuralSpec
    members: int = 1
    aggregate: str = "mean"
    gold_budget: int = 0

    @property
    def steps(self) -> int:
        """``T``, the iterations (the game's)."""
        return self.game.steps

    @property
    def method(self) -> Method:
        """The leader method (the game's)."""
        return self.game.method

    def validate(self) -> None:
        """Check the game and each field.

        Raises:
          ConfigError: naming the first invalid field and what is allowed.
        """
        self.game.validate()
        if not isinstance(self.members, int) or isinstance(self.members, bool) or self.members < 1:
            raise ConfigError(f"members must be an integer >= 1; got {self.members!r}")
        if self.aggregate not in AGGREGATES:
            raise ConfigError(
                f"aggregate must be one of {', '.join(AGGREGATES)}; got {self.aggregate!r}"
            )
        budget = self.gold_budget
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:
            raise ConfigError(f"gold_budget must be an integer >= 0; got {budget!r}")


class MitigationParams(NamedTuple):
    """The game's hyperparameters and the stopping rule's (all traced).

    Attributes:
      game: the game's :class:`~toysim.config.HParams` (or
        :class:`~toysim.game.sampled.NeuralHParams`).
      stop: the early-stopping rule's :class:`~toysim.game.early_stop.StopParams`
        (unused when ``gold_budget = 0``).
    """

    game: HParams | NeuralHParams
    stop: StopParams

    def validate(self, spec: MitigationSpec) -> None:
        """The game's numbers (:meth:`toysim.config.HParams.validate`), then the stopping
        rule's: ``patience > 0`` (``inf`` never stops), ``every >= 1`` and ``label_noise >= 0``,
        finite.

        Raises:
          ConfigError: naming the first bad field, what is allowed and the value.
        """
        self.game.validate(spec.game)
        patience, every, noise = (np.asarray(v, dtype=float) for v in self.stop)
        checks = (
            ("patience", patience, ~np.isnan(patience) & (patience > 0), "> 0 (inf: never)"),
            ("every", every, np.isfinite(every) & (every >= 1), "finite and >= 1"),
            ("label_noise", noise, np.isfinite(noise) & (noise >= 0), "finite and >= 0"),
        )
        for field, value, good, allowed in checks:
            if not np.all(good):
                bad = float(np.ravel(value)[np.argmin(np.ravel(good))])
                raise ConfigError(f"{field} must be {allowed}; got {bad!r}")


class MitigatedTrajectory(NamedTuple):
    """Per-iteration scalars of a mitigated run; leading axis ``T`` (plus any vmapped axes).

    Attributes:
      signal: ``||theta[:k]||``.
      noise: ``||theta[k:]||``.
      utility: ``U(theta)``.
      expected_utility: ``E_{y~pi_theta}[U(y)]`` (the gold reward).
      proxy_reward: the aggregated proxy ``agg_i E[r_{phi_i}(y)]`` the leader ascends.
      member_spread: ``max_i - min_i`` of the members' proxy rewards (0 for one member).
      climb: ``C``, the leader's summed per-step gains in the reward it ascends
        (:mod:`toysim.game.early_stop`).
      stopped: 1.0 once the leader has stopped (0 throughout without early stopping).
      gold_spent: gold labels spent so far.
      gold_estimate: the latest check's gold estimate (0 before the first check).
    """

    signal: Array
    noise: Array
    utility: Array
    expected_utility: Array
    proxy_reward: Array
    member_spread: Array
    climb: Array
    stopped: Array
    gold_spent: Array
    gold_estimate: Array


def aggregate_rewards(rewards: Array, how: str) -> Array:
    """``mean_i`` or ``min_i`` of the members' rewards over the first axis."""
    return jnp.mean(rewards, axis=0) if how == "mean" else jnp.min(rewards, axis=0)


def aggregate_gradients(gradients: Array, rewards: Array, how: str) -> Array:
    """The aggregated objective's gradient from the members' ``[k, d]`` gradients.

    ``mean``: their mean. ``min``: the gradient of ``argmin_i rewards_i`` (Danskin).
    """
    if how == "mean":
        return jnp.mean(gradients, axis=0)
    return gradients[jnp.argmin(rewards)]


def ensemble_model(model: RewardModel, members: int, how: str) -> RewardModel:
    """``r_Phi(y) = agg_i r_{phi_i}(y)`` and ``l(Phi; y) = sum_i l(phi_i; y)``: ``members``
    copies of ``model`` as one model whose parameters ``Phi`` stack theirs on a leading axis.

    ``init(key)`` draws member 0 from ``key`` (the single model of the same key) and member
    ``i >= 1`` from ``fold_in(key, i)``. The summed loss's gradient in ``phi_i`` is member
    ``i``'s own, so an elementwise optimizer (Adam) on ``Phi`` trains every member on the same
    data with its own state. ``agg`` is :func:`aggregate_rewards`: with ``min``, the gradient
    in ``y`` is the lowest member's (Danskin). The members are unrolled (``k`` is static and
    small) rather than vmapped: the ops of an ensemble of one are then the single model's, so
    its run is the single model's bit for bit (a vmapped batch of one rounds differently).

    Args:
      model: one member's reward model.
      members: ``k >= 1``.
      how: ``mean`` or ``min``.
    """

    def init(key: Array, dtype) -> RewardParams:
        keys = [key] + [jax.random.fold_in(key, i) for i in range(1, members)]
        return jax.tree.map(lambda *p: jnp.stack(p), *(model.init(k, dtype) for k in keys))

    def each(phis: RewardParams, f: Callable[[RewardParams], Array]) -> Array:
        return jnp.stack([f(jax.tree.map(lambda p, i=i: p[i], phis)) for i in range(members)])

    def reward(phis: RewardParams, y: Array) -> Array:
        return aggregate_rewards(each(phis, lambda phi: model.reward(phi, y)), how)

    def sample_loss(phis: RewardParams, y: Array, label: Array) -> Array:
        return jnp.sum(each(phis, lambda phi: model.sample_loss(phi, y, label)), axis=0)

    return RewardModel(init, reward, sample_loss)


def member_weights(key: Array, spec: MitigationSpec, hp: HParams) -> Array:
    """The members' initial RM weights ``[k, d]``: member 0 from ``key``, member ``i`` from
    ``fold_in(key, i)``."""
    keys = [key] + [jax.random.fold_in(key, i) for i in range(1, spec.members)]
    return jnp.stack([initial_reward_weights(k, spec.game, hp) for k in keys])


def make_mitigated_trajectory(
    spec: MitigationSpec,
) -> Callable[[Array, MitigationParams], MitigatedTrajectory]:
    """A pure ``run(key, params) -> MitigatedTrajectory`` for the mitigated game ``spec``.

    ``spec`` is validated here; the caller jits (one compile per ``spec``).
    """
    spec.validate()
    game = spec.game
    follower = make_follower(game)
    method = game.method

    def run(key: Array, params: MitigationParams) -> MitigatedTrajectory:
        hp = as_float_arrays(params.game)
        stop_p = as_float_arrays(params.stop)
        u = utility_of(game, hp)
        policy = GaussianPolicy(hp.sigma) if game.policy == "gaussian" else PointPolicy()
        theta0 = jnp.zeros(game.dim, dtype=u.ideal.dtype)
        members0 = jax.vmap(follower.init, in_axes=(0, None))(member_weights(key, spec, hp), hp)
        gold_key = jax.random.fold_in(key, GOLD_STREAM)

        def rewards(ws: Array, theta: Array) -> Array:
            return jax.vmap(policy.expected_reward, in_axes=(0, None))(ws, theta)

        def step(carry, t):
            theta, members, stop, climb = carry
            grads = jax.vmap(
                lambda state: leader_gradient(method, policy, follower, state, theta, hp, u).total
            )(members)
            before = rewards(members.w, theta)
            grad = aggregate_gradients(grads, before, spec.aggregate)
            moved = theta + hp.leader_lr * grad
            theta = jnp.where(stop.stopped, theta, moved) if spec.gold_budget else moved
            gain = aggregate_rewards(rewards(members.w, theta), spec.aggregate)
            climb = climb + gain - aggregate_rewards(before, spec.aggregate)
            members = jax.vmap(follower.update, in_axes=(0, None, None, None))(
                members, theta, hp, u
            )
            member_rewards = rewards(members.w, theta)
            proxy = aggregate_rewards(member_rewards, spec.aggregate)
            if spec.gold_budget:
                gold = gold_estimate(
                    jax.random.fold_in(gold_key, t),
                    theta,
                    hp.sigma,
                    u,
                    spec.gold_budget,
                    stop_p.label_noise,
                )
                stop = check_and_update(stop, t + 1, gold, climb, spec.gold_budget, stop_p)
            out = record(theta, member_rewards, proxy, climb, stop)
            return (theta, members, stop, climb), out

        def record(theta, member_rewards, proxy, climb, stop: StopState) -> MitigatedTrajectory:
            signal, noise = block_signal_noise(theta, game.signal_dims)
            return MitigatedTrajectory(
                signal=signal,
                noise=noise,
                utility=utility(u, theta),
                expected_utility=policy.expected_utility(theta, u),
                proxy_reward=proxy,
                member_spread=jnp.max(member_rewards) - jnp.min(member_rewards),
                climb=climb,
                stopped=stop.stopped.astype(theta.dtype),
                gold_spent=stop.spent,
                gold_estimate=stop.last_gold,
            )

        carry0 = (theta0, members0, initial_stop_state(theta0.dtype), jnp.zeros_like(hp.gamma))
        _, out = jax.lax.scan(
            step, carry0, jnp.arange(game.steps, dtype=jnp.int32), unroll=SCAN_UNROLL
        )
        return out

    return run
