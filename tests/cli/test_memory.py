"""The memory estimate before compiling, against the measured size of what a run returns."""

import dataclasses

import numpy as np

from toysim import build, make_trajectory
from toysim.experiments.runner import run_seed, run_seeds
from toysim.memory import (
    BUFFER_COPIES,
    RUNTIME_BYTES,
    buffer_bytes,
    run_bytes,
    sweep_bytes,
    trajectory_bytes,
    tree_bytes,
)
from toysim.presets import compose
from toysim.sweep import sweep


def test_a_runs_estimate_counts_exactly_what_its_trajectories_hold():
    for preset, method in [("paper-linear", "fpo-exact"), ("population", "rlhf")]:
        spec, hp = build(preset, method, steps=7)
        measured = tree_bytes(run_seeds(spec, hp, 3))
        assert trajectory_bytes(make_trajectory, spec, hp) * 3 == measured
        buffers = 3 * BUFFER_COPIES * buffer_bytes(spec)
        assert run_bytes(make_trajectory, spec, hp, 3) == 2 * measured + buffers + RUNTIME_BYTES


def test_the_neural_estimate_counts_exactly_what_its_trajectory_holds():
    from toysim.game.neural import make_neural_trajectory as factory
    from toysim.presets import build

    spec, hp = build("paper-nn", "fpo-relaxed")
    spec = dataclasses.replace(spec, steps=3)
    measured = tree_bytes(run_seed(spec, hp, 0, factory))
    assert trajectory_bytes(factory, spec, hp) == measured


def test_a_sweeps_estimate_covers_its_outputs_and_scales_with_the_runs():
    spec, hp = build("paper-linear", "rlhf", steps=4)
    result = sweep(spec, hp, {"c": np.linspace(0.01, 1, 50)}, 4, chunk_size=64)
    measured = sum(v.nbytes for v in result.metrics.values())
    estimate = sweep_bytes(spec, hp, 200, 64, 1) - RUNTIME_BYTES
    assert measured < estimate
    big = sweep_bytes(spec, hp, 10**9, 8192, 1)
    assert big > 10**9 * (len(hp) * 8 + 2 * measured / 200)


def test_an_absurd_horizon_is_estimated_without_running_it():
    spec, hp = build("paper-linear", "rlhf", steps=10**9)
    estimate = run_bytes(make_trajectory, spec, hp, 1)  # shapes only: nothing is allocated
    assert estimate > 10**9 * 8 * (2 * spec.dim)  # theta and w, [T, d] each


def test_expert_iterations_draws_are_counted():
    """``groups x n`` draws in ``R^50``, three arrays of them in float64 (the tests' width):
    8 x 16 x 50 x 8 x 3 = 153,600 bytes per run beyond what the records take."""
    from toysim.experiments.runner import trajectory_factory
    from toysim.memory import run_bytes, trajectory_bytes
    from toysim.presets import build, compose

    game, hp = build("paper-linear", "rlhf", steps=5)
    spec, params = compose(game, hp, leader="expert", n=16, groups=8)
    factory = trajectory_factory(spec)
    records = trajectory_bytes(factory, spec, params)
    assert run_bytes(factory, spec, params, 2) - run_bytes(factory, spec, params, 1) == (
        2 * records + 153_600 + BUFFER_COPIES * buffer_bytes(spec)
    )


def test_the_followers_buffer_holds_every_sample_under_accumulate():
    """The buffer of one output in R^50 (float64): y, label and flag per block, an int32 slot;
    ``T = 7`` blocks under accumulate, ``B = 1`` under window, ``B = 0`` for population, one
    per member of an ensemble."""
    game, hp = build("paper-linear", "rlhf", steps=7)
    accumulate = dataclasses.replace(game, regime="accumulate")
    assert buffer_bytes(game) == 1 * (50 + 1 + 1) * 8 + 4
    assert buffer_bytes(accumulate) == 7 * (50 + 1 + 1) * 8 + 4
    assert buffer_bytes(build("population", "rlhf")[0]) == 4
    assert buffer_bytes(compose(accumulate, hp, members=3)[0]) == 3 * buffer_bytes(accumulate)
    huge = dataclasses.replace(accumulate, steps=10**9)  # shapes only: nothing is allocated
    assert buffer_bytes(huge) > 10**9 * 50 * 8
    grown = run_bytes(make_trajectory, accumulate, hp, 1) - run_bytes(make_trajectory, game, hp, 1)
    assert grown == BUFFER_COPIES * 6 * (50 + 1 + 1) * 8


def test_buffer_copies_cover_what_the_compiled_loop_holds():
    """XLA's own account of the compiled run's temporaries (``memory_analysis``) under
    accumulate, on the rung that holds the most (Gauss-Newton, best-response follower)."""
    import jax

    from toysim.config import as_float_arrays

    game, hp = build("paper-linear", "fpo", hessian="gauss-newton", steps=1000)
    spec = dataclasses.replace(game, regime="accumulate", follower="best-response")
    spec = dataclasses.replace(spec, record="scalars")
    run = jax.jit(make_trajectory(spec)).lower(jax.random.key(0), as_float_arrays(hp))
    held = run.compile().memory_analysis().temp_size_in_bytes
    assert 4 * buffer_bytes(spec) < held <= BUFFER_COPIES * buffer_bytes(spec)
