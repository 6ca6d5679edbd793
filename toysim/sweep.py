"""Sweeps: a grid of numeric hyperparameters times seeds, as one compiled computation.

:func:`sweep` does it in one call; the command line uses its three steps, so that it can save
each chunk as it finishes and resume: :func:`plan_sweep` lays the runs out in chunks,
:func:`run_chunks` computes the chosen chunks, :func:`assemble` joins them into a
:class:`SweepResult` (saved and loaded by :mod:`toysim.sweeps.store`).

Every run of a sweep is the same compiled ``jit(vmap(run))`` (hyperparameters
are traced), applied chunk by chunk so memory stays
bounded, with the batch axis sharded over every available device through
``jax.sharding`` (one CPU or many accelerators: the same code path). Each run
is reduced to its summary (final values, peak utility, collapse flag) inside
the compiled function, so only a few numbers per run come back to the host.

A run has **collapsed** when its final true utility is below ``1 - drop``
times the highest utility it reached (:func:`toysim.model.metrics.collapsed`; ``drop``
defaults to :data:`~toysim.model.metrics.COLLAPSE_DROP`, 0.2): it got somewhere good, then
drifted away, the signature of alignment collapse. A policy that never gets anywhere (an
over-tight KL leash) is not collapsed; its ``max_utility`` stays low instead.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from toysim.config import ConfigError, GameSpec, HParams, validate
from toysim.game.records import first_nonfinite_iteration
from toysim.game.trajectory import block_size, make_trajectory
from toysim.model.metrics import COLLAPSE_DROP, collapsed
from toysim.seeds import key_from_data, seed_key_data
from toysim.sweeps import cluster
from toysim.sweeps.store import SUMMARY_FIELDS, SweepResult, load_sweep, save_sweep

__all__ = [
    "ALIASES",
    "SUMMARY_FIELDS",
    "SweepPlan",
    "SweepResult",
    "assemble",
    "batch_mesh",
    "compiled_summary",
    "hparam_name",
    "load_sweep",
    "make_summary",
    "parse_grid",
    "plan_sweep",
    "run_chunks",
    "save_sweep",
    "sweep",
]

ALIASES = {
    "c": "action_cost",
    "lr": "leader_lr",
    "eta": "follower_lr",
    "lambda": "lam",
    "wd": "weight_decay",
    "bias": "rm_init_bias",
    "A": "amplitude",
}


def hparam_name(name: str) -> str:
    """The :class:`HParams` field for ``name`` (a field name or a short alias)."""
    field = ALIASES.get(name, name)
    if field not in HParams._fields:
        allowed = ", ".join([*HParams._fields, *(f"{k} (= {v})" for k, v in ALIASES.items())])
        raise ConfigError(f"grid name must be one of {allowed}; got {name!r}")
    return field


MAX_AXIS_VALUES = 10**8
"""The most values one grid axis may hold (refused before the axis is built: 0.8 GB)."""


def parse_grid(text: str) -> tuple[str, np.ndarray]:
    """``name=start:stop:num`` (evenly spaced, both ends included), ``name=log:start:stop:num``
    (geometrically spaced) or ``name=v1,v2,...``."""
    name, sep, spec = text.partition("=")
    if not sep or not spec:
        raise ConfigError(f"grid must look like name=start:stop:num or name=v1,v2; got {text!r}")
    field = hparam_name(name.strip())
    count = spec.split(":")[-1].strip() if spec.count(":") in (2, 3) else ""
    if count.isdigit() and int(count) > MAX_AXIS_VALUES:
        raise ConfigError(
            f"grid {name!r}: at most {MAX_AXIS_VALUES:.0e} values per axis; got {int(count)}"
        )
    try:
        parts = spec.split(":")
        if parts[0] == "log" and len(parts) == 4:
            values = np.geomspace(float(parts[1]), float(parts[2]), int(parts[3]))
        elif len(parts) == 3:
            values = np.linspace(float(parts[0]), float(parts[1]), int(parts[2]))
        elif len(parts) == 1:
            values = np.asarray([float(v) for v in spec.split(",")])
        else:
            raise ValueError(spec)
    except ValueError as err:
        raise ConfigError(
            f"grid {name!r}: expected start:stop:num, log:start:stop:num or v1,v2,...; got {spec!r}"
        ) from err
    if values.size < 1:
        raise ConfigError(f"grid {name!r} has no values: {spec!r}")
    return field, values


def make_summary(spec: GameSpec):
    """``summary(key_data, hp, drop) -> dict`` of one run's final values (jit- and vmap-ready;
    ``key_data`` is a seed's :func:`toysim.seeds.seed_key_data`)."""
    run = make_trajectory(dataclasses.replace(spec, record="scalars", probes=()))

    def summary(key_data, hp, drop):
        t = run(key_from_data(key_data), hp)
        max_utility = jnp.max(t.utility)
        return {
            "final_signal": t.signal[-1],
            "final_noise": t.noise[-1],
            "final_utility": t.utility[-1],
            "max_utility": max_utility,
            "final_expected_utility": t.expected_utility[-1],
            "final_proxy_reward": t.proxy_reward[-1],
            "final_ideal_reward": t.ideal_reward[-1],
            "final_biased_noise": t.biased_noise[-1],
            "collapsed": collapsed(t.utility[-1], max_utility, drop),
            "nonfinite_at": first_nonfinite_iteration(t),
        }

    return summary


