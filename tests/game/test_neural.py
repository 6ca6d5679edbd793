"""The neural reward model (docs/theory/neural.md): the MLP, its penalties, the paper-nn game."""

import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from toysim import linalg
from toysim.config import METHODS, ConfigError
from toysim.game.sampled_round import SampledHParams, SampledSpec, schedule
from toysim.game.steering import reward_gradient, sample_steering
from toysim.game.trajectory import make_trajectory
from toysim.model.interface import mlp_reward_model
from toysim.model.mlp import mlp_init, mlp_reward
from toysim.model.utility import Utility, utility
from toysim.presets import build

IDENTITY = linalg.linear_map(linalg.identity_solution)
"""The relaxation ``H -> I`` as a plain map."""


def test_mlp_matches_a_hand_written_forward_pass():
    params = mlp_init(jax.random.key(0), (4, 3, 2, 1), scale=0.5)
    y = jnp.asarray(np.random.default_rng(0).normal(size=(7, 4)))
    h = y
    for w, b in params[:-1]:
        h = np.log1p(np.exp(np.asarray(h @ w + b)))
    expected = (h @ np.asarray(params[-1][0]) + np.asarray(params[-1][1]))[:, 0]
    chex.assert_trees_all_close(mlp_reward(params, y), jnp.asarray(expected), rtol=1e-12)
    assert [w.shape for w, _ in params] == [(4, 3), (3, 2), (2, 1)]
    assert all(np.all(b == 0) for _, b in params)


def test_penalties_are_the_published_ones_and_differentiate_through_y():
    """Identity solve: relaxed ``(r - U)||grad_phi r||^2``, practical ``||grad_phi r||^2``;
    the leader's gradient of the penalty (double backprop) against central differences."""
    params = mlp_init(jax.random.key(1), (5, 8, 8, 1), scale=0.3)
    model = mlp_reward_model((5, 8, 8, 1))

    def local_steering(phi, y, u, solve, oracle):
        return sample_steering(model, phi, y, functools.partial(utility, u), solve, oracle)

    u = Utility(jnp.asarray(10.0), jnp.asarray(0.2), jnp.asarray([2.5, 2.5, 0.0, 0.0, 0.0]))
    y = jnp.asarray([0.3, -0.2, 0.5, 0.1, -0.4])
    g = reward_gradient(model, params, y)
    relaxed = local_steering(params, y, u, IDENTITY, True)
    practical = local_steering(params, y, u, IDENTITY, False)
    r = mlp_reward(params, y)
    chex.assert_trees_all_close(relaxed, (r - utility(u, y)) * g @ g, rtol=1e-12)
    chex.assert_trees_all_close(practical, g @ g, rtol=1e-12)
    grad = jax.grad(local_steering, argnums=1)(params, y, u, IDENTITY, True)
    h = 1e-6
    eye = np.eye(5)
    fd = [
        (
            local_steering(params, y + h * e, u, IDENTITY, True)
            - local_steering(params, y - h * e, u, IDENTITY, True)
        )
        / (2 * h)
        for e in eye
    ]
    chex.assert_trees_all_close(grad, jnp.asarray(fd), rtol=1e-6, atol=1e-9)
    assert ravel_pytree(params)[0].shape == g.shape


def test_schedules_run_from_start_to_end():
    assert float(schedule(0.1, 0.001, 0.0, 4000)) == pytest.approx(0.1)
    assert float(schedule(0.1, 0.001, 4000.0, 4000)) == pytest.approx(0.001)
    assert float(schedule(0.05, 0.001, 2000.0, 4000)) == pytest.approx(0.001 + 0.049 * 15 / 16)


def test_best_response_params_are_refused_for_the_neural_rm():
    with pytest.raises(ConfigError, match="params must be current with reward_model = mlp"):
        make_trajectory(SampledSpec(method=METHODS["fpo-exact"]))
    with pytest.raises(ConfigError, match="buffer_size must be a multiple"):
        make_trajectory(SampledSpec(buffer_size=12))


