"""Krylov solvers from matrix-vector products alone: CG and MINRES.

Both start from ``x_0`` (0 unless a warm start is given), stop when the
residual ``||b - A x_k||`` of their recurrence is at most ``tol ||b||`` or
after ``maxiter`` iterations, and return
``(x, iterations, relative residual)``. The residual is the one the recurrence
carries (CG's updated ``r_k``, MINRES's ``phibar_k``), not recomputed; in exact
arithmetic it equals ``||b - A x_k|| / ||b||``, and in floating point it drifts
from it by a few ``eps cond(A)`` (tests/test_linalg.py compares the two).

* CG needs ``A`` symmetric positive definite. On an indefinite ``A`` it may
  stall or diverge, and says so: its residual stays above ``tol``.
* MINRES (Paige and Saunders 1975, as in SciPy's ``minres`` without a
  preconditioner) needs ``A`` symmetric only: it minimises ``||b - A x||`` over
  the Krylov space, so its residual never increases, definite or not.
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


def conjugate_gradient(
    matvec: MatVec, b: Array, tol: float, maxiter: int, x0: Array | None = None
) -> tuple[Array, Array, Array]:
    """Conjugate gradients on ``A x = b``, ``A = matvec`` symmetric positive definite.

    Args:
      matvec: ``v -> A v``.
      b: the right-hand side, shape ``[d]``.
      tol: relative tolerance on ``||r_k|| / ||b||``.
      maxiter: the iteration budget.
      x0: the starting point (a warm start), or ``None`` for 0.

    Returns:
      ``(x, iterations, ||r_k|| / ||b||)``.
    """
    b_norm = jnp.linalg.norm(b)
    x, r = initial_residual(matvec, b, x0)
    state = (x, r, r, r @ r, jnp.asarray(0, jnp.int32))

    def not_done(state):
        _, r, _, _, k = state
        return (jnp.linalg.norm(r) > tol * b_norm) & (k < maxiter)

    def step(state):
        x, r, p, rr, k = state
        ap = matvec(p)
        alpha = rr / (p @ ap)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        return x, r, p, rr_new, k + 1

    x, r, _, _, k = jax.lax.while_loop(not_done, step, state)
    return x, k, jnp.linalg.norm(r) / safe_norm(b)


def minres(
    matvec: MatVec, b: Array, tol: float, maxiter: int, x0: Array | None = None
) -> tuple[Array, Array, Array]:
    """MINRES on ``A x = b``, ``A = matvec`` symmetric (definite or not).

    The Lanczos process builds an orthonormal basis ``v_k`` of the Krylov space
    and a tridiagonal ``T_k``; Givens rotations keep its QR factorisation, and
    ``x_k`` minimises ``||b - A x||`` over the space, with ``||b - A x_k|| =
    phibar_k`` read off the rotations. From a warm start ``x_0`` it solves
    ``A d = r_0 = b - A x_0`` the same way and returns ``x_0 + d``.

    Args:
      matvec: ``v -> A v``.
      b: the right-hand side, shape ``[d]``.
      tol: relative tolerance on ``phibar_k / ||b||``.
      maxiter: the iteration budget.
      x0: the starting point (a warm start), or ``None`` for 0.

    Returns:
      ``(x, iterations, phibar_k / ||b||)``.
    """
    dtype = b.dtype
    zero, one = jnp.zeros((), dtype), jnp.ones((), dtype)
    x, r = initial_residual(matvec, b, x0)
    beta1 = jnp.linalg.norm(r)
    limit = tol * jnp.linalg.norm(b)
    zeros = jnp.zeros_like(b)
    # x, r1, r2, w, w2, oldb, beta, dbar, epsln, phibar, cs, sn, k
    state = (x, r, r, zeros, zeros, zero, beta1, zero, zero, beta1, -one, zero)
    state = (*state, jnp.asarray(0, jnp.int32))

    def not_done(state):
        phibar, k = state[9], state[12]
        return (phibar > limit) & (k < maxiter)

    def step(state):
        x, r1, r2, w, w2, oldb, beta, dbar, epsln, phibar, cs, sn, k = state
        v = r2 / jnp.where(beta > 0, beta, one)
        y = matvec(v) - jnp.where(oldb > 0, beta / jnp.where(oldb > 0, oldb, one), zero) * r1
        alpha = v @ y
        y = y - (alpha / jnp.where(beta > 0, beta, one)) * r2
        r1, r2, oldb = r2, y, beta
        beta = jnp.linalg.norm(y)
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
        return x, r1, r2, w, w2, oldb, beta, dbar, epsln, phibar, cs, sn, k + 1

    final = jax.lax.while_loop(not_done, step, state)
    return final[0], final[12], final[9] / safe_norm(b)