@functools.lru_cache(maxsize=32)
def compiled_summary(spec: GameSpec, mesh: Mesh):
    """The summaries of a batch of runs, jitted; one per (spec, mesh), so repeated sweeps of the
    same game reuse the compiled program.

    The batch is split evenly over the devices of ``mesh`` (``jax.shard_map``), and each device
    runs its share in blocks of :func:`~toysim.game.trajectory.block_size` runs
    (``jax.lax.map``), so that a block's state stays in cache (docs/results/benchmarks.md).
    """
    summary = make_summary(spec)
    block = block_size(spec.dim, jnp.dtype(jnp.result_type(float)).itemsize)

    def device_share(seeds, hp, drop):
        return jax.lax.map(
            lambda xs: summary(*xs, drop), (seeds, hp), batch_size=min(block, seeds.shape[0])
        )

    batch, replicated = PartitionSpec("batch"), PartitionSpec()
    return jax.jit(
        jax.shard_map(
            device_share,
            mesh=mesh,
            in_specs=(batch, batch, replicated),
            out_specs=batch,
            check_vma=False,  # the time loop's carry starts replicated, then varies per run
        )
    )


def batch_mesh(devices: Sequence | None = None) -> Mesh:
    """A 1-D mesh named ``batch`` over ``devices`` (default: every device JAX sees, those of
    every process in a multi-process run)."""
    return Mesh(np.asarray(devices if devices is not None else jax.devices()), ("batch",))


class SweepPlan(NamedTuple):
    """Every run of a sweep laid out in chunks, ready to compute (see :func:`plan_sweep`).

    Attributes:
      spec: the game.
      seed: the key data of each run's seed (:func:`toysim.seeds.seed_key_data`, ``[runs, 2]``
        uint32), padded to ``n_chunks * chunk`` runs.
      hparams: the hyperparameters of each run, one padded column per field.
      drop: the collapse rule's relative drop.
      axes: the grid axes, then ``seed``.
      total: the number of runs, ``prod(grid) * seeds`` (the rest is padding).
      chunk: runs per compiled call (a multiple of the device count).
      n_chunks: compiled calls.
      mesh: the 1-D ``batch`` mesh the runs are sharded over.
      config: the description saved with the result.
    """

    spec: GameSpec
    seed: np.ndarray
    hparams: HParams
    drop: float
    axes: dict[str, np.ndarray]
    total: int
    chunk: int
    n_chunks: int
    mesh: Mesh
    config: dict


