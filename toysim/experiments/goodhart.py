"""Goodhart curves: gold (true utility) and proxy (reward model) against ``d = sqrt(KL)``.

For one preset (docs/results/goodhart.md):

* the RL-style leaders (rlhf and the FPO variants) along their runs, with
  ``KL(pi_t || pi_0)`` of the Gaussian policy in closed form
  (:func:`toysim.game.best_of_n.gaussian_kl`);
* expert iteration (best-of-n as a leader, :func:`toysim.game.best_of_n.expert_move`,
  composed with the preset's game by :class:`toysim.game.composition.Composition`) for a
  few ``n``, along its runs (on the pairwise presets with the same pairwise follower as the
  leaders);
* best-of-n sampling from the initial policy and reward model over ``n``, with
  ``KL = log n - (n - 1)/n``.

A point policy (paper-linear) has no KL; it is read as the mean of
``N(theta, s^2 I)`` with the sampling spread ``s`` of best-of-n, so
``d = ||theta - theta_0|| / (s sqrt 2)``. Gao, Schulman, Hilton (2022)'s forms
are fitted to the gold gain over the initial policy by least squares on every
(seed, point) pair: ``d (alpha - beta d)`` for best-of-n, ``d (alpha - beta log d)``
for the leaders that iterate.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from toysim.experiments.runner import run_seeds
from toysim.experiments.tables import markdown_table
from toysim.game.best_of_n import (
    best_of_n_curve,
    gaussian_kl,
)
from toysim.game.composition import Composition, CompositionParams, ExpertParams
from toysim.game.linear_round import initial_reward_weights, utility_of
from toysim.game.policy import GaussianPolicy, PointPolicy
from toysim.game.sampled import (
    SampledHParams,
    SampledSpec,
    initial_reward_params,
    network_model,
    neural_utility,
)
from toysim.model.utility import utility
from toysim.presets import build
from toysim.provenance import describe
from toysim.seeds import seed_keys

GOODHART_PRESETS = ("paper-linear", "population", "paper-nn", "pairwise-linear", "pairwise-nn")
"""The presets with a Goodhart figure."""
RL_METHODS = ("rlhf", "fpo-relaxed", "fpo-practical", "fpo-exact")
"""The RL-style leaders drawn along their runs."""
NEURAL_RL_METHODS = ("rlhf", "fpo-relaxed", "fpo-practical")
"""The MLP presets' leaders: their fpo-exact (a MINRES solve per iteration) is left out for
its cost."""
NEURAL_GOODHART = {
    "paper-nn": (functools.partial(build, "paper-nn"), NEURAL_RL_METHODS),
    "pairwise-linear": (functools.partial(build, "pairwise-linear"), RL_METHODS),
    "pairwise-nn": (functools.partial(build, "pairwise-nn"), NEURAL_RL_METHODS),
}
"""The sampled-buffer presets: ``name -> (builder, leaders)``. pairwise-linear keeps
fpo-exact: its reward model's loss is strictly convex (logistic plus ridge) and 16 seeds
take about 25 s."""
BEST_OF_N = tuple(2**i for i in range(13))
"""``n`` of best-of-n sampling from the initial policy: 1 to 4096 (``d`` up to 2.7)."""
EXPERT_NS = (4, 16)
"""``n`` of expert iteration."""
EXPERT_GROUPS, EXPERT_STEP = 8, 0.1
"""Groups of ``n`` per iteration and the step toward their kept outputs."""
POINT_SPREAD = 0.3
"""The sampling spread of a point-policy preset (the population preset's ``sigma``)."""
REPEATS = 256
"""Monte Carlo repeats per ``n`` and seed of best-of-n sampling."""


class GoodhartCurve(NamedTuple):
    """One leader's (or best-of-n's) points over seeds.

    Attributes:
      d: ``sqrt(KL)`` from the initial policy, ``[seeds, points]``.
      gold: the true utility of the policy, ``[seeds, points]``.
      proxy: the reward model's expected score of the policy, ``[seeds, points]``.
      gold0: the initial policy's gold, ``[seeds]``.
      form: ``best-of-n`` (fit ``d (alpha - beta d)``) or ``rl`` (``d (alpha - beta log d)``).
    """

    d: np.ndarray
    gold: np.ndarray
    proxy: np.ndarray
    gold0: np.ndarray
    form: str


class GoodhartFit(NamedTuple):
    """A least-squares fit of the gold gain ``gold - gold0``.

    Attributes:
      form: ``best-of-n`` or ``rl``.
      alpha, beta: the coefficients.
      rmse: the root mean squared residual of the fit.
      points: how many (seed, point) pairs it was fitted on.
    """

    form: str
    alpha: float
    beta: float
    rmse: float
    points: int


def goodhart_features(d: np.ndarray, form: str) -> np.ndarray:
    """``[d, -d^2]`` (best-of-n) or ``[d, -d log d]`` (rl, ``0 log 0 = 0``), ``[..., 2]``."""
    d = np.asarray(d, dtype=float)
    if form == "best-of-n":
        return np.stack([d, -(d**2)], axis=-1)
    if form == "rl":
        d_log_d = np.where(d > 0, d * np.log(np.where(d > 0, d, 1.0)), 0.0)
        return np.stack([d, -d_log_d], axis=-1)
    raise ValueError(f"form must be best-of-n or rl; got {form!r}")


def goodhart_form(d: np.ndarray, alpha: float, beta: float, form: str) -> np.ndarray:
    """``d (alpha - beta d)`` (best-of-n) or ``d (alpha - beta log d)`` (rl)."""
    return goodhart_features(d, form) @ np.array([alpha, beta])


def fit_goodhart(d: np.ndarray, gain: np.ndarray, form: str) -> GoodhartFit:
    """``(alpha, beta)`` minimising ``sum (gain - goodhart_form(d))^2`` over every point.

    Args:
      d: ``sqrt(KL)``, any shape.
      gain: the gold gain over the initial policy, the same shape.
      form: ``best-of-n`` or ``rl``.
    """
    x = goodhart_features(np.ravel(d), form)
    y = np.ravel(gain).astype(float)
    (alpha, beta), *_ = np.linalg.lstsq(x, y, rcond=None)
    rmse = float(np.sqrt(np.mean((x @ np.array([alpha, beta]) - y) ** 2)))
    return GoodhartFit(form, float(alpha), float(beta), rmse, int(y.size))


def curve_fit(curve: GoodhartCurve) -> GoodhartFit:
    """:func:`fit_goodhart` of a curve's gold gain over its initial policy."""
    return fit_goodhart(curve.d, curve.gold - curve.gold0[:, None], curve.form)


class GoodhartRuns(NamedTuple):
    """Every Goodhart curve of one preset.

    Attributes:
      preset: the preset.
      curves: label -> :class:`GoodhartCurve` (the leaders, ``expert iteration n=N``,
        ``best-of-n``).
      fits: label -> :class:`GoodhartFit`.
      seeds: the number of seeds (``0..seeds-1``).
      spread: the sampling spread of best-of-n (the policy's ``sigma`` at the start).
      config: label -> the game's description.
    """

    preset: str
    curves: dict
    fits: dict
    seeds: int
    spread: float
    config: dict


def linear_curves(preset: str, seeds: int) -> tuple[dict, dict, float]:
    """The curves of a linear-RM preset: its leaders, expert iteration and best-of-n."""
    curves, config = {}, {}
    base_spec, base_hp = build(preset, "rlhf")
    spec, hp = base_spec, base_hp
    spread = float(hp.sigma) or POINT_SPREAD
    theta0 = jnp.zeros(spec.dim)
    u = utility_of(spec, hp)
    gold0 = float(gold_of(base_spec, base_hp)(theta0))
    for method in RL_METHODS:
        spec, hp = build(preset, method)
        run = run_seeds(spec, hp, seeds)
        kl = gaussian_kl(run.theta, spread, theta0, spread)
        curves[method] = curve(kl, run.expected_utility, run.proxy_reward, gold0, "rl")
        config[method] = describe(spec, hp)
    expert = Composition(base_spec, "expert", max_n=max(EXPERT_NS), groups=EXPERT_GROUPS)
    for n in EXPERT_NS:
        bh = CompositionParams(base_hp, expert=ExpertParams(float(n), spread, EXPERT_STEP))
        run = run_seeds(expert, bh, seeds)
        curves[f"expert iteration n={n}"] = curve(
            run.kl, run.expected_utility, run.proxy_reward, gold0, "rl"
        )
    config["expert iteration"] = {
        **describe(base_spec, base_hp),
        "best_of_n": dict(ns=list(EXPERT_NS), groups=EXPERT_GROUPS, step=EXPERT_STEP),
    }

    def one_shot(key):
        w = initial_reward_weights(key, base_spec, base_hp)
        return best_of_n_curve(
            jax.random.fold_in(key, 2),
            theta0,
            spread,
            BEST_OF_N,
            REPEATS,
            lambda y: y @ w,
            lambda y: utility(u, y),
        )

    bon = jax.jit(jax.vmap(one_shot))(seed_keys(seeds))
    curves["best-of-n"] = curve(bon.kl, bon.gold, bon.proxy, None, "best-of-n")
    return curves, config, spread


def gold_of(spec, hp):
    """``theta [..., d] -> gold``: the game's policy's expected utility at ``theta``."""
    policy = GaussianPolicy(hp.sigma) if spec.policy == "gaussian" else PointPolicy()
    u = utility_of(spec, hp)
    return lambda theta: policy.expected_utility(theta, u)


def curve(kl, gold, proxy, gold0, form: str) -> GoodhartCurve:
    """A :class:`GoodhartCurve` from ``[seeds, points]`` arrays; ``gold0`` a number, or
    ``None`` to take each seed's first point (best-of-n at ``n = 1``)."""
    gold = np.asarray(gold)
    start = gold[:, 0] if gold0 is None else np.full(gold.shape[0], gold0)
    d = np.sqrt(np.maximum(np.asarray(kl), 0.0))
    return GoodhartCurve(d, gold, np.asarray(proxy), start, form)


def kept_iterations(steps: int) -> np.ndarray:
    """``0, 1, ..., 99, 119, 139, ... < steps``: the first 100 iterations (the policy moves
    fast), then every 20th, which ends at the last iteration when ``steps`` is a multiple of 20
    (paper-nn's 4,000, pairwise-linear's 1,000, pairwise-nn's 1,500)."""
    return np.concatenate([np.arange(min(100, steps)), np.arange(119, steps, 20)])


def neural_curves(
    builder: Callable[[str], tuple[SampledSpec, SampledHParams]],
    methods: tuple[str, ...],
    seeds: int,
) -> tuple[dict, dict, float]:
    """A sampled-buffer preset's curves: its leaders and expert iteration (at
    :func:`kept_iterations`), and best-of-n sampling from the initial policy and reward model.

    Args:
      builder: the preset, ``method -> (SampledSpec, SampledHParams)``
        (:func:`toysim.presets.build` of a sampled-buffer preset).
      methods: the RL-style leaders.
      seeds: the number of seeds.
    """
    curves, config = {}, {}
    base_spec, base_hp = builder("rlhf")
    keep = kept_iterations(base_spec.steps)
    u = neural_utility(base_spec, base_hp)
    gold0 = float(utility(u, jnp.zeros(base_spec.dim)))
    for method in methods:
        spec, hp = builder(method)
        run = run_seeds(spec, hp, seeds)
        theta, sigma = run.theta[:, keep], run.sigma[:, keep]
        kl = gaussian_kl(theta, sigma, jnp.zeros(spec.dim), hp.sigma_start)
        curves[method] = curve(kl, run.utility[:, keep], run.proxy_reward[:, keep], gold0, "rl")
        config[method] = describe(spec, hp)
    expert = Composition(base_spec, "expert", max_n=max(EXPERT_NS), groups=EXPERT_GROUPS)
    for n in EXPERT_NS:
        bh = CompositionParams(base_hp, expert=ExpertParams(float(n), step=EXPERT_STEP))
        run = run_seeds(expert, bh, seeds)
        curves[f"expert iteration n={n}"] = curve(
            run.kl[:, keep], run.utility[:, keep], run.proxy_reward[:, keep], gold0, "rl"
        )
    config["expert iteration"] = {
        **describe(base_spec, base_hp),
        "best_of_n": dict(ns=list(EXPERT_NS), groups=EXPERT_GROUPS, step=EXPERT_STEP),
    }
    model = network_model(base_spec)

    def one_shot(key):
        init_key, _ = jax.random.split(key)  # the runs' initial reward model of this seed
        phi = initial_reward_params(model, base_hp, init_key, jnp.result_type(float))
        return best_of_n_curve(
            jax.random.fold_in(key, 2),
            jnp.zeros(base_spec.dim),
            base_hp.sigma_start,
            BEST_OF_N,
            REPEATS,
            lambda y: model.reward(phi, y),
            lambda y: utility(u, y),
        )

    bon = jax.jit(jax.vmap(one_shot))(seed_keys(seeds))
    curves["best-of-n"] = curve(bon.kl, bon.gold, bon.proxy, None, "best-of-n")
    return curves, config, float(base_hp.sigma_start)


def goodhart_runs(preset: str, quick: bool = False) -> GoodhartRuns:
    """Every Goodhart curve of ``preset`` over 16 seeds (4 with ``quick``), and their fits."""
    seeds = 4 if quick else 16
    if preset in NEURAL_GOODHART:
        curves, config, spread = neural_curves(*NEURAL_GOODHART[preset], seeds)
    else:
        curves, config, spread = linear_curves(preset, seeds)
    fits = {label: curve_fit(c) for label, c in curves.items()}
    return GoodhartRuns(preset, curves, fits, seeds, spread, config)


def goodhart_summary(runs: GoodhartRuns) -> dict:
    """The metadata of a Goodhart figure: preset, seeds, spread, configuration, the fits, and
    per curve the median final (largest-``n``) ``d``, gold and proxy, and the peak median gold."""
    finals = {}
    for label, c in runs.curves.items():
        finals[label] = {
            "final_d": float(np.median(c.d[:, -1])),
            "final_gold": float(np.median(c.gold[:, -1])),
            "final_proxy": float(np.median(c.proxy[:, -1])),
            "peak_median_gold": float(np.max(np.median(c.gold, axis=0))),
            "initial_gold": float(np.median(c.gold0)),
        }
    return {
        "preset": runs.preset,
        "seeds": runs.seeds,
        "best_of_n_spread": runs.spread,
        "config": runs.config,
        "fits": {label: f._asdict() for label, f in runs.fits.items()},
        "curves": finals,
    }


def goodhart_table(all_runs: list[GoodhartRuns]) -> str:
    """The fitted coefficients of every curve of every preset, as a Markdown table."""
    header = ("preset", "curve", "form", "alpha", "beta", "fit RMSE", "points", "peak median gold")
    cells = []
    for runs in all_runs:
        for label, f in runs.fits.items():
            peak = float(np.max(np.median(runs.curves[label].gold, axis=0)))
            form = "d(alpha - beta d)" if f.form == "best-of-n" else "d(alpha - beta log d)"
            cells.append(
                (runs.preset, label, form, f"{f.alpha:.4g}", f"{f.beta:.4g}", f"{f.rmse:.3g}")
                + (str(f.points), f"{peak:.3f}")
            )
    return markdown_table(header, cells) + "\n"
