"""Figures from arrays: phase space, metrics over time, seed bands, gradient fields.

Every function takes arrays (or trajectory records) and returns a matplotlib
``Figure``; none runs a simulation. Colours are the
Okabe-Ito palette over a grey background, and every method also has its own
line style and marker, so the figures read in greyscale and for colour-blind
readers.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

OKABE_ITO = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}

STYLES = {
    "rlhf": dict(color=OKABE_ITO["vermillion"], linestyle="-", marker="o"),
    "fpo-exact": dict(color=OKABE_ITO["green"], linestyle="-.", marker="s"),
    "fpo-relaxed": dict(color=OKABE_ITO["blue"], linestyle="--", marker="^"),
    "fpo-practical": dict(color=OKABE_ITO["orange"], linestyle=":", marker="D"),
}
_CYCLE = [
    dict(color=OKABE_ITO["green"], linestyle="-", marker="s"),
    dict(color=OKABE_ITO["sky"], linestyle="--", marker="v"),
    dict(color=OKABE_ITO["purple"], linestyle="-.", marker="P"),
    dict(color=OKABE_ITO["blue"], linestyle=(0, (5, 1)), marker="^"),
    dict(color=OKABE_ITO["orange"], linestyle=":", marker="D"),
    dict(color=OKABE_ITO["vermillion"], linestyle=(0, (3, 1, 1, 1, 1, 1)), marker="o"),
    dict(color=OKABE_ITO["black"], linestyle="-", marker="X"),
]
BACKGROUND_CMAP = "Greys"
SEQUENTIAL_CMAP = "cividis"


def styles_for(labels) -> dict[str, dict]:
    """A distinct (colour, line style, marker) per label; the four methods keep theirs."""
    out, i = {}, 0
    for label in labels:
        if label in STYLES:
            out[label] = STYLES[label]
        else:
            out[label] = _CYCLE[i % len(_CYCLE)]
            i += 1
    return out


def _clean(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)


def utility_on_plane(signal, noise, amplitude: float, tau: float, ideal_norm: float):
    """``A exp(-tau ((signal - ||m||)^2 + noise^2))``.

    In projection coordinates this *is* ``U`` at every point with those
    coordinates. In the published block coordinates it
    is an upper bound on ``U``, reached when the signal block is parallel to ``m``.
    """
    return amplitude * np.exp(-tau * ((signal - ideal_norm) ** 2 + noise**2))


def _fading_line(ax, x, y, style, label, chunks: int = 12):
    """A trajectory drawn in ``chunks`` pieces of rising opacity (time runs light to dark).

    Pieces rather than single segments so that dash patterns stay visible.
    """
    edges = np.linspace(0, len(x) - 1, chunks + 1).astype(int)
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        ax.plot(
            x[a : b + 1],
            y[a : b + 1],
            color=style["color"],
            linestyle=style["linestyle"],
            lw=2.2,
            alpha=min(1.0, 0.2 + 0.8 * (i + 1) / chunks),
            solid_capstyle="butt",
        )
    ax.plot(x[-1], y[-1], label=label, **head_marker(style))


def head_marker(style: dict) -> dict:
    """Keyword arguments of ``ax.plot`` for the marker at the head (end) of a path in ``style``."""
    return dict(
        marker=style["marker"],
        markersize=9,
        color=style["color"],
        markeredgecolor="black",
        linestyle=style["linestyle"],
        lw=2.2,
        zorder=6,
        clip_on=False,
    )


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
        _fading_line(ax, np.r_[0.0, signal], np.r_[0.0, noise], style, label)
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
    _clean(ax)
    return fig


def _band(ax, t, values, style, label):
    values = np.asarray(values)
    if values.ndim == 1:
        ax.plot(t, values, color=style["color"], linestyle=style["linestyle"], lw=2, label=label)
        return
    q25, q50, q75 = np.percentile(values, [25, 50, 75], axis=0)
    ax.fill_between(t, q25, q75, color=style["color"], alpha=0.22, linewidth=0)
    ax.plot(t, q50, color=style["color"], linestyle=style["linestyle"], lw=2, label=label)


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
        _band(ax, np.asarray(x), np.asarray(series[label]), styles[label], label)
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
    _clean(ax)
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
    for ax in (left, right):
        _clean(ax)
    if title:
        fig.suptitle(title)
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
        _clean(ax)
    axes[0].set_ylabel("noise: distance of theta from the line through m")
    cbar = fig.colorbar(filled, ax=list(axes), pad=0.01)
    cbar.set_label(background_label)
    if title:
        fig.suptitle(title)
    return fig


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
        style = _CYCLE[1]
        for ax, (label, values) in zip(axs[0], panels.items(), strict=True):
            series = bands[label] if bands is not None and label in bands else values
            _band(ax, x, series, style, label)
            ax.set_xlabel(names[0])
            ax.set_ylabel(label)
            if np.all(x > 0) and x.max() / x.min() > 20:
                ax.set_xscale("log")
            _clean(ax)
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
        _fading_line(ax, a, b, style, label)
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
    _clean(ax)
    return fig


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
    for (label, values), style in zip(eigenvalues.items(), _CYCLE, strict=False):
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
    for ax in (left, right):
        _clean(ax)
    if title:
        fig.suptitle(title)
    return fig
