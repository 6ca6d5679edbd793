"""One linear-algebra layer: operators, solvers with diagnostics, implicit derivatives.

    from toysim import linalg

    h = linalg.LowRankPlusDiagonal(alpha, factor)          # alpha I + C^T C
    sol = linalg.solve(h, b, linalg.Cholesky())            # Woodbury when rank < size
    sol.x, sol.info.iterations, sol.info.residual, sol.info.converged  # and .backward_error
    apply = linalg.inverse(h, linalg.Cholesky())           # factor once, apply many times
    op = linalg.damped(linalg.hessian_operator(f, x), mu)  # hess f(x) + mu I, matrix-free
    linalg.solve(op, b, linalg.MINRES(tol=1e-8, maxiter=500))

Operators (:mod:`toysim.linalg.operators`): :class:`DenseOperator`,
:class:`LowRankPlusDiagonal` (its factor an array or :class:`FactorProducts`),
:class:`DiagonalOperator`, :func:`hessian_operator`,
:func:`damped`, :func:`frobenius_norm`. From products alone (:mod:`toysim.linalg.spectral`): Lanczos
estimates of the extreme eigenvalues (:func:`extreme_eigenvalues`), the exact or
Hutchinson diagonal (:func:`basis_diagonal`, :func:`hutchinson_diagonal`).
Solvers (:mod:`toysim.linalg.solve`): :class:`Cholesky`, :class:`LU`,
:class:`CG`, :class:`MINRES`, :class:`Identity`, :class:`Neumann` (the truncated
Neumann series, its step from :func:`spectral_bound`); each solve reports
iterations, relative residual, normwise backward error and convergence, and is differentiated
implicitly (``jax.lax.custom_linear_solve``; the Neumann series through its terms).

Why not lineax (0.1.1, with equinox), evaluated for this layer: it has no
MINRES (its symmetric-indefinite option is GMRES, with a longer recurrence);
its Krylov stopping test is elementwise (``rtol |b_i| + atol`` under the max
norm), so with toysim's relative 2-norm tolerance it ran paper-nn's damped
Hessian solves to the 100-iteration budget (right-hand sides with zero
entries), and with an equivalent absolute 2-norm tolerance it took one
iteration more than CG here (an extra step-size test); it reports the
iteration count and a status but not the residual; its errors are raised
through ``equinox.error_if`` unless ``throw=False``; and it has no Woodbury
path, which the linear game's vmapped small solves need. Timed on 16
paper-nn damped Hessian solves (float64, 2 shared cores, ``jit(vmap)``), its
CG and the one here were within run-to-run noise (81-222 ms against
120-336 ms). Nothing it offers here outweighs three more dependencies.
"""

from toysim.linalg.direct import LinearMap
from toysim.linalg.operators import (
    DampedOperator,
    DenseOperator,
    DiagonalOperator,
    FactorProducts,
    HessianOperator,
    LinearOperator,
    LowRankPlusDiagonal,
    Spectrum,
    damped,
    frobenius_norm,
    hessian_operator,
    spectrum,
)
from toysim.linalg.solve import (
    CG,
    LU,
    MINRES,
    SOLVERS,
    Cholesky,
    Identity,
    Neumann,
    Solution,
    SolveInfo,
    Solver,
    direct_tolerance,
    identity_solution,
    inverse,
    linear_map,
    solve,
    trace,
)
from toysim.linalg.spectral import (
    basis_diagonal,
    extreme_eigenvalues,
    hutchinson_diagonal,
    lanczos_tridiagonal,
    spectral_bound,
)

__all__ = [
    "CG",
    "LU",
    "MINRES",
    "SOLVERS",
    "Cholesky",
    "DampedOperator",
    "DenseOperator",
    "DiagonalOperator",
    "FactorProducts",
    "HessianOperator",
    "Identity",
    "LinearMap",
    "LinearOperator",
    "LowRankPlusDiagonal",
    "Neumann",
    "Solution",
    "SolveInfo",
    "Solver",
    "Spectrum",
    "basis_diagonal",
    "damped",
    "direct_tolerance",
    "extreme_eigenvalues",
    "frobenius_norm",
    "hessian_operator",
    "hutchinson_diagonal",
    "identity_solution",
    "inverse",
    "lanczos_tridiagonal",
    "linear_map",
    "solve",
    "spectral_bound",
    "spectrum",
    "trace",
]
