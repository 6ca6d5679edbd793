"""The KL leash: final and peak utility against the action cost ``c`` (the ``kl-leash`` recipe)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from toysim.presets import RECIPES, Recipe, build
from toysim.sweep import SweepResult, parse_grid, sweep


class KLLeashRuns(NamedTuple):
    """The recipe's sweep over ``c`` for its method and for relaxed FPO.

    Attributes:
      action_cost: the values of ``c``.
      results: method -> its :class:`~toysim.sweep.SweepResult` (axes ``action_cost``, seed).
      seeds: seeds per value of ``c``.
      recipe: the ``kl-leash`` recipe.
    """

    action_cost: np.ndarray
    results: dict[str, SweepResult]
    seeds: int
    recipe: Recipe


def kl_leash_runs(quick: bool = False) -> KLLeashRuns:
    """The ``kl-leash`` recipe's grid (every 4th value if quick) over 32 seeds (4 if quick),
    for the recipe's method and ``fpo-relaxed``."""
    recipe = RECIPES["kl-leash"]
    name, c = parse_grid(recipe.grid[0])
    if quick:
        c = c[::4]
    seeds = 4 if quick else 32
    results = {}
    for method in (recipe.method, "fpo-relaxed"):
        spec, hp = build(recipe.preset, method)
        results[method] = sweep(spec, hp, {name: c}, seeds)
    return KLLeashRuns(c, results, seeds, recipe)


def kl_leash_summary(runs: KLLeashRuns) -> dict[str, dict[str, list[float]]]:
    """Per method and value of ``c``: the median final and peak utility over seeds and the
    fraction of collapsed seeds."""
    return {
        method: {
            "median_final_utility": [float(x) for x in result.median_over_seeds("final_utility")],
            "median_max_utility": [float(x) for x in result.median_over_seeds("max_utility")],
            "collapsed_fraction": [float(x) for x in result.fraction_over_seeds("collapsed")],
        }
        for method, result in runs.results.items()
    }
