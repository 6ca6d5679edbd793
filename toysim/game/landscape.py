"""The leader's landscape at the follower's fixed point: ``V(theta) = r_{w*(theta)}(theta) - c
||theta||^2``.

If the policy stayed at ``theta``, its follower would settle on ``w*(theta)``, the best response
to data the policy emits there; ``V`` is the leader's reward ``F`` (:mod:`toysim.game.leader`)
of its own output at that best response, the objective an exact leader climbs when it
anticipates the whole of the follower's response (docs/theory/pairwise.md). Both games' linear
reward models:

* **pairs** (the sampled-buffer game, ``reward_model = linear``, ``data = pairs``):
  ``w*(theta) = argmin_w (1/N) sum_i l(w; y_i, p_i) + (wd/2) ||w||^2``, ``l`` the Bradley-Terry
  loss, over ``N`` pairs ``y_i = theta + sigma (eps_i0, eps_i1)`` with their expected labels
  ``p_i`` (:func:`stationary_pairs`); the same draws ``eps`` (one key) for every ``theta``, so
  that ``w*`` is a deterministic, smooth function of ``theta``, solved by Newton's method
  (:func:`toysim.game.optimum.buffer_optimum`). The loss is linear in the label, so as ``N``
  grows this tends to the population best response of sampled labels too.
* **points** (the linear game with a point policy and an SGD follower, paper-linear): one SGD
  step with decoupled weight decay on the policy's own output, ``w <- w - eta grad (w . theta -
  U(theta))^2 - wd w``, has the fixed point ``argmin_w (w . theta - U(theta))^2 + (wd / (2
  eta)) ||w||^2`` (:func:`point_best_response`).

The plane of the figures is the projection plane of :mod:`toysim.model.metrics`: ``theta =
s m / ||m|| + n e`` (:func:`plane_point`), ``e`` the first coordinate off the signal block.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from toysim import linalg
from toysim.config import ConfigError, LinearHParams, LinearSpec, as_float_arrays
from toysim.game.followers import (
    SampleBuffer,
    SampleData,
    best_response,
    buffer_insert,
    empty_buffer,
)
from toysim.game.linear_round import utility_of
from toysim.game.optimum import NEWTON_STEPS, buffer_optimum
from toysim.game.sampled import (
    SampledHParams,
    SampledSpec,
    leader_reward,
    network_model,
    neural_utility,
    policy_block,
    sampled_buffer,
)
from toysim.model.interface import linear_reward_model, pairwise
from toysim.model.utility import Utility, utility
from toysim.seeds import seed_key

LANDSCAPE_PAIRS = 4096
"""Pairs of the stationary buffer. ``V``'s standard deviation over draws of the pairs at its
maxima (:func:`toysim.experiments.landscape.draw_spread`) is in the landscape figure's sidecar,
``draw_spread``."""


def plane_point(signal: Array, noise: Array, ideal: Array, signal_dims: int) -> Array:
    """``theta = signal m / ||m|| + noise e``, ``e`` the unit vector on coordinate ``k =
    signal_dims`` (off the signal block, so orthogonal to ``m``): the point with those
    projection coordinates (:func:`toysim.model.metrics.projection_signal_noise`).

    Args:
      signal: the coordinate along ``m``, any shape ``[...]``.
      noise: the coordinate along ``e``, the same shape.
      ideal: ``m``, ``[d]``, zero off the signal block.
      signal_dims: ``k``.
    """
    m_hat = ideal / jnp.linalg.norm(ideal)
    e = (jnp.arange(ideal.shape[-1]) == signal_dims).astype(ideal.dtype)
    return signal[..., None] * m_hat + noise[..., None] * e


def _pairs_game(spec: SampledSpec, pairs: int) -> SampledSpec:
    """``spec`` with one block of ``pairs`` expected-label pairs as its whole buffer."""
    if spec.data != "pairs" or spec.reward_model != "linear" or spec.candidates != 1:
        raise ConfigError(
            "the pairs landscape needs data = pairs, reward_model = linear (a unique best "
            "response) and candidates = 1 (no reward model to pick with); got data = "
            f"{spec.data!r}, reward_model = {spec.reward_model!r}, candidates = {spec.candidates}"
        )
    return dataclasses.replace(
        spec, samples_per_step=pairs, buffer_size=pairs, regime="replace", labels="expected"
    )


def stationary_pairs(
    spec: SampledSpec, hp: SampledHParams, theta: Array, pairs: int, key: Array
) -> SampleBuffer:
    """The follower's buffer after the policy ``N(theta, sigma^2 I)`` has stayed at ``theta``:
    ``pairs`` pairs (:func:`toysim.game.sampled.policy_block`, ``sigma = sigma_start``, the
    pairwise presets' constant spread) with their expected labels, drawn from ``key``."""
    game = _pairs_game(spec, pairs)
    u = neural_utility(game, hp)
    y, p = policy_block(game, hp, u, theta, hp.sigma_start, key, key)
    return buffer_insert(sampled_buffer(game, theta.dtype), y, p)


def pairs_best_response(
    spec: SampledSpec, hp: SampledHParams, theta: Array, pairs: int, key: Array
) -> linalg.Solution:
    """``w*(theta)`` on :func:`stationary_pairs` by :data:`toysim.game.optimum.NEWTON_STEPS`
    Newton steps from 0, with how well it solves ``grad L = 0``
    (:func:`toysim.game.optimum.buffer_optimum`)."""
    model = pairwise(network_model(_pairs_game(spec, pairs)))
    buffer = stationary_pairs(spec, hp, theta, pairs, key)
    start = jnp.zeros_like(theta)
    return buffer_optimum(model, buffer, hp.weight_decay, start, NEWTON_STEPS)


def pairs_value(
    spec: SampledSpec, hp: SampledHParams, pairs: int = LANDSCAPE_PAIRS
) -> Callable[[Array, Array], Array]:
    """``(theta, key) -> V(theta) = r_{w*(theta)}(theta) - c ||theta||^2`` on the pairs game,
    ``w*`` the :func:`pairs_best_response` to ``pairs`` pairs drawn from ``key`` (an argument, so
    that every draw of the pairs shares one compiled function).

    Raises:
      ConfigError: not the pairs game with the linear reward model.
    """
    hp = as_float_arrays(hp)
    _pairs_game(spec, pairs)  # refuse early, naming the fields
    model = network_model(spec)

    def value(theta: Array, key: Array) -> Array:
        w = pairs_best_response(spec, hp, theta, pairs, key).x
        return leader_reward(model, w, theta, hp.action_cost)

    return value


def _check_points(spec: LinearSpec) -> None:
    """Refuse a linear game whose follower is not the SGD follower of a point policy."""
    if spec.follower != "sgd":
        raise ConfigError(
            f"the points landscape needs follower = sgd (a point policy); got {spec.follower!r}"
        )


def point_best_response(spec: LinearSpec, hp: LinearHParams, theta: Array) -> Array:
    """``w*(theta) = argmin_w (w . theta - U(theta))^2 + (lambda/2) ||w||^2``, ``lambda = wd /
    eta``: the fixed point of the SGD follower's step on the point ``theta``
    (:func:`toysim.game.followers.best_response` on a one-point buffer, by Cholesky)."""
    _check_points(spec)
    u = utility_of(spec, hp)
    buffer = buffer_insert(empty_buffer(1, spec.dim, theta.dtype), theta, utility(u, theta))
    data = SampleData(buffer, 1.0)
    lam = hp.weight_decay / hp.follower_lr
    solve = linalg.linear_map(linalg.inverse(data.curvature(lam), linalg.Cholesky()))
    return best_response(data, None, lam, solve, jnp.zeros_like(theta))


def landscape(
    spec: LinearSpec | SampledSpec,
    hp: LinearHParams | SampledHParams,
    pairs: int = LANDSCAPE_PAIRS,
    seed: int = 0,
) -> tuple[Callable[[Array], Array], Utility]:
    """``(V, U)``: ``theta -> V(theta) = r_{w*(theta)}(theta) - c ||theta||^2`` for the game of
    ``spec`` (:func:`pairs_value` with ``pairs`` pairs drawn from the key of ``seed``, or
    :func:`point_best_response`), and its utility.

    Raises:
      ConfigError: a game with no unique linear best response (the MLP, a population or
        best-response follower).
    """
    hp = as_float_arrays(hp)
    if isinstance(spec, SampledSpec):
        value, key = pairs_value(spec, hp, pairs), seed_key(seed)
        return (lambda theta: value(theta, key)), neural_utility(spec, hp)
    _check_points(spec)
    model = linear_reward_model(spec.dim)

    def point_value(theta: Array) -> Array:
        w = point_best_response(spec, hp, theta)
        return model.reward(w, theta) - hp.action_cost * theta @ theta

    return point_value, utility_of(spec, hp)


def ascend(value: Callable[[Array], Array], start: Array, step: float, iterations: int) -> Array:
    """Gradient ascent on ``value`` from ``start``: ``theta <- theta + step grad value(theta)``,
    the path ``[iterations + 1, d]`` (``start`` first)."""
    gradient = jax.grad(value)

    def move(theta: Array, _) -> tuple[Array, Array]:
        after = theta + step * gradient(theta)
        return after, after

    _, path = jax.lax.scan(move, start, length=iterations)
    return jnp.concatenate([start[None], path])
