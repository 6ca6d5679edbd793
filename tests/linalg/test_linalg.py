"""toysim.linalg: operators against their dense forms, solvers against a dense solve,
diagnostics that tell the truth, and implicit derivatives against autodiff and finite
differences (float64)."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.flatten_util import ravel_pytree

from toysim import linalg
from toysim.model.mlp import mlp_init, mlp_reward

ITERATIVE = (linalg.CG(tol=1e-12, maxiter=200), linalg.MINRES(tol=1e-12, maxiter=200))
ALL_SOLVERS = (linalg.Cholesky(), linalg.LU(), *ITERATIVE)
SIZES = st.sampled_from([1, 2, 5, 12])
"""Few shapes, so that the jitted solves compile a few times, not once per example."""

solve = jax.jit(linalg.solve, static_argnums=2)
"""``linalg.solve`` compiled once per operator type, shape and solver."""

UNRAVEL = ravel_pytree(mlp_init(jax.random.key(0), (3, 4, 4, 1)))[1]


def buffer_loss(x, ys, labels):
    """The MSE of a tiny MLP with flat parameters ``x`` on a buffer."""
    return jnp.mean((mlp_reward(UNRAVEL(x), ys) - labels) ** 2)


def tiny_buffer(seed):
    """Flat parameters of a tiny MLP, and a random buffer of 6 samples."""
    rng = np.random.default_rng(seed)
    flat = ravel_pytree(mlp_init(jax.random.key(seed), (3, 4, 4, 1), scale=0.5))[0]
    return flat, jnp.asarray(rng.normal(size=(6, 3))), jnp.asarray(rng.normal(size=6))


def random_spd(rng, d, floor=0.5):
    """A symmetric positive definite ``[d, d]`` matrix, eigenvalues in ``[floor, floor + 4]``."""
    q = np.linalg.qr(rng.normal(size=(d, d)))[0]
    return jnp.asarray(q @ np.diag(rng.uniform(floor, floor + 4.0, size=d)) @ q.T)


def random_indefinite(rng, d):
    """A symmetric matrix with eigenvalues of both signs, each at least 0.5 in magnitude."""
    q = np.linalg.qr(rng.normal(size=(d, d)))[0]
    eigenvalues = rng.uniform(0.5, 4.0, size=d) * np.where(np.arange(d) % 2, -1.0, 1.0)
    return jnp.asarray(q @ np.diag(eigenvalues) @ q.T)


def low_rank(rng, n, d):
    """``alpha I + C^T C`` with ``alpha`` in ``[0.1, 2]`` and a standard normal ``C``."""
    return linalg.LowRankPlusDiagonal(
        jnp.asarray(rng.uniform(0.1, 2.0)), jnp.asarray(rng.normal(size=(n, d)))
    )


def relative_residual(matrix, x, b):
    """``||b - A x|| / ||b||``, recomputed."""
    return float(jnp.linalg.norm(b - matrix @ x) / jnp.linalg.norm(b))


@given(seed=st.integers(0, 2**31), d=SIZES, n=SIZES)
def test_every_operator_applies_its_dense_form(seed, d, n):
    rng = np.random.default_rng(seed)
    v = jnp.asarray(rng.normal(size=d))
    matrix = jnp.asarray(rng.normal(size=(d, d)))
    h = low_rank(rng, n, d)
    mu = jnp.asarray(rng.uniform(0.0, 3.0))
    for op in (linalg.DenseOperator(matrix), h, linalg.damped(h, mu)):
        assert op.size == d
        chex.assert_trees_all_close(op.matvec(v), op.dense() @ v, rtol=1e-12, atol=1e-12)
    independent = h.alpha * np.eye(d) + np.asarray(h.factor).T @ np.asarray(h.factor)
    chex.assert_trees_all_close(h.dense(), independent, rtol=1e-12, atol=1e-12)
    chex.assert_trees_all_close(linalg.damped(h, mu).dense(), independent + mu * np.eye(d))


@jax.jit
def hessian_products(x, ys, labels, v):
    """``(H, H v, (H + 0.3 I) v)`` from the operators, and ``H`` by ``jax.hessian``."""
    op = linalg.hessian_operator(lambda x: buffer_loss(x, ys, labels), x)
    dense = jax.hessian(buffer_loss)(x, ys, labels)
    return op.dense(), op.matvec(v), linalg.damped(op, 0.3).matvec(v), dense


@given(seed=st.integers(0, 2**31))
def test_hessian_vector_products_equal_the_dense_hessian(seed):
    x, ys, labels = tiny_buffer(seed)
    v = jnp.asarray(np.random.default_rng(seed + 1).normal(size=x.shape))
    op_dense, hv, damped_v, dense = hessian_products(x, ys, labels, v)
    chex.assert_trees_all_close(op_dense, dense, rtol=1e-12, atol=1e-14)
    chex.assert_trees_all_close(hv, dense @ v, rtol=1e-9, atol=1e-12)
    chex.assert_trees_all_close(damped_v, dense @ v + 0.3 * v, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("solver", ALL_SOLVERS, ids=lambda s: type(s).__name__)
@given(seed=st.integers(0, 2**31), d=SIZES)
def test_every_solver_equals_a_dense_solve_on_spd_systems(solver, seed, d):
    rng = np.random.default_rng(seed)
    matrix = random_spd(rng, d)
    b = jnp.asarray(rng.normal(size=d))
    sol = solve(linalg.DenseOperator(matrix), b, solver)
    chex.assert_trees_all_close(sol.x, jnp.linalg.solve(matrix, b), rtol=1e-9, atol=1e-11)
    assert bool(sol.info.converged)
    assert sol.info.iterations.dtype == jnp.int32
    direct = isinstance(solver, (linalg.Cholesky, linalg.LU))
    iterations = int(sol.info.iterations)
    assert iterations == 1 if direct else 1 <= iterations <= solver.maxiter
    # the reported residual is the true one (direct) or the recurrence's, within rounding
    assert float(sol.info.residual) == pytest.approx(
        relative_residual(matrix, sol.x, b), abs=1e-13 if direct else 1e-11
    )


@pytest.mark.parametrize("solver", (linalg.LU(), ITERATIVE[1]), ids=lambda s: type(s).__name__)
@given(seed=st.integers(0, 2**31), d=st.sampled_from([2, 5, 12]))
def test_lu_and_minres_solve_symmetric_indefinite_systems(solver, seed, d):
    rng = np.random.default_rng(seed)
    matrix = random_indefinite(rng, d)
    assert float(jnp.linalg.eigvalsh(matrix)[0]) < 0
    b = jnp.asarray(rng.normal(size=d))
    sol = solve(linalg.DenseOperator(matrix), b, solver)
    assert bool(sol.info.converged), sol.info
    chex.assert_trees_all_close(sol.x, jnp.linalg.solve(matrix, b), rtol=1e-8, atol=1e-10)


@given(seed=st.integers(0, 2**31), d=st.sampled_from([9, 30]), n=st.sampled_from([1, 8, 9, 30]))
def test_woodbury_path_equals_the_dense_path(seed, d, n):
    """``n < d``: Woodbury over the Gram matrix (unrolled up to 8, LAPACK above); else dense."""
    rng = np.random.default_rng(seed)
    h = low_rank(rng, n, d)
    b = jnp.asarray(rng.normal(size=d))
    sol = solve(h, b, linalg.Cholesky())
    chex.assert_trees_all_close(sol.x, jnp.linalg.solve(h.dense(), b), rtol=1e-10, atol=1e-12)
    assert bool(sol.info.converged) and int(sol.info.iterations) == 1
    residual = relative_residual(h.dense(), sol.x, b)
    assert float(sol.info.residual) == pytest.approx(residual, abs=1e-14)
    mu = jnp.asarray(rng.uniform(0.1, 1.0))  # damping folds into alpha, keeping Woodbury
    damped = linalg.damped(h, mu)
    chex.assert_trees_all_close(
        solve(damped, b, linalg.Cholesky()).x,
        jnp.linalg.solve(damped.dense(), b),
        rtol=1e-10,
        atol=1e-12,
    )


@pytest.mark.parametrize("with_gram", [False, True], ids=["gram formed", "gram given"])
@pytest.mark.parametrize("seed", range(3))
def test_a_factor_given_by_its_products_is_the_same_operator(seed, with_gram):
    """``alpha I + C^T C`` with ``C`` as :class:`linalg.FactorProducts` (closures over ``C``)
    applies, forms, measures and solves (Woodbury, CG) like the same operator with ``C`` an
    array."""
    rng = np.random.default_rng(seed)
    h = low_rank(rng, 5, 12)
    c = h.factor
    gram = c @ c.T if with_gram else None
    products = linalg.LowRankPlusDiagonal(
        h.alpha, linalg.FactorProducts(lambda v: c @ v, lambda u: c.T @ u, c.shape, c.dtype), gram
    )
    v = jnp.asarray(rng.normal(size=12))
    assert products.size == 12
    chex.assert_trees_all_close(products.factor.dense(), c, rtol=1e-14)
    chex.assert_trees_all_close(products.matvec(v), h.matvec(v), rtol=1e-12)
    chex.assert_trees_all_close(products.dense(), h.dense(), rtol=1e-12)
    chex.assert_trees_all_close(
        linalg.frobenius_norm(products), jnp.linalg.norm(h.dense()), rtol=1e-12
    )
    for solver in (linalg.Cholesky(), ITERATIVE[0]):
        sol = linalg.solve(products, v, solver)
        chex.assert_trees_all_close(sol.x, jnp.linalg.solve(h.dense(), v), rtol=1e-9)
        assert bool(sol.info.converged)


def test_inverse_factors_once_and_serves_many_right_hand_sides_and_batches():
    rng = np.random.default_rng(3)
    h = low_rank(rng, 3, 7)
    rhs = jnp.asarray(rng.normal(size=(5, 7)))
    apply = linalg.inverse(h, linalg.Cholesky())
    batched = jax.vmap(apply)(rhs)
    chex.assert_trees_all_close(batched.x, jnp.linalg.solve(h.dense(), rhs.T).T, rtol=1e-10)
    assert batched.info.converged.shape == (5,) and bool(jnp.all(batched.info.converged))
    # a batch of operators (the vmapped game): each solve equals its own dense solve
    alphas = jnp.asarray(rng.uniform(0.1, 2.0, size=5))
    factors = jnp.asarray(rng.normal(size=(5, 3, 7)))

    def one(alpha, factor, b):
        return linalg.solve(linalg.LowRankPlusDiagonal(alpha, factor), b, linalg.Cholesky()).x

    xs = jax.jit(jax.vmap(one))(alphas, factors, rhs)
    for i in range(5):
        dense = linalg.LowRankPlusDiagonal(alphas[i], factors[i]).dense()
        chex.assert_trees_all_close(xs[i], jnp.linalg.solve(dense, rhs[i]), rtol=1e-10)


def test_conjugate_gradient_reports_non_convergence():
    h = jnp.diag(jnp.linspace(1.0, 1e4, 50))
    sol = linalg.solve(linalg.DenseOperator(h), jnp.ones(50), linalg.CG(tol=1e-6, maxiter=3))
    assert int(sol.info.iterations) == 3 and not bool(sol.info.converged)
    assert float(sol.info.residual) > 1e-6
    assert float(sol.info.residual) == pytest.approx(relative_residual(h, sol.x, jnp.ones(50)))


def backward_error(matrix, x, b, norm):
    """``||b - A x|| / (||A|| ||x|| + ||b||)`` recomputed, ``||A||`` in ``norm`` (2 or fro)."""
    residual = np.linalg.norm(np.asarray(b) - np.asarray(matrix) @ np.asarray(x))
    scale = np.linalg.norm(np.asarray(matrix), norm) * np.linalg.norm(x) + np.linalg.norm(b)
    return float(residual / scale)


def implied_norm(sol, b):
    """The ``||A||`` a :class:`~toysim.linalg.SolveInfo` used: from ``residual = rho / ||b||``
    and ``backward_error = rho / (||A|| ||x|| + ||b||)``, exact whatever the residual's drift."""
    b_norm = float(jnp.linalg.norm(b))
    ratio = float(sol.info.residual) * b_norm / float(sol.info.backward_error)
    return (ratio - b_norm) / float(jnp.linalg.norm(sol.x))


