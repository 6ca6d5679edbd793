"""Mitigations beside FPO at a matched number of leader steps (docs/results/mitigations.md).

Every variant runs the preset's ``T`` iterations through
:func:`toysim.game.trajectory.make_trajectory` of a :class:`~toysim.game.composition.Composition`
on the same seeds:

* ``rlhf``: myopic RLHF, one reward model;
* ``kl-leash (best c)``: RLHF with the action cost ``c`` of the ``kl-leash``
  recipe's grid whose median final gold utility is highest *on these seeds*
  (tuned on the gold, an advantage no practitioner has), and
  ``kl-leash (2x best c)``: the leash a factor of two too tight;
* ``ensemble k=5 (mean)``, ``ensemble k=5 (min)``: RLHF on five reward models;
* ``early stopping``: RLHF that stops on a held-out gold budget (:data:`EARLY_STOP`);
* ``fpo-relaxed``, ``fpo-practical``, ``fpo-exact``: FPO with the preset's default ``gamma``.

Early stopping takes leader steps up to the check that stops it (at most ``T``), then
plays the policy of its best check (a rollback); the others take exactly ``T``. The gold
utility is ``E_{y~pi}[U(y)]`` (``U(theta)`` for a point policy); the proxy is the
aggregated reward model's score of the policy; a run has collapsed when its final gold is
below 0.8 times its peak
(:func:`toysim.model.metrics.collapsed`, the rule of every collapse count).

:func:`neural_mitigation_runs` runs the same comparison on a sampled-buffer
preset (paper-nn, pairwise-linear, pairwise-nn) through
:func:`toysim.game.sampled_round.sampled_trajectory` of a composition: the leash grid is
:data:`NEURAL_LEASH_FACTORS` times the preset's ``c``, the early-stopping rule
checks :data:`NEURAL_STOP_CHECKS` times per run, and fpo-exact runs on
pairwise-linear only (a MINRES solve per iteration makes it too slow on the MLP
presets). The gold is ``E[U(y)]`` under ``N(theta_t, sigma_t^2 I)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import jax
import numpy as np

from toysim.analysis import summarise
from toysim.config import LinearHParams, LinearSpec
from toysim.experiments.runner import run_seeds
from toysim.experiments.tables import columns_table
from toysim.game.composition import NO_STOP, Composition, CompositionParams
from toysim.game.early_stop import StopParams, stop_iteration
from toysim.game.policy import GaussianPolicy
from toysim.game.sampled import neural_utility
from toysim.model.metrics import collapsed
from toysim.presets import RECIPES, build
from toysim.provenance import describe
from toysim.sweep import parse_grid

EARLY_STOP = dict(gold_budget=8, every=10.0, patience=3.0, label_noise=1.0)
"""The early-stopping rule of the comparison: 8 gold labels every 10 iterations, each with
noise of standard deviation 1 (a tenth of ``A``), patience 3 checks."""
ENSEMBLE_MEMBERS = 5
NEURAL_LEASH_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
"""The sampled-buffer presets' leash grid: these multiples of the preset's ``c``."""
NEURAL_STOP_CHECKS = 30
"""Early stopping on a sampled-buffer preset checks every ``T / 30`` iterations, the linear
comparison's 30 checks per run (:data:`EARLY_STOP`'s other numbers unchanged)."""
NEURAL_FPO = {"pairwise-linear": ("fpo-relaxed", "fpo-practical", "fpo-exact")}
"""The FPO leaders per sampled-buffer preset (default: relaxed and practical)."""


class Variant(NamedTuple):
    """One row of the comparison: its static structure and its numbers."""

    spec: Composition
    params: CompositionParams


class MitigationRuns(NamedTuple):
    """Every variant over seeds.

    Attributes:
      gold: label -> ``[seeds, T]`` gold utility ``E[U]``.
      proxy: label -> ``[seeds, T]`` the aggregated proxy reward.
      stopped: label -> ``[seeds, T]`` 1 once the leader has stopped.
      gold_spent: label -> ``[seeds, T]`` gold labels spent so far.
      config: the preset, each variant's game, members, aggregate and stopping rule.
      seeds: the number of seeds.
      amplitude: ``A = U(m)``, the ideal gold utility.
      ideal: the best final gold a policy can reach: ``A`` for a point policy,
        ``E[U(y)]`` under ``N(m, sigma_T^2 I)`` for a Gaussian one.
    """

    gold: dict[str, np.ndarray]
    proxy: dict[str, np.ndarray]
    stopped: dict[str, np.ndarray]
    gold_spent: dict[str, np.ndarray]
    config: dict
    seeds: int
    amplitude: float
    ideal: float


def single(spec: LinearSpec, hp: LinearHParams) -> Variant:
    """The game as it is: one reward model, no early stopping."""
    return Variant(Composition(spec), CompositionParams(hp, NO_STOP))


def run_variant(variant: Variant, seeds: int):
    """The variant's :class:`~toysim.game.records.Trajectory` over ``seeds`` seeds."""
    return run_seeds(variant.spec, variant.params, seeds)


