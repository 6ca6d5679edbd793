"""The landscape figure: the leader's ``V(theta)`` at the follower's fixed point over the
projection plane, pairwise-linear beside paper-linear, with each method's path.

:func:`landscape_figure` turns :func:`toysim.experiments.landscape.landscape_runs` into
``(figure, meta)``: a matplotlib figure and what its ``NAME.json`` sidecar records.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import BoundaryNorm
from matplotlib.lines import Line2D
from matplotlib.patches import Circle

from toysim.experiments.landscape import (
    ASCENT,
    BEST_RESPONSE_RUN,
    DRAWS,
    EXPECTED_RUN,
    Landscape,
    LandscapeRuns,
    alignment_summary,
    fit_summary,
)
from toysim.game.landscape import LANDSCAPE_PAIRS
from toysim.plots.style import BACKGROUND_CMAP, OKABE_ITO, clean_axes, fading_line, styles_for

SEEDS_DRAWN = 1
"""Seeds drawn as thin lines beside each method's mean path (every seed's end is marked)."""
SMOOTHING = 25
"""Iterations of the running mean every drawn path is smoothed with (the sampled game's
policy jitters from one iteration to the next)."""
LEVELS = {
    "pairwise-linear": [-14, -8, -4, -2, -1, -0.5, -0.2, 0, 1, 2, 3, 4, 4.5],
    "paper-linear": [-3, -2, -1, 0, 2, 4, 6, 8, 9],
}
"""The filled contours' levels of ``V`` on each preset."""
MARKER = dict(markeredgecolor="black", zorder=7, clip_on=False, linestyle="none")


def running_mean(path: np.ndarray, window: int) -> np.ndarray:
    """``path`` (``[..., T]``, starting from 0 before its first entry) averaged over the last
    ``window`` points at each time (fewer at the start): ``[..., T + 1]``, 0 first."""
    padded = np.concatenate([np.zeros(path.shape[:-1] + (1,)), path], axis=-1)
    total = np.cumsum(padded, axis=-1)
    lagged = np.concatenate([np.zeros(path.shape[:-1] + (window,)), total], axis=-1)
    counts = np.minimum(np.arange(1, padded.shape[-1] + 1), window)
    return (total - lagged[..., : padded.shape[-1]]) / counts


def _draw_paths(ax, land: Landscape) -> None:
    """Each method's mean path over seeds (fading in along time), :data:`SEEDS_DRAWN` seeds'
    own, each a :data:`SMOOTHING`-iteration running mean, and every seed's end point."""
    styles = styles_for(land.paths)
    for label, (signal, noise) in land.paths.items():
        style = styles[label]
        signal, noise = running_mean(signal, SMOOTHING), running_mean(noise, SMOOTHING)
        for seed in range(min(SEEDS_DRAWN, signal.shape[0])):
            ax.plot(
                signal[seed],
                noise[seed],
                color=style["color"],
                ls=style["linestyle"],
                lw=0.9,
                alpha=0.4,
            )
        ax.plot(
            signal[:, -1],
            noise[:, -1],
            marker=style["marker"],
            color=style["color"],
            markersize=5,
            mec="black",
            mew=0.5,
            ls="none",
            alpha=0.8,
            zorder=5,
        )
        median = np.median(land.final_utility[label])
        name = f"{label} (median final U {median:.2f})"
        fading_line(ax, signal.mean(0), noise.mean(0), style, name)


def _panel(ax, preset: str, land: Landscape):
    """``V`` over the plane, ``V = 0``, the ball, the ideal, the maxima and the paths."""
    grid_s, grid_n = np.meshgrid(land.signal, land.noise)
    levels = LEVELS[preset]
    norm = BoundaryNorm(levels, 256, extend="both")
    filled = ax.contourf(
        grid_s,
        grid_n,
        land.value,
        levels=levels,
        cmap=BACKGROUND_CMAP,
        norm=norm,
        alpha=0.55,
        extend="both",
    )
    ax.contour(grid_s, grid_n, land.value, levels=[0.0], colors="black", linewidths=1.0)
    radius = land.ideal_norm / 2
    ax.add_patch(Circle((radius, 0), radius, fill=False, ls="--", lw=1.8, ec=OKABE_ITO["purple"]))
    _draw_paths(ax, land)
    for signal, noise in land.ascents.values():
        ax.plot(signal, noise, color="black", ls=":", lw=2.0)
        ax.plot(signal[-1], noise[-1], marker="o", color="black", markersize=4, zorder=7)
    ax.plot(0, 0, "o", color="white", markersize=8, **MARKER)
    ax.plot(land.ideal_norm, 0, "*", color=OKABE_ITO["yellow"], markersize=17, **MARKER)
    for rank, m in enumerate(land.maxima):
        ax.plot(
            m.signal, m.noise, "^" if rank == 0 else "v", color="white", markersize=11, **MARKER
        )
        kind = "max of V" if rank == 0 else "local max of V"
        ax.annotate(
            f"{kind}\nU = {m.utility:.2f}",
            (m.signal, m.noise),
            xytext=(0, 22),
            textcoords="offset points",
            ha="center",
            fontsize=9,
            bbox=dict(boxstyle="round", fc="white", alpha=0.85),
        )
    ax.set_xlim(land.signal[0], land.signal[-1])
    ax.set_ylim(land.noise[0], land.noise[-1])
    ax.set_aspect("equal")
    ax.set_xlabel("signal: projection of theta on m / ||m||")
    ax.set_title(preset, fontsize=12)
    clean_axes(ax)
    return filled


