"""The sweep figures: any sweep's panels, the (gamma, c) phase diagram, collapse against the
dimension, the KL leash and sycophancy.

Each function turns an experiment's result (:mod:`toysim.experiments`) into
``(figure, meta)``: a matplotlib figure and what its ``NAME.json`` sidecar records.
"""

from __future__ import annotations

import numpy as np

from toysim.experiments.dimension import DimensionRuns
from toysim.experiments.kl_leash import KLLeashRuns, kl_leash_summary
from toysim.experiments.phase import PhaseDiagram
from toysim.experiments.sycophancy import SycophancyRuns
from toysim.plots.curves import curves, over_iterations
from toysim.plots.grids import heatmaps, sweep_panels
from toysim.plots.style import STYLES
from toysim.sweep import SweepResult


def sweep_figure(result: SweepResult, title: str | None = None):
    """Median final utility, median final noise and the collapsed fraction over a sweep."""
    grid = {k: v for k, v in result.axes.items() if k != "seed"}
    panels = {
        "final utility (median)": result.median_over_seeds("final_utility"),
        "final noise (median)": result.median_over_seeds("final_noise"),
        "collapsed (fraction of seeds)": result.fraction_over_seeds("collapsed"),
    }
    bands = None
    if len(grid) == 1:
        bands = {
            "final utility (median)": result.metrics["final_utility"].T,
            "final noise (median)": result.metrics["final_noise"].T,
            "collapsed (fraction of seeds)": result.fraction_over_seeds("collapsed"),
        }
    fig = sweep_panels(grid, panels, title=title, bands=bands)
    return fig, {"caption": title or "", "config": result.config}


def phase_gamma_c_figure(result: PhaseDiagram):
    """Final utility over (gamma, c) for relaxed, practical and exact FPO (paper-linear)."""
    xlabels = {
        method: "gamma" + (" (exact weight: 2)" if method == "fpo-exact" else "")
        for method in result.panels
    }
    amplitude = next(iter(result.config.values()))["base_hparams"]["amplitude"]
    fig = heatmaps(
        result.panels,
        xlabel=xlabels,
        ylabel="action cost c (KL leash)",
        colorbar_label="final true utility (median over seeds)",
        vmin=0.0,
        vmax=amplitude,
        title="Where FPO holds: final utility over (gamma, c), paper-linear",
    )
    meta = {
        "caption": (
            f"paper-linear, 300 iterations, median over {result.seeds} seeds of the final true "
            "utility on a grid of the steering weight gamma and the action cost c. Relaxed and "
            "practical FPO share the gamma axis (0-0.5, published 0.1); exact FPO's axis is "
            "in its own units (2 = the exact Stackelberg weight). gamma = 0 is RLHF."
        ),
        "config": result.config,
        "best_cells": result.best_cells,
        "mean_collapsed_fraction": result.mean_collapsed_fraction,
    }
    return fig, meta


def collapse_vs_dimension_figure(runs: DimensionRuns):
    """Final utility against ``d`` (log scale), median and IQR over seeds, per method."""
    amplitude = runs.config["hparams"]["amplitude"]
    fig = curves(
        np.asarray(runs.dimensions),
        runs.utility,
        xlabel="dimension d (3 signal dimensions, d - 3 noise)",
        ylabel="final true utility",
        reference=amplitude,
        reference_label="ideal, U(m) = A",
        title=f"Collapse against dimension ({runs.seeds} seeds, median and IQR)",
        ylim=(0, 1.08 * amplitude),
        logx=True,
    )
    meta = {
        "caption": (
            "paper-linear with the dimension d changed (each d compiles once), 300 "
            f"iterations, {runs.seeds} seeds: final true utility, median and interquartile "
            "range. The RM's initial noise grows like 0.1 sqrt(d - 3), giving RLHF more to "
            "exploit."
        ),
        "dimensions": list(runs.dimensions),
        "median_final_utility": {
            m: [float(x) for x in np.median(v, axis=0)] for m, v in runs.utility.items()
        },
        "median_final_noise": {
            m: [float(x) for x in np.median(v, axis=0)] for m, v in runs.noise.items()
        },
        "collapsed_fraction": runs.collapsed,
        "config": runs.config,
    }
    return fig, meta


def kl_leash_figure(runs: KLLeashRuns):
    """The KL-leash curve: final (and, for the recipe's method, peak) utility against ``c``."""
    method = runs.recipe.method
    series = {
        f"{method}: final": runs.results[method].metrics["final_utility"].T,
        f"{method}: peak": runs.results[method].metrics["max_utility"].T,
        "fpo-relaxed: final": runs.results["fpo-relaxed"].metrics["final_utility"].T,
    }
    amplitude = runs.results[method].config["base_hparams"]["amplitude"]
    fig = curves(
        runs.action_cost,
        series,
        xlabel="action cost c (the KL leash)",
        ylabel="true utility",
        reference=amplitude,
        reference_label="ideal, U(m) = A",
        title="The KL leash: too weak drifts, too strong does not move",
        ylim=(0, 1.08 * amplitude),
        logx=True,
        styles={
            "rlhf: final": STYLES["rlhf"],
            "rlhf: peak": dict(STYLES["rlhf"], linestyle=":"),
            "fpo-relaxed: final": STYLES["fpo-relaxed"],
        },
    )
    meta = {
        "caption": (
            f"paper-linear, 300 iterations, {runs.seeds} seeds: true utility at the end (solid) "
            "and at its peak (dotted) against the action cost c on a log scale, median and IQR. "
            "The gap between RLHF's peak and final utility is the collapse; relaxed FPO for "
            "reference."
        ),
        "action_cost": [float(x) for x in runs.action_cost],
        "summary": kl_leash_summary(runs),
        "recipe": runs.recipe._asdict(),
        "config": {m: result.config for m, result in runs.results.items()},
    }
    return fig, meta


def sycophancy_figure(runs: SycophancyRuns):
    """Each method's magnitude along the overrated features against iterations."""
    fig = over_iterations(
        runs.biased_noise,
        ylabel="norm of y on the 2 overrated features",
        title=f"Sycophancy: following the RM's bias ({runs.seeds} seeds)",
    )
    meta = {
        "caption": (
            "sycophancy preset (paper-linear with the initial RM overrating two noise features "
            f"by 0.5): the policy's magnitude along those features, median and IQR over "
            f"{runs.seeds} seeds. RLHF amplifies the bias; relaxed FPO undoes it."
        ),
        "finals": runs.finals,
        "config": runs.config,
    }
    return fig, meta
