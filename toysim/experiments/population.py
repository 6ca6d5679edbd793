"""The population game's myopic and exact gradient fields on a grid (notebook 03)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from toysim.analysis import POPULATION_FIELD_NAMES, population_gradient
from toysim.config import LinearHParams, LinearSpec
from toysim.experiments.collapse import final_values, ideal_norm
from toysim.experiments.runner import run_seed
from toysim.game.records import Trajectory
from toysim.presets import build
from toysim.provenance import describe


class PopulationField(NamedTuple):
    """The myopic and exact gradient fields of the population game on a grid, and the
    ``rlhf`` and ``fpo-exact`` trajectories (seed 0) in the same coordinates.

    Attributes:
      signal, noise: the grid's axes.
      field: :data:`~toysim.analysis.POPULATION_FIELD_NAMES` -> ``[len(noise), len(signal)]``.
      paths: method -> its trajectory from seed 0.
      config: the game and seed 0's final values per method.
      ideal_norm: ``||m||`` of the game's utility.
    """

    signal: np.ndarray
    noise: np.ndarray
    field: dict[str, np.ndarray]
    paths: dict[str, Trajectory]
    config: dict
    ideal_norm: float


def population_gradient_field(
    spec: LinearSpec, hp: LinearHParams, signal: np.ndarray, noise: np.ndarray
) -> dict[str, np.ndarray]:
    """:func:`~toysim.analysis.population_gradient` on the grid ``signal x noise``.

    Returns:
      :data:`~toysim.analysis.POPULATION_FIELD_NAMES` -> ``[len(noise), len(signal)]``.
    """
    grid_s, grid_n = jnp.meshgrid(jnp.asarray(signal), jnp.asarray(noise))
    # jit here, at the edge: one grid per figure, the game's numbers compiled in as constants
    values = jax.jit(jax.vmap(jax.vmap(population_gradient(spec, hp))))(grid_s, grid_n)
    return {name: np.asarray(v) for name, v in zip(POPULATION_FIELD_NAMES, values, strict=True)}


def population_field(quick: bool = False) -> PopulationField:
    """The ``population`` preset's gradient fields on a 31 x 31 (15 x 15 if quick)
    (signal, noise) grid, and its rlhf and fpo-exact runs from seed 0."""
    spec, hp = build("population", "fpo-exact")
    n = 15 if quick else 31
    signal = np.linspace(0.0, 5.0, n)
    noise = np.linspace(0.0, 3.0, n)
    field = population_gradient_field(spec, hp, signal, noise)
    paths = {}
    for method in ("rlhf", "fpo-exact"):
        method_spec, method_hp = build("population", method)
        paths[method] = run_seed(method_spec, method_hp, seed=0)
    config = {
        "game": describe(spec, hp),
        "final_metrics_seed_0": {m: final_values(t) for m, t in paths.items()},
    }
    return PopulationField(signal, noise, field, paths, config, ideal_norm(spec, hp))
