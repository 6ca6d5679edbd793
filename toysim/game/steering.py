"""The steering term for any reward model: influence functions over pytree parameters.

See docs/theory/exact-fpo.md and docs/theory/relaxations.md. For one sample
``y`` of the leader's policy, the steering penalty is

    S(y) = (1/2) g^T H^{-1} grad_phi l(phi_s; y),

with ``l`` the reward model's per-sample loss (or, without the oracle,
``2 r_phi(y)``, whose gradient replaces the residual ``r - U`` by 1), ``H``
the Hessian of the follower's loss (or the identity), and ``g`` either the
global ``g_bar = grad_phi r(theta)`` held fixed or the local
``grad_phi r(y)`` moving with ``y``. Every gradient is autodiff over the
reward model's parameters (a pytree, flattened with ``ravel_pytree``), so
these functions serve the linear game and paper-nn alike; the linear
Gaussian policy's closed forms (:mod:`toysim.game.policy`) are fast paths
that tests check against them.

``H^{-1}`` enters as a ``solve``: ``v -> H^{-1} v`` on the flat parameters
(a :data:`toysim.linalg.LinearMap`, e.g. ``linalg.linear_map(linalg.inverse(H, solver))``).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
from jax import Array
from jax.flatten_util import ravel_pytree

from toysim.linalg import LinearMap
from toysim.model.interface import RewardModel, RewardParams


def flat_gradient(f: Callable[..., Array], phi: RewardParams, *args: Array) -> Array:
    """``grad_phi f(phi, *args)`` flattened into one vector (``ravel_pytree`` order)."""
    return ravel_pytree(jax.grad(f)(phi, *args))[0]


def influence_loss(
    model: RewardModel, phi: RewardParams, y: Array, label: Array, oracle: bool
) -> Array:
    """The loss whose gradient enters the influence function.

    ``l(phi; y, label)`` with the oracle; without it the model's ``free_loss``, by default
    ``2 r_phi(y)``, whose gradient ``2 grad_phi r`` is ``grad_phi l`` with ``r - U`` replaced
    by 1 (switch ``oracle``, docs/theory/relaxations.md).
    """
    if oracle:
        return model.sample_loss(phi, y, label)
    if model.free_loss is not None:
        return model.free_loss(phi, y)
    return 2.0 * model.reward(phi, y)


def reward_gradient(model: RewardModel, phi: RewardParams, y: Array) -> Array:
    """``grad_phi r_phi(y)``, flat: the influence direction ``g`` at one output ``y``."""
    return flat_gradient(model.reward, phi, y)


def global_direction(
    model: RewardModel, phi: RewardParams, theta: Array, solve: LinearMap
) -> Array:
    """``v = H^{-1} g_bar`` with ``g_bar = grad_phi r_phi(theta)`` (global influence, fixed).

    ``g_bar = E_pi[grad_phi r]`` exactly for the linear RM (``r`` is linear
    in ``y``), and to first order in the policy's spread for any other.
    """
    return solve(reward_gradient(model, phi, theta))


def sample_steering(
    model: RewardModel,
    phi: RewardParams,
    y: Array,
    label_of: Callable[[Array], Array],
    solve: LinearMap,
    oracle: bool,
    direction: Array | None = None,
) -> Array:
    """``S(y) = (1/2) g^T H^{-1} grad_phi l(phi; y)`` for one sample ``y``.

    Args:
      model: the reward model.
      phi: ``phi_s``, the RM parameters at which the gradients are taken.
      y: the sample, a function of the policy parameters when differentiated.
      label_of: the labeller, ``y -> U(y)``: a function of the sample, so that a
        derivative through ``y`` reaches the label too; unused without the oracle.
      solve: ``v -> H^{-1} v`` (or the identity); unused when ``direction`` is given.
      oracle: whether ``grad_phi l`` uses the label.
      direction: ``H^{-1} g_bar`` held fixed (global influence, from
        :func:`global_direction`), or ``None`` for local influence, where
        ``g = grad_phi r_phi(y)`` moves with ``y`` and the derivative flows
        through both gradients (self-influence, as the published code does).

    Returns:
      The scalar ``S(y)``.
    """

    def grad_loss() -> Array:
        return flat_gradient(lambda p, s: influence_loss(model, p, s, label_of(s), oracle), phi, y)

    if direction is not None:
        return 0.5 * direction @ grad_loss()
    g = reward_gradient(model, phi, y)  # before grad_loss: the order the derivatives accumulate in
    return 0.5 * g @ solve(grad_loss())
