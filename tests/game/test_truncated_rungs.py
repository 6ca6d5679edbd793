"""The truncated rungs of the curvature ladder in the games (docs/theory/exact-fpo.md):

* ``unrolled`` against central differences of the ``K``-step lookahead through the
  follower's actual update, and, for one SGD step, against relaxed FPO with ``gamma = 2 eta``
  (the exact one-step lookahead, ``test_relaxations.py``);
* ``neumann`` against the exact rung as ``K`` grows;
* both refused where they have no meaning, and run in the loop of either game (float64)."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import EXACT, central_difference, point_game
from toysim import ConfigError, build, linalg, simulate, validate
from toysim.config import METHODS, Method
from toysim.game.followers import (
    adam_l2_optimizer,
    best_response,
    buffer_insert,
    make_follower,
)
from toysim.game.leader import leader_gradient
from toysim.game.sampled import initial_reward_params, policy_block, sampled_buffer
from toysim.game.sampled_round import network_model, neural_utility
from toysim.game.unrolled import unrolled_steering
from toysim.model.interface import pairwise
from toysim.model.reward import linear_reward


def unrolled(k: int, params: str = "current") -> Method:
    return Method("fpo", hessian="unrolled", params=params, rung_steps=k)


@pytest.mark.parametrize("k, params", [(1, "current"), (4, "current"), (3, "optimum")])
def test_unrolled_gradient_is_the_central_difference_of_the_k_step_lookahead(k, params, rng):
    """``gamma = 2 omega``: ``grad F = d/dtheta [r_{w_K(theta)}(theta) - c ||theta||^2]``,
    ``w_K`` the ``sgd`` follower's own update with ``K`` steps (a buffer of three, weight
    decay on) from ``w_t``, or from ``phi*`` at the current ``theta`` with ``params =
    optimum``, differenced centrally."""
    method = unrolled(k, params)
    spec, follower, state, theta, hp, u, _, policy = point_game(
        rng, 5, 3, 2, "ridge", method=method, follower="sgd"
    )
    hp = hp._replace(weight_decay=jnp.asarray(0.01), gamma=jnp.asarray(2 / 3))  # omega = 1/3
    start = state
    if params == "optimum":  # phi* of the data at the current theta, held fixed
        data = follower.data(state, theta, hp, u)
        solve = linalg.linear_map(linalg.inverse(data.curvature(hp.lam), linalg.Cholesky()))
        start = state._replace(w=best_response(data, None, hp.lam, solve, state.w))
    k_steps = make_follower(dataclasses.replace(spec, follower_steps=k))

    def lookahead(th):
        w_k = k_steps.update(start, th, hp, u).w
        return linear_reward(w_k, th) - hp.action_cost * th @ th

    grad = leader_gradient(method, policy, follower, state, theta, hp, u).total
    chex.assert_trees_all_close(grad, central_difference(lookahead, theta), rtol=1e-7, atol=1e-9)


def test_one_unrolled_sgd_step_is_relaxed_fpo_at_gamma_two_eta(rng):
    """One SGD step on the newest output, no weight decay: the unrolled rung at ``gamma =
    2 omega = 2`` and relaxed FPO at ``gamma = 2 eta`` both climb the one-step lookahead."""
    eta = 0.01
    spec, follower, state, theta, hp, u, _, policy = point_game(
        rng, 6, 1, 0, "proximal", method=unrolled(1), follower="sgd"
    )
    hp = hp._replace(follower_lr=jnp.asarray(eta), weight_decay=jnp.asarray(0.0))
    rung = leader_gradient(unrolled(1), policy, follower, state, theta, hp._replace(gamma=2.0), u)
    relaxed = METHODS["fpo-relaxed"]
    lookahead = leader_gradient(
        relaxed, policy, follower, state, theta, hp._replace(gamma=2 * eta), u
    )
    chex.assert_trees_all_close(rung.total, lookahead.total, rtol=1e-10, atol=1e-12)


def test_neumann_rung_tends_to_the_exact_steering(rng):
    """``K`` terms of the series for ``H^{-1}`` in the steering term: the distance to the exact
    rung's steering falls with ``K`` and vanishes by ``K = 1000`` (``lambda = 1``: a rate of
    about ``1 - 1/17`` a term)."""
    spec, follower, state, theta, hp, u, _, policy = point_game(rng, 6, 4, 3, "ridge")
    hp = hp._replace(gamma=jnp.asarray(0.5), lam=jnp.asarray(1.0))

    def steering(method):
        return leader_gradient(method, policy, follower, state, theta, hp, u).steering

    exact = steering(EXACT)
    errors = [
        float(jnp.linalg.norm(steering(Method("fpo", hessian="neumann", rung_steps=k)) - exact))
        for k in (1, 10, 100, 1000)
    ]
    assert all(fine < coarse for coarse, fine in zip(errors, errors[1:], strict=False)), errors
    assert errors[-1] < 1e-9 * float(jnp.linalg.norm(exact)), errors


def sampled_state(k: int):
    """pairwise-linear with the unrolled rung of ``K = k``, its follower after two blocks."""
    spec, hp = build("pairwise-linear", "fpo-exact", hessian="unrolled", rung_steps=k, steps=5)
    u = neural_utility(spec, hp)
    model = network_model(spec)
    keys = jax.random.split(jax.random.key(3), 4)
    phi = initial_reward_params(model, hp, keys[0], jnp.float64)
    optimizer = adam_l2_optimizer(hp.follower_lr, hp.weight_decay)
    buffer = sampled_buffer(spec, jnp.float64)
    theta = jnp.full(spec.dim, 0.3)
    for key in keys[1:3]:
        buffer = buffer_insert(buffer, *policy_block(spec, hp, u, theta, hp.sigma_start, key, key))
    opt_state = optimizer.init(phi)
    return spec, hp, u, (model, pairwise(model)), phi, opt_state, buffer, theta


def test_sampled_unrolled_penalty_is_the_central_difference_through_adam_steps():
    """``S_K(y) = -g^T phi_K(y) / (2 omega)``: its autodiff gradient through ``K = 3`` Adam
    steps equals central differences of the same steps, at a pair drawn near ``theta``."""
    spec, hp, u, models, phi, opt_state, buffer, theta = sampled_state(3)
    _, penalty = unrolled_steering(spec, hp, u, models, phi, opt_state, buffer, theta)
    pair = jnp.stack([theta + 0.2, theta - 0.1]).ravel()

    def flat_penalty(x):
        return penalty(x.reshape(2, spec.dim))

    chex.assert_trees_all_close(
        jax.grad(flat_penalty)(pair), central_difference(flat_penalty, pair), rtol=1e-6, atol=1e-9
    )


@pytest.mark.parametrize("preset", ["paper-linear", "pairwise-linear", "pairwise-nn"])
@pytest.mark.parametrize("hessian", ["unrolled", "neumann"])
def test_truncated_rungs_run_in_the_loop(preset, hessian):
    spec, hp = build(preset, "fpo-exact", hessian=hessian, rung_steps=3, steps=12)
    validate(spec, hp)
    run = simulate(spec, hp, seed=0)
    assert np.all(np.isfinite(np.asarray(run.utility)))
    assert np.all(np.isfinite(np.asarray(run.theta)))


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(follower="best-response"), r"follower must be sgd with hessian = unrolled"),
        (
            dict(method=Method("fpo", hessian="unrolled", influence="local")),
            "influence must be global",
        ),
        (dict(method=Method("fpo", hessian="unrolled", oracle="none")), "oracle"),
        (
            dict(method=Method("fpo", hessian="neumann", rung_steps=0)),
            "rung_steps must be an integer >= 1",
        ),
    ],
)
def test_truncated_rungs_are_refused_where_they_mean_nothing(change, message):
    spec, hp = build("paper-linear", "fpo-exact", hessian="unrolled", steps=5)
    with pytest.raises(ConfigError, match=message):
        validate(dataclasses.replace(spec, **change), hp)


def test_the_sampled_game_refuses_another_solver_for_the_truncated_rungs():
    spec, hp = build("pairwise-linear", "fpo-exact", hessian="neumann", steps=5)
    validate(dataclasses.replace(spec, solver=linalg.Neumann(terms=4)), hp)
    with pytest.raises(
        ConfigError, match="solver must be None or a Neumann with hessian = neumann"
    ):
        validate(dataclasses.replace(spec, solver=linalg.CG()), hp)
