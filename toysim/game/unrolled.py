"""The ``unrolled`` rung in the sampled-buffer game: the follower's response through ``K`` of
its own optimizer steps, differentiated by autodiff.

See docs/theory/exact-fpo.md. The follower's next data is its buffer with the policy's new
block written over the oldest; for a leader sample ``y`` (an output, or a pair) the rung lets
``y`` stand for that block (``samples_per_step`` copies, labelled with their expected labels:
``U(y)``, or a pair's Bradley-Terry probability, as the steering term of the other rungs
labels them), so that ``y`` carries a block's weight ``omega = samples_per_step /
buffer_size`` in the follower's mean loss once the buffer is full. From ``phi_s`` and the
follower's Adam state the follower takes ``K`` steps of its own optimizer on that buffer,

    phi_K(y) = step^K(phi_s; buffer + block(y)),

and the steering penalty is ``S_K(y) = -g^T phi_K(y) / (2 omega)`` with ``g = grad_phi
r_{phi_K(theta)}(theta)`` held fixed (``theta`` the policy's mean; a pair ``(theta, theta)``):
with ``gamma = 2 omega`` the leader climbs ``r(y) - c ||y||^2 + g^T phi_K(y)``, whose
gradient is that of the ``K``-step lookahead ``r_{phi_K(y)}`` at ``phi_K(theta)``. Each step
is checkpointed (``jax.checkpoint``): the backward pass recomputes a step's activations
instead of storing ``K`` of them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array
from jax.flatten_util import ravel_pytree

from toysim.game.followers import (
    BufferData,
    SampleBuffer,
    adam_l2_optimizer,
    buffer_insert,
    optimizer_step,
)
from toysim.game.sampled import SampledHParams, SampledSpec, expected_labels
from toysim.game.steering import reward_gradient
from toysim.model.interface import RewardModel, RewardParams
from toysim.model.preference import steering_view
from toysim.model.utility import Utility

UNROLL_EPS_ROOT = 1e-30
"""Adam's ``eps_root`` in the unrolled steps: it keeps the square root's derivative finite
where a parameter's gradient has been exactly 0 (an MLP's unit that no sample reaches, on the
first steps), which otherwise makes the rung's gradient NaN; against any second moment above
about 1e-14 it moves no digit of a float64 step (a float32 one: none above about 1e-23)."""


def unrolled_response(
    spec: SampledSpec,
    hp: SampledHParams,
    u: Utility,
    model: RewardModel,
    phi: RewardParams,
    opt_state: Any,
    buffer: SampleBuffer,
    y: Array,
) -> RewardParams:
    """``phi_K(y)``: ``K = spec.method.rung_steps`` steps of the follower's Adam (L2 decay)
    from ``(phi, opt_state)`` on ``buffer`` with the block standing for ``y`` written in.

    Args:
      spec: the game (``samples_per_step``, the data kind, ``K``).
      hp: its numbers (Adam's step and decay, the pairs' labeller).
      u: the utility that labels the block.
      model: the reward model the follower trains (its pairwise form on pairs).
      phi: ``phi_s``, where the steps start.
      opt_state: the follower's optimizer state.
      buffer: the follower's buffer before the new block.
      y: the leader's sample, ``[d]`` or a pair ``[2, d]``.

    Returns:
      The parameters after ``K`` steps.
    """
    block = jnp.broadcast_to(y, (spec.samples_per_step, *y.shape))
    buffer = buffer_insert(buffer, block, expected_labels(spec, hp, u, block))
    data = BufferData(model, buffer, None)
    optimizer = adam_l2_optimizer(hp.follower_lr, hp.weight_decay, eps_root=UNROLL_EPS_ROOT)

    @jax.checkpoint
    def step(carry, _):
        _, phi, state = optimizer_step(optimizer, data.loss, *carry)
        return (phi, state), None

    (phi, _), _ = jax.lax.scan(step, (phi, opt_state), length=spec.method.rung_steps)
    return phi


def unrolled_steering(
    spec: SampledSpec,
    hp: SampledHParams,
    u: Utility,
    models: tuple[RewardModel, RewardModel],
    phi: RewardParams,
    opt_state: Any,
    buffer: SampleBuffer,
    theta: Array,
) -> tuple[RewardParams, Callable[[Array], Array]]:
    """``(phi_K(theta), S_K)``: the follower's response to the policy's mean and the penalty
    ``y -> -g^T phi_K(y) / (2 omega)`` (see the module docstring).

    Args:
      spec: the game.
      hp: its numbers.
      u: the true utility.
      models: ``(model, follower_model)``, the pointwise model and the one the follower trains.
      phi: ``phi_s``, where the follower's steps start.
      opt_state: the follower's optimizer state.
      buffer: the follower's buffer before the new block.
      theta: the policy's mean.

    Returns:
      The response's parameters and the penalty.
    """
    model, follower_model = models
    response = functools.partial(
        unrolled_response, spec, hp, u, follower_model, phi, opt_state, buffer
    )
    point = theta
    if spec.data == "pairs":
        model = steering_view(model, hp.beta, hp.label_noise, spec.against_reference)
        point = jnp.stack([theta, theta])
    phi_k = response(point)
    g = jax.lax.stop_gradient(reward_gradient(model, phi_k, point))

    def penalty(y: Array) -> Array:
        return -(g @ ravel_pytree(response(y))[0]) / (2.0 * spec.new_sample_weight)

    return phi_k, penalty
