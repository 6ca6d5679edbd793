"""The paths of the phase-space animation: each method once, in projection coordinates."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from toysim.config import ConfigError
from toysim.experiments.collapse import final_values, ideal_norm
from toysim.experiments.runner import run_seed
from toysim.presets import build
from toysim.provenance import describe

ANIMATION_METHODS = ("rlhf", "fpo-exact", "fpo-relaxed", "fpo-practical")
"""The methods animated by default."""


class AnimationRuns(NamedTuple):
    """Each method's path from one seed.

    Attributes:
      paths: method -> ``(signal_proj, noise_proj, utility)``, each ``[T]``.
      config: method -> its game.
      finals: method -> its final values.
      amplitude, tau: the utility's ``A`` and ``tau``.
      ideal_norm: ``||m||``.
      steps: the horizon ``T``.
    """

    paths: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    config: dict
    finals: dict
    amplitude: float
    tau: float
    ideal_norm: float
    steps: int


def animation_runs(
    preset: str = "paper-linear",
    methods: tuple[str, ...] = ANIMATION_METHODS,
    seed: int = 0,
    steps: int | None = None,
) -> AnimationRuns:
    """Run each of ``methods`` on ``preset`` from ``seed`` (horizon ``steps``, default the
    preset's).

    Raises:
      ConfigError: ``methods`` is empty, or a preset, method or ``steps`` is invalid.
    """
    if not methods:
        raise ConfigError("methods must name at least one method")
    paths, config, finals = {}, {}, {}
    for method in methods:
        spec, hp = build(preset, method, steps=steps)
        trajectory = run_seed(spec, hp, seed)
        paths[method] = (trajectory.signal_proj, trajectory.noise_proj, trajectory.utility)
        config[method] = describe(spec, hp)
        finals[method] = final_values(trajectory)
    return AnimationRuns(
        paths,
        config,
        finals,
        float(hp.amplitude),
        float(hp.tau),
        ideal_norm(spec, hp),
        spec.steps,
    )
