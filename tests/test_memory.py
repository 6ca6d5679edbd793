"""The memory estimate before compiling, against the measured size of what a run returns."""

import dataclasses

import numpy as np

from toysim import build, make_trajectory
from toysim.experiments.runner import run_seed, run_seeds
from toysim.memory import RUNTIME_BYTES, run_bytes, sweep_bytes, trajectory_bytes, tree_bytes
from toysim.sweep import sweep


def test_a_runs_estimate_counts_exactly_what_its_trajectories_hold():
    for preset, method in [("paper-linear", "fpo-exact"), ("population", "rlhf")]:
        spec, hp = build(preset, method, steps=7)
        measured = tree_bytes(run_seeds(spec, hp, 3))
        assert trajectory_bytes(make_trajectory, spec, hp) * 3 == measured
        assert run_bytes(make_trajectory, spec, hp, 3) == 2 * measured + RUNTIME_BYTES


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
        2 * records + 153_600
    )