@given(seed=st.integers(0, 2**31), maxiter=st.sampled_from([1, 3, 10, 30]), definite=st.booleans())
def test_the_convergence_flag_is_true_exactly_when_the_solvers_test_is_met(seed, maxiter, definite):
    """CG's flag is its relative residual within ``tol``, MINRES's its backward error; the
    ``||A||`` estimate behind the backward error (the Lanczos ``||T_k||_F``) is at most
    ``||A||_F`` and, once 10 iterations have found the extreme eigenvalues, at least
    ``||A||_2``."""
    rng = np.random.default_rng(seed)
    matrix = random_spd(rng, 20, floor=0.01) if definite else random_indefinite(rng, 20)
    b = jnp.asarray(rng.normal(size=20))
    solvers = (linalg.CG(1e-8, maxiter), linalg.MINRES(1e-8, maxiter))
    for solver in solvers if definite else solvers[1:]:
        sol = solve(linalg.DenseOperator(matrix), b, solver)
        info = sol.info
        tested = info.residual if isinstance(solver, linalg.CG) else info.backward_error
        assert bool(info.converged) == (float(tested) <= 1e-8)
        assert bool(info.converged) or int(info.iterations) == maxiter
        estimate = implied_norm(sol, b)
        assert estimate <= np.linalg.norm(matrix, "fro") * (1 + 1e-6)
        if int(info.iterations) >= 10:
            assert estimate >= np.linalg.norm(matrix, 2) * (1 - 1e-6)


