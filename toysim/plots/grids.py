"""Heatmaps over a grid of hyperparameters, and the panels of a sweep."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from toysim.plots.style import CYCLE, SEQUENTIAL_CMAP, clean_axes, seed_band


def heatmaps(
    panels: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    xlabel: str | Mapping[str, str],
    ylabel: str,
    colorbar_label: str,
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
) -> Figure:
    """One heat map per panel, on a shared colour scale.

    Args:
      panels: title -> ``(x[n], y[m], values[m, n])``.
      xlabel: one label, or title -> label where the panels' x axes differ.
    """
    fig, axs = plt.subplots(
        1, len(panels), figsize=(4.4 * len(panels) + 0.8, 3.8), layout="constrained", squeeze=False
    )
    values_all = np.concatenate([np.ravel(v) for _, _, v in panels.values()])
    vmin = np.nanmin(values_all) if vmin is None else vmin
    vmax = np.nanmax(values_all) if vmax is None else vmax
    for ax, (name, (x, y, values)) in zip(axs[0], panels.items(), strict=True):
        mesh = ax.pcolormesh(
            x, y, values, cmap=SEQUENTIAL_CMAP, shading="nearest", vmin=vmin, vmax=vmax
        )
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(xlabel if isinstance(xlabel, str) else xlabel[name])
    axs[0][0].set_ylabel(ylabel)
    cbar = fig.colorbar(mesh, ax=list(axs[0]), pad=0.01)
    cbar.set_label(colorbar_label)
    if title:
        fig.suptitle(title)
    return fig


def sweep_panels(
    axes: Mapping[str, np.ndarray],
    panels: Mapping[str, np.ndarray],
    *,
    title: str | None = None,
    bands: Mapping[str, np.ndarray] | None = None,
) -> Figure:
    """Sweep summaries: heat maps over two grid axes, curves over one.

    Args:
      axes: the grid axes in order, name -> values (one or two of them).
      panels: panel title -> values over the grid (e.g. the median over seeds).
      bands: for one grid axis, panel title -> ``[seeds, len(axis)]`` values
        whose interquartile range is shaded behind the median.
    """
    names = list(axes)
    if len(names) == 2:
        fig, axs = plt.subplots(
            1, len(panels), figsize=(4.8 * len(panels), 3.8), layout="constrained", squeeze=False
        )
        for ax, (label, values) in zip(axs[0], panels.items(), strict=True):
            mesh = ax.pcolormesh(
                axes[names[1]], axes[names[0]], values, cmap=SEQUENTIAL_CMAP, shading="nearest"
            )
            fig.colorbar(mesh, ax=ax, pad=0.01).set_label(label)
            ax.set_title(label, fontsize=10)
            ax.set_xlabel(names[1])
            ax.set_ylabel(names[0])
    else:
        x = np.asarray(axes[names[0]])
        fig, axs = plt.subplots(
            1, len(panels), figsize=(4.6 * len(panels), 3.6), layout="constrained", squeeze=False
        )
        style = CYCLE[1]
        for ax, (label, values) in zip(axs[0], panels.items(), strict=True):
            series = bands[label] if bands is not None and label in bands else values
            seed_band(ax, x, series, style, label)
            ax.set_xlabel(names[0])
            ax.set_ylabel(label)
            if np.all(x > 0) and x.max() / x.min() > 20:
                ax.set_xscale("log")
            clean_axes(ax)
    if title:
        fig.suptitle(title)
    return fig
