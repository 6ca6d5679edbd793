"""The live explorer: sliders for the game's numbers, a picture that answers at once.

``explore()`` returns an ipywidgets box: sliders for ``gamma``, the action cost
``c``, the two step sizes, the horizon ``T`` and the seed; buttons for the
preset, the method, the four FPO switches (see docs/theory/relaxations.md) and
the phase-space coordinates. Every change
reruns the game and redraws the phase-space picture (signal against noise over
the true utility) and utility and noise against the iteration.

A change of a number never recompiles: the numbers are traced
:class:`~toysim.config.HParams`, the seed enters through the key, and the
horizon is static, so one program per (preset, method) structure is compiled
at :data:`MAX_STEPS` iterations and the first ``T`` are shown. That is exact
because the linear presets have no schedule depending on ``T``: iteration
``t`` is the same whatever the horizon (``make_trajectory`` uses ``steps``
only as the scan length; ``tests/test_explore.py`` checks the prefix against
``simulate`` with ``steps = T``). Only the method, its switches or the preset
compile a new program, once; :func:`trace_counts` counts the traces.

``paper-nn`` is left out: one run of the neural game takes 0.2-4 s (and its
compile 2-3 s), far above the 50 ms a slider needs to feel live.

The figure is ipympl's canvas when ipympl is installed, else an
``ipywidgets.Image`` of the Agg rendering (``canvas=`` chooses). Either way a
change moves the existing artists (``set_data``) and blits them over a cached
rendering of the rest; the figure is never rebuilt. :func:`explorer_latency`
times slider changes. ipywidgets is imported only when an explorer is made, so
toysim imports without it.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import time
import warnings
from collections import Counter
from typing import Any, NamedTuple

import jax
import numpy as np

from toysim.config import (
    HESSIAN,
    INFLUENCE,
    METHODS,
    ORACLE,
    PARAMS,
    ConfigError,
    GameSpec,
    HParams,
    Method,
    method_from_name,
    validate,
)
from toysim.game.trajectory import (
    NonFiniteTrajectoryError,
    Trajectory,
    first_nonfinite_iteration,
    make_trajectory,
)
from toysim.presets import PRESETS, build, default_gamma

MAX_STEPS = 1000
"""The horizon every explorer program is compiled at; the horizon slider shows a prefix."""

PRESET_NAMES = ("paper-linear", "population", "sycophancy")
"""The presets offered (``paper-nn`` is too slow to answer a slider at once)."""

METHOD_NAMES = ("rlhf", "fpo-exact", "fpo-relaxed", "fpo-practical", "fpo")
SWITCHES = {"hessian": HESSIAN, "influence": INFLUENCE, "params": PARAMS, "oracle": ORACLE}
COORDS = ("projection", "block")

NUMBERS = {
    # name: (kind, min, max[, step]); a log slider moves in steps of 0.01 in log10
    "gamma": ("log", 1e-3, 10.0),
    "action_cost": ("linear", 0.0, 1.0, 0.005),
    "leader_lr": ("log", 1e-3, 0.2),
    "follower_lr": ("log", 1e-4, 0.1),
    "steps": ("int", 10, MAX_STEPS, 10),
    "seed": ("int", 0, 63, 1),
}
"""Each numeric setting's slider: log sliders span ``[min, max]`` in powers of ten."""

LABELS = {
    "gamma": "gamma (steering)",
    "action_cost": "c (action cost)",
    "leader_lr": "leader step",
    "follower_lr": "follower step eta",
    "steps": "steps T",
    "seed": "seed",
}


class Settings(NamedTuple):
    """Everything the explorer shows: the structure, the numbers and the view.

    Attributes:
      preset: one of :data:`PRESET_NAMES`.
      method: one of :data:`METHOD_NAMES` (``fpo`` is a custom mix of the switches).
      hessian, influence, params, oracle: the FPO switches; switches that differ
        from a named FPO method's make the run the named method with those
        switches, or else a custom ``fpo`` mix (:func:`method_of`); ignored for ``rlhf``.
      gamma: the steering weight (ignored for ``rlhf``, whose weight is 0).
      action_cost: ``c``, the KL leash.
      leader_lr: the leader's step size.
      follower_lr: the SGD follower's step ``eta``; its exact loss has the
        proximal weight ``lambda = 1/eta`` (see docs/settings.md), so both move
        together. Unused by the population preset (closed-form best response).
      steps: the horizon ``T`` shown, at most :data:`MAX_STEPS`.
      seed: draws the RM's random initial weights.
      coords: ``projection`` (on ``m``: the contours are the exact utility) or
        ``block`` (published: ``||y[:k]||``, ``||y[k:]||``; the contours bound it).
    """

    preset: str = "paper-linear"
    method: str = "rlhf"
    hessian: str = "exact"
    influence: str = "global"
    params: str = "optimum"
    oracle: str = "true"
    gamma: float = 0.1
    action_cost: float = 0.1
    leader_lr: float = 0.02
    follower_lr: float = 0.005
    steps: int = 300
    seed: int = 0
    coords: str = "projection"


