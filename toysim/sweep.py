"""Sweeps: a grid of hyperparameters times seeds, one compiled computation per program.

:func:`sweep` does it in one call; the command line uses its three steps, so that it can save
each chunk as it finishes and resume: :func:`plan_sweep` lays the runs out in chunks,
:func:`run_chunks` computes the chosen chunks, :func:`assemble` joins them into a
:class:`SweepResult` (saved and loaded by :mod:`toysim.sweeps.store`).

A sweep runs either game, plain or composed with a leader and mitigations
(:class:`~toysim.game.composition.Composition`), through
:func:`toysim.game.trajectory.make_trajectory`. Every run of the grid's
traced axes is the same compiled ``jit(vmap(run))`` (hyperparameters, a composition's
stopping and expert numbers included, are traced); each value of a static axis (a
composition's ``n``, ``groups``, ``members``, ``gold_budget``: :mod:`toysim.sweeps.grid`)
is one more compiled program. Runs go chunk by chunk, so memory stays
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
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from toysim.config import ConfigError, LinearSpec, validate
from toysim.game.composition import Composition, game_of, scalar_records
from toysim.game.followers import regime_blocks
from toysim.game.records import first_nonfinite_iteration
from toysim.game.sampled import SampledSpec, network_model
from toysim.game.trajectory import block_size, make_trajectory
from toysim.model.metrics import COLLAPSE_DROP, collapsed
from toysim.provenance import numbers as flat_numbers
from toysim.seeds import key_from_data, seed_key_data
from toysim.sweeps import cluster
from toysim.sweeps.grid import ALIASES, parse_grid, resolve_grid, with_axis
from toysim.sweeps.store import (
    SUMMARY_FIELDS,
    SweepFileError,
    SweepResult,
    load_sweep,
    save_sweep,
)

__all__ = [
    "ALIASES",
    "SUMMARY_FIELDS",
    "SweepPlan",
    "SweepResult",
    "assemble",
    "batch_mesh",
    "compiled_summary",
    "default_chunk",
    "load_sweep",
    "make_summary",
    "parse_grid",
    "plan_sweep",
    "run_chunks",
    "save_sweep",
    "summary_block",
    "sweep",
]

FINAL_VALUES = {
    "final_signal": "signal",
    "final_noise": "noise",
    "final_utility": "utility",
    "final_expected_utility": "expected_utility",
    "final_proxy_reward": "proxy_reward",
    "final_ideal_reward": "ideal_reward",
    "final_biased_noise": "biased_noise",
    "stopped": "stopped",
    "gold_spent": "gold_spent",
    "final_kl": "kl",
}
"""Each summary that is a record's final value, and the record (a run summarises those its
trajectory records: the sampled-buffer game has no expected utility, a composition no
ideal reward, only a composition's runs record early stopping, only expert iteration's KL)."""


def make_summary(spec):
    """``summary(key_data, hp, drop) -> dict`` of one run's final values, in the order of
    :data:`SUMMARY_FIELDS` (jit- and vmap-ready; ``key_data`` is a seed's
    :func:`toysim.seeds.seed_key_data`); ``spec`` a game of either kind or a composition."""
    run = make_trajectory(scalar_records(spec))

    def summary(key_data, hp, drop):
        t = run(key_from_data(key_data), hp)
        max_utility = jnp.max(t.utility)
        values = {
            name: getattr(t, record)[-1]
            for name, record in FINAL_VALUES.items()
            if getattr(t, record) is not None
        }
        values.update(
            max_utility=max_utility,
            collapsed=collapsed(t.utility[-1], max_utility, drop),
            nonfinite_at=first_nonfinite_iteration(t),
        )
        return {name: values[name] for name in SUMMARY_FIELDS if name in values}

    return summary


def summary_block(spec) -> int:
    """Runs per block of a device's share (:func:`compiled_summary`):
    :func:`~toysim.game.trajectory.block_size` of the widest array one run holds: ``d``;
    expert iteration's ``groups x max_n`` draws and early stopping's ``gold_budget`` draws
    in ``R^d``; in the sampled-buffer game the reward models' parameters and the follower's
    buffer (``blocks x samples x d``, twice for pairs)."""
    game = game_of(spec)
    widths = [game.dim]
    if isinstance(spec, Composition):
        widths.append(spec.gold_budget * game.dim)
        if spec.leader == "expert":
            widths.append(spec.groups * spec.max_n * game.dim)
    if isinstance(game, SampledSpec):
        members = spec.members if isinstance(spec, Composition) else 1
        model = network_model(game)
        shapes = jax.eval_shape(lambda key: model.init(key, jnp.float32), jax.random.key(0))
        widths.append(members * sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes)))
        window = game.buffer_size // game.samples_per_step
        blocks = regime_blocks(game.regime, window, game.steps)
        pair = 2 if game.data == "pairs" else 1
        widths.append(blocks * game.samples_per_step * pair * game.dim)
    return block_size(max(widths), jnp.dtype(jnp.result_type(float)).itemsize)


CHUNK = 8192
"""Runs per compiled call of a linear game's sweep, unless told otherwise."""
SAMPLED_CHUNK = 256
"""Runs per compiled call of a sampled-buffer game's sweep: each run costs about a hundred
linear ones, so a chunk (the unit a sweep saves and resumes from) stays minutes long."""


