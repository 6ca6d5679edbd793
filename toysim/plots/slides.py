"""Slides: a registered figure redrawn at 16:9 with large type, for a lecture.

``with slide_style(): ...`` makes every figure :func:`toysim.plots.output.save` writes
inside the block a slide: the same figure function draws it, then :func:`fit_to_slide`
sets its size to :data:`SLIDE_INCHES` (16:9; 1920 x 1080 pixels at the PNG's 150 dpi) and
multiplies every size in points by the slide's ``scale`` (text, line widths, markers), so
that every slide of a deck has the same type size whatever the figure's own size was. The
sidecar records it (``"slide"``: aspect, inches, pixels, scale). Within the block
matplotlib's paddings (ticks, axis labels, titles, the constrained layout) are scaled too
(:data:`SLIDE_PADDINGS`), sizes a figure function leaves to matplotlib's defaults.

``python -m toysim figures --slides`` makes :data:`DEFAULT_SLIDES` so into
``figures/slides/``; ``--only NAME`` chooses others (any :func:`is_picture`).
:data:`LECTURE_SLIDES` are the figures of the lecture path (docs/teaching/index.md), one per
step.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextvars import ContextVar
from fractions import Fraction
from typing import NamedTuple

SLIDE_INCHES = (12.8, 7.2)
"""A slide's size in inches: 16:9, and 1920 x 1080 pixels at 150 dpi."""
SLIDE_SCALE = 1.8
"""How much larger every size in points is on a slide than in the figure (10 pt type: 18 pt)."""
SLIDES_FOLDER = "figures/slides"
"""Where ``toysim figures --slides`` writes without ``--out``."""

LECTURE_SLIDES = (
    "collapse_utility",
    "calibration_map",
    "collapse_phase_space",
    "population_field",
    "ladder_utility",
    "label_noise",
)
"""The lecture path's figures, one per step: the game, the capacity gap, the collapse in
phase space, the missing steering term, exact FPO and its relaxations, preference labels."""
DEFAULT_SLIDES = LECTURE_SLIDES[:-1]
"""The slides ``--slides`` makes unless told which: the lecture's figures but ``label_noise``
(its sweep of 16 seeds over six label-noise cells is the one long experiment among them)."""

NOT_PICTURES = ("ladder_tables", "goodhart_tables", "neural_ladder_table", "collapse_animation")
"""Registered names that are not matplotlib figures (Markdown tables, the GIF): no slide."""

SLIDE_PADDINGS = (
    "axes.labelpad",
    "axes.titlepad",
    "xtick.major.pad",
    "ytick.major.pad",
    "xtick.minor.pad",
    "ytick.minor.pad",
    "figure.constrained_layout.h_pad",
    "figure.constrained_layout.w_pad",
)
"""matplotlib's paddings (between ticks and their labels, axes and their labels and titles,
panels): :func:`slide_style` scales their defaults as it scales everything else."""


class Slide(NamedTuple):
    """A slide's geometry: ``inches`` (width, height) and the ``scale`` of sizes in points."""

    inches: tuple[float, float] = SLIDE_INCHES
    scale: float = SLIDE_SCALE

    def record(self, dpi: float) -> dict:
        """What the sidecar says of the slide: aspect (``"16:9"``), inches, pixels at ``dpi``
        and scale."""
        pixels = [round(x * dpi) for x in self.inches]
        aspect = Fraction(*pixels)
        return {
            "aspect": f"{aspect.numerator}:{aspect.denominator}",
            "inches": list(self.inches),
            "pixels": pixels,
            "scale": self.scale,
        }


SLIDE = Slide()
"""The default slide: :data:`SLIDE_INCHES`, :data:`SLIDE_SCALE`."""

_SLIDE: ContextVar[Slide | None] = ContextVar("toysim_slide", default=None)