def method_of(settings: Settings) -> Method:
    """The leader method of the settings.

    A named method whose switches were changed becomes the named FPO method with
    those switches if there is one (``fpo-relaxed`` without the oracle is
    ``fpo-practical``), else a custom ``fpo`` mix; so equal structures share
    one compiled program.
    """
    if settings.method not in METHOD_NAMES:
        raise ConfigError(
            f"method must be one of {', '.join(METHOD_NAMES)}; got {settings.method!r}"
        )
    if not METHODS[settings.method].foresight:
        return method_from_name(settings.method)
    method = method_from_name(settings.method, **{k: getattr(settings, k) for k in SWITCHES})
    for named in METHODS.values():
        if named.foresight and named.name != "fpo" and _switches(named) == _switches(method):
            return named
    return method


def _switches(method: Method) -> tuple[str, ...]:
    return tuple(getattr(method, k) for k in SWITCHES)


def game_of(settings: Settings) -> tuple[GameSpec, HParams]:
    """``(spec, hparams)`` of the settings; ``spec`` has the compiled horizon :data:`MAX_STEPS`.

    Raises:
      ConfigError: a setting is outside what is allowed (named in the message).
    """
    if settings.preset not in PRESET_NAMES:
        raise ConfigError(
            f"preset must be one of {', '.join(PRESET_NAMES)}; got {settings.preset!r}"
        )
    if settings.coords not in COORDS:
        raise ConfigError(f"coords must be one of {', '.join(COORDS)}; got {settings.coords!r}")
    steps = settings.steps
    if not isinstance(steps, int | np.integer) or not 1 <= steps <= MAX_STEPS:
        raise ConfigError(f"steps must be an integer in [1, {MAX_STEPS}]; got {steps!r}")
    if not isinstance(settings.seed, int | np.integer) or settings.seed < 0:
        raise ConfigError(f"seed must be an integer >= 0; got {settings.seed!r}")
    method = method_of(settings)
    spec, hp = build(settings.preset, method, steps=MAX_STEPS)
    gamma = settings.gamma if method.foresight else 0.0
    hp = hp._replace(gamma=gamma, action_cost=settings.action_cost, leader_lr=settings.leader_lr)
    if spec.follower == "sgd":
        if not settings.follower_lr > 0:
            raise ConfigError(
                "follower_lr must be > 0 (the exact follower loss has lambda = 1/follower_lr); "
                f"got {settings.follower_lr!r}"
            )
        hp = hp._replace(follower_lr=settings.follower_lr, lam=1.0 / settings.follower_lr)
    validate(spec, hp)
    return spec, hp


trace_count: Counter[GameSpec] = Counter()
"""How many times each explorer program has been traced (once per structure, ever)."""


def trace_counts() -> dict[GameSpec, int]:
    """A copy of :data:`trace_count`: spec (at :data:`MAX_STEPS`) -> number of traces."""
    return dict(trace_count)


@functools.lru_cache(maxsize=64)
def program(spec: GameSpec):
    """``jit(key, hparams) -> (Trajectory, first non-finite iteration)`` for ``spec``, cached.

    One per structure: every number is traced, so no value recompiles it.
    """
    if spec.steps != MAX_STEPS:
        raise ValueError(f"explorer programs run {MAX_STEPS} steps; got a spec of {spec.steps}")
    run = make_trajectory(spec)

    def counted(key, hp: HParams) -> tuple[Trajectory, jax.Array]:
        trace_count[spec] += 1  # runs while tracing only
        trajectory = run(key, hp)
        return trajectory, first_nonfinite_iteration(trajectory)

    return jax.jit(counted)


