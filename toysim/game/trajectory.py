"""Trajectories of either game: ``make_trajectory(spec)``, a pure ``run(key, hparams) ->
Trajectory``, and its batched form.

``make_trajectory`` follows purejaxrl's ``make_train`` pattern: the structure in ``spec``
is static, the numbers in ``hparams`` are traced, so ``jax.jit(jax.vmap(run))`` over seeds
or hyperparameter values compiles once. The library never jits; the caller does (or uses
:func:`toysim.simulate`, which also checks finiteness). Both games run through the one loop
of :mod:`toysim.game.loop`: the linear game's round is :mod:`toysim.game.linear_round`, the
sampled-buffer game's :mod:`toysim.game.sampled_round`.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from toysim.config import ConfigError, LinearHParams, LinearSpec
from toysim.game.composition import Composition, CompositionParams, game_of
from toysim.game.linear_round import linear_trajectory
from toysim.game.records import Trajectory
from toysim.game.sampled import SampledHParams, SampledSpec
from toysim.game.sampled_round import sampled_trajectory


def make_trajectory(
    spec: LinearSpec | SampledSpec | Composition,
) -> Callable[[Array, LinearHParams | SampledHParams | CompositionParams], Trajectory]:
    """A pure ``run(key, hparams) -> Trajectory`` of ``spec``: a game (the linear game's
    :class:`~toysim.config.LinearSpec` with :class:`~toysim.config.LinearHParams`, the
    sampled-buffer game's :class:`~toysim.game.sampled.SampledSpec` with
    :class:`~toysim.game.sampled.SampledHParams`) or a
    :class:`~toysim.game.composition.Composition` of one (with
    :class:`~toysim.game.composition.CompositionParams`).

    :func:`~toysim.game.linear_round.linear_trajectory` or
    :func:`~toysim.game.sampled_round.sampled_trajectory`, by the game's type; ``spec`` is
    validated here, ``hparams`` (traced) by :func:`toysim.simulate` or
    :func:`toysim.experiments.runner.run_seeds`.

    Raises:
      ConfigError: a field of ``spec`` is invalid.
    """
    sampled = isinstance(game_of(spec), SampledSpec)
    return sampled_trajectory(spec) if sampled else linear_trajectory(spec)


BLOCK_BYTES = 2**17
"""Bytes (128 KiB) one ``[chunk, d]`` array of a :func:`batched_trajectory` block may take.

About 20 such arrays pass through memory per iteration; at 128 KiB or less a
block's working set stays in one core's 512 KiB L2 cache through the whole
scan, where one ``[1024, d]`` float64 block (400 kB per array) spills to L3
on every pass (measured by ``python -m toysim bench``; docs/results/benchmarks.md).
"""


def block_size(dim: int, itemsize: int) -> int:
    """Runs per block: the largest power of two with ``runs * d * itemsize <= BLOCK_BYTES``.

    256 at ``d = 50`` in float64, 512 in float32; at least 1. A power of two
    divides the usual batch sizes, so no block is padded.
    """
    runs = max(1, BLOCK_BYTES // (dim * itemsize))
    return 1 << (runs.bit_length() - 1)


def batched_trajectory(spec: LinearSpec, chunk: int | None = None) -> Callable[..., Trajectory]:
    """A pure ``run_batch(keys, hparams) -> Trajectory`` over a batch of runs, ``chunk`` at a time.

    ``run_batch(keys, hp)`` equals ``jax.vmap(make_trajectory(spec))`` over
    ``keys`` (shape ``[B]``) and over every field of ``hp`` that has a
    leading ``[B]`` axis (scalar fields are shared by all runs): every field
    of the result has the leading axis ``B``. It is evaluated as
    ``jax.lax.map(..., batch_size=chunk)``: the time loop runs on ``chunk``
    runs at once, block after block, so that a block's state stays in cache.
    Each block is the ``vmap`` of ``chunk`` runs, so its numbers are those of
    ``jax.vmap(make_trajectory(spec))`` on ``chunk`` keys (a batched run may
    differ from a single one in the last bits, as under any ``vmap``).

    Args:
      spec: the game (static).
      chunk: runs per block (``>= 1``); ``None`` takes :func:`block_size` for
        ``spec.dim`` and the floating-point type in use.

    Returns:
      ``run_batch``, pure and not jitted: the caller jits it.
    """
    if chunk is not None and (not isinstance(chunk, int) or chunk < 1):
        raise ConfigError(f"chunk must be an integer >= 1 or None; got {chunk!r}")
    run = make_trajectory(spec)

    def run_batch(keys: Array, hp: LinearHParams) -> Trajectory:
        size = chunk or block_size(spec.dim, jnp.dtype(jnp.result_type(float)).itemsize)
        per_run = jax.tree.map(lambda x: jnp.ndim(x) > 0, hp)
        batched = jax.tree.map(lambda x, b: x if b else None, hp, per_run)

        def one(xs):
            key, fields = xs
            hp_one = jax.tree.map(lambda x, b, f: f if b else x, hp, per_run, fields)
            return run(key, hp_one)

        return jax.lax.map(one, (keys, batched), batch_size=min(size, keys.shape[0]))

    return run_batch
