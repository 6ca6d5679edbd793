"""How fast the live explorer answers: wall-clock time of slider moves to the rendered picture."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from toysim.config import ConfigError
from toysim.explorer.settings import NUMBERS, starting_settings
from toysim.explorer.widget import Explorer


def explorer_latency(
    changes: int = 50,
    *,
    moves: str = "drag",
    preset: str = "paper-linear",
    method: str = "fpo-relaxed",
    canvas: str = "image",
    seed: int = 0,
) -> dict[str, Any]:
    """Wall-clock time of ``changes`` slider moves, each until the new picture is rendered.

    Builds an explorer (compiling its program, not timed), then moves the
    numeric sliders in turn (gamma, c, the two step sizes, the horizon, the
    seed) and times each assignment: the observer reruns the game, moves the
    artists and renders (a JPEG for the ``image`` canvas; for ``ipympl`` the PNG
    of the changed pixels and its message, as to a live front end) before the
    assignment returns.

    Args:
      changes: how many slider moves to time.
      moves: ``drag`` (each move 1 to 5 slider steps up or down, as a hand
        dragging a slider does) or ``jump`` (each move to a uniformly random value).
      preset: the preset explored.
      method: the method explored.
      canvas: ``image`` or ``ipympl`` (see :func:`~toysim.explorer.widget.explore`).
      seed: draws the moves.

    Returns:
      ``{"total_ms", "compute_ms", "draw_ms"}``: wall-clock arrays over the
      changes; ``"cpu_ms"``: the process's CPU time per change (all its threads;
      on a busy machine closer to what the change costs than the wall clock);
      ``"slider"``: the slider moved each time; ``"full"``: whether that change
      rendered the whole figure (an axis limit, the horizon's axis or the view
      changed) rather than the lines over the cached rest;
      ``"median_ms"``, ``"max_ms"``: of ``total_ms``.
    """
    if moves not in ("drag", "jump"):
        raise ConfigError(f"moves must be drag or jump; got {moves!r}")
    explorer = Explorer(starting_settings(preset, method), canvas=canvas)
    rng = np.random.default_rng(seed)
    names = [n for n in NUMBERS if not explorer.controls[n].disabled]
    records = []
    for i in range(changes):
        name = names[i % len(names)]
        control = explorer.controls[name]
        value = _move(NUMBERS[name], control.value, rng, moves)
        background = explorer.figure.background
        tick, cpu = time.perf_counter(), time.process_time()
        control.value = value
        total, cpu = time.perf_counter() - tick, time.process_time() - cpu
        records.append(
            (name, total, explorer.timings["compute"], explorer.timings["draw"],
             explorer.figure.background is not background, cpu)
        )  # fmt: skip
    total_ms = np.array([r[1] for r in records]) * 1e3
    return {
        "slider": [r[0] for r in records],
        "total_ms": total_ms,
        "compute_ms": np.array([r[2] for r in records]) * 1e3,
        "draw_ms": np.array([r[3] for r in records]) * 1e3,
        "full": np.array([r[4] for r in records]),
        "cpu_ms": np.array([r[5] for r in records]) * 1e3,
        "median_ms": float(np.median(total_ms)),
        "max_ms": float(np.max(total_ms)),
    }


def _move(slider: tuple, value: float, rng: np.random.Generator, moves: str) -> float:
    """A new value for a slider of :data:`NUMBERS`: a drag of 1-5 steps, or a random jump."""
    kind, low, high, *step = slider
    if kind == "log":
        low, high, value, step = np.log10(low), np.log10(high), np.log10(value), [0.01]
    if moves == "jump":
        new = rng.uniform(low, high)
    else:
        new = value + rng.choice([-1, 1]) * rng.integers(1, 6) * step[0]
        if not low <= new <= high:
            new = value - (new - value)
    if kind == "int":
        return int(round(new / step[0])) * step[0]
    return float(10.0**new) if kind == "log" else float(new)
