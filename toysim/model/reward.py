"""The linear reward model, the follower's squared loss and its anchor.

See docs/theory/game.md: ``r_w(y) = w . y`` (the capacity gap: a hyperplane can
never fit a Gaussian bump), per-sample loss ``l(w; y) = (r_w(y) - U(y))^2`` and
the anchor term ``(lambda/2) ||w - w_bar||^2`` with ``w_bar = 0`` (ridge) or the
current parameters (proximal).
"""

from __future__ import annotations

from jax import Array


def linear_reward(w: Array, y: Array) -> Array:
    """``r_w(y) = w . y``; ``y`` has shape ``[..., d]``."""
    return y @ w


def squared_loss(w: Array, y: Array, label: Array) -> Array:
    """``l(w; y) = (r_w(y) - U(y))^2`` with the human label ``U(y)`` given."""
    return (linear_reward(w, y) - label) ** 2


def oracle_free_loss(w: Array, y: Array) -> Array:
    """``2 r_w(y)``: the loss whose ``w``-gradient is ``2 * 1 * grad_w r_w(y)``.

    Switch ``oracle = none`` (docs/theory/relaxations.md): in ``grad_w l = 2 (r - U) grad_w r``
    the unobservable residual ``r - U`` is replaced by the constant 1.
    """
    return 2.0 * linear_reward(w, y)


def anchor_penalty(w: Array, anchor: Array, lam: Array) -> Array:
    """``(lambda/2) ||w - w_bar||^2``: ridge (``w_bar = 0``) or proximal; ``w`` a flat vector."""
    diff = w - anchor
    return 0.5 * lam * diff @ diff
