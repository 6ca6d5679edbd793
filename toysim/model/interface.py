"""The reward-model interface: a reward model is three pure functions (optax style).

Everything generic in toysim (the follower's loss and updates in
:mod:`toysim.game.followers`, the steering term in :mod:`toysim.game.steering`)
sees a reward model only through a :class:`RewardModel`, so adding a reward
model is one new module that builds one. Its parameters ``phi`` are any pytree
(an array for the linear RM, a list of ``(W, b)`` for the MLP); where a vector
is needed (an influence function, a Hessian solve) the generic code flattens
them with ``jax.flatten_util.ravel_pytree``.

Two reward models implement it here: :func:`linear_reward_model` (``r_w(y) =
w . y``, whose closed forms, the low-rank follower Hessian
``lambda I + sum_i 2 omega_i y_i y_i^T`` and the Gaussian-policy expectations,
stay as fast paths in :mod:`toysim.game.followers` and :mod:`toysim.game.policy`)
and :func:`mlp_reward_model` (the paper-nn network).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import DTypeLike

from toysim.model.mlp import mlp_gradient_gram, mlp_gradient_square_sum, mlp_init, mlp_reward
from toysim.model.reward import linear_reward
from toysim.model.sampling import standard_normal

RewardParams = Any
"""A reward model's parameters ``phi``: any pytree of arrays."""


class RewardModel(NamedTuple):
    """A reward model ``r_phi`` and its per-sample training loss, as pure functions.

    Attributes:
      init: ``(key, dtype) -> phi``, initial parameters drawn from a
        ``jax.random`` key (a pytree of arrays of ``dtype``).
      reward: ``(phi, y) -> r_phi(y)`` for outputs ``y`` of shape ``[..., d]``;
        returns shape ``[...]``.
      sample_loss: ``(phi, y, label) -> l(phi; y, label)``, the per-sample loss,
        elementwise over the leading axes of ``y`` and ``label``. Today the
        squared error ``(r_phi(y) - label)^2`` with ``label = U(y)``, or for a
        pairwise model (:func:`pairwise`) the Bradley-Terry loss.

    A sample is whatever one label refers to. For regression it is one output,
    ``y`` of shape ``[..., d]`` and ``label`` of shape ``[...]``. For a
    pairwise (Bradley-Terry) model it is a comparison: ``y`` of shape
    ``[..., 2, d]`` (the two outputs), ``label`` of shape ``[...]`` the
    probability (0 or 1, or soft) that the first is preferred, and
    ``sample_loss = -label log s(r_0 - r_1) - (1 - label) log s(r_1 - r_0)``
    with ``s`` the logistic function; ``reward`` still scores single outputs.
    The follower's buffer and the steering term index samples only by their
    leading axes, so either shape fits.

    Optional: ``gradient_gram``, ``(phi, ys) -> G`` with ``G_ij = grad_phi r(y_i) .
    grad_phi r(y_j)`` for single outputs ``ys`` of shape ``[n, d]``, from the model's
    structure. With it the Gauss-Newton rung
    (:func:`toysim.game.curvature.gauss_newton_operator`) skips the ``n^2 P`` product of
    the per-sample gradients, and in the sampled-buffer game never forms them (its
    Woodbury solve applies them by forward- and reverse-mode products); with ``None``
    (the default) it forms and multiplies them. Optional too: ``gradient_square_sum``,
    ``(phi, ys, c) -> sum_i c_i (grad_phi r(y_i))^2`` (elementwise, shaped like ``phi``):
    the diagonal of the Gauss-Newton matrix for the diagonal rung
    (:func:`toysim.game.curvature.gauss_newton_diagonal`), which otherwise forms the
    per-sample gradients. And ``free_loss``, ``(phi, y) -> L``: what the steering term
    differentiates without the oracle (:func:`toysim.game.steering.influence_loss`), the
    loss whose gradient is ``grad_phi l`` with the loss's residual replaced by 1; ``None``
    (the default) is the squared error's, ``2 r_phi(y)``.
    """

    init: Callable[[Array, DTypeLike], RewardParams]
    reward: Callable[[RewardParams, Array], Array]
    sample_loss: Callable[[RewardParams, Array, Array], Array]
    gradient_gram: Callable[[RewardParams, Array], Array] | None = None
    gradient_square_sum: Callable[[RewardParams, Array, Array], RewardParams] | None = None
    free_loss: Callable[[RewardParams, Array], Array] | None = None