SERIES = ("signal", "noise", "signal_proj", "noise_proj", "utility", "expected_utility")


class Run(NamedTuple):
    """What the explorer draws for one :class:`Settings`.

    Attributes:
      spec: the game with the horizon shown (``steps = T``).
      hparams: its numbers.
      series: name -> per-iteration values ``[n]`` for each of :data:`SERIES`;
        ``n = T``, or the iterations before the run went non-finite.
      error: the :class:`NonFiniteTrajectoryError` message, or ``None``.
    """

    spec: GameSpec
    hparams: HParams
    series: dict[str, np.ndarray]
    error: str | None


def host_floats(hp: HParams) -> HParams:
    """Every field a NumPy scalar of JAX's default float dtype.

    The same types as :func:`toysim.config.as_float_arrays` (so the compiled
    program sees the same signature) without a device transfer per field.
    """
    import jax.numpy as jnp

    dtype = jnp.result_type(float)
    return HParams(*(np.asarray(x, dtype=dtype) for x in hp))


def nonfinite_error(iteration: int, spec: GameSpec) -> NonFiniteTrajectoryError:
    """The error :func:`toysim.simulate` raises for a run that went non-finite at ``iteration``.

    Built from the count the compiled program returns: checking the host arrays
    again with eager JAX operations would compile kernels for every new horizon.
    """
    return NonFiniteTrajectoryError(
        f"trajectory became non-finite at iteration {iteration} of {spec.steps}, "
        f"method {spec.method.name!r}: reduce a step size (leader_lr, follower_lr) or gamma"
    )


def run_settings(settings: Settings) -> Run:
    """Validate, run the cached program for the settings' structure, keep the first ``T``.

    Raises:
      ConfigError: a setting is invalid. A run that goes non-finite does not
        raise: its finite prefix is returned with the error message.
    """
    spec_max, hp = game_of(settings)
    steps = int(settings.steps)
    spec = dataclasses.replace(spec_max, steps=steps)
    trajectory, first_bad = program(spec_max)(jax.random.key(int(settings.seed)), host_floats(hp))
    first_bad = int(first_bad)
    error = None
    shown = steps
    if 0 < first_bad <= steps:
        error = str(nonfinite_error(first_bad, spec))
        shown = first_bad - 1
    values = jax.device_get(tuple(getattr(trajectory, name) for name in SERIES))
    series = {name: np.asarray(v[:shown]) for name, v in zip(SERIES, values, strict=True)}
    return Run(spec, hp, series, error)


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


def _ipywidgets():
    """ipywidgets, or an ImportError saying how to install it."""
    try:
        import ipywidgets
    except ImportError as e:
        raise ImportError(
            "toysim.explore needs ipywidgets: pip install 'toysim[notebooks]' "
            "(or pip install ipywidgets ipympl)"
        ) from e
    return ipywidgets


def _has_ipympl() -> bool:
    try:
        import ipympl.backend_nbagg  # noqa: F401
    except ImportError:
        return False
    return True


class _ImageSurface:
    """The figure as an ``ipywidgets.Image``: the Agg buffer, encoded on each refresh.

    JPEG at quality 90: as large as a fast PNG of this figure and seven times
    quicker to encode (about 4 ms against 28 ms here), which keeps a redraw live.
    """

    def __init__(self, figure, widgets):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.canvas = FigureCanvasAgg(figure)
        self.widget = widgets.Image(format="jpeg")

    def refresh(self, full: bool) -> None:
        from PIL import Image

        buffer = io.BytesIO()
        rgba = Image.frombuffer("RGBA", self.canvas.get_width_height(), self.canvas.buffer_rgba())
        rgba.convert("RGB").save(buffer, format="jpeg", quality=90)
        self.widget.value = buffer.getvalue()


