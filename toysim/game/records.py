"""What a run records, and the check that it stayed finite.

:class:`Trajectory` is every run's per-iteration record, either game's, plain or composed;
:func:`first_nonfinite_iteration` and :func:`raise_if_nonfinite` check any record (a
NamedTuple of arrays, ``None`` where a field is not recorded) and name the first iteration
at which a run went NaN or infinite.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array

from toysim.linalg import SolveInfo


class Trajectory(NamedTuple):
    """Per-iteration record of a run; leading axis ``T`` (plus any vmapped axes before it).

    Attributes:
      theta: policy point or mean, ``[T, d]`` (``None`` if ``spec.record == "scalars"``).
      w: RM parameters, ``[T, d]`` (``None`` if ``spec.record == "scalars"``).
      signal: ``||theta[:k]||`` (published block coordinates), ``[T]``.
      noise: ``||theta[k:]||``, ``[T]``.
      signal_proj: ``theta . m/||m||`` (projection coordinates), ``[T]``.
      noise_proj: ``||theta - signal_proj m/||m|| ||``, ``[T]``.
      utility: ``U(theta)``, ``[T]``.
      expected_utility: ``E_{y~pi_theta}[U(y)]`` (equals ``utility`` for a point policy), ``[T]``.
      proxy_reward: ``E_{y~pi_theta}[r_w(y)] = w . theta``, ``[T]``.
      overconfidence: ``proxy_reward - expected_utility``, ``[T]``.
      steering_norm: ``||gamma grad S||``, the norm of the steering term (0 for RLHF), ``[T]``.
      ideal_reward: ``r_w(m)``, the RM's score of the human ideal (whose true
        utility is ``A``): where the Goodhart gap opens, ``[T]``.
      biased_noise: ``||theta`` on the ``spec.biased_dims`` coordinates the
        initial RM overrates``||`` (the sycophancy of the policy; 0 without them), ``[T]``.
      probe_steering: ``-grad S`` of each of ``spec.probes`` at the state each
        iteration starts from, ``[T, P, d]`` (``None`` without probes).

    A run of a :class:`~toysim.game.composition.Composition` records, per iteration, ``theta``,
    ``signal``, ``noise``, ``utility``, ``expected_utility`` and ``proxy_reward`` (the
    aggregated proxy the leader ascends, after the follower's step) and:

    Attributes:
      member_spread: ``max_i - min_i`` of the members' proxy rewards (0 for one member).
      climb: ``C``, the leader's summed per-step gains in the reward it ascends
        (:mod:`toysim.game.early_stop`).
      stopped: 1.0 once the leader has stopped (0 throughout without early stopping): the
        first 1 is at the iteration whose check stopped it
        (:func:`toysim.game.early_stop.stop_iteration`).
      gold_spent: gold labels spent so far.
      gold_estimate: the latest check's gold estimate (0 before the first check).
      best_check: the iteration (1-based) of the check with the best gold estimate so far
        (0 before the first check): once stopped, the check whose policy the leader rolled
        back to and plays from the next iteration on.
      kl: expert iteration's ``KL(N(theta, s^2 I) || N(theta_0, s^2 I))``.

    A run of the sampled-buffer game (:func:`toysim.game.sampled_round.sampled_trajectory`)
    records ``theta``, ``signal``, ``noise``, ``utility``, ``proxy_reward`` (``r_phi(theta)``
    after the follower's step, an ensemble's aggregate), a composition's ``climb`` (0 without
    early stopping), ``stopped``, ``gold_spent``, ``gold_estimate``, ``best_check`` and ``kl`` (no
    ``member_spread``), and:

    Attributes:
      sigma: the policy's spread at that iteration.
      buffer_loss: the follower's mean loss on its buffer before its step (an ensemble's
        summed over members).
      solve: the :class:`toysim.linalg.SolveInfo` of each iteration's curvature solve under
        the gradient leader, each of its fields ``[T]``: iterations, relative residual,
        normwise backward error and convergence flag (global influence with a ``hessian``
        other than ``identity``; 0, 0, 0 and True otherwise; ``None`` for expert iteration).
      optimum: with ``params = optimum``, the :class:`toysim.linalg.SolveInfo` of each
        iteration's best response on the buffer: the Newton steps, the relative gradient and
        the normwise backward error there, and whether it passed the test
        (:func:`toysim.game.optimum.stationarity`); ``None`` otherwise.
      rm_params, buffer: with ``record_state``, the flat RM parameters (``[T, P]``) and the
        buffer the leader saw at each iteration (for the non-convexity diagnostics,
        :mod:`toysim.experiments.nonconvexity`).

    Every field a run does not record is ``None``.
    """

    theta: Array | None
    w: Array | None = None
    signal: Array | None = None
    noise: Array | None = None
    signal_proj: Array | None = None
    noise_proj: Array | None = None
    utility: Array | None = None
    expected_utility: Array | None = None
    proxy_reward: Array | None = None
    overconfidence: Array | None = None
    steering_norm: Array | None = None
    ideal_reward: Array | None = None
    biased_noise: Array | None = None
    probe_steering: Array | None = None
    member_spread: Array | None = None
    climb: Array | None = None
    stopped: Array | None = None
    gold_spent: Array | None = None
    gold_estimate: Array | None = None
    best_check: Array | None = None
    kl: Array | None = None
    sigma: Array | None = None
    buffer_loss: Array | None = None
    solve: SolveInfo | None = None
    optimum: SolveInfo | None = None
    rm_params: Array | None = None
    buffer: NamedTuple | None = None


VECTOR_FIELDS = {"theta": 1, "w": 1, "probe_steering": 2, "rm_params": 1}
"""Record fields with per-iteration vectors: the number of axes after the time axis."""


def first_nonfinite_iteration(trajectory: NamedTuple) -> Array:
    """The first iteration (1-based) at which any recorded value is NaN or infinite; 0 if none.

    Works on batched trajectories: the result has the batch shape.
    """
    finite_t = None
    for name, x in _recorded(trajectory):
        ok = jnp.isfinite(x)
        trailing = VECTOR_FIELDS.get(name, 0)
        if trailing:
            ok = jnp.all(ok, axis=tuple(range(-trailing, 0)))
        finite_t = ok if finite_t is None else finite_t & ok
    bad = ~finite_t
    return jnp.where(jnp.any(bad, axis=-1), jnp.argmax(bad, axis=-1) + 1, 0)


def _recorded(trajectory: NamedTuple) -> list[tuple[str, Array]]:
    """``(name, array)`` for every recorded array of ``trajectory``, those of its nested
    :class:`~toysim.linalg.SolveInfo` records included (``solve.residual``, ...); not
    ``None`` fields, nor a record of inputs (a buffer)."""
    arrays = []
    for name, x in trajectory._asdict().items():
        if isinstance(x, SolveInfo):
            arrays += [(f"{name}.{field}", value) for field, value in x._asdict().items()]
        elif hasattr(x, "dtype"):
            arrays.append((name, x))
    return arrays


class NonFiniteTrajectoryError(FloatingPointError):
    """A trajectory produced NaN or infinite values; the message names the iteration."""


def raise_if_nonfinite(trajectory: NamedTuple, spec) -> None:
    """Raise :class:`NonFiniteTrajectoryError` if any run in ``trajectory`` went non-finite."""
    first = np.asarray(first_nonfinite_iteration(trajectory))
    if np.any(first > 0):
        runs = np.argwhere(first > 0)
        where = "" if first.ndim == 0 else f" (run index {tuple(int(i) for i in runs[0])})"
        it = int(first.ravel()[np.flatnonzero(first.ravel() > 0)[0]])
        raise nonfinite_error(it, spec, where)


def nonfinite_error(iteration: int, spec, where: str = "") -> NonFiniteTrajectoryError:
    """The error for a run of ``spec`` that went non-finite at ``iteration`` (1-based).

    ``where`` names the run in a batch (e.g. ``" (run index (3,))"``), or is empty.
    """
    return NonFiniteTrajectoryError(
        f"trajectory became non-finite at iteration {iteration} of {spec.steps}{where}, "
        f"method {spec.method.name!r}: reduce a step size (leader_lr, follower_lr) or gamma"
    )
