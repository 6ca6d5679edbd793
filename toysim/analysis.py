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
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
from jax import Array

from toysim.config import ConfigError, LinearHParams, LinearSpec, Method, as_float_arrays

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


def ladder_gamma(spec: LinearSpec, hp: LinearHParams, method: Method) -> float:
    """``2 omega`` when ``M = H``, ``2 omega / lambda`` when ``M = I``: the steering weight
    of the exact one-step lookahead on the linear game, rescaled for ``H -> I``.

    ``M = H`` for ``hessian = exact`` and ``gauss-newton`` (the Gauss-Newton matrix of the
    linear reward model's squared loss is its Hessian), and the truncated rungs ``neumann``
    and ``unrolled`` (their steering tends to the exact one, and ``2 omega`` makes the
    unrolled one the ``K``-step lookahead); ``M = I`` for ``identity``.

    Raises:
        ConfigError: for ``damped`` and ``diagonal``, whose ``M`` is neither.
    """
    exact = 2.0 * spec.new_sample_weight
    if method.hessian in ("exact", "gauss-newton", "neumann", "unrolled"):
        return exact
    if method.hessian == "identity":
        return exact / float(hp.lam)
    raise ConfigError(
        "ladder_gamma: hessian must be exact, gauss-newton, neumann, unrolled or identity "
        f"(damped and diagonal have no lookahead weight); got {method.hessian!r}"
    )


def rung_spec(spec: LinearSpec, method: Method, probes: tuple[Method, ...] = ()) -> LinearSpec:
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


def steering_comparison(directions: Array, gammas: Array) -> tuple[Array, Array]:
    """How far each rung's steering term is from the first (exact) rung's, state by state.

    Args:
      directions: ``[..., T, rungs, dim]`` steering directions ``-grad S`` of every rung,
        evaluated at the same states (``probe_steering`` of the exact run).
      gammas: ``[rungs]`` each rung's steering weight.

    Returns:
      ``(cosines, norm_ratios)``, each ``[..., T, rungs]``: the cosine of each rung's
      direction with the first's, and ``gamma_i ||d_i|| / (gamma_0 ||d_0||)`` (NaN where the
      first is 0).
    """
    norms = gammas * jnp.linalg.norm(directions, axis=-1)
    ratios = norms / jnp.where(norms[..., :1] > 0, norms[..., :1], jnp.nan)
    return steering_cosines(directions), ratios


POPULATION_FIELD_NAMES = (
    "myopic_signal",
    "myopic_noise",
    "exact_signal",
    "exact_noise",
    "objective",
)
"""What :func:`population_gradient` returns at a point, in order."""


def population_gradient(spec: LinearSpec, hp: LinearHParams) -> Callable[[Array, Array], tuple]:
    """``at(s, n)``: the leader's myopic and exact Stackelberg gradients at one point of the
    (signal, noise) plane (a pure function; vmap it over a grid and jit it at the caller).

    See docs/theory/population.md; the follower is at its best response ``w*(theta)``
    (ridge, so ``w*`` depends on ``theta`` only). ``theta = s m_hat + n e``
    with ``m_hat = m/||m||`` and ``e`` the first noise coordinate; ``w*`` lies
    in ``span(theta, m)``, so both gradients stay in that plane. Returns the
    components ``(d signal, d noise)`` of the myopic gradient ``w* - 2 c theta``
    and of ``dJ/dtheta`` (fpo-exact with ``gamma = 2``), and ``J`` itself
    (:data:`POPULATION_FIELD_NAMES`), as scalars.

    Raises:
      ValueError: the game's follower is not the population follower with a ridge anchor.
    """
    from toysim import linalg
    from toysim.game.followers import best_response, make_follower
    from toysim.game.leader import leader_gradient
    from toysim.game.linear_round import utility_of
    from toysim.game.policy import GaussianPolicy

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

    return at
