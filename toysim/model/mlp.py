"""A small MLP reward model as a pure ``init``/``apply`` pair (docs/theory/neural.md).

``r_phi(y) = W_L softplus(... softplus(W_1 y + b_1) ...) + b_L``, with
parameters ``phi`` a list of ``(W, b)`` pairs (a pytree): no framework beyond JAX.
:func:`toysim.model.interface.mlp_reward_model` wraps it as a reward model.
The published network is 10 -> 32 -> 32 -> 1 with softplus activations,
weights drawn from ``N(0, 0.1^2)`` and zero biases.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import Array

from toysim.model.sampling import standard_normal

MLPParams = list[tuple[Array, Array]]


def mlp_init(key: Array, sizes: Sequence[int], scale: float = 0.1, dtype=None) -> MLPParams:
    """Layers ``sizes[0] -> ... -> sizes[-1]``: weights ``N(0, scale^2)``, biases 0."""
    dtype = dtype or jnp.result_type(float)
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        (scale * standard_normal(k, (n_in, n_out), dtype), jnp.zeros(n_out, dtype))
        for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def mlp_reward(phi: MLPParams, y: Array) -> Array:
    """``r_phi(y)``: softplus hidden layers, a linear scalar output; ``y`` is ``[..., d]``."""
    h = y
    for w, b in phi[:-1]:
        h = jax.nn.softplus(h @ w + b)
    w, b = phi[-1]
    return (h @ w + b)[..., 0]
