"""The pairwise (Bradley-Terry) follower and the data regimes (docs/theory/pairwise.md)."""

import dataclasses
import functools
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from toysim import linalg
from toysim.config import REGIMES, ConfigError, Method, method_from_name
from toysim.game.candidates import choose
from toysim.game.followers import (
    buffer_insert,
    buffer_weights,
    data_loss,
    empty_buffer,
    regime_blocks,
)
from toysim.game.sampled import (
    PAIRINGS,
    SampledHParams,
    SampledSpec,
    block_labels,
    policy_block,
    policy_outputs,
)
from toysim.game.sampled_round import (
    network_inverse,
    network_objective,
    network_steering,
)
from toysim.game.steering import influence_loss
from toysim.game.trajectory import make_trajectory
from toysim.model.interface import linear_reward_model, mlp_reward_model, pairwise
from toysim.model.preference import preference_probability, sample_labels, steering_view
from toysim.model.sampling import standard_normal
from toysim.model.utility import Utility, utility
from toysim.presets import build

U = Utility(jnp.asarray(10.0), jnp.asarray(0.2), jnp.asarray([1.5, 1.0, 0.0, 0.0]))


def random_pairs(seed: int, n: int, dim: int = 4, scale: float = 1.0) -> jax.Array:
    return scale * jnp.asarray(np.random.default_rng(seed).normal(size=(n, 2, dim)))


def test_bradley_terry_loss_gradient_and_hessian_match_the_hand_written_formulas():
    """Linear RM: ``l = -p log s(m) - (1-p) log s(-m)``, ``grad = (s(m) - p) delta``,
    ``hess = s(m)(1 - s(m)) delta delta^T`` with ``m = w . delta``, ``delta = y_0 - y_1``."""
    model = pairwise(linear_reward_model(4))
    w = jnp.asarray([0.7, -1.2, 0.4, 2.0])
    y = random_pairs(0, 6)
    p = jnp.asarray([0.0, 1.0, 0.3, 0.9, 0.5, 1.0])
    delta = np.asarray(y[:, 0] - y[:, 1])
    m = delta @ np.asarray(w)
    s = 1.0 / (1.0 + np.exp(-m))
    p_np = np.asarray(p)
    loss = -p_np * np.log(s) - (1 - p_np) * np.log(1 - s)
    chex.assert_trees_all_close(model.sample_loss(w, y, p), jnp.asarray(loss), rtol=1e-12)

    def total(w):
        return jnp.sum(model.sample_loss(w, y, p))

    grad = ((s - p_np)[:, None] * delta).sum(0)
    hess = np.einsum("i,ij,ik->jk", s * (1 - s), delta, delta)
    chex.assert_trees_all_close(jax.jit(jax.grad(total))(w), jnp.asarray(grad), rtol=1e-10)
    chex.assert_trees_all_close(jax.jit(jax.hessian(total))(w), jnp.asarray(hess), rtol=1e-10)


def test_bradley_terry_gradient_and_hessian_of_the_mlp_match_the_chain_rule():
    """Any RM: ``grad l = (s(m) - p) grad m`` and
    ``hess l = s'(m) grad m grad m^T + (s(m) - p) hess m`` with ``m = r(y_0) - r(y_1)``."""
    base = mlp_reward_model((4, 5, 1), scale=0.6)
    model = pairwise(base)
    flat, unravel = ravel_pytree(base.init(jax.random.key(2), jnp.float64))
    y, p = random_pairs(1, 1)[0], jnp.asarray(0.8)

    def loss(x):
        return model.sample_loss(unravel(x), y, p)

    def margin(x):
        r = base.reward(unravel(x), y)
        return r[0] - r[1]

    s = jax.nn.sigmoid(jax.jit(margin)(flat))
    gm, hm = jax.jit(jax.grad(margin))(flat), jax.jit(jax.hessian(margin))(flat)
    chex.assert_trees_all_close(jax.jit(jax.grad(loss))(flat), (s - p) * gm, rtol=1e-10)
    expected = s * (1 - s) * jnp.outer(gm, gm) + (s - p) * hm
    chex.assert_trees_all_close(jax.jit(jax.hessian(loss))(flat), expected, rtol=1e-9, atol=1e-12)


