"""The curvature ladder (toysim.game.curvature): each rung against a dense matrix assembled
independently, its convergence flag, steering against finite differences of the implicit
response, the sanity identities on the convex toys, and the objective FPO's curvature is
taken of against the follower's actual update (float64)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.flatten_util import ravel_pytree

from toysim import linalg
from toysim.config import ConfigError, method_from_name
from toysim.game.curvature import (
    CurvatureOptions,
    curvature_inverse,
    follower_curvature,
    gauss_newton_diagonal,
    gauss_newton_factor,
    gauss_newton_products,
    network_curvature,
)
from toysim.game.followers import (
    BufferData,
    PopulationData,
    SampleBuffer,
    SampleData,
    adam_l2_optimizer,
    make_follower,
    optimizer_step,
)
from toysim.game.leader import leader_gradient
from toysim.game.policy import GaussianPolicy, PointPolicy
from toysim.game.sampled_round import SampledHParams, SampledSpec, network_objective
from toysim.game.steering import sample_steering
from toysim.game.trajectory import make_trajectory
from toysim.model.interface import linear_reward_model, mlp_reward_model, pairwise
from toysim.model.mlp import mlp_init, mlp_reward
from toysim.model.utility import Utility, utility
from toysim.presets import build

SIZES = (3, 4, 4, 1)
MODEL = mlp_reward_model(SIZES)
UNRAVEL = ravel_pytree(mlp_init(jax.random.key(0), SIZES))[1]
U = Utility(jnp.asarray(10.0), jnp.asarray(0.3), jnp.asarray([1.0, 1.0, 0.0]))


def network_problem(seed, weight_decay=0.05):
    """A tiny MLP (P = 41), a buffer of 2 blocks of 3 samples (one empty block), labels U."""
    rng = np.random.default_rng(seed)
    phi = mlp_init(jax.random.key(seed), SIZES, scale=0.7)
    y = jnp.asarray(rng.normal(size=(3, 3, 3)))
    buffer = SampleBuffer(
        y, utility(U, y), jnp.asarray([1.0, 1.0, 0.0]), jnp.asarray(2, dtype=jnp.int32)
    )
    return phi, buffer, jnp.asarray(weight_decay)


def independent_objective(x, buffer, weight_decay):
    """The follower's objective written out: the mean squared error over the filled
    samples, plus ``(wd/2)||x||^2``."""
    ys, labels = buffer.y[:2].reshape(-1, 3), buffer.label[:2].reshape(-1)
    return jnp.mean((mlp_reward(UNRAVEL(x), ys) - labels) ** 2) + 0.5 * weight_decay * x @ x


def reference_matrix(rung, flat, buffer, wd, mu, key, options):
    """The rung's matrix assembled independently of toysim.game.curvature."""
    hessian = jax.hessian(independent_objective)(flat, buffer, wd)
    size = flat.shape[0]
    if rung == "exact":
        return hessian
    if rung.startswith("damped"):
        if options.damping == "spectral":
            mu = max(mu - np.linalg.eigvalsh(np.asarray(hessian))[0], 0.0)
        return hessian + mu * jnp.eye(size)
    if rung in ("gauss-newton", "diagonal"):
        ys = buffer.y[:2].reshape(-1, 3)
        jac = jax.jacfwd(lambda x: mlp_reward(UNRAVEL(x), ys))(flat)
        gauss_newton = 2.0 / ys.shape[0] * jac.T @ jac + wd * jnp.eye(size)
        return gauss_newton if rung == "gauss-newton" else jnp.diag(jnp.diag(gauss_newton))
    z = jax.random.rademacher(key, (options.probes, size), flat.dtype)
    return jnp.diag(jnp.maximum(jnp.mean(z * (z @ hessian), axis=0), wd))


