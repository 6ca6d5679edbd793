"""Krylov solvers from matrix-vector products alone: CG and MINRES (and the truncated
Neumann series, :func:`neumann_series`, a fixed number of Richardson steps).

Both start from ``x_0`` (0 unless a warm start is given) and return
``(x, iterations, relative residual, backward error)``:

* the relative residual ``||b - A x_k|| / ||b||``, from the residual their
  recurrence carries (CG's updated ``r_k``, MINRES's ``phibar_k``), not
  recomputed; in exact arithmetic it equals the true one, and in floating point
  it drifts from it by a few ``eps cond(A)`` (tests/linalg/test_linalg.py compares the
  two);
* the normwise backward error ``eta_k = ||b - A x_k|| / (||A|| ||x_k|| + ||b||)``
  (Rigal and Gaches 1967; Higham, *Accuracy and Stability*, Thm 7.1): ``x_k``
  solves ``(A + E) x_k = b + f`` exactly for some ``||E|| <= eta_k ||A||``,
  ``||f|| <= eta_k ||b||``. ``||A||`` is estimated, as SciPy's ``minres`` does
  (without its ``||b||^2`` term), by the Frobenius norm of the Lanczos
  tridiagonal ``T_k = V_k^T A V_k`` built so far (for CG, from its step
  lengths), which lies between ``||A||_2`` (once the extreme eigenvalues are
  found) and ``||A||_F`` (up to rounding: once the basis loses orthogonality,
  ``T_k`` repeats converged eigenvalues).

Where they stop differs:

* CG needs ``A`` symmetric positive definite and stops when the relative
  residual is at most ``tol`` (or after ``maxiter``). On an indefinite ``A`` it
  may stall or diverge, and says so: its residual stays above ``tol``.
* MINRES (Paige and Saunders 1975, as in SciPy's ``minres`` without a
  preconditioner) needs ``A`` symmetric only: it minimises ``||b - A x||`` over
  the Krylov space, so its residual never increases, definite or not. It stops
  when the backward error is at most ``tol``: on a nearly singular ``A`` the
  relative residual of the best iterate can stay far above any tolerance while
  ``x_k`` already solves a system within ``tol`` of ``A`` (docs/theory/neural.md
  measures both along paper-nn runs).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

MatVec = Callable[[Array], Array]


def safe_norm(b: Array) -> Array:
    """``||b||``, or 1 when ``b = 0`` (so that a relative residual of ``b = 0`` is ``0 / 1``)."""
    norm = jnp.linalg.norm(b)
    return jnp.where(norm > 0, norm, jnp.ones_like(norm))


def initial_residual(matvec: MatVec, b: Array, x0: Array | None) -> tuple[Array, Array]:
    """``(x_0, r_0 = b - A x_0)``: ``(0, b)`` without a warm start (no product spent)."""
    if x0 is None:
        return jnp.zeros_like(b), b
    return x0, b - matvec(x0)


def backward_error(residual_norm: Array, a_norm: Array, x: Array, b: Array) -> Array:
    """``eta = ||b - A x|| / (||A|| ||x|| + ||b||)``, 0 when ``A x = b = 0``.

    Args:
      residual_norm: ``||b - A x||``.
      a_norm: ``||A||`` (or an estimate).
      x: the iterate.
      b: the right-hand side.

    Returns:
      The scalar ``eta``.
    """
    scale = a_norm * jnp.linalg.norm(x) + jnp.linalg.norm(b)
    zero = scale == 0  # a NaN scale (a failed solve) stays NaN
    return jnp.where(zero, 0.0, residual_norm / jnp.where(zero, 1.0, scale))


def conjugate_gradient(
    matvec: MatVec, b: Array, tol: float, maxiter: int, x0: Array | None = None
) -> tuple[Array, Array, Array, Array]:
    """Conjugate gradients on ``A x = b``, ``A = matvec`` symmetric positive definite.

    Step ``k`` with length ``alpha_k`` and ``beta_k = ||r_{k+1}||^2 / ||r_k||^2`` adds
    row ``k`` of the Lanczos tridiagonal, ``T_kk = 1/alpha_k + beta_{k-1}/alpha_{k-1}``,
    ``T_{k,k+1} = sqrt(beta_k) / alpha_k``, to the estimate of ``||A||_F``.

    Args:
      matvec: ``v -> A v``.
      b: the right-hand side, shape ``[d]``.
      tol: relative tolerance on ``||r_k|| / ||b||``.
      maxiter: the iteration budget.
      x0: the starting point (a warm start), or ``None`` for 0.

    Returns:
      ``(x, iterations, ||r_k|| / ||b||, backward error)``.
    """
    b_norm = jnp.linalg.norm(b)
    zero = jnp.zeros((), b.dtype)
    x, r = initial_residual(matvec, b, x0)
    # x, r, p, r.r, beta_{k-1} / alpha_{k-1}, sum of squares of T_k, k
    state = (x, r, r, r @ r, zero, zero, jnp.asarray(0, jnp.int32))

    def not_done(state):
        r, k = state[1], state[6]
        return (jnp.linalg.norm(r) > tol * b_norm) & (k < maxiter)

    def step(state):
        x, r, p, rr, previous, tnorm2, k = state
        ap = matvec(p)
        alpha = rr / (p @ ap)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = r @ r
        beta = rr_new / rr
        p = r + beta * p
        tnorm2 = tnorm2 + (1.0 / alpha + previous) ** 2 + 2.0 * beta / alpha**2
        return x, r, p, rr_new, beta / alpha, tnorm2, k + 1

    x, r, _, _, _, tnorm2, k = jax.lax.while_loop(not_done, step, state)
    r_norm = jnp.linalg.norm(r)
    return x, k, r_norm / safe_norm(b), backward_error(r_norm, jnp.sqrt(tnorm2), x, b)


def minres(
    matvec: MatVec, b: Array, tol: float, maxiter: int, x0: Array | None = None
) -> tuple[Array, Array, Array, Array]:
    """MINRES on ``A x = b``, ``A = matvec`` symmetric (definite or not).

    The Lanczos process builds an orthonormal basis ``v_k`` of the Krylov space
    and a tridiagonal ``T_k``; Givens rotations keep its QR factorisation, and
    ``x_k`` minimises ``||b - A x||`` over the space, with ``||b - A x_k|| =
    phibar_k`` read off the rotations. It stops when ``phibar_k <= tol (||T_k||_F
    ||x_k|| + ||b||)``: the backward error within ``tol``. From a warm start
    ``x_0`` it solves ``A d = r_0 = b - A x_0`` the same way and returns ``x_0 + d``.

    Args:
      matvec: ``v -> A v``.
      b: the right-hand side, shape ``[d]``.
      tol: tolerance on the backward error ``phibar_k / (||T_k||_F ||x_k|| + ||b||)``.
      maxiter: the iteration budget.
      x0: the starting point (a warm start), or ``None`` for 0.

    Returns:
      ``(x, iterations, phibar_k / ||b||, backward error)``.
    """
    dtype = b.dtype
    zero, one = jnp.zeros((), dtype), jnp.ones((), dtype)
    x, r = initial_residual(matvec, b, x0)
    beta1 = jnp.linalg.norm(r)
    b_norm = jnp.linalg.norm(b)
    zeros = jnp.zeros_like(b)
    # x, r1, r2, w, w2, oldb, beta, dbar, epsln, phibar, cs, sn, sum of squares of T_k, k
    state = (x, r, r, zeros, zeros, zero, beta1, zero, zero, beta1, -one, zero, zero)
    state = (*state, jnp.asarray(0, jnp.int32))

    def not_done(state):
        x, phibar, tnorm2, k = state[0], state[9], state[12], state[13]
        limit = tol * (jnp.sqrt(tnorm2) * jnp.linalg.norm(x) + b_norm)
        return (phibar > limit) & (k < maxiter)

    def step(state):
        x, r1, r2, w, w2, oldb, beta, dbar, epsln, phibar, cs, sn, tnorm2, k = state
        v = r2 / jnp.where(beta > 0, beta, one)
        y = matvec(v) - jnp.where(oldb > 0, beta / jnp.where(oldb > 0, oldb, one), zero) * r1
        alpha = v @ y
        y = y - (alpha / jnp.where(beta > 0, beta, one)) * r2
        r1, r2, oldb = r2, y, beta
        beta = jnp.linalg.norm(y)
        tnorm2 = tnorm2 + alpha**2 + 2.0 * beta**2  # row k of T: alpha_k, beta_{k+1} twice
        oldeps = epsln
        delta = cs * dbar + sn * alpha
        gbar = sn * dbar - cs * alpha
        epsln = sn * beta
        dbar = -cs * beta
        gamma = jnp.maximum(jnp.hypot(gbar, beta), jnp.finfo(dtype).eps)
        cs, sn = gbar / gamma, beta / gamma
        phi = cs * phibar
        phibar = sn * phibar
        w1, w2 = w2, w
        w = (v - oldeps * w1 - delta * w2) / gamma
        x = x + phi * w
        return x, r1, r2, w, w2, oldb, beta, dbar, epsln, phibar, cs, sn, tnorm2, k + 1

    final = jax.lax.while_loop(not_done, step, state)
    x, phibar, tnorm2, k = final[0], final[9], final[12], final[13]
    return x, k, phibar / safe_norm(b), backward_error(phibar, jnp.sqrt(tnorm2), x, b)


def neumann_series(matvec: MatVec, b: Array, step: Array, terms: int) -> tuple[Array, Array]:
    """``x_K = alpha sum_{k=0}^{K-1} (I - alpha A)^k b``, the truncated Neumann series of
    ``A^{-1} b``, and its residual ``b - A x_K = (I - alpha A)^K b``.

    Richardson's iteration from 0, ``x_{k+1} = x_k + alpha r_k``, ``r_{k+1} = r_k - alpha A
    r_k``: one product a term, no inner products, so it is differentiated by autodiff
    through its ``K`` steps (the derivative of the truncated series itself, not of ``A^{-1}``).

    Args:
      matvec: ``v -> A v``.
      b: the right-hand side, shape ``[d]``.
      step: ``alpha``.
      terms: ``K >= 1``.

    Returns:
      ``(x_K, r_K)``.
    """

    def term(carry, _):
        x, r = carry
        return (x + step * r, r - step * matvec(r)), None

    (x, r), _ = jax.lax.scan(term, (jnp.zeros_like(b), b), length=terms)
    return x, r
