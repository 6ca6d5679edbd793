"""The follower (the reward model): its training loss ``L``, best response and updates.

See docs/theory/game.md: ``L(w; D) = sum_i omega_i l(w; y_i) + (lambda/2) ||w - w_bar||^2``
with ``w_bar = 0`` (ridge) or ``w_t`` (proximal); ``phi*(theta) = argmin_w L``.
Which ``L`` and ``phi*`` are "exact" is fixed by this objective; the update
rule only decides how close ``w_t`` gets to ``phi*`` (docs/theory/relaxations.md).

Three followers, each a pure update (a :class:`Follower` of pure functions,
in the style of optax's ``init``/``update`` pairs):

* ``sgd``: ``K`` optax steps per iteration on the data loss of a buffer of the
  ``B`` newest samples (``regime = window``; the newest alone under ``replace``, every
  sample so far under ``accumulate``), plain SGD with decoupled weight decay
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
from jax.flatten_util import ravel_pytree

from toysim import linalg
from toysim.config import LinearHParams, LinearSpec
from toysim.game.policy import GaussianPolicy
from toysim.model.interface import RewardModel, RewardParams, linear_reward_model
from toysim.model.reward import anchor_penalty
from toysim.model.utility import Utility, utility


class SampleBuffer(NamedTuple):
    """The ``B`` most recent blocks of labelled samples, stored circularly.

    A block holds the ``n`` samples one iteration adds: ``n = 1`` in the linear
    game, ``samples_per_step`` in paper-nn. A sample is what one label refers
    to (one output here; a pair for a pairwise reward model, see
    :class:`toysim.model.interface.RewardModel`).

    Attributes:
      y: samples, ``[B, n, d]``.
      label: their labels ``U(y)``, ``[B, n]``.
      filled: 1.0 where a block holds samples, ``[B]``.
      slot: the index of the block written next (int32 scalar).
    """

    y: Array
    label: Array
    filled: Array
    slot: Array


def empty_buffer(
    blocks: int, dim: int, dtype: Any, block_size: int = 1, pairs: bool = False
) -> SampleBuffer:
    """A buffer of ``blocks`` empty blocks of ``block_size`` samples: outputs in ``R^dim``,
    or with ``pairs`` pairs of them (``y`` of shape ``[blocks, block_size, 2, dim]``)."""
    sample_shape = (2, dim) if pairs else (dim,)
    return SampleBuffer(
        y=jnp.zeros((blocks, block_size, *sample_shape), dtype),
        label=jnp.zeros((blocks, block_size), dtype),
        filled=jnp.zeros((blocks,), dtype),
        slot=jnp.zeros((), jnp.int32),
    )


def buffer_insert(buffer: SampleBuffer, y: Array, label: Array) -> SampleBuffer:
    """Write the block ``(y, label)`` (``[n, ...]`` and ``[n]``; ``[...]`` and ``[]`` if
    ``n = 1``) over the oldest block.

    A masked select rather than an indexed update: under ``vmap`` the slot is
    a batched value, and a select vectorises where a scatter would not.
    """
    blocks = buffer.label.shape[0]
    here = jnp.arange(blocks, dtype=buffer.slot.dtype) == buffer.slot
    y = jnp.reshape(y, buffer.y.shape[1:])
    label = jnp.reshape(label, buffer.label.shape[1:])
    return SampleBuffer(
        y=jnp.where(jnp.reshape(here, (blocks,) + (1,) * (buffer.y.ndim - 1)), y, buffer.y),
        label=jnp.where(here[:, None], label, buffer.label),
        filled=jnp.where(here, jnp.ones_like(buffer.filled), buffer.filled),
        slot=(buffer.slot + 1) % blocks,
    )


def regime_blocks(regime: str, window: int, steps: int) -> int:
    """The buffer's length in blocks under ``regime``: 1, ``window`` or ``steps``.

    ``replace`` trains on the newest block only; ``window`` keeps the last
    ``window`` blocks (a sliding window); ``accumulate`` keeps all ``steps``
    blocks a run writes (no block is ever overwritten). In the sampled-buffer game every
    regime averages the loss over the filled samples (:func:`buffer_weights`); the linear
    game weights each sample by :meth:`toysim.config.LinearSpec.sample_weight`.
    """
    return {"replace": 1, "window": window, "accumulate": steps}[regime]


def buffer_weights(buffer: SampleBuffer) -> Array:
    """Each sample's weight in the mean loss: ``filled_b / count``, ``[B, n]``.

    ``count`` is the number of filled samples (at least 1), so the weights of
    a non-empty buffer sum to 1 in every regime; :func:`data_loss` with
    ``weight = None`` is ``sum_i weight_i l(phi; y_i)``.
    """
    n = buffer.label.shape[-1]
    count = jnp.maximum(jnp.sum(buffer.filled), 1.0) * n
    return jnp.broadcast_to(buffer.filled[:, None], buffer.label.shape) / count


def data_loss(
    model: RewardModel, phi: RewardParams, buffer: SampleBuffer, weight: Array | None
) -> Array:
    """The data term of the follower's loss on ``buffer``, weighted ``omega`` or averaged.

    ``omega sum_i filled_i l(phi; y_i)`` for a fixed weight ``omega`` (the
    linear game), or with ``weight = None`` the mean of ``l`` over the filled
    samples (paper-nn's mean squared error).
    """
    total = jnp.sum(buffer.filled[:, None] * model.sample_loss(phi, buffer.y, buffer.label))
    if weight is None:
        count = jnp.maximum(jnp.sum(buffer.filled), 1.0) * buffer.label.shape[-1]
        return total / count
    return weight * total


class FollowerData(Protocol):
    """The follower's training data: its loss and that loss's curvature."""

    def loss(self, w: Array) -> Array:
        """The data term of the follower's loss at RM weights ``w`` (a scalar)."""
        ...

    def curvature(self, lam: Array) -> linalg.LowRankPlusDiagonal:
        """``H = lambda I + Hessian of the data term`` (exact for the linear RM)."""
        ...


class SampleData(NamedTuple):
    """A buffer of samples, each weighted ``omega``: ``sum_i omega_i (w . y_i - U(y_i))^2``.

    ``weight`` is :meth:`toysim.config.LinearSpec.sample_weight`: a number, or traced
    (``1/t`` under ``regime = accumulate``).
    """

    buffer: SampleBuffer
    weight: Array | float

    def loss(self, w: Array) -> Array:
        """``sum_i omega filled_i (w . y_i - U(y_i))^2`` over the buffer."""
        return data_loss(linear_reward_model(w.shape[-1]), w, self.buffer, self.weight)

    def curvature(self, lam: Array) -> linalg.LowRankPlusDiagonal:
        """``H = lambda I + sum_i 2 omega_i y_i y_i^T`` (the linear RM's closed form)."""
        b = self.buffer
        root = jnp.sqrt(2.0 * self.weight * b.filled)[:, None, None] * b.y
        return linalg.LowRankPlusDiagonal(lam, root.reshape(-1, b.y.shape[-1]))


class BufferData(NamedTuple):
    """A buffer under any reward model: ``omega sum_i filled_i l(phi; y_i)`` or the mean.

    Attributes:
      model: the reward model.
      buffer: the samples.
      weight: ``omega``, or ``None`` for the mean over the filled samples
        (see :func:`data_loss`).
    """

    model: RewardModel
    buffer: SampleBuffer
    weight: Array | None

    def loss(self, phi: RewardParams) -> Array:
        """The data term :func:`data_loss` at RM parameters ``phi``."""
        return data_loss(self.model, phi, self.buffer, self.weight)


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


def follower_loss(
    phi: RewardParams, data: FollowerData, anchor: RewardParams | None, lam: Array
) -> Array:
    """``L(phi; D) = data loss + (lambda/2) ||phi - phi_bar||^2`` (any pytree ``phi``).

    ``anchor`` is ``phi_bar`` (``None`` for ``phi_bar = 0``, see
    :func:`toysim.model.reward.anchor_penalty`). paper-nn's follower objective
    is an instance: :class:`BufferData` with the mean over the buffer, ridge
    anchor and ``lambda`` the weight decay.
    """
    flat_anchor = None if anchor is None else ravel_pytree(anchor)[0]
    return data.loss(phi) + anchor_penalty(ravel_pytree(phi)[0], flat_anchor, lam)


def best_response(
    data: FollowerData, anchor: Array | None, lam: Array, solve: linalg.LinearMap, w0: Array
) -> Array:
    """``phi* = argmin_w L(w; D)``: one Newton step ``w0 - H^{-1} grad L(w0)``.

    Exact for the linear RM on points, whose ``L`` is quadratic, from any ``w0``; repeated,
    Newton's iteration for the pairs' logistic loss (:mod:`toysim.game.optimum`).
    ``anchor`` is ``w_bar`` (``None``: 0, see :func:`follower_loss`);
    ``solve`` must apply ``H^{-1}`` for ``H = hess L``
    (``linalg.linear_map(linalg.inverse(data.curvature(lam), linalg.Cholesky()))``).
    """
    return w0 - solve(jax.grad(follower_loss)(w0, data, anchor, lam))


def decoupled_weight_decay(rate: Array) -> optax.GradientTransformation:
    """``updates <- updates - rate * phi``: ``w <- (1 - rate) w + updates`` after SGD.

    Decoupled (as published): the decay does not pass through the learning rate.
    """

    def init(phi):
        del phi
        return optax.EmptyState()

    def update(updates, state, phi):
        return jax.tree.map(lambda u, p: u - rate * p, updates, phi), state

    return optax.GradientTransformation(init, update)


def adam_l2_optimizer(
    lr: Array, weight_decay: Array, eps_root: float = 0.0
) -> optax.GradientTransformation:
    """Adam with L2 weight decay added to the gradient (PyTorch's ``Adam(weight_decay=...)``).

    ``eps_root`` (optax's) goes under Adam's square root: 0 for the follower; above 0 to
    differentiate through its steps: sqrt's derivative at a zero second moment is infinite.

    Its step follows the gradient of :func:`follower_loss` with a ridge anchor
    ``lambda = weight_decay``: the decay enters as ``grad (wd/2)||phi||^2 = wd phi``.

    Adam's step count is held in the parameters' float dtype, not optax's int32: its bias
    correction ``1 - b**count`` (``b`` a Python float) raises a float to the int32 count,
    which strict dtype promotion refuses. The count is a small integer, exact in either
    dtype, and XLA converts an integer exponent to the float's dtype anyway, so every step
    is the same to the bit.
    """
    adam = optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(lr, eps_root=eps_root))

    def is_adam(state: Any) -> bool:
        return isinstance(state, optax.ScaleByAdamState)

    def init(phi: RewardParams) -> Any:
        dtype = jax.tree.leaves(phi)[0].dtype

        def float_count(state: Any) -> Any:
            return state._replace(count=state.count.astype(dtype)) if is_adam(state) else state

        return jax.tree.map(float_count, adam.init(phi), is_leaf=is_adam)

    return optax.GradientTransformation(init, adam.update)


