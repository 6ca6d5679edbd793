"""The live explorer widget: controls, figure and readout wired together; :func:`explore`.

Every change of a control reruns the game (:func:`toysim.explorer.runs.run_settings`)
and moves the figure's artists (:class:`toysim.explorer.figure.ExplorerFigure`);
a bad setting or a run that goes non-finite becomes a message in the widget.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import numpy as np

from toysim.config import METHODS, SWITCHES, ConfigError
from toysim.explorer.controls import make_controls
from toysim.explorer.figure import ExplorerFigure
from toysim.explorer.runs import Run, run_settings
from toysim.explorer.settings import (
    NUMBERS,
    Settings,
    check_known,
    check_ranges,
    default_gamma_of,
    method_of,
    starting_settings,
)
from toysim.explorer.surfaces import CANVASES, import_ipywidgets, surface_class
from toysim.presets import PRESETS
from toysim.rules import check_choice


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

        widgets = import_ipywidgets()
        check_choice("canvas", canvas, CANVASES)
        check_ranges(settings)
        self.controls = make_controls(widgets, settings)
        # The contours are drawn once: the offered presets share the utility U (a test checks).
        hp = PRESETS[settings.preset].hparams
        spec_fields = PRESETS[settings.preset].spec
        figure = Figure(figsize=(10.0, 4.2), dpi=80, layout="constrained")
        self.surface = surface_class(canvas)(figure, widgets)
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
        check_known(values)
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
        self._default_gamma = default_gamma_of(self.settings)
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


def explore(
    preset: str = "paper-linear", method: str = "rlhf", *, canvas: str = "auto", **settings: Any
) -> Any:
    """A live explorer of the game: move a slider and the picture answers at once.

    Sliders set ``gamma``, the action cost ``c``, the leader's and the follower's
    step sizes, the horizon ``T`` (up to
    :data:`~toysim.explorer.settings.EXPLORER_STEPS`) and the seed; buttons choose the
    preset (``paper-linear``, ``population``, ``sycophancy``), the method
    (``rlhf``, ``fpo-exact``, ``fpo-relaxed``, ``fpo-practical`` or a custom
    ``fpo`` mix), the four FPO switches and the phase-space coordinates. Moving a
    number never recompiles (one program per preset and method structure,
    compiled at :data:`~toysim.explorer.settings.EXPLORER_STEPS` steps, the first ``T``
    shown). ``paper-nn`` is not offered: one run of the neural game takes 0.2-4 s,
    too slow to follow a slider. A bad setting or a run that goes non-finite is shown as a message.

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
