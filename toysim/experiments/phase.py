"""The phase diagram: final utility over (gamma, c) for relaxed, practical and exact FPO."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from toysim.presets import build
from toysim.sweep import sweep

PHASE_METHODS = (("fpo-relaxed", 0.5), ("fpo-practical", 0.5), ("fpo-exact", 20.0))
"""Each method of the phase diagram and the top of its gamma axis."""


class PhaseDiagram(NamedTuple):
    """Median final utility over a (c, gamma) grid, per method.

    Attributes:
      panels: method -> ``(gamma, c, median final utility [len(c), len(gamma)])``.
      seeds: seeds per grid point.
      config: method -> the sweep's configuration.
      best_cells: method -> the highest median final utility and its gamma and c.
      mean_collapsed_fraction: method -> the fraction of collapsed runs over the grid.
    """

    panels: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    seeds: int
    config: dict
    best_cells: dict
    mean_collapsed_fraction: dict[str, float]


def phase_gamma_c_sweep(quick: bool = False) -> PhaseDiagram:
    """``paper-linear``: 21 gammas x 20 action costs x 8 seeds per method (6 x 5 x 2 if quick)."""
    seeds, n_gamma, n_c = (2, 6, 5) if quick else (8, 21, 20)
    c = np.linspace(0.02, 0.4, n_c)
    panels, config, collapsed = {}, {}, {}
    for method, gamma_max in PHASE_METHODS:
        spec, hp = build("paper-linear", method)
        gamma = np.linspace(0.0, gamma_max, n_gamma)
        result = sweep(spec, hp, {"action_cost": c, "gamma": gamma}, seeds)
        panels[method] = (gamma, c, result.median_over_seeds("final_utility"))
        config[method] = result.config
        collapsed[method] = float(result.fraction_over_seeds("collapsed").mean())
    best = {}
    for method, (gamma, cost, values) in panels.items():
        i, j = np.unravel_index(np.argmax(values), values.shape)
        best[method] = {
            "max_median_final_utility": float(values[i, j]),
            "at_gamma": float(gamma[j]),
            "at_c": float(cost[i]),
        }
    return PhaseDiagram(panels, seeds, config, best, collapsed)
