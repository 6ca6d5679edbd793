"""The follower (the reward model): its training loss ``L``, best response and updates.

See docs/theory/game.md: ``L(w; D) = sum_i omega_i l(w; y_i) + (lambda/2) ||w - w_bar||^2``
with ``w_bar = 0`` (ridge) or ``w_t`` (proximal); ``phi*(theta) = argmin_w L``.
Which ``L`` and ``phi*`` are "exact" is fixed by this objective; the update
rule only decides how close ``w_t`` gets to ``phi*`` (docs/theory/relaxations.md).

Three followers, each a pure update (a :class:`Follower` of pure functions,
in the style of optax's ``init``/``update`` pairs):

* ``sgd``: ``K`` optax steps per iteration on the data loss of a buffer of the
  ``B`` newest samples, plain SGD with decoupled weight decay
  (``w <- (1 - wd) w - eta grad``). The published follower is ``B = K = 1``,
  ``eta = 0.005``, ``wd = 1e-4``.
* ``best-response``: the exact minimiser of ``L`` on the buffer.
* ``population``: the exact minimiser of the population loss of a Gaussian
  policy (docs/theory/population.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import optax
from jax import Array

from toysim import linalg
from toysim.config import GameSpec, HParams
from toysim.game.policy import GaussianPolicy
from toysim.model.reward import anchor_penalty, squared_loss
from toysim.model.utility import Utility, utility


class Buffer(NamedTuple):
    """The ``B`` most recent labelled samples, stored circularly.

    Attributes:
      y: outputs, ``[B, d]``.
      label: their human labels ``U(y)``, ``[B]``.
      filled: 1.0 where a slot holds a sample, ``[B]``.
      slot: the index the next sample is written to (int32 scalar).
    """

    y: Array
    label: Array
    filled: Array
    slot: Array


def empty_buffer(size: int, dim: int, dtype: Any) -> Buffer:
    """A buffer of ``size`` empty slots for outputs in ``R^dim``."""
    return Buffer(
        y=jnp.zeros((size, dim), dtype),
        label=jnp.zeros((size,), dtype),
        filled=jnp.zeros((size,), dtype),
        slot=jnp.zeros((), jnp.int32),
    )


def buffer_insert(buffer: Buffer, y: Array, label: Array) -> Buffer:
    """Write ``(y, label)`` over the oldest slot.

    A masked select rather than an indexed update: under ``vmap`` the slot is
    a batched value, and a select vectorises where a scatter would not.
    """
    size = buffer.label.shape[0]
    here = jnp.arange(size, dtype=buffer.slot.dtype) == buffer.slot
    return Buffer(
        y=jnp.where(here[:, None], y, buffer.y),
        label=jnp.where(here, label, buffer.label),
        filled=jnp.where(here, jnp.ones_like(buffer.filled), buffer.filled),
        slot=(buffer.slot + 1) % size,
    )


class FollowerData(Protocol):
    """The follower's training data: its loss and that loss's curvature."""

    def loss(self, w: Array) -> Array:
        """The data term of the follower's loss at RM weights ``w`` (a scalar)."""
        ...

    def curvature(self, lam: Array) -> linalg.LowRankPlusDiagonal:
        """``H = lambda I + Hessian of the data term`` (exact for the linear RM)."""
        ...


class SampleData(NamedTuple):
    """A buffer of samples, each weighted ``omega``: ``sum_i omega_i (w . y_i - U(y_i))^2``."""

    buffer: Buffer
    weight: float

    def loss(self, w: Array) -> Array:
        """``sum_i omega filled_i (w . y_i - U(y_i))^2`` over the buffer."""
        b = self.buffer
        return self.weight * jnp.sum(b.filled * squared_loss(w, b.y, b.label))

    def curvature(self, lam: Array) -> linalg.LowRankPlusDiagonal:
        """``H = lambda I + sum_i 2 omega_i y_i y_i^T``."""
        b = self.buffer
        factor = jnp.sqrt(2.0 * self.weight * b.filled)[:, None] * b.y
        return linalg.LowRankPlusDiagonal(lam, factor)


class PopulationData(NamedTuple):
    """The whole distribution ``N(theta, sigma^2 I)``: ``E[(w . y - U(y))^2]`` in closed form."""

    theta: Array
    policy: GaussianPolicy
    utility: Utility

    def loss(self, w: Array) -> Array:
        """``E_{y ~ N(theta, sigma^2 I)}[(w . y - U(y))^2]`` in closed form."""
        return self.policy.expected_loss(w, self.theta, self.utility, True)

    def curvature(self, lam: Array) -> linalg.LowRankPlusDiagonal:
        """``H = 2 (theta theta^T + sigma^2 I) + lambda I``."""
        alpha = lam + 2.0 * self.policy.sigma**2
        return linalg.LowRankPlusDiagonal(alpha, jnp.sqrt(2.0) * self.theta[None, :])