class _IpymplSurface:
    """The figure on ipympl's canvas widget, which sends the Agg buffer to the front end."""

    def __init__(self, figure, widgets):
        from ipympl.backend_nbagg import Canvas, FigureManager

        canvas = Canvas(figure)
        with warnings.catch_warnings():  # ipympl's own toolbar, built with traitlets' old API
            warnings.filterwarnings("ignore", "Passing unrecognized arguments", DeprecationWarning)
            FigureManager(canvas, 0)
        canvas.header_visible = False
        canvas.footer_visible = False
        canvas.toolbar_visible = False
        canvas.resizable = False
        # Frames go to the front end only, as ipympl does once one says "initialized". Its
        # data-URL copy of each frame (for runs without a front end) would cost a second PNG
        # per frame, and this ipympl stores it without the "data:" prefix, which the front
        # end then fails to load ("HTMLImageElement ... in the 'broken' state"): no figure.
        canvas.syncing_data_url = False
        self.canvas = canvas
        self.widget = canvas

    def refresh(self, full: bool) -> None:
        if not full:  # a full rendering has already been sent
            self.canvas.blit(self.canvas.figure.bbox)


class Explorer:
    """The explorer's controls, figure and state; :attr:`widget` is what a notebook displays.

    Attributes:
      widget: the ``ipywidgets.VBox`` to display.
      controls: setting name (a :class:`Settings` field) -> its ipywidgets control.
      figure: the :class:`ExplorerFigure` drawn into.
      message: an ``ipywidgets.HTML`` showing a configuration or non-finite error ("" if none).
      last_run: the :class:`Run` drawn last (``None`` after an invalid setting).
      timings: seconds spent on the last redraw, ``{"compute": ..., "draw": ...}``.
    """

    def __init__(self, settings: Settings, canvas: str = "auto"):
        """Build the controls at ``settings`` and draw once (compiling the first program).

        Args:
          settings: the starting values; numbers must lie within their slider's range.
          canvas: ``ipympl`` (interactive canvas), ``image`` (a JPEG rendered with
            Agg) or ``auto`` (ipympl if installed, else image).
        """
        from matplotlib.figure import Figure

        widgets = _ipywidgets()
        if canvas not in ("auto", "ipympl", "image"):
            raise ConfigError(f"canvas must be one of auto, ipympl, image; got {canvas!r}")
        _check_ranges(settings)
        use_ipympl = canvas == "ipympl" or (canvas == "auto" and _has_ipympl())
        self.controls = _make_controls(widgets, settings)
        # The contours are drawn once: the offered presets share the utility U (a test checks).
        hp = PRESETS[settings.preset].hparams
        spec_fields = PRESETS[settings.preset].spec
        figure = Figure(figsize=(10.0, 4.2), dpi=80, layout="constrained")
        surface = _IpymplSurface if use_ipympl else _ImageSurface
        self.surface = surface(figure, widgets)
        self.figure = ExplorerFigure(
            figure,
            amplitude=hp.amplitude,
            tau=hp.tau,
            ideal_norm=hp.ideal_value * float(np.sqrt(spec_fields["signal_dims"])),
        )
        self.message = widgets.HTML()
        self.readout = widgets.HTML()
        self.last_run: Run | None = None
        self.timings: dict[str, float] = {}
        self._holding = False
        self._syncing = False
        self._default_gamma: float | None = None
        self.widget = widgets.VBox(
            [
                widgets.HTMLMath(_OBJECTIVE),
                widgets.HBox(
                    [
                        widgets.VBox(
                            [self.controls[k] for k in ("preset", "method", *SWITCHES, "coords")]
                        ),
                        widgets.VBox([self.controls[k] for k in NUMBERS]),
                    ],
                    layout=widgets.Layout(flex_flow="row wrap"),
                ),
                self.message,
                self.surface.widget,
                self.readout,
                widgets.HTML(_CAPTION),
            ]
        )
        for name, control in self.controls.items():
            control.observe(functools.partial(self._changed, name), names="value")
        self._sync_structure(None)
        self.redraw()

    @property
    def settings(self) -> Settings:
        """The settings the controls hold now."""
        return Settings(**{name: control.value for name, control in self.controls.items()})

    def set(self, **values: Any) -> None:
        """Set controls in the order given (``method="fpo-exact", gamma=0.5``), then redraw once.

        A named method sets the four switches, so give a switch after the method.
        """
        unknown = set(values) - set(self.controls)
        if unknown:
            raise ConfigError(
                f"unknown setting(s) {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(self.controls)}"
            )
        self._holding = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._holding = False
        self.redraw()

    def redraw(self) -> None:
        """Run the current settings and move the figure's artists; show any error as a message."""
        self.draw(self.settings)

    def draw(self, settings: Settings) -> None:
        """Run ``settings`` and draw them; a bad setting or a non-finite run becomes a message."""
        start = time.perf_counter()
        try:
            run = run_settings(settings)
        except ConfigError as e:
            self.message.value = _error_html(
                "Not run", f"{e} (the picture still shows the last valid settings)"
            )
            self.readout.value = ""
            self.last_run = None
            return
        computed = time.perf_counter()
        self.last_run = run
        self.message.value = _error_html("Stopped", run.error) if run.error else ""
        self.surface.refresh(self.figure.show(run, settings))
        self.readout.value = _readout(run)
        self.timings = {"compute": computed - start, "draw": time.perf_counter() - computed}

    def _changed(self, name: str, change: dict) -> None:
        """An observer: keep the method and the switches consistent, then redraw."""
        if self._syncing:
            return
        if name in ("preset", "method", *SWITCHES):
            self._syncing = True
            try:
                self._sync_structure(name)
            finally:
                self._syncing = False
        if not self._holding:
            self.redraw()

    def _sync_structure(self, changed: str | None) -> None:
        """A named method sets the switches; switches select the method they make.

        ``changed`` is the control that moved (``None`` when the explorer starts).
        Switches select the named FPO method with those switches, if any, else
        the custom ``fpo`` (see :func:`method_of`). The switches
        and ``gamma`` are disabled for ``rlhf``, the follower's step for the
        population preset (its follower best-responds in closed form). ``gamma``
        jumps to the new default (:func:`toysim.presets.default_gamma`) when the
        default changes with the structure.
        """
        c = self.controls
        old_default = self._default_gamma
        if changed == "method" and c["method"].value != "fpo":
            named = METHODS[c["method"].value]
            for switch in SWITCHES:
                c[switch].value = getattr(named, switch)
        elif changed != "preset" and c["method"].value != "rlhf":
            c["method"].value = method_of(self.settings).name
        rlhf = c["method"].value == "rlhf"
        for switch in SWITCHES:
            c[switch].disabled = rlhf
        c["gamma"].disabled = rlhf
        c["follower_lr"].disabled = PRESETS[c["preset"].value].spec["follower"] != "sgd"
        self._default_gamma = _default_gamma_of(self.settings)
        if old_default is not None and not rlhf and self._default_gamma != old_default:
            c["gamma"].value = self._default_gamma


