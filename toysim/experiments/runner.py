"""One game over seeds: ``jit(vmap)`` over the seeds' keys (:func:`toysim.seeds.seed_keys`),
then the non-finite check.

Every experiment runs its games through :func:`run_seeds` (a batch of seeds)
or :func:`run_seed` (one seed, unbatched). Hyperparameters are traced, so each
(trajectory factory, spec) pair compiles once and is cached: running the same
game with other numbers reuses the compiled program. A run that went NaN or
infinite raises :class:`~toysim.game.records.NonFiniteTrajectoryError`
naming the first bad iteration.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence

import jax

from toysim.config import validate
from toysim.game.records import raise_if_nonfinite
from toysim.game.trajectory import make_trajectory
from toysim.seeds import seed_key, seed_keys

TrajectoryFactory = Callable[..., Callable]
"""``factory(spec) -> run(key, hp) -> trajectory``, e.g. :func:`toysim.make_trajectory`."""


@functools.lru_cache(maxsize=64)
def compiled_seeds(spec: Hashable, factory: TrajectoryFactory = make_trajectory) -> Callable:
    """``jit(vmap(factory(spec), in_axes=(0, None)))``: keys batched, hyperparameters shared
    and traced; one per ``(spec, factory)``."""
    return jax.jit(jax.vmap(factory(spec), in_axes=(0, None)))


@functools.lru_cache(maxsize=64)
def compiled_seed(spec: Hashable, factory: TrajectoryFactory = make_trajectory) -> Callable:
    """``jit(factory(spec))``: one unbatched run, hyperparameters traced; one per
    ``(spec, factory)``."""
    return jax.jit(factory(spec))


def run_seeds(
    spec: Hashable,
    hp: tuple,
    seeds: int | Sequence[int],
    factory: TrajectoryFactory | None = None,
) -> tuple:
    """The trajectories of ``spec`` with hyperparameters ``hp`` for each seed, batched.

    Args:
      spec: the game's static structure (hashable; one compile per spec).
      hp: its hyperparameters, a NamedTuple (traced, shared by every seed).
      seeds: a count ``n`` (seeds ``0..n-1``) or the seeds themselves.
      factory: builds ``run(key, hp)`` from ``spec`` (default:
        :func:`toysim.game.trajectory.make_trajectory`, either game's).

    Returns:
      The trajectory (a NamedTuple pytree) with a leading seed axis.

    Raises:
      ConfigError: a field of ``spec`` or ``hp`` (or a seed) is invalid.
      NonFiniteTrajectoryError: a run went NaN or infinite (the message names the
        iteration and the run's index in the batch).
    """
    validate(spec, hp)
    factory = factory or make_trajectory
    trajectory = compiled_seeds(spec, factory)(seed_keys(seeds), hp)
    raise_if_nonfinite(trajectory, spec)
    return trajectory


def simulate(spec: Hashable, hp: tuple, seed: int) -> tuple:
    """Validate, run one jit-compiled trajectory of ``spec`` (any game, or a composition of
    one) from the key of ``seed``, and refuse to return non-finite numbers: :func:`run_seed`
    with the game's own trajectory, the name the tutorials use (``toysim.simulate``).

    Raises:
      ConfigError: a field of ``spec`` or ``hp`` is invalid.
      NonFiniteTrajectoryError: the trajectory went non-finite; the message
        gives the first iteration at which it did.
    """
    return run_seed(spec, hp, seed)


def run_seed(
    spec: Hashable, hp: tuple, seed: int, factory: TrajectoryFactory | None = None
) -> tuple:
    """One unbatched trajectory of ``spec`` from the key of ``seed`` (``toysim.seeds.seed_key``).

    Same as :func:`run_seeds` for a single seed, without the batch axis (and
    without vmap, so the compiled program is the unbatched one).

    Raises:
      NonFiniteTrajectoryError: the run went NaN or infinite (the message names the
        iteration).
    """
    validate(spec, hp)
    factory = factory or make_trajectory
    trajectory = compiled_seed(spec, factory)(seed_key(seed), hp)
    raise_if_nonfinite(trajectory, spec)
    return trajectory
