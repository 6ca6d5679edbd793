"""The memory estimate before compiling, against the measured size of what a run returns."""

import dataclasses

import jax
import numpy as np

from toysim import build, make_trajectory
from toysim.experiments.runner import run_seed, run_seeds
from toysim.memory import (
    RUNTIME_BYTES,
    run_bytes,
    sweep_bytes,
    trajectory_bytes,
    tree_bytes,
    working_bytes,
)
from toysim.sweep import sweep


def compiled_bytes(factory, spec, hp) -> int:
    """XLA's own count of one compiled run's memory: its output and temporaries."""
    stats = jax.jit(factory(spec)).lower(jax.random.key(0), hp).compile().memory_analysis()
    return stats.output_size_in_bytes + stats.temp_size_in_bytes


def test_a_runs_estimate_holds_its_trajectories_and_bounds_the_compiled_program():
    for preset, method in [("paper-linear", "fpo-exact"), ("population", "rlhf")]:
        spec, hp = build(preset, method, steps=7)
        measured = tree_bytes(run_seeds(spec, hp, 3))
        assert trajectory_bytes(make_trajectory, spec, hp) * 3 == measured
        xla = compiled_bytes(make_trajectory, spec, hp)
        assert measured / 3 <= xla <= working_bytes(make_trajectory, spec, hp)
        assert run_bytes(make_trajectory, spec, hp, 3) >= measured + 3 * xla + RUNTIME_BYTES


def test_the_neural_estimate_counts_exactly_what_its_trajectory_holds():
    from toysim.game.trajectory import make_trajectory as factory
    from toysim.presets import build

    spec, hp = build("paper-nn", "fpo-relaxed")
    spec = dataclasses.replace(spec, steps=3)
    measured = tree_bytes(run_seed(spec, hp, 0, factory))
    assert trajectory_bytes(factory, spec, hp) == measured


def test_a_sweeps_estimate_covers_its_outputs_and_scales_with_the_runs():
    spec, hp = build("paper-linear", "rlhf", steps=4)
    result = sweep(spec, hp, {"c": np.linspace(0.01, 1, 50)}, 4, chunk_size=64)
    measured = sum(v.nbytes for v in result.metrics.values())
    estimate = sweep_bytes([(spec, hp)], 200, 64, 1) - RUNTIME_BYTES
    assert measured < estimate
    big = sweep_bytes([(spec, hp)], 10**9, 8192, 1)
    assert big > 10**9 * (len(hp) * 8 + 2 * measured / 200)
    assert sweep_bytes([(spec, hp)] * 3, 10**9, 8192, 1) > 3 * 10**9 * len(hp) * 8


def test_an_absurd_horizon_is_estimated_without_running_it():
    spec, hp = build("paper-linear", "rlhf", steps=10**9)
    estimate = run_bytes(make_trajectory, spec, hp, 1)  # shapes only: nothing is allocated
    assert estimate > 10**9 * 8 * (2 * spec.dim)  # theta and w, [T, d] each


def test_expert_iterations_draws_are_counted():
    """``groups x n`` draws in ``R^50``, three arrays of them in float64 (the noise, the
    draws and their scores' inputs): 8 x 16 x 50 x 8 x 3 = 153,600 bytes beyond the records,
    and no less than XLA allocates."""
    from toysim.game.trajectory import make_trajectory
    from toysim.presets import compose

    game, hp = build("paper-linear", "rlhf", steps=5)
    spec, params = compose(game, hp, leader="expert", n=16, groups=8)
    factory = make_trajectory
    working = working_bytes(factory, spec, params)
    assert working >= trajectory_bytes(factory, spec, params) + 153_600
    assert working >= compiled_bytes(factory, spec, params)


def test_the_sampled_games_buffer_is_counted_under_every_regime():
    """Under ``accumulate`` the follower keeps all T blocks of 5 samples in R^10 (float64):
    at least (T - 10) x 5 x 10 x 8 bytes more than the window of 10 blocks, and the runtime
    of a sampled-buffer program (its compilation) is the larger one."""
    from toysim.game.trajectory import make_trajectory as factory
    from toysim.memory import SAMPLED_RUNTIME_BYTES, runtime_bytes
    from toysim.presets import build as build_any

    spec, hp = build_any("paper-nn", "rlhf", steps=400)
    window = working_bytes(factory, spec, hp)
    accumulate = working_bytes(factory, dataclasses.replace(spec, regime="accumulate"), hp)
    assert accumulate - window >= (400 - 10) * 5 * 10 * 8
    assert runtime_bytes(spec) == SAMPLED_RUNTIME_BYTES > RUNTIME_BYTES
    estimate = sweep_bytes([(spec, hp)], 64, 16, 2) - SAMPLED_RUNTIME_BYTES
    in_flight = 2 * 8  # two devices, blocks of 8 runs (paper-nn's 1,441 RM parameters)
    assert estimate >= in_flight * window


def test_the_linear_games_buffer_is_counted_under_accumulate():
    """The linear game's follower keeps all ``T = 400`` outputs in R^50 (float64) under
    accumulate against one under paper-linear's window: at least 399 x 50 x 8 bytes more."""
    game, hp = build("paper-linear", "rlhf", steps=400)
    window = working_bytes(make_trajectory, game, hp)
    accumulate = working_bytes(make_trajectory, dataclasses.replace(game, regime="accumulate"), hp)
    assert accumulate - window >= 399 * 50 * 8