_OBJECTIVE = (
    r"Leader: $\theta_{t+1} = \theta_t + \text{step}\,\nabla F(\theta_t)$ with "
    r"$F(\theta) = \mathbb{E}[r_{\phi}(y)] - c\,\mathbb{E}\|y\|^2 - \gamma\,S(\theta)$; "
    r"follower: one step $\eta$ on the squared error at the new output. "
    r"RLHF drops $S$; FPO's switches choose how $S$ is computed."
)


def _error_html(head: str, text: str) -> str:
    """``text``, escaped, in red after a bold ``head``."""
    from html import escape

    return f'<span style="color:#D55E00"><b>{head}:</b> {escape(text)}</span>'


def _readout(run: Run) -> str:
    """The run's numbers in a line of HTML: method, gamma, c and the final values."""
    s = run.series
    m = run.spec.method
    gamma = f", gamma {run.hparams.gamma:.3g}" if m.foresight else ""
    head = f"<b>{m.name}</b>{gamma}, c {run.hparams.action_cost:.3g}"
    if not len(s["utility"]):
        return head
    return (
        f"{head}: after {len(s['utility'])} iterations utility {s['utility'][-1]:.2f} "
        f"(peak {s['utility'].max():.2f}), signal {s['signal'][-1]:.2f}, "
        f"noise {s['noise'][-1]:.2f} (published block coordinates)"
    )


_CAPTION = (
    "<small>Left: the policy's path from the start (circle) over the true utility; the "
    "star is the human ideal m. Right: the true utility U(theta) (thin line: E[U] "
    "under the population preset's Gaussian policy; dashed: U(m), the ideal's) and the "
    "noise, against the iteration.</small>"
)


def _check_ranges(settings: Settings) -> None:
    """Raise :class:`ConfigError` if a starting number lies outside its slider's range."""
    for name, (_, low, high, *_) in NUMBERS.items():
        value = getattr(settings, name)
        if not low <= value <= high:
            raise ConfigError(f"{name} must be in [{low}, {high}] in the explorer; got {value!r}")
    for name, allowed in (
        ("preset", PRESET_NAMES),
        ("method", METHOD_NAMES),
        ("coords", COORDS),
        *SWITCHES.items(),
    ):
        if getattr(settings, name) not in allowed:
            raise ConfigError(
                f"{name} must be one of {', '.join(allowed)}; got {getattr(settings, name)!r}"
            )