def test_expected_label_loss_matches_monte_carlo_over_sampled_labels():
    """The loss is linear in the label, so its mean over Bernoulli labels is the loss at
    the expected label; checked within five standard errors of the sample mean."""
    model = pairwise(linear_reward_model(4))
    w = jnp.asarray([1.0, 0.5, -0.3, 0.2])
    y = random_pairs(3, 8)
    values = utility(U, y)
    p = preference_probability(values[:, 0], values[:, 1], 0.7, 0.2)
    draws = 20_000
    labels = sample_labels(jax.random.key(0), jnp.broadcast_to(p, (draws, 8)))
    per_draw = jax.jit(lambda labels: jnp.mean(model.sample_loss(w, y, labels), axis=-1))(labels)
    expected = jnp.mean(model.sample_loss(w, y, p))
    error = np.std(np.asarray(per_draw)) / np.sqrt(draws)
    assert error > 0
    assert abs(float(jnp.mean(per_draw) - expected)) < 5 * error


def test_label_flips_at_one_half_carry_no_information_about_the_utility():
    """At ``eps = 1/2`` every label is 1/2: the data gradient at any phi is the same under
    any utility, its label part ``E[p grad m]`` vanishes over pairs drawn from a policy
    (Monte Carlo, five standard errors), and a linear RM at 0 never leaves it."""
    model = pairwise(mlp_reward_model((4, 6, 1), scale=0.8))
    phi = model.init(jax.random.key(4), jnp.float64)
    theta = jnp.asarray([0.5, -0.2, 0.1, 0.3])
    y = theta + 0.4 * random_pairs(5, 4000)
    other = Utility(jnp.asarray(-3.0), jnp.asarray(1.0), jnp.asarray([0.0, 0.0, 2.0, 1.0]))

    @jax.jit
    def data_gradient(u):
        values = utility(u, y)
        p = preference_probability(values[:, 0], values[:, 1], 2.0, 0.5)
        return ravel_pytree(jax.grad(lambda f: jnp.mean(model.sample_loss(f, y, p)))(phi))[0]

    chex.assert_trees_all_equal(data_gradient(U), data_gradient(other))

    def label_term(pair):  # the part of grad l that the label drives: -p grad_phi m
        def margin(f):
            r = model.reward(f, pair)
            return r[0] - r[1]

        return -0.5 * ravel_pytree(jax.grad(margin)(phi))[0]

    terms = jax.jit(jax.vmap(label_term))(y)
    mean, error = jnp.mean(terms, 0), jnp.std(terms, 0) / np.sqrt(len(y))
    assert np.all(np.abs(np.asarray(mean)) <= 5 * np.asarray(error))

    linear = pairwise(linear_reward_model(4))
    values = utility(U, y)
    p = preference_probability(values[:, 0], values[:, 1], 2.0, 0.5)
    zero = jnp.zeros(4)
    grad = jax.grad(lambda w: jnp.mean(linear.sample_loss(w, y, p)))(zero)
    chex.assert_trees_all_equal(grad, zero)


def leader_value_and_steering(pairs_of, old, lam, beta, flip, newton_steps=20):
    """The exact leader objective ``V(theta) = r_{phi*(theta)}(theta)`` of the linear
    pairwise game with one new block ``pairs_of(theta)`` and the parts of its gradient."""
    model = linear_reward_model(4)
    follower = pairwise(model)

    def buffer_at(theta):
        pairs = jnp.concatenate([old, pairs_of(theta)])
        values = utility(U, pairs)
        labels = preference_probability(values[:, 0], values[:, 1], beta, flip)
        buffer = empty_buffer(1, 4, jnp.float64, pairs.shape[0], pairs=True)
        return buffer_insert(buffer, pairs, labels)

    def best_response(theta):
        objective = network_objective(follower, buffer_at(theta), lam)

        def newton(_, w):
            return w - jnp.linalg.solve(jax.hessian(objective)(w), jax.grad(objective)(w))

        return jax.lax.fori_loop(0, newton_steps, newton, jnp.zeros(4))

    def value(theta):
        return model.reward(best_response(theta), theta)

    return value, best_response, buffer_at