RUNGS = {
    "exact": ("exact", CurvatureOptions(), linalg.MINRES(tol=1e-11, maxiter=400)),
    "damped-spectral": (
        "damped",
        CurvatureOptions(lanczos_steps=41),
        linalg.CG(tol=1e-11, maxiter=400),
    ),
    "damped-fixed": (
        "damped",
        CurvatureOptions(damping="fixed", lanczos_steps=41),
        linalg.CG(tol=1e-11, maxiter=400),
    ),
    "gauss-newton": ("gauss-newton", CurvatureOptions(), linalg.Cholesky()),
    "diagonal": ("diagonal", CurvatureOptions(diagonal="gauss-newton"), linalg.Cholesky()),
    "diagonal-hutchinson": (
        "diagonal",
        CurvatureOptions(diagonal="hutchinson", probes=8),
        linalg.Cholesky(),
    ),
}


def build_rung(name, seed, mu):
    hessian, options, solver = RUNGS[name]
    phi, buffer, wd = network_problem(seed)
    objective = network_objective(MODEL, buffer, wd)
    key = jax.random.key(seed + 100)
    m = network_curvature(hessian, objective, MODEL, phi, buffer, wd, mu, options, key)
    flat = ravel_pytree(phi)[0]
    return m, solver, reference_matrix(name, flat, buffer, wd, mu, key, options)


@pytest.mark.parametrize("seed", range(3))
def test_the_gauss_newton_diagonal_without_the_model_structure_is_the_same(seed):
    """The diagonal from the MLP's ``gradient_square_sum`` equals the column sums of squares
    of the scaled per-sample gradients (the route for a model without it)."""
    phi, buffer, _ = network_problem(seed)
    generic = MODEL._replace(gradient_square_sum=None)
    np.testing.assert_allclose(
        gauss_newton_diagonal(MODEL, phi, buffer, None),
        gauss_newton_diagonal(generic, phi, buffer, None),
        rtol=1e-12,
        atol=1e-15,
    )


@pytest.mark.parametrize("weight", [None, 0.3], ids=["mean", "omega"])
@pytest.mark.parametrize("reward_model", ["mlp", "linear"])
@pytest.mark.parametrize("seed", range(3))
def test_the_gauss_newton_products_are_those_of_the_formed_factor(seed, reward_model, weight):
    """``C v`` (forward mode) and ``C^T u`` (reverse mode) of the matrix-free factor equal the
    products with the per-sample gradients formed row by row; so does the Gauss-Newton
    diagonal from the model's structure, for the mean loss and a fixed weight ``omega``."""
    phi, buffer, _ = network_problem(seed)
    model = MODEL
    if reward_model == "linear":
        model, phi = linear_reward_model(3), jnp.asarray([0.4, -1.1, 0.7])
    weight = None if weight is None else jnp.asarray(weight)
    rng = np.random.default_rng(seed)
    formed = gauss_newton_factor(model, phi, buffer, weight)
    products = gauss_newton_products(model, phi, buffer, weight)
    assert products.shape == formed.shape
    np.testing.assert_allclose(
        gauss_newton_diagonal(model, phi, buffer, weight),
        jnp.sum(formed**2, axis=0),
        rtol=1e-12,
        atol=1e-15,
    )
    v = jnp.asarray(rng.normal(size=formed.shape[1]))
    u = jnp.asarray(rng.normal(size=formed.shape[0]))
    np.testing.assert_allclose(products.apply(v), formed @ v, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(products.apply_transpose(u), formed.T @ u, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (CurvatureOptions(damping="adaptive"), r"damping must be one of spectral, fixed"),
        (
            CurvatureOptions(diagonal="kfac"),
            r"diagonal must be one of auto, gauss-newton, hutchinson",
        ),
        (CurvatureOptions(probes=0), r"probes must be an integer >= 1; got 0"),
    ],
)
def test_bad_curvature_options_are_refused_by_name(options, message):
    spec = SampledSpec(method=method_from_name("fpo", hessian="diagonal", params="current"))
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(spec, curvature=options).validate()


@pytest.mark.parametrize(
    ("hessian", "options", "message"),
    [
        (
            "gauss-newton",
            CurvatureOptions(),
            r"hessian must be exact, damped, diagonal, identity, neumann or unrolled",
        ),
        (
            "diagonal",
            CurvatureOptions(diagonal="gauss-newton"),
            r"curvature.diagonal must be auto or hutchinson with data",
        ),
    ],
)
def test_the_squared_loss_rungs_are_refused_for_pairs(hessian, options, message):
    """Gauss-Newton and its diagonal are the squared loss's; the Hessian's diagonal is allowed."""
    method = method_from_name("fpo", hessian=hessian, params="current")
    spec = SampledSpec(method=method, data="pairs", curvature=options)
    with pytest.raises(ConfigError, match=message):
        spec.validate()
    for diagonal in ("auto", "hutchinson"):
        dataclasses.replace(
            spec,
            method=method_from_name("fpo", hessian="diagonal", params="current"),
            curvature=CurvatureOptions(diagonal=diagonal),
        ).validate()


