"""Alignment collapse on ``paper-linear``: each method over seeds (notebook 01)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from toysim.analysis import summarise
from toysim.config import LinearHParams, LinearSpec
from toysim.experiments.runner import run_seeds
from toysim.game.linear_round import utility_of
from toysim.game.records import Trajectory
from toysim.presets import build
from toysim.provenance import describe

COLLAPSE_METHODS = ("rlhf", "fpo-relaxed", "fpo-practical")
"""The methods of the published collapse figures."""


def ideal_norm(spec: LinearSpec, hp: LinearHParams) -> float:
    """``||m||``, the norm of the human ideal of the game's utility."""
    return float(np.linalg.norm(np.asarray(utility_of(spec, hp).ideal)))


def final_values(trajectory: Trajectory) -> dict[str, float]:
    """Final signal, noise, utility, proxy reward and ideal reward of one (unbatched)
    trajectory, and its peak utility."""
    return {
        "final_signal": float(trajectory.signal[-1]),
        "final_noise": float(trajectory.noise[-1]),
        "final_utility": float(trajectory.utility[-1]),
        "max_utility": float(np.max(trajectory.utility)),
        "final_proxy_reward": float(trajectory.proxy_reward[-1]),
        "final_ideal_reward": float(trajectory.ideal_reward[-1]),
    }


def take_run(trajectory: Trajectory, i: int) -> Trajectory:
    """Run ``i`` of a batched trajectory, as NumPy arrays."""
    return jax.tree.map(lambda x: np.asarray(x)[i], trajectory)


class CollapseRuns(NamedTuple):
    """``paper-linear`` runs of each method over ``seeds`` seeds (``seed`` 0 is the one drawn).

    Attributes:
      trajectories: method -> batched trajectory (seed axis first).
      config: method -> :func:`~toysim.provenance.describe` of its game.
      hparams: the preset's hyperparameters (the same for every method).
      seeds: the number of seeds, ``0..seeds-1``.
      ideal_norm: ``||m||`` of the preset's utility.
    """

    trajectories: dict[str, Trajectory]
    config: dict
    hparams: LinearHParams
    seeds: int
    ideal_norm: float


def collapse_runs(quick: bool = False, methods=COLLAPSE_METHODS) -> CollapseRuns:
    """``paper-linear`` with each method, vmapped over 32 seeds (4 with ``quick``)."""
    seeds = 4 if quick else 32
    trajectories, config = {}, {}
    for method in methods:
        spec, hp = build("paper-linear", method)
        trajectories[method] = run_seeds(spec, hp, seeds)
        config[method] = describe(spec, hp)
    return CollapseRuns(trajectories, config, hp, seeds, ideal_norm(spec, hp))


def collapse_summary(runs: CollapseRuns) -> dict:
    """The metadata of every collapse figure: preset, seeds, configuration, seed 0's final
    values and the final utility over seeds (median, quartiles) per method."""
    return {
        "preset": "paper-linear",
        "seed_drawn": 0,
        "seeds": runs.seeds,
        "config": runs.config,
        "final_metrics_seed_0": {
            m: final_values(take_run(t, 0)) for m, t in runs.trajectories.items()
        },
        "final_utility_over_seeds": {
            m: summarise(np.asarray(t.utility)[:, -1]) for m, t in runs.trajectories.items()
        },
    }
