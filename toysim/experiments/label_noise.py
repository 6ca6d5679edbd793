"""Label noise as an axis: each leader's final utility and collapse rate on the pairwise presets
against the labeller's inverse temperature ``beta`` and flip rate ``epsilon``, with sampled
(Bernoulli) and expected labels (docs/theory/pairwise.md).

``beta`` and ``label_noise`` are traced numbers of the sampled-buffer game, so each
(preset, labels, method) grid is one :func:`toysim.sweep.sweep`: one compiled program. With
``best_response`` a variant also runs rlhf and exact FPO at the follower's best response
(``params = optimum``, the linear reward model only) at the preset's own ``(beta, epsilon)``.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from toysim.experiments.regimes import REGIME_PRESETS
from toysim.presets import build
from toysim.provenance import describe
from toysim.sweep import SAMPLED_CHUNK, sweep

LABEL_NOISE_METHODS = ("rlhf", "fpo-practical", "fpo-relaxed", "fpo-exact")
"""The leaders compared: myopic RLHF and the three named FPO variants."""
LABEL_MODELS = ("sampled", "expected")
"""The label models on the grid: Bernoulli labels, or the label's probability itself."""
BEST_RESPONSE_METHODS = ("rlhf", "fpo-exact")
"""The leaders run at the follower's best response (``params = optimum``)."""


class LabelNoiseVariant(NamedTuple):
    """What a label-noise figure runs.

    Attributes:
      presets: the pairwise presets.
      betas, epsilons: the grid of ``beta`` and ``label_noise``.
      seeds: seeds per cell (0, 1, ...).
      steps: the horizon, or ``None`` for each preset's own.
      expected_grid: the presets whose grid also runs expected labels.
      expected_point: the other presets run expected labels at their own ``(beta, epsilon)``
        (else not at all).
      best_response: also run :data:`BEST_RESPONSE_METHODS` at ``params = optimum`` (the
        presets with a linear reward model).
      methods: the leaders.
      pairing: what a pair compares (:data:`toysim.game.sampled.PAIRINGS`): two outputs of
        the policy (the presets'), or its output against a reference from the initial policy.
    """

    presets: tuple[str, ...]
    betas: tuple[float, ...]
    epsilons: tuple[float, ...]
    seeds: int
    steps: int | None
    expected_grid: tuple[str, ...]
    expected_point: bool
    best_response: bool
    methods: tuple[str, ...] = LABEL_NOISE_METHODS
    pairing: str = "policy"


FULL = LabelNoiseVariant(
    REGIME_PRESETS, (0.5, 1.0, 4.0), (0.0, 0.1, 0.3), 16, None, ("pairwise-linear",), True, True
)
"""The opt-in figure: both pairwise presets, a 3 x 3 grid, 16 seeds, the presets' horizons;
expected labels over pairwise-linear's grid (pairwise-nn's exact FPO costs tens of seconds a
run), and the best response."""
DEFAULT = LabelNoiseVariant(
    ("pairwise-linear",), (1.0, 4.0), (0.0, 0.1, 0.3), 16, 300, (), False, False
)
"""The default figure: pairwise-linear's sampled labels on a 2 x 3 grid, 16 seeds, 300
iterations."""
REFERENCE = LabelNoiseVariant(
    ("pairwise-linear",),
    (1.0, 4.0),
    (0.0, 0.1, 0.3),
    16,
    None,
    ("pairwise-linear",),
    False,
    False,
    pairing="reference",
)
"""The published pairing on pairwise-linear: the policy's output against a reference from
the initial policy, sampled and expected labels on a 2 x 3 grid, 16 seeds, 1,000 iterations."""


def quick(variant: LabelNoiseVariant) -> LabelNoiseVariant:
    """``variant`` with 2 seeds, the grid's corners, at most 100 iterations, no best response
    (a look at the figure, not a measurement)."""
    corners = lambda values: (values[0], values[-1])  # noqa: E731
    steps = min(variant.steps or 100, 100)
    return variant._replace(
        betas=corners(variant.betas),
        epsilons=corners(variant.epsilons),
        seeds=2,
        steps=steps,
        best_response=False,
    )


class CellSummary(NamedTuple):
    """Per seed-set: the median final and peak ``U(theta)``, the collapsed fraction
    (:func:`toysim.model.metrics.collapsed`), and every seed's final ``U``."""

    median_final: np.ndarray
    median_peak: np.ndarray
    collapse_rate: np.ndarray
    final: np.ndarray


def summarise(final: np.ndarray, peak: np.ndarray, collapsed: np.ndarray) -> CellSummary:
    """:class:`CellSummary` of per-run arrays whose last axis is the seed."""
    return CellSummary(np.median(final, -1), np.median(peak, -1), np.mean(collapsed, -1), final)


