"""Memory a run or a sweep needs, estimated before anything compiles.

The sizes come from ``jax.eval_shape`` of the very function that will run (traced for
shapes only, never compiled or executed), so every record a trajectory keeps is counted:
``records x steps x seeds x dtype size`` for a run, ``metrics x grid points x seeds``
plus the runs in flight for a sweep; what a run computes beyond its records is bounded by
the values of its program's jaxpr (:func:`working_bytes`, also shapes only). The command
line refuses a request above a limit (default: :func:`available_bytes`, what this machine
has free) before compiling, and prints the estimate.
"""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jax_core

from toysim.config import ConfigError

GB = 1e9
RUNTIME_BYTES = 200_000_000
"""What JAX's runtime and compiler add to any run (measured: ~0.1-0.2 GB on CPU)."""
SAMPLED_RUNTIME_BYTES = 400_000_000
"""The same for a program of the sampled-buffer game, whose compilation takes more (measured
on CPU, a sweep of 2 x 2 runs of 20 iterations above an idle interpreter: 0.30-0.38 GB for
paper-nn and pairwise-nn with exact FPO, an ensemble of 3 with early stopping, expert
iteration)."""
HOST_TEMPORARIES = 8
"""Per run of a sweep, the 8-byte host arrays beside the hyperparameter columns: its index,
grid point, seed, key data and the temporaries that build them, and a grid axis column."""