def default_chunk(spec) -> int:
    """:data:`SAMPLED_CHUNK` for the sampled-buffer game (or a composition of it), else
    :data:`CHUNK`."""
    return SAMPLED_CHUNK if isinstance(game_of(spec), SampledSpec) else CHUNK


@functools.lru_cache(maxsize=32)
def compiled_summary(spec, mesh: Mesh):
    """The summaries of a batch of runs, jitted; one per (spec, mesh), so repeated sweeps of the
    same game reuse the compiled program.

    The batch is split evenly over the devices of ``mesh`` (``jax.shard_map``), and each device
    runs its share in blocks of :func:`summary_block` runs (``jax.lax.map``), so that a
    block's state stays in cache (docs/results/benchmarks.md).
    """
    summary = make_summary(spec)
    block = summary_block(spec)

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

    The runs of each compiled program (one per combination of the static axes' values, in
    order) take ``point_chunks`` consecutive chunks; a chunk never mixes two programs.

    Attributes:
      specs: each program's game (a composition's static fields set).
      seed: the key data of each run's seed (:func:`toysim.seeds.seed_key_data`,
        ``[runs, 2]`` uint32) within a program, padded to ``point_chunks * chunk`` runs
        (the same for every program).
      hparams: each program's hyperparameters, one padded column per number.
      drop: the collapse rule's relative drop.
      axes: the grid axes in the order given, then ``seed``.
      static: the static axes among them.
      total: the number of runs, ``prod(grid) * seeds`` (the rest is padding).
      chunk: runs per compiled call (a multiple of the device count).
      n_chunks: compiled calls.
      mesh: the 1-D ``batch`` mesh the runs are sharded over.
      config: the description saved with the result.
    """

    specs: tuple
    seed: np.ndarray
    hparams: tuple
    drop: float
    axes: dict[str, np.ndarray]
    static: tuple[str, ...]
    total: int
    chunk: int
    n_chunks: int
    mesh: Mesh
    config: dict

    @property
    def spec(self):
        """The first program's game (the method and horizon every program shares)."""
        return self.specs[0]

    @property
    def point_chunks(self) -> int:
        """Chunks per compiled program."""
        return self.n_chunks // len(self.specs)


def plan_sweep(
    spec: LinearSpec | SampledSpec | Composition,
    hp: tuple,
    grid: Mapping[str, Sequence[float]],
    seeds: int,
    *,
    collapse_drop: float = COLLAPSE_DROP,
    chunk_size: int = CHUNK,
    first_seed: int = 0,
    mesh: Mesh | None = None,
) -> SweepPlan:
    """Lay out the runs of :func:`sweep` in chunks, validating every value.

    Args:
      spec: the game (static; one compilation for the whole sweep, one per combination of
        the static axes' values): a :class:`~toysim.config.LinearSpec`, a
        :class:`~toysim.game.sampled.SampledSpec` or a
        :class:`~toysim.game.composition.Composition` of either.
      hp: base hyperparameters (of the same game, or its
        :class:`~toysim.game.composition.CompositionParams`); the grid overrides its named
        fields.
      grid: axis name -> values (:func:`toysim.sweeps.grid.axis_name`: a hyperparameter or
        its alias, a composition's traced number or static field); may be empty (seeds
        only).
      seeds: seeds per grid point, ``first_seed, first_seed + 1, ...``.
      collapse_drop: the collapse rule's relative drop from peak utility.
      chunk_size: runs per compiled call (rounded up to a multiple of the
        device count); the last chunk is padded, never recompiled.
      mesh: a 1-D ``batch`` mesh (default: all devices, of every process).

    Raises:
      ConfigError: naming the first invalid argument, grid axis or hyperparameter.
    """
    if not isinstance(seeds, numbers.Integral) or isinstance(seeds, bool) or seeds < 1:
        raise ConfigError(f"seeds must be an integer >= 1; got {seeds!r}")
    seeds = int(seeds)
    if not 0 < collapse_drop < 1:
        raise ConfigError(f"collapse_drop must be in (0, 1); got {collapse_drop!r}")
    resolved = resolve_grid(spec, hp, grid)
    traced = {k: v for k, v in resolved.axes.items() if k not in resolved.static}
    shape = tuple(len(v) for v in traced.values())
    per_point = (int(np.prod(shape)) if shape else 1) * seeds
    mesh = mesh or batch_mesh()
    n_dev = mesh.devices.size
    chunk = int(math.ceil(min(chunk_size, per_point) / n_dev) * n_dev)
    point_chunks = int(math.ceil(per_point / chunk))
    padded = point_chunks * chunk

    index = np.arange(padded) % per_point  # padding repeats the first runs
    point = index // seeds
    seed = seed_key_data(first_seed + index % seeds)
    coords = np.unravel_index(point, shape) if shape else ()
    columns = []
    for point_spec, point_hp in resolved.points:
        batch_hp = jax.tree.map(lambda v: np.full(padded, float(v)), point_hp)
        for (name, values), c in zip(traced.items(), coords, strict=True):
            batch_hp = with_axis(batch_hp, name, values[c])
        validate(point_spec, jax.tree.map(lambda v: v[:per_point], batch_hp))
        columns.append(batch_hp)
    config = {
        "spec": dataclasses.asdict(spec),
        "base_hparams": flat_numbers(hp),
        "collapse_rule": f"final utility < (1 - {collapse_drop}) * max utility over the run",
        "first_seed": first_seed,
        "devices": int(n_dev),
        "chunk_size": chunk,
    }
    if resolved.static:
        config["static_axes"] = list(resolved.static)
    axes = {**resolved.axes, "seed": np.arange(first_seed, first_seed + seeds)}
    specs = tuple(point_spec for point_spec, _ in resolved.points)
    return SweepPlan(
        specs, seed, tuple(columns), collapse_drop, axes, resolved.static,
        per_point * len(specs), chunk, point_chunks * len(specs), mesh, config,
    )  # fmt: skip


