"""Signal and noise coordinates of a policy output.

Two coordinate choices:

* ``blocks`` (as published): signal ``= ||y[:k]||``, noise ``= ||y[k:]||``.
* ``projection``: signal ``= y . m / ||m||``, noise ``= ||y - signal m/||m|| ||``,
  so that ``||y - m||^2 = (signal - ||m||)^2 + noise^2`` holds exactly and a
  contour of ``U`` drawn over (signal, noise) is the true utility of every
  plotted point.
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