@pytest.mark.parametrize("pairing", PAIRINGS)
def test_pairwise_steering_is_the_exact_leader_gradient_of_the_linear_bt_game(pairing):
    """With ridge the linear BT loss is strictly convex: at ``phi*`` the exact Hessian
    steering, ``grad_theta r(theta) - 2 omega grad_theta sum_j S(pair_j)``, equals the total
    derivative of ``V(theta) = r_{phi*(theta)}(theta)``, by central differences and by
    autodiff through the Newton solve; for pairs of two policy outputs ``theta + sigma
    (eps_0, eps_1)`` and for the policy's output against a reference ``(theta + sigma eps_0,
    sigma_ref eps_1)`` that stays put, both written out here."""
    rng = np.random.default_rng(7)
    theta = jnp.asarray([0.6, 0.3, -0.2, 0.1])
    old = jnp.asarray(rng.normal(size=(5, 2, 4)))
    eps = jnp.asarray(rng.normal(size=(3, 2, 4)))
    sigma, sigma_ref, lam, beta, flip = 0.5, 0.8, 0.05, 1.5, 0.1

    def pairs_of(t):
        if pairing == "policy":
            return t + sigma * eps
        return jnp.stack([t + sigma * eps[:, 0], sigma_ref * eps[:, 1]], axis=1)

    value, best_response, buffer_at = leader_value_and_steering(pairs_of, old, lam, beta, flip)
    count = old.shape[0] + eps.shape[0]
    w_star = jax.jit(best_response)(theta)
    follower = pairwise(linear_reward_model(4))
    objective = network_objective(follower, buffer_at(theta), lam)
    chex.assert_trees_all_close(jax.grad(objective)(w_star), jnp.zeros(4), atol=1e-12)
    method = dataclasses.replace(method_from_name("fpo-exact"), params="current")
    spec = SampledSpec(
        dim=4,
        method=method,
        reward_model="linear",
        data="pairs",
        pairing=pairing,
        solver=linalg.Cholesky(),
    )
    hp = SampledHParams(weight_decay=lam, beta=beta, label_noise=flip, sigma_start=sigma_ref)
    inverse = network_inverse(spec, hp, follower, w_star, buffer_at(theta), jax.random.key(0))
    view = steering_view(linear_reward_model(4), beta, flip, pairing == "reference")
    penalty, _ = network_steering(method, view, w_star, inverse, jnp.stack([theta, theta]), U)
    steering = jax.grad(lambda t: jnp.sum(jax.vmap(penalty)(pairs_of(t))))(theta)
    leader = w_star - 2.0 / count * steering
    h, value = 1e-5, jax.jit(value)
    central = jnp.stack(
        [(value(theta + h * e) - value(theta - h * e)) / (2 * h) for e in jnp.eye(4)]
    )
    chex.assert_trees_all_close(leader, central, rtol=1e-6, atol=1e-8)
    chex.assert_trees_all_close(leader, jax.jit(jax.grad(value))(theta), rtol=1e-9, atol=1e-12)
    assert float(jnp.linalg.norm(steering)) > 1e-3  # the term matters here
    np.testing.assert_array_equal(policy_outputs(spec, hp, theta, sigma, eps), pairs_of(theta))