@pytest.mark.parametrize("data", ["points", "pairs"])
def test_the_automatic_diagonal_is_gauss_newtons_for_points_and_hutchinsons_for_pairs(data):
    """``diagonal = auto`` (the default) solves like the explicit choice for the spec's loss."""
    from toysim.game.sampled_round import network_inverse

    method = method_from_name("fpo", hessian="diagonal", params="current")
    spec = SampledSpec(method=method, data=data, dim=3, hidden=(4, 4), signal_dims=2)
    chosen = "gauss-newton" if data == "points" else "hutchinson"
    explicit = dataclasses.replace(spec, curvature=CurvatureOptions(diagonal=chosen))
    phi, buffer, _ = network_problem(0)
    if data == "pairs":
        buffer = buffer._replace(y=jnp.stack([buffer.y, -buffer.y], axis=2))
    follower = pairwise(MODEL) if data == "pairs" else MODEL
    b = jnp.asarray(np.random.default_rng(0).normal(size=ravel_pytree(phi)[0].shape))
    hp, key = SampledHParams(), jax.random.key(1)
    solved = [network_inverse(s, hp, follower, phi, buffer, key)(b).x for s in (spec, explicit)]
    np.testing.assert_array_equal(solved[0], solved[1])
    if data == "points":  # and not Hutchinson's
        hutchinson = dataclasses.replace(spec, curvature=CurvatureOptions(diagonal="hutchinson"))
        other = network_inverse(hutchinson, hp, follower, phi, buffer, key)(b).x
        assert not np.allclose(solved[0], other)


@pytest.mark.parametrize("name", RUNGS)
@pytest.mark.parametrize("seed", range(3))
def test_each_rung_solves_like_a_dense_solve_of_an_independent_matrix(name, seed):
    """The rung's operator equals the matrix assembled independently (the buffer loss's
    Hessian plus ``wd I``, its Gauss-Newton part, ...), and its solve equals a dense solve
    within ``cond(M)`` times the solver's tolerance. The exact Hessian here is indefinite."""
    mu = 30.0 if name == "damped-fixed" else 0.5
    m, solver, reference = build_rung(name, seed, jnp.asarray(mu))
    np.testing.assert_allclose(m.operator.dense(), reference, rtol=1e-9, atol=1e-11)
    eigenvalues = np.linalg.eigvalsh(np.asarray(reference))
    if name == "exact":
        assert eigenvalues[0] < 0 < eigenvalues[-1]  # the indefinite case
    else:
        assert eigenvalues[0] > 0 and bool(m.well_posed)
    b = jnp.asarray(np.random.default_rng(seed).normal(size=reference.shape[0]))
    solution = curvature_inverse(m, solver)(b)
    expected = np.linalg.solve(np.asarray(reference), np.asarray(b))
    cond = np.abs(eigenvalues).max() / np.abs(eigenvalues).min()
    tol = 1e-11 if solver.tol is None else solver.tol
    error = np.linalg.norm(np.asarray(solution.x) - expected) / np.linalg.norm(expected)
    assert bool(solution.info.converged)
    assert error <= 10 * cond * max(tol, 1e-15), (error, cond)


