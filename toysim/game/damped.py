"""Matrix-free damped Hessian solves for a non-convex follower (exact FPO for a neural RM).

A neural RM's loss has many minima: its Hessian ``H`` at the current
parameters can be indefinite, and ``H^{-1}`` need not exist. Exact FPO then
solves with the damped ``H + mu I`` instead. Everything here works on a
flat parameter vector (``jax.flatten_util.ravel_pytree``):

* :func:`hessian_vector_product`: ``v -> H v`` by forward-over-reverse autodiff;
* :func:`conjugate_gradient`: solves ``(H + mu I) x = b`` from products alone,
  and reports its iterations, final residual and whether it converged
  (CG needs ``H + mu I`` positive definite; on an indefinite matrix it may not);
* :func:`dense_hessian` and :func:`hessian_spectrum`: the cross-check at small
  size, and the smallest / largest eigenvalues (the non-convexity diagnostics).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

MatVec = Callable[[Array], Array]


def hessian_vector_product(loss: Callable[[Array], Array], x: Array) -> MatVec:
    """``v -> hess loss(x) v`` (forward-over-reverse; no Hessian is formed)."""
    grad = jax.grad(loss)

    def hvp(v: Array) -> Array:
        return jax.jvp(grad, (x,), (v,))[1]

    return hvp


def dense_hessian(loss: Callable[[Array], Array], x: Array) -> Array:
    """``hess loss(x)`` as a ``[p, p]`` matrix (for cross-checks and diagnostics)."""
    return jax.hessian(loss)(x)


class CGResult(NamedTuple):
    """``x`` solving ``(H + mu I) x = b``, and how the iteration ended."""

    x: Array
    iterations: Array
    residual: Array
    converged: Array


def conjugate_gradient(
    matvec: MatVec, b: Array, damping: Array, tol: float = 1e-6, maxiter: int = 200
) -> CGResult:
    """Conjugate gradients on ``(H + mu I) x = b`` with ``H`` given by ``matvec``.

    Stops when ``||r|| <= tol ||b||`` or after ``maxiter`` iterations.
    """

    def apply(v):
        return matvec(v) + damping * v

    b_norm = jnp.linalg.norm(b)
    x0 = jnp.zeros_like(b)
    r0 = b
    state = (x0, r0, r0, r0 @ r0, jnp.asarray(0))

    def not_done(state):
        _, r, _, _, k = state
        return (jnp.linalg.norm(r) > tol * b_norm) & (k < maxiter)

    def step(state):
        x, r, p, rr, k = state
        ap = apply(p)
        alpha = rr / (p @ ap)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        return x, r, p, rr_new, k + 1

    x, r, _, _, k = jax.lax.while_loop(not_done, step, state)
    residual = jnp.linalg.norm(r) / jnp.where(b_norm > 0, b_norm, 1.0)
    return CGResult(x, k, residual, residual <= tol)


class Spectrum(NamedTuple):
    """The extreme eigenvalues of a symmetric matrix, and whether it is indefinite."""

    smallest: Array
    largest: Array
    indefinite: Array


def hessian_spectrum(hessian: Array) -> Spectrum:
    """Extreme eigenvalues of a dense symmetric ``H``; indefinite if the smallest is < 0."""
    eigenvalues = jnp.linalg.eigvalsh(hessian)
    return Spectrum(eigenvalues[0], eigenvalues[-1], eigenvalues[0] < 0)
