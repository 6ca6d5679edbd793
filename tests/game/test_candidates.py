"""Best of n candidates by the current reward model (``SampledSpec.candidates``,
docs/theory/pairwise.md): the pairs' chosen outputs, their mean, the leader's pathwise
gradient and the key schedule that keeps ``n = 1`` the game as it was."""

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toysim.config import ConfigError, method_from_name
from toysim.game import candidates as candidates_module
from toysim.game import sampled
from toysim.game.candidates import CANDIDATE_STREAM
from toysim.game.composition import Composition
from toysim.game.followers import buffer_insert
from toysim.game.sampled import SampledHParams, SampledSpec, leader_objective, policy_block
from toysim.game.sampled_round import leader_view
from toysim.game.trajectory import make_trajectory
from toysim.model.interface import linear_reward_model, mlp_reward_model, pairwise
from toysim.model.sampling import standard_normal
from toysim.model.utility import Utility
from toysim.presets import build

U = Utility(jnp.asarray(10.0), jnp.asarray(0.2), jnp.asarray([1.5, 1.0, 0.0, 0.0]))
REFERENCE = dict(data="pairs", pairing="reference")


def expected_max_of_normals(n: int) -> float:
    """``E[max of n standard normals] = int x n phi(x) Phi(x)^(n-1) dx``, by the trapezoidal
    rule on ``[-12, 12]`` (spectrally accurate for this smooth, fast-decaying integrand)."""
    x = np.linspace(-12.0, 12.0, 48_001)
    pdf = np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)
    cdf = 0.5 * (1.0 + np.vectorize(math.erf)(x / np.sqrt(2.0)))
    return float(np.trapezoid(x * n * pdf * cdf ** (n - 1), x))


def test_the_quadrature_gives_the_known_expected_maxima():
    """E max of 1 and 2 standard normals are 0 and 1/sqrt(pi); of 8, 1.4236003..."""
    assert expected_max_of_normals(1) == pytest.approx(0.0, abs=1e-12)
    assert expected_max_of_normals(2) == pytest.approx(1 / np.sqrt(np.pi), rel=1e-10)
    assert expected_max_of_normals(8) == pytest.approx(1.4236003, abs=1e-7)


def test_the_chosen_output_is_the_reward_models_argmax_of_the_candidates():
    """A block of reference pairs with ``n = 5`` under the linear score ``w . y``: each first
    output is, among candidate 0 (the ``n = 1`` block's own output) and the four draws of
    ``fold_in(key, CANDIDATE_STREAM)``, the one NumPy finds with the highest score; the
    references are the ``n = 1`` block's."""
    spec = SampledSpec(dim=4, samples_per_step=6, candidates=5, **REFERENCE)
    hp = SampledHParams(sigma_start=0.3)
    theta, sigma, w = jnp.asarray([0.5, -0.2, 0.1, 0.3]), 0.7, jnp.asarray([1.0, -2.0, 0.5, 3.0])
    key, label_key = jax.random.key(11), jax.random.key(12)
    score = linear_reward_model(4).reward
    y, _ = policy_block(spec, hp, U, theta, sigma, key, label_key, lambda x: score(w, x))
    single = dataclasses.replace(spec, candidates=1)
    y1, _ = policy_block(single, hp, U, theta, sigma, key, label_key)
    extra = standard_normal(jax.random.fold_in(key, CANDIDATE_STREAM), (6, 4, 4), jnp.float64)
    outputs = np.concatenate([np.asarray(y1[:, :1]), np.asarray(theta + sigma * extra)], axis=1)
    best = np.argmax(outputs @ np.asarray(w), axis=1)
    np.testing.assert_allclose(y[:, 0], outputs[np.arange(6), best], rtol=1e-14)
    np.testing.assert_array_equal(y[:, 1], y1[:, 1])
    assert len(set(best.tolist())) > 1  # the choice is not always the same candidate


def test_the_best_of_eight_by_a_fixed_linear_score_has_the_expected_maximum():
    """``r(y) = w . y``, ``y ~ N(theta, sigma^2 I)``: ``w . y_chosen = w . theta + sigma |w|
    max_j z_j`` with ``z_j`` standard normal, so its mean is ``w . theta + sigma |w| E[max of
    8]`` (the constant by quadrature), within five standard errors of the sample."""
    draws = 40_000
    spec = SampledSpec(dim=4, samples_per_step=draws, buffer_size=draws, candidates=8, **REFERENCE)
    theta, sigma, w = jnp.asarray([0.3, 0.1, -0.4, 0.2]), 0.5, jnp.asarray([2.0, -1.0, 0.5, 1.0])
    score = linear_reward_model(4).reward
    keys = jax.random.key(5), jax.random.key(6)
    y, _ = policy_block(spec, SampledHParams(), U, theta, sigma, *keys, lambda x: score(w, x))
    values = np.asarray(y[:, 0] @ w)
    expected = float(w @ theta) + sigma * float(jnp.linalg.norm(w)) * expected_max_of_normals(8)
    error = values.std() / np.sqrt(draws)
    assert abs(values.mean() - expected) < 5 * error
    single = float(w @ theta)  # n = 1 would be 1.4 sigma |w| lower: far outside the tolerance
    assert abs(values.mean() - single) > 100 * error