@pytest.mark.slow  # over 12 s; runs in CI's slow step
@settings(max_examples=5)
@given(
    seed=st.integers(0, 2),
    maxiter=st.sampled_from([1, 3, 30, 400]),
    mu=st.sampled_from([0.1, 30.0]),
)
def test_converged_exactly_when_the_solvers_test_is_met_and_the_rung_is_definite(seed, maxiter, mu):
    """For every Krylov rung: ``converged == (tested <= tol) and well_posed``, ``tested`` the
    backward error for MINRES (exact) and the relative residual for CG (damped), and a fixed
    ``mu`` at most ``-lambda_min`` is never reported converged."""
    for name in ("exact", "damped-spectral", "damped-fixed"):
        m, solver, reference = build_rung(name, seed, jnp.asarray(mu))
        solver = dataclasses.replace(solver, tol=1e-9, maxiter=maxiter)
        info = curvature_inverse(m, solver)(jnp.ones(reference.shape[0])).info
        smallest = np.linalg.eigvalsh(np.asarray(reference))[0]
        if name == "damped-fixed":
            assert bool(m.well_posed) == (smallest > 0)
        tested = info.backward_error if isinstance(solver, linalg.MINRES) else info.residual
        assert bool(info.converged) == ((float(tested) <= 1e-9) and bool(m.well_posed))


def linear_buffer(rng, d, blocks, axis_aligned):
    """A linear game's buffer of ``blocks - 1`` filled samples (the last slot is the leader's)."""
    y = rng.normal(size=(blocks, 1, d))
    if axis_aligned:
        y = np.eye(d)[np.arange(blocks) % d][:, None, :] * rng.uniform(
            0.5, 2.0, size=(blocks, 1, 1)
        )
    y = jnp.asarray(y)
    filled = jnp.asarray([1.0] * (blocks - 1) + [0.0])
    return SampleBuffer(y, utility(U4(d), y), filled, jnp.asarray(blocks - 1, jnp.int32))


def U4(d):
    return Utility(jnp.asarray(10.0), jnp.asarray(0.3), jnp.asarray([1.0] * 2 + [0.0] * (d - 2)))


@pytest.mark.parametrize("rung", ["exact", "damped", "gauss-newton", "diagonal"])
@settings(max_examples=5)
@given(seed=st.integers(0, 2**31))
def test_steering_through_each_rung_equals_differences_of_the_implicit_response(rung, seed):
    """A linear follower minimising ``L(w; D + {y}) + (mu/2)||w - a||^2`` (``mu = 0`` but
    for ``damped``) responds with ``g . dw*/dy = -2 omega grad_y S(y)``, ``S`` the steering
    penalty with ``M`` the rung: where the rung is that follower's Hessian (``exact`` and,
    for a linear model, ``gauss-newton``; ``damped`` with the proximal term; ``diagonal``
    when every sample lies on an axis, so the Hessian is diagonal). The left side is central
    differences of the closed-form minimiser."""
    rng = np.random.default_rng(seed)
    d, blocks, lam = 4, 5, 0.3
    omega = 1.0 / blocks
    mu = 0.7 if rung == "damped" else 0.0
    u = U4(d)
    buffer = linear_buffer(rng, d, blocks, axis_aligned=rung == "diagonal")
    y0 = jnp.asarray(np.eye(d)[1] * 1.3 if rung == "diagonal" else rng.normal(size=d))
    anchor = jnp.asarray(rng.normal(size=d))
    g = jnp.asarray(rng.normal(size=d))

    def data_with(y):
        from toysim.game.followers import buffer_insert

        return SampleData(buffer_insert(buffer, y, utility(u, y)), omega)

    def minimiser(y):
        data = data_with(y)
        hessian = data.curvature(lam).dense() + mu * jnp.eye(d)
        rhs = -jax.grad(data.loss)(jnp.zeros(d)) + mu * anchor
        return jnp.linalg.solve(hessian, rhs)

    h = 1e-5
    response = np.stack(
        [(minimiser(y0 + h * e) - minimiser(y0 - h * e)) / (2 * h) for e in jnp.eye(d)], axis=1
    )
    w_star = minimiser(y0)
    m = follower_curvature(rung, data_with(y0), jnp.asarray(lam), jnp.asarray(mu), w_star)
    v = linalg.solve(m, g, linalg.Cholesky()).x
    model = linear_reward_model(d)

    def penalty(y):
        label_of = lambda s: utility(u, s)  # noqa: E731
        return sample_steering(model, w_star, y, label_of, lambda x: x, True, v)

    implicit = -2.0 * omega * jax.grad(penalty)(y0)
    np.testing.assert_allclose(g @ response, implicit, rtol=1e-6, atol=1e-8)


