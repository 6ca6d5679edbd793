"""The relaxation ladder (docs/theory/relaxations.md), and how far each rung's steering drifts.

The paper goes from exact FPO to practical FPO one relaxation at a time:

    exact -> H = I -> local influence -> current params -> no oracle

:data:`LADDER` lists the rungs (each switch added to the ones before).
With ``H -> I`` the scale of ``H^{-1}`` has to go into ``gamma``: the ladder
replaces ``H`` by ``lambda I``, its anchor part, so the identity rungs use
``gamma = 2 omega / lambda`` (for the published one-step follower,
``2 eta = 0.01``: the exact one-step lookahead, docs/theory/relaxations.md).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from toysim.config import GameSpec, HParams, Method, as_float_arrays

LADDER: tuple[tuple[str, Method], ...] = (
    ("exact", Method("fpo-exact")),
    ("+ H = I", Method("fpo", hessian="identity")),
    ("+ local influence", Method("fpo", hessian="identity", influence="local")),
    (
        "+ current params",
        Method("fpo", hessian="identity", influence="local", params="current"),
    ),
    (
        "+ no oracle",
        Method("fpo", hessian="identity", influence="local", params="current", oracle="none"),
    ),
)

SINGLE_SWITCHES: tuple[tuple[str, Method], ...] = (
    ("exact", Method("fpo-exact")),
    ("only H = I", Method("fpo", hessian="identity")),
    ("only local influence", Method("fpo", influence="local")),
    ("only current params", Method("fpo", params="current")),
    ("only no oracle", Method("fpo", oracle="none")),
)


def ladder_gamma(spec: GameSpec, hp: HParams, method: Method) -> float:
    """``2 omega`` with the exact Hessian, ``2 omega / lambda`` with ``H -> I``."""
    exact = 2.0 * spec.new_sample_weight
    return exact if method.hessian == "exact" else exact / float(hp.lam)


def rung_spec(spec: GameSpec, method: Method, probes: tuple[Method, ...] = ()) -> GameSpec:
    """``spec`` with the leader method (and any probes) replaced."""
    return dataclasses.replace(spec, method=method, probes=probes)


def cosine(a: Array, b: Array) -> Array:
    """``a . b / (||a|| ||b||)`` over the last axis (0 where either is 0)."""
    norms = jnp.linalg.norm(a, axis=-1) * jnp.linalg.norm(b, axis=-1)
    return jnp.where(norms > 0, jnp.sum(a * b, axis=-1) / jnp.where(norms > 0, norms, 1.0), 0.0)


def steering_cosines(probe_steering: Array) -> Array:
    """Cosine of each probe's steering direction with probe 0's (the exact one): ``[..., T, P]``."""
    return cosine(probe_steering, probe_steering[..., :1, :])


def summarise(values: np.ndarray) -> dict[str, float]:
    """Median and interquartile range of a sample (over seeds)."""
    q25, q50, q75 = np.percentile(np.asarray(values), [25, 50, 75])
    return dict(median=float(q50), q25=float(q25), q75=float(q75))


def run_ladder(
    spec: GameSpec,
    hp: HParams,
    keys: Array,
    rungs: tuple[tuple[str, Method], ...] = LADDER,
):
    """Trajectories of every rung (vmapped over ``keys``) and how their steering compares.

    Returns ``(trajectories, cosines, norm_ratios)``: a dict from rung label to
    a batched :class:`~toysim.game.trajectory.Trajectory`; the ``[seeds, T, rungs]``
    cosines between each rung's steering term and the first rung's (exact);
    and the ratios of their norms, ``gamma`` included. Both are evaluated at
    the states of the *exact* trajectory.
    """
    from toysim.game.trajectory import make_trajectory, raise_if_nonfinite

    trajectories = {}
    for label, method in rungs:
        probes = tuple(m for _, m in rungs) if method == rungs[0][1] else ()
        s = rung_spec(spec, method, probes)
        run = jax.jit(jax.vmap(make_trajectory(s), in_axes=(0, None)))
        trajectories[label] = run(keys, hp._replace(gamma=ladder_gamma(spec, hp, method)))
        raise_if_nonfinite(trajectories[label], s)
    directions = trajectories[rungs[0][0]].probe_steering
    gammas = jnp.asarray([ladder_gamma(spec, hp, m) for _, m in rungs])
    norms = gammas * jnp.linalg.norm(directions, axis=-1)
    ratios = norms / jnp.where(norms[..., :1] > 0, norms[..., :1], jnp.nan)
    return trajectories, steering_cosines(directions), ratios


def population_gradient_field(
    spec: GameSpec, hp: HParams, signal: np.ndarray, noise: np.ndarray
) -> dict[str, np.ndarray]:
    """The leader's myopic and exact Stackelberg gradients over the (signal, noise) plane.

    See docs/theory/population.md; the follower is at its best response ``w*(theta)``
    (ridge, so ``w*`` depends on ``theta`` only). ``theta = s m_hat + n e``
    with ``m_hat = m/||m||`` and ``e`` the first noise coordinate; ``w*`` lies
    in ``span(theta, m)``, so both gradients stay in that plane. Returns the
    components ``(d signal, d noise)`` of the myopic gradient ``w* - 2 c theta``
    and of ``dJ/dtheta`` (fpo-exact with ``gamma = 2``), and ``J`` itself, each
    ``[len(noise), len(signal)]``.
    """
    from toysim import linalg
    from toysim.game.followers import best_response, make_follower
    from toysim.game.leader import leader_gradient
    from toysim.game.policy import GaussianPolicy
    from toysim.game.trajectory import utility_of

    if spec.follower != "population" or spec.anchor != "ridge":
        raise ValueError("the gradient field needs the population follower with a ridge anchor")
    rlhf = Method("rlhf", foresight=False, params="current")
    exact = Method("fpo-exact")
    follower = make_follower(rung_spec(spec, exact))
    hp = as_float_arrays(hp)
    u = utility_of(spec, hp)
    policy = GaussianPolicy(hp.sigma)
    m_hat = u.ideal / jnp.linalg.norm(u.ideal)
    e = jnp.zeros(spec.dim).at[spec.signal_dims].set(1.0)

    def at(s, n):
        theta = s * m_hat + n * e
        state = follower.init(jnp.zeros(spec.dim), hp)
        data = follower.data(state, theta, hp, u)
        solve = linalg.linear_map(linalg.inverse(data.curvature(hp.lam), linalg.Cholesky()))
        w_star = best_response(data, state.w, hp.lam, solve, state.w)
        state = state._replace(w=w_star)
        myopic = leader_gradient(rlhf, policy, follower, state, theta, hp, u).total
        total = leader_gradient(exact, policy, follower, state, theta, hp._replace(gamma=2.0), u)
        objective = policy.expected_reward(w_star, theta) - hp.action_cost * policy.expected_cost(
            theta
        )
        return myopic @ m_hat, myopic @ e, total.total @ m_hat, total.total @ e, objective

    grid_s, grid_n = jnp.meshgrid(jnp.asarray(signal), jnp.asarray(noise))
    values = jax.jit(jax.vmap(jax.vmap(at)))(grid_s, grid_n)
    names = ("myopic_signal", "myopic_noise", "exact_signal", "exact_noise", "objective")
    return {name: np.asarray(v) for name, v in zip(names, values, strict=True)}
