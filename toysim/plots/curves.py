"""Metrics against iterations or a parameter: median and interquartile bands over seeds."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from toysim.plots.style import CYCLE, clean_axes, finish_panels, seed_band, styles_for


def curves(
    x: np.ndarray,
    series: Mapping[str, np.ndarray],
    *,
    xlabel: str,
    ylabel: str,
    reference: float | None = None,
    reference_label: str | None = None,
    title: str | None = None,
    ylim: tuple[float, float] | None = None,
    styles: Mapping[str, dict] | None = None,
    legend_outside: bool = False,
    logx: bool = False,
) -> Figure:
    """A quantity against ``x`` for each label: ``[n]`` arrays as lines, ``[S, n]`` as bands.

    A band is the median over the ``S`` seeds with the interquartile range shaded.
    ``reference`` draws a dashed horizontal line (the ideal utility, say);
    ``styles`` fixes colours across figures; ``legend_outside`` puts the legend
    to the right of the axes.
    """
    fig, ax = plt.subplots(figsize=(7.4 if legend_outside else 6.4, 3.8), layout="constrained")
    styles = styles or styles_for(series)
    for label in series:
        seed_band(ax, np.asarray(x), np.asarray(series[label]), styles[label], label)
    if reference is not None:
        ax.axhline(reference, color="black", linestyle="--", lw=1.2, label=reference_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    if ylim:
        ax.set_ylim(*ylim)
    if legend_outside:
        ax.legend(frameon=False, fontsize=9, loc="center left", bbox_to_anchor=(1.01, 0.5))
    else:
        ax.legend(frameon=False, fontsize=9)
    if title:
        ax.set_title(title)
    clean_axes(ax)
    return fig


def over_iterations(series: Mapping[str, np.ndarray], **kwargs) -> Figure:
    """:func:`curves` against the iteration number ``1..T``."""
    length = np.asarray(next(iter(series.values()))).shape[-1]
    return curves(np.arange(1, length + 1), series, xlabel="iteration", **kwargs)


def goodhart_gap(
    runs: Mapping[str, Mapping[str, np.ndarray]],
    *,
    amplitude: float,
    title: str | None = None,
) -> Figure:
    """Proxy reward against true utility over time, and the RM's score of the human ideal.

    Args:
      runs: label -> ``{"utility": [T], "proxy_reward": [T], "ideal_reward": [T]}``.
      amplitude: ``A = U(m)``, the true utility of the human ideal.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    for label, style in styles_for(runs).items():
        r = runs[label]
        t = np.arange(1, len(r["utility"]) + 1)
        left.plot(t, r["utility"], color=style["color"], lw=2, linestyle="-", label=f"{label}: U")
        left.plot(
            t, r["proxy_reward"], color=style["color"], lw=1.5, linestyle=":",
            label=f"{label}: proxy r",
        )  # fmt: skip
        right.plot(
            t, r["ideal_reward"], color=style["color"], lw=2, linestyle=style["linestyle"],
            label=label,
        )  # fmt: skip
    right.axhline(amplitude, color="black", linestyle="--", lw=1.2, label="U(m), true")
    left.set_xlabel("iteration")
    left.set_ylabel("at the policy's output y")
    left.set_title("proxy reward r(y) (dotted) vs true utility U(y) (solid)", fontsize=10)
    right.set_xlabel("iteration")
    right.set_ylabel("RM's score of the human ideal, r(m)")
    right.set_title("where the gap opens: the RM forgets the ideal", fontsize=10)
    left.legend(frameon=False, fontsize=8, ncol=2)
    right.legend(frameon=False, fontsize=8)
    return finish_panels(fig, (left, right), title)


def diagnostics_panels(
    iterations: np.ndarray,
    eigenvalues: Mapping[str, np.ndarray],
    cosines: Mapping[str, np.ndarray],
    *,
    title: str | None = None,
) -> Figure:
    """Left: extreme Hessian eigenvalues against iterations (symmetric-log scale).
    Right: cosines of each relaxation's steering direction with the exact one."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.9), layout="constrained")
    for (label, values), style in zip(eigenvalues.items(), CYCLE, strict=False):
        left.plot(iterations, values, color=style["color"], linestyle=style["linestyle"],
                  marker=style["marker"], markersize=4, lw=1.8, label=label)  # fmt: skip
    left.axhline(0.0, color="black", lw=1.0, linestyle="--")
    left.set_yscale("symlog", linthresh=0.01)
    left.set_xlabel("iteration")
    left.set_ylabel("eigenvalue of the follower's Hessian")
    left.legend(frameon=False, fontsize=9)
    styles = styles_for(cosines)
    for label, values in cosines.items():
        style = styles[label]
        right.plot(iterations, values, color=style["color"], linestyle=style["linestyle"],
                   marker=style["marker"], markersize=4, lw=1.8, label=label)  # fmt: skip
    right.set_ylim(-1.05, 1.05)
    right.axhline(0.0, color="black", lw=1.0, linestyle="--")
    right.set_xlabel("iteration")
    right.set_ylabel("cos(steering direction, damped exact)")
    right.legend(frameon=False, fontsize=9)
    return finish_panels(fig, (left, right), title)