class Setting(NamedTuple):
    """One preset's comparison: how its variants are built and run.

    Attributes:
      preset: the preset's name.
      build: ``method -> (spec, hp)``, the preset with that leader.
      run: ``(variant, seeds) -> (gold, proxy, stopped, gold_spent)``, each ``[seeds, T]``.
      leash_grid: the action costs ``c`` tried for the best leash.
      stop: the early-stopping rule.
      fpo: the FPO leaders compared.
      ideal: the best final gold a policy can reach (:attr:`MitigationRuns.ideal`).
    """

    preset: str
    build: Callable[[str], tuple]
    run: Callable[[Variant, int], tuple]
    leash_grid: tuple[float, ...]
    stop: StopParams
    fpo: tuple[str, ...]
    ideal: float


def linear_outcome(variant: Variant, seeds: int) -> tuple:
    """``(gold, proxy, stopped, gold_spent)`` of a linear-game variant (:func:`run_variant`)."""
    t = run_variant(variant, seeds)
    return tuple(
        np.asarray(x) for x in (t.expected_utility, t.proxy_reward, t.stopped, t.gold_spent)
    )


def neural_outcome(variant: Variant, seeds: int) -> tuple:
    """``(gold, proxy, stopped, gold_spent)`` of a sampled-buffer variant, the gold
    ``E[U(y)]`` under ``N(theta_t, sigma_t^2 I)`` (closed form,
    :class:`~toysim.game.policy.GaussianPolicy`)."""
    t = run_seeds(variant.spec, variant.params, seeds)
    u = neural_utility(variant.spec.game, variant.params.game)
    gold = jax.vmap(jax.vmap(lambda th, s: GaussianPolicy(s).expected_utility(th, u)))(
        t.theta, t.sigma
    )
    return tuple(np.asarray(x) for x in (gold, t.proxy_reward, t.stopped, t.gold_spent))


def leash_medians(setting: Setting, seeds: int) -> list[float]:
    """RLHF's median final gold utility for each ``c`` of ``setting.leash_grid``."""
    base = single(*setting.build("rlhf"))
    return [
        float(np.median(setting.run(leashed(base, c), seeds)[0][:, -1])) for c in setting.leash_grid
    ]


def leashed(variant: Variant, c: float) -> Variant:
    """``variant`` with the action cost (the KL leash) ``c``."""
    params = variant.params._replace(game=variant.params.game._replace(action_cost=c))
    return variant._replace(params=params)


def variants(setting: Setting, best_c: float) -> dict[str, Variant]:
    """Every variant of the comparison on ``setting`` (see the module docstring)."""
    rlhf = single(*setting.build("rlhf"))
    ensemble = {
        f"ensemble k={ENSEMBLE_MEMBERS} ({how})": rlhf._replace(
            spec=dataclasses.replace(rlhf.spec, members=ENSEMBLE_MEMBERS, aggregate=how)
        )
        for how in ("mean", "min")
    }
    return {
        "rlhf": rlhf,
        "kl-leash (best c)": leashed(rlhf, best_c),
        "kl-leash (2x best c)": leashed(rlhf, 2.0 * best_c),
        **ensemble,
        "early stopping": Variant(
            dataclasses.replace(rlhf.spec, gold_budget=EARLY_STOP["gold_budget"]),
            rlhf.params._replace(stop=setting.stop),
        ),
        **{m: single(*setting.build(m)) for m in setting.fpo},
    }


def comparison_runs(setting: Setting, seeds: int) -> MitigationRuns:
    """Every variant of ``setting`` over ``seeds`` seeds."""
    medians = leash_medians(setting, seeds)
    best_c = float(setting.leash_grid[int(np.argmax(medians))])
    gold, proxy, stopped, spent, config = {}, {}, {}, {}, {}
    for label, variant in variants(setting, best_c).items():
        gold[label], proxy[label], stopped[label], spent[label] = setting.run(variant, seeds)
        config[label] = {
            **describe(variant.spec.game, variant.params.game),
            "members": variant.spec.members,
            "aggregate": variant.spec.aggregate,
            "gold_budget": variant.spec.gold_budget,
            "stop": {k: float(v) for k, v in variant.params.stop._asdict().items()},
        }
    amplitude = float(setting.build("rlhf")[1].amplitude)
    config = {
        "preset": setting.preset,
        "kl_best_c": best_c,
        "kl_grid": list(setting.leash_grid),
        "kl_grid_medians": medians,
        "variants": config,
    }
    return MitigationRuns(gold, proxy, stopped, spent, config, seeds, amplitude, setting.ideal)


