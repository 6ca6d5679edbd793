"""The follower's Hessian as a structured operator, and the solves FPO uses.

For the linear reward model every follower loss (docs/theory/game.md)
has the Hessian

    H = alpha I + C^T C,   C of shape [n, d],

with ``alpha = lambda`` and ``C = sqrt(2 omega_i) y_i`` for a buffer of samples,
or ``alpha = lambda + 2 sigma^2`` and ``C = sqrt(2) theta`` for the population
of a Gaussian policy. ``H^{-1} v`` is computed by a solve, never an explicit
inverse: Woodbury with an ``n x n`` Cholesky factor when ``n < d``, a dense
``d x d`` Cholesky otherwise.

The steering term takes the solve as an argument (as in jaxopt's implicit
differentiation): ``exact_solve(H)`` or ``identity_solve``, the relaxation
``H -> I`` (docs/theory/relaxations.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.linalg import cho_factor, cho_solve

Solve = Callable[[Array], Array]


class LowRankCurvature(NamedTuple):
    """``H = alpha I + C^T C`` (symmetric, positive definite when ``alpha > 0``).

    Attributes:
      alpha: scalar ``alpha``.
      factor: ``C``, shape ``[n, d]``.
    """

    alpha: Array
    factor: Array

    def dense(self) -> Array:
        """The ``[d, d]`` matrix ``alpha I + C^T C`` (for tests and small d)."""
        d = self.factor.shape[-1]
        return self.alpha * jnp.eye(d) + self.factor.T @ self.factor

    def matvec(self, v: Array) -> Array:
        """``H v = alpha v + C^T (C v)``."""
        return self.alpha * v + self.factor.T @ (self.factor @ v)


SMALL_GRAM = 8
"""Gram matrices up to this size are factorised by unrolled elementwise code."""


def small_cholesky_solver(a: Array) -> Solve:
    """``b -> a^{-1} b`` for a small SPD ``a`` (``n <= SMALL_GRAM``), by an unrolled Cholesky.

    Every operation is elementwise on scalars, so under ``vmap`` it runs as
    vector arithmetic over the batch; a batched LAPACK call would instead
    loop over the batch one tiny matrix at a time.
    """
    n = a.shape[0]
    low = [[None] * n for _ in range(n)]
    for j in range(n):
        low[j][j] = jnp.sqrt(a[j, j] - sum(low[j][k] ** 2 for k in range(j)))
        for i in range(j + 1, n):
            low[i][j] = (a[i, j] - sum(low[i][k] * low[j][k] for k in range(j))) / low[j][j]

    def solve(b: Array) -> Array:
        z = []
        for i in range(n):
            z.append((b[i] - sum(low[i][k] * z[k] for k in range(i))) / low[i][i])
        x = [None] * n
        for i in reversed(range(n)):
            x[i] = (z[i] - sum(low[k][i] * x[k] for k in range(i + 1, n))) / low[i][i]
        return jnp.stack(x)

    return solve


def cholesky_solver(a: Array) -> Solve:
    """``b -> a^{-1} b`` for SPD ``a``: unrolled when small, LAPACK otherwise."""
    if a.shape[0] <= SMALL_GRAM:
        return small_cholesky_solver(a)
    chol = cho_factor(a, lower=True)
    return lambda b: cho_solve(chol, b)


def exact_solve(h: LowRankCurvature) -> Solve:
    """``v -> H^{-1} v`` by Cholesky; Woodbury when the rank ``n`` is below ``d``.

    Woodbury: ``H^{-1} v = (v - C^T (alpha I_n + C C^T)^{-1} C v) / alpha``.
    The factorisation happens once; the returned function reuses it.
    """
    n, d = h.factor.shape
    if n < d:
        gram_solve = cholesky_solver(h.alpha * jnp.eye(n) + h.factor @ h.factor.T)
        return lambda v: (v - h.factor.T @ gram_solve(h.factor @ v)) / h.alpha
    return cholesky_solver(h.dense())


def identity_solve(v: Array) -> Array:
    """The relaxation ``H -> I``: ``v -> v``."""
    return v


def trace_of_solve(solve: Solve, d: int) -> Array:
    """``tr(M)`` for the linear map ``M = solve``, as ``sum_i e_i . M e_i``."""
    return jnp.trace(jax.vmap(solve)(jnp.eye(d)))