@contextlib.contextmanager
def slide_style(slide: Slide = SLIDE) -> Iterator[Slide]:
    """Within the block, :func:`toysim.plots.output.save` writes every figure as ``slide``
    (:func:`fit_to_slide`), and matplotlib's :data:`SLIDE_PADDINGS` are their defaults times
    ``slide.scale``.

    Raises:
      ValueError: ``slide`` has a size or a scale that is not positive.
    """
    if min(*slide.inches, slide.scale) <= 0:
        raise ValueError(f"a slide's inches and scale must be positive; got {slide}")
    import matplotlib

    token = _SLIDE.set(slide)
    try:
        defaults = matplotlib.rcParamsDefault
        paddings = {key: defaults[key] * slide.scale for key in SLIDE_PADDINGS}
        with matplotlib.rc_context(paddings):
            yield slide
    finally:
        _SLIDE.reset(token)


def current_slide() -> Slide | None:
    """The slide of the innermost :func:`slide_style` block, or None outside one."""
    return _SLIDE.get()


def fit_to_slide(fig, slide: Slide) -> None:
    """Resize ``fig`` to ``slide.inches`` and multiply every size in points by ``slide.scale``:
    each text's font size, each line's width, marker size and marker edge, each collection's
    line widths (and a scatter's marker areas by ``scale**2``), each patch's edge.

    A figure laid out once by ``tight_layout`` (no layout engine) gets the tight engine, so
    that it is laid out again at the slide's size; then titles and axis labels too long for
    their panels are broken into lines (:func:`wrap_to_fit`).
    """
    import numpy as np
    from matplotlib.collections import Collection, PathCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.text import Text

    k = slide.scale
    fig.set_size_inches(*slide.inches)
    seen = set()
    for artist in fig.findobj():
        if id(artist) in seen:
            continue
        seen.add(id(artist))
        if isinstance(artist, Text):
            artist.set_fontsize(artist.get_fontsize() * k)
        elif isinstance(artist, Line2D):
            artist.set_linewidth(artist.get_linewidth() * k)
            artist.set_markersize(artist.get_markersize() * k)
            artist.set_markeredgewidth(artist.get_markeredgewidth() * k)
        elif isinstance(artist, Collection):
            artist.set_linewidths(np.asarray(artist.get_linewidths()) * k)
            if isinstance(artist, PathCollection):
                artist.set_sizes(np.asarray(artist.get_sizes()) * k**2)
        elif isinstance(artist, Patch):
            artist.set_linewidth(artist.get_linewidth() * k)
    if fig.get_layout_engine() is None:
        fig.set_layout_engine("tight")
    wrap_to_fit(fig)


TITLE_SHARE = 0.9
"""The share of the figure's width a figure title may take before :func:`wrap_to_fit` breaks it."""


def wrapped(text: str, ratio: float) -> str:
    """``text`` with each line broken into lines at most ``ratio`` times as long as its longest
    line (in characters, at least one word each), between words and never inside ``$...$``
    (mathtext)."""
    lines = text.split("\n")
    budget = max(1, int(max(map(len, lines)) * ratio))
    out = []
    for line in lines:
        current = ""
        for word in re.findall(r"(?:\$[^$]*\$|\S)+", line):
            if current and len(current) + 1 + len(word) > budget:
                out.append(current)
                current = word
            else:
                current = f"{current} {word}" if current else word
        out.append(current)
    return "\n".join(out)


def wrap_to_fit(fig) -> None:
    """Break every axes title and x label wider than its axes, every y label taller than its
    axes, and the figure's title wider than :data:`TITLE_SHARE` of the figure, into lines
    that fit (:func:`wrapped`), as laid out at the figure's size: a slide's larger type would
    otherwise run into the panel beside it."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    suptitle = getattr(fig, "_suptitle", None)  # the Text of fig.suptitle, if any
    texts = [(suptitle, TITLE_SHARE * fig.bbox.width, "width")]
    for ax in fig.axes:
        box = ax.get_window_extent(renderer)
        texts += [
            (ax.title, box.width, "width"),
            (ax.xaxis.label, box.width, "width"),
            (ax.yaxis.label, box.height, "height"),
        ]
    for text, room, along in texts:
        if text is None or not text.get_text():
            continue
        size = getattr(text.get_window_extent(renderer), along)
        if size > room:
            text.set_text(wrapped(text.get_text(), room / size))


def is_picture(name: str) -> bool:
    """Whether the registered figure ``name`` is drawn by matplotlib, so can be a slide (every
    name but :data:`NOT_PICTURES`)."""
    return name not in NOT_PICTURES
