"""Random draws that do not depend on the floating-point precision.

``jax.random.normal(key, shape, float64)`` consumes 64 random bits per
number and ``float32`` 32 bits, so one key gives two unrelated draws in the
two precisions. toysim draws every Gaussian in float32 and casts it: the same
seed then starts the same game in float32 and float64 (the cast up is exact),
and switching precision changes a run only by rounding.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import DTypeLike


def standard_normal(key: Array, shape: tuple[int, ...], dtype: DTypeLike | None = None) -> Array:
    """``eps ~ N(0, I)`` of ``shape``: drawn in float32, returned in ``dtype``.

    Args:
      key: a ``jax.random`` key.
      shape: the shape of the draw.
      dtype: the returned dtype (default: JAX's default float, float32 or
        float64 when x64 is on).
    """
    dtype = dtype or jnp.result_type(float)
    return jax.random.normal(key, shape, dtype=jnp.float32).astype(dtype)
