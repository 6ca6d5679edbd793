"""Collapse against the dimension ``d`` (3 signal dimensions), RLHF and the two FPO relaxations."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from toysim.presets import build
from toysim.provenance import describe
from toysim.sweep import sweep

DIMENSIONS = (10, 20, 50, 100, 200, 500, 1000)
"""The dimensions of the full run (``quick``: 10, 50, 200)."""

DIMENSION_METHODS = ("rlhf", "fpo-relaxed", "fpo-practical")
"""The methods compared across dimensions."""


class DimensionRuns(NamedTuple):
    """Final values of ``paper-linear`` at each dimension.

    Attributes:
      dimensions: the dimensions ``d``.
      utility: method -> final true utility ``[seeds, len(dimensions)]``.
      noise: method -> final noise ``[seeds, len(dimensions)]``.
      collapsed: method -> the fraction of collapsed seeds at each dimension.
      seeds: the number of seeds.
      config: the game (fpo-relaxed at the preset's dimension).
    """

    dimensions: tuple[int, ...]
    utility: dict[str, np.ndarray]
    noise: dict[str, np.ndarray]
    collapsed: dict[str, list[float]]
    seeds: int
    config: dict


def collapse_vs_dimension_runs(quick: bool = False) -> DimensionRuns:
    """``paper-linear`` with ``d`` changed (each ``d`` compiles once), 16 seeds (4 if quick)."""
    dims = (10, 50, 200) if quick else DIMENSIONS
    seeds = 4 if quick else 16
    utility, noise, collapsed = {}, {}, {}
    for method in DIMENSION_METHODS:
        spec, hp = build("paper-linear", method)
        runs = [sweep(dataclasses.replace(spec, dim=d), hp, {}, seeds) for d in dims]
        utility[method] = np.stack([r.metrics["final_utility"] for r in runs], axis=1)
        noise[method] = np.stack([r.metrics["final_noise"] for r in runs], axis=1)
        collapsed[method] = [float(r.metrics["collapsed"].mean()) for r in runs]
    config = describe(*build("paper-linear", "fpo-relaxed"))
    return DimensionRuns(tuple(dims), utility, noise, collapsed, seeds, config)