def test_with_candidates_exact_steering_is_the_total_derivative_with_the_choice_held_fixed():
    """Reference pairs whose own outputs are each the best of ``n = 5`` candidates by the
    current reward model ``w_t . y`` (:func:`toysim.game.candidates.choose`): with the chosen
    index held fixed, the exact Hessian steering at ``phi*`` still gives the total derivative
    of ``V(theta) = r_{phi*(theta)}(theta)``, the block's pairs written out here with the
    index NumPy picks at ``theta`` (unchanged within the differences' step)."""
    rng = np.random.default_rng(8)
    theta = jnp.asarray([0.6, 0.3, -0.2, 0.1])
    old = jnp.asarray(rng.normal(size=(5, 2, 4)))
    eps = jnp.asarray(rng.normal(size=(3, 2, 4)))
    candidates = jnp.asarray(rng.normal(size=(3, 5, 4)))
    w_t = jnp.asarray([1.0, 0.5, -0.5, 0.2])
    sigma, sigma_ref, lam, beta, flip, h = 0.5, 0.8, 0.05, 1.5, 0.1, 1e-5
    best = np.argmax(np.asarray(theta + sigma * candidates) @ np.asarray(w_t), axis=1)
    for t in [theta + h * e for e in jnp.eye(4)] + [theta - h * e for e in jnp.eye(4)]:
        assert np.array_equal(np.argmax(np.asarray(t + sigma * candidates) @ w_t, 1), best)
    assert set(best.tolist()) != {0}
    chosen = candidates[np.arange(3), best]

    def pairs_of(t):  # by hand: the chosen candidates against the references
        return jnp.stack([t + sigma * chosen, sigma_ref * eps[:, 1]], axis=1)

    value, best_response, buffer_at = leader_value_and_steering(pairs_of, old, lam, beta, flip)
    w_star = jax.jit(best_response)(theta)
    follower = pairwise(linear_reward_model(4))
    method = dataclasses.replace(method_from_name("fpo-exact"), params="current")
    kinds = dict(data="pairs", pairing="reference", candidates=5)
    spec = SampledSpec(
        dim=4, method=method, reward_model="linear", solver=linalg.Cholesky(), **kinds
    )
    hp = SampledHParams(weight_decay=lam, beta=beta, label_noise=flip, sigma_start=sigma_ref)
    inverse = network_inverse(spec, hp, follower, w_star, buffer_at(theta), jax.random.key(0))
    view = steering_view(linear_reward_model(4), beta, flip, reference=True)
    penalty, _ = network_steering(method, view, w_star, inverse, jnp.stack([theta, theta]), U)

    def block(t):  # the library's choice and outputs
        score = functools.partial(linear_reward_model(4).reward, w_t)
        return policy_outputs(spec, hp, t, sigma, choose(score, t, sigma, eps, candidates))

    np.testing.assert_allclose(block(theta), pairs_of(theta), rtol=1e-15)
    steering = jax.grad(lambda t: jnp.sum(jax.vmap(penalty)(block(t))))(theta)
    leader = w_star - 2.0 / (old.shape[0] + eps.shape[0]) * steering
    value = jax.jit(value)
    central = jnp.stack(
        [(value(theta + h * e) - value(theta - h * e)) / (2 * h) for e in jnp.eye(4)]
    )
    chex.assert_trees_all_close(leader, central, rtol=1e-6, atol=1e-8)
    chex.assert_trees_all_close(leader, jax.jit(jax.grad(value))(theta), rtol=1e-9, atol=1e-12)
    assert float(jnp.linalg.norm(steering)) > 1e-3


def test_a_reference_pair_scores_its_first_output_and_its_free_loss_is_the_margin():
    """Linear ``w = (1, 2)``, the pair ``((1, 0), (0, 1))``: the reference view scores the
    pair by its first output, 1; without the oracle it differentiates the margin
    ``r_0 - r_1 = w . (1, -1) = -1``, so its gradient in ``w`` is ``(1, -1)`` (the
    Bradley-Terry gradient with ``s - p`` replaced by 1); the policy-pair view scores the
    mean, 1.5, and differentiates ``2 x 1.5``, gradient ``(1, 1)``."""
    w, pair = jnp.asarray([1.0, 2.0]), jnp.asarray([[1.0, 0.0], [0.0, 1.0]])
    reference = steering_view(linear_reward_model(2), 2.0, 0.1, reference=True)
    assert float(reference.reward(w, pair)) == 1.0
    free = jax.grad(lambda v: influence_loss(reference, v, pair, jnp.zeros(2), False))(w)
    np.testing.assert_array_equal(free, [1.0, -1.0])
    mean = steering_view(linear_reward_model(2), 2.0, 0.1)
    free = jax.grad(lambda v: influence_loss(mean, v, pair, jnp.zeros(2), False))(w)
    np.testing.assert_array_equal(free, [1.0, 1.0])


@pytest.mark.parametrize("oracle", ["true", "none"])
def test_the_reference_pairings_local_penalties_are_the_published_forms(oracle):
    """Local influence and ``M = I`` on the MLP: with the oracle the relaxed penalty is
    ``(1/2) (s(r(y) - r(y_ref)) - p) <grad r(y), grad r(y) - grad r(y_ref)>`` with ``p`` the
    labeller's probability, without it the practical ``(1/2) <grad r(y), grad r(y) - grad
    r(y_ref)>``: the published pairwise penalties (up to the factor 1/2 that ``gamma``
    absorbs), each gradient taken here from the pointwise model alone."""
    model = mlp_reward_model((4, 6, 1))
    phi = model.init(jax.random.key(3), jnp.float64)
    y, y_ref = jnp.asarray([0.4, -0.3, 0.9, 0.2]), jnp.asarray([-0.5, 0.1, 0.3, 0.7])
    beta, flip = 1.5, 0.1
    method = Method("fpo", hessian="identity", influence="local", params="current", oracle=oracle)
    view = steering_view(model, beta, flip, reference=True)
    identity = linalg.identity_solution
    penalty, _ = network_steering(method, view, phi, identity, jnp.stack([y, y]), U)

    def grad_r(x):
        return ravel_pytree(jax.grad(model.reward)(phi, x))[0]

    inner = grad_r(y) @ (grad_r(y) - grad_r(y_ref))
    if oracle == "true":
        margin = model.reward(phi, y) - model.reward(phi, y_ref)
        p = preference_probability(utility(U, y), utility(U, y_ref), beta, flip)
        inner = (jax.nn.sigmoid(margin) - p) * inner
    assert float(penalty(jnp.stack([y, y_ref]))) == pytest.approx(0.5 * float(inner), rel=1e-12)