def mitigation_runs(quick: bool = False, preset: str = "paper-linear") -> MitigationRuns:
    """Every variant on ``preset`` over 16 seeds (4 if quick), the preset's ``T`` iterations."""
    _, grid = parse_grid(RECIPES["kl-leash"].grid[0])
    stop = StopParams(EARLY_STOP["patience"], EARLY_STOP["every"], EARLY_STOP["label_noise"])
    fpo = ("fpo-relaxed", "fpo-practical", "fpo-exact")
    amplitude = float(build(preset)[1].amplitude)  # a point policy: the ideal gold is A
    setting = Setting(
        preset, lambda m: build(preset, m), linear_outcome, tuple(grid), stop, fpo, amplitude
    )
    return comparison_runs(setting, 4 if quick else 16)


def neural_mitigation_runs(preset: str, quick: bool = False) -> MitigationRuns:
    """Every variant on the sampled-buffer ``preset`` over 16 seeds, its ``T`` iterations
    (quick: 3 seeds, ``T / 10`` iterations).

    The leash grid is :data:`NEURAL_LEASH_FACTORS` times the preset's ``c``; early
    stopping checks every ``T / NEURAL_STOP_CHECKS`` iterations; the FPO leaders are
    :data:`NEURAL_FPO`'s (relaxed and practical by default).
    """

    def preset_game(method: str) -> tuple:
        spec, hp = build(preset, method)
        return (dataclasses.replace(spec, steps=spec.steps // 10), hp) if quick else (spec, hp)

    spec, hp = preset_game("rlhf")
    grid = tuple(float(f * hp.action_cost) for f in NEURAL_LEASH_FACTORS)
    every = float(spec.steps // NEURAL_STOP_CHECKS)
    stop = StopParams(EARLY_STOP["patience"], every, EARLY_STOP["label_noise"])
    fpo = NEURAL_FPO.get(preset, ("fpo-relaxed", "fpo-practical"))
    u = neural_utility(spec, hp)
    ideal = float(GaussianPolicy(hp.sigma_end).expected_utility(u.ideal, u))
    setting = Setting(preset, preset_game, neural_outcome, grid, stop, fpo, ideal)
    return comparison_runs(setting, 3 if quick else 16)


def mitigation_table(runs: MitigationRuns) -> list[dict]:
    """Per variant: final and peak gold (median, quartiles), collapse rate, final proxy - gold
    gap (median), leader steps taken (``T``, or the iteration whose check stopped the leader;
    median, quartiles) and gold labels spent (median over seeds)."""
    rows = []
    for label, gold in runs.gold.items():
        final = gold[:, -1]
        stop = np.asarray(stop_iteration(runs.stopped[label]))
        steps = np.where(stop > 0, stop, gold.shape[1])
        rows.append(
            {
                "variant": label,
                **{f"final_gold_{k}": v for k, v in summarise(final).items()},
                **{f"peak_gold_{k}": v for k, v in summarise(gold.max(axis=1)).items()},
                "collapse_rate": float(np.mean(collapsed(final, gold.max(axis=1)))),
                "proxy_gold_gap": float(np.median(runs.proxy[label][:, -1] - final)),
                "leader_steps": float(np.median(steps)),
                "leader_steps_q25": float(np.percentile(steps, 25)),
                "leader_steps_q75": float(np.percentile(steps, 75)),
                "gold_spent": float(np.median(runs.gold_spent[label][:, -1])),
            }
        )
    return rows


def format_mitigation_table(rows: list[dict]) -> str:
    """A Markdown table of :func:`mitigation_table`."""
    return columns_table(
        [
            ("variant", "{variant}"),
            (
                "final gold, median [IQR]",
                "{final_gold_median:.3f} [{final_gold_q25:.3f}, {final_gold_q75:.3f}]",
            ),
            ("collapse rate", "{collapse_rate:.2f}"),
            ("proxy - gold", "{proxy_gold_gap:.3f}"),
            ("leader steps", "{leader_steps:.0f}"),
            ("gold labels", "{gold_spent:.0f}"),
        ],
        rows,
    )
