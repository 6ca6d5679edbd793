"""The reward-model interface, and the linear RM's fast paths against the generic routes.

The generic route knows a reward model only through its
:class:`~toysim.model.interface.RewardModel`: the follower's Hessian by autodiff
and a dense solve, the best response by one Newton step on it, the steering
term by :func:`toysim.game.steering.sample_steering`, and a Gaussian policy's
expectations by tensor Gauss-Hermite quadrature (no Monte Carlo: exact for
polynomials up to degree 2n - 1 per axis, and to rounding for the smooth
Gaussian-bump utility). The fast paths are the closed forms the linear game
runs on (Woodbury solves, the low-rank Hessian, the Gaussian-policy moments).
"""

import functools
import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from tests.helpers import point_game, population_game
from toysim import linalg
from toysim.config import Method
from toysim.game.followers import (
    BufferData,
    best_response,
    buffer_insert,
    empty_buffer,
    follower_loss,
)
from toysim.game.leader import follower_view, steering_gradient
from toysim.game.steering import influence_loss, reward_gradient, sample_steering
from toysim.model.interface import linear_reward_model, mlp_reward_model
from toysim.model.mlp import mlp_reward
from toysim.model.utility import utility

SWITCHES = list(
    itertools.product(
        ("exact", "identity"), ("global", "local"), ("optimum", "current"), ("true", "none")
    )
)
RTOL = 1e-10


def gauss_hermite(d: int, n: int = 16) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Nodes ``[n^d, d]`` and weights ``[n^d]`` with ``sum_i w_i f(z_i) ~ E_{z~N(0, I_d)} f(z)``."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    nodes = np.stack(np.meshgrid(*([x] * d), indexing="ij"), axis=-1).reshape(-1, d)
    weights = np.prod(np.stack(np.meshgrid(*([w] * d), indexing="ij"), axis=-1), axis=-1)
    return jnp.asarray(nodes), jnp.asarray(weights.ravel() / (2 * np.pi) ** (d / 2))


def expectation(f, theta, sigma, quadrature):
    """``E_{y ~ N(theta, sigma^2 I)}[f(y)]`` by quadrature (``f`` scalar- or vector-valued)."""
    nodes, weights = quadrature
    values = jax.vmap(f)(theta + sigma * nodes)
    return jnp.tensordot(weights, values, axes=1)


def dense_solver(hessian_of, x):
    """``v -> H^{-1} v`` with ``H`` the autodiff Hessian of ``hessian_of`` at ``x``, dense LU."""
    hessian = jax.hessian(hessian_of)(x)
    return lambda v: jnp.linalg.solve(hessian, v)


def assert_close(actual, expected):
    chex.assert_trees_all_close(actual, expected, rtol=RTOL, atol=RTOL * jnp.max(jnp.abs(expected)))


def test_linear_and_mlp_models_implement_the_interface():
    key = jax.random.key(3)
    y = jnp.asarray(np.random.default_rng(0).normal(size=(4, 2, 5)))
    label = jnp.asarray(np.random.default_rng(1).normal(size=(4, 2)))
    for model in (linear_reward_model(5), mlp_reward_model((5, 7, 1), scale=0.5)):
        phi = model.init(key, jnp.float64)
        assert all(leaf.dtype == jnp.float64 for leaf in jax.tree.leaves(phi))
        r = model.reward(phi, y)
        assert r.shape == (4, 2)
        chex.assert_trees_all_close(model.sample_loss(phi, y, label), (r - label) ** 2)
    w = linear_reward_model(5).init(key, jnp.float64)
    chex.assert_trees_all_close(linear_reward_model(5).reward(w, y), y @ w)
    assert not np.array_equal(w, linear_reward_model(5).init(jax.random.key(4), jnp.float64))