def test_reference_pairs_move_their_first_output_with_the_policy_only():
    """Two blocks from the same key at ``theta`` and ``theta + delta``: the first outputs
    differ by ``delta``, the references are equal, and both are draws of ``N(0,
    sigma_start^2 I)`` scaled as written out (``policy_outputs`` by hand)."""
    spec = SampledSpec(dim=4, data="pairs", pairing="reference", samples_per_step=3)
    hp = SampledHParams(sigma_start=0.3, beta=1.0)
    theta, delta, key = jnp.asarray([1.0, 0.0, 0.5, 0.0]), jnp.asarray([0.0, 2.0, 0.0, 1.0]), 0
    y0, _ = policy_block(spec, hp, U, theta, 0.2, jax.random.key(key), jax.random.key(1))
    y1, _ = policy_block(spec, hp, U, theta + delta, 0.2, jax.random.key(key), jax.random.key(1))
    np.testing.assert_allclose(y1[:, 0] - y0[:, 0], jnp.broadcast_to(delta, (3, 4)), atol=1e-12)
    np.testing.assert_array_equal(y1[:, 1], y0[:, 1])
    eps = standard_normal(jax.random.key(key), (3, 2, 4), jnp.float64)
    np.testing.assert_allclose(y0[:, 0], theta + 0.2 * eps[:, 0], rtol=1e-15)
    np.testing.assert_allclose(y0[:, 1], 0.3 * eps[:, 1], rtol=1e-15)


def test_pairing_is_refused_for_points_naming_the_field():
    with pytest.raises(ConfigError, match="pairing must be policy with data = points"):
        SampledSpec(data="points", pairing="reference").validate()


def test_only_reference_pairs_are_against_a_reference():
    assert SampledSpec(data="pairs", pairing="reference").against_reference
    assert not SampledSpec(data="pairs", pairing="policy").against_reference
    assert not SampledSpec(data="points").against_reference


@pytest.mark.parametrize("regime", REGIMES)
def test_every_regimes_buffer_weights_sum_to_one(regime):
    """Weights ``filled / count`` sum to 1 after every insert, and the mean loss is the
    weighted sum of the per-sample losses."""
    steps, window, n = 7, 3, 2
    model = pairwise(linear_reward_model(4))
    buffer = empty_buffer(regime_blocks(regime, window, steps), 4, jnp.float64, n, pairs=True)
    w = jnp.asarray([0.3, -0.5, 1.0, 0.2])
    for t in range(steps):
        y = random_pairs(t, n)
        buffer = buffer_insert(buffer, y, jnp.asarray([1.0, 0.0]))
        weights = buffer_weights(buffer)
        chex.assert_trees_all_close(jnp.sum(weights), jnp.asarray(1.0), rtol=1e-14)
        weighted = jnp.sum(weights * model.sample_loss(w, buffer.y, buffer.label))
        chex.assert_trees_all_close(data_loss(model, w, buffer, None), weighted, rtol=1e-13)
        expected_filled = {"replace": 1, "window": min(t + 1, window), "accumulate": t + 1}
        assert float(jnp.sum(buffer.filled)) == expected_filled[regime]


SHORT = dict(steps=12, inner_steps=3, dim=4, hidden=(5,), buffer_size=4, samples_per_step=2)


