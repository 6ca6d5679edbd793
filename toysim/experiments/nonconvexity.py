"""Non-convexity diagnostics of paper-nn: the follower's Hessian spectrum and steering cosines.

See docs/theory/neural.md. Along a paper-nn trajectory recorded with
``record_state=True``, at checkpoints: the extreme eigenvalues of the
follower's (undamped) Hessian, and the cosine between each relaxation's
steering direction and the damped (global) one, ``H + mu I`` built as
``spec.curvature`` says (``fixed`` damping: ``mu = hp.damping``).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.flatten_util import ravel_pytree

from toysim import linalg
from toysim.analysis import cosine
from toysim.config import ConfigError, Method, as_float_arrays
from toysim.game.records import Trajectory
from toysim.game.sampled import SampledHParams, SampledSpec
from toysim.game.sampled_round import (
    network_inverse,
    network_model,
    network_objective,
    network_steering,
    neural_utility,
)

RELAXATIONS = (
    ("fpo-relaxed", Method("fpo-relaxed", hessian="identity", influence="local", params="current")),
    (
        "fpo-practical",
        Method(
            "fpo-practical", hessian="identity", influence="local", params="current", oracle="none"
        ),
    ),
    ("exact, local", Method("fpo", hessian="damped", influence="local", params="current")),
)
"""The steering terms compared with the damped exact (global) one along a trajectory
(``exact, local``: the damped Hessian with local influence)."""


class Diagnostics(NamedTuple):
    """Non-convexity diagnostics at checkpoints of a paper-nn trajectory.

    Attributes:
      iteration: the checkpoint iterations, ``[C]``.
      smallest, largest: extreme eigenvalues of the follower's (undamped) Hessian, ``[C]``.
      indefinite: whether that Hessian has a negative eigenvalue, ``[C]``.
      cosines: label -> ``[C]`` cosines between that relaxation's steering direction
        ``-grad_y S`` at ``y = theta`` and the damped exact (global) one.
    """

    iteration: np.ndarray
    smallest: Array
    largest: Array
    indefinite: Array
    cosines: dict[str, Array]


def recorded_curvature(model, hp: SampledHParams, flat: Array, buffer) -> tuple:
    """``(phi, H)`` at a recorded state: the RM parameters ``phi`` (from their flat vector) and
    the dense Hessian ``H`` (``[P, P]``) of the follower's objective on ``buffer`` there
    (:func:`toysim.game.sampled_round.network_objective`)."""
    unravel = ravel_pytree(model.init(jax.random.key(0), flat.dtype))[1]
    objective = network_objective(model, buffer, hp.weight_decay)
    return unravel(flat), linalg.hessian_operator(lambda x: objective(unravel(x)), flat).dense()


def steering_direction(spec: SampledSpec, hp: SampledHParams, method: Method, state) -> Array:
    """``-grad_y S(theta)``: ``method``'s steering direction at a recorded state ``(model, phi,
    buffer, theta, key, u)``, its curvature rung built as ``spec.curvature`` says and its
    random estimates drawn with ``key``."""
    model, phi, buffer, theta, key, u = state
    rung = dataclasses.replace(spec, method=method)
    inverse = network_inverse(rung, hp, model, phi, buffer, key)
    penalty, _ = network_steering(method, model, phi, inverse, theta, u)
    return -jax.grad(penalty)(theta)


def policies_seen(theta: Array) -> Array:
    """``theta_{t-1}`` (``0`` at ``t = 0``): the policy each iteration's leader moved from, and
    whose recorded state (``rm_params``, ``buffer``) it saw; ``[..., T, d]``."""
    return jnp.concatenate([jnp.zeros_like(theta[..., :1, :]), theta[..., :-1, :]], axis=-2)


def nonconvexity_diagnostics(
    spec: SampledSpec, hp: SampledHParams, trajectory: Trajectory, every: int
) -> Diagnostics:
    """Dense Hessian spectrum and steering cosines every ``every`` iterations of ``trajectory``.

    ``trajectory`` must come from a spec with ``record_state=True`` (the
    parameters and buffer the leader saw). The Hessian is dense here
    (``[P, P]``, ``P = 1,441`` for the published network): fine at this size.
    """
    if trajectory.rm_params is None:
        raise ConfigError("nonconvexity_diagnostics needs a trajectory run with record_state=True")
    hp = as_float_arrays(hp)
    u = neural_utility(spec, hp)
    model = network_model(spec)
    reference = Method("fpo", hessian="damped", params="current")
    iterations = np.arange(0, spec.steps, every)

    def at(flat, buffer, theta, key):
        phi, hessian = recorded_curvature(model, hp, flat, buffer)
        state = (model, phi, buffer, theta, key, u)
        exact = steering_direction(spec, hp, reference, state)
        cosines = {
            label: cosine(steering_direction(spec, hp, m, state), exact) for label, m in RELAXATIONS
        }
        return linalg.spectrum(hessian), cosines

    take = jax.tree.map(lambda x: x[iterations], (trajectory.rm_params, trajectory.buffer))
    theta_seen = policies_seen(trajectory.theta)[iterations]
    # jit here: the checkpoints' dense Hessians would otherwise run op by op, and the
    # trajectory's shapes (not a spec) fix what compiles, so the caller has nothing to cache.
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(jax.random.key(0), iterations)
    spectrum, cosines = jax.jit(jax.vmap(at))(*take, theta_seen, keys)
    return Diagnostics(
        iterations, spectrum.smallest, spectrum.largest, spectrum.indefinite, cosines
    )
