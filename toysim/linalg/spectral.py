"""What a solve may need to know about ``A`` beyond its products: extreme eigenvalues and
the diagonal, from matrix-vector products alone.

* :func:`lanczos_tridiagonal` and :func:`extreme_eigenvalues`: ``k`` steps of the
  Lanczos process (with full reorthogonalisation) from a random start give a
  ``k x k`` tridiagonal ``T_k`` whose eigenvalues (Ritz values) approach ``A``'s
  extreme eigenvalues from inside: ``lambda_min(A) <= min eig T_k`` and
  ``max eig T_k <= lambda_max(A)``, with equality once ``k`` reaches ``A``'s size
  (or the start vector's Krylov space is invariant).
* :func:`basis_diagonal`: ``diag A`` exactly, from ``d`` products with the basis vectors.
* :func:`hutchinson_diagonal`: ``diag A`` estimated from ``m`` products with
  Rademacher vectors ``z``: ``E[z * A z] = diag A``, exact for every draw when
  ``A`` is diagonal.
* :func:`spectral_bound`: an upper bound on ``lambda_max(A)`` from ``A``'s structure (the
  Neumann series' step, :class:`toysim.linalg.Neumann`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from toysim.linalg.operators import (
    DampedOperator,
    DiagonalOperator,
    LinearOperator,
    LowRankPlusDiagonal,
)


def lanczos_tridiagonal(operator: LinearOperator, start: Array, steps: int) -> Array:
    """``T_k = Q_k^T A Q_k``, tridiagonal, from ``k = steps`` Lanczos steps from ``start``.

    Each new vector is orthogonalised against all previous ones (twice), so
    ``Q_k`` stays orthonormal in floating point. If the Krylov space closes
    early (an invariant subspace), the remaining diagonal entries repeat
    ``T_11 = q_1^T A q_1``, which lies between the Ritz values found, so the
    extreme eigenvalues of ``T_k`` are those of the closed block.

    Args:
      operator: a symmetric ``A``.
      start: the nonzero start vector, shape ``[d]``.
      steps: ``k``, at least 1.

    Returns:
      ``T_k``, shape ``[k, k]``.
    """
    dtype = start.dtype
    basis = jnp.zeros((steps, start.shape[-1]), dtype)
    q = start / jnp.linalg.norm(start)
    eps = jnp.finfo(dtype).eps

    def step(carry, k):
        basis, q, scale, active = carry
        basis = basis.at[k].set(q)
        w = operator.matvec(q)
        alpha = q @ w
        for _ in range(2):
            w = w - basis.T @ (basis @ w)
        beta = jnp.linalg.norm(w)
        scale = jnp.maximum(scale, jnp.maximum(jnp.abs(alpha), beta))
        next_active = active & (beta > eps**0.75 * scale)
        q = jnp.where(next_active, w / jnp.where(beta > 0, beta, 1.0), jnp.zeros_like(w))
        return (basis, q, scale, next_active), (alpha, jnp.where(next_active, beta, 0.0), active)

    init = (basis, q, jnp.zeros((), dtype), jnp.asarray(True))
    _, (alphas, betas, active) = jax.lax.scan(step, init, jnp.arange(steps))
    alphas = jnp.where(active, alphas, alphas[0])
    return jnp.diag(alphas) + jnp.diag(betas[:-1], 1) + jnp.diag(betas[:-1], -1)


def extreme_eigenvalues(operator: LinearOperator, key: Array, steps: int) -> tuple[Array, Array]:
    """``(smallest, largest)`` Ritz values of ``steps`` Lanczos steps from a random start.

    Estimates of ``A``'s extreme eigenvalues from inside the spectrum: the
    smallest is at least ``lambda_min(A)``, the largest at most ``lambda_max(A)``
    (equal once ``steps`` reaches ``A``'s size).

    Args:
      operator: a symmetric ``A``.
      key: the ``jax.random`` key of the Gaussian start vector.
      steps: the Lanczos steps (products with ``A``).

    Returns:
      The two scalars.
    """
    dtype = jnp.result_type(float)
    start = jax.random.normal(key, (operator.size,), dtype)
    ritz = jnp.linalg.eigvalsh(lanczos_tridiagonal(operator, start, steps))
    return ritz[0], ritz[-1]


def basis_diagonal(operator: LinearOperator) -> Array:
    """``diag A`` exactly: ``A_ii = e_i . A e_i``, from ``d`` products (``vmap``-ed).

    Args:
      operator: ``A``.

    Returns:
      ``diag A``, shape ``[d]``.
    """
    eye = jnp.eye(operator.size, dtype=jnp.result_type(float))
    return jnp.diagonal(jax.vmap(operator.matvec)(eye))


def hutchinson_diagonal(operator: LinearOperator, key: Array, probes: int) -> Array:
    """``diag A ~ (1/m) sum_j z_j * A z_j`` over ``m = probes`` Rademacher vectors ``z_j``.

    Unbiased; its error on ``A_ii`` is ``(1/m) sum_j sum_{l != i} A_il z_ji z_jl``,
    so it is exact when ``A`` is diagonal.

    Args:
      operator: ``A``.
      key: the ``jax.random`` key of the probes.
      probes: ``m``, at least 1.

    Returns:
      The estimate, shape ``[d]``.
    """
    dtype = jnp.result_type(float)
    z = jax.random.rademacher(key, (probes, operator.size), dtype)
    return jnp.mean(z * jax.vmap(operator.matvec)(z), axis=0)


def spectral_bound(operator: LinearOperator) -> Array:
    """An upper bound on ``lambda_max(A)`` of a symmetric ``A``, from its structure.

    * ``alpha I + C^T C``: ``alpha + tr(C C^T)`` (``C^T C`` is positive semi-definite, so its
      largest eigenvalue is at most its trace, the Gram matrix's);
    * ``diag(a)``: ``max_i a_i`` (exact);
    * ``A + mu I``: the bound of ``A`` plus ``mu``;
    * any other ``A`` (a dense matrix, a Hessian known by its products): Gershgorin's
      ``max_i sum_j |A_ij|`` of the formed matrix (``d`` products for a Hessian).

    Args:
      operator: a symmetric ``A``.

    Returns:
      The scalar bound.
    """
    if isinstance(operator, LowRankPlusDiagonal):
        return operator.alpha + jnp.trace(operator.factor_gram())
    if isinstance(operator, DiagonalOperator):
        return jnp.max(operator.diagonal)
    if isinstance(operator, DampedOperator):
        return spectral_bound(operator.operator) + operator.damping
    return jnp.max(jnp.sum(jnp.abs(operator.dense()), axis=-1))
