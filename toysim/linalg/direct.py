"""Direct solvers: a factorisation computed once, then triangular solves.

* Cholesky for symmetric positive definite ``A``. On a
  :class:`~toysim.linalg.operators.LowRankPlusDiagonal` ``alpha I + C^T C``
  with ``C`` of shape ``[n, d]`` and ``n < d`` it factors the ``n x n`` Gram
  matrix instead (Woodbury):
  ``A^{-1} v = (v - C^T (alpha I_n + C C^T)^{-1} C v) / alpha``.
  Gram matrices up to ``SMALL_GRAM`` are factored by unrolled scalar code,
  so that under ``vmap`` the factorisation runs as vector arithmetic over the
  batch (a batched LAPACK call would loop over tiny matrices one at a time).
* On a :class:`~toysim.linalg.operators.DiagonalOperator` both divide by the diagonal.
* LU (partial pivoting) for any non-singular ``A``, with its transposed solve.

Both form the dense matrix with ``operator.dense()`` unless Woodbury applies.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from jax import Array
from jax.scipy.linalg import cho_factor, cho_solve, lu_factor, lu_solve

from toysim.linalg.operators import (
    DampedOperator,
    DiagonalOperator,
    LinearOperator,
    LowRankPlusDiagonal,
)

LinearMap = Callable[[Array], Array]

SMALL_GRAM = 8
"""Gram matrices up to this size are factored by unrolled elementwise code."""


def small_cholesky_map(a: Array) -> LinearMap:
    """``b -> a^{-1} b`` for a small SPD ``a`` (``n <= SMALL_GRAM``), by an unrolled Cholesky.

    Every operation is elementwise on scalars, so under ``vmap`` it runs as
    vector arithmetic over the batch.

    Args:
      a: the ``[n, n]`` symmetric positive definite matrix.

    Returns:
      The map ``b -> a^{-1} b`` (forward then backward substitution).
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


def dense_cholesky_map(a: Array) -> LinearMap:
    """``b -> a^{-1} b`` for a dense SPD ``a``: unrolled when ``a`` is small, LAPACK otherwise.

    Args:
      a: the ``[n, n]`` symmetric positive definite matrix.

    Returns:
      The map, reusing one factorisation.
    """
    if a.shape[0] <= SMALL_GRAM:
        return small_cholesky_map(a)
    chol = cho_factor(a, lower=True)
    return lambda b: cho_solve(chol, b)


def low_rank_of(operator: LinearOperator) -> LowRankPlusDiagonal | None:
    """``operator`` as ``alpha I + C^T C`` (damping folded into ``alpha``), or ``None``."""
    if isinstance(operator, LowRankPlusDiagonal):
        return operator
    if isinstance(operator, DampedOperator):
        inner = low_rank_of(operator.operator)
        if inner is not None:
            return inner._replace(alpha=inner.alpha + operator.damping)
    return None


def cholesky_map(operator: LinearOperator) -> LinearMap:
    """``b -> A^{-1} b`` by Cholesky; by Woodbury when ``A = alpha I + C^T C`` has rank ``n < d``.

    Args:
      operator: a symmetric positive definite ``A``.

    Returns:
      The map; the factorisation happens once, here.
    """
    if isinstance(operator, DiagonalOperator):
        return lambda b: b / operator.diagonal
    low_rank = low_rank_of(operator)
    if low_rank is not None and low_rank.factor.shape[0] < low_rank.factor.shape[1]:
        alpha, gram = low_rank.alpha, low_rank.factor_gram()
        gram_solve = dense_cholesky_map(alpha * jnp.eye(gram.shape[0], dtype=gram.dtype) + gram)

        def woodbury(v: Array) -> Array:
            return (
                v - low_rank.apply_factor_transpose(gram_solve(low_rank.apply_factor(v)))
            ) / alpha

        return woodbury
    return dense_cholesky_map(operator.dense())


def lu_maps(operator: LinearOperator) -> tuple[LinearMap, LinearMap]:
    """``(b -> A^{-1} b, b -> A^{-T} b)`` from one LU factorisation with partial pivoting.

    Args:
      operator: a non-singular ``A``.

    Returns:
      The solve and the transposed solve.
    """
    if isinstance(operator, DiagonalOperator):
        divide = lambda b: b / operator.diagonal  # noqa: E731 (symmetric: one map twice)
        return divide, divide
    factors = lu_factor(operator.dense())
    return (lambda b: lu_solve(factors, b)), (lambda b: lu_solve(factors, b, trans=1))
