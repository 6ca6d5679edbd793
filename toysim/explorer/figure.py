"""The explorer's matplotlib figure, built once and moved in place at every change.

A change moves the existing artists (``set_data``) and blits them over a cached
rendering of the rest; the figure is never rebuilt. The axis limits move in
coarse steps with hysteresis, so most slider moves redraw only the lines.
"""

from __future__ import annotations

import numpy as np

from toysim.explorer.runs import Run
from toysim.explorer.settings import Settings


class ExplorerFigure:
    """The explorer's three panels, built once; :meth:`show` moves their artists in place.

    Left: signal against noise over the true utility (the background of
    :func:`toysim.plots.phase_space`), the start and the human ideal marked.
    Right: the true utility ``U(theta)`` (a thin line: ``E[U]`` under a Gaussian
    policy; dashed: ``U(m)``, the ideal's) and the noise against the iteration.

    Redraws blit: the lines are animated artists drawn over a cached rendering
    of everything else, which is rendered again only when it changes (axis
    limits, which move in coarse steps, labels, the horizon or the method).
    The layout is computed once, at the first full rendering.
    """

    def __init__(self, figure, amplitude: float, tau: float, ideal_norm: float):
        """Build the axes, the utility contours, the markers and empty lines on ``figure``.

        ``figure`` must already have its canvas (Agg or ipympl's).
        """
        from matplotlib.ticker import MaxNLocator

        from toysim.plots import BACKGROUND_CMAP, OKABE_ITO, utility_on_plane

        self.figure = figure
        self.canvas = figure.canvas
        grid = figure.add_gridspec(2, 2, width_ratios=(1.3, 1))
        self.phase = figure.add_subplot(grid[:, 0])
        self.utility_ax = figure.add_subplot(grid[0, 1])
        self.noise_ax = figure.add_subplot(grid[1, 1], sharex=self.utility_ax)
        s, n = np.meshgrid(np.linspace(-2.0, 12.0, 281), np.linspace(0.0, 10.0, 201))
        filled = self.phase.contourf(
            s,
            n,
            utility_on_plane(s, n, amplitude, tau, ideal_norm),
            levels=np.linspace(0, amplitude, 11),
            cmap=BACKGROUND_CMAP,
            alpha=0.45,
        )
        self.colorbar = figure.colorbar(filled, ax=self.phase, pad=0.01)
        self.phase.plot(
            0, 0, "o", color="white", markeredgecolor="black", markersize=8, label="start",
            zorder=6, clip_on=False,
        )  # fmt: skip
        self.phase.plot(
            ideal_norm, 0, "*", color=OKABE_ITO["yellow"], markeredgecolor="black",
            markersize=16, label="human ideal", zorder=5, clip_on=False,
        )  # fmt: skip
        self.phase.legend(loc="upper right", framealpha=0.9, fontsize=9)
        (self.path,) = self.phase.plot([], [], lw=2.2, zorder=4)
        (self.end,) = self.phase.plot(
            [], [], markersize=9, markeredgecolor="black", linestyle="none", zorder=6
        )
        (self.utility_line,) = self.utility_ax.plot([], [], lw=2)
        (self.expected_line,) = self.utility_ax.plot([], [], lw=1.0, alpha=0.7)
        (self.noise_line,) = self.noise_ax.plot([], [], lw=2)
        self.utility_ax.axhline(amplitude, color="black", linestyle="--", lw=1.0)
        self.utility_ax.set_ylim(0, 1.05 * amplitude)
        self.utility_ax.set_ylabel("true utility U")
        self.noise_ax.set_xlabel("iteration")
        self.noise_ax.set_ylabel("noise")
        self.utility_ax.tick_params(labelbottom=False)
        for ax in (self.phase, self.utility_ax, self.noise_ax):
            ax.spines[["top", "right"]].set_visible(False)
            ax.xaxis.set_major_locator(MaxNLocator(5, steps=[1, 2, 5, 10]))
            ax.yaxis.set_major_locator(MaxNLocator(4, steps=[1, 2, 5, 10]))
        self.moving = (self.path, self.end, self.utility_line, self.expected_line, self.noise_line)
        for artist in self.moving:
            artist.set_animated(True)
        self.background = None
        self.static: tuple | None = None
        self.canvas.mpl_connect("draw_event", self._on_draw)

    def _on_draw(self, event) -> None:
        """After any full rendering: cache it, freeze the layout, draw the lines over it."""
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)
        self.figure.set_layout_engine("none")
        self._draw_moving()

    def _draw_moving(self) -> None:
        """Draw the moving lines over what the canvas holds now."""
        for artist in self.moving:
            artist.axes.draw_artist(artist)

    def show(self, run: Run, settings: Settings) -> bool:
        """Move every artist to ``run`` and render; True if everything was rendered again.

        Renders the lines over the cached background when nothing else changed.
        The axes follow the run in coarse steps, up to :data:`PHASE_LIMIT`
        (twice that for the noise against time), so a run that blows up leaves
        the frame rather than squashing it.
        """
        from toysim.plots import styles_for

        method = run.spec.method.name
        style = styles_for([method])[method]
        line = dict(color=style["color"], linestyle=style["linestyle"])
        projection = settings.coords == "projection"
        sig = run.series["signal_proj" if projection else "signal"]
        noise = run.series["noise_proj" if projection else "noise"]
        t = np.arange(1, len(sig) + 1)
        gaussian = run.spec.policy == "gaussian"
        expected = run.series["expected_utility"] if gaussian else np.zeros(0)
        self.path.set_data(np.r_[0.0, sig], np.r_[0.0, noise])
        self.path.set(**line)
        self.end.set_data(sig[-1:], noise[-1:])
        self.end.set(color=style["color"], marker=style["marker"])
        self.utility_line.set_data(t, run.series["utility"])
        self.utility_line.set(**line)
        self.expected_line.set_data(t[: len(expected)], expected)
        self.expected_line.set_color(style["color"])
        self.noise_line.set_data(t, noise)
        self.noise_line.set(**line)
        static = (
            settings.preset,
            method,
            settings.coords,
            _nice(run.spec.steps, HORIZON_MANTISSAS),
            -min(_nice(-sig.min(initial=0.0)), PHASE_LIMIT),
            min(max(5.0, _nice(1.05 * sig.max(initial=0.0))), PHASE_LIMIT),
            min(max(3.0, _nice(1.05 * noise.max(initial=0.0))), PHASE_LIMIT),
            min(max(1.0, _nice(1.1 * noise.max(initial=0.0))), 2 * PHASE_LIMIT),
        )
        if self.static is not None and static[:3] == self.static[:3]:
            kept = [_keep(self.static[3], static[3], 2.0)]
            kept += [
                _keep(old, new, 4.0) for old, new in zip(self.static[4:], static[4:], strict=True)
            ]
            static = static[:3] + tuple(kept)
        if static == self.static and self.background is not None:
            self.canvas.restore_region(self.background)
            self._draw_moving()
            return False
        if self.static is not None and self.static[2] != static[2]:
            self.figure.set_layout_engine("constrained")  # new axis labels: lay out once more
        self.static = static
        preset, _, coords, horizon, x_low, x_high, y_high, noise_high = static
        self.phase.set_xlim(x_low - 0.1 if x_low < 0 else 0.0, x_high)
        self.phase.set_ylim(0.0, y_high)
        self.noise_ax.set_xlim(0, horizon)
        self.noise_ax.set_ylim(0.0, noise_high)
        if coords == "projection":
            self.phase.set_xlabel("signal: projection of theta on m / ||m||")
            self.phase.set_ylabel("noise: distance from the line through m")
            self.colorbar.set_label("true utility U")
        else:
            self.phase.set_xlabel("signal magnitude ||theta[:k]||")
            self.phase.set_ylabel("noise magnitude ||theta[k:]||")
            self.colorbar.set_label("true utility U (upper bound)")
        self.phase.set_title(f"{preset}: {method}", fontsize=10)
        self.canvas.draw()
        return True


PHASE_LIMIT = 10.0
"""The phase-space axes stop here (the contours' extent): a path that runs off leaves the frame."""


def _keep(old: float, new: float, factor: float) -> float:
    """An axis limit with hysteresis: the old one while the new is inside it by at most ``factor``.

    A limit that only shrinks a little stays put, so dragging back and forth does
    not render the whole figure at every turn (the horizon's axis may end past ``T``).
    """
    return old if abs(new) <= abs(old) and factor * abs(new) >= abs(old) else new


HORIZON_MANTISSAS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
"""The time axis ends at the first of these times a power of ten that reaches ``T``."""


def _nice(x: float, mantissas: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0)) -> float:
    """The smallest mantissa times a power of ten that is at least ``x`` (0 for ``x <= 0``).

    Axis limits move in these coarse steps, so most slider moves only redraw the lines.
    """
    if not x > 0:
        return 0.0
    power = 10.0 ** np.floor(np.log10(x))
    return float(next(m * power for m in mantissas if m * power >= x))