@pytest.mark.parametrize("data", ["points", "pairs"])
def test_a_window_of_one_block_is_replace_and_a_full_window_is_accumulate(data):
    hp = SampledHParams(sigma_start=0.3, sigma_end=0.3, beta=2.0, label_noise=0.1)
    base = SampledSpec(data=data, reward_model="linear", **SHORT)

    def theta(**fields):
        spec = dataclasses.replace(base, **fields)
        return np.asarray(make_trajectory(spec)(jax.random.key(1), hp).theta)

    n, steps = SHORT["samples_per_step"], SHORT["steps"]
    np.testing.assert_array_equal(
        theta(regime="window", buffer_size=n), theta(regime="replace", buffer_size=n)
    )
    np.testing.assert_array_equal(
        theta(regime="window", buffer_size=n * steps), theta(regime="accumulate")
    )
    assert not np.array_equal(theta(regime="replace"), theta(regime="accumulate"))


@pytest.mark.parametrize(
    ("model", "labels", "pairing"),
    [
        ("linear", "sampled", "policy"),
        ("mlp", "expected", "policy"),
        ("mlp", "sampled", "reference"),
    ],
)
@pytest.mark.parametrize("method", ["rlhf", "fpo-exact", "fpo-relaxed", "fpo-practical"])
def test_pairwise_game_runs_every_method_finite(model, method, labels, pairing):
    m = method_from_name(method)
    if m.foresight:
        m = dataclasses.replace(m, params="current")
    kinds = dict(data="pairs", labels=labels, reward_model=model, pairing=pairing)
    spec = SampledSpec(method=m, **kinds, **SHORT)
    hp = SampledHParams(sigma_start=0.3, sigma_end=0.3, gamma=0.0 if method == "rlhf" else 0.5)
    run = make_trajectory(spec)(jax.random.key(0), hp)
    assert run.theta.shape == (SHORT["steps"], SHORT["dim"])
    assert np.all(np.isfinite(np.asarray(run.theta)))
    assert np.all(np.isfinite(np.asarray(run.buffer_loss)))
    assert float(jnp.linalg.norm(run.theta[-1])) > 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("regime", "fifo"), ("data", "triples"), ("labels", "soft"), ("reward_model", "tree")],
)
def test_spec_refuses_unknown_choices_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        dataclasses.replace(SampledSpec(), **{field: value}).validate()


def test_pairwise_presets_change_only_the_data_model_and_leash_from_paper_nn():
    for preset in ("pairwise-linear", "pairwise-nn"):
        for method in ("rlhf", "fpo-exact", "fpo-relaxed"):
            spec, hp = build(preset, method)
            base_spec, base_hp = build("paper-nn", method)
            assert spec.data == "pairs" and spec.labels == "sampled" and spec.regime == "window"
            assert spec.method == base_spec.method and hp.gamma == base_hp.gamma
            assert (hp.sigma_start, hp.sigma_end, hp.beta, hp.label_noise) == (0.3, 0.3, 1.0, 0.1)
    assert build("pairwise-linear", "rlhf")[0].reward_model == "linear"
    assert build("pairwise-nn", "rlhf")[0].reward_model == "mlp"


def test_run_a_pairwise_preset_from_the_command_line(cli):
    argv = ("run", "--preset", "pairwise-linear", "--steps", "5", "--method", "fpo-exact")
    status, out, err = cli(*argv, "--json")
    assert status == 0, err
    row = json.loads(out)
    assert row["preset"] == "pairwise-linear" and row["gamma"] == 0.2 and row["steps"] == 5
    assert np.isfinite(row["final_utility"])


def test_preference_probability_by_hand():
    """``beta = 2`` and ``U_0 - U_1 = log(3)/2`` give ``s(log 3) = 3/(3 + 1) = 0.75``; with
    flip rate 0.1, ``p = 0.9 * 0.75 + 0.1 * 0.25 = 0.7``, and the swapped pair
    ``p = 0.9 * 0.25 + 0.1 * 0.75 = 0.3``. With no flips ``p = 0.75``; equal utilities give
    1/2 whatever the flip rate, and a flip rate of 1 inverts the labeller."""
    gap = np.log(3.0) / 2.0
    u0, u1 = jnp.asarray([1.0 + gap, 1.0]), jnp.asarray([1.0, 1.0 + gap])
    np.testing.assert_allclose(preference_probability(u0, u1, 2.0, 0.1), [0.7, 0.3], rtol=1e-14)
    np.testing.assert_allclose(preference_probability(u0, u1, 2.0, 0.0), [0.75, 0.25], rtol=1e-14)
    np.testing.assert_allclose(preference_probability(u0, u1, 2.0, 1.0), [0.25, 0.75], rtol=1e-14)
    same = preference_probability(jnp.asarray(4.0), jnp.asarray(4.0), 2.0, 0.3)
    assert float(same) == pytest.approx(0.5, rel=1e-15)


