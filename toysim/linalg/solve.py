"""``solve(operator, b, solver)`` and ``inverse(operator, solver)``, with diagnostics.

Every solve returns a :class:`Solution`: ``x`` and a :class:`SolveInfo`
(iterations, relative residual ``||b - A x|| / ||b||``, normwise backward error
``||b - A x|| / (||A|| ||x|| + ||b||)``, converged). What each solver reports,
and what ``tol`` bounds:

* :class:`Cholesky`, :class:`LU` (direct): 1 iteration (one factorisation
  applied); the residual recomputed with one product ``A x`` (XLA drops it
  when nothing reads it), and the backward error with ``||A||_F``
  (:func:`~toysim.linalg.operators.frobenius_norm`, from the structure);
  converged when that backward error is finite and at most ``tol`` (default
  :func:`direct_tolerance`, ``100 d eps`` of the dtype: a backward-stable
  factorisation achieves ``O(d eps)``, so the flag catches a failed
  factorisation, not rounding, at the same multiple of ``eps`` in float32 as
  in float64). A Cholesky of a matrix that is not positive definite gives
  NaN, hence not converged.
* :class:`CG` (Krylov, :mod:`toysim.linalg.krylov`): the iterations taken; the
  residual its recurrence carries; converged exactly when that relative
  residual is at most ``tol``.
* :class:`MINRES`: the same, but converged exactly when the backward error
  (``||A||`` estimated by the Lanczos tridiagonal, as in SciPy) is at most
  ``tol``: on an indefinite, nearly singular ``A`` the relative residual can
  stall far above ``tol`` while ``x`` already solves a system within ``tol``
  of ``A`` and ``b``.
* :class:`Neumann`, the series ``alpha sum_{k<K} (I - alpha A)^k b`` truncated after ``K``
  terms: ``K`` iterations; the residual its recurrence carries, ``(I - alpha A)^K b``;
  converged exactly when that relative residual is at most ``tol``. Its derivatives are
  those of the truncated series (autodiff through its ``K`` steps), not implicit.
* :class:`Identity`, the relaxation ``H -> I`` (docs/theory/relaxations.md):
  ``x = b``, 0 iterations, residual and backward error 0, converged. It solves
  ``I x = b`` exactly, whatever ``A`` is, and its derivatives are those of ``x = b``.

Derivatives of ``x`` with respect to ``b`` and to the operator's arrays are
implicit (``jax.lax.custom_linear_solve``): ``dx = A^{-1} (db - dA x)``, and
the reverse mode solves with ``A^T`` (the same solver; LU's transposed solve),
so nothing differentiates through the factorisation or the iterations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from toysim.linalg.direct import LinearMap, cholesky_map, lu_maps
from toysim.linalg.krylov import (
    backward_error,
    conjugate_gradient,
    minres,
    neumann_series,
    safe_norm,
)
from toysim.linalg.operators import LinearOperator, frobenius_norm
from toysim.linalg.spectral import spectral_bound


class SolveInfo(NamedTuple):
    """How a solve ended.

    Attributes:
      iterations: int32; 0 for the identity, 1 for a direct solve, the count for a Krylov one.
      residual: the relative residual ``||b - A x|| / ||b||`` (0 when ``b = 0``).
      backward_error: ``||b - A x|| / (||A|| ||x|| + ||b||)``, the smallest relative
        perturbation of ``A`` and ``b`` that ``x`` solves exactly (0 when ``b = 0``).
      converged: bool, the solver's test met: the backward error at most ``tol`` for
        the direct solvers and MINRES, the relative residual for CG.
    """

    iterations: Array
    residual: Array
    backward_error: Array
    converged: Array


class Solution(NamedTuple):
    """``x`` with ``A x = b``, and :class:`SolveInfo`."""

    x: Array
    info: SolveInfo


def _check_tol(tol: float | None, allow_none: bool, name: str = "tol") -> None:
    if tol is None and allow_none:
        return
    if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not tol > 0:
        raise ValueError(f"{name} must be a number > 0; got {tol!r}")


def _check_maxiter(maxiter: int, name: str = "maxiter") -> None:
    if not isinstance(maxiter, int) or isinstance(maxiter, bool) or maxiter < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {maxiter!r}")


@dataclasses.dataclass(frozen=True)
class _DirectSettings:
    """What the direct solvers share: the tolerance of their convergence flag."""

    tol: float | None = None

    def __post_init__(self):
        _check_tol(self.tol, allow_none=True)


@dataclasses.dataclass(frozen=True)
class Cholesky(_DirectSettings):
    """Cholesky for symmetric positive definite ``A``; Woodbury on a low-rank-plus-diagonal one.

    Attributes:
      tol: the backward error at most which the solve counts as converged;
        ``None``: :func:`direct_tolerance` of the system's size and dtype.
    """


@dataclasses.dataclass(frozen=True)
class LU(_DirectSettings):
    """LU with partial pivoting, for any non-singular ``A`` (forms ``A``).

    Attributes:
      tol: as for :class:`Cholesky`.
    """


@dataclasses.dataclass(frozen=True)
class _KrylovSettings:
    """What the Krylov solvers share: a tolerance and an iteration budget."""

    tol: float = 1e-6
    maxiter: int = 100

    def __post_init__(self):
        _check_tol(self.tol, allow_none=False)
        _check_maxiter(self.maxiter)


@dataclasses.dataclass(frozen=True)
class CG(_KrylovSettings):
    """Conjugate gradients, for symmetric positive definite ``A`` (products only).

    Attributes:
      tol: relative residual tolerance.
      maxiter: the iteration budget.
    """


@dataclasses.dataclass(frozen=True)
class MINRES(_KrylovSettings):
    """MINRES, for symmetric ``A``, definite or indefinite (products only).

    Attributes:
      tol: tolerance on the normwise backward error.
      maxiter: the iteration budget.
    """


@dataclasses.dataclass(frozen=True)
class Identity:
    """The relaxation ``A -> I``: ``x = b``."""


@dataclasses.dataclass(frozen=True)
class Neumann:
    """``x_K = alpha sum_{k=0}^{K-1} (I - alpha A)^k b``, the Neumann series of ``A^{-1} b``
    truncated after ``K`` terms (products only; :func:`~toysim.linalg.krylov.neumann_series`).

    ``x_K = A^{-1} (I - (I - alpha A)^K) b``: for a symmetric ``A`` with eigenvalues in
    ``(0, 2 / alpha)`` the error ``x_K - A^{-1} b`` shrinks by ``max_i |1 - alpha lambda_i|``
    a term, which is ``1 - alpha lambda_min`` when ``alpha <= 1 / lambda_max``. ``K = 1``
    gives ``alpha b``.

    Attributes:
      terms: ``K``, an integer ``>= 1``.
      step: ``alpha > 0``, or ``None`` for ``1 / spectral_bound(A)``
        (:func:`~toysim.linalg.spectral.spectral_bound`, an upper bound on ``lambda_max``).
      tol: the relative residual ``||(I - alpha A)^K b|| / ||b||`` at most which the series
        counts as converged.
    """

    terms: int = 20
    step: float | None = None
    tol: float = 1e-6

    def __post_init__(self):
        _check_maxiter(self.terms, "terms")
        if self.step is not None:
            _check_tol(self.step, allow_none=False, name="step")
        _check_tol(self.tol, allow_none=False)


Solver = Cholesky | LU | CG | MINRES | Identity | Neumann
SOLVERS = (Cholesky, LU, CG, MINRES, Identity, Neumann)


DIRECT_BACKWARD_FACTOR = 100
"""The multiple of ``d eps`` a direct solve's backward error may reach and count as converged."""