@pytest.mark.parametrize("buffer_size", [1, 3])
@pytest.mark.parametrize("switches", SWITCHES, ids="-".join)
def test_point_policy_steering_equals_the_generic_route(switches, buffer_size):
    """Woodbury solve and Newton best response on the low-rank Hessian, against autodiff
    Hessian, dense solve and ``sample_steering``, for every switch combination."""
    hessian, influence, params, oracle = switches
    method = Method("fpo", hessian=hessian, influence=influence, params=params, oracle=oracle)
    rng = np.random.default_rng(sum(map(ord, "-".join(switches))) + buffer_size)
    spec, follower, state, theta, hp, u, olds, policy = point_game(
        rng, 6, buffer_size, buffer_size - 1, "proximal", method, "best-response"
    )
    fast = steering_gradient(
        method, policy, follower_view(method, follower, state, theta, hp, u), theta, u
    )

    model = linear_reward_model(spec.dim)
    data = BufferData(model, buffer_insert(state.buffer, theta, utility(u, theta)), 1 / buffer_size)
    loss = lambda w: follower_loss(w, data, state.w, hp.lam)  # noqa: E731
    solve = dense_solver(loss, state.w)
    phi = state.w - solve(jax.grad(loss)(state.w)) if params == "optimum" else state.w
    solve = dense_solver(loss, phi) if hessian == "exact" else (lambda v: v)
    direction = solve(reward_gradient(model, phi, theta)) if influence == "global" else None

    def penalty(th):
        label_of = functools.partial(utility, u)
        return sample_steering(model, phi, th, label_of, solve, oracle == "true", direction)

    assert_close(fast, jax.grad(penalty)(theta))


@pytest.mark.parametrize("switches", SWITCHES, ids="-".join)
def test_gaussian_policy_closed_forms_equal_the_generic_route(switches):
    """The population game's closed forms (loss, low-rank Hessian, best response, global and
    local steering) against quadrature of the generic per-sample functions."""
    hessian, influence, params, oracle = switches
    method = Method("fpo", hessian=hessian, influence=influence, params=params, oracle=oracle)
    rng = np.random.default_rng(sum(map(ord, "-".join(switches))))
    spec, follower, state, theta, hp, u, policy = population_game(rng, 3, "ridge", method)
    fast = steering_gradient(
        method, policy, follower_view(method, follower, state, theta, hp, u), theta, u
    )

    model = linear_reward_model(spec.dim)
    quadrature = gauss_hermite(spec.dim)

    def population_loss(w):
        def at(y):
            return model.sample_loss(w, y, utility(u, y))

        return expectation(at, theta, hp.sigma, quadrature) + 0.5 * hp.lam * w @ w

    solve = dense_solver(population_loss, state.w)
    phi = state.w - solve(jax.grad(population_loss)(state.w)) if params == "optimum" else state.w
    solve = dense_solver(population_loss, phi) if hessian == "exact" else (lambda v: v)
    g_bar = expectation(lambda y: reward_gradient(model, phi, y), theta, hp.sigma, quadrature)
    direction = solve(g_bar) if influence == "global" else None

    def penalty(th):
        def at(y):
            label_of = functools.partial(utility, u)
            return sample_steering(model, phi, y, label_of, solve, oracle == "true", direction)

        return expectation(at, th, hp.sigma, quadrature)

    assert_close(fast, jax.grad(penalty)(theta))


