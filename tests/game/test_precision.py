"""One seed, one game, in either precision: float32 and float64 differ only by rounding.

Every Gaussian is drawn in float32 and cast (``toysim.model.sampling``), so a
seed gives the same initial reward model in both precisions up to the
rounding of ``s + noise * eps`` (one float32 ulp, relative ``2^-23``), and
the trajectories then differ only by accumulated rounding.

Tolerance: the leader and follower updates do not expand errors on these
runs (the leader climbs a concave bump, the follower contracts), so the
rounding error of a float32 run grows at most about linearly in the horizon:
``T * u * max|state| = 300 * 6e-8 * 5 = 9e-5`` for ``T = 300`` iterations,
float32's unit roundoff ``u = 2^-24`` and states of size up to 5. We assert
``atol = 1e-4``; on seeds 0-15 the measured gap is about 2e-6.
"""

import jax
import numpy as np
import pytest

from toysim import build, make_trajectory
from toysim.game.linear_round import initial_reward_weights
from toysim.model.mlp import mlp_init

SEEDS = np.arange(8)
ULP = 2.0**-23  # one float32 ulp, relative: the rounding of one product and one sum


def batched_run(spec, hp):
    keys = jax.vmap(jax.random.key)(SEEDS)
    return jax.jit(jax.vmap(make_trajectory(spec), in_axes=(0, None)))(keys, hp)


def test_a_seed_draws_the_same_initial_reward_model_in_both_precisions():
    spec, hp = build("paper-linear", "rlhf")
    w64 = initial_reward_weights(jax.random.key(3), spec, hp)
    with jax.enable_x64(False):
        w32 = initial_reward_weights(jax.random.key(3), spec, hp)
    assert w64.dtype == np.float64 and w32.dtype == np.float32
    np.testing.assert_allclose(np.asarray(w32, np.float64), w64, rtol=ULP, atol=0)


def test_a_seed_draws_the_same_network_in_both_precisions():
    p64 = mlp_init(jax.random.key(3), (10, 32, 32, 1))
    with jax.enable_x64(False):
        p32 = mlp_init(jax.random.key(3), (10, 32, 32, 1))
    for a, b in zip(jax.tree.leaves(p64), jax.tree.leaves(p32), strict=True):
        np.testing.assert_allclose(np.asarray(b, np.float64), a, rtol=ULP, atol=0)


@pytest.mark.parametrize("method", ["rlhf", "fpo-relaxed"])
def test_float32_and_float64_runs_end_at_the_same_point(method):
    spec, hp = build("paper-linear", method)
    t64 = batched_run(spec, hp)
    with jax.enable_x64(False):
        t32 = batched_run(spec, hp)
    assert t32.theta.dtype == np.float32
    for field in ("theta", "w", "signal", "noise", "utility"):
        end64 = np.asarray(getattr(t64, field))[:, -1]
        end32 = np.asarray(getattr(t32, field))[:, -1].astype(np.float64)
        np.testing.assert_allclose(end32, end64, rtol=0, atol=1e-4, err_msg=field)