def squared_error(
    reward: Callable[[RewardParams, Array], Array],
) -> Callable[[RewardParams, Array, Array], Array]:
    """The per-sample loss ``l(phi; y, label) = (r_phi(y) - label)^2`` of the reward ``reward``."""

    def sample_loss(phi: RewardParams, y: Array, label: Array) -> Array:
        return (reward(phi, y) - label) ** 2

    return sample_loss


def linear_reward_model(dim: int) -> RewardModel:
    """``r_w(y) = w . y`` with ``w`` in ``R^dim``, squared loss; ``init`` draws ``w ~ N(0, I)``.

    Args:
      dim: ``d``, the dimension of the outputs and of ``w``.
    """

    def init(key: Array, dtype: DTypeLike) -> Array:
        return standard_normal(key, (dim,), dtype)

    return RewardModel(
        init=init,
        reward=linear_reward,
        sample_loss=squared_error(linear_reward),
        gradient_gram=lambda w, ys: ys @ ys.T,  # grad_w (w . y) = y
        gradient_square_sum=lambda w, ys, c: c @ ys**2,
    )


def mlp_reward_model(sizes: Sequence[int], scale: float = 1.0) -> RewardModel:
    """The softplus MLP ``sizes[0] -> ... -> 1`` (:mod:`toysim.model.mlp`), squared loss.

    Args:
      sizes: the layer widths, input ``d`` first, output 1 last.
      scale: the standard deviation of the initial weights (biases start at 0).
        paper-nn draws at scale 1 and multiplies by its traced ``init_scale``.
    """
    sizes = tuple(sizes)

    def init(key: Array, dtype: DTypeLike) -> RewardParams:
        return mlp_init(key, sizes, scale, dtype)

    return RewardModel(
        init=init,
        reward=mlp_reward,
        sample_loss=squared_error(mlp_reward),
        gradient_gram=mlp_gradient_gram,
        gradient_square_sum=mlp_gradient_square_sum,
    )


def bradley_terry_loss(
    reward: Callable[[RewardParams, Array], Array],
) -> Callable[[RewardParams, Array, Array], Array]:
    """The pairwise loss ``l = -p log s(r_0 - r_1) - (1 - p) log s(r_1 - r_0)`` of ``reward``.

    ``s`` is the logistic function, ``r_i = r_phi(y_i)`` for a pair ``y`` of
    shape ``[..., 2, d]``, and ``p`` (``label``, shape ``[...]``) the probability
    that the first output is preferred (0 or 1 for a sampled label, or soft).
    Written with ``-log s(x) = softplus(-x)``, which is stable for any margin.
    """

    def sample_loss(phi: RewardParams, y: Array, label: Array) -> Array:
        r = reward(phi, y)
        margin = r[..., 0] - r[..., 1]
        return label * jax.nn.softplus(-margin) + (1.0 - label) * jax.nn.softplus(margin)

    return sample_loss


def pairwise(model: RewardModel) -> RewardModel:
    """The pointwise ``model`` trained on comparisons: same ``init`` and ``reward``, and
    the Bradley-Terry :func:`bradley_terry_loss` on pairs ``[..., 2, d]`` as its loss."""
    return model._replace(sample_loss=bradley_terry_loss(model.reward))


def pair_mean_reward(
    reward: Callable[[RewardParams, Array], Array],
) -> Callable[[RewardParams, Array], Array]:
    """``(phi, y) -> (r_phi(y_0) + r_phi(y_1)) / 2`` for a pair ``y`` of shape ``[..., 2, d]``.

    The reward a pair earns the policy that drew both outputs: its gradient in
    ``phi`` is the pair's estimate of ``E_pi[grad_phi r]``, and at the pair
    ``(theta, theta)`` it is ``r_phi(theta)``.
    """

    def mean_reward(phi: RewardParams, y: Array) -> Array:
        return jnp.mean(reward(phi, y), axis=-1)

    return mean_reward
