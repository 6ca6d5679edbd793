"""Goodhart curves' fits, the sampled-buffer presets' curves and the calibration map."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from toysim.experiments.calibration import calibration_error, split_directions
from toysim.experiments.goodhart import (
    NEURAL_GOODHART,
    GoodhartCurve,
    curve_fit,
    fit_goodhart,
    goodhart_form,
    goodhart_runs,
    goodhart_table,
    kept_iterations,
    neural_curves,
)
from toysim.game.trajectory import utility_of
from toysim.model.utility import utility
from toysim.presets import build


@pytest.mark.parametrize(("form", "alpha", "beta"), [("best-of-n", 1.3, 0.4), ("rl", 0.8, 0.25)])
def test_fit_recovers_known_coefficients_from_synthetic_curves(form, alpha, beta, rng):
    d = np.linspace(0.0, 6.0, 200)
    noise = 0.01 * rng.standard_normal(d.shape)
    fit = fit_goodhart(d, goodhart_form(d, alpha, beta, form) + noise, form)
    assert fit.alpha == pytest.approx(alpha, abs=0.02)
    assert fit.beta == pytest.approx(beta, abs=0.02)
    assert fit.rmse == pytest.approx(0.01, rel=0.2) and fit.points == d.size


def test_exact_synthetic_curve_fits_with_zero_residual():
    d = np.linspace(0.0, 4.0, 50)
    fit = fit_goodhart(d, goodhart_form(d, 2.0, 0.5, "rl"), "rl")
    assert fit.rmse < 1e-12 and fit.alpha == pytest.approx(2.0) and fit.beta == pytest.approx(0.5)


def test_curve_fit_subtracts_each_seeds_initial_gold():
    d = np.tile(np.linspace(0.0, 3.0, 30), (2, 1))
    gold0 = np.array([1.0, -2.0])
    gold = gold0[:, None] + goodhart_form(d, 1.0, 0.3, "best-of-n")
    fit = curve_fit(GoodhartCurve(d, gold, gold, gold0, "best-of-n"))
    assert fit.alpha == pytest.approx(1.0) and fit.beta == pytest.approx(0.3)
    table = goodhart_table([_runs_with(fit)])
    assert "| toy | bon | d(alpha - beta d) | 1 | 0.3 |" in table


def _runs_with(fit):
    from toysim.experiments.goodhart import GoodhartRuns

    curve = GoodhartCurve(np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((1, 2)), np.zeros(1), "")
    return GoodhartRuns("toy", {"bon": curve}, {"bon": fit}, 1, 0.3, {})


def test_unknown_form_is_refused():
    with pytest.raises(ValueError, match="form must be"):
        fit_goodhart(np.ones(3), np.ones(3), "linear")


def test_calibration_error_is_zero_where_the_reward_model_equals_the_utility():
    spec, hp = build("paper-linear")
    u = utility_of(spec, hp)
    theta = jnp.linspace(-1.0, 2.0, spec.dim)
    signal, noise = jnp.linspace(0.0, 5.0, 7), jnp.linspace(0.0, 2.0, 5)
    gold = lambda y: utility(u, y)  # noqa: E731
    error = calibration_error(theta, spec.signal_dims, signal, noise, gold, gold)
    assert error.shape == (5, 7)
    np.testing.assert_array_equal(error, 0.0)


def test_calibration_grid_holds_the_policy_at_its_own_signal_and_noise():
    spec, hp = build("paper-linear")
    u = utility_of(spec, hp)
    theta = jnp.linspace(-1.0, 2.0, spec.dim)
    w = jnp.cos(jnp.arange(spec.dim, dtype=theta.dtype))
    k = spec.signal_dims
    s, n = jnp.linalg.norm(theta[:k]), jnp.linalg.norm(theta[k:])
    error = calibration_error(theta, k, s[None], n[None], lambda y: y @ w, lambda y: utility(u, y))
    assert float(error[0, 0]) == pytest.approx(float(w @ theta - utility(u, theta)))


def test_split_directions_fall_back_to_a_block_axis_at_zero():
    a, b = split_directions(jnp.zeros(5), 2)
    np.testing.assert_array_equal(a, [1.0, 0, 0, 0, 0])
    np.testing.assert_array_equal(b, [0, 0, 1.0, 0, 0])


@pytest.mark.parametrize("steps", [130, 140, 1000, 1500, 4000])
def test_kept_iterations_are_the_first_100_then_every_20th(steps):
    keep = kept_iterations(steps)
    np.testing.assert_array_equal(keep[:100], np.arange(100))
    np.testing.assert_array_equal(np.diff(keep[100:]), 20)
    assert keep[100] == 119 and steps - 20 <= keep[-1] < steps
    assert (keep[-1] == steps - 1) == (steps % 20 == 0)  # the presets' last iteration is kept
    assert len(kept_iterations(4000)) == 295  # paper-nn's points per seed, as before


def short_pairwise_nn(method):
    spec, hp = build("pairwise-nn", method)
    return dataclasses.replace(spec, steps=140, hidden=(8,)), hp


def assert_goodhart_curves(curves, steps, leaders):
    assert set(curves) == {*leaders, "expert iteration n=4", "expert iteration n=16", "best-of-n"}
    points = len(kept_iterations(steps))
    for label, c in curves.items():
        for values in (c.d, c.gold, c.proxy, c.gold0):
            assert np.all(np.isfinite(values)), label
        assert np.all(c.d >= 0), label
        if label == "best-of-n":
            np.testing.assert_array_equal(c.d[:, 0], 0.0)  # n = 1 is the initial policy
            continue
        assert c.form == "rl" and c.d.shape == (c.gold0.size, points), label
        assert np.all(c.d[:, 0] < 1.0), label  # one iteration from the initial policy


@pytest.mark.slow
def test_neural_curves_follow_the_presets_steps_on_pairs():
    curves, config, spread = neural_curves(short_pairwise_nn, ("rlhf",), 2)
    assert_goodhart_curves(curves, 140, ("rlhf",))
    assert spread == 0.3 and config["rlhf"]


@pytest.mark.slow
def test_pairwise_linear_goodhart_runs_quick():
    runs = goodhart_runs("pairwise-linear", quick=True)
    builder, leaders = NEURAL_GOODHART["pairwise-linear"]
    assert "fpo-exact" in leaders
    assert_goodhart_curves(runs.curves, builder("rlhf")[0].steps, leaders)
    assert all(np.isfinite([f.alpha, f.beta, f.rmse]).all() for f in runs.fits.values())