def test_linear_fast_paths_equal_autodiff_and_quadrature():
    """Low-rank Hessians against autodiff, Woodbury best responses against a dense Newton step,
    and the Gaussian policy's expected reward, cost and loss against quadrature."""
    rng = np.random.default_rng(11)
    spec, follower, state, theta, hp, u, olds, _ = point_game(rng, 7, 4, 3, "ridge")
    data = follower.data(state, theta, hp, u)
    anchor = follower.anchor(state)
    generic = BufferData(linear_reward_model(spec.dim), data.buffer, 1 / 4)
    loss = lambda w: follower_loss(w, generic, anchor, hp.lam)  # noqa: E731
    dense_hessian = jax.hessian(loss)(state.w)
    assert_close(data.curvature(hp.lam).dense(), dense_hessian)
    solve = linalg.linear_map(linalg.inverse(data.curvature(hp.lam), linalg.Cholesky()))
    fast = best_response(data, anchor, hp.lam, solve, state.w)
    assert_close(fast, state.w - jnp.linalg.solve(dense_hessian, jax.grad(loss)(state.w)))

    spec, follower, state, theta, hp, u, policy = population_game(rng, 3, "proximal")
    model = linear_reward_model(spec.dim)
    quadrature = gauss_hermite(spec.dim)
    w = state.w
    assert_close(
        policy.expected_reward(w, theta),
        expectation(lambda y: model.reward(w, y), theta, hp.sigma, quadrature),
    )
    assert_close(
        policy.expected_cost(theta), expectation(lambda y: y @ y, theta, hp.sigma, quadrature)
    )
    for oracle in (True, False):
        expected = expectation(
            lambda y, oracle=oracle: influence_loss(model, w, y, utility(u, y), oracle),
            theta,
            hp.sigma,
            quadrature,
        )
        assert_close(policy.expected_loss(w, theta, u, oracle), expected)
    data = follower.data(state, theta, hp, u)

    def population_loss(w):
        return expectation(
            lambda y: model.sample_loss(w, y, utility(u, y)), theta, hp.sigma, quadrature
        )

    assert_close(
        data.curvature(hp.lam).dense(), jax.hessian(population_loss)(w) + hp.lam * jnp.eye(3)
    )


def test_buffer_blocks_hold_one_iteration_each():
    buffer = empty_buffer(2, 3, jnp.float64, block_size=2)
    blocks = [jnp.full((2, 3), float(i)) for i in range(3)]
    for i, y in enumerate(blocks):
        buffer = buffer_insert(buffer, y, jnp.asarray([i, -i], jnp.float64))
    np.testing.assert_array_equal(buffer.y[0], blocks[2])  # the oldest block was overwritten
    np.testing.assert_array_equal(buffer.y[1], blocks[1])
    np.testing.assert_array_equal(buffer.label, [[2, -2], [1, -1]])
    np.testing.assert_array_equal(buffer.filled, [1, 1])
    assert int(buffer.slot) == 1
    mlp = mlp_reward_model((3, 4, 1))
    phi = mlp.init(jax.random.key(0), jnp.float64)
    mean = BufferData(mlp, buffer, None).loss(phi)
    errors = (mlp.reward(phi, buffer.y) - buffer.label) ** 2
    chex.assert_trees_all_close(mean, jnp.mean(errors), rtol=1e-14)
    assert ravel_pytree(phi)[0].shape == (4 * 3 + 4 + 4 + 1,)


