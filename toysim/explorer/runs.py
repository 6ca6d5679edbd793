"""The explorer's compiled programs: one per game structure, every number traced.

A change of a number never recompiles: the numbers are traced
:class:`~toysim.config.LinearHParams`, the seed enters through the key, and the
horizon is static, so one program per (preset, method) structure is compiled
at :data:`~toysim.explorer.settings.EXPLORER_STEPS` iterations and the first ``T``
are shown. That is exact because the linear presets have no schedule depending
on ``T``: iteration ``t`` is the same whatever the horizon (``make_trajectory``
uses ``steps`` only as the scan length; ``tests/explorer/test_explore.py`` checks the
prefix against ``simulate`` with ``steps = T``). Only the method, its switches
or the preset compile a new program, once; :func:`trace_counts` counts the traces.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from typing import NamedTuple

import jax
import numpy as np

from toysim.config import LinearHParams, LinearSpec
from toysim.explorer.settings import EXPLORER_STEPS, Settings, game_of
from toysim.game.records import Trajectory, first_nonfinite_iteration, nonfinite_error
from toysim.game.trajectory import make_trajectory
from toysim.seeds import seed_key

trace_count: Counter[LinearSpec] = Counter()
"""How many times each explorer program has been traced (once per structure, ever)."""


def trace_counts() -> dict[LinearSpec, int]:
    """A copy of :data:`trace_count`: spec (at :data:`EXPLORER_STEPS`) -> number of traces."""
    return dict(trace_count)


@functools.lru_cache(maxsize=64)
def program(spec: LinearSpec):
    """``jit(key, hparams) -> (Trajectory, first non-finite iteration)`` for ``spec``, cached.

    One per structure: every number is traced, so no value recompiles it.
    """
    if spec.steps != EXPLORER_STEPS:
        raise ValueError(
            f"explorer programs run {EXPLORER_STEPS} steps; got a spec of {spec.steps}"
        )
    run = make_trajectory(spec)

    def counted(key, hp: LinearHParams) -> tuple[Trajectory, jax.Array]:
        trace_count[spec] += 1  # runs while tracing only
        trajectory = run(key, hp)
        return trajectory, first_nonfinite_iteration(trajectory)

    return jax.jit(counted)


SERIES = ("signal", "noise", "signal_proj", "noise_proj", "utility", "expected_utility")


class Run(NamedTuple):
    """What the explorer draws for one :class:`Settings`.

    Attributes:
      spec: the game with the horizon shown (``steps = T``).
      hparams: its numbers.
      series: name -> per-iteration values ``[n]`` for each of :data:`SERIES`;
        ``n = T``, or the iterations before the run went non-finite.
      error: the :class:`NonFiniteTrajectoryError` message, or ``None``.
    """

    spec: LinearSpec
    hparams: LinearHParams
    series: dict[str, np.ndarray]
    error: str | None


def host_floats(hp: LinearHParams) -> LinearHParams:
    """Every field a NumPy scalar of JAX's default float dtype.

    The same types as :func:`toysim.config.as_float_arrays` (so the compiled
    program sees the same signature) without a device transfer per field.
    """
    import jax.numpy as jnp

    dtype = jnp.result_type(float)
    return LinearHParams(*(np.asarray(x, dtype=dtype) for x in hp))


def run_settings(settings: Settings) -> Run:
    """Validate, run the cached program for the settings' structure, keep the first ``T``.

    Raises:
      ConfigError: a setting is invalid. A run that goes non-finite does not
        raise: its finite prefix is returned with the error message.
    """
    spec_max, hp = game_of(settings)
    steps = int(settings.steps)
    spec = dataclasses.replace(spec_max, steps=steps)
    trajectory, first_bad = program(spec_max)(seed_key(settings.seed), host_floats(hp))
    first_bad = int(first_bad)
    error = None
    shown = steps
    if 0 < first_bad <= steps:
        # from the count the program returns: an eager check of the host arrays would
        # compile kernels for every new horizon
        error = str(nonfinite_error(first_bad, spec))
        shown = first_bad - 1
    values = jax.device_get(tuple(getattr(trajectory, name) for name in SERIES))
    series = {name: np.asarray(v[:shown]) for name, v in zip(SERIES, values, strict=True)}
    return Run(spec, hp, series, error)
