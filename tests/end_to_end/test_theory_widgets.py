"""The widgets of the theory pages (docs/assets/widgets.js, round.js) against toysim.

Each widget is driven in headless Chromium on the built site: a slider value is typed in,
the widget's live number or curve is read back and compared with the same quantity from
toysim's own code in float64 (the follower's curvature and Cholesky solve, its optax step,
the steering penalty, ``toysim.simulate``), to ``RTOL`` of its scale. The step-through's
picture rests on the game staying in the plane of ``m`` and ``w_0``; that is checked on
toysim's runs without a browser.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import enter, open_page, severe_console_messages
from toysim import build, linalg, simulate
from toysim.explorer.page_data import PAGE_METHODS, PAGE_PRESET, SEED
from toysim.game.followers import make_follower
from toysim.game.leader import steering_penalty
from toysim.game.linear_round import utility_of
from toysim.game.policy import PointPolicy
from toysim.model.utility import utility

RTOL = 1e-9


def plane(w0: np.ndarray, ideal: np.ndarray) -> np.ndarray:
    """``[m_hat, n_hat]``: the orthonormal basis of span(m, w_0) by Gram-Schmidt, ``[2, d]``."""
    m_hat = ideal / np.linalg.norm(ideal)
    rest = w0 - (w0 @ m_hat) * m_hat
    return np.stack([m_hat, rest / np.linalg.norm(rest)])


@pytest.mark.parametrize("method", PAGE_METHODS)
def test_every_method_keeps_the_game_in_the_plane_of_m_and_w0(page_data, method):
    spec, hp = build(PAGE_PRESET, method)
    t = simulate(spec, hp, seed=SEED)
    basis = plane(np.asarray(page_data["w0"]), np.asarray(utility_of(spec, hp).ideal))
    for name in ("theta", "w"):
        x = np.asarray(getattr(t, name))
        outside = x - (x @ basis.T) @ basis
        assert np.max(np.abs(outside)) <= 1e-13 * np.max(np.abs(x)), name


def xi_by_toysim(norm: float, lam: float) -> float:
    """``2 omega theta^T H^-1 theta`` at ``theta = norm m_hat``: the follower's own data and
    curvature at ``theta``, solved by toysim's Cholesky route."""
    spec, hp = build(PAGE_PRESET, "fpo-exact")
    hp = hp._replace(lam=lam)
    u = utility_of(spec, hp)
    theta = norm * u.ideal / jnp.linalg.norm(u.ideal)
    follower = make_follower(spec)
    data = follower.data(follower.init(jnp.zeros(spec.dim), hp), theta, hp, u)
    solve = linalg.linear_map(linalg.inverse(data.curvature(jnp.asarray(lam)), linalg.Cholesky()))
    return float(2 * spec.new_sample_weight * theta @ solve(theta))


@pytest.mark.slow
def test_xi_is_the_exact_steering_share_toysim_computes(site, browser):
    open_page(browser, f"{site}/theory/stackelberg-gradient/", "toysim-xi")
    root = browser.find_element("id", "toysim-xi")
    np.testing.assert_allclose(float(root.get_attribute("data-xi")), 0.107, atol=5e-4)  # "0.11"
    for norm, lam in [(3.46, 200.0), (1.0, 200.0), (6.5, 20.0), (0.3, 1.0), (2.0, 1000.0)]:
        enter(browser, "tx-xi-norm-box", norm)
        enter(browser, "tx-xi-lam-box", lam)
        expected = xi_by_toysim(norm, lam)
        np.testing.assert_allclose(float(root.get_attribute("data-xi")), expected, rtol=RTOL)
        first = 2 * norm**2 / lam  # omega = 1
        np.testing.assert_allclose(float(root.get_attribute("data-first-order")), first, rtol=1e-15)
    assert not severe_console_messages(browser)


