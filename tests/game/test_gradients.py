"""The exact steering term against independent routes (docs/theory/stackelberg-gradient.md).

The leader's FPO gradient with every switch exact and ``gamma = 2 omega`` must
equal ``dJ/dtheta`` computed (a) by autodiff through a dense exact solve of the
best response and (b) by central finite differences of ``J``.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import EXACT, central_difference, point_game, point_objective, population_game
from toysim import linalg
from toysim.game.followers import best_response, follower_loss
from toysim.game.leader import leader_gradient
from toysim.model.utility import gaussian_utility_moments


def population_best_response(theta, hp, u, w_bar):
    """``w* = (b - theta (theta . b) / (q + ||theta||^2)) / q`` (Sherman-Morrison)."""
    mom = gaussian_utility_moments(u, theta, hp.sigma)
    q = hp.sigma**2 + hp.lam / 2
    b = mom.mean_y + hp.lam / 2 * w_bar
    return (b - theta * (theta @ b) / (q + theta @ theta)) / q


def population_objective(theta, hp, u, w_bar):
    """``J(theta) = w*(theta) . theta - c (||theta||^2 + d sigma^2)``."""
    w = population_best_response(theta, hp, u, w_bar)
    return w @ theta - hp.action_cost * (theta @ theta + theta.shape[0] * hp.sigma**2)


@given(
    seed=st.integers(0, 2**31),
    d=st.integers(2, 12),
    buffer_size=st.integers(1, 4),
    anchor=st.sampled_from(["ridge", "proximal"]),
    data=st.data(),
)
def test_exact_fpo_gradient_is_the_stackelberg_gradient_point_policy(
    seed, d, buffer_size, anchor, data
):
    n_old = data.draw(st.integers(0, buffer_size - 1))
    rng = np.random.default_rng(seed)
    spec, follower, state, theta, hp, u, olds, policy = point_game(
        rng, d, buffer_size, n_old, anchor
    )
    hp = hp._replace(gamma=jnp.asarray(2.0 * spec.new_sample_weight))
    fpo = jax.jit(lambda th: leader_gradient(EXACT, policy, follower, state, th, hp, u).total)

    def objective(th):
        return point_objective(th, state, hp, u, olds, buffer_size, anchor)

    fpo = fpo(theta)  # compiled, as every test here: eager dispatch was most of their time
    chex.assert_trees_all_close(fpo, jax.jit(jax.grad(objective))(theta), rtol=1e-9, atol=1e-10)
    chex.assert_trees_all_close(fpo, central_difference(objective, theta), rtol=1e-6, atol=1e-7)


@given(
    seed=st.integers(0, 2**31), d=st.integers(2, 12), anchor=st.sampled_from(["ridge", "proximal"])
)
def test_exact_fpo_gradient_is_the_stackelberg_gradient_population(seed, d, anchor):
    rng = np.random.default_rng(seed)
    spec, follower, state, theta, hp, u, policy = population_game(rng, d, anchor)
    hp = hp._replace(gamma=jnp.asarray(2.0))
    fpo = jax.jit(lambda th: leader_gradient(EXACT, policy, follower, state, th, hp, u).total)
    w_bar = state.w if anchor == "proximal" else jnp.zeros(d)

    def objective(th):
        return population_objective(th, hp, u, w_bar)

    fpo = fpo(theta)
    chex.assert_trees_all_close(fpo, jax.jit(jax.grad(objective))(theta), rtol=1e-9, atol=1e-10)
    chex.assert_trees_all_close(fpo, central_difference(objective, theta), rtol=1e-6, atol=1e-7)


@given(
    seed=st.integers(0, 2**31), d=st.integers(2, 12), anchor=st.sampled_from(["ridge", "proximal"])
)
def test_population_best_response_matches_sherman_morrison(seed, d, anchor):
    rng = np.random.default_rng(seed)
    _, follower, state, theta, hp, u, _ = population_game(rng, d, anchor)
    data = follower.data(state, theta, hp, u)
    w_bar = follower.anchor(state)
    solve = linalg.linear_map(linalg.inverse(data.curvature(hp.lam), linalg.Cholesky()))
    chex.assert_trees_all_close(
        best_response(data, w_bar, hp.lam, solve, state.w),
        population_best_response(theta, hp, u, w_bar),
        rtol=1e-10,
        atol=1e-12,
    )


@given(
    seed=st.integers(0, 2**31),
    d=st.integers(2, 12),
    buffer_size=st.integers(1, 4),
    population=st.booleans(),
)
def test_structured_curvature_is_the_hessian_of_the_follower_loss(seed, d, buffer_size, population):
    rng = np.random.default_rng(seed)
    if population:
        _, follower, state, theta, hp, u, _ = population_game(rng, d, "proximal")
    else:
        _, follower, state, theta, hp, u, *_ = point_game(
            rng, d, buffer_size, buffer_size - 1, "proximal"
        )
    data = follower.data(state, theta, hp, u)
    anchor = follower.anchor(state)
    h = data.curvature(hp.lam)
    dense = jax.hessian(follower_loss)(state.w, data, anchor, hp.lam)
    chex.assert_trees_all_close(h.dense(), dense, rtol=1e-10, atol=1e-12)


@given(seed=st.integers(0, 2**31), d=st.integers(1, 20), n=st.integers(1, 25))
def test_woodbury_and_dense_cholesky_solves_agree(seed, d, n):
    rng = np.random.default_rng(seed)
    alpha, factor = jnp.asarray(rng.uniform(0.01, 2.0)), jnp.asarray(rng.normal(size=(n, d)))
    h = linalg.LowRankPlusDiagonal(alpha, factor)
    v = jnp.asarray(rng.normal(size=d))
    x = linalg.solve(h, v, linalg.Cholesky()).x
    chex.assert_trees_all_close(x, jnp.linalg.solve(h.dense(), v), rtol=1e-8, atol=1e-10)
    chex.assert_trees_all_close(h.matvec(x), v, rtol=1e-8, atol=1e-10)
