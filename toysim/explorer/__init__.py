"""The explorers of the game: the live notebook widget and the browser page's data.

- :func:`explore` (also ``toysim.explore``) is the live explorer: an ipywidgets
  box of sliders and buttons whose picture answers at once. Its settings
  (:mod:`~toysim.explorer.settings`) run on one compiled program per game
  structure (:mod:`~toysim.explorer.runs`), drawn into a figure moved in place
  (:mod:`~toysim.explorer.figure`) on a canvas widget
  (:mod:`~toysim.explorer.surfaces`) beside the controls
  (:mod:`~toysim.explorer.controls`, :mod:`~toysim.explorer.widget`);
  :func:`explorer_latency` times it (:mod:`~toysim.explorer.latency`).
- :func:`write_explorer_data` writes the data of the browser pages, which run
  paper-linear themselves in JavaScript (docs/explorer.md, the theory pages' widgets):
  seed 0's initial reward weights and each method's configuration;
  ``python -m toysim explorer-data`` calls it (:mod:`~toysim.explorer.page_data`).

ipywidgets (and matplotlib) are imported only when an explorer is made, so
toysim imports without them.
"""

from toysim.explorer.latency import explorer_latency
from toysim.explorer.page_data import explorer_data, write_explorer_data
from toysim.explorer.runs import Run, program, run_settings, trace_counts
from toysim.explorer.settings import (
    EXPLORER_STEPS,
    NUMBERS,
    PRESET_NAMES,
    Settings,
    game_of,
    method_of,
    starting_settings,
)
from toysim.explorer.widget import Explorer, explore

__all__ = [
    "EXPLORER_STEPS",
    "NUMBERS",
    "PRESET_NAMES",
    "Explorer",
    "Run",
    "Settings",
    "explore",
    "explorer_data",
    "explorer_latency",
    "game_of",
    "method_of",
    "program",
    "run_settings",
    "starting_settings",
    "trace_counts",
    "write_explorer_data",
]
