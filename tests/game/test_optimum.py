"""``params = optimum`` in the sampled-buffer game: the linear reward model's best response on
its buffer (toysim.game.optimum) and the steering term there (docs/theory/pairwise.md)."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from toysim import linalg
from toysim.config import ConfigError, method_from_name, validate
from toysim.experiments.runner import run_seed
from toysim.game.followers import buffer_insert, empty_buffer
from toysim.game.optimum import NEWTON_STEPS, buffer_optimum, stationarity
from toysim.game.sampled import SampledHParams, SampledSpec
from toysim.game.sampled_round import leader_view
from toysim.game.trajectory import make_trajectory
from toysim.model.interface import linear_reward_model, pairwise
from toysim.model.preference import preference_probability
from toysim.model.utility import Utility, utility
from toysim.presets import build

D = 4
U = Utility(jnp.asarray(10.0), jnp.asarray(0.2), jnp.asarray([1.5, 1.0, 0.0, 0.0]))


def labelled(y, data, beta=1.5, flip=0.1):
    """``U(y)`` for points; the Bradley-Terry probability of a pair's first output."""
    values = utility(U, y)
    if data == "points":
        return values
    return preference_probability(values[..., 0], values[..., 1], beta, flip)


def window_buffer(seed, data, blocks=4, filled=3, n=5, scale=1.5):
    """A window of ``blocks`` blocks of ``n`` samples with ``filled`` of them written."""
    rng = np.random.default_rng(seed)
    pairs = data == "pairs"
    buffer = empty_buffer(blocks, D, jnp.float64, n, pairs)
    for _ in range(filled):
        y = jnp.asarray(scale * rng.normal(size=(n, 2, D) if pairs else (n, D)))
        buffer = buffer_insert(buffer, y, labelled(y, data))
    return buffer


def numpy_objective(buffer, data, wd):
    """``L(w)`` and its gradient in NumPy: the mean loss over the filled samples plus
    ``(wd/2)||w||^2`` (squared error, or the logistic loss on the pair's margin)."""
    keep = np.repeat(np.asarray(buffer.filled) > 0, buffer.label.shape[1])
    y = np.asarray(buffer.y).reshape(-1, *buffer.y.shape[2:])[keep]
    label = np.asarray(buffer.label).reshape(-1)[keep]

    def value_and_grad(w):
        if data == "points":
            residual = y @ w - label
            return np.mean(residual**2) + 0.5 * wd * w @ w, 2 * y.T @ residual / len(y) + wd * w
        delta = y[:, 0] - y[:, 1]
        margin = delta @ w
        loss = label * np.logaddexp(0, -margin) + (1 - label) * np.logaddexp(0, margin)
        slope = 1 / (1 + np.exp(-margin)) - label
        return np.mean(loss) + 0.5 * wd * w @ w, delta.T @ slope / len(y) + wd * w

    return value_and_grad


def follower_of(data):
    model = linear_reward_model(D)
    return pairwise(model) if data == "pairs" else model


@pytest.mark.parametrize(("data", "steps"), [("points", 1), ("pairs", NEWTON_STEPS)])
@pytest.mark.parametrize("seed", range(3))
def test_the_best_response_is_scipys_minimiser_of_an_independent_loss(data, steps, seed):
    """Newton from 0 (one step on the squared loss, :data:`NEWTON_STEPS` on pairs) lands on
    the zero of the gradient of the same objective written in NumPy, found by SciPy's Powell
    hybrid method (a finite-difference Jacobian, no Hessian), and says it converged."""
    wd = 0.01
    buffer = window_buffer(seed, data)
    solution = buffer_optimum(follower_of(data), buffer, jnp.asarray(wd), jnp.zeros(D), steps)
    gradient = lambda w: numpy_objective(buffer, data, wd)(w)[1]  # noqa: E731
    reference = scipy.optimize.root(gradient, np.zeros(D), method="hybr", tol=1e-13).x
    assert np.linalg.norm(gradient(reference)) < 1e-13  # L is strictly convex: the minimiser
    np.testing.assert_allclose(np.asarray(solution.x), reference, rtol=1e-10, atol=1e-13)
    info = solution.info
    assert bool(info.converged) and int(info.iterations) == steps
    assert float(info.backward_error) < 1e-13 and float(info.residual) < 1e-12