def direct_tolerance(size: int, dtype) -> float:
    """``100 d eps``: the default limit on a direct solve's normwise backward error.

    Cholesky's and LU's backward error is bounded by a small multiple of
    ``d eps`` (Higham, *Accuracy and Stability of Numerical Algorithms*, ch. 9-10);
    in practice it is far below it. A limit proportional to ``eps`` gives the same
    verdict in float32 and float64 on the same system, where a fixed ``tol`` (or
    ``sqrt(eps)``) is loose in one and tight in the other. Measured on paper-nn's
    Gauss-Newton solves (``d = 1441``, Woodbury): backward errors up to about
    ``14 d eps`` in both precisions.
    """
    return DIRECT_BACKWARD_FACTOR * size * float(jnp.finfo(dtype).eps)


def _direct_info(operator: LinearOperator, x: Array, b: Array, tol: float | None) -> SolveInfo:
    """One iteration; the recomputed relative residual and backward error (``||A||_F``);
    converged if the backward error is finite and within ``tol`` (or :func:`direct_tolerance`)."""
    residual_norm = jnp.linalg.norm(b - operator.matvec(x))
    error = backward_error(residual_norm, frobenius_norm(operator), x, b)
    limit = direct_tolerance(b.shape[-1], b.dtype) if tol is None else tol
    converged = jnp.isfinite(error) & (error <= limit)
    return SolveInfo(jnp.asarray(1, jnp.int32), residual_norm / safe_norm(b), error, converged)


def identity_solution(b: Array) -> Solution:
    """The relaxation's :class:`Solution`: ``x = b``, 0 iterations, residual and backward
    error 0, converged."""
    zero = jnp.zeros((), b.dtype)
    return Solution(b, SolveInfo(jnp.asarray(0, jnp.int32), zero, zero, jnp.asarray(True)))