def linear_and_population(rng, d, lam):
    """A paper-linear-shaped buffer and a population follower's data, random."""
    buffer = linear_buffer(rng, d, 6, axis_aligned=False)
    theta = jnp.asarray(rng.normal(size=d))
    population = PopulationData(theta, GaussianPolicy(jnp.asarray(0.4)), U4(d))
    return SampleData(buffer, 1.0 / 6), population


@settings(max_examples=5)
@given(seed=st.integers(0, 2**31))
def test_gauss_newton_equals_the_hessian_for_a_squared_loss_on_a_linear_model(seed):
    """Built from the reward's gradients over the buffer (the network's code path), the
    Gauss-Newton matrix equals autodiff's Hessian of the follower's loss, on a buffer and
    on the population."""
    rng = np.random.default_rng(seed)
    d, lam = 5, jnp.asarray(0.2)
    w = jnp.asarray(rng.normal(size=d))
    for data in linear_and_population(rng, d, lam):
        gn = follower_curvature("gauss-newton", data, lam, jnp.asarray(0.0), w).dense()
        hessian = jax.hessian(lambda x, data=data: data.loss(x) + 0.5 * lam * x @ x)(w)
        np.testing.assert_allclose(gn, hessian, rtol=1e-10, atol=1e-12)


def steering(preset, rung, theta, seed, damping=0.0, state_w=None):
    """``gamma grad S`` of the preset's fpo with ``hessian = rung`` at ``theta``, seed state."""
    spec, hp = build(preset, "fpo-exact", hessian=rung)
    hp = hp._replace(damping=damping)
    follower = make_follower(spec)
    rng = np.random.default_rng(seed)
    w = jnp.asarray(rng.normal(size=spec.dim)) if state_w is None else state_w
    state = follower.init(w, hp)
    if spec.follower != "population":  # a few random samples in the buffer
        from toysim.game.followers import buffer_insert

        u = Utility(hp.amplitude, hp.tau, jnp.zeros(spec.dim))
        for y in rng.normal(size=(3, spec.dim)):
            state = state._replace(buffer=buffer_insert(state.buffer, y, utility(u, y)))
    policy = GaussianPolicy(hp.sigma) if spec.policy == "gaussian" else PointPolicy()
    u = Utility(
        hp.amplitude,
        hp.tau,
        jnp.asarray([hp.ideal_value] * spec.signal_dims + [0.0] * (spec.dim - spec.signal_dims)),
    )
    return leader_gradient(spec.method, policy, follower, state, theta, hp, u).steering


@pytest.mark.parametrize("preset", ["paper-linear", "population"])
@settings(max_examples=5)
@given(seed=st.integers(0, 2**31))
def test_damped_tends_to_exact_as_mu_goes_to_zero(preset, seed):
    """``H + mu I -> H``: the damped steering at ``mu = 0`` is the exact one, and its
    distance from it shrinks in proportion to ``mu``."""
    d = build(preset)[0].dim
    theta = jnp.asarray(np.random.default_rng(seed).normal(size=d))
    exact = steering(preset, "exact", theta, seed)
    np.testing.assert_allclose(steering(preset, "damped", theta, seed, 0.0), exact, rtol=1e-10)
    errors = [
        float(jnp.linalg.norm(steering(preset, "damped", theta, seed, mu) - exact))
        for mu in (1e-2, 1e-4, 1e-6)
    ]
    assert errors[0] > 0
    assert errors[1] <= 2e-2 * errors[0] and errors[2] <= 2e-2 * errors[1], errors


