"""The true (human) utility and its closed-form Gaussian expectations.

``U(y) = A exp(-tau ||y - m||^2)`` (docs/theory/game.md).
Expectations (docs/theory/population.md) of ``U``, ``y U`` and ``U^2`` under a
Gaussian policy ``y ~ N(theta, sigma^2 I)``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array


class Utility(NamedTuple):
    """Parameters of ``U(y) = A exp(-tau ||y - m||^2)``.

    Attributes:
      amplitude: ``A``, the utility at the human ideal.
      tau: ``tau > 0``, the inverse width of the bump.
      ideal: ``m`` of shape ``[d]``, the human ideal output.
    """

    amplitude: Array
    tau: Array
    ideal: Array


def utility(u: Utility, y: Array) -> Array:
    """``U(y) = A exp(-tau ||y - m||^2)``; ``y`` has shape ``[..., d]``."""
    return u.amplitude * jnp.exp(-u.tau * jnp.sum((y - u.ideal) ** 2, axis=-1))


def utility_grad(u: Utility, y: Array) -> Array:
    """``grad U(y) = -2 tau (y - m) U(y)``, shape ``[..., d]``."""
    return -2.0 * u.tau * (y - u.ideal) * utility(u, y)[..., None]


class GaussianUtilityMoments(NamedTuple):
    """Closed-form moments of ``U`` under ``y ~ N(theta, sigma^2 I)``.

    Attributes:
      mean: ``E[U]``.
      mean_y: ``E[y U]``, shape ``[d]``.
      mean_sq: ``E[U^2]``.
      tilted_mean: ``mu = (theta + 2 tau sigma^2 m) / s1``, the mean of the
        Gaussian ``U(y) N(y; theta, sigma^2 I) / E[U]``.
      tilted_var: ``sigma^2 / s1``, its per-coordinate variance.
    """

    mean: Array
    mean_y: Array
    mean_sq: Array
    tilted_mean: Array
    tilted_var: Array


def gaussian_utility_moments(u: Utility, theta: Array, sigma: Array) -> GaussianUtilityMoments:
    """Gaussian moments of ``U``, ``s1 = 1 + 2 tau sigma^2``, ``s2 = 1 + 4 tau sigma^2``::

        E[U]   = A s1^(-d/2) exp(-tau ||theta - m||^2 / s1)
        E[y U] = E[U] (theta + 2 tau sigma^2 m) / s1
        E[U^2] = A^2 s2^(-d/2) exp(-2 tau ||theta - m||^2 / s2)

    ``U(y) N(y; theta, sigma^2 I)`` is itself an unnormalised Gaussian with
    precision ``s1 / sigma^2`` and mean ``mu = (theta + 2 tau sigma^2 m) / s1``,
    which gives ``E[y U]`` and every other ``U``-weighted moment. At
    ``sigma = 0`` all of them reduce to evaluations at ``theta``. ``theta``
    may carry leading batch axes (``[..., d]``); ``sigma`` is a scalar.
    """
    d = theta.shape[-1]
    var = sigma**2
    s1 = 1.0 + 2.0 * u.tau * var
    s2 = 1.0 + 4.0 * u.tau * var
    dist2 = jnp.sum((theta - u.ideal) ** 2, axis=-1)
    mean = u.amplitude * s1 ** (-d / 2) * jnp.exp(-u.tau * dist2 / s1)
    tilted_mean = (theta + 2.0 * u.tau * var * u.ideal) / s1
    mean_sq = u.amplitude**2 * s2 ** (-d / 2) * jnp.exp(-2.0 * u.tau * dist2 / s2)
    return GaussianUtilityMoments(
        mean=mean,
        mean_y=mean[..., None] * tilted_mean,
        mean_sq=mean_sq,
        tilted_mean=tilted_mean,
        tilted_var=var / s1,
    )
