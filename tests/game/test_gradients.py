"""The exact steering term against independent routes (docs/theory/stackelberg-gradient.md).

The leader's FPO gradient with every switch exact and ``gamma = 2 omega`` must
equal ``dJ/dtheta`` computed (a) by autodiff through a dense exact solve of the
best response and (b) by central finite differences of ``J``.
"""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import (
    central_difference,
    exact_leader_gradient,
    point_game,
    point_objective,
    point_objective_gradient,
    population_game,
)
from toysim import linalg
from toysim.game.followers import best_response, follower_loss
from toysim.model.utility import gaussian_utility_moments

DIMS = st.sampled_from([2, 7])
"""``d = 2`` (one signal dimension) and a general ``d``: the draws vary values, not shapes,
so each property compiles a handful of programs instead of one per example."""


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
    d=DIMS,
    buffer_size=st.sampled_from([1, 4]),
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
    w_bar = state.w if anchor == "proximal" else jnp.zeros(d)
    args = (w_bar, hp, u, olds, jnp.asarray(float(buffer_size)))
    fpo = exact_leader_gradient(follower, policy, state, theta, hp, u)
    chex.assert_trees_all_close(fpo, point_objective_gradient(theta, *args), rtol=1e-9, atol=1e-10)
    chex.assert_trees_all_close(
        fpo, central_difference(point_objective, theta, *args), rtol=1e-6, atol=1e-7
    )


population_objective_gradient = jax.jit(jax.grad(population_objective))


@given(seed=st.integers(0, 2**31), d=DIMS, anchor=st.sampled_from(["ridge", "proximal"]))
def test_exact_fpo_gradient_is_the_stackelberg_gradient_population(seed, d, anchor):
    rng = np.random.default_rng(seed)
    spec, follower, state, theta, hp, u, policy = population_game(rng, d, anchor)
    hp = hp._replace(gamma=jnp.asarray(2.0))
    w_bar = state.w if anchor == "proximal" else jnp.zeros(d)
    fpo = exact_leader_gradient(follower, policy, state, theta, hp, u)
    args = (hp, u, w_bar)
    chex.assert_trees_all_close(
        fpo, population_objective_gradient(theta, *args), rtol=1e-9, atol=1e-10
    )
    chex.assert_trees_all_close(
        fpo, central_difference(population_objective, theta, *args), rtol=1e-6, atol=1e-7
    )


@functools.partial(jax.jit, static_argnums=0)
def cholesky_best_response(follower, state, theta, hp, u):
    """toysim's best response, its curvature solved by Cholesky (compiled per follower)."""
    data = follower.data(state, theta, hp, u)
    solve = linalg.linear_map(linalg.inverse(data.curvature(hp.lam), linalg.Cholesky()))
    return best_response(data, follower.anchor(state), hp.lam, solve, state.w)


@given(seed=st.integers(0, 2**31), d=DIMS, anchor=st.sampled_from(["ridge", "proximal"]))
def test_population_best_response_matches_sherman_morrison(seed, d, anchor):
    rng = np.random.default_rng(seed)
    _, follower, state, theta, hp, u, _ = population_game(rng, d, anchor)
    w_bar = state.w if anchor == "proximal" else jnp.zeros(d)
    chex.assert_trees_all_close(
        cholesky_best_response(follower, state, theta, hp, u),
        jax.jit(population_best_response)(theta, hp, u, w_bar),
        rtol=1e-10,
        atol=1e-12,
    )


@functools.partial(jax.jit, static_argnums=0)
def structured_and_autodiff_curvature(follower, state, theta, hp, u):
    """The follower's structured curvature, formed densely, and ``jax.hessian`` of its loss."""
    data = follower.data(state, theta, hp, u)
    dense = jax.hessian(follower_loss)(state.w, data, follower.anchor(state), hp.lam)
    return data.curvature(hp.lam).dense(), dense


@given(
    seed=st.integers(0, 2**31),
    d=DIMS,
    buffer_size=st.sampled_from([1, 4]),
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
    structured, dense = structured_and_autodiff_curvature(follower, state, theta, hp, u)
    chex.assert_trees_all_close(structured, dense, rtol=1e-10, atol=1e-12)


@jax.jit
def woodbury_and_dense_solves(alpha, factor, v):
    """``x = H^-1 v`` by the low-rank Cholesky route, by a dense solve, and ``H x``."""
    h = linalg.LowRankPlusDiagonal(alpha, factor)
    x = linalg.solve(h, v, linalg.Cholesky()).x
    return x, jnp.linalg.solve(h.dense(), v), h.matvec(x)


@given(seed=st.integers(0, 2**31), d=st.sampled_from([1, 7, 20]), n=st.sampled_from([1, 7, 25]))
def test_woodbury_and_dense_cholesky_solves_agree(seed, d, n):
    rng = np.random.default_rng(seed)
    alpha, factor = jnp.asarray(rng.uniform(0.01, 2.0)), jnp.asarray(rng.normal(size=(n, d)))
    v = jnp.asarray(rng.normal(size=d))
    x, dense, hx = woodbury_and_dense_solves(alpha, factor, v)
    chex.assert_trees_all_close(x, dense, rtol=1e-8, atol=1e-10)
    chex.assert_trees_all_close(hx, v, rtol=1e-8, atol=1e-10)