def test_stationarity_is_the_residual_and_backward_error_of_the_normal_equations():
    """Squared loss: ``grad L(w) = H w - b``; at a point that is not the minimiser the info
    is ``||H w - b|| / ||b||`` and ``||H w - b|| / (||H||_F ||w|| + ||b||)`` with ``H`` and
    ``b`` assembled in NumPy, and not converged."""
    wd = 0.05
    buffer = window_buffer(5, "points")
    keep = np.repeat(np.asarray(buffer.filled) > 0, buffer.label.shape[1])
    y = np.asarray(buffer.y).reshape(-1, D)[keep]
    label = np.asarray(buffer.label).reshape(-1)[keep]
    h = 2 * y.T @ y / len(y) + wd * np.eye(D)
    b = 2 * y.T @ label / len(y)
    w = np.asarray([0.3, -1.0, 0.2, 0.5])
    model = linear_reward_model(D)

    def objective(x):
        return jnp.mean((model.reward(x, jnp.asarray(y)) - label) ** 2) + 0.5 * wd * x @ x

    info = stationarity(objective, jnp.asarray(w), 7)
    r = np.linalg.norm(h @ w - b)
    assert float(info.residual) == pytest.approx(r / np.linalg.norm(b), rel=1e-12)
    expected = r / (np.linalg.norm(h) * np.linalg.norm(w) + np.linalg.norm(b))
    assert float(info.backward_error) == pytest.approx(expected, rel=1e-12)
    assert not bool(info.converged) and int(info.iterations) == 7


def test_too_few_newton_steps_on_pairs_are_reported_unconverged():
    buffer = window_buffer(1, "pairs", scale=3.0)
    one = buffer_optimum(follower_of("pairs"), buffer, jnp.asarray(1e-3), jnp.zeros(D), 1)
    assert not bool(one.info.converged) and float(one.info.backward_error) > 1e-4


def independent_best_response(objective, steps=20):
    """``argmin objective`` by Newton with a dense ``jax.hessian`` and ``jnp.linalg.solve``,
    differentiable through every step."""

    def newton(_, w):
        return w - jnp.linalg.solve(jax.hessian(objective)(w), jax.grad(objective)(w))

    return jax.lax.fori_loop(0, steps, newton, jnp.zeros(D))


@pytest.mark.parametrize("data", ["points", "pairs"])
def test_steering_at_the_optimum_is_the_total_derivative_through_the_exact_solve(data):
    """The leader's gradient at ``phi_s = phi*`` (:func:`leader_view` with ``params =
    optimum``, the follower's own ``phi`` ignored), ``grad r_{phi*}(theta) - 2 omega grad
    sum_j S(theta + sigma eps_j)`` over the new block, equals ``d/dtheta r_{phi*(theta)}
    (theta)`` by autodiff through an independent Newton solve of the buffer that holds the
    block."""
    rng = np.random.default_rng(11)
    pairs = data == "pairs"
    shape = (2, D) if pairs else (D,)
    old = jnp.asarray(rng.normal(size=(6, *shape)))
    eps = jnp.asarray(rng.normal(size=(3, *shape)))
    theta, sigma, wd = jnp.asarray([0.6, 0.3, -0.2, 0.1]), 0.5, 0.05
    count = old.shape[0] + eps.shape[0]
    follower = follower_of(data)

    def buffer_at(th):
        y = jnp.concatenate([old, th + sigma * eps])
        buffer = empty_buffer(1, D, jnp.float64, count, pairs)
        return buffer_insert(buffer, y, labelled(y, data))

    def phi_star(th):
        b = buffer_at(th)

        def objective(w):
            loss = follower.sample_loss(w, b.y[0], b.label[0])
            return jnp.mean(loss) + 0.5 * wd * w @ w

        return independent_best_response(objective)

    value = jax.jit(lambda th: linear_reward_model(D).reward(phi_star(th), th))
    method = dataclasses.replace(method_from_name("fpo-exact"), params="optimum")
    spec = SampledSpec(dim=D, method=method, reward_model="linear", data=data)
    spec = dataclasses.replace(spec, solver=linalg.Cholesky())
    hp = SampledHParams(weight_decay=wd, beta=1.5, label_noise=0.1)
    models = (linear_reward_model(D), follower)
    current = jnp.asarray([5.0, -3.0, 1.0, 2.0])  # not phi*: params = optimum ignores it

    @jax.jit
    def game_side(theta):
        view = leader_view(spec, hp, U, models, current, buffer_at(theta), theta, jax.random.key(0))

        def leader_objective(th):  # the reward at phi_s and the block's steering, weight 2 omega
            steering = sum(view.penalty(th + sigma * e) for e in eps)
            return models[0].reward(view.phi, th) - 2.0 / count * steering

        converged = view.optimum.converged & view.solution.info.converged
        return view.phi, jax.grad(leader_objective)(theta), converged

    phi, leader, converged = game_side(theta)
    chex.assert_trees_all_close(phi, jax.jit(phi_star)(theta), rtol=1e-10, atol=1e-12)
    assert bool(converged)
    chex.assert_trees_all_close(leader, jax.jit(jax.grad(value))(theta), rtol=1e-9, atol=1e-12)
    h = 1e-5
    central = [(value(theta + h * e) - value(theta - h * e)) / (2 * h) for e in jnp.eye(D)]
    chex.assert_trees_all_close(leader, jnp.stack(central), rtol=1e-6, atol=1e-8)
    assert float(jnp.linalg.norm(leader - phi)) > 1e-3  # the steering term matters here


