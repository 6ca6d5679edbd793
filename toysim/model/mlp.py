"""A small MLP reward model as a pure ``init``/``apply`` pair (docs/theory/neural.md).

``r_phi(y) = W_L softplus(... softplus(W_1 y + b_1) ...) + b_L``, with
parameters ``phi`` a list of ``(W, b)`` pairs (a pytree): no framework beyond JAX;
:func:`mlp_gradient_gram` and :func:`mlp_gradient_square_sum` give the Gram matrix and the
weighted sum of squares of its per-sample gradients from the layer structure, for the
Gauss-Newton rung's Woodbury solve and the diagonal rung.
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


def mlp_layer_gradients(phi: MLPParams, ys: Array) -> tuple[list[Array], list[Array]]:
    """``(h_l, delta_l)`` per layer: each layer's inputs and ``delta_li = dr(y_i)/dz_li``.

    The gradient of ``r(y_i)`` in layer ``l``'s ``(W_l, b_l)`` is ``(h_li delta_li^T,
    delta_li)``, with ``z_li = h_li W_l + b_l`` the pre-activation; one batched forward and
    backward pass gives every sample's factors without forming its ``P`` gradient entries.

    Args:
      phi: the parameters.
      ys: the samples, ``[n, d]``.

    Returns:
      Two lists over layers of ``[n, in_l]`` and ``[n, out_l]`` arrays.
    """

    def reward_sum(shifts: list[Array]) -> tuple[Array, list[Array]]:
        h, inputs = ys, []
        for (w, b), shift in zip(phi[:-1], shifts[:-1], strict=True):
            inputs.append(h)
            h = jax.nn.softplus(h @ w + b + shift)
        inputs.append(h)
        w, b = phi[-1]
        return jnp.sum((h @ w + b + shifts[-1])[..., 0]), inputs  # r is output 0

    shifts = [jnp.zeros((ys.shape[0], w.shape[1]), ys.dtype) for w, _ in phi]
    deltas, inputs = jax.grad(reward_sum, has_aux=True)(shifts)
    return inputs, deltas


def mlp_gradient_gram(phi: MLPParams, ys: Array) -> Array:
    """``G_ij = grad_phi r(y_i) . grad_phi r(y_j) = sum_l (h_li . h_lj + 1)(delta_li . delta_lj)``.

    The Gram matrix of the per-sample gradients from the layer structure
    (:func:`mlp_layer_gradients`). That costs ``n^2 sum_l (in_l + out_l)`` instead of the
    ``n^2 P`` of ``J J^T`` with the Jacobian ``J`` formed (the trick behind per-sample
    gradient norms in differentially private training).

    Args:
      phi: the parameters.
      ys: the samples, ``[n, d]``.

    Returns:
      ``G``, ``[n, n]``.
    """
    inputs, deltas = mlp_layer_gradients(phi, ys)
    return sum((h @ h.T + 1.0) * (d @ d.T) for h, d in zip(inputs, deltas, strict=True))


def mlp_gradient_square_sum(phi: MLPParams, ys: Array, weights: Array) -> MLPParams:
    """``sum_i c_i (grad_phi r(y_i))^2`` (elementwise square), shaped like ``phi``.

    In layer ``l`` the sum is ``((h_l^2)^T (c delta_l^2), c^T delta_l^2)`` for the weights
    and the bias (:func:`mlp_layer_gradients`): ``n sum_l in_l out_l`` multiply-adds, the
    diagonal of ``J^T diag(c) J`` without the ``[n, P]`` Jacobian.

    Args:
      phi: the parameters.
      ys: the samples, ``[n, d]``.
      weights: ``c``, ``[n]``.

    Returns:
      A pytree like ``phi``.
    """
    inputs, deltas = mlp_layer_gradients(phi, ys)
    squares = [weights[:, None] * d**2 for d in deltas]
    return [(h.T**2 @ s, jnp.sum(s, axis=0)) for h, s in zip(inputs, squares, strict=True)]
