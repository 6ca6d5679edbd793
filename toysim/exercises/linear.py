"""The answers of the problem set's four exercises on ``paper-linear``, computed by toysim.

Each function runs toysim's own code (a simulation, the steering penalty, the follower's
step) and returns a number; the learner derives the same number by hand.
``tests/test_exercises.py`` checks each against a closed form written there.

* :func:`steering_force`: the component along the policy of relaxed FPO's steering force
  ``-grad S`` at RLHF's final state, by autodiff of toysim's penalty;
* :func:`underrated_until`: where, on the ray from the origin through the ideal, RLHF's
  final reward model stops underrating the outputs;
* :func:`goodhart_gap_distance`: the distance from the start at which the true utility
  peaks while a frozen reward model's score keeps rising, read off a run;
* :func:`lookahead_weight`: the relaxed-FPO weight that equals the gradient of the
  one-step lookahead through the follower's actual SGD step.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from toysim import linalg
from toysim.config import LinearHParams, LinearSpec, as_float_arrays
from toysim.exercises.roots import first_crossing, parabola_peak
from toysim.experiments.runner import simulate
from toysim.game.followers import make_follower
from toysim.game.leader import leader_gradient, steering_penalty
from toysim.game.linear_round import utility_of
from toysim.game.policy import PointPolicy
from toysim.model.reward import linear_reward
from toysim.model.utility import utility
from toysim.presets import build

PRESET = "paper-linear"
SEED = 0
"""Every run behind these exercises is ``paper-linear`` from the key of seed 0."""

POLICY_SPREAD = 0.3
"""The spread ``s`` of ``N(theta, s^2 I)`` a point policy is read as for its distance from
the start, ``d = ||theta|| / (s sqrt 2) = sqrt(KL)`` (docs/results/goodhart.md)."""

LOOKAHEAD_STEP = 0.0075
"""The follower's SGD step ``eta`` in exercise ``lookahead_weight`` (not the preset's)."""

RAY = np.linspace(0.0, 3.0, 301)
"""Positions ``f`` of ``y = f m`` searched for where the reward model's error changes sign."""


def linear_game(method: str = "rlhf") -> tuple[LinearSpec, LinearHParams]:
    """``paper-linear`` with ``method``."""
    return build(PRESET, method)


def ideal() -> np.ndarray:
    """The human ideal ``m`` of ``paper-linear``."""
    spec, hp = linear_game()
    return np.asarray(utility_of(spec, as_float_arrays(hp)).ideal)


@functools.cache
def rlhf_final_state() -> tuple[np.ndarray, np.ndarray]:
    """RLHF's policy ``theta_T`` and reward weights ``w_T`` at its last iteration (seed 0)."""
    spec, hp = linear_game()
    run = simulate(spec, hp, seed=SEED)
    return np.asarray(run.theta[-1]), np.asarray(run.w[-1])


def steering_force(theta: np.ndarray, w: np.ndarray) -> float:
    """``u . (-grad_theta S(theta))``, ``u = theta / ||theta||``, for relaxed FPO's penalty
    ``S(y) = (r_w(y) - U(y)) ||grad_w r_w(y)||^2`` with ``w`` held fixed.

    ``S`` is toysim's steering penalty with relaxed FPO's switches (identity Hessian, local
    influence, the oracle), differentiated by autodiff.
    """
    spec, hp = linear_game("fpo-relaxed")
    u = utility_of(spec, as_float_arrays(hp))
    identity = linalg.linear_map(linalg.identity_solution)
    theta_j, w_j = jnp.asarray(theta), jnp.asarray(w)

    def penalty(th):
        return steering_penalty(PointPolicy(), w_j, th, theta_j, u, identity, "local", True)

    force = -np.asarray(jax.grad(penalty)(theta_j))
    return float(theta @ force / np.linalg.norm(theta))


def underrated_until(w: np.ndarray) -> float:
    """The ``f`` at which ``r_w(f m) - U(f m)`` first turns from negative to positive on the
    ray ``f >= 0`` from the origin through the ideal ``m`` (toysim's ``U``)."""
    spec, hp = linear_game()
    u = utility_of(spec, as_float_arrays(hp))
    w_j = jnp.asarray(w)

    @jax.jit
    def error(f):
        return linear_reward(w_j, f * u.ideal) - utility(u, f * u.ideal)

    return first_crossing(lambda f: float(error(f)), RAY, falling=False)


def distance_from_start(theta: np.ndarray) -> np.ndarray:
    """``d = ||theta|| / (s sqrt 2)`` per row, ``s`` = :data:`POLICY_SPREAD`."""
    return np.linalg.norm(theta, axis=-1) / (POLICY_SPREAD * math.sqrt(2.0))


@functools.cache
def goodhart_gap_distance() -> float:
    """The distance ``d`` at which the true utility peaks along RLHF's run with the reward
    model frozen at its initial weights (``follower_lr = weight_decay = 0``, seed 0): the
    parabola through the best iteration and its neighbours."""
    spec, hp = linear_game()
    run = simulate(spec, hp._replace(follower_lr=0.0, weight_decay=0.0), seed=SEED)
    return parabola_peak(distance_from_start(np.asarray(run.theta)), np.asarray(run.utility))


@functools.cache
def lookahead_weight() -> float:
    """The ``gamma`` at which relaxed FPO's leader gradient is the gradient of the one-step
    lookahead ``r_{w+(y)}(y) - c ||y||^2``, ``w+(y)`` the follower's SGD step of size
    :data:`LOOKAHEAD_STEP` (no weight decay) on ``y``, at RLHF's final state.

    Relaxed FPO's gradient is affine in ``gamma``, ``g_0 + gamma (g_1 - g_0)``; the weight is
    its least-squares fit to the lookahead's gradient.
    """
    spec, hp = linear_game("fpo-relaxed")
    hp = as_float_arrays(hp._replace(follower_lr=LOOKAHEAD_STEP, weight_decay=0.0))
    u = utility_of(spec, hp)
    follower = make_follower(spec)
    theta, w = (jnp.asarray(x) for x in rlhf_final_state())
    state = follower.init(w, hp)

    def lookahead(y):
        w_next = follower.update(state, y, hp, u).w
        return linear_reward(w_next, y) - hp.action_cost * y @ y

    def relaxed(gamma: float):
        weighted = hp._replace(gamma=jnp.asarray(gamma, dtype=hp.gamma.dtype))
        return leader_gradient(spec.method, PointPolicy(), follower, state, theta, weighted, u)

    @jax.jit
    def gradients():
        return relaxed(0.0).total, relaxed(1.0).total, jax.grad(lookahead)(theta)

    g0, g1, target = (np.asarray(g) for g in gradients())
    slope = g1 - g0
    return float((target - g0) @ slope / (slope @ slope))