def test_sampled_labels_are_bernoulli_with_the_given_probability():
    """Labels are 0 or 1 and their frequency is ``p``, within five binomial standard errors
    ``sqrt(p (1 - p) / n)``."""
    p = jnp.asarray([0.05, 0.3, 0.7, 0.95])
    draws = 40_000
    labels = np.asarray(sample_labels(jax.random.key(1), jnp.broadcast_to(p, (draws, 4))))
    assert labels.dtype == np.float64 and set(np.unique(labels)) <= {0.0, 1.0}
    stderr = np.sqrt(np.asarray(p) * (1 - np.asarray(p)) / draws)
    assert np.all(np.abs(labels.mean(axis=0) - np.asarray(p)) <= 5 * stderr)
    np.testing.assert_array_equal(sample_labels(jax.random.key(2), jnp.asarray([0.0, 1.0])), [0, 1])


def test_steering_view_scores_a_pair_by_its_mean_and_labels_it_from_the_utilities():
    """Linear ``w = (1, 2)`` and the pair ``((1, 0), (0, 1))``: rewards 1 and 2, so the pair's
    reward is 1.5 and the margin ``r_0 - r_1 = -1``. Utilities with ``beta (U_0 - U_1) =
    log 3`` (``beta = 2``, flip 0.1) label it ``p = 0.7`` (see the test above), so its loss is
    ``-0.7 log s(-1) - 0.3 log s(1) = 0.7 log(1 + e) + 0.3 log(1 + 1/e)``."""
    view = steering_view(linear_reward_model(2), 2.0, 0.1)
    w, pair = jnp.asarray([1.0, 2.0]), jnp.asarray([[1.0, 0.0], [0.0, 1.0]])
    assert float(view.reward(w, pair)) == pytest.approx(1.5, rel=1e-15)
    utilities = jnp.asarray([np.log(3.0) / 2.0, 0.0])
    expected = 0.7 * np.log(1.0 + np.e) + 0.3 * np.log(1.0 + np.exp(-1.0))
    assert float(view.sample_loss(w, pair, utilities)) == pytest.approx(expected, rel=1e-12)


def test_block_labels_are_utilities_for_points_and_preferences_for_pairs():
    """With ``U`` of the module (``A = 10``, ``tau = 0.2``, ``m = (1.5, 1, 0, 0)``): the point
    ``m`` is labelled 10 and ``m + (1, 0, 0, 0)`` ``10 exp(-0.2)``. The pair ``(m, m + e_0)``
    with ``beta = 0.5`` and flips 0.1 is labelled, written out in numpy,
    ``p = 0.9 s + 0.1 (1 - s)`` with ``s = 1 / (1 + exp(-0.5 (10 - 10 exp(-0.2))))``
    (``labels = expected``), or 0/1 with frequency ``p`` within five binomial standard errors
    over 20,000 copies of the pair (``labels = sampled``)."""
    hp = SampledHParams(beta=0.5, label_noise=0.1)
    m = U.ideal
    y = jnp.stack([m, m.at[0].add(1.0)])
    points = SampledSpec(dim=4, data="points")
    np.testing.assert_allclose(
        block_labels(points, hp, U, y, jax.random.key(0)), [10.0, 10.0 * np.exp(-0.2)], rtol=1e-14
    )
    s = 1.0 / (1.0 + np.exp(-0.5 * (10.0 - 10.0 * np.exp(-0.2))))
    p = 0.9 * s + 0.1 * (1.0 - s)
    expected = SampledSpec(dim=4, data="pairs", labels="expected")
    np.testing.assert_allclose(block_labels(expected, hp, U, y[None], jax.random.key(0)), [p])
    draws = 20_000
    sampled = SampledSpec(dim=4, data="pairs", labels="sampled")
    labels = np.asarray(
        block_labels(sampled, hp, U, jnp.broadcast_to(y, (draws, 2, 4)), jax.random.key(1))
    )
    assert set(np.unique(labels)) == {0.0, 1.0}
    assert abs(labels.mean() - p) <= 5 * np.sqrt(p * (1 - p) / draws)
