"""The leader's landscape ``V(theta)`` (:mod:`toysim.game.landscape`) on the projection plane of
pairwise-linear and paper-linear, its local maxima (and how much ``V`` there owes to the draw of
the pairs), gradient ascent on it, and each method's path over it; along pairwise-linear's
exact-FPO runs, where the steering term points; and along one run at the best response, how the
best response to a window of noisy comparisons compares with the Adam follower
(docs/theory/pairwise.md)."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from toysim.config import as_float_arrays
from toysim.experiments.runner import run_seeds
from toysim.game.landscape import LANDSCAPE_PAIRS, ascend, landscape, pairs_value, plane_point
from toysim.game.optimum import buffer_optimum, newton_steps
from toysim.game.sampled import SampledSpec, leader_reward, network_model, neural_utility
from toysim.game.sampled_round import leader_view
from toysim.model.interface import pairwise
from toysim.model.metrics import projection_signal_noise
from toysim.model.sampling import standard_normal
from toysim.model.utility import utility, utility_grad
from toysim.presets import build
from toysim.provenance import describe
from toysim.seeds import seed_keys

LANDSCAPE_PRESETS = ("pairwise-linear", "paper-linear")
"""The two games drawn side by side: comparisons, and the published point regression."""
LANDSCAPE_METHODS = ("rlhf", "fpo-practical", "fpo-relaxed", "fpo-exact")
"""The methods whose paths are drawn (each preset's own labels and switches)."""
EXPECTED_RUN = "fpo-exact, expected labels"
"""The extra pairwise-linear path: exact FPO trained on expected labels."""
PLANE = {"pairwise-linear": ((-3.0, 6.0), (0.0, 5.5)), "paper-linear": ((-1.0, 4.5), (0.0, 3.0))}
"""Each preset's window of the plane, ``((signal range), (noise range))``."""
ASCENT_STARTS = {"the start, theta = 0": 0.0, "noise 2.2": 2.2}
"""Where gradient ascent on ``V`` starts: the noise coordinate of ``theta = n e`` (signal 0)."""


def value_grid(value, u, signal_dims: int, signal: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """``V`` at ``plane_point(s, n)`` for every ``s`` in ``signal`` and ``n`` in ``noise``:
    ``[len(noise), len(signal)]``, jitted and mapped in batches of 64 points."""
    grid_s, grid_n = np.meshgrid(signal, noise)
    points = plane_point(
        jnp.asarray(grid_s.ravel()), jnp.asarray(grid_n.ravel()), u.ideal, signal_dims
    )
    values = jax.jit(lambda p: jax.lax.map(value, p, batch_size=64))(points)
    return np.asarray(values).reshape(grid_s.shape)


def grid_maxima(values: np.ndarray) -> list[tuple[int, int]]:
    """``(row, column)`` of each interior local maximum of ``values`` (above its 8 neighbours),
    the first row (noise 0, on the line through ``m``) mirrored: ``V(s, -n) = V(s, n)``."""
    padded = np.pad(np.concatenate([values[1:2], values]), 1, constant_values=np.inf)
    centre = padded[1:-1, 1:-1]
    shifts = [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0)]
    rows, cols = padded.shape
    above = np.ones(centre.shape, bool)
    for a, b in shifts:
        above &= centre > padded[1 + a : rows - 1 + a, 1 + b : cols - 1 + b]
    return [(int(r) - 1, int(c)) for r, c in zip(*np.nonzero(above), strict=True) if r >= 1]


class Maximum(NamedTuple):
    """A local maximum of ``V``: where it is, ``V`` and ``U`` there, and ``|grad V|`` (how
    close the ascent came to stationarity)."""

    signal: float
    noise: float
    value: float
    utility: float
    gradient_norm: float


ASCENT = (0.2, 300)
"""Gradient ascent on ``V``: the step and the iterations."""


def ascents(value, u, starts: jax.Array) -> tuple[jax.Array, list[Maximum]]:
    """Gradient ascent on ``V`` (:func:`toysim.game.landscape.ascend`, :data:`ASCENT`) from each
    of ``starts`` (``[n, d]``, one batch): the paths ``[n, iterations + 1, d]`` and each end
    point as a :class:`Maximum`."""

    def one(theta):
        path = ascend(value, theta, *ASCENT)
        end = path[-1]
        s, n = projection_signal_noise(end, u.ideal)
        norm = jnp.linalg.norm(jax.grad(value)(end))
        return path, (s, n, value(end), utility(u, end), norm)

    paths, ends = jax.jit(jax.vmap(one))(starts)
    columns = [np.asarray(x, dtype=float) for x in ends]
    return paths, [Maximum(*(float(c[i]) for c in columns)) for i in range(starts.shape[0])]


DRAWS = 6
"""Draws of the pairs over which :func:`draw_spread` measures ``V``'s spread."""


def draw_spread(
    spec: SampledSpec, hp, points: jax.Array, draws: int = DRAWS, pairs: int = LANDSCAPE_PAIRS
) -> list[float]:
    """The standard deviation (``ddof = 1``) of ``V`` at each of ``points`` (``[n, d]``) over
    ``draws`` draws of the pairs game's ``pairs`` stationary pairs
    (:func:`toysim.game.landscape.pairs_value` with the keys of seeds ``0 .. draws - 1``; the
    figure's ``V`` is seed 0's): how much of ``V`` is the draw's."""
    value = jax.vmap(jax.vmap(pairs_value(spec, hp, pairs), (0, None)), (None, 0))
    values = jax.jit(value)(points, seed_keys(draws))
    return np.std(np.asarray(values, dtype=float), axis=0, ddof=1).tolist()


def distinct(maxima: list[Maximum], tolerance: float = 0.05) -> list[Maximum]:
    """``maxima`` without repeats (end points within ``tolerance`` in the plane), highest ``U``
    first."""
    kept: list[Maximum] = []
    for m in sorted(maxima, key=lambda m: -m.utility):
        if all(np.hypot(m.signal - k.signal, m.noise - k.noise) > tolerance for k in kept):
            kept.append(m)
    return kept


class Landscape(NamedTuple):
    """One preset's ``V`` on its plane, its maxima, the ascents and the methods' paths.

    Attributes:
      signal, noise: the grid's coordinates.
      value: ``V`` on the grid, ``[len(noise), len(signal)]``.
      maxima: the refined local maxima, highest ``U`` first.
      draw_spread: on the pairs game, :func:`draw_spread` at each of ``maxima`` (its point in
        the plane); ``None`` on points, whose ``V`` draws nothing.
      ascents: label -> ``(signal, noise)`` of gradient ascent on ``V``.
      paths: label -> ``(signal, noise)``, each ``[seeds, T]``.
      final_utility: label -> ``U(theta_T)`` per seed.
      ideal_norm, amplitude: ``||m||`` and ``A``.
      config: label -> the game's description.
    """

    signal: np.ndarray
    noise: np.ndarray
    value: np.ndarray
    maxima: list[Maximum]
    draw_spread: list[float] | None
    ascents: dict[str, tuple[np.ndarray, np.ndarray]]
    paths: dict[str, tuple[np.ndarray, np.ndarray]]
    final_utility: dict[str, np.ndarray]
    ideal_norm: float
    amplitude: float
    config: dict[str, dict]


def preset_runs(preset: str, seeds: int, steps: int | None = None) -> dict[str, tuple]:
    """label -> ``(spec, hp, trajectory)`` of each of :data:`LANDSCAPE_METHODS` on ``preset``
    (and :data:`EXPECTED_RUN` on pairwise-linear), ``seeds`` seeds, ``steps`` iterations (the
    preset's if ``None``); the sampled-buffer game's exact FPO records its states for
    :func:`steering_alignment`."""
    runs = {}
    for method in LANDSCAPE_METHODS:
        spec, hp = build(preset, method, steps=steps)
        if isinstance(spec, SampledSpec) and method == "fpo-exact":
            spec = dataclasses.replace(spec, record_state=True)
        runs[method] = spec, hp
    if preset == "pairwise-linear":
        runs[EXPECTED_RUN] = dataclasses.replace(runs["fpo-exact"][0], labels="expected"), hp
    return {label: (s, h, run_seeds(s, h, seeds)) for label, (s, h) in runs.items()}


def preset_landscape(preset: str, runs: dict[str, tuple], points: tuple[int, int]) -> Landscape:
    """:class:`Landscape` of ``preset`` on a ``points = (signal, noise)`` grid over
    :data:`PLANE`, with the paths of ``runs`` (:func:`preset_runs`): the local maxima are the
    ends of gradient ascent from the grid's own (:func:`grid_maxima`); on the pairs game the
    ascents from :data:`ASCENT_STARTS` are drawn too."""
    spec, hp, _ = runs["rlhf"]
    value, u = landscape(spec, hp)
    (s_lo, s_hi), (n_lo, n_hi) = PLANE[preset]
    signal, noise = np.linspace(s_lo, s_hi, points[0]), np.linspace(n_lo, n_hi, points[1])
    values = value_grid(value, u, spec.signal_dims, signal, noise)
    cells = grid_maxima(values)
    named = ASCENT_STARTS if preset == "pairwise-linear" else {}
    start_s = [signal[c] for _, c in cells] + [0.0] * len(named)
    start_n = [noise[r] for r, _ in cells] + list(named.values())
    starts = plane_point(jnp.asarray(start_s), jnp.asarray(start_n), u.ideal, spec.signal_dims)
    paths, ends = ascents(value, u, starts)
    maxima = distinct(ends[: len(cells)])
    spread = None
    if isinstance(spec, SampledSpec):
        at = [jnp.asarray([getattr(m, c) for m in maxima]) for c in ("signal", "noise")]
        spread = draw_spread(spec, hp, plane_point(*at, u.ideal, spec.signal_dims))
    drawn = {}
    for label, path in zip(named, paths[len(cells) :], strict=True):
        s, n = projection_signal_noise(path, u.ideal)
        drawn[label] = (np.asarray(s), np.asarray(n))
    trajectories, finals, config = {}, {}, {}
    for label, (s_, h_, trajectory) in runs.items():
        s, n = projection_signal_noise(trajectory.theta, u.ideal)
        trajectories[label] = (np.asarray(s), np.asarray(n))
        finals[label] = np.asarray(trajectory.utility[:, -1])
        config[label] = describe(s_, h_)
    return Landscape(
        signal,
        noise,
        values,
        maxima,
        spread,
        drawn,
        trajectories,
        finals,
        float(jnp.linalg.norm(u.ideal)),
        float(hp.amplitude),
        config,
    )


def steering_alignment(spec, hp, trajectory, every: int = 5, pairs: int = 256) -> dict:
    """Along a sampled-buffer run recorded with ``record_state``, every ``every`` iterations
    ``t`` at the state its leader saw (``theta_{t-1}``, ``phi_t``, the buffer): the steering
    direction ``-gamma grad_theta E[S]`` (``S`` the iteration's penalty, the mean over ``pairs``
    fixed pairs ``theta + sigma eps``, ``sigma = sigma_start``: the pairwise presets' spread is
    constant), ``cos(steering, grad U)``, whether ``theta`` lies outside
    the ball on ``[0, m]`` (``(theta - m) . theta > 0``) and ``U(theta)``; ``[seeds, C]`` arrays
    (the cosine NaN at ``theta = 0``, where ``S`` vanishes)."""
    hp = as_float_arrays(hp)
    u = neural_utility(spec, hp)
    model = network_model(spec)
    models = (model, pairwise(model))
    eps = standard_normal(jax.random.key(0), (pairs, 2, spec.dim), hp.gamma.dtype)

    def at(theta, phi, buffer, key):
        view = leader_view(spec, hp, u, models, phi, buffer, theta, key)

        def penalty(x):
            return jnp.mean(jax.vmap(lambda e: view.penalty(x + hp.sigma_start * e))(eps))

        steering = -hp.gamma * jax.grad(penalty)(theta)
        rise = utility_grad(u, theta)
        reward = jax.grad(lambda x: leader_reward(model, view.phi, x, hp.action_cost))(theta)
        cos = steering @ rise / (jnp.linalg.norm(steering) * jnp.linalg.norm(rise))
        return dict(
            cosine=cos,
            outside=(theta - u.ideal) @ theta > 0,
            utility=utility(u, theta),
            steering_norm=jnp.linalg.norm(steering),
            reward_norm=jnp.linalg.norm(reward),
        )

    take = np.arange(0, spec.steps, every)
    seen = jnp.concatenate([jnp.zeros_like(trajectory.theta[:, :1]), trajectory.theta[:, :-1]], 1)
    state = jax.tree.map(lambda x: x[:, take], (seen, trajectory.rm_params, trajectory.buffer))
    keys = jax.random.split(jax.random.key(1), take.size)
    out = jax.jit(jax.vmap(jax.vmap(at), in_axes=(0, 0, 0, None)))(*state, keys)
    return {name: np.asarray(v) for name, v in out.items()} | {"iteration": take}


def alignment_summary(alignment: dict, amplitude: float) -> dict:
    """The fraction of diagnosed iterations outside the ball, the mean cosine there, the median
    norms of the steering and of the reward term's gradient, and per region (outside / inside
    the ball, ``U`` below / above the bump's inflection value ``A e^{-1/2}``) the count, the
    fraction of cosines below 0 and their mean."""
    cos, outside = alignment["cosine"], alignment["outside"]
    low = alignment["utility"] < amplitude * np.exp(-0.5)
    known = np.isfinite(cos)
    regions = {}
    for name, where in (("outside", outside), ("inside", ~outside)):
        for part, level in (("below_inflection", low), ("above_inflection", ~low)):
            chosen = known & where & level
            regions[f"{name}_{part}"] = {
                "iterations": int(chosen.sum()),
                "fraction_pointing_down": float(np.mean(cos[chosen] < 0)) if chosen.any() else None,
                "mean_cosine": float(np.mean(cos[chosen])) if chosen.any() else None,
            }
    return {
        "fraction_outside_ball": float(np.mean(outside)),
        "mean_cosine_outside_ball": float(np.mean(cos[known & outside])),
        "median_steering_norm": float(np.median(alignment["steering_norm"])),
        "median_reward_norm": float(np.median(alignment["reward_norm"])),
        "regions": regions,
    }


def best_response_fit(spec, hp, trajectory) -> dict[str, np.ndarray]:
    """Along seed 0 of a pairs run at the best response (``params = optimum``, recorded with
    ``record_state``), at the state the leader saw each iteration: ``phi*``, the best response
    on the buffer (:func:`toysim.game.optimum.buffer_optimum` from 0, as the leader takes it),
    beside the Adam follower's ``phi_t``: ``best_norm`` ``||phi*||``, ``follower_norm``
    ``||phi_t||``, their ``cosine`` (NaN on the empty first buffer, where both are 0) and the
    ``blocks`` the buffer held; after the iteration, ``theta_norm`` and ``utility``. ``[T]``
    arrays."""
    hp = as_float_arrays(hp)
    model = pairwise(network_model(spec))
    phi, buffer = jax.tree.map(lambda x: x[0], (trajectory.rm_params, trajectory.buffer))

    def optimum(phi_t, held):
        start = jnp.zeros_like(phi_t)
        return buffer_optimum(model, held, hp.weight_decay, start, newton_steps(spec.data)).x

    star = np.asarray(jax.jit(jax.vmap(optimum))(phi, buffer))
    phi = np.asarray(phi)
    best, follower = np.linalg.norm(star, axis=-1), np.linalg.norm(phi, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.sum(star * phi, axis=-1) / (best * follower)
    return dict(
        best_norm=best,
        follower_norm=follower,
        cosine=cosine,
        blocks=np.asarray(buffer.filled).sum(axis=-1),
        theta_norm=np.linalg.norm(np.asarray(trajectory.theta[0]), axis=-1),
        utility=np.asarray(trajectory.utility[0]),
    )


def fit_summary(fit: dict[str, np.ndarray], first: int = 5) -> dict:
    """Of :func:`best_response_fit`: the range of ``||phi*||`` while the buffer holds 1 to
    ``first`` blocks, and once it is full (its most blocks) the 5th and 95th percentiles of
    ``||phi*||``, of ``||phi_t||`` and of their cosine, with the cosine's median;
    ``||theta||`` and ``U`` after each of the leader's first ``first`` steps against a best
    response (the buffer holding 1 to ``first`` blocks; the first iteration's is empty)."""
    blocks = fit["blocks"]
    filling = (blocks >= 1) & (blocks <= first)
    full = blocks == blocks.max()

    def spread(x):
        return np.percentile(x[full], [5, 95]).tolist()

    return {
        "first": first,
        "best_norm_filling": [
            float(fit["best_norm"][filling].min()),
            float(fit["best_norm"][filling].max()),
        ],
        "best_norm_full": spread(fit["best_norm"]),
        "follower_norm_full": spread(fit["follower_norm"]),
        "cosine_full": spread(fit["cosine"]),
        "cosine_full_median": float(np.median(fit["cosine"][full])),
        "theta_norm": fit["theta_norm"][filling].tolist(),
        "utility": fit["utility"][filling].tolist(),
    }


class LandscapeRuns(NamedTuple):
    """:func:`landscape_runs`: each preset's :class:`Landscape`, along pairwise-linear's
    exact-FPO runs (sampled and expected labels) :func:`steering_alignment`, and
    :func:`best_response_fit` along :func:`best_response_run`."""

    landscapes: dict[str, Landscape]
    alignment: dict[str, dict]
    seeds: int
    best_response: dict[str, np.ndarray]


BEST_RESPONSE_RUN = "fpo-exact at the best response, sampled labels, seed 0"
"""The run :func:`best_response_fit` follows."""


def best_response_run(steps: int | None = None) -> tuple:
    """``(spec, hp, trajectory)`` of :data:`BEST_RESPONSE_RUN` on pairwise-linear (``steps``
    iterations, the preset's if ``None``), recorded with ``record_state``."""
    spec, hp = build("pairwise-linear", "fpo-exact", steps=steps)
    optimum = dataclasses.replace(spec.method, params="optimum")
    spec = dataclasses.replace(spec, method=optimum, record_state=True)
    return spec, hp, run_seeds(spec, hp, [0])


def landscape_runs(quick: bool = False) -> LandscapeRuns:
    """Both of :data:`LANDSCAPE_PRESETS` over 16 seeds (4 if quick) on a 40 x 25 grid (20 x 12
    if quick), the steering's alignment along pairwise-linear's exact-FPO runs, and the best
    response's fit along :func:`best_response_run`."""
    seeds = 4 if quick else 16
    points = (20, 12) if quick else (40, 25)
    landscapes, alignment = {}, {}
    for preset in LANDSCAPE_PRESETS:
        runs = preset_runs(preset, seeds)
        landscapes[preset] = preset_landscape(preset, runs, points)
        if preset == "pairwise-linear":
            for label in ("fpo-exact", EXPECTED_RUN):
                alignment[label] = steering_alignment(*runs[label])
    fit = best_response_fit(*best_response_run())
    return LandscapeRuns(landscapes, alignment, seeds, fit)
