"""Best-of-n as a leader (expert iteration), and the KL divergences of the Goodhart curves.

See docs/results/goodhart.md. Best-of-n sampling draws ``n`` outputs from a
base policy and keeps the one the reward model scores highest. Its KL
divergence from the base policy (for a continuous base and a score with no
ties) is ``log n - (n - 1)/n`` (Stiennon et al. 2020; Gao, Schulman, Hilton 2022).

As a leader in the iterated game, best-of-n is *expert iteration*
(:func:`expert_move`): each iteration it draws ``groups`` independent groups of
``n`` outputs from the current Gaussian policy ``N(theta, s^2 I)``, keeps the
best of each group by the current reward model, and moves the policy mean
toward their mean, ``theta += lr (mean(y_best) - theta)``; the follower then
trains on the new policy's data exactly as after an RL step, so the reward
model is retrained on what the leader now produces. ``n`` is a traced number
(a mask over ``max_n`` draws), so a sweep over ``n`` compiles once. Either
game's loop runs it (:class:`toysim.game.composition.Composition` with
``leader = expert``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from toysim.game.composition import ExpertParams
from toysim.model.sampling import standard_normal


def best_of_n_kl(n: Array) -> Array:
    """``KL(best-of-n || base) = log n - (n - 1)/n`` (0 at ``n = 1``)."""
    n = jnp.asarray(n, dtype=jnp.result_type(float))
    return jnp.log(n) - (n - 1.0) / n


def gaussian_kl(mean: Array, sigma: Array, mean0: Array, sigma0: Array) -> Array:
    """``KL(N(mean, sigma^2 I) || N(mean0, sigma0^2 I))`` in ``R^d``, in closed form::

        (1/2) [ d sigma^2/sigma0^2 + ||mean - mean0||^2/sigma0^2 - d + 2 d log(sigma0/sigma) ]

    Args:
      mean: the policy's mean, ``[..., d]``.
      sigma: the policy's spread (``> 0``), a scalar or ``[...]``.
      mean0: the reference policy's mean, ``[..., d]``.
      sigma0: the reference policy's spread (``> 0``), a scalar or ``[...]``.

    Returns:
      The divergence, ``[...]``.
    """
    d = mean.shape[-1]
    ratio = (sigma / sigma0) ** 2
    shift = jnp.sum((mean - mean0) ** 2, axis=-1) / sigma0**2
    return 0.5 * (d * ratio + shift - d - d * jnp.log(ratio))


def select_best(samples: Array, scores: Array, n: Array) -> Array:
    """The sample with the highest score among the first ``n``: ``samples[argmax_{i < n} s_i]``.

    Args:
      samples: ``[max_n, d]`` draws.
      scores: their scores, ``[max_n]``.
      n: how many of the draws compete (``1 <= n <= max_n``; traced, a mask).

    Returns:
      The kept draw, ``[d]`` (``samples[0]`` when ``n = 1``: no selection).
    """
    competing = jnp.arange(scores.shape[0], dtype=jnp.result_type(float)) < n
    best = jnp.argmax(jnp.where(competing, scores, -jnp.inf))
    return samples[best]


def best_of_n_draw(
    key: Array, theta: Array, spread: Array, n: Array, max_n: int, score: Callable
) -> Array:
    """One best-of-n output: ``max_n`` draws ``y_i = theta + spread eps_i``, the best of the
    first ``n`` by ``score`` (:func:`select_best`).

    Args:
      key: the draws' ``jax.random`` key.
      theta: the policy mean, ``[d]``.
      spread: the policy's standard deviation ``s``.
      n: the number of competing draws (traced).
      max_n: the number of draws made (static; ``n <= max_n``).
      score: ``y [max_n, d] -> [max_n]``, the reward model's scores.
    """
    samples = theta + spread * standard_normal(key, (max_n, theta.shape[-1]), theta.dtype)
    return select_best(samples, score(samples), n)


def expert_move(
    key: Array,
    theta: Array,
    spread: Array,
    expert: ExpertParams,
    max_n: int,
    groups: int,
    score: Callable[[Array], Array],
) -> Array:
    """One expert-iteration step: ``theta + lr (mean_g y_best,g - theta)``.

    ``groups`` independent groups (keys ``split(key, groups)``) each keep the best of ``n``
    draws from ``N(theta, spread^2 I)`` by ``score`` (:func:`best_of_n_draw`); the policy
    mean moves the fraction ``lr = expert.step`` of the way to their mean.

    Args:
      key: the step's ``jax.random`` key.
      theta: the policy mean, ``[d]``.
      spread: the standard deviation the policy samples with.
      expert: ``n`` and ``step`` (traced).
      max_n: the draws made per group (static; ``n <= max_n``).
      groups: the number of groups (static).
      score: ``y [max_n, d] -> [max_n]``, the reward model's scores.
    """
    kept = jax.vmap(lambda k: best_of_n_draw(k, theta, spread, expert.n, max_n, score))(
        jax.random.split(key, groups)
    )
    return theta + expert.step * (jnp.mean(kept, axis=0) - theta)


class BestOfNCurve(NamedTuple):
    """Best-of-n from a fixed base policy and reward model, for each ``n`` of a list.

    Attributes:
      n: the numbers of draws, ``[N]``.
      kl: ``log n - (n - 1)/n``, ``[N]``.
      gold: ``E[U(y_best)]``, the Monte Carlo mean over the draws, ``[N]``.
      proxy: ``E[r(y_best)]``, ``[N]``.
    """

    n: Array
    kl: Array
    gold: Array
    proxy: Array


def best_of_n_curve(
    key: Array,
    theta: Array,
    spread: Array,
    ns: Array,
    repeats: int,
    score: Callable[[Array], Array],
    gold: Callable[[Array], Array],
) -> BestOfNCurve:
    """Gold and proxy of best-of-n sampling from ``N(theta, spread^2 I)`` for each ``n`` in ``ns``.

    ``repeats`` times, ``max(ns)`` outputs are drawn; best-of-n keeps the best of
    the first ``n`` by ``score`` (the same draws serve every ``n``, so the curve
    is smooth in ``n``), and the means over the repeats estimate
    ``E[U(y_best)]`` and ``E[r(y_best)]``.

    Args:
      key: the draws' ``jax.random`` key.
      theta: the base policy's mean.
      spread: the base policy's spread.
      ns: the values of ``n`` (integers ``>= 1``, concrete: their maximum fixes the shapes).
      repeats: Monte Carlo repeats per ``n``.
      score: ``y [m, d] -> [m]``, the reward model.
      gold: ``y [m, d] -> [m]``, the true utility.
    """
    max_n = int(np.max(ns))
    ns = jnp.asarray(ns, dtype=jnp.result_type(float))

    def one(k):
        y = theta + spread * standard_normal(k, (max_n, theta.shape[-1]), theta.dtype)
        return score(y), gold(y)

    scores, golds = jax.lax.map(one, jax.random.split(key, repeats))
    competing = jnp.arange(max_n, dtype=ns.dtype)[None, :] < ns[:, None]  # [N, max_n]
    best = jnp.argmax(jnp.where(competing[:, None, :], scores[None], -jnp.inf), axis=-1)
    kept_gold = jnp.take_along_axis(golds[None], best[..., None], axis=-1)[..., 0]
    kept_proxy = jnp.take_along_axis(scores[None], best[..., None], axis=-1)[..., 0]
    return BestOfNCurve(ns, best_of_n_kl(ns), kept_gold.mean(axis=-1), kept_proxy.mean(axis=-1))