def available_bytes() -> int:
    """The memory this machine has available now: ``MemAvailable`` of ``/proc/meminfo``,
    else the free physical pages (``os.sysconf``)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def tree_bytes(tree) -> int:
    """The bytes of every array (or ``jax.ShapeDtypeStruct``) in ``tree``."""
    return sum(
        math.prod(leaf.shape) * np.dtype(leaf.dtype).itemsize for leaf in jax.tree.leaves(tree)
    )


def trajectory_bytes(factory, spec, hp: tuple) -> int:
    """The bytes of one trajectory ``factory(spec)(key, hp)`` returns, ``a + b T`` for the
    horizon ``T = spec.steps``: the shapes of the trajectories of one and two iterations
    (``jax.eval_shape``, nothing computed) give ``a`` and ``b``, so any horizon costs the same."""
    from toysim.game.composition import with_steps

    key = jax.ShapeDtypeStruct((), jax.random.key(0).dtype)
    hp_shapes = jax.tree.map(lambda _: jax.ShapeDtypeStruct((), jnp.result_type(float)), hp)

    def size(steps: int) -> int:
        return tree_bytes(jax.eval_shape(factory(with_steps(spec, steps)), key, hp_shapes))

    one, two = size(1), size(2)
    return one + (two - one) * (spec.steps - 1)


def _jaxprs(eqn) -> list:
    """The jaxprs inside an equation (a loop's body, a branch, a nested call)."""
    inner = []
    for value in eqn.params.values():
        for v in value if isinstance(value, tuple | list) else (value,):
            if isinstance(v, jax_core.ClosedJaxpr):
                inner.append(v.jaxpr)
            elif isinstance(v, jax_core.Jaxpr):
                inner.append(v)
    return inner


def values_bytes(jaxpr) -> int:
    """The bytes of every value the equations of ``jaxpr`` compute, those of the jaxprs inside
    them (a loop's body, each branch) counted once each (random keys: none)."""
    total = 0
    for eqn in jaxpr.eqns:
        for var in eqn.outvars:
            aval = var.aval
            key = hasattr(aval, "dtype") and jax.dtypes.issubdtype(aval.dtype, jax.dtypes.prng_key)
            if hasattr(aval, "shape") and not key:
                total += math.prod(aval.shape) * np.dtype(aval.dtype).itemsize
        total += sum(values_bytes(inner) for inner in _jaxprs(eqn))
    return total


def working_bytes(factory, spec, hp: tuple) -> int:
    """An upper bound on the memory one run of ``factory(spec)`` computes in, its records
    included: every value its program computes (:func:`values_bytes` of its jaxpr) as if all
    were alive at once, a loop's body once. ``a + b T`` like :func:`trajectory_bytes` (the
    records and, under the ``accumulate`` regime, the follower's buffer grow with ``T``).

    Counts what no record shows: expert iteration's ``groups x max_n`` draws, early
    stopping's gold draws, the sampled-buffer game's buffer, reward-model parameters, Adam
    state and the activations of its loss, a curvature solve's vectors.
    """
    from toysim.game.composition import with_steps

    key = jax.ShapeDtypeStruct((), jax.random.key(0).dtype)
    hp_shapes = jax.tree.map(lambda _: jax.ShapeDtypeStruct((), jnp.result_type(float)), hp)

    def size(steps: int) -> int:
        run = factory(with_steps(spec, steps))
        return values_bytes(jax.make_jaxpr(run)(key, hp_shapes).jaxpr)

    one, two = size(1), size(2)
    return one + (two - one) * (spec.steps - 1)


def runtime_bytes(spec) -> int:
    """:data:`SAMPLED_RUNTIME_BYTES` for the sampled-buffer game (or a composition of it),
    else :data:`RUNTIME_BYTES`."""
    from toysim.game.composition import game_of
    from toysim.game.sampled import SampledSpec

    return SAMPLED_RUNTIME_BYTES if isinstance(game_of(spec), SampledSpec) else RUNTIME_BYTES


def run_bytes(factory, spec, hp: tuple, seeds: int) -> int:
    """The memory ``seeds`` runs of ``factory(spec)`` need: each run's program
    (:func:`working_bytes`, its records included) and the host's copy of its trajectory,
    and the runtime's (:func:`runtime_bytes`)."""
    per_run = trajectory_bytes(factory, spec, hp) + working_bytes(factory, spec, hp)
    return seeds * per_run + runtime_bytes(spec)


def sweep_bytes(programs, runs: int, chunk: int, devices: int) -> int:
    """The memory a sweep needs: ``runs`` runs (grid points x seeds) of each of its compiled
    ``programs``, ``(spec, hparams)`` pairs (one per combination of static values).

    Counted: the host's columns of every program (every hyperparameter and
    :data:`HOST_TEMPORARIES` per run), the metrics (twice: per chunk, then concatenated),
    and, for the program that needs most, each chunk's inputs and outputs on the device and
    the runs in flight (``devices x`` one block of :func:`toysim.sweep.summary_block` runs),
    each computing in :func:`working_bytes` of its summary's scalar records, and the
    runtime's (:func:`runtime_bytes`).
    """
    from toysim.game.composition import scalar_records
    from toysim.game.trajectory import make_trajectory
    from toysim.sweep import summary_block

    itemsize = jnp.dtype(jnp.result_type(float)).itemsize
    chunk = min(chunk, runs)
    padded = math.ceil(runs / chunk) * chunk
    host, device, runtime = 0, 0, 0
    for spec, hp in programs:
        factory, scalars = make_trajectory, scalar_records(spec)
        numbers = len(jax.tree.leaves(hp))
        series = trajectory_bytes(factory, scalars, hp) // spec.steps  # >= one per summary
        in_flight = devices * min(summary_block(spec), math.ceil(chunk / devices))
        working = working_bytes(factory, scalars, hp)
        host += padded * (numbers + HOST_TEMPORARIES) * 8 + 2 * runs * series
        device = max(device, chunk * (numbers * itemsize + 8 + series) + in_flight * working)
        runtime = max(runtime, runtime_bytes(spec))
    return host + device + runtime


def check_memory(needed: int, limit: float | None, what: str) -> None:
    """Refuse ``what`` if it needs more than ``limit`` bytes (``None``: what is available).

    Raises:
      ConfigError: with the estimate, the limit and how to raise it.
    """
    limit = available_bytes() if limit is None else limit
    if needed > limit:
        raise ConfigError(
            f"{what} needs an estimated {needed / GB:.3g} GB of memory, above the limit of "
            f"{limit / GB:.3g} GB (this machine's available memory unless --max-memory GB "
            "says otherwise): use fewer steps, seeds or grid points, or raise --max-memory"
        )
