"""Early stopping on a held-out gold budget: the leader rolls back to its best check when
proxy and gold diverge.

Every ``every`` iterations the leader spends ``b`` gold labels: it draws ``b``
outputs from its policy (an explicit key), has each labelled with the true
utility plus label noise, ``U(y_j) + s eps_j``, and averages them,

    G = (1/b) sum_j (U(y_j) + s eps_j),   y_j ~ pi_theta,   eps_j ~ N(0, 1).

The proxy is the leader's own account of its progress, its climb

    C_t = sum_{s <= t} [agg r_{phi_s}(theta_{s+1}) - agg r_{phi_s}(theta_s)],

each step's gain in the reward it was ascending, measured by the reward
model of that step (what an RL trainer's reward curve shows). The proxy of
the *current* reward model at the *current* policy would not do: in
paper-linear the follower refits to each new output, so that proxy tracks the
gold and falls with it (docs/results/mitigations.md). The leader keeps the
best gold estimate so far, ``G_best``, the iteration of the check that set it,
its climb ``C_best`` there and its policy ``pi_best`` there (``theta``, and a
sampled-buffer policy's spread ``sigma_t``). After ``p`` checks (the patience)
without a new best while the climb has risen past ``C_best``, it stops: from
the next iteration on it plays ``pi_best`` for the rest of the run (a rollback
to the best check, :func:`played_policy`) and no more gold is spent; the
follower keeps training on that policy's outputs (the recorded climb counts the
rollback's step, ``theta_t -> theta_best``, like any other). A point policy's draws all
equal ``theta``, so there the label noise ``s`` is what makes a small budget
uncertain. The state lives in the scan's carry: no host round trips; nothing
draws a key, so a run that never stops is the run without early stopping.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from toysim.model.sampling import standard_normal
from toysim.model.utility import Utility, utility

GOLD_STREAM = 0
"""``fold_in(key, GOLD_STREAM)`` is the key of a run's gold labels (one more ``fold_in`` with
the iteration gives a check's draws)."""


class StopParams(NamedTuple):
    """The stopping rule's numbers (traced: sweeping them does not recompile).

    Attributes:
      patience: ``p``, checks without a new best gold estimate before stopping
        (``inf`` never stops).
      every: ``m``, iterations between checks (a check after iterations ``m, 2m, ...``).
      label_noise: ``s``, the standard deviation of each gold label's noise.
    """

    patience: float
    every: float
    label_noise: float


class StopState(NamedTuple):
    """The stopping rule's state, carried through the scan.

    Attributes:
      stopped: whether the leader has stopped (bool scalar).
      best_gold: ``G_best``, the best gold estimate so far (``-inf`` before the first check).
      proxy_at_best: ``C_best``, the climb at the check that set ``G_best``.
      since_best: checks since ``G_best`` was last improved.
      spent: gold labels spent so far.
      last_gold: the latest gold estimate (0 before the first check).
      best_check: the iteration (1-based) of the check that set ``G_best`` (0 before the
        first check).
      best_policy: the policy's parameters at that check (a pytree: ``theta``, or
        ``(theta, sigma)``; the initial policy before the first check).
    """

    stopped: Array
    best_gold: Array
    proxy_at_best: Array
    since_best: Array
    spent: Array
    last_gold: Array
    best_check: Array
    best_policy: Any


def initial_stop_state(dtype, policy: Any) -> StopState:
    """No check made yet, nothing spent, not stopped; ``policy`` the initial policy's
    parameters (a pytree, kept as ``best_policy`` until the first check)."""
    return StopState(
        stopped=jnp.zeros((), bool),
        best_gold=jnp.full((), -jnp.inf, dtype),
        proxy_at_best=jnp.full((), jnp.inf, dtype),
        since_best=jnp.zeros((), dtype),
        spent=jnp.zeros((), jnp.int32),
        last_gold=jnp.zeros((), dtype),
        best_check=jnp.zeros((), jnp.int32),
        best_policy=policy,
    )


def gold_estimate(key: Array, theta: Array, sigma: Array, u: Utility, budget: int, noise: Array):
    """``G = (1/b) sum_j (U(y_j) + s eps_j)`` with ``y_j = theta + sigma z_j``, ``b = budget``.

    ``sigma = 0`` is the point policy (every draw is ``theta``).
    """
    k_y, k_label = jax.random.split(key)
    z = standard_normal(k_y, (budget, theta.shape[-1]), theta.dtype)
    eps = standard_normal(k_label, (budget,), theta.dtype)
    return jnp.mean(utility(u, theta + sigma * z) + noise * eps)


def check_and_update(
    state: StopState,
    iteration: Array,
    gold: Array,
    proxy: Array,
    budget: int,
    p: StopParams,
    policy: Any,
) -> StopState:
    """The stopping rule after iteration ``iteration`` (1-based), given this check's estimates.

    ``gold`` is this check's :func:`gold_estimate` of the policy ``policy`` (its parameters,
    the pytree of :func:`initial_stop_state`) and ``proxy`` the climb ``C`` now.

    Nothing changes unless ``iteration`` is a multiple of ``every`` and the
    leader has not stopped; then ``budget`` labels are counted as spent, the
    best estimate updated (with its iteration, climb and policy), and the leader
    stops if ``since_best >= patience`` while ``proxy > proxy_at_best``.
    """
    active = (jnp.mod(iteration.astype(p.every.dtype), p.every) == 0) & ~state.stopped
    improved = gold > state.best_gold

    def best(new, old):
        return jax.tree.map(lambda n, o: jnp.where(improved, n, o), new, old)

    proxy_at_best = best(proxy, state.proxy_at_best)
    since = jnp.where(improved, 0.0, state.since_best + 1.0)
    checked = StopState(
        stopped=(since >= p.patience) & (proxy > proxy_at_best),
        best_gold=best(gold, state.best_gold),
        proxy_at_best=proxy_at_best,
        since_best=since,
        spent=state.spent + budget,
        last_gold=gold,
        best_check=best(iteration.astype(jnp.int32), state.best_check),
        best_policy=best(policy, state.best_policy),
    )
    return jax.tree.map(lambda new, old: jnp.where(active, new, old), checked, state)


def played_policy(state: StopState, policy: Any) -> Any:
    """``pi_best`` once the leader has stopped, else ``policy`` (the leader's move).

    The rollback: a stopped leader plays the policy of the check that set ``G_best``.
    ``policy`` and ``state.best_policy`` are pytrees of one structure.
    """
    return jax.tree.map(lambda b, x: jnp.where(state.stopped, b, x), state.best_policy, policy)


def stop_iteration(stopped: Array) -> Array:
    """The iteration (1-based) whose check stopped the leader, from a record's ``stopped``
    ``[..., T]``: the first with ``stopped = 1``; 0 where it never stopped."""
    stopped = jnp.asarray(stopped) > 0
    return jnp.where(jnp.any(stopped, axis=-1), jnp.argmax(stopped, axis=-1) + 1, 0)
