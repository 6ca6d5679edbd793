"""The leader's landscape at the follower's fixed point (toysim.game.landscape)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import central_difference
from toysim.config import ConfigError
from toysim.experiments.landscape import grid_maxima
from toysim.game.landscape import (
    landscape,
    pairs_best_response,
    plane_point,
    point_best_response,
    stationary_pairs,
)
from toysim.model.metrics import projection_signal_noise
from toysim.presets import build
from toysim.seeds import seed_key

PAIRS = 400


def numpy_utility(y, amplitude, tau, ideal):
    return amplitude * np.exp(-tau * np.sum((y - ideal) ** 2, axis=-1))


def test_stationary_pairs_are_the_policy_s_pairs_with_their_expected_labels():
    """Every pair is ``theta + sigma eps`` (the same ``eps`` at any ``theta``) and its label
    ``(1 - q) s(beta dU) + q (1 - s(beta dU))``, computed here by hand."""
    spec, hp = build("pairwise-linear", "rlhf")
    ideal = np.r_[2.5, 2.5, np.zeros(8)]
    theta_a, theta_b = np.full(10, 0.3), np.r_[1.0, -0.5, np.zeros(8)]
    a = stationary_pairs(spec, hp, jnp.asarray(theta_a), PAIRS, seed_key(3))
    b = stationary_pairs(spec, hp, jnp.asarray(theta_b), PAIRS, seed_key(3))
    ya, yb = np.asarray(a.y[0]), np.asarray(b.y[0])
    np.testing.assert_allclose(ya - theta_a, yb - theta_b, atol=1e-12)
    assert ya.shape == (PAIRS, 2, 10)
    assert np.std(ya - theta_a) == pytest.approx(0.3, rel=0.05)
    du = numpy_utility(ya[:, 0], 10.0, 0.2, ideal) - numpy_utility(ya[:, 1], 10.0, 0.2, ideal)
    s = 1 / (1 + np.exp(-1.0 * du))
    np.testing.assert_allclose(a.label[0], 0.9 * s + 0.1 * (1 - s), rtol=1e-12)


def test_pairs_best_response_solves_the_regularised_logistic_loss_by_hand():
    """``w*`` zeroes the gradient of ``(1/N) sum_i l(w; pair_i) + (wd/2)||w||^2`` written with
    NumPy, ``(1/N) sum_i (s(w . dy_i) - p_i) dy_i + wd w``, and equals a NumPy Newton solve."""
    spec, hp = build("pairwise-linear", "rlhf")
    theta = jnp.asarray(np.r_[1.2, 0.4, 0.8, np.zeros(7)])
    buffer = stationary_pairs(spec, hp, theta, PAIRS, seed_key(0))
    w = np.asarray(pairs_best_response(spec, hp, theta, PAIRS, seed_key(0)).x)
    dy = np.asarray(buffer.y[0, :, 0] - buffer.y[0, :, 1])
    p, wd = np.asarray(buffer.label[0]), hp.weight_decay

    def gradient(v):
        return dy.T @ (1 / (1 + np.exp(-dy @ v)) - p) / PAIRS + wd * v

    assert np.linalg.norm(gradient(w)) < 1e-12 * max(1.0, np.linalg.norm(gradient(0 * w)))
    v = np.zeros(10)
    for _ in range(40):
        fit = 1 / (1 + np.exp(-dy @ v))
        hessian = (dy * (fit * (1 - fit))[:, None]).T @ dy / PAIRS + wd * np.eye(10)
        v = v - np.linalg.solve(hessian, gradient(v))
    np.testing.assert_allclose(w, v, rtol=1e-9, atol=1e-12)


def test_the_pairs_landscape_gradient_matches_central_differences():
    """``grad V`` by autodiff through the Newton solve (what gradient ascent follows) against
    central differences of ``V`` itself."""
    spec, hp = build("pairwise-linear", "rlhf")
    value, _ = landscape(spec, hp, pairs=PAIRS, seed=1)
    theta = jnp.asarray(np.r_[0.6, 1.1, -0.9, 0.3, np.zeros(6)])
    grad = jax.jit(jax.grad(value))(theta)
    np.testing.assert_allclose(grad, central_difference(value, theta), rtol=1e-6, atol=1e-8)


def test_point_best_response_is_the_sgd_follower_s_fixed_point():
    """paper-linear: ``w* = 2 U theta / (2 ||theta||^2 + wd / eta)`` (closed form by hand), and
    one step ``w <- w - eta 2 (w . theta - U) theta - wd w`` leaves it where it is."""
    spec, hp = build("paper-linear", "rlhf")
    theta = np.r_[1.5, 1.0, 2.5, 0.7, np.zeros(46)]
    ideal = np.r_[2.0, 2.0, 2.0, np.zeros(47)]
    u = numpy_utility(theta, 10.0, 0.3, ideal)
    w = np.asarray(point_best_response(spec, hp, jnp.asarray(theta)))
    lam = hp.weight_decay / hp.follower_lr
    np.testing.assert_allclose(w, 2 * u * theta / (2 * theta @ theta + lam), rtol=1e-12)
    stepped = w - hp.follower_lr * 2 * (w @ theta - u) * theta - hp.weight_decay * w
    np.testing.assert_allclose(stepped, w, rtol=1e-12, atol=1e-15)
    value, _ = landscape(spec, hp)
    assert float(value(jnp.asarray(theta))) == pytest.approx(w @ theta - 0.1 * theta @ theta)


def test_plane_point_has_the_projection_coordinates_it_was_built_from():
    ideal = jnp.asarray(np.r_[2.0, 2.0, 2.0, np.zeros(5)])
    signal, noise = jnp.asarray([-1.0, 0.0, 2.5]), jnp.asarray([0.0, 1.5, 3.0])
    theta = plane_point(signal, noise, ideal, 3)
    s, n = projection_signal_noise(theta, ideal)
    np.testing.assert_allclose(s, signal, atol=1e-12)
    np.testing.assert_allclose(n, noise, atol=1e-12)
    assert np.all(np.asarray(theta[:, 4:]) == 0)


def test_grid_maxima_finds_interior_maxima_and_those_on_the_line_through_m():
    """A bump inside and one on the first row (noise 0, mirrored); edges are never maxima."""
    s, n = np.meshgrid(np.linspace(-3, 3, 31), np.linspace(0, 3, 16))
    values = np.exp(-((s - 1.0) ** 2 + (n - 1.4) ** 2)) + 0.5 * np.exp(-((s + 1.6) ** 2 + n**2))
    values = values + 0.01 * s  # the largest value sits on the right edge
    assert sorted(grid_maxima(values)) == [(0, 7), (7, 20)]


def test_landscape_refuses_a_game_without_a_unique_linear_best_response():
    spec, hp = build("pairwise-nn", "rlhf")
    with pytest.raises(ConfigError, match="reward_model = linear"):
        landscape(spec, hp)
    spec, hp = build("population", "rlhf")
    with pytest.raises(ConfigError, match="follower = sgd"):
        landscape(spec, hp)
    spec, hp = build("pairwise-linear", "rlhf")
    with pytest.raises(ConfigError, match="data = pairs"):
        landscape(dataclasses.replace(spec, data="points"), hp)