def follower_loss(w: Array, data: FollowerData, anchor: Array, lam: Array) -> Array:
    """``L(w; D) = data loss + (lambda/2) ||w - w_bar||^2``."""
    return data.loss(w) + anchor_penalty(w, anchor, lam)


def best_response(
    data: FollowerData, anchor: Array, lam: Array, solve: linalg.LinearMap, w0: Array
) -> Array:
    """``phi* = argmin_w L(w; D)``: one Newton step ``w0 - H^{-1} grad L(w0)``.

    Exact for the linear RM, whose ``L`` is quadratic, from any ``w0``;
    ``solve`` must apply ``H^{-1}`` for ``H = hess L``
    (``linalg.linear_map(linalg.inverse(data.curvature(lam), linalg.Cholesky()))``).
    """
    return w0 - solve(jax.grad(follower_loss)(w0, data, anchor, lam))


def decoupled_weight_decay(rate: Array) -> optax.GradientTransformation:
    """``updates <- updates - rate * params``: ``w <- (1 - rate) w + updates`` after SGD.

    Decoupled (as published): the decay does not pass through the learning rate.
    """

    def init(params):
        del params
        return optax.EmptyState()

    def update(updates, state, params):
        return jax.tree.map(lambda u, p: u - rate * p, updates, params), state

    return optax.GradientTransformation(init, update)


def sgd_optimizer(hp: HParams) -> optax.GradientTransformation:
    """Plain SGD with decoupled weight decay, built from traced hyperparameters."""
    return optax.chain(optax.sgd(hp.follower_lr), decoupled_weight_decay(hp.weight_decay))


FULL_UNROLL_STEPS = 4
"""Up to this many SGD steps per iteration are unrolled rather than looped."""


class FollowerState(NamedTuple):
    """The follower's state: RM parameters ``w``, its data buffer, its optimizer state."""

    w: Array
    buffer: Buffer
    opt_state: Any


class Follower(NamedTuple):
    """A follower as pure functions (optax style).

    Attributes:
      init: ``(w0, hp) -> FollowerState``.
      data: ``(state, theta, hp, u) -> FollowerData``, the data the follower
        trains on if the leader plays ``theta``.
      anchor: ``state -> w_bar``.
      update: ``(state, theta, hp, u) -> FollowerState``, the follower's move
        after the leader played ``theta``.
    """

    init: Callable[..., FollowerState]
    data: Callable[..., FollowerData]
    anchor: Callable[[FollowerState], Array]
    update: Callable[..., FollowerState]


def make_follower(spec: GameSpec) -> Follower:
    """The follower named by ``spec.follower``, with ``spec``'s buffer, steps and anchor."""
    weight = spec.new_sample_weight

    def anchor(state: FollowerState) -> Array:
        return state.w if spec.anchor == "proximal" else jnp.zeros_like(state.w)

    def init(w0: Array, hp: HParams) -> FollowerState:
        buffer = empty_buffer(spec.buffer_size, spec.dim, w0.dtype)
        opt_state = sgd_optimizer(hp).init(w0) if spec.follower == "sgd" else optax.EmptyState()
        return FollowerState(w0, buffer, opt_state)

    def data(state: FollowerState, theta: Array, hp: HParams, u: Utility) -> FollowerData:
        if spec.follower == "population":
            return PopulationData(theta, GaussianPolicy(hp.sigma), u)
        return SampleData(buffer_insert(state.buffer, theta, utility(u, theta)), weight)

    def update(state: FollowerState, theta: Array, hp: HParams, u: Utility) -> FollowerState:
        new_data = data(state, theta, hp, u)
        buffer = new_data.buffer if isinstance(new_data, SampleData) else state.buffer
        if spec.follower == "sgd":
            optimizer = sgd_optimizer(hp)

            def sgd_step(carry, _):
                w, opt_state = carry
                grads = jax.grad(new_data.loss)(w)
                updates, opt_state = optimizer.update(grads, opt_state, w)
                return (optax.apply_updates(w, updates), opt_state), None

            (w, opt_state), _ = jax.lax.scan(
                sgd_step,
                (state.w, state.opt_state),
                length=spec.follower_steps,
                unroll=spec.follower_steps <= FULL_UNROLL_STEPS,  # no inner loop for few steps
            )
            return FollowerState(w, buffer, opt_state)
        solve = linalg.linear_map(linalg.inverse(new_data.curvature(hp.lam), linalg.Cholesky()))
        w = best_response(new_data, anchor(state), hp.lam, solve, state.w)
        return FollowerState(w, buffer, state.opt_state)

    return Follower(init=init, data=data, anchor=anchor, update=update)
