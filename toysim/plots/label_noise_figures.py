"""The label-noise figure: each leader's median final utility and collapse rate over the
labeller's ``(beta, epsilon)`` on the pairwise presets.

:func:`label_noise_figure` turns :func:`toysim.experiments.label_noise.label_noise_runs` into
``(figure, meta)``: a matplotlib figure and what its ``NAME.json`` sidecar records.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from toysim.experiments.label_noise import (
    LabelNoiseRuns,
    cell_dict,
    label_noise_table,
)
from toysim.plots.style import SEQUENTIAL_CMAP

LABEL_TEXT = {"sampled": "sampled (Bernoulli) labels", "expected": "expected labels"}


PAIRING_TEXT = {
    "policy": "Each pair is two outputs of the current policy.",
    "reference": "Each pair is the policy's output against a reference drawn from the initial "
    "policy N(0, sigma_start^2 I), the published pairing.",
}
"""The caption's sentence on what a pair compares."""


def _rows(runs: LabelNoiseRuns) -> list[tuple[str, str]]:
    """The ``(preset, labels)`` pairs whose cells cover the grid, in order."""
    return [
        (preset, labels)
        for preset, by_labels in runs.grid.items()
        for labels, by_method in by_labels.items()
        if by_method[runs.variant.methods[0]].median_final.ndim == 2
    ]


def _panel(ax, cells, runs: LabelNoiseRuns, preset: str, amplitude: float):
    """One heat map of median final ``U`` over ``(beta, epsilon)``, each cell annotated with
    the median and the collapse rate, the preset's own cell outlined."""
    image = ax.imshow(
        cells.median_final,
        cmap=SEQUENTIAL_CMAP,
        vmin=0.0,
        vmax=amplitude,
        origin="lower",
        aspect="auto",
    )
    for (i, j), value in np.ndenumerate(cells.median_final):
        colour = "black" if value > 0.55 * amplitude else "white"
        text = f"{value:.1f}" if value >= 1 else f"{value:.2f}"
        text += f"\n{cells.collapse_rate[i, j]:.0%}"
        ax.text(j, i, text, ha="center", va="center", fontsize=9, color=colour)
    betas, epsilons = runs.variant.betas, runs.variant.epsilons
    beta, epsilon = runs.preset_point[preset]
    if beta in betas and epsilon in epsilons:
        corner = (epsilons.index(epsilon) - 0.5, betas.index(beta) - 0.5)
        ax.add_patch(Rectangle(corner, 1, 1, fill=False, lw=2.2, ls="--", ec="white"))
    ax.set_xticks(range(len(epsilons)), [f"{e:g}" for e in epsilons])
    ax.set_yticks(range(len(betas)), [f"{b:g}" for b in betas])
    return image


def label_noise_figure(runs: LabelNoiseRuns):
    """Heat maps: one row per preset and label model on the grid, one column per leader."""
    rows = _rows(runs)
    amplitude = next(iter(next(iter(runs.config.values())).values()))["hparams"]["amplitude"]
    fig, axes = plt.subplots(
        len(rows),
        len(runs.variant.methods),
        squeeze=False,
        figsize=(3.0 * len(runs.variant.methods) + 1.2, 2.9 * len(rows) + 0.8),
        layout="constrained",
    )
    for r, (preset, labels) in enumerate(rows):
        for c, method in enumerate(runs.variant.methods):
            ax = axes[r, c]
            image = _panel(ax, runs.grid[preset][labels][method], runs, preset, amplitude)
            if r == 0:
                ax.set_title(method, fontsize=12)
            if c == 0:
                ax.set_ylabel(f"{preset}\n{LABEL_TEXT[labels]}\nbeta (inverse temperature)")
            if r == len(rows) - 1:
                ax.set_xlabel("epsilon (label flip rate)")
            expected = runs.grid[preset].get("expected", {}).get(method)
            if labels == "sampled" and expected is not None and expected.median_final.ndim == 0:
                beta, epsilon = runs.preset_point[preset]
                ax.set_title(
                    f"expected labels at beta = {beta:g}, epsilon = {epsilon:g}:\n"
                    f"{expected.median_final:.2f}, {expected.collapse_rate:.0%} collapsed",
                    fontsize=9,
                )
    bar = fig.colorbar(image, ax=axes, pad=0.01, shrink=0.9)
    bar.set_label("final true utility U(theta_T), median over seeds")
    v = runs.variant
    horizon = f"{v.steps} iterations" if v.steps else "each preset's iterations"
    caption = (
        f"Label noise as an axis: median over seeds 0-{v.seeds - 1} of the final true utility "
        f"(colour, first number) and the fraction of seeds that collapsed (final utility below "
        f"0.8 times the run's peak; second number) on a grid of the labeller's inverse "
        f"temperature beta and label flip rate epsilon, {horizon}; the dashed cell is the "
        "presets' own (beta = 1, epsilon = 0.1). Sampled labels are Bernoulli draws of the "
        "Bradley-Terry probability; expected labels train on the probability itself. "
        + PAIRING_TEXT[v.pairing]
    )
    meta = {
        "caption": caption,
        "variant": v._asdict(),
        "seeds": v.seeds,
        "config": runs.config,
        "cells": {
            preset: {
                labels: {
                    method: {
                        "median_final_utility": np.asarray(cells.median_final).tolist(),
                        "median_peak_utility": np.asarray(cells.median_peak).tolist(),
                        "collapse_rate": np.asarray(cells.collapse_rate).tolist(),
                        "final_utility_per_seed": np.asarray(cells.final).tolist(),
                    }
                    for method, cells in by_method.items()
                }
                for labels, by_method in by_labels.items()
            }
            for preset, by_labels in runs.grid.items()
        },
        "best_response": {
            preset: {
                labels: {method: cell_dict(cells) for method, cells in by_method.items()}
                for labels, by_method in by_labels.items()
            }
            for preset, by_labels in runs.best_response.items()
        },
        "table": label_noise_table(runs),
    }
    against = ";\neach pair: the policy's output against a reference" * (v.pairing == "reference")
    fig.suptitle(
        "Label noise: each cell is the median final utility over seeds and the fraction of "
        f"seeds that collapsed ({horizon}{against})"
    )
    return fig, meta
