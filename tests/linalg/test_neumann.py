"""The truncated Neumann series (``toysim.linalg.Neumann``) against the exact solve, the
closed form ``A^{-1} (I - (I - alpha A)^K) b`` and its geometric rate, and the spectral
bound that sets its step against the eigenvalues (float64)."""

import chex
import jax.numpy as jnp
import numpy as np
import pytest

from toysim import linalg


def spd_with(rng, eigenvalues):
    """``Q diag(eigenvalues) Q^T`` for a random orthogonal ``Q``."""
    d = len(eigenvalues)
    q = np.linalg.qr(rng.normal(size=(d, d)))[0]
    return jnp.asarray(q @ np.diag(eigenvalues) @ q.T)


def test_one_term_is_the_step_times_b(rng):
    a = spd_with(rng, [0.5, 1.0, 3.0])
    b = jnp.asarray(rng.normal(size=3))
    x = linalg.solve(linalg.DenseOperator(a), b, linalg.Neumann(terms=1, step=0.2)).x
    chex.assert_trees_all_close(x, 0.2 * b, rtol=1e-15)


@pytest.mark.parametrize("terms", [1, 2, 7, 30])
def test_series_equals_the_closed_form_and_its_residual(terms, rng):
    """``x_K = A^{-1} (I - (I - alpha A)^K) b``, ``b - A x_K = (I - alpha A)^K b``, from dense
    algebra (``matrix_power``, ``jnp.linalg.solve``), with ``alpha = 1 / spectral_bound``."""
    a = spd_with(rng, [0.3, 1.0, 2.0, 5.0])
    b = jnp.asarray(rng.normal(size=4))
    sol = linalg.solve(linalg.DenseOperator(a), b, linalg.Neumann(terms=terms))
    alpha = 1.0 / float(np.max(np.sum(np.abs(np.asarray(a)), axis=1)))  # Gershgorin by hand
    contraction = np.linalg.matrix_power(np.eye(4) - alpha * np.asarray(a), terms)
    closed = np.linalg.solve(np.asarray(a), (np.eye(4) - contraction) @ np.asarray(b))
    chex.assert_trees_all_close(sol.x, closed, rtol=1e-10, atol=1e-13)
    residual = np.linalg.norm(contraction @ np.asarray(b)) / np.linalg.norm(b)
    assert sol.info.residual == pytest.approx(residual, rel=1e-8)
    assert int(sol.info.iterations) == terms


def test_error_falls_geometrically_at_one_minus_alpha_lambda_min(rng):
    """``x_K - A^{-1} b = -(I - alpha A)^K A^{-1} b``: for ``alpha <= 1/lambda_max`` the error
    ratio tends to ``1 - alpha lambda_min`` (here the second-slowest mode, ``1 - 0.25 * 1.2``,
    fades as ``(0.7/0.9)^K`` relative to it), and ``K = 200`` terms reach the exact solve."""
    eigenvalues = [0.4, 1.2, 2.0, 3.0, 4.0]
    a = spd_with(rng, eigenvalues)
    b = jnp.asarray(rng.normal(size=5))
    exact = jnp.linalg.solve(a, b)  # the dense (LU) solve as the reference
    step = 0.25  # 1 / lambda_max
    op = linalg.DenseOperator(a)
    errors = [
        float(jnp.linalg.norm(linalg.solve(op, b, linalg.Neumann(terms=k, step=step)).x - exact))
        for k in (40, 41, 80, 81, 200)
    ]
    rate = 1.0 - step * min(eigenvalues)
    assert errors[1] / errors[0] == pytest.approx(rate, rel=1e-3)
    assert errors[3] / errors[2] == pytest.approx(rate, rel=1e-6)
    assert errors[4] < 1e-8 * float(jnp.linalg.norm(exact))


def test_converged_flag_follows_the_residual(rng):
    a = spd_with(rng, [1.0, 2.0])
    b = jnp.asarray(rng.normal(size=2))
    op = linalg.DenseOperator(a)
    assert not bool(linalg.solve(op, b, linalg.Neumann(terms=2)).info.converged)
    assert bool(linalg.solve(op, b, linalg.Neumann(terms=400)).info.converged)


def test_spectral_bound_lies_above_the_largest_eigenvalue(rng):
    """Every structured bound against ``eigvalsh`` of the dense matrix."""
    c = jnp.asarray(rng.normal(size=(3, 6)))
    operators = [
        linalg.LowRankPlusDiagonal(jnp.asarray(0.7), c),
        linalg.DiagonalOperator(jnp.asarray(rng.uniform(0.1, 3.0, size=6))),
        linalg.damped(linalg.LowRankPlusDiagonal(jnp.asarray(0.7), c), 0.5),
        linalg.DenseOperator(spd_with(rng, [0.5, 1.0, 2.0, 6.0, 7.0, 9.0])),
    ]
    for op in operators:
        largest = float(jnp.linalg.eigvalsh(op.dense())[-1])
        bound = float(linalg.spectral_bound(op))
        assert largest <= bound * (1 + 1e-12), (type(op).__name__, largest, bound)
    diagonal = operators[1]
    assert float(linalg.spectral_bound(diagonal)) == float(jnp.max(diagonal.diagonal))


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(terms=0), "terms must be an integer >= 1"),
        (dict(step=-1.0), "step must be a number > 0"),
        (dict(tol=0.0), "tol must be a number > 0"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        linalg.Neumann(**fields)
