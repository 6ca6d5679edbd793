"""The leader's policy, as the expectations the leader's objective needs.

Two policies (docs/theory/game.md):

* :class:`PointPolicy`: deterministic, ``y = theta``. Expectations are
  evaluations at ``theta`` and every derivative is autodiff through ``y``.
* :class:`GaussianPolicy`: ``y ~ N(theta, sigma^2 I)`` with the linear reward
  model, every expectation in closed form (docs/theory/population.md), so the whole
  game has an exact, noise-free gradient.

Both expose the same functions of ``(w, theta)``; the leader
(:mod:`toysim.game.leader`) differentiates them with respect to ``theta``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from toysim import linalg
from toysim.game.steering import influence_loss, sample_steering
from toysim.model.interface import linear_reward_model
from toysim.model.reward import linear_reward
from toysim.model.utility import Utility, gaussian_utility_moments, utility


def linear_influence_loss(w: Array, y: Array, u: Utility, oracle: bool) -> Array:
    """The per-sample loss whose ``w``-gradient enters the influence function.

    ``l(w; y) = (r_w(y) - U(y))^2`` with the oracle; without it ``2 r_w(y)``
    (:func:`toysim.game.steering.influence_loss` for the linear RM).
    """
    return influence_loss(linear_reward_model(y.shape[-1]), w, y, utility(u, y), oracle)


class PointPolicy(NamedTuple):
    """A deterministic policy ``y = theta`` (``sigma = 0``)."""

    def expected_reward(self, w: Array, theta: Array) -> Array:
        """``r_w(theta)``."""
        return linear_reward(w, theta)

    def expected_cost(self, theta: Array) -> Array:
        """``||theta||^2``."""
        return jnp.sum(theta**2)

    def expected_loss(self, w: Array, theta: Array, u: Utility, oracle: bool) -> Array:
        """``l(w; theta)`` (or its oracle-free stand-in)."""
        return linear_influence_loss(w, theta, u, oracle)

    def global_steering(
        self, w: Array, theta: Array, u: Utility, direction: Array, oracle: bool
    ) -> Array:
        """``(1/2) v^T grad_w l(w; y)`` at ``y = theta``, ``v = H^{-1} g_bar`` held fixed.

        The generic :func:`toysim.game.steering.sample_steering` for the linear RM.
        """
        model = linear_reward_model(theta.shape[-1])
        return sample_steering(
            model,
            w,
            theta,
            lambda y: utility(u, y),
            linalg.linear_map(linalg.identity_solution),
            oracle,
            direction,
        )

    def local_steering(
        self, w: Array, theta: Array, u: Utility, solve: linalg.LinearMap, oracle: bool
    ) -> Array:
        """``(1/2) grad_w r_w(y)^T H^{-1} grad_w l(w; y)`` at ``y = theta``.

        Self-influence (TracIn, switch ``influence = local``): both gradients move with
        ``y``, and the derivative flows through both. The generic
        :func:`toysim.game.steering.sample_steering` for the linear RM.
        """
        model = linear_reward_model(theta.shape[-1])
        return sample_steering(model, w, theta, lambda y: utility(u, y), solve, oracle)

    def expected_utility(self, theta: Array, u: Utility) -> Array:
        """``U(theta)``."""
        return utility(u, theta)


class GaussianPolicy(NamedTuple):
    """``y ~ N(theta, sigma^2 I)`` with the linear RM, in closed form.

    Attributes:
      sigma: the spread (a traced scalar).
    """

    sigma: Array

    def expected_reward(self, w: Array, theta: Array) -> Array:
        """``E[w . y] = w . theta``."""
        return linear_reward(w, theta)

    def expected_cost(self, theta: Array) -> Array:
        """``E||y||^2 = ||theta||^2 + d sigma^2``."""
        return jnp.sum(theta**2) + theta.shape[-1] * self.sigma**2

    def expected_loss(self, w: Array, theta: Array, u: Utility, oracle: bool) -> Array:
        """``E[l(w; y)] = w^T E[yy^T] w - 2 w . E[yU] + E[U^2]``.

        Here ``E[yy^T] = theta theta^T + sigma^2 I``. Without the oracle,
        ``E[2 w . y] = 2 w . theta``.
        """
        if not oracle:
            return 2.0 * linear_reward(w, theta)
        mom = gaussian_utility_moments(u, theta, self.sigma)
        second = (w @ theta) ** 2 + self.sigma**2 * jnp.sum(w**2)
        return second - 2.0 * w @ mom.mean_y + mom.mean_sq

    def global_steering(
        self, w: Array, theta: Array, u: Utility, direction: Array, oracle: bool
    ) -> Array:
        """``(1/2) v^T grad_w E[l(w; y)]``, ``v = H^{-1} g_bar`` held fixed (closed form)."""
        return 0.5 * direction @ jax.grad(self.expected_loss)(w, theta, u, oracle)

    def local_steering(
        self, w: Array, theta: Array, u: Utility, solve: linalg.LinearMap, oracle: bool
    ) -> Array:
        """``(1/2) E[grad_w r(y)^T M grad_w l(w; y)] = E[rho(y) y^T M y]``, ``M = H^{-1}``.

        With ``rho = r_w(y) - U(y)`` (oracle) or 1 (none), ``y = theta + sigma e``:

            E[y^T M y]         = theta^T M theta + sigma^2 tr M
            E[(w.y) y^T M y]   = (w.theta) E[y^T M y] + 2 sigma^2 w^T M theta
            E[U(y) y^T M y]    = E[U] (mu^T M mu + (sigma^2/s1) tr M)

        the last because ``U(y) N(y; theta, sigma^2 I)`` is ``E[U]`` times a
        Gaussian with mean ``mu`` and variance ``sigma^2/s1`` (see
        :func:`toysim.model.utility.gaussian_utility_moments`). ``M`` is held
        fixed (it carries no ``theta`` dependence).
        """
        var = self.sigma**2
        tr_m = linalg.trace(solve, theta.shape[-1])
        m_theta = solve(theta)
        quad = theta @ m_theta + var * tr_m
        if not oracle:
            return quad
        reward_term = (w @ theta) * quad + 2.0 * var * (w @ m_theta)
        mom = gaussian_utility_moments(u, theta, self.sigma)
        utility_term = mom.mean * (mom.tilted_mean @ solve(mom.tilted_mean) + mom.tilted_var * tr_m)
        return reward_term - utility_term

    def expected_utility(self, theta: Array, u: Utility) -> Array:
        """``E[U]`` (closed form); report it beside ``U(theta)``."""
        return gaussian_utility_moments(u, theta, self.sigma).mean