@pytest.mark.slow  # over 12 s; runs in CI's slow step
def test_paper_nn_objective_is_the_one_its_adam_step_follows():
    """FPO's Hessian is taken of ``network_objective``: its gradient must be the one the
    follower's Adam-with-L2 step follows (weight decay included, large enough to matter), and
    its Hessian the buffer's mean squared error's plus ``wd I``, assembled here independently."""
    from toysim.game.followers import adam_l2_optimizer
    from toysim.game.sampled_round import network_objective

    rng = np.random.default_rng(5)
    model = mlp_reward_model((3, 4, 1))
    phi = jax.tree.map(lambda x: x + 0.1, model.init(jax.random.key(2), jnp.float64))
    buffer = empty_buffer(3, 3, jnp.float64, block_size=2)
    for _ in range(2):
        buffer = buffer_insert(buffer, jnp.asarray(rng.normal(size=(2, 3))), jnp.ones(2))
    weight_decay, lr = 0.7, 0.01
    objective = network_objective(model, buffer, weight_decay)

    follower = adam_l2_optimizer(lr, weight_decay)
    data_grads = jax.grad(BufferData(model, buffer, None).loss)(phi)
    step, _ = follower.update(data_grads, follower.init(phi), phi)
    b1, b2, eps = 0.9, 0.999, 1e-8  # optax.adam's defaults

    def first_adam_step(g):  # from zero moments, bias-corrected after one step
        return -lr * ((1 - b1) * g / (1 - b1)) / (jnp.sqrt((1 - b2) * g**2 / (1 - b2)) + eps)

    expected = jax.tree.map(first_adam_step, jax.grad(objective)(phi))
    chex.assert_trees_all_close(step, expected, rtol=1e-12)

    flat, unravel = ravel_pytree(phi)

    def mean_squared_error(x):
        kept = buffer.y[:2].reshape(-1, 3)  # the two filled blocks
        return jnp.mean((mlp_reward(unravel(x), kept) - 1.0) ** 2)

    independent = jax.hessian(mean_squared_error)(flat) + weight_decay * jnp.eye(flat.shape[0])
    assert_close(jax.hessian(lambda x: objective(unravel(x)))(flat), independent)


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("linear", linear_reward_model(4)),
        ("mlp 4-1", mlp_reward_model((4, 1))),
        ("mlp 4-3-1", mlp_reward_model((4, 3, 1))),
        ("mlp 4-6-5-1", mlp_reward_model((4, 6, 5, 1))),
        ("mlp 4-3-2 (reward: output 0)", mlp_reward_model((4, 3, 2))),
    ],
)
@pytest.mark.parametrize("seed", range(3))
def test_structured_gradient_products_match_the_per_sample_gradients(name, model, seed):
    """``gradient_gram(phi, ys)`` equals ``J J^T`` and ``gradient_square_sum(phi, ys, c)``
    equals ``c^T (J * J)``, with ``J`` the per-sample gradients formed by autodiff, biases
    included and the weights ``c`` unequal."""
    key_phi, key_y, key_b, key_c = jax.random.split(jax.random.key(seed), 4)
    phi = model.init(key_phi, jnp.float64)
    if isinstance(phi, list):  # non-zero biases, so that their terms count
        keys = jax.random.split(key_b, len(phi))
        phi = [(w, jax.random.normal(k, b.shape)) for k, (w, b) in zip(keys, phi, strict=True)]
    ys = jax.random.normal(key_y, (7, 4), jnp.float64)
    weights = jax.random.uniform(key_c, (7,), jnp.float64)
    jacobian = jax.vmap(lambda y: reward_gradient(model, phi, y))(ys)
    np.testing.assert_allclose(
        model.gradient_gram(phi, ys), jacobian @ jacobian.T, rtol=1e-12, atol=1e-12
    )
    square_sum = ravel_pytree(model.gradient_square_sum(phi, ys, weights))[0]
    np.testing.assert_allclose(square_sum, weights @ jacobian**2, rtol=1e-12, atol=1e-12)


def test_mlp_reward_by_hand():
    """2 -> 2 -> 1 with ``W_1 = I``, ``b_1 = (0, 1)``, ``W_2 = (1, 2)^T``, ``b_2 = 0.5``:
    ``r(y) = softplus(y_0) + 2 softplus(y_1 + 1) + 0.5`` with ``softplus(x) = log(1 + e^x)``.
    At ``y = (0, -1)``: ``log 2 + 2 log 2 + 0.5 = 3 log 2 + 0.5``; at ``y = (1, 0)``:
    ``log(1 + e) + 2 log(1 + e) + 0.5 = 3 log(1 + e) + 0.5``."""
    phi = [
        (jnp.eye(2), jnp.asarray([0.0, 1.0])),
        (jnp.asarray([[1.0], [2.0]]), jnp.asarray([0.5])),
    ]
    r = mlp_reward(phi, jnp.asarray([[0.0, -1.0], [1.0, 0.0]]))
    expected = [3 * np.log(2.0) + 0.5, 3 * np.log(1 + np.e) + 0.5]
    np.testing.assert_allclose(r, expected, rtol=1e-14)