def _make_controls(widgets, settings: Settings) -> dict[str, Any]:
    """One control per :class:`Settings` field, in its order, each starting at ``settings``."""
    style = {"description_width": "120px"}
    layout = widgets.Layout(width="370px")
    buttons = {"description_width": "80px", "button_width": "116px"}
    controls: dict[str, Any] = {
        "preset": widgets.ToggleButtons(
            options=PRESET_NAMES, value=settings.preset, description="preset", style=buttons
        ),
        "method": widgets.ToggleButtons(
            options=[(("fpo (custom)" if m == "fpo" else m), m) for m in METHOD_NAMES],
            value=settings.method,
            description="method",
            style=buttons,
        ),
    }
    for switch, allowed in SWITCHES.items():
        controls[switch] = widgets.ToggleButtons(
            options=allowed, value=getattr(settings, switch), description=switch, style=buttons
        )
    for name, (kind, low, high, *step) in NUMBERS.items():
        common = dict(
            value=getattr(settings, name),
            description=LABELS[name],
            continuous_update=True,
            style=style,
            layout=layout,
        )
        if kind == "log":
            controls[name] = widgets.FloatLogSlider(
                min=np.log10(low), max=np.log10(high), step=0.01, readout_format=".3g", **common
            )
        elif kind == "int":
            controls[name] = widgets.IntSlider(min=low, max=high, step=step[0], **common)
        else:
            controls[name] = widgets.FloatSlider(
                min=low, max=high, step=step[0], readout_format=".3f", **common
            )
    controls["coords"] = widgets.ToggleButtons(
        options=COORDS, value=settings.coords, description="coordinates", style=buttons
    )
    return {name: controls[name] for name in Settings._fields}


def explore(
    preset: str = "paper-linear", method: str = "rlhf", *, canvas: str = "auto", **settings: Any
):
    """A live explorer of the game: move a slider and the picture answers at once.

    Sliders set ``gamma``, the action cost ``c``, the leader's and the follower's
    step sizes, the horizon ``T`` (up to :data:`MAX_STEPS`) and the seed; buttons
    choose the preset (``paper-linear``, ``population``, ``sycophancy``), the
    method (``rlhf``, ``fpo-exact``, ``fpo-relaxed``, ``fpo-practical`` or a custom
    ``fpo`` mix), the four FPO switches and the phase-space coordinates. Moving a
    number never recompiles (one program per preset and method structure,
    compiled at :data:`MAX_STEPS` steps, the first ``T`` shown). ``paper-nn`` is
    not offered: one run of the neural game takes 0.2-4 s, too slow to follow a
    slider. A bad setting or a run that goes non-finite is shown as a message.

    Args:
      preset: the starting preset.
      method: the starting method; ``gamma`` starts at its default
        (:func:`toysim.presets.default_gamma`) unless given.
      canvas: ``auto`` (ipympl's interactive canvas if installed, else an image),
        ``ipympl`` or ``image``.
      **settings: other starting values, fields of :class:`Settings`
        (``gamma=0.5``, ``action_cost=0.05``, ``oracle="none"``, ...).

    Returns:
      An ``ipywidgets.VBox``; its ``explorer`` attribute is the :class:`Explorer`
      (controls, figure and the last run), for driving it from code.

    Raises:
      ImportError: ipywidgets is not installed (``pip install 'toysim[notebooks]'``).
      ConfigError: a starting value is not allowed (the message names it).
    """
    explorer = Explorer(starting_settings(preset, method, **settings), canvas=canvas)
    explorer.widget.explorer = explorer
    return explorer.widget


def starting_settings(preset: str, method: str, **settings: Any) -> Settings:
    """:class:`Settings` for ``preset`` and ``method``, with ``settings`` overriding fields.

    A named FPO method brings its switches and every FPO method its default
    ``gamma`` (:func:`toysim.presets.default_gamma`), unless given.
    """
    unknown = set(settings) - set(Settings._fields)
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(Settings._fields)}"
        )
    start = Settings(preset=preset, method=method, **settings)
    if method not in METHODS or not METHODS[method].foresight:
        return start
    if method != "fpo":
        named = METHODS[method]
        start = start._replace(**{s: settings.get(s, getattr(named, s)) for s in SWITCHES})
    return start if "gamma" in settings else start._replace(gamma=_default_gamma_of(start))


