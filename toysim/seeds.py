"""Seeds to PRNG keys: one derivation, the same key in float32 and float64 for every seed.

``jax.random.key(seed)`` (threefry) packs a seed into the key data
``[seed >> 32, seed mod 2^32]``, but without x64 a Python seed is first cast to 32 bits,
so seeds alias modulo ``2**32`` in float32. :func:`seed_keys` builds the key data from
the 64-bit seed on the host instead: for every seed in ``[0, 2**63)`` it equals
``jax.random.key(seed)`` under x64, and for seeds below ``2**32`` it equals
``jax.random.key(seed)`` in both precisions, so every existing result is unchanged.
Every runner, sweep and command line run derives its keys here.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import jax
import numpy as np

from toysim.config import ConfigError

SEED_LIMIT = 2**63
"""Seeds are integers in ``[0, SEED_LIMIT)`` (a signed 64-bit integer)."""


def checked_seed(seed: object) -> int:
    """``seed`` as a Python int if it is an integer (Python or NumPy) in ``[0, 2**63)``.

    Raises:
      ConfigError: naming the seed and the allowed range.
    """
    try:
        value = operator.index(seed)
    except TypeError:
        value = None
    if value is None or isinstance(seed, bool) or not 0 <= value < SEED_LIMIT:
        raise ConfigError(f"seed must be an integer in [0, 2**63); got {seed!r}")
    return value


def seed_key_data(seeds: Sequence[int] | np.ndarray) -> np.ndarray:
    """The threefry key data ``[hi, lo]`` of each seed, ``hi = seed >> 32``, ``lo = seed mod
    2^32``: a ``[len(seeds), 2]`` uint32 array (what ``jax.random.key`` builds under x64).

    Args:
      seeds: integers (Python or NumPy), or an integer array (checked at once, for a sweep).

    Raises:
      ConfigError: a seed is not an integer in ``[0, 2**63)``.
    """
    if isinstance(seeds, np.ndarray) and np.issubdtype(seeds.dtype, np.integer):
        if seeds.size and (seeds.min() < 0 or seeds.max() >= SEED_LIMIT):
            checked_seed(int(seeds.min()) if seeds.min() < 0 else int(seeds.max()))
        values = seeds.astype(np.uint64).reshape(-1)
    else:
        values = np.asarray([checked_seed(s) for s in seeds], dtype=np.uint64).reshape(-1)
    return np.stack([values >> np.uint64(32), values & np.uint64(0xFFFFFFFF)], axis=-1).astype(
        np.uint32
    )


def key_from_data(data: jax.Array) -> jax.Array:
    """The typed threefry keys whose data is ``data`` (``[..., 2]`` uint32; traceable)."""
    return jax.random.wrap_key_data(data, impl="threefry2x32")


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """The seeds of a run: ``0, ..., seeds - 1`` for a count, else the given seeds, each
    checked by :func:`checked_seed`.

    Raises:
      ValueError: ``seeds`` is a count below 1 or an empty sequence.
      ConfigError: a seed is not an integer in ``[0, 2**63)``.
    """
    if isinstance(seeds, int | np.integer):
        if seeds < 1:
            raise ValueError(f"seeds must be an integer >= 1 or a list of seeds; got {seeds!r}")
        return list(range(int(seeds)))
    out = [checked_seed(s) for s in seeds]
    if not out:
        raise ValueError(f"seeds must be non-negative integers, at least one; got {seeds!r}")
    return out


def seed_keys(seeds: int | Sequence[int]) -> jax.Array:
    """The PRNG keys of ``seeds`` (a count means ``0, ..., seeds - 1``; see :func:`seed_list`),
    stacked: distinct seeds give distinct keys in either precision (see the module docstring)."""
    return key_from_data(seed_key_data(seed_list(seeds)))


def seed_key(seed: int) -> jax.Array:
    """The PRNG key of one seed (a scalar key): :func:`seed_keys` of ``[seed]``, unstacked."""
    return seed_keys([seed])[0]
