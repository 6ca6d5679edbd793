"""Reward-model ensembles, early stopping on a gold budget, and the mitigations table."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import rule_by_hand
from toysim.config import ConfigError, as_float_arrays
from toysim.experiments.mitigations import (
    MitigationRuns,
    Variant,
    format_mitigation_table,
    mitigation_table,
    run_variant,
    single,
)
from toysim.experiments.runner import run_seeds
from toysim.game.composition import Composition, CompositionParams
from toysim.game.early_stop import (
    StopParams,
    check_and_update,
    gold_estimate,
    initial_stop_state,
    played_policy,
    stop_iteration,
)
from toysim.game.linear_round import initial_reward_weights, utility_of
from toysim.game.trajectory import make_trajectory
from toysim.model.ensemble import aggregate_gradients, aggregate_rewards
from toysim.model.utility import Utility, utility
from toysim.presets import build
from toysim.seeds import seed_key

STEPS = 60
SEEDS = [1, 3, 7]  # one batch shape for every run: one compile per game


def game(method="rlhf", preset="paper-linear"):
    return build(preset, method, steps=STEPS)


@pytest.mark.parametrize(
    ("method", "preset"), [("rlhf", "paper-linear"), ("fpo-exact", "population")]
)
def test_ensemble_of_one_equals_the_single_model(method, preset):
    spec, hp = game(method, preset)
    ref = jax.jit(make_trajectory(spec))(jax.random.key(7), hp)
    out = run_variant(single(spec, hp), SEEDS)
    for field in ("signal", "noise", "utility", "expected_utility", "proxy_reward"):
        np.testing.assert_allclose(getattr(out, field)[2], getattr(ref, field), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(out.member_spread, 0.0)


def test_ensemble_members_differ_by_initialisation():
    spec, hp = game()
    variant = single(spec, hp)
    variant = variant._replace(spec=dataclasses.replace(variant.spec, members=3))
    out = run_variant(variant, SEEDS)
    assert np.all(np.asarray(out.member_spread)[:, 0] > 0)


@given(st.lists(st.lists(st.floats(-1e6, 1e6), min_size=5, max_size=5), min_size=1, max_size=6))
def test_min_aggregation_is_below_mean_aggregation(rows):
    rewards = np.asarray(rows)  # [members, points]
    assert np.all(aggregate_rewards(rewards, "min") <= aggregate_rewards(rewards, "mean"))


def test_aggregates_by_hand():
    """Three members, two points: rewards ``(1, 5)``, ``(2, -1)``, ``(6, 2)`` have the mean
    ``(9/3, 6/3) = (3, 2)`` and the minimum ``(1, -1)``. At one point with rewards
    ``(4, 1, 7)`` and gradients ``(1, 0)``, ``(0, 2)``, ``(3, 3)``, ``mean`` takes
    ``(4/3, 5/3)`` and ``min`` the second member's ``(0, 2)``."""
    rewards = jnp.asarray([[1.0, 5.0], [2.0, -1.0], [6.0, 2.0]])
    np.testing.assert_allclose(aggregate_rewards(rewards, "mean"), [3.0, 2.0], rtol=1e-15)
    np.testing.assert_array_equal(aggregate_rewards(rewards, "min"), [1.0, -1.0])
    grads = jnp.asarray([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    at = jnp.asarray([4.0, 1.0, 7.0])
    np.testing.assert_allclose(aggregate_gradients(grads, at, "mean"), [4 / 3, 5 / 3], rtol=1e-15)
    np.testing.assert_array_equal(aggregate_gradients(grads, at, "min"), [0.0, 2.0])


def test_min_aggregation_follows_the_gradient_of_the_minimum(rng):
    ws = jnp.asarray(rng.normal(size=(4, 6)))
    theta = jnp.asarray(rng.normal(size=6))

    def rewards(th):
        return ws @ th

    grads = jax.jacobian(rewards)(theta)
    for how, agg in (("min", jnp.min), ("mean", jnp.mean)):
        expected = jax.grad(lambda th, agg=agg: agg(rewards(th)))(theta)
        np.testing.assert_allclose(
            aggregate_gradients(grads, rewards(theta), how), expected, rtol=0, atol=1e-14
        )


def stopping(patience, every, noise):
    """RLHF with early stopping on 4 gold labels per check."""
    spec, hp = game()
    return Variant(
        Composition(spec, gold_budget=4),
        CompositionParams(hp, StopParams(patience, every, noise)),
    )


def test_infinite_patience_equals_no_stopping():
    stopped = run_variant(stopping(float("inf"), 10.0, 1.0), SEEDS)
    free = run_variant(single(*game()), SEEDS)
    for field in ("theta", "utility", "proxy_reward", "signal", "noise", "climb"):
        np.testing.assert_array_equal(getattr(stopped, field), getattr(free, field))
    np.testing.assert_array_equal(stopped.stopped, 0.0)
    np.testing.assert_array_equal(
        stopped.gold_spent, np.broadcast_to(4 * (np.arange(1, STEPS + 1) // 10), (3, STEPS))
    )


def test_climb_sums_each_steps_gain_under_the_reward_model_it_ascended():
    """``C_t = sum_{s <= t} w_{s-1} . (theta_s - theta_{s-1})`` (paper-linear: a point policy,
    ``E[r_w] = w . theta``), with ``theta_{-1} = 0`` and ``w_{-1}`` the initial reward model:
    recomputed in NumPy from the plain run's recorded ``theta`` and ``w`` (the follower's
    weights after round ``s``, so ``w_{s-1}`` is the one the leader climbed in round ``s``)."""
    spec, hp = game()
    plain = run_seeds(spec, hp, SEEDS)
    climbs = np.asarray(run_variant(stopping(float("inf"), 10.0, 1.0), SEEDS).climb)
    floats = as_float_arrays(hp)
    for s, seed in enumerate(SEEDS):
        w0 = np.asarray(initial_reward_weights(seed_key(seed), spec, floats))
        theta, w = np.asarray(plain.theta[s]), np.asarray(plain.w[s])
        before_w = np.concatenate([w0[None], w[:-1]])
        before_theta = np.concatenate([np.zeros((1, spec.dim)), theta[:-1]])
        gains = np.sum(before_w * (theta - before_theta), axis=-1)
        np.testing.assert_allclose(climbs[s], np.cumsum(gains), rtol=1e-10, atol=1e-12)


def test_gold_budget_counts_the_checks_made_before_stopping():
    out = jax.tree.map(lambda x: x[0], run_variant(stopping(1.0, 5.0, 3.0), SEEDS))
    stopped = np.asarray(out.stopped)
    assert stopped.any(), "the rule should stop within the horizon with patience 1"
    before = np.concatenate([[0.0], stopped[:-1]])  # stopped before iteration t (1-based)
    checks = (np.arange(1, STEPS + 1) % 5 == 0) & (before == 0)
    np.testing.assert_array_equal(out.gold_spent, 4 * np.cumsum(checks))


def test_a_stopped_leader_plays_the_theta_of_its_best_check():
    """Patience 1, a check every 5 iterations: the stop and the best check found by
    :func:`rule_by_hand` from the recorded estimates and climbs; from the iteration after
    the stop on, ``theta`` is the one recorded at the best check (an earlier, different one);
    up to the stop the run is the never-stopping run of the same keys."""
    out = run_variant(stopping(1.0, 5.0, 3.0), SEEDS)
    never = run_variant(stopping(float("inf"), 5.0, 3.0), SEEDS)
    theta = np.asarray(out.theta)
    for s in range(len(SEEDS)):
        stop, best = rule_by_hand(out.gold_estimate[s], out.climb[s], every=5, patience=1)
        assert 0 < best < stop < STEPS, (s, stop, best)
        assert int(stop_iteration(out.stopped[s])) == stop and int(out.best_check[s, -1]) == best
        np.testing.assert_array_equal(
            theta[s, stop:], np.broadcast_to(theta[s, best - 1], (STEPS - stop, theta.shape[-1]))
        )
        assert not np.array_equal(theta[s, best - 1], theta[s, stop - 1])
        for field in ("theta", "utility", "proxy_reward", "climb", "gold_estimate", "best_check"):
            np.testing.assert_array_equal(
                getattr(out, field)[s, :stop], getattr(never, field)[s, :stop], err_msg=field
            )


def test_stop_iteration_is_the_first_stopped_iteration():
    stopped = np.array([[0, 0, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1]], float)
    np.testing.assert_array_equal(stop_iteration(stopped), [3, 0, 1])


def test_stop_rule_needs_the_climb_to_rise():
    p = StopParams(jnp.float64(2.0), jnp.float64(1.0), jnp.float64(0.0))
    golds = [1.0, 2.0, 1.5, 1.8, 1.9]

    def run(climbs):
        state = initial_stop_state(jnp.float64, jnp.zeros(2))
        for t, (g, c) in enumerate(zip(golds, climbs, strict=True)):
            it, policy = jnp.int32(t + 1), jnp.full(2, 10.0 * (t + 1))
            state = check_and_update(state, it, jnp.float64(g), jnp.float64(c), 3, p, policy)
        return state

    rising = run([0.1, 0.2, 0.3, 0.4, 0.5])
    assert bool(rising.stopped) and float(rising.best_gold) == 2.0 and int(rising.spent) == 12
    assert int(rising.best_check) == 2
    np.testing.assert_array_equal(rising.best_policy, [20.0, 20.0])  # the policy of check 2
    np.testing.assert_array_equal(played_policy(rising, jnp.full(2, -1.0)), [20.0, 20.0])
    flat = run([0.1, 0.2, 0.2, 0.2, 0.2])
    assert not bool(flat.stopped) and int(flat.spent) == 15
    np.testing.assert_array_equal(played_policy(flat, jnp.full(2, -1.0)), [-1.0, -1.0])


def test_gold_estimate_of_a_point_policy_without_label_noise_is_the_utility():
    spec, hp = game()
    u = utility_of(spec, hp)
    theta = jnp.linspace(0.0, 1.0, spec.dim)
    estimate = gold_estimate(jax.random.key(0), theta, jnp.float64(0.0), u, 5, jnp.float64(0.0))
    np.testing.assert_allclose(estimate, utility(u, theta), rtol=1e-14)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("members", 0, "members must be"), ("aggregate", "max", "aggregate must be"),
     ("gold_budget", -1, "gold_budget must be")],
)  # fmt: skip
def test_bad_mitigation_fields_are_named(field, value, message):
    spec, _ = game()
    with pytest.raises(ConfigError, match=message):
        Composition(spec, **{field: value}).validate()


@pytest.mark.parametrize(
    ("field", "value"),
    [("patience", 0.0), ("patience", np.nan), ("every", 0.5), ("label_noise", -1.0)],
)
def test_bad_stopping_numbers_are_named(field, value):
    spec, hp = game()
    params = CompositionParams(hp, StopParams(3.0, 5.0, 1.0))
    params.validate(Composition(spec))  # the defaults pass, infinite patience too
    CompositionParams(hp, StopParams(np.inf, 5.0, 1.0)).validate(Composition(spec))
    bad = params._replace(stop=params.stop._replace(**{field: value}))
    with pytest.raises(ConfigError, match=f"{field} must be"):
        bad.validate(Composition(spec))


def test_table_against_numpy():
    trajectories = {
        "rlhf": run_variant(single(*game()), SEEDS),
        "early": run_variant(stopping(1.0, 5.0, 3.0), SEEDS),
    }
    runs = MitigationRuns(
        gold={k: np.asarray(t.expected_utility) for k, t in trajectories.items()},
        proxy={k: np.asarray(t.proxy_reward) for k, t in trajectories.items()},
        stopped={k: np.asarray(t.stopped) for k, t in trajectories.items()},
        gold_spent={k: np.asarray(t.gold_spent) for k, t in trajectories.items()},
        config={},
        seeds=3,
        amplitude=10.0,
        ideal=10.0,
    )
    rows = {r["variant"]: r for r in mitigation_table(runs)}
    for label, t in trajectories.items():
        gold = np.asarray(t.expected_utility)
        finals = sorted(gold[:, -1])
        row = rows[label]
        assert row["final_gold_median"] == finals[1]  # three seeds: the middle one
        assert row["final_gold_q25"] == pytest.approx((finals[0] + finals[1]) / 2)
        assert row["final_gold_q75"] == pytest.approx((finals[1] + finals[2]) / 2)
        collapsed = [gold[s, -1] < 0.8 * max(gold[s]) for s in range(3)]
        assert row["collapse_rate"] == pytest.approx(sum(collapsed) / 3)
        gaps = sorted(np.asarray(t.proxy_reward)[:, -1] - gold[:, -1])
        assert row["proxy_gold_gap"] == gaps[1]
        moved = [np.concatenate([[0.0], np.asarray(t.stopped)[s, :-1]]) == 0 for s in range(3)]
        steps = sorted(int(np.sum(m)) for m in moved)  # iterations begun before the stop
        assert row["leader_steps"] == steps[1]
        assert row["leader_steps_q25"] == pytest.approx((steps[0] + steps[1]) / 2)
        assert row["leader_steps_q75"] == pytest.approx((steps[1] + steps[2]) / 2)
        peaks = sorted(max(gold[s]) for s in range(3))
        assert row["peak_gold_median"] == peaks[1]
        assert row["peak_gold_q25"] == pytest.approx((peaks[0] + peaks[1]) / 2)
        assert row["gold_spent"] == sorted(np.asarray(t.gold_spent)[:, -1])[1]
    assert format_mitigation_table(list(rows.values())).count("\n") == 3


def test_gold_estimate_is_the_mean_of_noisy_labels_of_policy_draws():
    """``G = (1/b) sum_j (U(y_j) + s eps_j)``, over 4,000 keys with ``b = 4``. Gaussian policy,
    no label noise: ``U(y) = exp(-y^2/2)`` in 1-D with ``y ~ N(0, sigma^2)`` has
    ``E[U] = int exp(-y^2/2 - y^2/(2 sigma^2)) dy / (sigma sqrt(2 pi)) = 1/sqrt(1 + sigma^2)``
    and likewise ``E[U^2] = 1/sqrt(1 + 2 sigma^2)``: at ``sigma = 1/2``, ``1/sqrt(1.25)`` and
    ``1/sqrt(1.5)`` (a spread of 1 would not tell ``sigma`` from ``sigma^2``). Point policy at
    the ideal (``U = 1``) with ``s = 0.5``: mean 1 and variance ``s^2 / b = 1/16``. Means
    within five standard errors (the first with the variance ``(E[U^2] - E[U]^2) / b``). In the
    second case the estimate is exactly Gaussian, so its sample variance over the ``K = 4,000``
    keys is within five standard errors of ``1/16``, ``sqrt(2 / (K - 1))`` relative."""
    u = Utility(jnp.asarray(1.0), jnp.asarray(0.5), jnp.zeros(1))
    keys = jax.random.split(jax.random.key(3), 4000)
    theta = jnp.zeros(1)

    def estimates(sigma, noise):
        return np.asarray(
            jax.vmap(lambda k: gold_estimate(k, theta, jnp.float64(sigma), u, 4, noise))(keys)
        )

    g = estimates(0.5, jnp.float64(0.0))
    mean, var = 1.0 / np.sqrt(1.25), (1.0 / np.sqrt(1.5) - 1.0 / 1.25) / 4
    assert abs(g.mean() - mean) <= 5 * np.sqrt(var / g.size)
    g = estimates(0.0, jnp.float64(0.5))
    assert abs(g.mean() - 1.0) <= 5 * np.sqrt(0.0625 / g.size)
    assert abs(g.var(ddof=1) / 0.0625 - 1.0) <= 5 * np.sqrt(2.0 / (g.size - 1))


def run_checks(golds, climbs, patience, every, budget=3):
    """:func:`check_and_update` after iterations 1, 2, ... with these estimates."""
    p = StopParams(jnp.float64(patience), jnp.float64(every), jnp.float64(0.0))
    state, states = initial_stop_state(jnp.float64, jnp.float64(0.0)), []
    for t, (g, c) in enumerate(zip(golds, climbs, strict=True)):
        it, policy = jnp.int32(t + 1), jnp.float64(t + 1)  # the policy: its iteration
        state = check_and_update(state, it, jnp.float64(g), jnp.float64(c), budget, p, policy)
        states.append(state)
    return states


def test_a_tied_gold_estimate_is_no_new_best():
    """Patience 2, every iteration, golds 1, 1, 1 and a rising climb: check 1 sets the best
    (over -inf), checks 2 and 3 tie it, so ``since_best`` is 1 then 2 = patience and the climb
    0.3 > 0.1 (its value at the best): the leader stops after iteration 3, 9 labels spent."""
    states = run_checks([1.0, 1.0, 1.0], [0.1, 0.2, 0.3], patience=2.0, every=1.0)
    assert [float(s.since_best) for s in states] == [0.0, 1.0, 2.0]
    assert [bool(s.stopped) for s in states] == [False, False, True]
    assert float(states[-1].proxy_at_best) == 0.1 and int(states[-1].spent) == 9


def test_checks_happen_every_m_iterations_and_stop_at_patience():
    """Every 2 iterations, patience 1, budget 3: iteration 1 is no check (state as initial);
    iteration 2 checks gold 5 (best, since 0, 3 spent); 3 is no check (its gold 9 is ignored);
    4 checks gold 4 < 5 with the climb 1.0 > 0.2, so since = 1 = patience: stopped, 6 spent;
    6 would be a check but the leader has stopped: nothing changes. The best check is 2
    throughout, and its policy (here the iteration's number) 2."""
    states = run_checks(
        [7.0, 5.0, 9.0, 4.0, 8.0, 8.0], [0.0, 0.2, 0.5, 1.0, 2.0, 3.0], patience=1.0, every=2.0
    )
    assert float(states[0].best_gold) == -np.inf and int(states[0].spent) == 0
    assert float(states[1].best_gold) == 5.0 and int(states[1].spent) == 3
    assert float(states[2].best_gold) == 5.0 and float(states[2].last_gold) == 5.0
    assert bool(states[3].stopped) and float(states[3].last_gold) == 4.0
    assert int(states[3].spent) == 6 and float(states[3].since_best) == 1.0
    assert int(states[-1].spent) == 6 and float(states[-1].best_gold) == 5.0
    assert [int(s.best_check) for s in states] == [0, 2, 2, 2, 2, 2]
    assert [float(s.best_policy) for s in states] == [0.0, 2.0, 2.0, 2.0, 2.0, 2.0]


def test_expert_iterations_gold_labels_are_of_its_own_draws():
    """A point policy's gold labels without noise are ``U(theta)`` exactly; expert iteration
    samples ``N(theta, s^2 I)``, so its first check's estimate is a mean over its draws."""
    from toysim.presets import compose

    spec, hp = game()
    stop = StopParams(np.inf, 5.0, 0.0)
    for leader, expert in (("gradient", {}), ("expert", dict(spread=0.5, step=0.0))):
        plan, params = compose(spec, hp, leader=leader, gold_budget=4, stop=stop, **expert)
        run = jax.jit(make_trajectory(plan))(jax.random.key(0), params)
        at_first_check = float(run.utility[4])
        same = float(run.gold_estimate[4]) == pytest.approx(at_first_check, rel=1e-12)
        assert same == (leader == "gradient")
