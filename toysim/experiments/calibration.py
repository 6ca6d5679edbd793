"""The calibration map: the reward model's error ``r - U`` over the signal / noise plane.

At checkpoints of a run, outputs ``y`` are laid on the plane of the policy's
current split ``theta = (theta[:k], theta[k:])``: ``y = s a + n b`` with ``a``
and ``b`` the unit vectors along ``theta[:k]`` and ``theta[k:]`` (padded with
zeros), so ``y``'s signal is ``s`` and its noise ``n``, and the checkpoint's
``theta`` is the grid point ``(||theta[:k]||, ||theta[k:]||)``. The reward model
is trained on the policy's own outputs: it is accurate where the path runs and
blind off it (docs/results/goodhart.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array

from toysim.experiments.runner import run_seed
from toysim.game.linear_round import utility_of
from toysim.model.utility import utility
from toysim.presets import build
from toysim.provenance import describe

CALIBRATION_METHODS = ("rlhf", "fpo-relaxed")
"""The runs whose reward model is mapped: the one that collapses and the one that does not."""
CHECKPOINTS = (10, 50, 150, 300)
"""The iterations (1-based) of the panels."""
GRID = (121, 101)
"""Grid points along signal and noise."""


def split_directions(theta: Array, signal_dims: int) -> tuple[Array, Array]:
    """Unit vectors along ``theta[:k]`` and ``theta[k:]``, zero-padded to ``[d]``; where a
    block is 0, the first coordinate of that block."""
    d = theta.shape[-1]
    inside = jnp.arange(d) < signal_dims

    def unit(mask, first):
        part = jnp.where(mask, theta, 0.0)
        norm = jnp.linalg.norm(part)
        fallback = (jnp.arange(d) == first).astype(theta.dtype)
        return jnp.where(norm > 0, part / jnp.where(norm > 0, norm, 1.0), fallback)

    return unit(inside, 0), unit(~inside, signal_dims)


def calibration_error(
    theta: Array,
    signal_dims: int,
    signal: Array,
    noise: Array,
    reward: Callable[[Array], Array],
    gold: Callable[[Array], Array],
) -> Array:
    """``r(y) - U(y)`` at ``y = s a + n b`` for every ``(n, s)`` of the grid, ``[N, S]``.

    Args:
      theta: the policy at the checkpoint, ``[d]``: its split fixes ``a`` and ``b``
        (:func:`split_directions`).
      signal_dims: ``k``.
      signal: the grid's signal axis, ``[S]``.
      noise: the grid's noise axis, ``[N]``.
      reward: ``y [..., d] -> [...]``, the reward model.
      gold: ``y [..., d] -> [...]``, the true utility.
    """
    a, b = split_directions(theta, signal_dims)
    y = signal[None, :, None] * a + noise[:, None, None] * b
    return reward(y) - gold(y)


class CalibrationMaps(NamedTuple):
    """The error maps of each method's run at the checkpoints.

    Attributes:
      preset, seed: the game and the seed drawn.
      iterations: the checkpoints' 0-based indices into the run.
      signal, noise: the grid's axes, ``[S]``, ``[N]``.
      error: method -> ``[C, N, S]`` maps of ``r - U``.
      path_signal, path_noise: method -> the run's signal and noise, ``[T]``.
      ideal_norm: ``||m||`` (the human ideal sits at ``(||m||, 0)``).
      limit: the colour scale's half-range, the utility's amplitude ``A``.
      config: method -> the game's description.
    """

    preset: str
    seed: int
    iterations: tuple[int, ...]
    signal: np.ndarray
    noise: np.ndarray
    error: dict
    path_signal: dict
    path_noise: dict
    ideal_norm: float
    limit: float
    config: dict


def calibration_maps(quick: bool = False, preset: str = "paper-linear", seed: int = 0):
    """The error maps of :data:`CALIBRATION_METHODS` on ``preset`` at :data:`CHECKPOINTS`
    (``quick`` takes a coarser grid; the runs are the same)."""
    runs, config = {}, {}
    for method in CALIBRATION_METHODS:
        spec, hp = build(preset, method)
        runs[method] = run_seed(spec, hp, seed)
        config[method] = describe(spec, hp)
    u = utility_of(spec, hp)
    ideal_norm = float(jnp.linalg.norm(u.ideal))
    top_signal = max(ideal_norm, *(float(r.signal.max()) for r in runs.values()))
    top_noise = max(1.0, *(float(r.noise.max()) for r in runs.values()))
    shape = (31, 26) if quick else GRID
    signal = jnp.linspace(0.0, 1.25 * top_signal, shape[0])
    noise = jnp.linspace(0.0, 1.3 * top_noise, shape[1])
    iterations = tuple(t - 1 for t in CHECKPOINTS if t <= spec.steps)
    error = {}
    for method, run in runs.items():
        error[method] = np.stack(
            [
                np.asarray(
                    calibration_error(
                        run.theta[t],
                        spec.signal_dims,
                        signal,
                        noise,
                        lambda y, w=run.w[t]: y @ w,
                        lambda y: utility(u, y),
                    )
                )
                for t in iterations
            ]
        )
    return CalibrationMaps(
        preset,
        seed,
        iterations,
        np.asarray(signal),
        np.asarray(noise),
        error,
        {m: np.asarray(r.signal) for m, r in runs.items()},
        {m: np.asarray(r.noise) for m, r in runs.items()},
        ideal_norm,
        float(hp.amplitude),
        config,
    )


def calibration_summary(maps: CalibrationMaps) -> dict:
    """The metadata of the calibration figure: the game, the checkpoints, and per method and
    checkpoint the error at the policy (on the path) and the largest error on the grid."""
    on_path = {}
    for method, maps_m in maps.error.items():
        rows = []
        for j, t in enumerate(maps.iterations):
            s = np.abs(maps.signal - maps.path_signal[method][t]).argmin()
            n = np.abs(maps.noise - maps.path_noise[method][t]).argmin()
            rows.append(
                {
                    "iteration": t + 1,
                    "error_at_policy": float(maps_m[j][n, s]),
                    "max_abs_error_on_grid": float(np.max(np.abs(maps_m[j]))),
                }
            )
        on_path[method] = rows
    return {
        "preset": maps.preset,
        "seed_drawn": maps.seed,
        "config": maps.config,
        "checkpoints": [t + 1 for t in maps.iterations],
        "errors": on_path,
    }
