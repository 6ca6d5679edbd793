"""The utility, its gradient, the Gaussian closed forms, the metrics."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from toysim import linalg
from toysim.game.policy import GaussianPolicy, linear_influence_loss
from toysim.model import (
    Utility,
    anchor_penalty,
    block_signal_noise,
    gaussian_utility_moments,
    linear_reward,
    projection_signal_noise,
    utility,
    utility_grad,
)


def random_utility(rng, d, tau=None):
    return Utility(
        amplitude=jnp.asarray(rng.uniform(0.5, 10.0)),
        tau=jnp.asarray(rng.uniform(0.05, 0.5) if tau is None else tau),
        ideal=jnp.asarray(rng.normal(size=d)),
    )


@given(seed=st.integers(0, 2**31), d=st.integers(1, 60))
def test_analytic_utility_gradient_equals_autodiff(seed, d):
    rng = np.random.default_rng(seed)
    u = random_utility(rng, d)
    y = jnp.asarray(rng.normal(size=d))
    chex.assert_trees_all_close(
        utility_grad(u, y), jax.grad(lambda y: utility(u, y))(y), rtol=1e-12, atol=1e-14
    )


def monte_carlo(f, theta, sigma, n, key):
    """Sample mean and its standard error of ``f(y)``, ``y ~ N(theta, sigma^2 I)``."""
    eps = jax.random.normal(key, (n, theta.shape[0]), dtype=theta.dtype)
    values = jax.vmap(f)(theta + sigma * eps)
    return values.mean(axis=0), values.std(axis=0) / np.sqrt(n)


def assert_within_standard_errors(exact, estimate, stderr, k=5.0):
    """``|exact - estimate| <= k standard errors`` (k = 5: a false alarm about once in 3.5e6)."""
    exact, estimate, stderr = map(np.asarray, (exact, estimate, stderr))
    assert np.all(np.abs(exact - estimate) <= k * stderr + 1e-12), (exact, estimate, stderr)


@pytest.mark.slow  # over 12 s; runs in CI's slow step
@given(seed=st.integers(0, 2**31), d=st.integers(1, 12), sigma=st.floats(0.05, 0.8))
def test_gaussian_utility_moments_match_monte_carlo(seed, d, sigma):
    rng = np.random.default_rng(seed)
    u = random_utility(rng, d, tau=rng.uniform(0.05, 0.3))
    theta = jnp.asarray(u.ideal + rng.normal(scale=0.5, size=d))
    sigma = jnp.asarray(sigma)
    mom = gaussian_utility_moments(u, theta, sigma)
    key = jax.random.key(seed)
    n = 200_000
    for exact, f in (
        (mom.mean, lambda y: utility(u, y)),
        (mom.mean_y, lambda y: y * utility(u, y)),
        (mom.mean_sq, lambda y: utility(u, y) ** 2),
    ):
        est, se = monte_carlo(f, theta, sigma, n, key)
        assert_within_standard_errors(exact, est, se)


def test_gaussian_moments_reduce_to_evaluation_at_zero_spread(rng):
    u = random_utility(rng, 7)
    theta = jnp.asarray(rng.normal(size=7))
    mom = gaussian_utility_moments(u, theta, jnp.asarray(0.0))
    chex.assert_trees_all_close(mom.mean, utility(u, theta), rtol=1e-14)
    chex.assert_trees_all_close(mom.mean_y, theta * utility(u, theta), rtol=1e-14)
    chex.assert_trees_all_close(mom.mean_sq, utility(u, theta) ** 2, rtol=1e-14)


@pytest.mark.slow  # over 12 s; runs in CI's slow step
@given(seed=st.integers(0, 2**31), d=st.integers(2, 10), oracle=st.booleans())
def test_population_loss_and_local_steering_match_monte_carlo(seed, d, oracle):
    """The closed forms of ``E[l]`` and ``(1/2) E[y^T M grad_w l]`` against sampling."""
    rng = np.random.default_rng(seed)
    u = random_utility(rng, d, tau=rng.uniform(0.05, 0.3))
    theta = jnp.asarray(rng.normal(size=d))
    w = jnp.asarray(rng.normal(size=d))
    sigma = jnp.asarray(rng.uniform(0.1, 0.6))
    policy = GaussianPolicy(sigma)
    alpha, factor = jnp.asarray(rng.uniform(0.5, 2.0)), jnp.asarray(rng.normal(size=(2, d)))
    h = linalg.LowRankPlusDiagonal(alpha, factor)
    solve = linalg.linear_map(linalg.inverse(h, linalg.Cholesky()))
    key = jax.random.key(seed)
    n = 200_000

    est, se = monte_carlo(lambda y: linear_influence_loss(w, y, u, oracle), theta, sigma, n, key)
    assert_within_standard_errors(policy.expected_loss(w, theta, u, oracle), est, se)

    def per_sample(y):
        g = jax.grad(linear_reward)(w, y)
        return 0.5 * g @ solve(jax.grad(linear_influence_loss)(w, y, u, oracle))

    est, se = monte_carlo(per_sample, theta, sigma, n, key)
    assert_within_standard_errors(policy.local_steering(w, theta, u, solve, oracle), est, se)


@given(seed=st.integers(0, 2**31), d=st.integers(2, 30), k=st.integers(1, 5))
def test_projection_coordinates_make_the_contour_exact(seed, d, k):
    """``||y - m||^2 = (signal - ||m||)^2 + noise^2`` in projection coordinates."""
    rng = np.random.default_rng(seed)
    k = min(k, d - 1)
    ideal = jnp.asarray(np.r_[rng.uniform(0.5, 3, size=k), np.zeros(d - k)])
    y = jnp.asarray(rng.normal(size=(4, d)) * 2)
    signal, noise = projection_signal_noise(y, ideal)
    lhs = jnp.sum((y - ideal) ** 2, axis=-1)
    rhs = (signal - jnp.linalg.norm(ideal)) ** 2 + noise**2
    chex.assert_trees_all_close(lhs, rhs, rtol=1e-12)
    block_s, block_n = block_signal_noise(y, k)
    chex.assert_trees_all_close(block_s**2 + block_n**2, jnp.sum(y**2, axis=-1), rtol=1e-12)


def test_gaussian_moments_broadcast_over_leading_axes(rng):
    u = random_utility(rng, 5)
    thetas = jnp.asarray(rng.normal(size=(3, 4, 5)))
    sigma = jnp.asarray(0.4)
    batched = gaussian_utility_moments(u, thetas, sigma)
    one = gaussian_utility_moments(u, thetas[2, 1], sigma)
    for name in ("mean", "mean_y", "mean_sq", "tilted_mean"):
        chex.assert_trees_all_close(getattr(batched, name)[2, 1], getattr(one, name))


def test_utility_by_hand():
    """``U(y) = A exp(-tau ||y - m||^2)`` with ``A = 2``, ``tau = 0.5``, ``m = (1, 0)``:
    ``U(m) = 2``; at ``y = (1, 2)``, ``||y - m||^2 = 4`` so ``U = 2 exp(-2)``; at
    ``y = (0, 0)``, ``||y - m||^2 = 1`` so ``U = 2 exp(-0.5)``."""
    u = Utility(jnp.asarray(2.0), jnp.asarray(0.5), jnp.asarray([1.0, 0.0]))
    y = jnp.asarray([[1.0, 0.0], [1.0, 2.0], [0.0, 0.0]])
    np.testing.assert_allclose(utility(u, y), [2.0, 2.0 * np.exp(-2.0), 2.0 * np.exp(-0.5)])
    # grad U = -2 tau (y - m) U: at (1, 2) that is -(0, 2) 2 exp(-2) = (0, -4 exp(-2))
    np.testing.assert_allclose(utility_grad(u, y[1]), [0.0, -4.0 * np.exp(-2.0)], atol=1e-15)


def test_gaussian_utility_moments_match_quadrature_in_two_dimensions():
    """``E[U]``, ``E[y U]``, ``E[U^2]`` and the tilted mean and variance under
    ``N(theta, sigma^2 I)`` in ``R^2``, against a Riemann sum on a fine grid (the integrand is
    smooth and decays like a Gaussian, so the sum converges far below the tolerance)."""
    u = Utility(jnp.asarray(3.0), jnp.asarray(0.4), jnp.asarray([1.0, -0.5]))
    theta, sigma = np.array([0.2, 0.3]), 0.7
    x = np.linspace(-8.0, 8.0, 801)
    h = x[1] - x[0]
    y1, y2 = np.meshgrid(x, x, indexing="ij")
    y = np.stack([y1, y2], axis=-1)
    density = np.exp(-np.sum((y - theta) ** 2, axis=-1) / (2 * sigma**2)) / (2 * np.pi * sigma**2)
    values = 3.0 * np.exp(-0.4 * np.sum((y - np.array([1.0, -0.5])) ** 2, axis=-1))
    weight = density * h * h
    mean = np.sum(values * weight)
    mean_y = np.sum((values * weight)[..., None] * y, axis=(0, 1))
    mean_sq = np.sum(values**2 * weight)
    tilted_mean = mean_y / mean
    tilted_var = np.sum((values * weight) * (y1 - tilted_mean[0]) ** 2) / mean
    assert np.sum(weight) == pytest.approx(1.0, rel=1e-10)  # the grid holds the Gaussian
    mom = gaussian_utility_moments(u, jnp.asarray(theta), jnp.asarray(sigma))
    np.testing.assert_allclose(mom.mean, mean, rtol=1e-9)
    np.testing.assert_allclose(mom.mean_y, mean_y, rtol=1e-9)
    np.testing.assert_allclose(mom.mean_sq, mean_sq, rtol=1e-9)
    np.testing.assert_allclose(mom.tilted_mean, tilted_mean, rtol=1e-9)
    np.testing.assert_allclose(mom.tilted_var, tilted_var, rtol=1e-9)


def test_signal_and_noise_coordinates_by_hand():
    """Blocks, ``k = 2``: ``y = (3, 4, 12)`` has signal ``||(3, 4)|| = 5`` and noise 12.
    Projection on ``m = (2, 0, 0)``: ``y = (3, 4, 12)`` has signal ``y . (1, 0, 0) = 3`` and
    noise ``||(0, 4, 12)|| = sqrt(160)``."""
    y = jnp.asarray([3.0, 4.0, 12.0])
    signal, noise = block_signal_noise(y, 2)
    assert (float(signal), float(noise)) == pytest.approx((5.0, 12.0), rel=1e-15)
    signal, noise = projection_signal_noise(y, jnp.asarray([2.0, 0.0, 0.0]))
    assert (float(signal), float(noise)) == pytest.approx((3.0, np.sqrt(160.0)), rel=1e-15)


def test_linear_reward_and_anchor_penalty_by_hand():
    """``w = (1, 2)``: ``r_w((3, -1)) = 3 - 2 = 1``; ``lambda = 0.5``: the ridge penalty is
    ``0.25 (1 + 4) = 1.25`` and around ``w_bar = (1, 0)`` it is ``0.25 (0 + 4) = 1``."""
    w = jnp.asarray([1.0, 2.0])
    assert float(linear_reward(w, jnp.asarray([3.0, -1.0]))) == 1.0
    assert float(anchor_penalty(w, None, jnp.asarray(0.5))) == pytest.approx(1.25, rel=1e-15)
    assert float(anchor_penalty(w, jnp.zeros(2), jnp.asarray(0.5))) == pytest.approx(1.25)
    assert float(anchor_penalty(w, jnp.asarray([1.0, 0.0]), jnp.asarray(0.5))) == pytest.approx(1.0)