@pytest.mark.parametrize("method", ["rlhf", "fpo-relaxed", "fpo-practical", "fpo-exact"])
def test_the_leaders_gradient_with_candidates_is_pathwise(method):
    """The MLP game against a reference, ``n = 6``: the gradient of the leader's objective
    (:func:`toysim.game.sampled.leader_objective`) equals central differences of it with
    the candidates' noise held fixed, at a step small enough that NumPy's argmax of the
    candidates' scores does not change; and it is not the gradient at candidate 0."""
    m = method_from_name(method)
    m = dataclasses.replace(m, params="current") if m.foresight else m
    spec = SampledSpec(dim=4, hidden=(6,), method=m, candidates=6, **REFERENCE)
    hp = SampledHParams(sigma_start=0.4, gamma=0.0 if method == "rlhf" else 0.7)
    model = mlp_reward_model((4, 6, 1))
    phi = jax.tree.map(lambda a: 0.8 * a, model.init(jax.random.key(2), jnp.float64))
    buffer = sampled.sampled_buffer(spec, jnp.float64)
    theta, sigma = jnp.asarray([0.4, -0.3, 0.2, 0.1]), 0.5
    score = functools.partial(model.reward, phi)
    keys = jax.random.key(7), jax.random.key(8)
    buffer = buffer_insert(buffer, *policy_block(spec, hp, U, theta, sigma, *keys, score))
    models = (model, pairwise(model))
    view = leader_view(spec, hp, U, models, phi, buffer, theta, jax.random.key(0))
    objective = leader_objective(spec, hp, model, view.phi, view.penalty, score, sigma)
    eps = standard_normal(jax.random.key(9), (2, 4), jnp.float64)
    draws = (eps, candidates_module.draw_candidates(jax.random.key(9), eps, 6))
    grad = jax.grad(objective)(theta, draws)
    h = 1e-5

    def best(t):
        return int(np.argmax(np.asarray(model.reward(phi, t + sigma * draws[1]))))

    central = []
    for e in np.eye(4):
        assert best(theta + h * e) == best(theta - h * e) == best(theta)
        up, down = objective(theta + h * e, draws), objective(theta - h * e, draws)
        central.append((float(up) - float(down)) / (2 * h))
    np.testing.assert_allclose(grad, central, rtol=1e-6, atol=1e-9)
    assert best(theta) != 0
    first = jax.grad(objective)(theta, (eps, None))
    assert not np.allclose(grad, first, rtol=1e-3)


SHORT = dict(dim=4, steps=12, inner_steps=3, buffer_size=6, samples_per_step=3, hidden=(6,))


@pytest.mark.parametrize(
    ("reward_model", "method", "pairing"),
    [
        ("linear", "fpo-exact", "reference"),
        ("mlp", "fpo-relaxed", "reference"),
        ("mlp", "rlhf", "policy"),
        ("linear", "fpo-practical", "policy"),
    ],
)
def test_one_candidate_is_the_game_without_the_selection(
    monkeypatch, reward_model, method, pairing
):
    """``n = 1`` draws nothing more and selects nothing: its trajectory equals, bit for bit,
    the one with the selection removed (``choose`` the identity on the pairs' noise, any
    further Gaussian draw of the candidates an error)."""
    m = method_from_name(method)
    m = dataclasses.replace(m, params="current") if m.foresight else m
    spec = SampledSpec(method=m, reward_model=reward_model, data="pairs", pairing=pairing, **SHORT)
    hp = SampledHParams(sigma_start=0.3, sigma_end=0.3, gamma=0.0 if method == "rlhf" else 0.5)
    run = make_trajectory(spec)(jax.random.key(4), hp)

    def no_draw(*args):
        raise AssertionError("n = 1 drew candidates")

    monkeypatch.setattr(candidates_module, "standard_normal", no_draw)
    monkeypatch.setattr(sampled, "choose", lambda score, theta, sigma, eps, c: eps)
    plain = make_trajectory(spec)(jax.random.key(4), hp)
    np.testing.assert_array_equal(run.theta, plain.theta)
    np.testing.assert_array_equal(run.proxy_reward, plain.proxy_reward)


def test_more_candidates_run_finite_and_move_the_policy_further_up_the_reward():
    """pairwise-linear against a reference, 60 iterations of rlhf: with ``n = 8`` the run is
    finite and differs from ``n = 1`` from the first iteration on."""
    spec, hp = build("pairwise-linear", "rlhf", steps=60)
    spec = dataclasses.replace(spec, pairing="reference")
    one = make_trajectory(spec)(jax.random.key(0), hp)
    eight = make_trajectory(dataclasses.replace(spec, candidates=8))(jax.random.key(0), hp)
    assert np.all(np.isfinite(np.asarray(eight.theta)))
    assert not np.array_equal(one.theta[0], eight.theta[0])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(candidates=0), "candidates must be an integer >= 1; got 0"),
        (dict(candidates=2.0), "candidates must be an integer >= 1; got 2.0"),
        (dict(candidates=8), "candidates must be 1 unless data = pairs and pairing = reference"),
        (dict(candidates=8, data="pairs"), "candidates must be 1 unless data = pairs"),
        (
            dict(candidates=2**63, **REFERENCE),
            r"candidates x max\(inner_steps, samples_per_step\) x dim must be at most 2\*\*26",
        ),
    ],
)
def test_candidates_are_refused_where_they_mean_nothing(changes, message):
    with pytest.raises(ConfigError, match=message):
        SampledSpec(**changes).validate()


def test_candidates_are_refused_with_expert_iteration():
    game = SampledSpec(candidates=8, **REFERENCE)
    with pytest.raises(ConfigError, match="candidates must be 1 with leader = expert"):
        Composition(game, leader="expert").validate()
