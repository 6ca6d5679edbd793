"""Reward-model ensembles: ``k`` members whose rewards are aggregated by their mean or minimum.

``r_Phi(y) = agg_i r_{phi_i}(y)`` with ``agg`` the mean (``(1/k) sum_i``) or the minimum
(``min_i``). The gradient of a minimum is the gradient of the member that attains it
(Danskin's theorem, where that member is unique), so an ensemble ascended under ``min`` is
ascended along its lowest member. :func:`ensemble_model` makes a
:class:`~toysim.model.interface.RewardModel` of ``k`` copies of one; the linear game's
closed-form follower aggregates its members' expectations with the same two functions.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from toysim.model.interface import RewardModel, RewardParams

AGGREGATES = ("mean", "min")
"""How an ensemble's members' rewards are combined."""


def member_keys(key: Array, members: int) -> list[Array]:
    """The members' keys: member 0 draws from ``key`` itself (so an ensemble of one is the
    single model of the same key), member ``i >= 1`` from ``fold_in(key, i)``."""
    return [key] + [jax.random.fold_in(key, i) for i in range(1, members)]


def aggregate_rewards(rewards: Array, how: str) -> Array:
    """``(1/k) sum_i r_i`` (``mean``) or ``min_i r_i`` (``min``) over the first axis."""
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

    ``init(key)`` draws member ``i`` from :func:`member_keys`. The summed loss's gradient in
    ``phi_i`` is member ``i``'s own, so an elementwise optimizer (Adam) on ``Phi`` trains
    every member on the same data with its own state. ``agg`` is :func:`aggregate_rewards`:
    with ``min``, the gradient in ``y`` is the lowest member's (Danskin). The members are
    unrolled (``k`` is static and small) rather than vmapped: the ops of an ensemble of one
    are then the single model's, so its run is the single model's bit for bit (a vmapped
    batch of one rounds differently).

    Args:
      model: one member's reward model.
      members: ``k >= 1``.
      how: ``mean`` or ``min``.
    """

    def init(key: Array, dtype) -> RewardParams:
        keys = member_keys(key, members)
        return jax.tree.map(lambda *p: jnp.stack(p), *(model.init(k, dtype) for k in keys))

    def each(phis: RewardParams, f: Callable[[RewardParams], Array]) -> Array:
        return jnp.stack([f(jax.tree.map(lambda p, i=i: p[i], phis)) for i in range(members)])

    def reward(phis: RewardParams, y: Array) -> Array:
        return aggregate_rewards(each(phis, lambda phi: model.reward(phi, y)), how)

    def sample_loss(phis: RewardParams, y: Array, label: Array) -> Array:
        return jnp.sum(each(phis, lambda phi: model.sample_loss(phi, y, label)), axis=0)

    return RewardModel(init, reward, sample_loss)
