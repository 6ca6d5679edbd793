"""Data regimes: myopic RLHF on the pairwise presets when the follower's data is replaced
each iteration, kept in a sliding window, or accumulated (docs/theory/pairwise.md)."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from toysim.config import REGIMES
from toysim.experiments.runner import run_seeds
from toysim.model.metrics import collapsed
from toysim.presets import build
from toysim.provenance import describe

REGIME_PRESETS = ("pairwise-linear", "pairwise-nn")
"""The presets the regime figure compares on."""

REGIME_METHOD = "rlhf"
"""The leader of the regime figure: myopic RLHF, the method that collapses."""


class RegimeRuns(NamedTuple):
    """``U(theta)`` of :data:`REGIME_METHOD` for each preset and data regime.

    Attributes:
      utility: preset -> regime -> ``U(theta)``, ``[seeds, T]``.
      config: preset -> regime -> :func:`~toysim.provenance.describe` of the game.
      seeds: seeds per run.
    """

    utility: dict[str, dict[str, np.ndarray]]
    config: dict[str, dict[str, dict]]
    seeds: int


def regime_runs(quick: bool = False) -> RegimeRuns:
    """Each of :data:`REGIME_PRESETS` under each regime (replace, window, accumulate) with
    myopic RLHF, over 8 seeds (2 if quick)."""
    seeds = 2 if quick else 8
    utility, config = {}, {}
    for preset in REGIME_PRESETS:
        utility[preset], config[preset] = {}, {}
        spec, hp = build(preset, REGIME_METHOD)
        for regime in REGIMES:
            game = dataclasses.replace(spec, regime=regime)
            runs = run_seeds(game, hp, seeds)
            utility[preset][regime] = np.asarray(runs.utility)
            config[preset][regime] = describe(game, hp)
    return RegimeRuns(utility, config, seeds)


def regime_summary(runs: RegimeRuns) -> dict[str, dict[str, dict[str, float]]]:
    """Per preset and regime: the median final and peak utility over seeds, and the fraction
    of seeds that collapsed (:func:`toysim.model.metrics.collapsed`: final utility below 0.8
    times the run's own peak)."""
    out = {}
    for preset, by_regime in runs.utility.items():
        out[preset] = {}
        for regime, u in by_regime.items():
            final, peak = u[:, -1], u.max(axis=1)
            out[preset][regime] = {
                "median_final_utility": float(np.median(final)),
                "median_max_utility": float(np.median(peak)),
                "collapsed_fraction": float(np.mean(collapsed(final, peak))),
            }
    return out