class LabelNoiseRuns(NamedTuple):
    """:func:`label_noise_runs`.

    Attributes:
      variant: what ran.
      grid: preset -> labels -> method -> :class:`CellSummary` over ``(beta, epsilon, seed)``.
      best_response: preset -> labels -> method -> :class:`CellSummary` at the preset's
        ``(beta, epsilon)`` with ``params = optimum`` (empty unless the variant asks).
      preset_point: preset -> its own ``(beta, epsilon)``.
      config: preset -> method -> the game (sampled labels).
    """

    variant: LabelNoiseVariant
    grid: dict[str, dict[str, dict[str, CellSummary]]]
    best_response: dict[str, dict[str, dict[str, CellSummary]]]
    preset_point: dict[str, tuple[float, float]]
    config: dict[str, dict[str, dict]]


def _cells(spec, hp, grid: dict, seeds: int) -> CellSummary:
    """:func:`toysim.sweep.sweep` of ``grid`` (``{}``: seeds only), summarised."""
    result = sweep(spec, hp, grid, seeds, chunk_size=SAMPLED_CHUNK)
    m = result.metrics
    return summarise(m["final_utility"], m["max_utility"], m["collapsed"])


def label_noise_runs(variant: LabelNoiseVariant, quick_look: bool = False) -> LabelNoiseRuns:
    """Every preset, label model and method of ``variant`` (:func:`quick` of it with
    ``quick_look``) over its ``(beta, epsilon)`` grid."""
    variant = quick(variant) if quick_look else variant
    grid, best, point, config = {}, {}, {}, {}
    axes = {"beta": list(variant.betas), "label_noise": list(variant.epsilons)}
    for preset in variant.presets:
        grid[preset], best[preset], config[preset] = {}, {}, {}
        expected = preset in variant.expected_grid or variant.expected_point
        for labels in LABEL_MODELS if expected else ("sampled",):
            grid[preset][labels], best[preset][labels] = {}, {}
            for method in variant.methods:
                spec, hp = build(preset, method, steps=variant.steps)
                spec = dataclasses.replace(spec, labels=labels, pairing=variant.pairing)
                on_grid = labels == "sampled" or preset in variant.expected_grid
                cell_axes = axes if on_grid else {}
                grid[preset][labels][method] = _cells(spec, hp, cell_axes, variant.seeds)
                sampled = dataclasses.replace(spec, labels="sampled")
                config[preset][method] = describe(sampled, hp)
                point[preset] = (float(hp.beta), float(hp.label_noise))
                if variant.best_response and spec.reward_model == "linear":
                    if method in BEST_RESPONSE_METHODS:
                        optimum = dataclasses.replace(spec.method, params="optimum")
                        at_optimum = dataclasses.replace(spec, method=optimum)
                        best[preset][labels][method] = _cells(at_optimum, hp, {}, variant.seeds)
    return LabelNoiseRuns(variant, grid, best, point, config)


def cell_dict(cells: CellSummary, index=()) -> dict:
    """The median final and peak ``U`` and the collapse rate of ``cells`` at ``index`` (a grid
    cell, or ``()`` for a seeds-only summary), as floats."""
    return {
        "median_final_utility": float(cells.median_final[index]),
        "median_peak_utility": float(cells.median_peak[index]),
        "collapse_rate": float(cells.collapse_rate[index]),
    }


def label_noise_table(runs: LabelNoiseRuns) -> dict:
    """Per preset and method, rows named by their labels and numbers: sampled labels at the
    grid's ``beta`` nearest the preset's and each ``epsilon``; expected labels at the grid cell
    nearest the preset's ``(beta, epsilon)`` (or at the preset's own, where they ran there
    only); the best-response runs at the preset's own. Each row: median final and peak ``U``,
    collapse rate."""
    table = {}
    betas, epsilons = np.asarray(runs.variant.betas), np.asarray(runs.variant.epsilons)
    for preset, by_labels in runs.grid.items():
        beta, epsilon = runs.preset_point[preset]
        b, e = int(np.argmin(abs(betas - beta))), int(np.argmin(abs(epsilons - epsilon)))
        own = f"beta = {beta:g}, epsilon = {epsilon:g}"
        table[preset] = {}
        for method in runs.variant.methods:
            sampled = by_labels["sampled"][method]
            rows = {
                f"sampled, beta = {betas[b]:g}, epsilon = {x:g}": cell_dict(sampled, (b, j))
                for j, x in enumerate(epsilons)
            }
            if "expected" in by_labels:
                expected = by_labels["expected"][method]
                on_grid = expected.median_final.ndim > 0
                name = f"beta = {betas[b]:g}, epsilon = {epsilons[e]:g}" if on_grid else own
                rows[f"expected, {name}"] = cell_dict(expected, (b, e) if on_grid else ())
            for labels, by_method in runs.best_response.get(preset, {}).items():
                if method in by_method:
                    rows[f"best response, {labels}, {own}"] = cell_dict(by_method[method])
            table[preset][method] = rows
    return table