def test_same_seed_same_neural_trajectory():
    run = jax.jit(make_trajectory(SampledSpec(steps=50, method=METHODS["fpo-relaxed"])))
    a, b = run(jax.random.key(3), SampledHParams()), run(jax.random.key(3), SampledHParams())
    jax.tree.map(np.testing.assert_array_equal, a, b)
    assert a.theta.shape == (50, 10) and a.utility.shape == (50,)


@pytest.mark.slow
def test_paper_nn_reproduces_the_published_outcome_over_seeds():
    """Published (PyTorch, seeds 0-4): RLHF 2.3 3.5 2.8 5.7 7.6; relaxed 9.7 9.7 9.9 10.0 9.4.

    RLHF does not collapse on every seed, so the claim is checked on 32 seeds:
    every relaxed-FPO seed ends above 9; at least a quarter of the RLHF seeds
    end below 4 after peaking higher; RLHF's median stays far below relaxed's.
    """
    keys = jax.vmap(jax.random.key)(np.arange(32))
    finals = {}
    for method in ("rlhf", "fpo-relaxed"):
        spec = SampledSpec(method=METHODS[method])
        run = jax.jit(jax.vmap(make_trajectory(spec), in_axes=(0, None)))
        trajectory = run(keys, SampledHParams())
        finals[method] = np.asarray(trajectory.utility[:, -1])
        finals[method + " peak"] = np.asarray(trajectory.utility.max(axis=1))
    assert finals["fpo-relaxed"].min() > 9.0
    collapsed = (finals["rlhf"] < 4.0) & (finals["rlhf peak"] > finals["rlhf"] + 1.0)
    assert collapsed.mean() >= 0.25
    assert np.median(finals["rlhf"]) < finals["fpo-relaxed"].min() - 2.0


