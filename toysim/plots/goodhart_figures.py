"""The Goodhart curves and the calibration map, each from its experiment's result."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import TwoSlopeNorm

from toysim.experiments.calibration import CalibrationMaps, calibration_summary
from toysim.experiments.goodhart import GoodhartRuns, goodhart_form, goodhart_summary
from toysim.plots.style import OKABE_ITO, clean_axes, head_marker, styles_for

DIVERGING_CMAP = "PuOr_r"
"""ColorBrewer's purple-orange, colour-blind safe, reversed: orange where the RM overrates."""


D_BINS = 40
"""Bins of ``d`` over which an iterated leader's points are pooled."""


def binned(d: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quartiles ``[3, B]`` of ``values`` in each of :data:`D_BINS` equal bins of ``d``
    holding at least 3 points (pooled over seeds and points), and the bins' mean ``d``."""
    d, values = np.ravel(d), np.ravel(values)
    edges = np.linspace(0.0, d.max(), D_BINS + 1)
    which = np.clip(np.digitize(d, edges) - 1, 0, D_BINS - 1)
    full = [b for b in range(D_BINS) if np.sum(which == b) >= 3]
    centres = np.array([d[which == b].mean() for b in full])
    quartiles = np.array([np.percentile(values[which == b], [25, 50, 75]) for b in full]).T
    return centres, quartiles


def band_against_d(ax, d, values, style, label, markers: bool = False) -> None:
    """Median and interquartile range of ``values`` against ``d`` (both ``[seeds, points]``):
    over seeds at each point where every seed has the same ``d`` (best-of-n's ``n``), else
    over the points pooled in bins of ``d`` (a leader's runs reach different ``d``)."""
    if np.allclose(d, d[:1]):
        x, quartiles = d[0], np.percentile(values, [25, 50, 75], axis=0)
    else:
        x, quartiles = binned(d, values)
    ax.fill_between(x, quartiles[0], quartiles[2], color=style["color"], alpha=0.2, linewidth=0)
    ax.plot(
        x,
        quartiles[1],
        color=style["color"],
        linestyle=style["linestyle"],
        marker=style["marker"] if markers else None,
        markersize=4,
        lw=2,
        label=label,
    )


def fitted_line(ax, runs: GoodhartRuns, label: str) -> None:
    """The fitted Gao et al. form of ``label``'s gold, over its ``d`` range (thin black)."""
    c, f = runs.curves[label], runs.fits[label]
    d = np.linspace(0.0, float(np.max(c.d)), 100)
    ax.plot(
        d,
        np.median(c.gold0) + goodhart_form(d, f.alpha, f.beta, f.form),
        color="black",
        lw=0.9,
        linestyle=(0, (1, 1.5)),
        zorder=5,
    )


def goodhart_figure(runs: GoodhartRuns):
    """Gold and proxy against ``sqrt(KL)``: best-of-n over ``n`` (left), the RL-style leaders
    (middle) and expert iteration (right) along their runs; fitted forms dotted. Returns
    ``(fig, meta)``."""
    expert = [label for label in runs.curves if label.startswith("expert")]
    rl = [label for label in runs.curves if label != "best-of-n" and label not in expert]
    styles = styles_for(rl + expert + ["best-of-n"])
    groups = [["best-of-n"], rl, expert] if expert else [["best-of-n"], rl]
    fig, axes = plt.subplots(
        2, len(groups), figsize=(5 * len(groups), 7.5), sharex="col", squeeze=False
    )
    for row, field in enumerate(("gold", "proxy")):
        for col, labels in enumerate(groups):
            ax = axes[row, col]
            for label in labels:
                c = runs.curves[label]
                markers = label == "best-of-n"
                band_against_d(ax, c.d, getattr(c, field), styles[label], label, markers)
            if field == "gold":  # the fits within the data's y range: a poor fit can run off
                limits = ax.get_ylim()
                for label in labels:
                    fitted_line(ax, runs, label)
                ax.set_ylim(limits)
    fit_key = plt.Line2D([], [], color="black", lw=0.9, ls=(0, (1, 1.5)))
    for col in range(len(groups)):
        handles, labels = axes[0, col].get_legend_handles_labels()
        axes[0, col].legend(
            [*handles, fit_key], [*labels, "fitted Gao et al. form"], fontsize=8, frameon=False
        )
    axes[0, 1].set_title("RL-style leaders along their runs")
    if expert:
        axes[0, 2].set_title("expert iteration (best-of-n as a leader)")
    axes[0, 0].set_title("best-of-n sampling from the initial policy, n = 1 ... 4096", fontsize=10)
    for ax in axes[0]:
        ax.set_ylabel("gold: true utility")
    for ax in axes[1]:
        ax.set_ylabel("proxy: reward model's score")
        ax.set_xlabel(r"$d = \sqrt{\mathrm{KL}(\pi \,\|\, \pi_0)}$")
    for ax in axes.ravel():
        clean_axes(ax)
    fig.suptitle(f"Goodhart curves, {runs.preset} (median, IQR over {runs.seeds} seeds)")
    fig.tight_layout()
    caption = (
        f"{runs.preset}: gold (true utility) and proxy (the reward model's score) against "
        "d = sqrt(KL) from the initial policy. Left: best-of-n sampling from the initial "
        "policy with the initial reward model, KL = log n - (n-1)/n. Middle and right: the "
        "RL-style leaders and expert iteration along their runs (the reward model retrained "
        "on the policy's data each iteration), KL of the Gaussian policy in closed form, "
        f"every (seed, iteration) point of {runs.seeds} seeds pooled in {D_BINS} bins of d. "
        "Median and interquartile range; dotted: the least-squares "
        "fit of Gao, Schulman, Hilton (2022)'s form, d(alpha - beta d) for best-of-n, "
        "d(alpha - beta log d) for the iterated leaders, to the gold gain."
    )
    return fig, {"caption": caption, **goodhart_summary(runs)}


def calibration_figure(maps: CalibrationMaps):
    """The reward model's error ``r - U`` over the signal / noise plane at checkpoints, the
    policy's path drawn on it, one row per method. Returns ``(fig, meta)``."""
    methods = list(maps.error)
    columns = len(maps.iterations)
    fig, axes = plt.subplots(
        len(methods),
        columns,
        figsize=(3.2 * columns + 1.2, 3.0 * len(methods)),
        sharex=True,
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    limit = maps.limit
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
    styles = styles_for(methods)
    for i, method in enumerate(methods):
        for j, t in enumerate(maps.iterations):
            ax = axes[i, j]
            mesh = ax.pcolormesh(
                maps.signal,
                maps.noise,
                np.clip(maps.error[method][j], -limit, limit),
                cmap=DIVERGING_CMAP,
                norm=norm,
                shading="auto",
                rasterized=True,
            )
            ax.contour(
                maps.signal,
                maps.noise,
                maps.error[method][j],
                levels=[0.0],
                colors="black",
                linewidths=0.6,
                linestyles="-",
            )
            path_s, path_n = maps.path_signal[method][: t + 1], maps.path_noise[method][: t + 1]
            ax.plot(path_s, path_n, color="black", lw=1.6)
            ax.plot(path_s[-1], path_n[-1], **{**head_marker(styles[method]), "markersize": 7})
            ax.plot(
                maps.ideal_norm,
                0.0,
                marker="*",
                color=OKABE_ITO["yellow"],
                markersize=12,
                markeredgecolor="black",
                clip_on=False,
                zorder=7,
            )
            ax.set_title(f"{method}, iteration {t + 1}", fontsize=10)
            clean_axes(ax)
            if i == len(methods) - 1:
                ax.set_xlabel(r"signal $\|y_{:k}\|$")
            if j == 0:
                ax.set_ylabel(r"noise $\|y_{k:}\|$")
    bar = fig.colorbar(mesh, ax=axes, shrink=0.9, extend="both")
    bar.set_label(r"reward-model error $r_w(y) - U(y)$")
    fig.suptitle(f"Where the reward model is right: {maps.preset}, seed {maps.seed}")
    caption = (
        f"{maps.preset}, seed {maps.seed}: the reward model's error r(y) - U(y) at checkpoints "
        "of each run, over outputs y with the given signal ||y[:k]|| and noise ||y[k:]|| "
        "(y along the policy's current signal and noise directions). Black line: the policy's "
        "path so far (its marker at the checkpoint); thin black contour: zero error; star: the "
        "human ideal. Orange: the reward model overrates, purple: it underrates (colour scale "
        f"clipped at +-{limit:g})."
    )
    return fig, {"caption": caption, **calibration_summary(maps)}
