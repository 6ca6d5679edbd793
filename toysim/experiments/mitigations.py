"""Mitigations beside FPO at a matched number of leader steps (docs/results/mitigations.md).

Every variant runs the preset's ``T`` iterations through
:func:`toysim.game.ensemble.make_mitigated_trajectory` on the same seeds:

* ``rlhf``: myopic RLHF, one reward model;
* ``kl-leash (best c)``: RLHF with the action cost ``c`` of the ``kl-leash``
  recipe's grid whose median final gold utility is highest *on these seeds*
  (tuned on the gold, an advantage no practitioner has), and
  ``kl-leash (2x best c)``: the leash a factor of two too tight;
* ``ensemble k=5 (mean)``, ``ensemble k=5 (min)``: RLHF on five reward models;
* ``early stopping``: RLHF that stops on a held-out gold budget (:data:`EARLY_STOP`);
* ``fpo-relaxed``, ``fpo-practical``, ``fpo-exact``: FPO with the preset's default ``gamma``.

Early stopping freezes ``theta``, so it takes at most ``T`` leader steps; the
others take exactly ``T``. The gold utility is ``E_{y~pi}[U(y)]`` (``U(theta)``
for a point policy); the proxy is the aggregated reward model's score of the
policy; a run has collapsed when its final gold is below 0.8 times its peak
(the sweeps' rule, docs/results/sweeps.md).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from toysim.analysis import summarise
from toysim.config import GameSpec, HParams
from toysim.experiments.runner import run_seeds
from toysim.game.early_stop import StopParams
from toysim.game.ensemble import MitigationParams, MitigationSpec, make_mitigated_trajectory
from toysim.presets import RECIPES, build
from toysim.provenance import describe
from toysim.sweep import parse_grid

EARLY_STOP = dict(gold_budget=8, every=10.0, patience=3.0, label_noise=1.0)
"""The early-stopping rule of the comparison: 8 gold labels every 10 iterations, each with
noise of standard deviation 1 (a tenth of ``A``), patience 3 checks."""
ENSEMBLE_MEMBERS = 5
COLLAPSE_DROP = 0.2
NO_STOP = StopParams(patience=float("inf"), every=1.0, label_noise=0.0)


class Variant(NamedTuple):
    """One row of the comparison: its static structure and its numbers."""

    spec: MitigationSpec
    params: MitigationParams


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
    """

    gold: dict[str, np.ndarray]
    proxy: dict[str, np.ndarray]
    stopped: dict[str, np.ndarray]
    gold_spent: dict[str, np.ndarray]
    config: dict
    seeds: int
    amplitude: float


def single(spec: GameSpec, hp: HParams) -> Variant:
    """The game as it is: one reward model, no early stopping."""
    return Variant(MitigationSpec(spec), MitigationParams(hp, NO_STOP))


def run_variant(variant: Variant, seeds: int):
    """The variant's :class:`~toysim.game.ensemble.MitigatedTrajectory` over ``seeds`` seeds."""
    return run_seeds(variant.spec, variant.params, seeds, make_mitigated_trajectory)


def best_action_cost(preset: str, seeds: int) -> float:
    """The ``kl-leash`` recipe's ``c`` with the highest median final gold utility of RLHF."""
    name, grid = parse_grid(RECIPES["kl-leash"].grid[0])
    base = single(*build(preset, "rlhf"))
    medians = [
        np.median(np.asarray(run_variant(leashed(base, c), seeds).expected_utility)[:, -1])
        for c in grid
    ]
    return float(grid[int(np.argmax(medians))])


def leashed(variant: Variant, c: float) -> Variant:
    """``variant`` with the action cost (the KL leash) ``c``."""
    params = variant.params._replace(game=variant.params.game._replace(action_cost=c))
    return variant._replace(params=params)


def variants(preset: str, best_c: float) -> dict[str, Variant]:
    """Every variant of the comparison on ``preset`` (see the module docstring)."""
    rlhf = single(*build(preset, "rlhf"))
    stop = StopParams(EARLY_STOP["patience"], EARLY_STOP["every"], EARLY_STOP["label_noise"])
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
            rlhf.params._replace(stop=stop),
        ),
        **{m: single(*build(preset, m)) for m in ("fpo-relaxed", "fpo-practical", "fpo-exact")},
    }


def mitigation_runs(quick: bool = False, preset: str = "paper-linear") -> MitigationRuns:
    """Every variant on ``preset`` over 16 seeds (4 if quick), the preset's ``T`` iterations."""
    seeds = 4 if quick else 16
    best_c = best_action_cost(preset, seeds)
    gold, proxy, stopped, spent, config = {}, {}, {}, {}, {}
    for label, variant in variants(preset, best_c).items():
        t = run_variant(variant, seeds)
        gold[label] = np.asarray(t.expected_utility)
        proxy[label] = np.asarray(t.proxy_reward)
        stopped[label] = np.asarray(t.stopped)
        spent[label] = np.asarray(t.gold_spent)
        config[label] = {
            **describe(variant.spec.game, variant.params.game),
            "members": variant.spec.members,
            "aggregate": variant.spec.aggregate,
            "gold_budget": variant.spec.gold_budget,
            "stop": {k: float(v) for k, v in variant.params.stop._asdict().items()},
        }
    amplitude = float(build(preset)[1].amplitude)
    config = {"preset": preset, "kl_best_c": best_c, "variants": config}
    return MitigationRuns(gold, proxy, stopped, spent, config, seeds, amplitude)


def mitigation_table(runs: MitigationRuns) -> list[dict]:
    """Per variant: final gold (median, quartiles), collapse rate, final proxy - gold gap
    (median), leader steps taken and gold labels spent (medians over seeds)."""
    rows = []
    for label, gold in runs.gold.items():
        final = gold[:, -1]
        steps = gold.shape[1] - runs.stopped[label].sum(axis=1)
        rows.append(
            {
                "variant": label,
                **{f"final_gold_{k}": v for k, v in summarise(final).items()},
                "collapse_rate": float(np.mean(final < (1 - COLLAPSE_DROP) * gold.max(axis=1))),
                "proxy_gold_gap": float(np.median(runs.proxy[label][:, -1] - final)),
                "leader_steps": float(np.median(steps)),
                "gold_spent": float(np.median(runs.gold_spent[label][:, -1])),
            }
        )
    return rows


def format_mitigation_table(rows: list[dict]) -> str:
    """A Markdown table of :func:`mitigation_table`."""
    lines = [
        "| variant | final gold, median [IQR] | collapse rate | proxy - gold | leader steps "
        "| gold labels |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['final_gold_median']:.3f} "
            f"[{r['final_gold_q25']:.3f}, {r['final_gold_q75']:.3f}] | "
            f"{r['collapse_rate']:.2f} | {r['proxy_gold_gap']:.3f} | "
            f"{r['leader_steps']:.0f} | {r['gold_spent']:.0f} |"
        )
    return "\n".join(lines)
