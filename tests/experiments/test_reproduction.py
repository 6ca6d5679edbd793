"""``paper-linear`` reproduces the published linear toy (docs/results/reproduction.md).

Final values depend on the seed through the RM's random initial weights, so
claims are checked on the median over 16 seeds (one ``jit(vmap)`` per method).
"""

import jax
import numpy as np
import pytest

from toysim import build, make_trajectory
from toysim.game.linear_round import initial_reward_weights
from toysim.reference_numpy import run_published
from toysim.reproduce import PUBLISHED, final_medians, numpy_medians

SEEDS = 16


@pytest.fixture(scope="module")
def finals():
    names = ("signal", "noise", "utility")
    return {
        m: dict(zip(names, final_medians(m, SEEDS), strict=True))
        for m in ("rlhf", "fpo-relaxed", "fpo-practical")
    }


def test_rlhf_collapses_as_published(finals):
    assert finals["rlhf"]["noise"] == pytest.approx(1.65, rel=0.05)
    assert finals["rlhf"]["utility"] == pytest.approx(3.91, rel=0.05)


def test_practical_fpo_only_half_helps(finals):
    assert finals["fpo-practical"]["utility"] == pytest.approx(5.54, rel=0.05)


def test_relaxed_fpo_holds_the_signal_corridor(finals):
    assert finals["fpo-relaxed"]["utility"] >= 9.5
    assert finals["fpo-relaxed"]["noise"] <= 0.2


@pytest.mark.parametrize("method, penalty", [("rlhf", "none"), ("fpo-relaxed", "relaxed")])
def test_preset_is_the_published_game_with_exact_gradients(method, penalty):
    """Shrinking the published finite-difference step recovers toysim's exact trajectory."""
    spec, hp = build("paper-linear", method, steps=100)
    key = jax.random.key(5)
    trajectory = jax.jit(make_trajectory(spec))(key, hp)
    w0 = np.asarray(initial_reward_weights(key, spec, hp))
    published = run_published(penalty, 0, steps=100, fd_step=1e-7, initial_w=w0)
    np.testing.assert_allclose(trajectory.theta, published.y, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("method", ["rlhf", "fpo-relaxed", "fpo-practical"])
def test_numpy_reference_reproduces_the_published_code(method):
    """The benchmark's baseline gives the published code's numbers (median of 8 seeds, 5%)."""
    published_fd, _ = PUBLISHED[method]
    assert numpy_medians(method, 8) == pytest.approx(published_fd, rel=0.05)