def _on_devices(column: np.ndarray, sl: slice, mesh: Mesh, dtype) -> jax.Array:
    """``column[sl]`` in ``dtype``, a global batch over ``mesh``."""
    return cluster.global_batch(column[sl].astype(dtype), mesh, PartitionSpec("batch"))


def run_chunks(plan: SweepPlan, indices: Iterable[int]) -> Iterator[tuple[int, dict]]:
    """Compute the chunks ``indices`` of ``plan`` in order, one compiled call each (the
    program of the chunk's combination of static values).

    Every process of a multi-process run must call this with the same indices (each
    computes its devices' share; :func:`toysim.sweeps.cluster.gather` joins them).

    Yields:
      ``(index, summaries)``: summary name -> NumPy array of the chunk's ``plan.chunk`` runs.
    """
    dtype = np.dtype(jnp.result_type(float))
    batch = PartitionSpec("batch")
    drop = cluster.global_batch(np.asarray(plan.drop, dtype=dtype), plan.mesh, PartitionSpec())
    for i in indices:
        program, within = divmod(i, plan.point_chunks)
        run = compiled_summary(plan.specs[program], plan.mesh)
        sl = slice(within * plan.chunk, (within + 1) * plan.chunk)
        on_devices = functools.partial(_on_devices, sl=sl, mesh=plan.mesh, dtype=dtype)
        hp = jax.tree.map(on_devices, plan.hparams[program])
        out = run(cluster.global_batch(plan.seed[sl], plan.mesh, batch), hp, drop)
        yield i, cluster.gather(out)


def assemble(plan: SweepPlan, chunks: Mapping[int, Mapping[str, np.ndarray]]) -> SweepResult:
    """The labelled result from every chunk of ``plan`` (index -> summaries), padding dropped,
    axes in the order of ``plan.axes``.

    Raises:
      SweepFileError: a chunk holds other summaries than the first.
    """
    ordered = [chunks[i] for i in range(plan.n_chunks)]
    names = list(ordered[0])
    for i, chunk in enumerate(ordered):
        if list(chunk) != names:
            raise SweepFileError(f"chunk {i} holds the summaries {list(chunk)}, chunk 0 {names}")
    per_point = plan.total // len(plan.specs)
    inner = [name for name in plan.axes if name not in plan.static]  # traced axes, then seed
    layout = [*plan.static, *inner]
    shape = tuple(len(plan.axes[name]) for name in layout)
    order = [layout.index(name) for name in plan.axes]
    k = plan.point_chunks
    metrics = {}
    for name in names:
        points = [
            np.concatenate([c[name] for c in ordered[p * k : (p + 1) * k]])[:per_point]
            for p in range(len(plan.specs))
        ]
        metrics[name] = np.concatenate(points).reshape(shape).transpose(order)
    return SweepResult(dict(plan.axes), metrics, dict(plan.config))


def sweep(
    spec: LinearSpec | SampledSpec | Composition,
    hp: tuple,
    grid: Mapping[str, Sequence[float]],
    seeds: int,
    *,
    progress: bool = False,
    **layout: Any,
) -> SweepResult:
    """Run every point of ``grid`` (a Cartesian product) with ``seeds`` seeds.

    Args:
      spec: the game (:func:`plan_sweep`).
      hp: its base hyperparameters.
      grid: axis name -> values.
      seeds: seeds per grid point.
      progress: show a tqdm bar over chunks.
      **layout: :func:`plan_sweep`'s keywords (``collapse_drop``, ``chunk_size``,
        ``first_seed``, ``mesh``).
    """
    plan = plan_sweep(spec, hp, grid, seeds, **layout)
    chunks = run_chunks(plan, range(plan.n_chunks))
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc="sweep", unit="chunk", total=plan.n_chunks)
    return assemble(plan, dict(chunks))
