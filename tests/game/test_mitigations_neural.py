"""The mitigations on the sampled-buffer game: ensembles and early stopping composed with
its gradient leader (:func:`toysim.game.sampled_round.sampled_trajectory` of a
:class:`~toysim.game.composition.Composition`)."""

import dataclasses

import jax
import numpy as np
import pytest

from tests.helpers import rule_by_hand
from toysim.config import ConfigError
from toysim.experiments.mitigations import mitigation_table, neural_mitigation_runs
from toysim.experiments.runner import run_seeds
from toysim.game.composition import NO_STOP, Composition, CompositionParams
from toysim.game.early_stop import StopParams
from toysim.game.sampled import network_model
from toysim.game.trajectory import make_trajectory
from toysim.model.ensemble import ensemble_model
from toysim.presets import build


def game(preset="pairwise-nn", method="rlhf", steps=30):
    spec, hp = build(preset, method)
    return dataclasses.replace(spec, steps=steps), hp


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["paper-nn", "pairwise-linear"])
def test_ensemble_of_one_equals_the_single_model(preset):
    spec, hp = game(preset)
    single = run_seeds(spec, hp, 2)
    one = run_seeds(Composition(spec, members=1), CompositionParams(hp, NO_STOP), 2)
    for field in ("theta", "proxy_reward", "buffer_loss", "utility"):
        np.testing.assert_array_equal(getattr(one, field), getattr(single, field), err_msg=field)
    assert not np.any(one.stopped) and not np.any(one.gold_spent)


def test_mean_of_identical_members_equals_one_member():
    spec, hp = game("pairwise-nn")
    model = network_model(spec)
    same = model._replace(init=lambda key, dtype: model.init(jax.random.PRNGKey(7), dtype))
    y = jax.random.normal(jax.random.PRNGKey(1), (4, spec.dim))
    label = jax.random.normal(jax.random.PRNGKey(2), (4,))
    ens = ensemble_model(same, 3, "mean")
    phis, phi = ens.init(jax.random.PRNGKey(0), y.dtype), same.init(None, y.dtype)
    np.testing.assert_allclose(ens.reward(phis, y), same.reward(phi, y), rtol=1e-14)
    np.testing.assert_allclose(
        ens.sample_loss(phis, y, label), 3 * same.sample_loss(phi, y, label), rtol=1e-14
    )
    grad = jax.grad(lambda x: ens.reward(phis, x).sum())(y)
    np.testing.assert_allclose(grad, jax.grad(lambda x: same.reward(phi, x).sum())(y), rtol=1e-13)


def test_min_aggregation_follows_the_lowest_member():
    spec, _ = game("paper-nn")
    model = network_model(spec)
    ens = ensemble_model(model, 4, "min")
    phis = ens.init(jax.random.PRNGKey(0), float)
    y = jax.random.normal(jax.random.PRNGKey(1), (spec.dim,))
    rewards = jax.vmap(model.reward, in_axes=(0, None))(phis, y)
    low = jax.tree.map(lambda p: p[int(np.argmin(rewards))], phis)
    np.testing.assert_allclose(ens.reward(phis, y), rewards.min())
    np.testing.assert_allclose(
        jax.grad(lambda x: ens.reward(phis, x))(y), jax.grad(lambda x: model.reward(low, x))(y)
    )


@pytest.mark.slow
def test_infinite_patience_never_stops_and_equals_the_plain_run():
    spec, hp = game("pairwise-linear")
    never = StopParams(patience=float("inf"), every=5.0, label_noise=1.0)
    run = run_seeds(Composition(spec, members=1, gold_budget=8), CompositionParams(hp, never), 2)
    base = run_seeds(spec, hp, 2)
    np.testing.assert_array_equal(run.theta, base.theta)
    assert not np.any(run.stopped)
    np.testing.assert_array_equal(run.gold_spent[:, -1], 8 * (spec.steps // 5))


def test_a_stopped_leader_plays_the_policy_of_its_best_check():
    """pairwise-linear, 30 iterations with the spread decaying from 0.3 to 0.1, 2 gold labels
    every 2 iterations, patience 1, two seeds (both stop): the stop and the best check found
    by :func:`rule_by_hand` from the recorded estimates and climbs; from the iteration after
    the stop on, ``theta`` and ``sigma`` are those recorded at the best check; up to the stop
    the run is the never-stopping run."""
    spec, hp = game("pairwise-linear", steps=30)
    hp = hp._replace(sigma_end=0.1)
    plan = Composition(spec, members=1, gold_budget=2)
    eager = StopParams(patience=1.0, every=2.0, label_noise=1.0)
    run = run_seeds(plan, CompositionParams(hp, eager), 2)
    never = run_seeds(plan, CompositionParams(hp, eager._replace(patience=float("inf"))), 2)
    for s in range(2):
        stop, best = rule_by_hand(run.gold_estimate[s], run.climb[s], every=2, patience=1)
        assert 0 < best < stop < spec.steps, (s, stop, best)
        assert int(run.best_check[s, -1]) == best
        np.testing.assert_array_equal(run.stopped[s], np.arange(1, spec.steps + 1) >= stop)
        after = spec.steps - stop
        np.testing.assert_array_equal(
            run.theta[s, stop:], np.tile(run.theta[s, best - 1], (after, 1))
        )
        np.testing.assert_array_equal(run.sigma[s, stop:], run.sigma[s, best - 1])
        assert run.sigma[s, best - 1] > never.sigma[s, stop]  # the spread of the best check
        for field in ("theta", "sigma", "proxy_reward", "buffer_loss", "climb", "gold_estimate"):
            np.testing.assert_array_equal(
                getattr(run, field)[s, :stop], getattr(never, field)[s, :stop], err_msg=field
            )


@pytest.mark.parametrize(
    ("members", "aggregate", "budget", "method", "field"),
    [
        (0, "mean", 0, "rlhf", "members"),
        (2, "median", 0, "rlhf", "aggregate"),
        (1, "mean", -1, "rlhf", "gold_budget"),
        (3, "mean", 0, "fpo-relaxed", "members"),
    ],
)
def test_bad_configurations_are_named(members, aggregate, budget, method, field):
    spec, _ = game(method=method)
    bad = Composition(spec, members=members, aggregate=aggregate, gold_budget=budget)
    with pytest.raises(ConfigError, match=field):
        make_trajectory(bad)


@pytest.mark.slow
def test_quick_comparison_on_pairwise_linear_fills_every_row():
    runs = neural_mitigation_runs("pairwise-linear", quick=True)
    rows = {r["variant"]: r for r in mitigation_table(runs)}
    assert "fpo-exact" in rows and len(rows) == 9
    assert runs.gold["rlhf"].shape == (3, 100)
    assert runs.config["kl_best_c"] in runs.config["kl_grid"]
    assert runs.config["variants"]["early stopping"]["stop"]["every"] == 100 // 30
    assert rows["early stopping"]["gold_spent"] > 0 and rows["rlhf"]["gold_spent"] == 0
    assert 0 < runs.ideal < runs.amplitude
