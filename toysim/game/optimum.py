"""The follower's best response on its buffer: ``phi*`` for ``params = optimum`` in the
sampled-buffer game.

``phi* = argmin_phi L(phi)`` with ``L(phi) = sum_i w_i l(phi; y_i) + (wd/2) ||phi||^2`` the
follower's objective (the mean loss over its buffer plus the L2 term whose gradient Adam's
weight decay adds, :func:`toysim.game.sampled_round.network_objective`). For the linear reward model
``L`` is strictly convex when ``wd > 0``, so ``phi*`` is unique:

* on points (squared loss) ``L`` is quadratic and one Newton step from any start is exact,
  ``phi* = (sum_i 2 w_i y_i y_i^T + wd I)^{-1} sum_i 2 w_i U_i y_i``;
* on pairs (the Bradley-Terry logistic loss) ``phi*`` is the limit of Newton's iteration
  ``phi <- phi - H(phi)^{-1} grad L(phi)`` from ``phi = 0`` (the ridge's anchor, where every
  pair's predicted preference is 1/2), run for :data:`NEWTON_STEPS` steps in a ``lax`` loop.

Each step is :func:`toysim.game.followers.best_response` (one Newton step) with ``H`` the
exact Hessian of ``L`` by Cholesky. How well the result solves ``grad L(phi) = 0`` is
reported as a :class:`toysim.linalg.SolveInfo` (:func:`stationarity`). The MLP's ``L`` is not
convex and has no unique minimiser; :class:`~toysim.game.sampled.SampledSpec` refuses it.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from toysim import linalg
from toysim.game.followers import BufferData, SampleBuffer, best_response, follower_loss
from toysim.linalg.krylov import backward_error, safe_norm
from toysim.model.interface import RewardModel

NEWTON_STEPS = 20
"""Newton steps of the logistic loss's best response (the squared loss needs one). From
``phi = 0`` on pairwise-linear's buffers they reach a backward error near the dtype's
rounding within about 8 steps."""


def newton_steps(data: str) -> int:
    """The Newton steps that reach ``phi*``: 1 for ``points`` (a quadratic ``L``), else
    :data:`NEWTON_STEPS`."""
    return 1 if data == "points" else NEWTON_STEPS


def stationarity(objective: Callable[[Array], Array], phi: Array, steps: int) -> linalg.SolveInfo:
    """How well ``phi`` solves ``grad L(phi) = 0``, as a :class:`toysim.linalg.SolveInfo`.

    With ``b = -grad L(0)``: the relative residual ``||grad L(phi)|| / ||b||`` and the normwise
    backward error ``||grad L(phi)|| / (||H(phi)||_F ||phi|| + ||b||)``. For the squared loss
    ``grad L(phi) = H phi - b``, so these are the residual and backward error of the normal
    equations ``H phi = b``; for the logistic loss they are those of its linearisation at
    ``phi``. Converged when the backward error is finite and at most
    :func:`toysim.linalg.direct_tolerance` (``100 P eps``), the direct solvers' test.

    Args:
      objective: ``L`` of the flat parameters.
      phi: the candidate minimiser, ``[P]``.
      steps: the Newton steps taken (reported as the iterations).
    """
    gradient = jax.grad(objective)
    residual = jnp.linalg.norm(gradient(phi))
    b = -gradient(jnp.zeros_like(phi))
    norm = linalg.frobenius_norm(linalg.hessian_operator(objective, phi))
    error = backward_error(residual, norm, phi, b)
    converged = jnp.isfinite(error) & (error <= linalg.direct_tolerance(phi.shape[-1], phi.dtype))
    iterations = jnp.asarray(steps, jnp.int32)
    return linalg.SolveInfo(iterations, residual / safe_norm(b), error, converged)


def buffer_optimum(
    model: RewardModel, buffer: SampleBuffer, weight_decay: Array, start: Array, steps: int
) -> linalg.Solution:
    """``phi* = argmin L`` on ``buffer`` by ``steps`` Newton steps from ``start``, and its
    :func:`stationarity`.

    Args:
      model: the follower's reward model, with flat parameters (the linear model: ``w``,
        ``[d]``; its pairwise form on pairs).
      buffer: the follower's samples (their mean loss).
      weight_decay: ``wd > 0``, the L2 weight.
      start: where Newton starts, ``[P]`` (the game starts from 0).
      steps: Newton steps (:func:`newton_steps`).

    Returns:
      ``Solution(phi*, info)``.
    """
    data = BufferData(model, buffer, None)

    def objective(phi: Array) -> Array:
        return follower_loss(phi, data, None, weight_decay)

    def newton(phi: Array, _) -> tuple[Array, None]:
        hessian = linalg.hessian_operator(objective, phi)
        solve = linalg.linear_map(linalg.inverse(hessian, linalg.Cholesky()))
        return best_response(data, None, weight_decay, solve, phi), None

    phi, _ = jax.lax.scan(newton, start, length=steps)
    return linalg.Solution(phi, stationarity(objective, phi, steps))