@pytest.mark.slow
def test_the_lookahead_curve_is_toysims_follower_step_and_relaxed_penalty(site, browser, page_data):
    open_page(browser, f"{site}/theory/stackelberg-gradient/", "toysim-lookahead")
    spec, hp = build(PAGE_PRESET, "fpo-relaxed")
    hp = hp._replace(weight_decay=0.0)  # the page's one-step follower
    u = utility_of(spec, hp)
    m_hat = u.ideal / jnp.linalg.norm(u.ideal)
    w0 = jnp.asarray(page_data["w0"])
    follower = make_follower(spec)
    state = follower.init(w0, hp)
    identity = linalg.linear_map(linalg.identity_solution)
    root = browser.find_element("id", "toysim-lookahead")
    for gamma in (0.1, 0.01, 0.037):
        enter(browser, "tx-lookahead-gamma-box", gamma)
        curve = np.asarray(browser.execute_script("return arguments[0].toysimCurve;", root))
        expected = []
        for s in curve[::8, 0]:
            y = s * m_hat
            lookahead = follower.update(state, y, hp, u).w @ y
            penalty = steering_penalty(PointPolicy(), w0, y, y, u, identity, "local", True)
            expected.append([s, lookahead, w0 @ y - gamma * penalty])
        scale = np.max(np.abs(expected))
        np.testing.assert_allclose(curve[::8], expected, rtol=0, atol=RTOL * scale)
        gap = float(root.get_attribute("data-gap"))
        assert (gap <= 1e-12 * scale) == (gamma == 2 * hp.follower_lr), (gamma, gap)


@pytest.mark.slow
def test_practical_fpo_is_rlhf_with_the_leash_raised_by_gamma(site, browser):
    open_page(browser, f"{site}/theory/relaxations/", "toysim-leash")
    root = browser.find_element("id", "toysim-leash")
    for gamma in (0.1, 0.0, 0.035, 0.4):
        enter(browser, "tx-leash-gamma-box", gamma)
        spec, hp = build(PAGE_PRESET, "fpo-practical", gamma=gamma)
        practical = simulate(spec, hp, seed=SEED).utility[-1]
        spec, hp = build(PAGE_PRESET, "rlhf")
        leashed = simulate(spec, hp._replace(action_cost=hp.action_cost + gamma), seed=SEED)
        for name, value in (("practical-final", practical), ("rlhf-final", leashed.utility[-1])):
            np.testing.assert_allclose(float(root.get_attribute(f"data-{name}")), value, rtol=RTOL)
        assert float(root.get_attribute("data-gap")) <= 1e-13


def round_state(driver) -> dict:
    state = driver.execute_script("return document.getElementById('toysim-round').toysimState;")
    return {k: np.asarray(v) for k, v in state.items()}


def click(driver, name: str) -> None:
    driver.find_element("id", f"tx-round-{name}").click()


@pytest.mark.slow
@pytest.mark.parametrize("method", PAGE_METHODS)
def test_the_round_steps_are_toysims_moves_and_the_curve_is_where_the_rm_is_right(
    site, browser, page_data, method
):
    open_page(browser, f"{site}/theory/game/", "toysim-round")
    browser.execute_script(
        "const s = document.getElementById('tx-round-method'); s.value = arguments[0];"
        "s.dispatchEvent(new Event('change'));",
        method,
    )
    spec, hp = build(PAGE_PRESET, method)
    t = simulate(spec, hp, seed=SEED)
    theta, w = np.asarray(t.theta), np.asarray(t.w)
    u = utility_of(spec, hp)
    w0 = np.asarray(page_data["w0"])
    basis = plane(w0, np.asarray(u.ideal))

    def check(expected_theta, expected_w, next_move):
        state = round_state(browser)
        root = browser.find_element("id", "toysim-round")
        assert root.get_attribute("data-next") == next_move
        np.testing.assert_allclose(state["theta"], expected_theta, rtol=0, atol=RTOL)
        np.testing.assert_allclose(state["w"], expected_w, rtol=0, atol=RTOL)
        vertices = state["segments"].reshape(-1, 2)
        assert len(vertices) > 10
        ys = jnp.asarray(vertices @ basis)
        error = ys @ jnp.asarray(state["w"]) - utility(u, ys)  # w . y - U(y) on the curve
        assert np.max(np.abs(error)) <= RTOL * hp.amplitude

    check(np.zeros(spec.dim), w0, "leader")
    click(browser, "leader")  # the leader moves; the follower has not answered
    check(theta[0], w0, "follower")
    click(browser, "follower")
    check(theta[0], w[0], "leader")
    click(browser, "ten")
    check(theta[10], w[10], "leader")
    click(browser, "leader")
    click(browser, "round")  # finishes the round under way
    check(theta[11], w[11], "leader")
    assert browser.find_element("id", "toysim-round").get_attribute("data-round") == "12"
    click(browser, "reset")
    check(np.zeros(spec.dim), w0, "leader")
    assert not severe_console_messages(browser)