def plan_sweep(
    spec: GameSpec,
    hp: HParams,
    grid: Mapping[str, Sequence[float]],
    seeds: int,
    *,
    collapse_drop: float = COLLAPSE_DROP,
    chunk_size: int = 8192,
    first_seed: int = 0,
    mesh: Mesh | None = None,
) -> SweepPlan:
    """Lay out the runs of :func:`sweep` (same arguments) in chunks, validating every value.

    Raises:
      ConfigError: naming the first invalid argument or hyperparameter.
    """
    if not isinstance(seeds, numbers.Integral) or isinstance(seeds, bool) or seeds < 1:
        raise ConfigError(f"seeds must be an integer >= 1; got {seeds!r}")
    seeds = int(seeds)
    if not 0 < collapse_drop < 1:
        raise ConfigError(f"collapse_drop must be in (0, 1); got {collapse_drop!r}")
    axes = {hparam_name(k): np.asarray(v, dtype=float).ravel() for k, v in grid.items()}
    shape = tuple(len(v) for v in axes.values())
    total = (int(np.prod(shape)) if shape else 1) * seeds
    mesh = mesh or batch_mesh()
    n_dev = mesh.devices.size
    chunk = int(math.ceil(min(chunk_size, total) / n_dev) * n_dev)
    n_chunks = int(math.ceil(total / chunk))
    padded = n_chunks * chunk

    index = np.arange(padded) % total  # padding repeats the first runs
    point = index // seeds
    seed = seed_key_data(first_seed + index % seeds)
    coords = np.unravel_index(point, shape) if shape else ()
    columns = {name: values[c] for (name, values), c in zip(axes.items(), coords, strict=True)}
    base = {k: np.full(padded, float(v)) for k, v in hp._asdict().items()}
    batch_hp = HParams(**{**base, **columns})
    validate(spec, HParams(*(v[:total] for v in batch_hp)))
    config = {
        "spec": dataclasses.asdict(spec),
        "base_hparams": {k: float(v) for k, v in hp._asdict().items()},
        "collapse_rule": f"final utility < (1 - {collapse_drop}) * max utility over the run",
        "first_seed": first_seed,
        "devices": int(n_dev),
        "chunk_size": chunk,
    }
    axes["seed"] = np.arange(first_seed, first_seed + seeds)
    return SweepPlan(
        spec, seed, batch_hp, collapse_drop, axes, total, chunk, n_chunks, mesh, config
    )


def run_chunks(plan: SweepPlan, indices: Iterable[int]) -> Iterator[tuple[int, dict]]:
    """Compute the chunks ``indices`` of ``plan`` in order, one compiled call each.

    Every process of a multi-process run must call this with the same indices (each
    computes its devices' share; :func:`toysim.sweeps.cluster.gather` joins them).

    Yields:
      ``(index, summaries)``: summary name -> NumPy array of the chunk's ``plan.chunk`` runs.
    """
    run = compiled_summary(plan.spec, plan.mesh)
    dtype = np.dtype(jnp.result_type(float))
    batch = PartitionSpec("batch")
    drop = cluster.global_batch(np.asarray(plan.drop, dtype=dtype), plan.mesh, PartitionSpec())
    for i in indices:
        sl = slice(i * plan.chunk, (i + 1) * plan.chunk)
        out = run(
            cluster.global_batch(plan.seed[sl], plan.mesh, batch),
            HParams(
                *(cluster.global_batch(v[sl].astype(dtype), plan.mesh, batch) for v in plan.hparams)
            ),
            drop,
        )
        yield i, cluster.gather(out)


def assemble(plan: SweepPlan, chunks: Mapping[int, Mapping[str, np.ndarray]]) -> SweepResult:
    """The labelled result from every chunk of ``plan`` (index -> summaries), padding dropped."""
    shape = tuple(len(v) for v in plan.axes.values())
    ordered = [chunks[i] for i in range(plan.n_chunks)]
    metrics = {
        name: np.concatenate([c[name] for c in ordered])[: plan.total].reshape(shape)
        for name in SUMMARY_FIELDS
    }
    return SweepResult(dict(plan.axes), metrics, dict(plan.config))


def sweep(
    spec: GameSpec,
    hp: HParams,
    grid: Mapping[str, Sequence[float]],
    seeds: int,
    *,
    collapse_drop: float = COLLAPSE_DROP,
    chunk_size: int = 8192,
    first_seed: int = 0,
    mesh: Mesh | None = None,
    progress: bool = False,
) -> SweepResult:
    """Run every point of ``grid`` (a Cartesian product) with ``seeds`` seeds.

    Args:
      spec: the game (static; one compilation for the whole sweep).
      hp: base hyperparameters; the grid overrides its named fields.
      grid: hyperparameter name (or alias) -> values; may be empty (seeds only).
      seeds: seeds per grid point, ``first_seed, first_seed + 1, ...``.
      collapse_drop: the collapse rule's relative drop from peak utility.
      chunk_size: runs per compiled call (rounded up to a multiple of the
        device count); the last chunk is padded, never recompiled.
      mesh: a 1-D ``batch`` mesh (default: all devices, of every process).
      progress: show a tqdm bar over chunks.
    """
    plan = plan_sweep(
        spec, hp, grid, seeds, collapse_drop=collapse_drop, chunk_size=chunk_size,
        first_seed=first_seed, mesh=mesh,
    )  # fmt: skip
    chunks = run_chunks(plan, range(plan.n_chunks))
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc="sweep", unit="chunk", total=plan.n_chunks)
    return assemble(plan, dict(chunks))