def test_a_short_pairwise_linear_run_at_the_optimum_is_finite_and_converged():
    spec, hp = build("pairwise-linear", "fpo-exact", params="optimum", steps=10)
    assert spec.method.params == "optimum"
    run = run_seed(spec, hp, 0)  # raises if any value went non-finite
    assert np.all(np.asarray(run.optimum.converged))
    assert np.all(np.asarray(run.optimum.iterations) == NEWTON_STEPS)
    assert np.all(np.asarray(run.solve.converged))


def test_the_linear_model_on_points_takes_one_newton_step():
    method = dataclasses.replace(method_from_name("fpo-exact"), params="optimum")
    spec = SampledSpec(method=method, reward_model="linear", steps=5, dim=4, buffer_size=10)
    run = make_trajectory(spec)(jax.random.key(0), SampledHParams(gamma=0.2))
    assert np.all(np.isfinite(np.asarray(run.theta))) and run.solve.converged is not None
    assert np.all(np.asarray(run.optimum.converged)) and np.all(run.optimum.iterations == 1)


@pytest.mark.parametrize("preset", ["paper-nn", "pairwise-nn"])
def test_the_mlp_refuses_the_optimum_naming_the_field(preset):
    spec, hp = build(preset, "fpo-exact", params="optimum")
    with pytest.raises(ConfigError, match=r"^params must be current with reward_model = mlp: a "):
        validate(spec, hp)


def test_the_optimum_needs_a_positive_weight_decay():
    spec, hp = build("pairwise-linear", "fpo-exact", params="optimum")
    with pytest.raises(ConfigError, match=r"^weight_decay must be > 0 with params = optimum"):
        validate(spec, hp._replace(weight_decay=0.0))
    spec, hp = build("pairwise-linear", "fpo-exact")  # params = current: wd = 0 is allowed
    validate(spec, hp._replace(weight_decay=0.0))


def test_toysim_run_counts_and_warns_of_unconverged_best_responses():
    from toysim.cli.run import format_table, unconverged_solves
    from toysim.game.records import Trajectory
    from toysim.linalg import SolveInfo

    zeros = np.zeros(4)
    optimum = SolveInfo(zeros, zeros, zeros, np.asarray([True, False, False, True]))
    record = Trajectory(theta=None, optimum=optimum)
    assert unconverged_solves(record, "optimum") == 2
    assert unconverged_solves(record) is None  # no curvature solves recorded
    numbers = ["final_signal", "final_noise", "final_utility", "max_utility"]
    numbers += ["final_expected_utility", "final_proxy_reward"]
    row = dict(preset="pairwise-linear", seed=0, steps=4, method="fpo-exact", gamma=0.2)
    row.update(unconverged_optima=2, differences={}, **dict.fromkeys(numbers))
    assert "warning: fpo-exact: 2 of 4 best responses did not converge" in format_table([row])
