"""Each relaxation equals the exact term where its assumption holds (docs/theory/relaxations.md)."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import EXACT, point_game, population_game
from toysim import linalg
from toysim.analysis import ladder_gamma, steering_comparison, summarise
from toysim.config import METHODS, ConfigError, LinearSpec, Method
from toysim.game.followers import FollowerState, best_response, follower_loss, make_follower
from toysim.game.leader import leader_gradient, steering_penalty
from toysim.model.reward import linear_reward
from toysim.presets import build

OPTIMUM_MIXES = [
    Method("fpo", hessian=h, influence=i, params="optimum", oracle=o)
    for h in ("exact", "identity")
    for i in ("global", "local")
    for o in ("true", "none")
]
"""Every switch combination with ``params = optimum`` (the other half is what it is compared to)."""


@pytest.mark.slow  # over 12 s; runs in CI's slow step
@given(seed=st.integers(0, 2**31), d=st.integers(2, 10), oracle=st.booleans())
def test_global_and_local_influence_coincide_in_value_for_a_point_policy(seed, d, oracle):
    """At ``sigma = 0``, ``g_bar = E_pi[grad r] = grad r(theta)``: same value of ``S``.

    Their derivatives differ (local also differentiates ``grad_phi r(y)``); the
    second assertion checks that the documented difference is real.
    """
    rng = np.random.default_rng(seed)
    _, follower, state, theta, hp, u, _, policy = point_game(rng, d, 2, 1, "ridge")
    h = follower.data(state, theta, hp, u).curvature(hp.lam)
    solve = linalg.linear_map(linalg.inverse(h, linalg.Cholesky()))

    def penalty(th, influence):
        return steering_penalty(policy, state.w, th, theta, u, solve, influence, oracle)

    chex.assert_trees_all_close(penalty(theta, "global"), penalty(theta, "local"), rtol=1e-12)
    grad_global = jax.grad(penalty)(theta, "global")
    grad_local = jax.grad(penalty)(theta, "local")
    assert not np.allclose(grad_global, grad_local, rtol=1e-6)


@pytest.mark.parametrize(
    "method", OPTIMUM_MIXES, ids=lambda m: f"{m.hessian}-{m.influence}-{m.oracle}"
)
@pytest.mark.parametrize("population", [False, True])
def test_params_switch_changes_nothing_at_the_optimum(method, population, rng):
    """With ``phi_t = phi*``, ``params = optimum`` and ``params = current`` agree."""
    current = Method(
        "fpo", method.foresight, method.hessian, method.influence, "current", method.oracle
    )
    if population:
        _, follower, state, theta, hp, u, policy = population_game(rng, 6, "ridge")
    else:
        _, follower, state, theta, hp, u, _, policy = point_game(rng, 6, 3, 2, "ridge")
    hp = hp._replace(gamma=jnp.asarray(0.7))
    data = follower.data(state, theta, hp, u)
    solve = linalg.linear_map(linalg.inverse(data.curvature(hp.lam), linalg.Cholesky()))
    w_star = best_response(data, follower.anchor(state), hp.lam, solve, state.w)
    at_optimum = state._replace(w=w_star)
    g_opt = leader_gradient(method, policy, follower, at_optimum, theta, hp, u)
    g_cur = leader_gradient(current, policy, follower, at_optimum, theta, hp, u)
    chex.assert_trees_all_close(g_opt, g_cur, rtol=1e-10, atol=1e-12)
    g_far = leader_gradient(method, policy, follower, state, theta, hp, u)
    g_far_cur = leader_gradient(current, policy, follower, state, theta, hp, u)
    assert not np.allclose(g_far.total, g_far_cur.total)


@pytest.mark.slow  # over 12 s; runs in CI's slow step
@given(seed=st.integers(0, 2**31), d=st.integers(2, 20), eta=st.floats(1e-3, 5e-2))
def test_relaxed_fpo_with_gamma_two_eta_is_the_exact_one_step_lookahead(seed, d, eta):
    """``r_{w+(y)}(y) = w.y - 2 eta (w.y - U(y)) ||y||^2``: relaxed FPO, ``gamma = 2 eta``.

    ``w+(y)`` is the published follower's actual optax step (no weight decay),
    differentiated through; the leader gradient is relaxed FPO's.
    """
    rng = np.random.default_rng(seed)
    spec, follower, state, theta, hp, u, _, policy = point_game(
        rng, d, 1, 0, "proximal", method=METHODS["fpo-relaxed"], follower="sgd"
    )
    hp = hp._replace(follower_lr=jnp.asarray(eta), weight_decay=jnp.asarray(0.0))

    def lookahead(y):
        w_next = follower.update(state, y, hp, u).w
        return linear_reward(w_next, y) - hp.action_cost * y @ y

    relaxed = leader_gradient(
        METHODS["fpo-relaxed"], policy, follower, state, theta, hp._replace(gamma=2 * eta), u
    )
    chex.assert_trees_all_close(relaxed.total, jax.grad(lookahead)(theta), rtol=1e-10, atol=1e-12)


def test_identity_relaxation_is_exact_to_first_order_for_a_one_step_follower(rng):
    """For ``L = l(w; y) + (1/(2 eta))||w - w_t||^2``, ``H = I/eta + 2 y y^T``.

    So ``H^{-1} = eta I + O(eta^2)``: the exact steering term with ``gamma = 2``
    and the identity-Hessian one with ``gamma = 2 eta`` differ by a relative
    ``O(eta)``. Checked by the error shrinking tenfold when ``eta`` does.
    """
    identity_global = Method("fpo", hessian="identity", influence="global", params="current")
    exact_current = Method("fpo", hessian="exact", influence="global", params="current")
    errors = []
    for eta in (1e-2, 1e-3, 1e-4):
        _, follower, state, theta, hp, u, _, policy = point_game(
            np.random.default_rng(7), 8, 1, 0, "proximal"
        )
        hp = hp._replace(lam=jnp.asarray(1 / eta))
        exact = leader_gradient(
            exact_current, policy, follower, state, theta, hp._replace(gamma=2.0), u
        )
        relaxed = leader_gradient(
            identity_global, policy, follower, state, theta, hp._replace(gamma=2 * eta), u
        )
        errors.append(
            float(
                jnp.linalg.norm(exact.steering - relaxed.steering) / jnp.linalg.norm(exact.steering)
            )
        )
    assert errors[0] < 0.5
    for coarse, fine in zip(errors, errors[1:], strict=False):
        assert fine < coarse / 5, errors


def test_ladder_gamma_gives_gauss_newton_the_exact_weight_and_refuses_what_has_none(rng):
    """``gauss-newton`` is the linear model's Hessian, so its weight and its steering are the
    exact rung's; ``identity``'s weight is divided by ``lambda``; damped and diagonal have none."""
    spec, follower, state, theta, hp, u, _, policy = point_game(rng, 6, 3, 2, "ridge")
    gauss_newton = Method("fpo", hessian="gauss-newton")
    exact = ladder_gamma(spec, hp, EXACT)
    assert exact == 2.0 * spec.new_sample_weight == ladder_gamma(spec, hp, gauss_newton)
    identity = ladder_gamma(spec, hp, Method("fpo", hessian="identity"))
    assert identity == pytest.approx(exact / float(hp.lam), rel=1e-12)

    def steering(method):
        weighted = hp._replace(gamma=jnp.asarray(ladder_gamma(spec, hp, method)))
        return leader_gradient(method, policy, follower, state, theta, weighted, u).steering

    chex.assert_trees_all_close(steering(gauss_newton), steering(EXACT), rtol=1e-9, atol=1e-12)
    for hessian in ("damped", "diagonal"):
        with pytest.raises(ConfigError, match=f"hessian must be .* got '{hessian}'"):
            ladder_gamma(spec, hp, Method("fpo", hessian=hessian))


@pytest.mark.parametrize("buffer_size", [1, 4])
def test_k_step_sgd_response_tends_to_the_hessian_inverse_response(buffer_size, rng):
    """``K`` SGD steps from ``phi*`` respond with ``-H^{-1} (I - (I - eta H)^K) d/dtheta grad L``.

    The follower's real ``sgd`` update (decoupled decay ``wd`` = ridge ``lambda = wd/eta``),
    differentiated through its ``K`` unrolled optax steps, against the formula of
    docs/theory/relaxations.md, and its convergence to the implicit-function response
    ``dphi*/dtheta = -H^{-1} d/dtheta grad L`` as ``K`` grows.
    """
    d = 6
    base = point_game(rng, d, buffer_size, buffer_size - 1, "ridge", follower="sgd")
    _, _, state, theta, hp, u, _, _ = base
    eta = 0.02
    hp = hp._replace(follower_lr=jnp.asarray(eta), lam=jnp.asarray(2.0))
    hp = hp._replace(weight_decay=eta * hp.lam)

    def responses(k):
        """The unrolled response, the section 4 formula, the implicit response."""
        follower = make_follower(LinearSpec(d, 3, 1, "sgd", buffer_size, k, "ridge", EXACT))
        data = follower.data(state, theta, hp, u)
        h = data.curvature(hp.lam)
        hd = h.dense()
        assert eta * float(jnp.linalg.eigvalsh(hd).max()) < 2
        solve = linalg.linear_map(linalg.inverse(h, linalg.Cholesky()))
        w_star = best_response(data, jnp.zeros(d), hp.lam, solve, state.w)
        at_optimum = FollowerState(w_star, state.buffer, state.opt_state)
        response = jax.jacfwd(lambda th: follower.update(at_optimum, th, hp, u).w)(theta)
        cross = jax.jacfwd(
            lambda th: jax.grad(follower_loss)(
                w_star, follower.data(state, th, hp, u), jnp.zeros(d), hp.lam
            )
        )(theta)
        contraction = jnp.linalg.matrix_power(jnp.eye(d) - eta * hd, k)
        formula = -jnp.linalg.solve(hd, (jnp.eye(d) - contraction) @ cross)
        return response, formula, -jnp.linalg.solve(hd, cross)

    errors = []
    for k in (1, 4, 16, 64, 256):
        response, formula, implicit = responses(k)
        chex.assert_trees_all_close(response, formula, rtol=1e-8, atol=1e-10)
        errors.append(float(jnp.linalg.norm(response - implicit) / jnp.linalg.norm(implicit)))
    assert all(fine < coarse for coarse, fine in zip(errors, errors[1:], strict=False)), errors
    assert errors[-1] < 1e-3, errors


@pytest.mark.parametrize("gamma", [0.05, 0.1, 0.3])
def test_practical_fpo_is_a_tighter_leash_for_the_linear_rm(gamma):
    """``grad_w r = y``, so the practical penalty is ``gamma ||y||^2``: RLHF with ``c + gamma``."""
    from toysim import build, simulate

    spec, hp = build("paper-linear", "fpo-practical", gamma=gamma, steps=120)
    practical = simulate(spec, hp, seed=2)
    spec, hp = build("paper-linear", "rlhf", steps=120)
    leashed = simulate(spec, hp._replace(action_cost=hp.action_cost + gamma), seed=2)
    chex.assert_trees_all_close(practical.theta, leashed.theta, rtol=1e-12, atol=1e-12)


def test_ladder_gamma_of_a_buffer_game_by_hand():
    """A buffer follower weighs its newest sample by ``omega = 1/B``: with ``B = 5``, the exact
    rung's weight is ``2/5 = 0.4`` and the identity rung's ``0.4 / lambda = 0.4 / 0.05 = 8``."""
    spec, hp = build("paper-linear", "fpo-exact")
    spec = dataclasses.replace(spec, buffer_size=5)
    hp = hp._replace(lam=0.05)
    assert ladder_gamma(spec, hp, EXACT) == pytest.approx(0.4, rel=1e-15)
    assert ladder_gamma(spec, hp, Method("fpo", hessian="identity")) == pytest.approx(
        8.0, rel=1e-14
    )


def test_steering_comparison_and_summary_by_hand():
    """Exact direction (3, 4) with weight 1, a rung's (0, 2) with weight 5: cosine
    ``8 / (5 * 2) = 0.8`` and norm ratio ``5 * 2 / (1 * 5) = 2``; a zero first direction gives a
    NaN ratio and cosine 0. The summary of 1..5 is median 3, quartiles 2 and 4."""
    directions = jnp.asarray([[[3.0, 4.0], [0.0, 2.0]], [[0.0, 0.0], [1.0, 0.0]]])
    cosines, ratios = steering_comparison(directions, jnp.asarray([1.0, 5.0]))
    np.testing.assert_allclose(cosines, [[1.0, 0.8], [0.0, 0.0]], rtol=1e-15)
    np.testing.assert_allclose(ratios[0], [1.0, 2.0], rtol=1e-15)
    assert np.all(np.isnan(np.asarray(ratios[1])))
    assert summarise(np.array([5.0, 1.0, 4.0, 2.0, 3.0])) == dict(median=3.0, q25=2.0, q75=4.0)
