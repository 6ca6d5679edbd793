"""Sweeps over several processes (hosts) joined by ``jax.distributed``.

Every process runs the same program on the same inputs (JAX's multi-controller model). The
batch of runs is one global array sharded over the devices of every process
(:func:`global_batch`); each process computes its devices' share, and
:func:`gather` brings the whole result to every process
(``jax.experimental.multihost_utils.process_allgather``; ``jax.device_get`` cannot read
shards that live in another process). Only process 0 writes files. On CPU the processes talk
through gloo collectives (JAX's default ``jax_cpu_collectives_implementation``).
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Join the cluster: ``jax.distributed.initialize`` before any computation.

    Args:
      coordinator: ``HOST:PORT`` of process 0's coordination service; with ``num_processes``
        and ``process_id`` given explicitly. All three ``None``: JAX detects the cluster
        (SLURM, Open MPI, TPU pods and the other environments it knows).
      num_processes: how many processes take part.
      process_id: this process's index, ``0 <= process_id < num_processes``.
    """
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator, num_processes=num_processes, process_id=process_id
    )


def is_writer() -> bool:
    """Whether this process writes the results (process 0)."""
    return jax.process_index() == 0


def global_batch(values: np.ndarray, mesh: Mesh, spec: PartitionSpec) -> jax.Array:
    """``values`` (the same on every process) as a global array laid out by ``spec`` on ``mesh``;
    each process places only the shards of its own devices."""
    return jax.make_array_from_callback(
        values.shape, NamedSharding(mesh, spec), lambda index: values[index]
    )


def gather(tree: Mapping[str, jax.Array]) -> dict[str, np.ndarray]:
    """Every global array of ``tree`` whole, as NumPy, on every process (a collective: all
    processes must call it)."""
    if jax.process_count() == 1:
        return jax.device_get(dict(tree))
    return {
        k: np.asarray(v)
        for k, v in multihost_utils.process_allgather(dict(tree), tiled=True).items()
    }


def agree(values: np.ndarray) -> np.ndarray:
    """Process 0's ``values`` on every process (``broadcast_one_to_all``), so that decisions
    taken from process 0's files (which chunks are done) are the same everywhere."""
    if jax.process_count() == 1:
        return values
    return np.asarray(multihost_utils.broadcast_one_to_all(values))


def preempted(step: int) -> bool:
    """Whether every process should stop after step ``step`` (a count of chunks computed, the
    same on every process): in a multi-process run, JAX's preemption service catches SIGTERM
    on any process and agrees on the first step all processes can stop after
    (``multihost_utils.reached_preemption_sync_point``); with one process, never (SIGTERM is
    then the command's own signal handler's)."""
    if jax.process_count() == 1:
        return False
    return multihost_utils.reached_preemption_sync_point(step)
