"""The linear reward model and the follower's anchor.

See docs/theory/game.md: ``r_w(y) = w . y`` (the capacity gap: a hyperplane can
never fit a Gaussian bump) and the anchor term ``(lambda/2) ||w - w_bar||^2``
with ``w_bar = 0`` (ridge) or the current parameters (proximal). The per-sample
loss ``l(w; y) = (r_w(y) - U(y))^2`` is the linear reward model's
(:func:`toysim.model.interface.linear_reward_model`).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array


def linear_reward(w: Array, y: Array) -> Array:
    """``r_w(y) = w . y``; ``y`` has shape ``[..., d]``."""
    return y @ w


def anchor_penalty(w: Array, anchor: Array | None, lam: Array) -> Array:
    """``(lambda/2) ||w - w_bar||^2`` for a flat vector ``w``; ``anchor = None`` is ``w_bar = 0``.

    The linear game passes its anchor (``w_t``, or zeros for ridge) and sums
    squares; ``None`` (paper-nn's weight decay) takes ``w . w``. The two agree
    but round differently, and each keeps the order its game has always summed in.
    """
    if anchor is None:
        return 0.5 * lam * w @ w
    return 0.5 * lam * jnp.sum((w - anchor) ** 2)
