"""Memory a run or a sweep needs, estimated before anything compiles.

The sizes come from ``jax.eval_shape`` of the very function that will run (traced for
shapes only, never compiled or executed), so every record a trajectory keeps is counted:
``records x steps x seeds x dtype size`` for a run, ``metrics x grid points x seeds``
plus the runs in flight for a sweep, and the follower's buffer each run holds while it runs
(``T`` samples under ``regime = accumulate``). The command line refuses a request above a limit
(default: :func:`available_bytes`, what this machine has free) before compiling, and
prints the estimate.
"""

from __future__ import annotations

import dataclasses
import math
import os

import jax
import jax.numpy as jnp
import numpy as np

from toysim.config import ConfigError

GB = 1e9
RUNTIME_BYTES = 200_000_000
"""What JAX's runtime and compiler add to any run (measured: ~0.1-0.2 GB on CPU)."""
BUFFER_COPIES = 7
"""How many buffers' worth of memory a run's follower holds at once: the loop's carry, its
next value and the temporaries built from the samples (the curvature's factor, the
residuals). Measured with XLA's ``memory_analysis`` of the compiled linear game under
``regime = accumulate`` (``T = 500 to 8,000``): at most 6.1 buffers (FPO on the Gauss-Newton
rung with the best-response follower; 5 on the exact rung, 3 to 4 with the SGD follower)."""
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


def draw_bytes(spec) -> int:
    """What one iteration holds that no record shows: expert iteration's ``groups x max_n``
    draws in ``R^d`` (each with its noise and the pair of outputs a pairwise score may form:
    three arrays of that size); 0 for any other run."""
    from toysim.game.composition import Composition

    if not isinstance(spec, Composition) or spec.leader != "expert":
        return 0
    itemsize = jnp.dtype(jnp.result_type(float)).itemsize
    return 3 * spec.groups * spec.max_n * spec.game.dim * itemsize


def buffer_bytes(spec) -> int:
    """The bytes of the follower's buffer in one run of ``spec`` (a game, or a
    :class:`~toysim.game.composition.Composition` of one), from the shapes of its empty
    buffer (nothing allocated): ``B`` samples under ``window``, one under ``replace``, all
    ``T`` under ``accumulate``; in the linear game every member of an ensemble has its own
    (the sampled-buffer game's members share one)."""
    from toysim.game.composition import Composition
    from toysim.game.followers import follower_buffer
    from toysim.game.sampled import NeuralSpec, sampled_buffer

    game = spec.game if isinstance(spec, Composition) else spec
    neural = isinstance(game, NeuralSpec)
    members = spec.members if isinstance(spec, Composition) and not neural else 1
    empty = sampled_buffer if neural else follower_buffer
    return members * tree_bytes(jax.eval_shape(lambda: empty(game, jnp.result_type(float))))


def run_bytes(factory, spec, hp: tuple, seeds: int) -> int:
    """The memory ``seeds`` runs of ``factory(spec)`` need: twice their trajectories (the
    device's result and the host's copy), one iteration's expert draws (:func:`draw_bytes`)
    and :data:`BUFFER_COPIES` follower buffers (:func:`buffer_bytes`) per run, and
    :data:`RUNTIME_BYTES`."""
    per_run = 2 * trajectory_bytes(factory, spec, hp) + draw_bytes(spec)
    per_run += BUFFER_COPIES * buffer_bytes(spec)
    return seeds * per_run + RUNTIME_BYTES


def sweep_bytes(spec, hp: tuple, runs: int, chunk: int, devices: int) -> int:
    """The memory a sweep of ``runs`` runs (grid points x seeds) of ``spec`` needs.

    Counted: the host's columns (every hyperparameter and :data:`HOST_TEMPORARIES` per run),
    the metrics (twice: per chunk, then concatenated), each chunk's inputs and outputs on the
    device, the runs in flight, each recording its scalars over the ``spec.steps``
    iterations and holding :data:`BUFFER_COPIES` follower buffers (``devices x`` one block
    of :func:`~toysim.game.trajectory.block_size` runs), and :data:`RUNTIME_BYTES`.
    """
    from toysim.game.trajectory import block_size, make_trajectory

    itemsize = jnp.dtype(jnp.result_type(float)).itemsize
    scalars = dataclasses.replace(spec, record="scalars", probes=())
    per_run = trajectory_bytes(make_trajectory, scalars, hp)
    metrics = per_run // spec.steps  # at most one number per recorded series
    chunk = min(chunk, runs)
    padded = math.ceil(runs / chunk) * chunk
    columns = padded * (len(hp) + HOST_TEMPORARIES) * 8
    in_flight = devices * min(block_size(spec.dim, itemsize), math.ceil(chunk / devices))
    running = per_run + BUFFER_COPIES * buffer_bytes(spec)
    device = chunk * (len(hp) * itemsize + 8 + metrics) + in_flight * running
    return columns + 2 * runs * metrics + device + RUNTIME_BYTES


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
