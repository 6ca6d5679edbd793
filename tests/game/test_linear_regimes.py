"""The linear game's data regimes against independent routes (docs/theory/game.md).

``window`` keeps the ``B`` newest outputs, each of weight ``1/B``; ``replace`` the newest
alone (``B = 1``); ``accumulate`` every output so far, each of weight ``1/t`` at iteration
``t``, and the leader's steering term scaled by the same ``1/t`` so that ``gamma = 2``
stays exact.
"""

import dataclasses

import chex
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import (
    EXACT,
    central_difference,
    exact_leader_gradient,
    point_game,
    point_objective,
    point_objective_gradient,
)
from toysim import ConfigError, LinearHParams, LinearSpec, simulate
from toysim.config import METHODS
from toysim.game.leader import leader_gradient

HP = LinearHParams(
    amplitude=10.0,
    tau=0.3,
    ideal_value=2.0,
    action_cost=0.1,
    gamma=2.0,
    leader_lr=0.05,
    follower_lr=0.01,
    weight_decay=1e-3,
    lam=0.5,
    sigma=0.0,
    rm_init_signal=1.0,
    rm_init_noise=0.1,
)
B = 3


def small_game(follower: str, regime: str) -> LinearSpec:
    """d = 5, k = 2, 12 iterations of exact FPO on a ridge-anchored follower."""
    return LinearSpec(5, 2, 12, follower, B, 1, "ridge", EXACT, regime=regime)


def by_hand_weights(regime: str, t: int) -> np.ndarray:
    """Each of the first ``t`` outputs' weight in ``L`` at iteration ``t``: the ``B`` newest
    at ``1/B`` (window), the newest at 1 (replace), all at ``1/t`` (accumulate)."""
    weights = np.zeros(t)
    if regime == "accumulate":
        weights[:] = 1.0 / t
    elif regime == "replace":
        weights[-1] = 1.0
    else:
        weights[-B:] = 1.0 / B
    return weights


def by_hand_utility(y: np.ndarray) -> np.ndarray:
    """``U(y) = A exp(-tau ||y - m||^2)``, ``m = (2, 2, 0, 0, 0)``."""
    m = np.array([2.0, 2.0, 0.0, 0.0, 0.0])
    return HP.amplitude * np.exp(-HP.tau * np.sum((y - m) ** 2, axis=-1))


