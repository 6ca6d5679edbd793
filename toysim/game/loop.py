"""The iterated Stackelberg loop: ``T`` rounds of (leader move, follower update) in one
``lax.scan``, for either game, with early stopping's rollback and the climb written once.

A game supplies what one of its rounds does as a :class:`Round` of pure functions (in the
spirit of optax's ``init``/``update`` pairs: the state they pass on is theirs), and
:func:`play` runs ``T`` rounds. Round ``t``, with the round's key ``k_t``:

1. the leader moves from ``pi_t``: ``(pi', leader_state, seen) = leader(leader_state, pi_t,
   follower_state, t, k_t)``; ``seen`` is what it looked at (its reward model's parameters,
   its solves' diagnostics), handed to the record;
2. with early stopping, a stopped leader plays the policy of its best check instead
   (:func:`toysim.game.early_stop.played_policy`): ``pi_{t+1} = pi_best``, else ``pi'``; a
   tracked climb gains ``C += r(pi_{t+1}) - r(pi_t)``, ``r = ascended(follower_state, seen, .)``
   the reward the leader ascended;
3. the follower trains on the played policy's data: ``(follower_state, trained) =
   follower(follower_state, pi_{t+1}, t, k_t)``;
4. with early stopping, the check after round ``t``
   (:func:`toysim.game.early_stop.check_and_update`) on ``b`` gold labels drawn with the key
   ``fold_in(gold_key, t)`` from the distribution ``gold_policy(pi_{t+1})``;
5. the round's record: ``record(pi_{t+1}, follower_state, seen, trained)``, a dict of arrays,
   and with a tracked climb the stopping fields (``climb``, ``stopped``, ``gold_spent``,
   ``gold_estimate``, ``best_check``).

The linear game (:mod:`toysim.game.trajectory`) and the sampled-buffer game
(:mod:`toysim.game.sampled_round`) are two :class:`Round` builders; every leader, mitigation and
data regime is a piece of one of them, so every combination runs through this one scan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from toysim.game.early_stop import (
    StopParams,
    check_and_update,
    gold_estimate,
    initial_stop_state,
    played_policy,
)
from toysim.model.utility import Utility


class Round(NamedTuple):
    """What one round of a game does (pure functions; ``pi`` a policy's parameters, a pytree).

    Attributes:
      leader: ``(leader_state, pi, follower_state, t, key) -> (pi', leader_state, seen)``.
      follower: ``(follower_state, pi, t, key) -> (follower_state, trained)``.
      ascended: ``(follower_state, seen, pi) -> r``, the reward the leader ascended, at ``pi``
        (a scalar; the climb of early stopping sums its gains).
      gold_policy: ``pi -> (mean, spread)``, the Gaussian gold labels are drawn from.
      record: ``(pi, follower_state, seen, trained) -> dict`` of the round's arrays.
    """

    leader: Callable[[Any, Any, Any, Array, Any], tuple[Any, Any, Any]]
    follower: Callable[[Any, Any, Array, Any], tuple[Any, Any]]
    ascended: Callable[[Any, Any, Any], Array]
    gold_policy: Callable[[Any], tuple[Array, Array]]
    record: Callable[[Any, Any, Any, Any], dict]


class Start(NamedTuple):
    """The state before round 0: the policy ``pi_0``, the leader's and the follower's."""

    policy: Any
    leader: Any
    follower: Any


class GoldChecks(NamedTuple):
    """Early stopping's inputs: the gold labels' key, ``b`` labels a check (``budget``, static),
    the rule's numbers and the true utility ``U`` that labels them."""

    key: Array
    budget: int
    params: StopParams
    u: Utility


def play(
    game: Round,
    start: Start,
    steps: int,
    keys: Array | None,
    checks: GoldChecks | None = None,
    climb: bool = False,
    unroll: int = 1,
) -> dict:
    """``T = steps`` rounds of ``game`` from ``start`` in one ``lax.scan``: the records,
    each with a leading ``[T]`` axis.

    Args:
      game: the round's pieces.
      start: the state before round 0.
      steps: ``T``.
      keys: round ``t``'s key ``keys[t]`` (``[T]``), or ``None`` (a game that draws nothing
        each round gets ``None``).
      checks: early stopping's inputs, or ``None`` (no early stopping).
      climb: track the climb and record the stopping fields (a composition does).
      unroll: rounds per loop body (``lax.scan``'s ``unroll``).
    """
    dtype = jnp.result_type(float)
    stop0 = initial_stop_state(dtype, start.policy)

    def round_(carry, x):
        policy, leader_state, follower_state, stop, gain = carry
        t, key = x
        moved, leader_state, seen = game.leader(leader_state, policy, follower_state, t, key)
        played = moved if checks is None else played_policy(stop, moved)
        if climb:
            reward = game.ascended
            gain = (
                gain + reward(follower_state, seen, played) - reward(follower_state, seen, policy)
            )
        follower_state, trained = game.follower(follower_state, played, t, key)
        if checks is not None:
            mean, spread = game.gold_policy(played)
            draw = jax.random.fold_in(checks.key, t)
            u, budget = checks.u, checks.budget
            gold = gold_estimate(draw, mean, spread, u, budget, checks.params.label_noise)
            stop = check_and_update(stop, t + 1, gold, gain, budget, checks.params, played)
        record = game.record(played, follower_state, seen, trained)
        if climb:
            record.update(
                climb=gain,
                stopped=stop.stopped.astype(dtype),
                gold_spent=stop.spent,
                gold_estimate=stop.last_gold,
                best_check=stop.best_check,
            )
        return (played, leader_state, follower_state, stop, gain), record

    carry = (*start, stop0, jnp.zeros((), dtype))
    xs = (jnp.arange(steps, dtype=jnp.int32), keys)
    _, records = jax.lax.scan(round_, carry, xs, unroll=unroll)
    return records