@pytest.mark.parametrize("kind", [linalg.CG, linalg.MINRES], ids=lambda s: s.__name__)
def test_the_krylov_norm_estimate_is_the_frobenius_norm_once_the_space_is_whole(kind):
    """After ``d`` iterations on a ``d x d`` matrix the Lanczos basis is square, so ``T_d``
    is ``A`` in another basis and ``||T_d||_F = ||A||_F`` (CG builds ``T_d`` from its step
    lengths, MINRES directly)."""
    rng = np.random.default_rng(2)
    d = 6
    matrix = random_spd(rng, d) if kind is linalg.CG else random_indefinite(rng, d)
    b = jnp.asarray(rng.normal(size=d))
    sol = solve(linalg.DenseOperator(matrix), b, kind(tol=1e-30, maxiter=d))
    assert int(sol.info.iterations) == d
    assert implied_norm(sol, b) == pytest.approx(np.linalg.norm(matrix, "fro"), rel=1e-8)


@given(seed=st.integers(0, 2**31), d=SIZES, n=SIZES)
def test_the_frobenius_norm_of_each_operator_equals_its_dense_forms(seed, d, n):
    rng = np.random.default_rng(seed)
    operators = (
        low_rank(rng, n, d),
        linalg.DiagonalOperator(jnp.asarray(rng.normal(size=d))),
        linalg.DenseOperator(jnp.asarray(rng.normal(size=(d, d)))),
        linalg.damped(linalg.DenseOperator(random_indefinite(rng, d)), 0.3),
    )
    for op in operators:
        expected = np.linalg.norm(np.asarray(op.dense()), "fro")
        assert float(linalg.frobenius_norm(op)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("solver", [linalg.Cholesky(), linalg.LU()], ids=["Cholesky", "LU"])
@pytest.mark.parametrize("structure", ["dense", "low rank", "diagonal"])
def test_a_direct_solve_reports_its_recomputed_backward_error(solver, structure):
    rng = np.random.default_rng(4)
    op = {
        "dense": linalg.DenseOperator(random_spd(rng, 9)),
        "low rank": low_rank(rng, 3, 9),
        "diagonal": linalg.DiagonalOperator(jnp.asarray(rng.uniform(0.5, 2.0, size=9))),
    }[structure]
    b = jnp.asarray(rng.normal(size=9))
    sol = solve(op, b, solver)
    assert implied_norm(sol, b) == pytest.approx(np.linalg.norm(op.dense(), "fro"), rel=1e-8)
    assert float(sol.info.residual) == pytest.approx(
        relative_residual(op.dense(), sol.x, b), abs=1e-15
    )
    assert float(sol.info.backward_error) < 1e-14 and bool(sol.info.converged)
    tight = dataclasses.replace(solver, tol=1e-30)  # below what rounding allows: not converged
    assert not bool(linalg.solve(op, b, tight).info.converged)


def test_a_float32_woodbury_solve_of_an_ill_conditioned_system_counts_as_converged():
    """The Gauss-Newton rung's shape in float32 (``alpha = 1e-3``, a rank-50 factor): the
    relative residual exceeds ``sqrt(eps)`` because ``cond`` is about ``1e7``, yet the backward
    error, which is what the flag tests, is within it."""
    rng = np.random.default_rng(0)
    factor = jnp.asarray(rng.normal(size=(50, 300)) * 3.0, jnp.float32)
    op = linalg.LowRankPlusDiagonal(jnp.asarray(1e-3, jnp.float32), factor)
    b = factor.T @ jnp.asarray(rng.normal(size=50), jnp.float32) + 1e-2 * jnp.asarray(
        rng.normal(size=300), jnp.float32
    )
    sol = solve(op, b, linalg.Cholesky())
    assert sol.x.dtype == jnp.float32
    assert float(sol.info.residual) > float(np.sqrt(np.finfo(np.float32).eps))
    assert bool(sol.info.converged)


def test_a_direct_solves_verdict_is_the_same_in_float32_and_float64():
    """The default limit is ``100 d eps`` of the dtype (``d = 300``: about ``3.6e-3`` in
    float32, ``6.7e-12`` in float64), so one system gets one verdict in both precisions,
    and its backward error is a comparable multiple of each ``eps``."""
    assert linalg.direct_tolerance(300, jnp.float32) == pytest.approx(100 * 300 * 2.0**-23)
    assert linalg.direct_tolerance(300, jnp.float64) == pytest.approx(100 * 300 * 2.0**-52)
    rng = np.random.default_rng(1)
    factor = rng.normal(size=(50, 300)) * 3.0
    rhs = rng.normal(size=300)
    in_eps = {}
    for dtype in (jnp.float32, jnp.float64):
        op = linalg.LowRankPlusDiagonal(jnp.asarray(1e-3, dtype), jnp.asarray(factor, dtype))
        sol = solve(op, jnp.asarray(rhs, dtype), linalg.Cholesky())
        assert bool(sol.info.converged), dtype
        in_eps[dtype] = float(sol.info.backward_error) / float(jnp.finfo(dtype).eps)
    assert all(0 < units < 100 * 300 for units in in_eps.values()), in_eps


def test_minres_converges_where_cg_breaks_down_on_an_indefinite_system():
    """``A = Q diag(1, -1, 2, -2) Q^T``, ``b = Q (1, 1, 1, 1)``: ``b^T A b = 0``, so CG's
    first step divides by (nearly) zero; MINRES solves it."""
    rng = np.random.default_rng(0)
    q = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    matrix = jnp.asarray(q @ np.diag([1.0, -1.0, 2.0, -2.0]) @ q.T)
    b = jnp.asarray(q @ np.ones(4))
    op = linalg.DenseOperator(matrix)
    cg = linalg.solve(op, b, linalg.CG(tol=1e-10, maxiter=50))
    assert not bool(cg.info.converged)
    minres = linalg.solve(op, b, linalg.MINRES(tol=1e-10, maxiter=50))
    assert bool(minres.info.converged) and int(minres.info.iterations) <= 4
    chex.assert_trees_all_close(minres.x, jnp.linalg.solve(matrix, b), rtol=1e-9)


def test_cholesky_reports_a_matrix_that_is_not_positive_definite():
    op = linalg.DenseOperator(jnp.diag(jnp.asarray([2.0, -1.0, 3.0])))
    assert not bool(linalg.solve(op, jnp.ones(3), linalg.Cholesky()).info.converged)
    assert bool(linalg.solve(op, jnp.ones(3), linalg.LU()).info.converged)


def test_identity_returns_b_with_exact_diagnostics():
    b = jnp.asarray([1.0, -2.0, 3.0])
    for sol in (
        linalg.solve(linalg.DenseOperator(5.0 * jnp.eye(3)), b, linalg.Identity()),
        linalg.identity_solution(b),
    ):
        np.testing.assert_array_equal(sol.x, b)
        assert int(sol.info.iterations) == 0 and float(sol.info.residual) == 0.0
        assert bool(sol.info.converged)
    grad = jax.grad(lambda b: jnp.sum(linalg.identity_solution(b).x ** 2))(b)
    np.testing.assert_array_equal(grad, 2.0 * b)


def test_zero_right_hand_side_gives_zero_with_zero_residual():
    op = linalg.DenseOperator(random_spd(np.random.default_rng(1), 4))
    for solver in ALL_SOLVERS:
        sol = solve(op, jnp.zeros(4), solver)
        np.testing.assert_array_equal(sol.x, jnp.zeros(4))
        assert float(sol.info.residual) == 0.0 and bool(sol.info.converged)


def central_difference(f, x, h=1e-6):
    """``df/dx`` for a scalar ``f`` of an array, by central differences."""
    flat = np.asarray(x, dtype=float).ravel()
    out = np.zeros_like(flat)
    for i in range(flat.size):
        e = np.zeros_like(flat)
        e[i] = h
        plus = f(jnp.asarray((flat + e).reshape(np.shape(x))))
        minus = f(jnp.asarray((flat - e).reshape(np.shape(x))))
        out[i] = (float(plus) - float(minus)) / (2 * h)
    return out.reshape(np.shape(x))


CASES = (
    ("Cholesky", linalg.Cholesky(), "spd"),
    ("LU, non-symmetric", linalg.LU(), "general"),
    ("CG", ITERATIVE[0], "spd"),
    ("MINRES, indefinite", ITERATIVE[1], "indefinite"),
)


@pytest.mark.parametrize(("solver", "kind"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_gradients_through_a_solve_equal_autodiff_through_a_dense_solve_and_differences(
    solver, kind
):
    """``c . A^{-1} b`` differentiated in ``A`` and ``b``; a symmetric solver's ``A`` is
    parametrised as ``(M + M^T) / 2`` so that every perturbation keeps it symmetric."""
    rng = np.random.default_rng(11)
    d = 6
    matrix = {
        "spd": random_spd(rng, d),
        "indefinite": random_indefinite(rng, d),
        "general": jnp.asarray(rng.normal(size=(d, d)) + 3.0 * np.eye(d)),
    }[kind]
    b = jnp.asarray(rng.normal(size=d))
    c = jnp.asarray(rng.normal(size=d))

    def operator_matrix(m):
        return m if kind == "general" else (m + m.T) / 2

    @jax.jit
    def through_solve(m, b):
        return c @ linalg.solve(linalg.DenseOperator(operator_matrix(m)), b, solver).x

    def through_dense(m, b):
        return c @ jnp.linalg.solve(operator_matrix(m), b)

    grads = jax.jit(jax.grad(through_solve, argnums=(0, 1)))(matrix, b)
    expected = jax.grad(through_dense, argnums=(0, 1))(matrix, b)
    chex.assert_trees_all_close(grads, expected, rtol=1e-8, atol=1e-10)
    by_b = central_difference(lambda b: through_solve(matrix, b), b)
    chex.assert_trees_all_close(grads[1], by_b, rtol=1e-6, atol=1e-8)
    by_m = central_difference(lambda m: through_solve(m, b), matrix)
    chex.assert_trees_all_close(grads[0], by_m, rtol=1e-6, atol=1e-8)
    tangent = jnp.asarray(rng.normal(size=d))  # forward mode: the same implicit rule
    chex.assert_trees_all_close(
        jax.jit(jax.jvp, static_argnums=0)(lambda b: through_solve(matrix, b), (b,), (tangent,))[1],
        grads[1] @ tangent,
        rtol=1e-9,
    )


@pytest.mark.parametrize("n", [3, 12], ids=["unrolled Gram", "LAPACK Gram"])
def test_gradients_through_woodbury_in_the_operator_arrays(n):
    rng = np.random.default_rng(5)
    d = 16
    h = low_rank(rng, n, d)
    b = jnp.asarray(rng.normal(size=d))
    c = jnp.asarray(rng.normal(size=d))

    @jax.jit
    def through_solve(alpha, factor):
        op = linalg.LowRankPlusDiagonal(alpha, factor)
        return c @ linalg.solve(op, b, linalg.Cholesky()).x

    def through_dense(alpha, factor):
        return c @ jnp.linalg.solve(linalg.LowRankPlusDiagonal(alpha, factor).dense(), b)

    grads = jax.grad(through_solve, argnums=(0, 1))(h.alpha, h.factor)
    expected = jax.grad(through_dense, argnums=(0, 1))(h.alpha, h.factor)
    chex.assert_trees_all_close(grads, expected, rtol=1e-8, atol=1e-10)
    by_alpha = central_difference(lambda a: through_solve(a, h.factor), h.alpha)
    chex.assert_trees_all_close(grads[0], by_alpha, rtol=1e-6)


def test_gradients_through_a_matrix_free_damped_hessian_solve():
    """``d/dmu`` and ``d/db`` of ``c . (hess f(x) + mu I)^{-1} b`` by CG, against dense autodiff
    and central differences."""
    x, ys, labels = tiny_buffer(4)
    rng = np.random.default_rng(4)
    b = jnp.asarray(rng.normal(size=x.shape))
    c = jnp.asarray(rng.normal(size=x.shape))
    hessian = jax.hessian(buffer_loss)(x, ys, labels)
    mu = 2.0 - jnp.linalg.eigvalsh(hessian)[0]  # positive definite

    @jax.jit
    def through_cg(mu, b):
        op = linalg.hessian_operator(lambda x: buffer_loss(x, ys, labels), x)
        return c @ linalg.solve(linalg.damped(op, mu), b, linalg.CG(tol=1e-13, maxiter=500)).x

    def through_dense(mu, b):
        return c @ jnp.linalg.solve(hessian + mu * jnp.eye(x.shape[0]), b)

    grads = jax.jit(jax.grad(through_cg, argnums=(0, 1)))(mu, b)
    expected = jax.grad(through_dense, argnums=(0, 1))(mu, b)
    chex.assert_trees_all_close(grads, expected, rtol=1e-7, atol=1e-9)
    by_mu = central_difference(lambda m: through_cg(m, b), mu)
    chex.assert_trees_all_close(grads[0], by_mu, rtol=1e-6)


def test_trace_of_an_inverse():
    h = low_rank(np.random.default_rng(2), 2, 5)
    m = linalg.linear_map(linalg.inverse(h, linalg.Cholesky()))
    assert float(linalg.trace(m, 5)) == pytest.approx(float(jnp.trace(jnp.linalg.inv(h.dense()))))


def test_spectrum_reports_indefiniteness():
    s = linalg.spectrum(jnp.diag(jnp.asarray([-0.5, 1.0, 3.0])))
    assert float(s.smallest) == -0.5 and float(s.largest) == 3.0 and bool(s.indefinite)
    assert not bool(linalg.spectrum(jnp.eye(2)).indefinite)


@jax.jit
def damped_network_solves(x, ys, labels, damping, b):
    """CG on ``(H + mu I) x = b`` with ``mu`` above ``-lambda_min(H)``, and the dense solve."""
    h = linalg.hessian_operator(lambda x: buffer_loss(x, ys, labels), x)
    mu = damping + jnp.maximum(0.0, -linalg.spectrum(h.dense()).smallest)
    sol = linalg.solve(linalg.damped(h, mu), b, linalg.CG(tol=1e-10, maxiter=500))
    return sol, jnp.linalg.solve(h.dense() + mu * jnp.eye(x.shape[0]), b)


@given(seed=st.integers(0, 2**31), damping=st.floats(0.01, 1.0))
def test_conjugate_gradient_equals_the_dense_solve_on_a_damped_network_hessian(seed, damping):
    x, ys, labels = tiny_buffer(seed)
    b = jnp.asarray(np.random.default_rng(seed + 2).normal(size=x.shape))
    sol, dense = damped_network_solves(x, ys, labels, jnp.asarray(damping), b)
    assert bool(sol.info.converged), sol.info
    chex.assert_trees_all_close(sol.x, dense, rtol=1e-7, atol=1e-9)


def test_bad_solver_settings_name_the_field():
    with pytest.raises(ValueError, match="tol must be a number > 0; got 0"):
        linalg.CG(tol=0)
    with pytest.raises(ValueError, match="maxiter must be an integer >= 1; got 0"):
        linalg.MINRES(maxiter=0)
    with pytest.raises(ValueError, match="tol must be a number > 0"):
        linalg.Cholesky(tol=-1.0)
    with pytest.raises(TypeError, match="solver must be a toysim.linalg solver"):
        linalg.solve(linalg.DenseOperator(jnp.eye(2)), jnp.ones(2), "cg")


@pytest.mark.slow  # over 12 s; runs in CI's slow step
@given(seed=st.integers(0, 2**31), d=st.sampled_from([5, 12, 30]), definite=st.booleans())
def test_lanczos_extreme_eigenvalues_against_eigvalsh(seed, d, definite):
    """With ``d`` steps the Ritz values are the eigenvalues; with fewer they lie inside."""
    rng = np.random.default_rng(seed)
    matrix = random_spd(rng, d) if definite else random_indefinite(rng, d)
    eigenvalues = np.linalg.eigvalsh(np.asarray(matrix))
    op, key = linalg.DenseOperator(matrix), jax.random.key(seed % 1000)
    smallest, largest = linalg.extreme_eigenvalues(op, key, d)
    np.testing.assert_allclose([smallest, largest], eigenvalues[[0, -1]], rtol=1e-9, atol=1e-9)
    smallest, largest = linalg.extreme_eigenvalues(op, key, 3)
    assert eigenvalues[0] - 1e-12 <= float(smallest) <= float(largest) <= eigenvalues[-1] + 1e-12


def test_lanczos_on_an_invariant_start_keeps_the_extremes_of_the_closed_block():
    """A start vector in a 2-dimensional invariant subspace: more steps than the space add
    no spurious Ritz values (the padding repeats ``T_11``)."""
    matrix = jnp.diag(jnp.asarray([1.0, 3.0, -5.0, 10.0]))
    tridiagonal = linalg.lanczos_tridiagonal(
        linalg.DenseOperator(matrix), jnp.asarray([1.0, 1.0, 0.0, 0.0]), 4
    )
    ritz = np.linalg.eigvalsh(np.asarray(tridiagonal))
    np.testing.assert_allclose([ritz[0], ritz[-1]], [1.0, 3.0], rtol=1e-12)


@given(seed=st.integers(0, 2**31), d=st.sampled_from([5, 12]))
def test_diagonal_estimators(seed, d):
    """The basis diagonal is exact; Hutchinson's is exact on a diagonal matrix (every draw)
    and on a dense one within a few standard errors of its ``(1/m) sum z z`` error."""
    rng = np.random.default_rng(seed)
    matrix = random_indefinite(rng, d)
    key = jax.random.key(seed % 1000)
    op = linalg.DenseOperator(matrix)
    np.testing.assert_allclose(linalg.basis_diagonal(op), np.diag(matrix), rtol=1e-13)
    diagonal = linalg.DenseOperator(jnp.diag(jnp.diag(matrix)))
    np.testing.assert_allclose(
        linalg.hutchinson_diagonal(diagonal, key, 3), np.diag(matrix), rtol=1e-13
    )
    probes = 4000
    estimate = linalg.hutchinson_diagonal(op, key, probes)
    off = np.asarray(matrix) - np.diag(np.diag(matrix))
    standard_error = np.sqrt(np.sum(off**2, axis=1) / probes)
    assert np.all(np.abs(np.asarray(estimate) - np.diag(matrix)) <= 5 * standard_error + 1e-12)


@pytest.mark.parametrize("solver", ALL_SOLVERS, ids=lambda s: type(s).__name__)
def test_a_diagonal_operator_is_solved_by_division(solver):
    diagonal = jnp.asarray([0.5, 2.0, 4.0, 1.0])
    b = jnp.asarray([1.0, -1.0, 2.0, 0.5])
    sol = solve(linalg.DiagonalOperator(diagonal), b, solver)
    np.testing.assert_allclose(sol.x, b / diagonal, rtol=1e-11)
    assert bool(sol.info.converged)
    np.testing.assert_array_equal(linalg.DiagonalOperator(diagonal).dense(), jnp.diag(diagonal))


@pytest.mark.parametrize("kind", [linalg.CG, linalg.MINRES], ids=lambda s: s.__name__)
@pytest.mark.parametrize("seed", range(3))
def test_a_warm_start_solves_the_same_system_in_fewer_iterations(kind, seed):
    """From a nearby ``x0`` (the solution of a slightly different right-hand side) the
    Krylov solvers reach the same tolerance, relative to ``||b||``, in fewer iterations
    (``d = 200`` with condition number up to 400: fewer iterations than ``d``, so finite
    termination does not hide the difference; the tolerance is CG's on the relative
    residual, MINRES's on the backward error); ``x0`` changes neither ``x`` (beyond the
    tolerance) nor its derivatives."""
    rng = np.random.default_rng(seed)
    d, solver = 200, kind(tol=1e-8, maxiter=500)
    matrix = random_spd(rng, d, floor=0.01)
    op = linalg.DenseOperator(matrix)
    b = jnp.asarray(rng.normal(size=d))
    nearby = np.linalg.solve(np.asarray(matrix), np.asarray(b) + 1e-4 * rng.normal(size=d))
    warm_solve = jax.jit(linalg.solve, static_argnums=2)
    cold, warm = solve(op, b, solver), warm_solve(op, b, solver, jnp.asarray(nearby))
    assert bool(cold.info.converged) and bool(warm.info.converged)
    assert int(warm.info.iterations) < int(cold.info.iterations) < d
    if kind is linalg.CG:  # the tolerance is on the relative residual
        assert relative_residual(matrix, warm.x, b) <= 2e-8
    else:  # on the backward error (with ||A||_F: at most MINRES's own estimate)
        assert backward_error(matrix, warm.x, b, "fro") <= 2e-8
    assert float(warm.info.residual) == pytest.approx(
        relative_residual(matrix, warm.x, b), rel=1e-2, abs=1e-13
    )
    grad = jax.jit(
        jax.grad(lambda bb: jnp.sum(linalg.solve(op, bb, solver, jnp.asarray(nearby)).x ** 2))
    )
    dense = jax.grad(lambda bb: jnp.sum(jnp.linalg.solve(matrix, bb) ** 2))
    error = np.linalg.norm(grad(b) - dense(b)) / np.linalg.norm(dense(b))
    assert error <= 10 * 400 * 1e-8  # a few times cond(A) * tol: the solves' forward error
