"""Phase-space pictures: paths over the true-utility contour, gradient fields, a plane of paths."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from toysim.plots.style import (
    BACKGROUND_CMAP,
    OKABE_ITO,
    clean_axes,
    fading_line,
    styles_for,
)


def utility_on_plane(signal, noise, amplitude: float, tau: float, ideal_norm: float):
    """``A exp(-tau ((signal - ||m||)^2 + noise^2))``.

    In projection coordinates this *is* ``U`` at every point with those
    coordinates. In the published block coordinates it
    is an upper bound on ``U``, reached when the signal block is parallel to ``m``.
    """
    return amplitude * np.exp(-tau * ((signal - ideal_norm) ** 2 + noise**2))


def phase_space(
    runs: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    amplitude: float,
    tau: float,
    ideal_norm: float,
    coords: str = "block",
    xlim: tuple[float, float] = (0.0, 5.0),
    ylim: tuple[float, float] = (0.0, 3.0),
    title: str | None = None,
    styles: Mapping[str, dict] | None = None,
) -> Figure:
    """Signal against noise, over contours of the true utility.

    Args:
      runs: label -> ``(signal[T], noise[T])`` of one trajectory each.
      amplitude: ``A`` of the utility.
      tau: ``tau`` of the utility.
      ideal_norm: ``||m||``, the norm of the human ideal.
      coords: ``block`` (published: ``||y[:k]||``, ``||y[k:]||``; the contour is
        an upper bound on ``U``) or ``projection`` (on ``m``; the contour is exact).
      styles: label -> style, to keep colours fixed across figures (default :func:`styles_for`).
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    s = np.linspace(*xlim, 300)
    n = np.linspace(*ylim, 200)
    grid_s, grid_n = np.meshgrid(s, n)
    levels = np.linspace(0, amplitude, 11)
    filled = ax.contourf(
        grid_s,
        grid_n,
        utility_on_plane(grid_s, grid_n, amplitude, tau, ideal_norm),
        levels=levels,
        cmap=BACKGROUND_CMAP,
        alpha=0.45,
    )
    cbar = fig.colorbar(filled, ax=ax, pad=0.01)
    cbar.set_label("true utility U" if coords == "projection" else "true utility U (upper bound)")
    styles = styles or styles_for(runs)
    for label in runs:
        style = styles[label]
        signal, noise = (np.asarray(a) for a in runs[label])
        fading_line(ax, np.r_[0.0, signal], np.r_[0.0, noise], style, label)
    ax.plot(
        0, 0, "o", color="white", markeredgecolor="black", markersize=8, label="start",
        zorder=6, clip_on=False,
    )  # fmt: skip
    ax.plot(
        ideal_norm,
        0,
        "*",
        color=OKABE_ITO["yellow"],
        markeredgecolor="black",
        markersize=16,
        label="human ideal",
        zorder=5,
        clip_on=False,
    )
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    if coords == "projection":
        ax.set_xlabel("signal: projection of y on m / ||m||")
        ax.set_ylabel("noise: distance of y from the line through m")
    else:
        ax.set_xlabel("signal magnitude ||y[:k]||")
        ax.set_ylabel("noise magnitude ||y[k:]||")
    ax.legend(loc="upper left", frameon=True, framealpha=0.9, fontsize=9)
    if title:
        ax.set_title(title)
    clean_axes(ax)
    return fig


def gradient_fields(
    grid_signal: np.ndarray,
    grid_noise: np.ndarray,
    fields: Mapping[str, tuple[np.ndarray, np.ndarray]],
    background: np.ndarray,
    *,
    background_label: str,
    ideal_norm: float,
    paths: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    title: str | None = None,
) -> Figure:
    """Side-by-side vector fields over the (signal, noise) plane.

    Args:
      grid_signal: ``[n, m]`` signal coordinates.
      grid_noise: ``[n, m]`` noise coordinates.
      fields: panel title -> ``(d signal, d noise)`` components on the grid.
      background: ``[n, m]`` scalar drawn as grey contours (e.g. the leader's ``J``).
      paths: panel title -> ``(signal[T], noise[T])`` of a trajectory drawn on that panel.
    """
    fig, axes = plt.subplots(
        1, len(fields), figsize=(5.2 * len(fields), 4.2), layout="constrained", sharey=True
    )
    axes = np.atleast_1d(axes)
    for ax, (name, (du, dv)) in zip(axes, fields.items(), strict=True):
        filled = ax.contourf(
            grid_signal, grid_noise, background, levels=12, cmap=BACKGROUND_CMAP, alpha=0.45
        )
        speed = np.hypot(du, dv)
        ax.streamplot(
            grid_signal[0],
            grid_noise[:, 0],
            du,
            dv,
            color=OKABE_ITO["blue"],
            linewidth=0.6 + 1.6 * speed / (speed.max() + 1e-12),
            density=1.1,
            arrowsize=1.0,
        )
        ax.plot(
            ideal_norm, 0, "*", color=OKABE_ITO["yellow"], markeredgecolor="black",
            markersize=16, clip_on=False, zorder=5, label="human ideal",
        )  # fmt: skip
        if paths and name in paths:
            ps, pn = (np.asarray(a) for a in paths[name])
            ax.plot(ps, pn, color=OKABE_ITO["vermillion"], lw=2.5, label="trajectory")
            ax.plot(
                ps[-1], pn[-1], "o", color=OKABE_ITO["vermillion"], markeredgecolor="black",
                markersize=8, clip_on=False, zorder=6,
            )  # fmt: skip
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("signal: projection of theta on m / ||m||")
        ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
        clean_axes(ax)
    axes[0].set_ylabel("noise: distance of theta from the line through m")
    cbar = fig.colorbar(filled, ax=list(axes), pad=0.01)
    cbar.set_label(background_label)
    if title:
        fig.suptitle(title)
    return fig


def plane_paths(
    grid_a: np.ndarray,
    grid_b: np.ndarray,
    background: np.ndarray,
    paths: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    xlabel: str,
    ylabel: str,
    background_label: str,
    ideal: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """Trajectories in a 2-D plane (e.g. two principal components) over a scalar background.

    Args:
      grid_a: ``[n, m]`` first plane coordinate.
      grid_b: ``[n, m]`` second plane coordinate.
      background: ``[n, m]`` values there.
      paths: label -> ``(a[T], b[T])``, drawn fading in along time like :func:`phase_space`.
      ideal: plane coordinates of the human ideal, drawn as a star.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.6), layout="constrained")
    filled = ax.contourf(grid_a, grid_b, background, levels=11, cmap=BACKGROUND_CMAP, alpha=0.45)
    fig.colorbar(filled, ax=ax, pad=0.01).set_label(background_label)
    for label, style in styles_for(paths).items():
        a, b = (np.asarray(v) for v in paths[label])
        fading_line(ax, a, b, style, label)
    if ideal is not None:
        ax.plot(
            *ideal, "*", color=OKABE_ITO["yellow"], markeredgecolor="black", markersize=16,
            label="human ideal", zorder=5,
        )  # fmt: skip
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="best", fontsize=9, framealpha=0.9)
    if title:
        ax.set_title(title)
    clean_axes(ax)
    return fig