@pytest.mark.parametrize("regime", ["window", "accumulate"])
def test_best_response_is_the_ridge_solution_on_the_regimes_samples(regime):
    """``w_t = (lambda I + 2 sum_i omega_i y_i y_i^T)^{-1} 2 sum_i omega_i U(y_i) y_i`` over
    the recorded outputs, solved with NumPy."""
    run = simulate(small_game("best-response", regime), HP, seed=3)
    ys, ws = np.asarray(run.theta), np.asarray(run.w)
    for t in range(1, len(ys) + 1):
        y, omega = ys[:t], by_hand_weights(regime, t)
        h = HP.lam * np.eye(5) + 2.0 * (omega[:, None] * y).T @ y
        w = np.linalg.solve(h, 2.0 * (omega * by_hand_utility(y)) @ y)
        np.testing.assert_allclose(ws[t - 1], w, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("regime", ["accumulate"])
def test_sgd_takes_one_step_on_the_regimes_weighted_loss(regime):
    """``w_t = (1 - wd) w_{t-1} - eta sum_i 2 omega_i (w_{t-1} . y_i - U(y_i)) y_i``."""
    run = simulate(small_game("sgd", regime), HP, seed=3)
    ys, ws = np.asarray(run.theta), np.asarray(run.w)
    for t in range(2, len(ys) + 1):
        y, omega, w = ys[:t], by_hand_weights(regime, t), ws[t - 2]
        grad = 2.0 * (omega * (y @ w - by_hand_utility(y))) @ y
        step = (1.0 - HP.weight_decay) * w - HP.follower_lr * grad
        np.testing.assert_allclose(ws[t - 1], step, rtol=1e-11, atol=1e-13)


def test_replace_is_a_window_of_one():
    """Bit for bit: the SGD follower's loss and exact FPO's solve and steering weight."""
    window = dataclasses.replace(small_game("sgd", "window"), buffer_size=1)
    replace = dataclasses.replace(window, buffer_size=4, regime="replace")
    chex.assert_trees_all_equal(simulate(window, HP, seed=1), simulate(replace, HP, seed=1))


@pytest.mark.parametrize(
    ("seed", "d", "n_old", "anchor"),
    [(0, 3, 1, "proximal"), (1, 6, 4, "ridge")],
)
def test_exact_fpo_under_accumulate_is_the_stackelberg_gradient(seed, d, n_old, anchor):
    """With every output so far at weight ``1/t`` (``t = n_old + 1``) and the default
    ``gamma = 2 omega_1 = 2``, the leader's gradient is ``dJ/dtheta`` of ``J`` whose best
    response is a dense solve of the mean loss over the ``t`` outputs: autodiff and central
    differences."""
    rng = np.random.default_rng(seed)
    spec, follower, state, theta, hp, u, olds, policy = point_game(
        rng, d, n_old + 2, n_old, anchor, regime="accumulate"
    )
    assert spec.new_sample_weight == 1.0
    hp = hp._replace(gamma=jnp.asarray(2.0 * spec.new_sample_weight))
    w_bar = state.w if anchor == "proximal" else jnp.zeros(d)
    # the mean over t outputs: the B = t of a window holding them all
    args = (w_bar, hp, u, olds, jnp.asarray(float(n_old + 1)))
    fpo = exact_leader_gradient(follower, policy, state, theta, hp, u)
    chex.assert_trees_all_close(fpo, point_objective_gradient(theta, *args), rtol=1e-9, atol=1e-10)
    chex.assert_trees_all_close(
        fpo, central_difference(point_objective, theta, *args), rtol=1e-6, atol=1e-7
    )


def test_every_methods_steering_falls_as_one_over_t_under_accumulate():
    """Relaxed FPO's steering term does not read the buffer: under accumulate with ``t``
    outputs in it, it is the replace follower's divided by ``t``."""
    method = METHODS["fpo-relaxed"]
    n_old = 3
    steering = {}
    for regime in ("replace", "accumulate"):
        rng = np.random.default_rng(7)
        _, follower, state, theta, hp, u, _, policy = point_game(
            rng, 6, 5, n_old, "ridge", method=method, follower="sgd", regime=regime
        )
        hp = hp._replace(gamma=jnp.asarray(0.1))
        steering[regime] = leader_gradient(method, policy, follower, state, theta, hp, u).steering
    assert float(jnp.linalg.norm(steering["replace"])) > 0
    chex.assert_trees_all_close(
        steering["accumulate"], steering["replace"] / (n_old + 1), rtol=1e-12, atol=0
    )


def test_each_regimes_sample_weight():
    window = small_game("sgd", "window")
    assert window.sample_weight(1.0) == window.sample_weight(7.0) == window.new_sample_weight
    assert window.new_sample_weight == 1 / 3
    assert dataclasses.replace(window, regime="replace").new_sample_weight == 1.0
    accumulate = dataclasses.replace(window, regime="accumulate")
    assert accumulate.new_sample_weight == 1.0 and accumulate.sample_weight(8.0) == 0.125


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(regime="forever"), "regime must be one of replace, window, accumulate; got"),
        (
            dict(follower="population", buffer_size=0, regime="accumulate"),
            "regime must be window for the population follower (it has no buffer",
        ),
    ],
)
def test_a_regime_that_does_not_exist_is_refused_by_name(changes, message):
    spec = dataclasses.replace(small_game("sgd", "window"), **changes)
    with pytest.raises(ConfigError) as err:
        spec.validate()
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