def _default_gamma_of(settings: Settings) -> float:
    """:func:`toysim.presets.default_gamma` of the settings' preset and method."""
    if settings.preset not in PRESET_NAMES:
        raise ConfigError(
            f"preset must be one of {', '.join(PRESET_NAMES)}; got {settings.preset!r}"
        )
    method = method_of(settings)
    preset = PRESETS[settings.preset]
    return default_gamma(preset, GameSpec(**dict(preset.spec, method=method)), method)


def explorer_latency(
    changes: int = 50,
    *,
    moves: str = "drag",
    preset: str = "paper-linear",
    method: str = "fpo-relaxed",
    canvas: str = "image",
    seed: int = 0,
) -> dict[str, Any]:
    """Wall-clock time of ``changes`` slider moves, each until the new picture is rendered.

    Builds an explorer (compiling its program, not timed), then moves the
    numeric sliders in turn (gamma, c, the two step sizes, the horizon, the
    seed) and times each assignment: the observer reruns the game, moves the
    artists and renders (a JPEG for the ``image`` canvas; for ``ipympl`` the PNG
    of the changed pixels and its message, as to a live front end) before the
    assignment returns.

    Args:
      changes: how many slider moves to time.
      moves: ``drag`` (each move 1 to 5 slider steps up or down, as a hand
        dragging a slider does) or ``jump`` (each move to a uniformly random value).
      preset, method: the game explored.
      canvas: ``image`` or ``ipympl`` (see :func:`explore`).
      seed: draws the moves.

    Returns:
      ``{"total_ms", "compute_ms", "draw_ms"}``: wall-clock arrays over the
      changes; ``"cpu_ms"``: the process's CPU time per change (all its threads;
      on a busy machine closer to what the change costs than the wall clock);
      ``"slider"``: the slider moved each time; ``"full"``: whether that change
      rendered the whole figure (an axis limit, the horizon's axis or the view
      changed) rather than the lines over the cached rest;
      ``"median_ms"``, ``"max_ms"``: of ``total_ms``.
    """
    if moves not in ("drag", "jump"):
        raise ConfigError(f"moves must be drag or jump; got {moves!r}")
    explorer = Explorer(starting_settings(preset, method), canvas=canvas)
    rng = np.random.default_rng(seed)
    names = [n for n in NUMBERS if not explorer.controls[n].disabled]
    records = []
    for i in range(changes):
        name = names[i % len(names)]
        control = explorer.controls[name]
        value = _move(NUMBERS[name], control.value, rng, moves)
        background = explorer.figure.background
        tick, cpu = time.perf_counter(), time.process_time()
        control.value = value
        total, cpu = time.perf_counter() - tick, time.process_time() - cpu
        records.append(
            (name, total, explorer.timings["compute"], explorer.timings["draw"],
             explorer.figure.background is not background, cpu)
        )  # fmt: skip
    total_ms = np.array([r[1] for r in records]) * 1e3
    return {
        "slider": [r[0] for r in records],
        "total_ms": total_ms,
        "compute_ms": np.array([r[2] for r in records]) * 1e3,
        "draw_ms": np.array([r[3] for r in records]) * 1e3,
        "full": np.array([r[4] for r in records]),
        "cpu_ms": np.array([r[5] for r in records]) * 1e3,
        "median_ms": float(np.median(total_ms)),
        "max_ms": float(np.max(total_ms)),
    }


def _move(slider: tuple, value: float, rng: np.random.Generator, moves: str) -> float:
    """A new value for a slider of :data:`NUMBERS`: a drag of 1-5 steps, or a random jump."""
    kind, low, high, *step = slider
    if kind == "log":
        low, high, value, step = np.log10(low), np.log10(high), np.log10(value), [0.01]
    if moves == "jump":
        new = rng.uniform(low, high)
    else:
        new = value + rng.choice([-1, 1]) * rng.integers(1, 6) * step[0]
        if not low <= new <= high:
            new = value - (new - value)
    if kind == "int":
        return int(round(new / step[0])) * step[0]
    return float(10.0**new) if kind == "log" else float(new)
