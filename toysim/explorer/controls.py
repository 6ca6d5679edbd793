"""The explorer's ipywidgets controls: one slider or row of buttons per :class:`Settings` field."""

from __future__ import annotations

from typing import Any

import numpy as np

from toysim.config import SWITCHES
from toysim.explorer.settings import COORDS, METHOD_NAMES, NUMBERS, PRESET_NAMES, Settings

DESCRIPTIONS = {
    "gamma": "gamma (steering)",
    "action_cost": "c (action cost)",
    "leader_lr": "leader step",
    "follower_lr": "follower step eta",
    "steps": "steps T",
    "seed": "seed",
}


def make_controls(widgets, settings: Settings) -> dict[str, Any]:
    """One control per :class:`Settings` field, in its order, each starting at ``settings``."""
    style = {"description_width": "120px"}
    layout = widgets.Layout(width="370px")
    buttons = {"description_width": "80px", "button_width": "116px"}
    choices = {  # name: (options, description)
        "preset": (PRESET_NAMES, "preset"),
        "method": ([(("fpo (custom)" if m == "fpo" else m), m) for m in METHOD_NAMES], "method"),
        **{switch: (allowed, switch) for switch, allowed in SWITCHES.items()},
        "coords": (COORDS, "coordinates"),
    }
    controls: dict[str, Any] = {
        name: widgets.ToggleButtons(
            options=options, value=getattr(settings, name), description=description, style=buttons
        )
        for name, (options, description) in choices.items()
    }
    for name, (kind, low, high, *step) in NUMBERS.items():
        common = dict(
            value=getattr(settings, name),
            description=DESCRIPTIONS[name],
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
    return {name: controls[name] for name in Settings._fields}
