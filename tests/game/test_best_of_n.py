"""Best-of-n: its KL against Monte Carlo, the Gaussian KL, selection, expert iteration."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm

from toysim.config import ConfigError
from toysim.experiments.runner import run_seeds
from toysim.game.best_of_n import (
    best_of_n_curve,
    best_of_n_draw,
    best_of_n_kl,
    expert_move,
    gaussian_kl,
    select_best,
)
from toysim.game.composition import Composition, CompositionParams, ExpertParams
from toysim.game.sampled import SampledHParams, SampledSpec
from toysim.game.trajectory import make_trajectory
from toysim.presets import build


@pytest.mark.parametrize("n", [1, 2, 5, 32])
def test_best_of_n_kl_matches_monte_carlo_in_one_dimension(n):
    """In 1-D with base N(0, 1) and score y, best-of-n has density p_n = n Phi^(n-1) phi, so
    KL = E_{p_n}[log(n Phi(y)^(n-1))], estimated on draws of the maximum of n normals."""
    samples = 200_000
    y = jnp.max(jax.random.normal(jax.random.key(n), (samples, n)), axis=1)
    log_ratio = jnp.log(n) + (n - 1) * norm.logcdf(y)
    estimate, stderr = float(log_ratio.mean()), float(log_ratio.std()) / np.sqrt(samples)
    assert abs(estimate - float(best_of_n_kl(n))) <= 5 * stderr + 1e-12


def test_best_of_n_kl_is_zero_at_one_and_grows():
    kl = np.asarray(best_of_n_kl(jnp.arange(1.0, 100.0)))
    assert kl[0] == 0.0 and np.all(np.diff(kl) > 0)


def test_gaussian_kl_matches_monte_carlo():
    """KL(p || q) = E_p[log p(y) - log q(y)] for isotropic Gaussians in R^3."""
    d, samples = 3, 200_000
    mean, sigma = jnp.array([0.5, -1.0, 2.0]), 0.7
    mean0, sigma0 = jnp.array([0.1, 0.0, 1.0]), 1.3
    y = mean + sigma * jax.random.normal(jax.random.key(0), (samples, d))
    log_p = jnp.sum(norm.logpdf(y, mean, sigma), axis=1)
    log_q = jnp.sum(norm.logpdf(y, mean0, sigma0), axis=1)
    ratio = log_p - log_q
    estimate, stderr = float(ratio.mean()), float(ratio.std()) / np.sqrt(samples)
    assert abs(estimate - float(gaussian_kl(mean, sigma, mean0, sigma0))) <= 5 * stderr


def test_gaussian_kl_with_equal_spreads_is_the_scaled_shift():
    theta = jnp.array([3.0, 4.0])
    assert float(gaussian_kl(theta, 0.5, jnp.zeros(2), 0.5)) == pytest.approx(25.0 / 0.5)


def test_best_of_one_is_the_policys_own_sample():
    key, theta = jax.random.key(3), jnp.array([1.0, -2.0, 0.5])
    max_n = 8
    draws = theta + 0.4 * jax.random.normal(key, (max_n, 3), jnp.float32).astype(theta.dtype)
    kept = best_of_n_draw(key, theta, 0.4, 1.0, max_n, lambda y: -jnp.sum(y**2, axis=-1))
    np.testing.assert_array_equal(kept, draws[0])


def test_select_best_takes_the_highest_score_among_the_first_n_only():
    samples = jnp.arange(10.0)[:, None] * jnp.ones((1, 2))
    scores = jnp.array([0.0, 3.0, 1.0, 9.0, 2.0, 5.0, 4.0, 7.0, 8.0, 6.0])
    assert float(select_best(samples, scores, 3.0)[0]) == 1.0
    assert float(select_best(samples, scores, 10.0)[0]) == 3.0


def test_best_of_n_curve_gold_rises_with_n_when_the_score_is_the_utility():
    ns = (1, 4, 16)
    score = lambda y: -jnp.sum((y - 1.0) ** 2, axis=-1)  # noqa: E731
    curve = best_of_n_curve(jax.random.key(0), jnp.zeros(2), 1.0, ns, 512, score, score)
    assert np.all(np.diff(np.asarray(curve.gold)) > 0)
    np.testing.assert_allclose(curve.gold, curve.proxy)
    np.testing.assert_allclose(curve.kl, best_of_n_kl(jnp.asarray(ns, dtype=float)))


def expert_params(hp, n, spread, step):
    """A composition's numbers with expert iteration's ``n``, ``spread`` and ``step``."""
    return CompositionParams(hp, expert=ExpertParams(n, spread, step))


def expert():
    """paper-linear for 12 iterations; every expert-iteration test shares its compiled run."""
    spec, hp = build("paper-linear", "rlhf", steps=12)
    return Composition(spec, "expert", max_n=16, groups=4), hp


def test_expert_iteration_with_no_step_stays_at_the_start():
    spec, hp = expert()
    run = run_seeds(spec, expert_params(hp, 16.0, 0.3, 0.0), 4)
    np.testing.assert_array_equal(run.theta, 0.0)
    np.testing.assert_array_equal(run.kl, 0.0)


def test_expert_iteration_climbs_the_proxy_faster_with_more_draws():
    """Every n (and step) runs through one compiled program (traced numbers, a mask)."""
    spec, hp = expert()
    proxies = [
        float(np.median(run_seeds(spec, expert_params(hp, n, 0.3, 0.1), 4).proxy_reward[:, -1]))
        for n in (1.0, 16.0)
    ]
    assert proxies[1] > proxies[0] + 0.5


def test_expert_iteration_kl_is_the_gaussian_kl_of_its_path():
    spec, hp = expert()
    run = run_seeds(spec, expert_params(hp, 4.0, 0.3, 0.2), 4)
    np.testing.assert_allclose(run.kl, gaussian_kl(run.theta, 0.3, jnp.zeros(50), 0.3))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("n", 0.0, "n must be"),
        ("n", 17.0, "n must be"),
        ("n", 2.5, "n must be"),
        ("spread", 0.0, "spread must be"),
        ("step", 1.5, "step must be"),
    ],
)
def test_bad_best_of_n_numbers_are_refused_by_name(field, value, message):
    spec, hp = expert()
    good = expert_params(hp, 4.0, 0.3, 0.1)
    good.validate(spec)
    with pytest.raises(ConfigError, match=message):
        good._replace(expert=good.expert._replace(**{field: value})).validate(spec)


def test_bad_best_of_n_sizes_are_refused_by_name():
    spec, _ = expert()
    with pytest.raises(ConfigError, match="groups must be"):
        Composition(spec.game, "expert", groups=0).validate()


def test_neural_expert_iteration_with_no_step_stays_and_its_kl_is_the_spread_term():
    game = SampledSpec(dim=3, signal_dims=1, hidden=(4,), steps=6)
    spec = Composition(game, "expert", max_n=4, groups=2)
    hp = expert_params(SampledHParams(gamma=0.0), 4.0, 1.0, 0.0)  # rlhf: no steering
    hp.validate(spec)
    with pytest.raises(ConfigError, match="step must be"):
        expert_params(SampledHParams(gamma=0.0), 4.0, 1.0, -0.1).validate(spec)
    expert_run = jax.jit(make_trajectory(spec))  # step is traced: one compile
    run = expert_run(jax.random.key(0), hp)
    moved = expert_run(jax.random.key(0), expert_params(hp.game, 4.0, 1.0, 0.5))
    np.testing.assert_array_equal(run.theta, 0.0)
    np.testing.assert_allclose(run.kl, gaussian_kl(run.theta, run.sigma, jnp.zeros(3), 0.1))
    assert float(jnp.linalg.norm(moved.theta[-1])) > 0


@pytest.mark.parametrize(
    ("reward_model", "data"), [("mlp", "points"), ("linear", "pairs"), ("mlp", "pairs")]
)
def test_expert_iteration_trains_the_games_follower(data, reward_model):
    """With the policy held at 0 (no expert step; no leader step), expert iteration and the
    game draw the same blocks (points, or Bradley-Terry labelled pairs) from the same keys,
    so their reward models, and so their proxies, agree."""
    game = SampledSpec(
        dim=3, signal_dims=1, hidden=(4,), steps=6, reward_model=reward_model, data=data
    )
    hp = SampledHParams(gamma=0.0, lr_start=0.0, lr_end=0.0, sigma_start=0.3, label_noise=0.1)
    game_run = jax.jit(make_trajectory(game))(jax.random.key(5), hp)
    expert = jax.jit(make_trajectory(Composition(game, "expert", max_n=4, groups=2)))
    held = expert(jax.random.key(5), expert_params(hp, 4.0, 1.0, 0.0))
    moved = expert(jax.random.key(5), expert_params(hp, 4.0, 1.0, 0.5))
    np.testing.assert_array_equal(game_run.theta, 0.0)
    np.testing.assert_array_equal(held.theta, 0.0)
    np.testing.assert_allclose(held.proxy_reward, game_run.proxy_reward, rtol=1e-12, atol=1e-12)
    assert np.all(np.isfinite(moved.proxy_reward)) and np.linalg.norm(moved.theta[-1]) > 0


def test_best_of_n_curve_of_the_maximum_of_normals():
    """1-D base ``N(0, 1)``, score ``y`` and gold ``-y``: best-of-n keeps the maximum of n
    standard normals, whose mean is 0 (n = 1), ``1/sqrt(pi)`` (n = 2) and ``3/(2 sqrt(pi))``
    (n = 3; e.g. David and Nagaraja, Order Statistics). The maximum's variance is below 1, so
    five standard errors of the mean over 40,000 repeats are at most ``5/200``. The KL is
    ``log n - (n - 1)/n``: 0, ``log 2 - 1/2``, ``log 3 - 2/3``."""
    ns = (1, 2, 3)
    curve = best_of_n_curve(
        jax.random.key(4),
        jnp.zeros(1),
        1.0,
        ns,
        40_000,
        lambda y: y[..., 0],
        lambda y: -y[..., 0],
    )
    expected = np.array([0.0, 1.0 / np.sqrt(np.pi), 1.5 / np.sqrt(np.pi)])
    np.testing.assert_allclose(curve.proxy, expected, atol=5 / 200)
    np.testing.assert_allclose(curve.gold, -expected, atol=5 / 200)
    np.testing.assert_allclose(curve.kl, [0.0, np.log(2) - 0.5, np.log(3) - 2 / 3], atol=1e-15)
    np.testing.assert_array_equal(curve.n, ns)


def test_expert_move_steps_toward_the_mean_of_the_kept_draws():
    """1-D, ``theta = 2``, spread 1, score ``y``, ``n = 2``: each group keeps the larger of two
    draws, ``theta`` plus the maximum of two standard normals (mean ``1/sqrt(pi)``, variance
    ``1 - 1/pi``; David and Nagaraja, Order Statistics), so the step ``0.5`` lands at
    ``2 + 0.5/sqrt(pi)``, within five standard errors ``0.5 sqrt((1 - 1/pi) / G)`` over
    ``G = 40,000`` groups. With step 0 the policy stays at ``theta`` exactly."""
    theta, groups = jnp.asarray([2.0]), 40_000

    def move(step):
        expert = ExpertParams(2.0, 1.0, step)
        return expert_move(jax.random.key(6), theta, 1.0, expert, 2, groups, lambda y: y[..., 0])

    stderr = 0.5 * np.sqrt((1.0 - 1.0 / np.pi) / groups)
    assert abs(float(move(0.5)[0]) - (2.0 + 0.5 / np.sqrt(np.pi))) <= 5 * stderr
    np.testing.assert_array_equal(move(0.0), theta)


def test_best_of_n_kl_and_gaussian_kl_by_hand():
    """``log 4 - 3/4`` at n = 4. ``N(0, I)`` against ``N((1, 1), 4 I)`` in R^2, coordinate by
    coordinate with the textbook 1-D form ``log(s0/s) + (s^2 + (m - m0)^2)/(2 s0^2) - 1/2``:
    ``log 2 + (1 + 1)/8 - 1/2 = log 2 - 1/4`` each, ``2 log 2 - 1/2`` in all."""
    assert float(best_of_n_kl(4.0)) == pytest.approx(np.log(4.0) - 0.75, rel=1e-14)
    kl = gaussian_kl(jnp.zeros(2), 1.0, jnp.ones(2), 2.0)
    assert float(kl) == pytest.approx(2 * np.log(2.0) - 0.5, rel=1e-14)
