"""Goodhart curves' fits, the sampled-buffer presets' curves and the calibration map."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from toysim.experiments.calibration import calibration_error, split_directions
from toysim.experiments.goodhart import (
    NEURAL_GOODHART,
    GoodhartCurve,
    curve,
    curve_fit,
    fit_goodhart,
    goodhart_form,
    goodhart_runs,
    goodhart_table,
    kept_iterations,
    neural_curves,
)
from toysim.game.linear_round import utility_of
from toysim.model.utility import utility
from toysim.presets import build


def gao_best_of_n(d, alpha, beta):
    """Gao, Schulman, Hilton (2022)'s best-of-n form ``d (alpha - beta d)``, written out here
    (not taken from the library) so that the fit is checked against the published form."""
    return d * (alpha - beta * d)


def gao_rl(d, alpha, beta):
    """Their RL form ``d (alpha - beta log d)``, which is 0 at ``d = 0``."""
    return d * (alpha - beta * np.log(np.where(d > 0, d, 1.0)))


GAO_FORMS = {"best-of-n": gao_best_of_n, "rl": gao_rl}


@pytest.mark.parametrize(("form", "alpha", "beta"), [("best-of-n", 1.3, 0.4), ("rl", 0.8, 0.25)])
def test_fit_recovers_known_coefficients_from_synthetic_curves(form, alpha, beta, rng):
    d = np.linspace(0.0, 6.0, 200)
    noise = 0.01 * rng.standard_normal(d.shape)
    fit = fit_goodhart(d, GAO_FORMS[form](d, alpha, beta) + noise, form)
    assert fit.alpha == pytest.approx(alpha, abs=0.02)
    assert fit.beta == pytest.approx(beta, abs=0.02)
    assert fit.rmse == pytest.approx(0.01, rel=0.2) and fit.points == d.size


def test_exact_synthetic_curve_fits_with_zero_residual():
    d = np.linspace(0.0, 4.0, 50)
    fit = fit_goodhart(d, gao_rl(d, 2.0, 0.5), "rl")
    assert fit.rmse < 1e-12 and fit.alpha == pytest.approx(2.0) and fit.beta == pytest.approx(0.5)


def test_goodhart_forms_by_hand():
    """best-of-n, alpha = 1.3, beta = 0.4: d = 1 -> 1 (1.3 - 0.4) = 0.9, d = 2 -> 2 (1.3 - 0.8)
    = 1.0. rl, alpha = 2, beta = 0.5: d = 1 -> 1 (2 - 0.5 log 1) = 2, d = e -> e (2 - 0.5) =
    1.5 e; and 0 at d = 0 for both."""
    np.testing.assert_allclose(
        goodhart_form(np.array([0.0, 1.0, 2.0]), 1.3, 0.4, "best-of-n"), [0.0, 0.9, 1.0], rtol=1e-14
    )
    np.testing.assert_allclose(
        goodhart_form(np.array([0.0, 1.0, np.e]), 2.0, 0.5, "rl"),
        [0.0, 2.0, 1.5 * np.e],
        rtol=1e-14,
    )


@pytest.mark.parametrize(
    ("form", "d", "gain"),
    [
        # alpha - beta = 0.9 and 2 alpha - 4 beta = 1.0 give beta = (1.8 - 1.0)/2 = 0.4, alpha = 1.3
        ("best-of-n", [1.0, 2.0], [0.9, 1.0]),
        # d = 1: alpha - beta log 1 = alpha = 2; d = e: e alpha - beta e = 1.5 e, so beta = 0.5
        ("rl", [1.0, np.e], [2.0, 1.5 * np.e]),
    ],
)
def test_two_point_fit_solves_the_published_form_by_hand(form, d, gain):
    """Two points fix the two coefficients: solved by hand in the comments above."""
    fit = fit_goodhart(np.array(d), np.array(gain), form)
    alpha, beta = (1.3, 0.4) if form == "best-of-n" else (2.0, 0.5)
    assert fit.alpha == pytest.approx(alpha, rel=1e-12)
    assert fit.beta == pytest.approx(beta, rel=1e-12)
    assert fit.rmse < 1e-12 and fit.points == 2


def test_curve_reads_d_as_the_square_root_of_kl():
    """``d = sqrt(KL)``: KL 0, 4, 0.25 -> d 0, 2, 0.5 (a rounding-negative KL reads as 0), and
    with no ``gold0`` each seed's first gold is its start."""
    kl = np.array([[0.0, 4.0, 0.25], [-1e-18, 1.0, 9.0]])
    gold = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]])
    c = curve(kl, gold, gold, None, "rl")
    np.testing.assert_array_equal(c.d, [[0.0, 2.0, 0.5], [0.0, 1.0, 3.0]])
    np.testing.assert_array_equal(c.gold0, [1.0, -1.0])
    np.testing.assert_array_equal(curve(kl, gold, gold, 0.5, "rl").gold0, [0.5, 0.5])


def test_curve_fit_subtracts_each_seeds_initial_gold():
    d = np.tile(np.linspace(0.0, 3.0, 30), (2, 1))
    gold0 = np.array([1.0, -2.0])
    gold = gold0[:, None] + gao_best_of_n(d, 1.0, 0.3)
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