def test_damped_exact_steering_equals_autodiff_through_an_unrolled_converged_follower():
    """A follower minimising ``F(phi; y) = L(phi; D + {y}) + (mu/2)||phi - a||^2`` responds at
    its minimiser ``phi*`` with ``dphi*/dy = -(H + mu I)^{-1} omega d/dy grad_phi l(phi*; y)``,
    ``H`` the Hessian of ``L``: a local minimum of ``F`` makes ``H + mu I`` positive
    semidefinite, though ``H`` itself is indefinite here (smallest eigenvalue about -0.47).
    So for any ``g``, ``g . dphi*/dy = -2 omega grad_y S(y)``, ``S`` the damped exact
    penalty with ``M = (H + mu I)^{-1}``. The left side is autodiff through 60,000
    unrolled gradient steps of that follower from ``phi*`` (``H + mu I`` has an
    eigenvalue near 0.033, so the unrolled response converges slowly).
    """
    from toysim.game.sampled_round import network_steering

    rng = np.random.default_rng(4)
    d, mu = 3, 0.5
    u = Utility(jnp.asarray(10.0), jnp.asarray(0.3), jnp.asarray([1.0, 1.0, 0.0]))
    anchor = mlp_init(jax.random.key(5), (d, 4, 4, 1), scale=0.6)
    model = mlp_reward_model((d, 4, 4, 1))
    flat_anchor, unravel = ravel_pytree(anchor)
    ys = jnp.asarray(rng.normal(size=(6, d)))
    y0 = jnp.asarray([0.4, 0.9, -0.3])
    omega = 1.0 / 7.0

    def data_loss(params, y):
        old = jnp.sum((mlp_reward(params, ys) - utility(u, ys)) ** 2)
        return omega * (old + model.sample_loss(params, y, utility(u, y)))

    def follower(x, y):
        return data_loss(unravel(x), y) + 0.5 * mu * jnp.sum((x - flat_anchor) ** 2)

    def descend(x, y, steps, lr=0.02):
        return jax.lax.fori_loop(0, steps, lambda _, x: x - lr * jax.grad(follower)(x, y), x)

    x_star = jax.jit(descend, static_argnums=2)(flat_anchor, y0, 40_000)
    assert float(jnp.linalg.norm(jax.grad(follower)(x_star, y0))) < 1e-10
    params_star = unravel(x_star)

    theta = jnp.asarray([0.2, -0.1, 0.5])  # where the global g = grad_phi r(theta) is taken
    g = ravel_pytree(jax.grad(mlp_reward)(params_star, theta))[0]
    response = jax.jit(jax.jacfwd(lambda y: descend(x_star, y, 60_000)))(y0)
    unrolled = g @ response

    method = dataclasses.replace(METHODS["fpo"], hessian="damped", params="current")
    hessian = linalg.hessian_operator(lambda x: data_loss(unravel(x), y0), x_star)
    inverse = linalg.inverse(linalg.damped(hessian, mu), linalg.CG(tol=1e-12, maxiter=500))
    penalty, solution = network_steering(method, model, params_star, inverse, theta, u)
    iterations, residual = solution.info.iterations, solution.info.residual
    assert float(residual) <= 1e-12, (int(iterations), float(residual))
    implicit = -2.0 * omega * jax.grad(penalty)(y0)
    chex.assert_trees_all_close(unrolled, implicit, rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_damped_exact_fpo_prevents_collapse_without_strong_convexity():
    """paper-nn with the published comparison's exact FPO (damped Hessian, fixed mu = 1,
    gamma = 2 omega = 0.2), 4 seeds: CG meets its tolerance on most solves but not all, and
    a solve counts as converged only where H + mu I is also positive definite."""
    from toysim.experiments.neural import figure_game
    from toysim.game.curvature import DEFAULT_SOLVERS

    spec, hp = figure_game("fpo-exact")
    assert (spec.method.hessian, spec.method.params, float(hp.gamma)) == ("damped", "current", 0.2)
    run = jax.jit(jax.vmap(make_trajectory(spec), in_axes=(0, None)))
    trajectory = run(jax.vmap(jax.random.key)(np.arange(4)), hp)
    assert np.all(np.asarray(trajectory.utility[:, -1]) > 9.0)
    met_tolerance = np.asarray(trajectory.solve.residual) <= DEFAULT_SOLVERS["damped"].tol
    assert 0.5 < met_tolerance.mean() < 1.0  # CG on a matrix that is not always definite
    assert np.all(met_tolerance[np.asarray(trajectory.solve.converged)])


@pytest.mark.slow  # over 12 s; runs in CI's slow step
def test_nonconvexity_diagnostics_match_an_independent_dense_hessian():
    from toysim.experiments.nonconvexity import nonconvexity_diagnostics
    from toysim.game.followers import SampleBuffer
    from toysim.game.sampled_round import network_model, network_objective

    spec, hp = build("paper-nn", "rlhf")
    spec = dataclasses.replace(spec, hidden=(4, 4), steps=40, record_state=True)
    trajectory = jax.jit(make_trajectory(spec))(jax.random.key(2), hp)
    diagnostics = nonconvexity_diagnostics(spec, hp, trajectory, every=10)
    np.testing.assert_array_equal(diagnostics.iteration, [0, 10, 20, 30])

    flat = trajectory.rm_params[20]
    buffer = SampleBuffer(*(x[20] for x in trajectory.buffer))
    unravel = ravel_pytree(mlp_init(jax.random.key(0), (10, 4, 4, 1)))[1]
    objective = network_objective(network_model(spec), buffer, hp.weight_decay)
    hessian = jax.hessian(lambda x: objective(unravel(x)))(flat)
    eigenvalues = np.linalg.eigvalsh(np.asarray(hessian))
    assert float(diagnostics.smallest[2]) == pytest.approx(eigenvalues[0], rel=1e-8, abs=1e-10)
    assert float(diagnostics.largest[2]) == pytest.approx(eigenvalues[-1], rel=1e-8)
    assert bool(diagnostics.indefinite[2]) == (eigenvalues[0] < 0)
    for values in diagnostics.cosines.values():
        assert np.all(np.abs(np.asarray(values)) <= 1 + 1e-12)
    with pytest.raises(ConfigError, match="record_state=True"):
        nonconvexity_diagnostics(
            spec, hp, trajectory._replace(rm_params=None, buffer=None), every=10
        )


@pytest.mark.slow  # over 12 s; runs in CI's slow step
@pytest.mark.parametrize("influence", ["global"])  # local: > 25 min on 2 cores, see below
def test_cg_and_dense_damped_solves_give_the_same_steering_at_every_state(influence):
    """The matrix-free CG path against the formed, damped Hessian (LU) on a small network:
    the steering direction at every state a CG run visited, over 8 seeds.

    Whole trajectories are not compared: the leader's clipped steps and Adam's normalised
    ones amplify a difference at the solver's tolerance (1e-12) to 1e-4 within 40
    iterations on some seeds (0, 3 and 6 of 0-7), so the test compares the per-step
    quantity the tolerance bounds: a relative error in ``v = M^{-1} g`` of at most
    ``cond(M) tol``, carried into ``-grad_y S`` by one linear map (slack 100); ``mu = 50``
    keeps ``H + mu I`` positive definite at every visited state, where CG must converge.
    Local influence (the solve inside ``S(y)``) did not finish within 25 minutes on 2 cores,
    so it is left out here; ``grad_y S`` through each rung (what local influence
    differentiates) is checked against finite differences in tests/game/test_curvature.py.
    """
    from toysim.config import as_float_arrays
    from toysim.game.curvature import CurvatureOptions
    from toysim.game.sampled_round import (
        network_inverse,
        network_model,
        network_objective,
        network_steering,
        neural_utility,
    )

    method = dataclasses.replace(
        METHODS["fpo"], hessian="damped", params="current", influence=influence
    )
    tol = 1e-12
    options = CurvatureOptions(damping="fixed", warm_start=False)
    spec = SampledSpec(
        hidden=(6, 6),
        steps=40,
        method=method,
        solver=linalg.CG(tol=tol, maxiter=400),
        curvature=options,
        record_state=True,
    )
    hp = SampledHParams(gamma=0.2, damping=50.0)  # definite at every state: CG's guarantee
    keys = jax.vmap(jax.random.key)(np.arange(8))
    trajectory = jax.jit(jax.vmap(make_trajectory(spec), in_axes=(0, None)))(keys, hp)
    model, hpa = network_model(spec), as_float_arrays(hp)
    u = neural_utility(spec, hpa)
    unravel = ravel_pytree(model.init(jax.random.key(0), jnp.float64))[1]

    def at(flat, buffer, theta):
        phi = unravel(flat)
        directions = []
        for solver in (spec.solver, linalg.LU()):
            rung = dataclasses.replace(spec, solver=solver)
            inverse = network_inverse(rung, hpa, model, phi, buffer, jax.random.key(0))
            penalty, _ = network_steering(method, model, phi, inverse, theta, u)
            directions.append(-jax.grad(penalty)(theta))
        objective = network_objective(model, buffer, hpa.weight_decay)
        hessian = jax.hessian(lambda x: objective(unravel(x)))(flat) + hpa.damping * jnp.eye(
            flat.shape[0]
        )
        return (*directions, jnp.linalg.eigvalsh(hessian))

    theta_seen = jnp.concatenate([jnp.zeros((8, 1, spec.dim)), trajectory.theta[:, :-1]], axis=1)
    flat_all = trajectory.rm_params.reshape(-1, trajectory.rm_params.shape[-1])
    buffers = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), trajectory.buffer)
    cg, dense, eigenvalues = jax.jit(jax.vmap(at))(
        flat_all, buffers, theta_seen.reshape(-1, spec.dim)
    )
    definite = np.asarray(eigenvalues[:, 0]) > 0
    assert definite.all()
    cond = np.asarray(eigenvalues[:, -1] / eigenvalues[:, 0])[definite]
    error = np.linalg.norm(np.asarray(cg - dense), axis=1)[definite]
    scale = np.linalg.norm(np.asarray(dense), axis=1)[definite]
    assert np.all(error <= 100 * cond * tol * scale + 1e-15), np.max(error / scale / cond)
    if influence == "global":
        converged = np.asarray(trajectory.solve.converged).reshape(-1)
        np.testing.assert_array_equal(converged[definite], True)
    with pytest.raises(ConfigError, match="solver must be a toysim.linalg solver"):
        make_trajectory(dataclasses.replace(spec, solver="lu"))
    with pytest.raises(ConfigError, match="solver must be a toysim.linalg solver"):
        make_trajectory(dataclasses.replace(spec, solver=linalg.Identity()))
