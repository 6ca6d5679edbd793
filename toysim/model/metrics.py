"""Signal and noise coordinates of a policy output, and the collapse rule of a run.

Two coordinate choices:

* ``blocks`` (as published): signal ``= ||y[:k]||``, noise ``= ||y[k:]||``.
* ``projection``: signal ``= y . m / ||m||``, noise ``= ||y - signal m/||m|| ||``,
  so that ``||y - m||^2 = (signal - ||m||)^2 + noise^2`` holds exactly and a
  contour of ``U`` drawn over (signal, noise) is the true utility of every
  plotted point.

A run has **collapsed** when its final true utility is below ``1 - COLLAPSE_DROP = 0.8``
times the highest utility it reached (:func:`collapsed`): it got somewhere good, then lost
more than a fifth of it. Every collapse count of toysim (sweeps, figures, tables, the
command line's default) is this rule.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array


def block_signal_noise(y: Array, signal_dims: int) -> tuple[Array, Array]:
    """``(||y[:k]||, ||y[k:]||)`` for ``y`` of shape ``[..., d]``."""
    signal = jnp.linalg.norm(y[..., :signal_dims], axis=-1)
    noise = jnp.linalg.norm(y[..., signal_dims:], axis=-1)
    return signal, noise


def projection_signal_noise(y: Array, ideal: Array) -> tuple[Array, Array]:
    """``(y . m_hat, ||y - (y . m_hat) m_hat||)`` with ``m_hat = m / ||m||``."""
    m_hat = ideal / jnp.linalg.norm(ideal)
    signal = y @ m_hat
    residual = y - signal[..., None] * m_hat
    return signal, jnp.linalg.norm(residual, axis=-1)


COLLAPSE_DROP = 0.2
"""The collapse rule's relative drop from the peak: collapsed means ending below 0.8 x peak."""


def collapsed(final: Array, peak: Array, drop: float | Array = COLLAPSE_DROP) -> Array:
    """``final < (1 - drop) * peak``: whether a run whose utility peaked at ``peak`` and ended
    at ``final`` collapsed (NumPy or JAX arrays, any matching shapes).

    A run that never got anywhere (an over-tight leash) is not collapsed by this rule; its
    peak stays low instead, so read the peak beside it.
    """
    return final < (1.0 - drop) * peak
