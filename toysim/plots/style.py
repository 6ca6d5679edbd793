"""The figures' look: the Okabe-Ito palette, one (colour, line style, marker) per method,
and the small drawing pieces every figure shares (a fading path, a seed band, clean axes).

Every method has its own line style and marker as well as its colour, so the
figures read in greyscale and for colour-blind readers.
"""

from __future__ import annotations

import numpy as np

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
CYCLE = [  # styles for labels that are not a method, in order
    dict(color=OKABE_ITO["green"], linestyle="-", marker="s"),
    dict(color=OKABE_ITO["sky"], linestyle="--", marker="v"),
    dict(color=OKABE_ITO["purple"], linestyle="-.", marker="P"),
    dict(color=OKABE_ITO["blue"], linestyle=(0, (5, 1)), marker="^"),
    dict(color=OKABE_ITO["orange"], linestyle=":", marker="D"),
    dict(color=OKABE_ITO["vermillion"], linestyle=(0, (3, 1, 1, 1, 1, 1)), marker="o"),
    dict(color=OKABE_ITO["black"], linestyle="-", marker="X"),
    dict(color=OKABE_ITO["sky"], linestyle=(0, (1, 1)), marker="h"),
    dict(color=OKABE_ITO["purple"], linestyle=(0, (5, 2, 1, 2)), marker="*"),
]
BACKGROUND_CMAP = "Greys"
SEQUENTIAL_CMAP = "cividis"


def styles_for(labels) -> dict[str, dict]:
    """A distinct (colour, line style, marker) per label; the four methods keep theirs, and
    the other labels take :data:`CYCLE` in order, skipping any entry with the colour and
    marker of a method among ``labels``."""
    labels = list(labels)
    taken = {(STYLES[x]["color"], STYLES[x]["marker"]) for x in labels if x in STYLES}
    free = [c for c in CYCLE if (c["color"], c["marker"]) not in taken]
    out, i = {}, 0
    for label in labels:
        if label in STYLES:
            out[label] = STYLES[label]
        else:
            out[label] = free[i % len(free)]
            i += 1
    return out


def clean_axes(ax) -> None:
    """Hide the top and right spines of ``ax`` (no chart junk)."""
    ax.spines[["top", "right"]].set_visible(False)


def finish_panels(fig, axes, title: str | None):
    """Clean every panel of ``axes`` (:func:`clean_axes`), title the figure if ``title``, and
    return ``fig``."""
    for ax in axes:
        clean_axes(ax)
    if title:
        fig.suptitle(title)
    return fig


def fading_line(ax, x, y, style, label, chunks: int = 12):
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


def seed_band(ax, t, values, style, label):
    """Draw ``values`` against ``t``: one line, or (``[seeds, len(t)]``) the median over seeds
    with the interquartile range shaded."""
    values = np.asarray(values)
    if values.ndim == 1:
        ax.plot(t, values, color=style["color"], linestyle=style["linestyle"], lw=2, label=label)
        return
    q25, q50, q75 = np.percentile(values, [25, 50, 75], axis=0)
    ax.fill_between(t, q25, q75, color=style["color"], alpha=0.22, linewidth=0)
    ax.plot(t, q50, color=style["color"], linestyle=style["linestyle"], lw=2, label=label)