def inverse(
    operator: LinearOperator, solver: Solver, x0: Array | None = None
) -> Callable[[Array], Solution]:
    """``b -> Solution(A^{-1} b, info)``, factoring ``A`` once (now) for every later ``b``.

    Args:
      operator: ``A`` (see :mod:`toysim.linalg.operators`); ignored by :class:`Identity`.
      solver: one of :class:`Cholesky`, :class:`LU`, :class:`CG`, :class:`MINRES`,
        :class:`Identity`, :class:`Neumann`.
      x0: a warm start for the Krylov solvers (e.g. the previous iteration's
        solution; no gradient flows through it), ignored by the others. It
        changes the iterations taken, not what ``x`` solves nor its derivatives.

    Returns:
      The map; differentiable in ``b`` and in the operator's arrays (implicitly; the
      :class:`Neumann` series through its terms).

    Raises:
      TypeError: if ``solver`` is not one of these.
    """
    if not isinstance(solver, SOLVERS):
        names = ", ".join(s.__name__ for s in SOLVERS)
        raise TypeError(f"solver must be a toysim.linalg solver ({names}); got {solver!r}")
    if isinstance(solver, Identity):
        return identity_solution
    if isinstance(solver, Neumann):
        return _neumann_inverse(operator, solver)
    if isinstance(solver, (Cholesky, LU)):
        return _direct_inverse(operator, solver)
    method = conjugate_gradient if isinstance(solver, CG) else minres
    start = None if x0 is None else jax.lax.stop_gradient(x0)

    def krylov(_, b):
        x, iterations, residual, error = method(
            operator.matvec, b, solver.tol, solver.maxiter, start
        )
        tested = residual if isinstance(solver, CG) else error
        return x, SolveInfo(iterations.astype(jnp.int32), residual, error, tested <= solver.tol)

    def apply(b: Array) -> Solution:
        x, info = jax.lax.custom_linear_solve(
            operator.matvec, b, krylov, symmetric=True, has_aux=True
        )
        return Solution(x, info)

    return apply


def _neumann_inverse(operator: LinearOperator, solver: Neumann) -> Callable[[Array], Solution]:
    """The truncated series' map: ``K`` iterations, the residual its recurrence carries, the
    backward error with ``||A||`` estimated by ``1 / alpha``; converged when the relative
    residual is at most ``tol``. ``alpha`` is a constant of the series (no gradient)."""
    step = solver.step
    if step is None:
        step = jax.lax.stop_gradient(1.0 / spectral_bound(operator))

    def apply(b: Array) -> Solution:
        x, r = neumann_series(operator.matvec, b, step, solver.terms)
        r_norm = jnp.linalg.norm(r)
        residual = r_norm / safe_norm(b)
        error = backward_error(r_norm, 1.0 / step, x, b)
        terms = jnp.asarray(solver.terms, jnp.int32)
        return Solution(x, SolveInfo(terms, residual, error, residual <= solver.tol))

    return apply


def _direct_inverse(operator: LinearOperator, solver: Cholesky | LU):
    """The direct solvers' map. Their diagnostics are computed outside the implicit solve, from
    ``x`` and ``b`` with gradients stopped, so that XLA drops them when nothing reads them."""
    if isinstance(solver, Cholesky):
        forward, transposed = cholesky_map(operator), None
    else:
        forward, transposed = lu_maps(operator)

    def apply(b: Array) -> Solution:
        x = jax.lax.custom_linear_solve(
            operator.matvec,
            b,
            lambda _, rhs: forward(rhs),
            transpose_solve=None if transposed is None else (lambda _, rhs: transposed(rhs)),
            symmetric=transposed is None,
        )
        fixed_x, fixed_b = jax.lax.stop_gradient(x), jax.lax.stop_gradient(b)
        return Solution(x, _direct_info(operator, fixed_x, fixed_b, solver.tol))

    return apply


def solve(operator: LinearOperator, b: Array, solver: Solver, x0: Array | None = None) -> Solution:
    """``x`` solving ``A x = b`` with ``solver``, and its :class:`SolveInfo`.

    Args:
      operator: ``A``.
      b: the right-hand side, shape ``[A.size]``.
      solver: see :func:`inverse`.
      x0: a warm start for the Krylov solvers (see :func:`inverse`).

    Returns:
      The :class:`Solution`.
    """
    return inverse(operator, solver, x0)(b)


def linear_map(solution_map: Callable[[Array], Solution]) -> LinearMap:
    """``b -> solution_map(b).x``: the diagnostics dropped, for code that needs a plain map.

    Args:
      solution_map: e.g. ``inverse(operator, solver)``.

    Returns:
      The map ``b -> x``.
    """
    return lambda b: solution_map(b).x


def trace(linear: LinearMap, size: int) -> Array:
    """``tr M = sum_i e_i . M e_i`` for a linear map ``M`` on vectors of ``size``.

    Args:
      linear: ``v -> M v`` (e.g. ``linear_map(inverse(H, Cholesky()))`` for ``tr H^{-1}``).
      size: the dimension ``d``.

    Returns:
      The scalar trace.
    """
    return jnp.trace(jax.vmap(linear)(jnp.eye(size)))
