"""Early stopping on a held-out gold budget: the leader freezes when proxy and gold diverge.

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
best gold estimate so far, ``G_best``, and its climb ``C_best`` at the check
that set it. After ``p`` checks (the patience) without a new best while the
climb has risen past ``C_best``, it stops: ``theta`` is frozen for the rest
of the run and no more gold is spent. A point policy's draws all equal
``theta``, so there the label noise ``s`` is what makes a small budget
uncertain. The state lives in the scan's carry: no host round trips.
"""

from __future__ import annotations

from typing import NamedTuple

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
    """

    stopped: Array
    best_gold: Array
    proxy_at_best: Array
    since_best: Array
    spent: Array
    last_gold: Array


def initial_stop_state(dtype) -> StopState:
    """No check made yet, nothing spent, not stopped."""
    return StopState(
        stopped=jnp.zeros((), bool),
        best_gold=jnp.full((), -jnp.inf, dtype),
        proxy_at_best=jnp.full((), jnp.inf, dtype),
        since_best=jnp.zeros((), dtype),
        spent=jnp.zeros((), jnp.int32),
        last_gold=jnp.zeros((), dtype),
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
    state: StopState, iteration: Array, gold: Array, proxy: Array, budget: int, p: StopParams
) -> StopState:
    """The stopping rule after iteration ``iteration`` (1-based), given this check's estimates.

    ``gold`` is this check's :func:`gold_estimate` and ``proxy`` the climb ``C`` now.

    Nothing changes unless ``iteration`` is a multiple of ``every`` and the
    leader has not stopped; then ``budget`` labels are counted as spent, the
    best estimate updated, and the leader stops if ``since_best >= patience``
    while ``proxy > proxy_at_best``.
    """
    active = (jnp.mod(iteration.astype(p.every.dtype), p.every) == 0) & ~state.stopped
    improved = gold > state.best_gold
    best = jnp.where(improved, gold, state.best_gold)
    proxy_at_best = jnp.where(improved, proxy, state.proxy_at_best)
    since = jnp.where(improved, 0.0, state.since_best + 1.0)
    stop = (since >= p.patience) & (proxy > proxy_at_best)
    checked = StopState(stop, best, proxy_at_best, since, state.spent + budget, gold)
    return jax.tree.map(lambda new, old: jnp.where(active, new, old), checked, state)
