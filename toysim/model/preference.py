"""Preference labels: Bradley-Terry on the true utility, with label-flip noise.

See docs/theory/pairwise.md. A comparison of two outputs ``(y_0, y_1)`` is
labelled 1 (the first preferred) with probability

    p = (1 - eps) s(beta (U(y_0) - U(y_1))) + eps (1 - s(beta (U(y_0) - U(y_1)))),

``s`` the logistic function, ``beta`` the labeller's inverse temperature and
``eps`` the probability that a label is flipped. The Bradley-Terry loss
(:func:`toysim.model.interface.bradley_terry_loss`) is linear in the label, so
its expectation over the label's draw is the loss at the expected label ``p``:
``labels = expected`` trains on ``p`` (the label noise in expectation, the pairs
still sampled), ``labels = sampled`` on Bernoulli draws from an explicit key.
"""

from __future__ import annotations

import jax
from jax import Array

from toysim.model.interface import RewardModel, bradley_terry_loss, pair_mean_reward


def preference_probability(u_first: Array, u_second: Array, beta: Array, epsilon: Array) -> Array:
    """``p = (1 - eps) s(beta (U_0 - U_1)) + eps (1 - s(beta (U_0 - U_1)))``, elementwise.

    Args:
      u_first: the true utility of the first output.
      u_second: the true utility of the second output.
      beta: the inverse temperature of the Bradley-Terry labeller.
      epsilon: the probability that a label is flipped.

    Returns:
      The probability that the first output is labelled preferred.
    """
    q = jax.nn.sigmoid(beta * (u_first - u_second))
    return (1.0 - epsilon) * q + epsilon * (1.0 - q)


def sample_labels(key: Array, probability: Array) -> Array:
    """Bernoulli labels: 1.0 (first preferred) with ``probability``, else 0.0."""
    return jax.random.bernoulli(key, probability).astype(probability.dtype)


def steering_view(
    model: RewardModel, beta: Array, epsilon: Array, reference: bool = False
) -> RewardModel:
    """A pairwise reward model as the steering term sees it: one sample is one pair.

    ``reward`` is the pair's mean reward (:func:`~toysim.model.interface.pair_mean_reward`),
    or with ``reference`` the first output's, the policy's own against a fixed reference
    (``r(y) = r(y_0)``, the local direction ``grad_phi r(y_0)`` of the published relaxed and
    practical penalties, whose oracle-free loss is then the margin ``r(y_0) - r(y_1)``: the
    Bradley-Terry gradient ``(s(margin) - p) grad_phi margin`` with ``s - p`` replaced by 1).
    ``sample_loss(phi, y, utilities)`` is the Bradley-Terry loss at the expected label ``p``
    computed from the true utilities ``[..., 2]`` of the pair: the oracle knows ``U`` and
    the labeller's link, so the labeller ``y -> U(y)`` of :mod:`toysim.game.steering`
    serves pairs unchanged, and a derivative through the pair reaches the label. ``init``
    is ``model``'s.

    Args:
      model: the pointwise reward model (its ``reward`` scores single outputs).
      beta: the labeller's inverse temperature (:func:`preference_probability`).
      epsilon: the labeller's flip probability.
      reference: whether the pair's second output is a fixed reference (score the first).
    """
    loss = bradley_terry_loss(model.reward)

    def sample_loss(phi, y: Array, utilities: Array) -> Array:
        p = preference_probability(utilities[..., 0], utilities[..., 1], beta, epsilon)
        return loss(phi, y, p)

    if not reference:
        return RewardModel(model.init, pair_mean_reward(model.reward), sample_loss)

    def own_reward(phi, y: Array) -> Array:
        return model.reward(phi, y[..., 0, :])

    def margin(phi, y: Array) -> Array:
        r = model.reward(phi, y)
        return r[..., 0] - r[..., 1]

    return RewardModel(model.init, own_reward, sample_loss, free_loss=margin)