def _legend_handles() -> list:
    """The markers and lines every panel shares."""
    line = dict(color="black", markersize=9)
    return [
        Line2D(
            [],
            [],
            marker="o",
            mfc="white",
            mec="black",
            ls="none",
            label="start, theta = 0",
            **line,
        ),
        Line2D(
            [],
            [],
            marker="*",
            mfc=OKABE_ITO["yellow"],
            mec="black",
            ls="none",
            markersize=15,
            label="human ideal m",
        ),
        Line2D([], [], color=OKABE_ITO["purple"], ls="--", lw=1.8, label="ball on [0, m]"),
        Line2D([], [], color="black", lw=1.0, label="V = 0"),
        Line2D([], [], color="black", ls=":", lw=2.0, label="gradient ascent on V"),
    ]


def landscape_figure(runs: LandscapeRuns):
    """pairwise-linear's and paper-linear's ``V`` side by side, with each method's path."""
    presets = list(runs.landscapes)
    fig, axes = plt.subplots(
        1,
        len(presets),
        figsize=(16, 6.6),
        layout="constrained",
        width_ratios=[np.ptp(runs.landscapes[p].signal) for p in presets],
    )
    for ax, preset in zip(axes, presets, strict=True):
        filled = _panel(ax, preset, runs.landscapes[preset])
        fig.colorbar(filled, ax=ax, pad=0.01, shrink=0.85).set_label(
            "V(theta) = r_{w*(theta)}(theta) - c ||theta||^2"
        )
        ax.legend(
            loc="upper right" if preset == "pairwise-linear" else "upper left",
            fontsize=9,
            framealpha=0.92,
            title="mean path; small markers: each seed's end",
            title_fontsize=9,
        )
    axes[0].set_ylabel("noise: distance of theta from the line through m")
    fig.legend(handles=_legend_handles(), loc="outside lower center", ncol=5, frameon=False)
    fig.suptitle(
        "The leader's objective at the follower's fixed point: comparisons (left) "
        "against point labels (right)"
    )
    pairs = runs.landscapes["pairwise-linear"]
    drawn = "seed 0" if SEEDS_DRAWN == 1 else f"seeds 0-{SEEDS_DRAWN - 1}"
    caption = (
        "V(theta) = r_{w*(theta)}(theta) - c ||theta||^2, the reward the leader's own output "
        "gets once the follower has settled on the data a policy at theta emits, over the "
        "projection plane (signal along m, noise off it). pairwise-linear: w* is the "
        f"Bradley-Terry best response to {LANDSCAPE_PAIRS} pairs from N(theta, 0.3^2 I) with "
        "expected labels (the same draws for every theta; the loss is linear in the label, so "
        "sampled labels have the same population best response). paper-linear: the fixed "
        "point of the SGD follower on the policy's own point. The dashed circle is the ball "
        "with diameter [0, m], where the score of the policy's own output, roughly "
        "grad U(theta) . theta on pairs, is positive; dotted: gradient ascent on V from theta "
        "= 0 and from noise 2.2. Paths: each method's mean over seeds 0-"
        f"{runs.seeds - 1} (thick, fading in along time) and the own path of {drawn} (thin), "
        f"each a {SMOOTHING}-iteration running mean, and every seed's end (small markers)."
    )
    meta = {
        "caption": caption,
        "seeds": runs.seeds,
        "pairs": LANDSCAPE_PAIRS,
        "ascent": {"step": ASCENT[0], "iterations": ASCENT[1]},
        "config": {preset: land.config for preset, land in runs.landscapes.items()},
        "landscapes": {preset: _landscape_meta(land) for preset, land in runs.landscapes.items()},
        "steering_alignment": {
            label: alignment_summary(a, pairs.amplitude) for label, a in runs.alignment.items()
        },
        "expected_run": EXPECTED_RUN,
        "best_response_fit": {"run": BEST_RESPONSE_RUN, **fit_summary(runs.best_response)},
    }
    return fig, meta


def _landscape_meta(land: Landscape) -> dict:
    """What the sidecar records of one preset's landscape."""
    return {
        "signal": land.signal.tolist(),
        "noise": land.noise.tolist(),
        "value": land.value.tolist(),
        "maxima": [m._asdict() for m in land.maxima],
        **(
            {"draw_spread": {"draws": DRAWS, "at_maxima": land.draw_spread}}
            if land.draw_spread is not None
            else {}
        ),
        "ascent_ends": {
            label: {"signal": float(s[-1]), "noise": float(n[-1])}
            for label, (s, n) in land.ascents.items()
        },
        "final_utility_per_seed": {k: v.tolist() for k, v in land.final_utility.items()},
        "median_final_utility": {k: float(np.median(v)) for k, v in land.final_utility.items()},
        "fraction_outside_ball": {
            k: float(np.mean((s - land.ideal_norm / 2) ** 2 + n**2 > land.ideal_norm**2 / 4))
            for k, (s, n) in land.paths.items()
        },
        "mean_final_position": {
            k: {"signal": float(s[:, -1].mean()), "noise": float(n[:, -1].mean())}
            for k, (s, n) in land.paths.items()
        },
    }
