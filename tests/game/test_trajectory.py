"""Trajectories: reproducibility, vmapped sweeps, one trace per sweep, non-finite reports."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toysim import NonFiniteTrajectoryError, build, make_trajectory, simulate
from toysim.game.records import first_nonfinite_iteration
from toysim.linalg import SolveInfo

METHODS = ["rlhf", "fpo-exact", "fpo-relaxed", "fpo-practical"]


@pytest.mark.parametrize("preset", ["paper-linear", "population"])
@pytest.mark.parametrize("method", METHODS)
def test_same_seed_gives_bit_identical_trajectories(preset, method):
    spec, hp = build(preset, method, steps=40)
    first = simulate(spec, hp, seed=3)
    again = simulate(spec, hp, seed=3)
    jax.tree.map(np.testing.assert_array_equal, first, again)
    other = simulate(spec, hp, seed=4)
    assert not np.array_equal(first.w, other.w)


def test_record_shapes_and_scalars_mode_agree():
    spec, hp = build("paper-linear", "fpo-relaxed", steps=25)
    full = simulate(spec, hp, seed=1)
    chex.assert_shape([full.theta, full.w], (25, spec.dim))
    chex.assert_shape([full.signal, full.utility, full.steering_norm], (25,))
    scalars = simulate(dataclasses.replace(spec, record="scalars"), hp, seed=1)
    assert scalars.theta is None and scalars.w is None
    chex.assert_trees_all_close(full._replace(theta=None, w=None), scalars, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["fpo-exact", "fpo-relaxed"])
def test_vmapped_sweep_equals_a_python_loop_and_traces_once(method):
    """A sweep over seeds and over gamma, c, and the step sizes compiles once."""
    spec, hp = build("paper-linear", method, steps=30)
    run = make_trajectory(spec)
    chex.clear_trace_counter()
    traced = chex.assert_max_traces(run, n=1)
    sweep = jax.jit(jax.vmap(traced))
    n = 5
    keys = jax.random.split(jax.random.key(0), n)
    values = hp._replace(
        gamma=jnp.linspace(0.0, 0.3, n),
        action_cost=jnp.linspace(0.05, 0.2, n),
        leader_lr=jnp.linspace(0.01, 0.03, n),
        follower_lr=jnp.linspace(0.002, 0.008, n),
    )
    values = type(hp)(*(jnp.broadcast_to(jnp.asarray(x, jnp.float64), (n,)) for x in values))
    batched = sweep(keys, values)
    batched_again = sweep(keys, values._replace(gamma=values.gamma * 2))
    assert not np.allclose(batched.noise, batched_again.noise)
    single = jax.jit(run)
    for i in range(n):
        one = single(keys[i], take(values, i))
        chex.assert_trees_all_close(one, take(batched, i), rtol=1e-10)


def take(tree, i):
    """Element ``i`` of every leaf's leading axis."""
    return jax.tree.map(lambda x: x[i], tree)


def test_nonfinite_trajectory_is_reported_with_its_first_iteration():
    spec, hp = build("paper-linear", "rlhf", steps=200)
    with pytest.raises(NonFiniteTrajectoryError, match=r"non-finite at iteration \d+ of 200"):
        simulate(spec, hp._replace(leader_lr=5.0, follower_lr=5.0), seed=0)


def test_first_nonfinite_iteration_finds_the_first_bad_step():
    spec, hp = build("paper-linear", "rlhf", steps=10)
    trajectory = simulate(spec, hp, seed=0)
    assert int(first_nonfinite_iteration(trajectory)) == 0
    broken = trajectory._replace(noise=trajectory.noise.at[6].set(jnp.nan))
    assert int(first_nonfinite_iteration(broken)) == 7
    broken = trajectory._replace(w=trajectory.w.at[3, 5].set(jnp.inf))
    assert int(first_nonfinite_iteration(broken)) == 4


def test_a_nested_solve_record_is_checked_too():
    """A curvature solve's residual that went NaN at iteration 5 is a non-finite run, as a
    top-level field would be; its integer and boolean fields are always finite."""
    spec, hp = build("paper-linear", "rlhf", steps=10)
    trajectory = simulate(spec, hp, seed=0)
    steps = jnp.arange(10)
    residual = jnp.zeros(10).at[4].set(jnp.nan)
    solve = SolveInfo(steps, residual, jnp.zeros(10), steps >= 0)
    assert int(first_nonfinite_iteration(trajectory._replace(solve=solve))) == 5
    assert (
        int(
            first_nonfinite_iteration(
                trajectory._replace(solve=solve._replace(residual=jnp.zeros(10)))
            )
        )
        == 0
    )
