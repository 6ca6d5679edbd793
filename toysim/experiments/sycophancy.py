"""The sycophancy preset: how far each method follows the features the initial RM overrates."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from toysim.analysis import summarise
from toysim.experiments.runner import run_seeds
from toysim.presets import build
from toysim.provenance import describe

SYCOPHANCY_METHODS = ("rlhf", "fpo-exact", "fpo-relaxed", "fpo-practical")
"""The methods compared on the sycophancy preset."""


class SycophancyRuns(NamedTuple):
    """Each method's magnitude along the overrated features over seeds.

    Attributes:
      biased_noise: method -> ``[seeds, T]`` norm of the policy on the overrated features.
      finals: method -> that norm at iteration 20 and at the end, and the final utility
        (median and quartiles over seeds).
      config: method -> its game.
      seeds: the number of seeds.
    """

    biased_noise: dict[str, np.ndarray]
    finals: dict[str, dict]
    config: dict
    seeds: int


def sycophancy_runs(quick: bool = False) -> SycophancyRuns:
    """The ``sycophancy`` preset with each method over 32 seeds (4 if quick)."""
    seeds = 4 if quick else 32
    series, finals, config = {}, {}, {}
    for method in SYCOPHANCY_METHODS:
        spec, hp = build("sycophancy", method)
        trajectory = run_seeds(spec, hp, seeds)
        series[method] = np.asarray(trajectory.biased_noise)
        finals[method] = {
            "biased_noise_at_20": summarise(series[method][:, 19]),
            "final_biased_noise": summarise(series[method][:, -1]),
            "final_utility": summarise(np.asarray(trajectory.utility)[:, -1]),
        }
        config[method] = describe(spec, hp)
    return SycophancyRuns(series, finals, config, seeds)