def sgd_optimizer(hp: LinearHParams) -> optax.GradientTransformation:
    """Plain SGD with decoupled weight decay, built from traced hyperparameters."""
    return optax.chain(optax.sgd(hp.follower_lr), decoupled_weight_decay(hp.weight_decay))


def optimizer_step(
    optimizer: optax.GradientTransformation,
    loss: Callable[[RewardParams], Array],
    phi: RewardParams,
    opt_state: Any,
) -> tuple[Array, RewardParams, Any]:
    """One step of ``optimizer`` on ``loss`` from ``phi``: ``(loss(phi), phi', opt_state')``.

    The follower's update in both games: SGD with decoupled weight decay on the
    linear RM, Adam with L2 on paper-nn's network.
    """
    value, grads = jax.value_and_grad(loss)(phi)
    updates, opt_state = optimizer.update(grads, opt_state, phi)
    return value, optax.apply_updates(phi, updates), opt_state


FULL_UNROLL_STEPS = 4
"""Up to this many SGD steps per iteration are unrolled rather than looped."""


class FollowerState(NamedTuple):
    """The follower's state: RM parameters ``w``, its data buffer, its optimizer state."""

    w: Array
    buffer: SampleBuffer
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
      steering_scale: ``state -> omega_t / omega_1``, how far the weight of the leader's
        next output has fallen since the first iteration: 1, except ``1/t`` under
        ``regime = accumulate``. The leader's steering term is scaled by it, so that
        ``gamma = 2 omega_1`` is the exact weight at every iteration.
      unroll: ``(state, theta, hp, u, K) -> w_K``, the ``sgd`` follower's parameters after
        ``K`` of its optimizer steps from ``state`` on the data it trains on if the leader
        plays ``theta`` (its update with ``K`` steps; the ``unrolled`` rung differentiates it).
    """

    init: Callable[..., FollowerState]
    data: Callable[..., FollowerData]
    anchor: Callable[[FollowerState], Array]
    update: Callable[..., FollowerState]
    steering_scale: Callable[[FollowerState], Array | float]
    unroll: Callable[..., Array]


def follower_buffer(spec: LinearSpec, dtype: Any) -> SampleBuffer:
    """The linear game's empty buffer: ``regime_blocks(spec.regime, B, T)`` blocks of one
    output (no block for the population follower, whose ``B`` is 0)."""
    return empty_buffer(regime_blocks(spec.regime, spec.buffer_size, spec.steps), spec.dim, dtype)


def make_follower(spec: LinearSpec) -> Follower:
    """The follower named by ``spec.follower``, with ``spec``'s buffer, regime, steps and
    anchor; every sample's weight is ``spec.sample_weight`` of the buffer's count."""

    def newest_weight(state: FollowerState) -> Array | float:
        """``omega_t`` once the leader's next output joins ``state.buffer`` (which holds one
        more sample then: ``accumulate`` never overwrites; ``window`` ignores the count)."""
        return spec.sample_weight(jnp.sum(state.buffer.filled) + 1.0)

    def steering_scale(state: FollowerState) -> Array | float:
        return newest_weight(state) / spec.new_sample_weight

    def anchor(state: FollowerState) -> Array:
        return state.w if spec.anchor == "proximal" else jnp.zeros_like(state.w)

    def init(w0: Array, hp: LinearHParams) -> FollowerState:
        opt_state = sgd_optimizer(hp).init(w0) if spec.follower == "sgd" else optax.EmptyState()
        return FollowerState(w0, follower_buffer(spec, w0.dtype), opt_state)

    def data(state: FollowerState, theta: Array, hp: LinearHParams, u: Utility) -> FollowerData:
        if spec.follower == "population":
            return PopulationData(theta, GaussianPolicy(hp.sigma), u)
        buffer = buffer_insert(state.buffer, theta, utility(u, theta))
        return SampleData(buffer, newest_weight(state))

    def sgd_steps(state: FollowerState, new_data: FollowerData, hp: LinearHParams, steps: int):
        """``(w, opt_state)`` after ``steps`` SGD steps from ``state`` on ``new_data``."""
        optimizer = sgd_optimizer(hp)

        def sgd_step(carry, _):
            _, w, opt_state = optimizer_step(optimizer, new_data.loss, *carry)
            return (w, opt_state), None

        carry, _ = jax.lax.scan(
            sgd_step,
            (state.w, state.opt_state),
            length=steps,
            unroll=steps <= FULL_UNROLL_STEPS,  # no inner loop for few steps
        )
        return carry

    def unroll(state: FollowerState, theta: Array, hp: LinearHParams, u: Utility, steps: int):
        return sgd_steps(state, data(state, theta, hp, u), hp, steps)[0]

    def update(state: FollowerState, theta: Array, hp: LinearHParams, u: Utility) -> FollowerState:
        new_data = data(state, theta, hp, u)
        buffer = new_data.buffer if isinstance(new_data, SampleData) else state.buffer
        if spec.follower == "sgd":
            w, opt_state = sgd_steps(state, new_data, hp, spec.follower_steps)
            return FollowerState(w, buffer, opt_state)
        solve = linalg.linear_map(linalg.inverse(new_data.curvature(hp.lam), linalg.Cholesky()))
        w = best_response(new_data, anchor(state), hp.lam, solve, state.w)
        return FollowerState(w, buffer, state.opt_state)

    return Follower(init, data, anchor, update, steering_scale, unroll)