@pytest.mark.parametrize("preset", ["paper-linear", "population"])
@settings(max_examples=5)
@given(seed=st.integers(0, 2**31), axis=st.integers(0, 3), scale=st.floats(0.2, 3.0))
def test_diagonal_equals_exact_when_the_hessian_is_diagonal(preset, seed, axis, scale):
    """With the leader's ``theta`` on an axis, and (paper-linear) an empty buffer besides
    it, the follower's Hessian ``lambda I + 2 omega theta theta^T`` (population: ``2 (theta
    theta^T + sigma^2 I) + lambda I``) is diagonal: the diagonal rung is the exact one."""
    spec, hp = build(preset, "fpo-exact")
    theta = jnp.asarray(np.eye(spec.dim)[axis] * scale)
    w = jnp.asarray(np.random.default_rng(seed).normal(size=spec.dim))
    follower = make_follower(spec)
    state = follower.init(w, hp)
    policy = GaussianPolicy(hp.sigma) if spec.policy == "gaussian" else PointPolicy()
    u = Utility(hp.amplitude, hp.tau, jnp.zeros(spec.dim))
    results = {}
    for rung in ("exact", "diagonal"):
        method = method_from_name("fpo-exact", hessian=rung)
        results[rung] = leader_gradient(method, policy, follower, state, theta, hp, u).steering
    assert float(jnp.linalg.norm(results["exact"])) > 0
    np.testing.assert_allclose(results["diagonal"], results["exact"], rtol=1e-10, atol=1e-14)


def test_fpo_curvature_objective_is_what_the_follower_steps_on():
    """Adam's first moment after one real step of the follower's optimiser is
    ``(1 - b1)`` times the gradient it stepped on: that gradient equals the gradient of
    :func:`network_objective`, whose curvature FPO solves with, at a weight decay large
    enough (0.5) that dropping it from either side fails."""
    phi, buffer, _ = network_problem(0)
    wd = jnp.asarray(0.5)
    optimizer = adam_l2_optimizer(jnp.asarray(1e-3), wd)
    data = BufferData(MODEL, buffer, None)
    _, _, opt_state = optimizer_step(optimizer, data.loss, phi, optimizer.init(phi))
    adam = next(
        s
        for s in jax.tree.leaves(opt_state, is_leaf=lambda s: isinstance(s, optax.ScaleByAdamState))
        if isinstance(s, optax.ScaleByAdamState)
    )
    stepped_on = ravel_pytree(adam.mu)[0] / (1.0 - 0.9)
    objective = network_objective(MODEL, buffer, wd)
    flat = ravel_pytree(phi)[0]
    np.testing.assert_allclose(
        jax.grad(lambda x: objective(UNRAVEL(x)))(flat), stepped_on, rtol=1e-10
    )
    np.testing.assert_allclose(
        jax.grad(independent_objective)(flat, buffer, wd), stepped_on, rtol=1e-10
    )
    assert float(jnp.linalg.norm(wd * flat)) > 0.1 * float(jnp.linalg.norm(stepped_on))


@pytest.mark.slow  # over 12 s; runs in CI's slow step
@pytest.mark.parametrize("rung", ["exact", "damped", "gauss-newton", "diagonal"])
def test_a_paper_nn_run_whose_solves_cannot_converge_says_so(rung):
    """With one iteration of CG per solve, every solve after the first is reported
    unconverged (at the first the buffer is empty, so every rung's ``M`` is a multiple of
    ``I`` and one CG step solves it exactly); with the rung's own solver, the direct rungs
    converge on every iteration."""
    from toysim.cli.run import format_table, unconverged_solves

    method = method_from_name("fpo", hessian=rung, params="current")
    spec = SampledSpec(hidden=(4, 4), steps=6, method=method, solver=linalg.CG(1e-9, 1))
    trajectory = jax.jit(make_trajectory(spec))(jax.random.key(0), SampledHParams(gamma=0.2))
    converged = np.asarray(trajectory.solve.converged)
    assert converged[0] and not np.any(converged[1:])
    assert unconverged_solves(trajectory) == 5
    row = dict(
        preset="paper-nn",
        seed=0,
        steps=6,
        method="fpo",
        gamma=0.2,
        unconverged_solves=5,
        differences={},
        **dict.fromkeys(
            [
                "final_signal",
                "final_noise",
                "final_utility",
                "max_utility",
                "final_expected_utility",
                "final_proxy_reward",
            ]
        ),
    )
    assert "warning: fpo: 5 of 6 curvature solves did not converge" in format_table([row])
    if rung in ("gauss-newton", "diagonal"):
        spec = dataclasses.replace(spec, solver=None)
        trajectory = jax.jit(make_trajectory(spec))(jax.random.key(0), SampledHParams(gamma=0.2))
        assert np.all(np.asarray(trajectory.solve.converged))
