"""The leader's gradient: myopic RLHF, or FPO with the steering term and its four switches.

See docs/theory/stackelberg-gradient.md and docs/theory/exact-fpo.md. The
influence of a sample on the leader's future reward is

    I(y) = - g_bar^T H^{-1} grad_phi l(phi*; y),

and ``E[I(y)]`` differentiated through ``y`` with ``g_bar`` and ``H`` held fixed,
times the weight ``omega`` of the new data in ``L``, is the steering term
``(dphi*/dtheta)^T g_bar`` that myopic RLHF drops.

toysim writes the leader's objective as a *penalty*, matching the published code:

    F(theta) = E[r_{phi_s}(y)] - c E||y||^2 - gamma S(theta),
    S(theta) = (1/2) E[ g^T H^{-1} grad_phi l(phi_s; y) ] = -E[I(y)] / 2.

With every switch relaxed (``H -> I``, local ``g = grad_phi r(y)``,
``phi_s = phi_t``) ``S`` is the published relaxed penalty
``P(y) = (r - U) ||grad_phi r||^2``, and without the oracle the practical
penalty ``||grad_phi r||^2``, so the published ``gamma = 0.1`` means the same
here. With every switch exact, ``gamma = 2 omega`` makes ``grad F`` the exact
Stackelberg gradient ``dJ/dtheta`` (under ``regime = accumulate`` the newest sample's
weight falls as ``omega_t = 1/t`` and the steering term with it, see
:func:`leader_gradient`). One function computes ``S``; the switches
choose what goes in (docs/theory/relaxations.md):

* ``hessian``: ``solve = M^{-1}`` with ``M`` a rung of the curvature ladder
  (:mod:`toysim.game.curvature`: exact ``H``, damped, Gauss-Newton, diagonal;
  a Cholesky/Woodbury solve; ``H`` by its truncated Neumann series) or the identity;
  or ``unrolled``: ``phi*`` replaced by ``w_K(theta)``, the ``sgd`` follower after ``K``
  of its steps on the data ``theta`` enters, ``S = -g_bar^T w_K(theta) / (2 omega_t)``
  (so ``gamma = 2 omega`` climbs the ``K``-step lookahead ``E[r_{w_K(theta)}] - c E||y||^2``);
* ``influence``: ``g = g_bar = E_pi[grad_phi r]`` held fixed (global), or
  ``grad_phi r(y)`` moving with ``y`` (local, self-influence). For a point
  policy both have the same *value*; their derivatives differ, because the
  local one also differentiates ``grad_phi r(y)``, as the published code does;
* ``params``: ``phi_s = phi*`` (best response to the data the leader is about
  to produce) or ``phi_t`` (the follower's current parameters); this choice
  applies to the myopic reward term too, since ``J`` is evaluated at ``phi*``;
* ``oracle``: ``grad_phi l = 2 (r - U) grad_phi r`` or ``2 grad_phi r``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from toysim import linalg
from toysim.config import LinearHParams, Method
from toysim.game.curvature import follower_curvature, rung_solver
from toysim.game.followers import Follower, FollowerState, best_response
from toysim.game.policy import GaussianPolicy, PointPolicy
from toysim.model.utility import Utility

Policy = PointPolicy | GaussianPolicy


def steering_penalty(
    policy: Policy,
    w: Array,
    theta: Array,
    theta_fixed: Array,
    u: Utility,
    solve: linalg.LinearMap,
    influence: str,
    oracle: bool,
) -> Array:
    """``S(theta) = (1/2) E_{y~pi_theta}[ g^T H^{-1} grad_phi l(w; y) ]``.

    Args:
      policy: the leader's policy.
      w: ``phi_s``, the RM parameters at which ``g`` and ``grad_phi l`` are taken.
      theta: the policy parameters ``S`` is differentiated with respect to.
      theta_fixed: the current policy parameters, at which the global
        ``g_bar = E_{pi_theta}[grad_phi r]`` is taken and held fixed.
      u: the true utility (used by ``grad_phi l`` only with the oracle).
      solve: ``v -> H^{-1} v`` (exact) or the identity.
      influence: ``global`` or ``local``.
      oracle: whether ``grad_phi l`` uses ``U(y)``.
    """
    if influence == "global":
        g_bar = jax.grad(policy.expected_reward)(w, theta_fixed)
        return policy.global_steering(w, theta, u, solve(g_bar), oracle)
    return policy.local_steering(w, theta, u, solve, oracle)


class FollowerView(NamedTuple):
    """What the leader's method assumes of the follower at the current ``theta``.

    Attributes:
      w: ``phi_s``: ``phi*`` (``params = optimum``) or ``phi_t`` (``current``); for the
        ``unrolled`` rung ``w_K(theta)``, the follower after ``K`` steps from there.
      solve: ``v -> M^{-1} v`` with ``M`` the method's curvature rung
        (:mod:`toysim.game.curvature`; ``H``, the Hessian of ``L`` on the data the
        leader is about to produce, for ``exact`` and ``identity``), or ``None``
        if the method needs no solve.
      response: the ``unrolled`` rung's ``theta -> w_K(theta)`` (else ``None``).
      weight: ``omega_t``, the weight of the leader's new output in ``L`` (``unrolled``).
    """

    w: Array
    solve: linalg.LinearMap | None
    response: Callable[[Array], Array] | None = None
    weight: Array | float = 1.0


def follower_view(
    method: Method,
    follower: Follower,
    state: FollowerState,
    theta: Array,
    hp: LinearHParams,
    u: Utility,
) -> FollowerView:
    """``phi_s`` and the curvature solve for the data produced if the leader plays ``theta``.

    ``phi*`` is always the follower's true best response (exact Hessian); the
    ``hessian`` switch changes only the matrix of the steering term. The ``unrolled`` rung
    starts the ``sgd`` follower's ``K = method.rung_steps`` steps from ``phi_s`` (its own
    optimizer state) and evaluates the reward term at ``w_K(theta)``.
    """
    steers = method.foresight and method.hessian != "identity"
    if not (steers or method.params == "optimum"):
        return FollowerView(state.w, None)
    data = follower.data(state, theta, hp, u)
    solve = linalg.linear_map(linalg.inverse(data.curvature(hp.lam), linalg.Cholesky()))
    w = state.w
    if method.params == "optimum":
        w = best_response(data, follower.anchor(state), hp.lam, solve, state.w)
    if steers and method.hessian == "unrolled":
        start = state._replace(w=w)

        def response(th: Array) -> Array:
            return follower.unroll(start, th, hp, u, method.rung_steps)

        return FollowerView(response(theta), None, response, data.weight)
    if steers and method.hessian != "exact":
        curvature = follower_curvature(method.hessian, data, hp.lam, hp.damping, state.w)
        solver = rung_solver(method, linalg.Cholesky())
        solve = linalg.linear_map(linalg.inverse(curvature, solver))
    return FollowerView(w, solve)


def steering_gradient(
    method: Method, policy: Policy, view: FollowerView, theta: Array, u: Utility
) -> Array:
    """``grad_theta S`` for ``method``'s switches; ``-gamma`` times it enters ``grad F``.

    For the ``unrolled`` rung ``-(dw_K/dtheta)^T g_bar / (2 omega_t)``, ``g_bar =
    grad_w E_pi[r_w]`` at ``w_K(theta)`` (a vector-Jacobian product through the ``K`` steps).
    """
    if method.hessian == "unrolled":
        g_bar = jax.grad(policy.expected_reward)(view.w, theta)
        _, pullback = jax.vjp(view.response, theta)
        return -pullback(g_bar)[0] / (2.0 * view.weight)
    identity = linalg.linear_map(linalg.identity_solution)
    solve = view.solve if method.hessian != "identity" else identity
    oracle = method.oracle == "true"
    return jax.grad(
        lambda th: steering_penalty(policy, view.w, th, theta, u, solve, method.influence, oracle)
    )(theta)


class LeaderGradient(NamedTuple):
    """``grad F = myopic - gamma grad S``, and the steering part ``gamma grad S`` alone."""

    total: Array
    steering: Array


def leader_gradient(
    method: Method,
    policy: Policy,
    follower: Follower,
    state: FollowerState,
    theta: Array,
    hp: LinearHParams,
    u: Utility,
) -> LeaderGradient:
    """``grad_theta F(theta)`` at the current ``theta`` (see the module docstring).

    The data the follower will train on if the leader plays ``theta`` fixes
    ``L``, its Hessian ``H`` and ``phi*``; all are held fixed while ``F`` is
    differentiated. The steering term's weight is ``gamma omega_t / omega_1``
    (:attr:`~toysim.game.followers.Follower.steering_scale`): ``gamma``, except under
    ``regime = accumulate``, where the newest sample's weight falls as ``1/t``.
    """
    view = follower_view(method, follower, state, theta, hp, u)

    def myopic(th: Array) -> Array:
        return policy.expected_reward(view.w, th) - hp.action_cost * policy.expected_cost(th)

    grad_myopic = jax.grad(myopic)(theta)
    if not method.foresight:
        return LeaderGradient(grad_myopic, jnp.zeros_like(theta))
    weight = hp.gamma * follower.steering_scale(state)  # gamma omega_t / omega_1
    steering = weight * steering_gradient(method, policy, view, theta, u)
    return LeaderGradient(grad_myopic - steering, steering)
