"""Figures from arrays: phase space, metrics over time, seed bands, gradient fields.

Every drawing function takes arrays (or trajectory records) and returns a
matplotlib ``Figure``; none runs a simulation. Colours are the Okabe-Ito
palette over a grey background (:mod:`toysim.plots.style`).

- :mod:`toysim.plots.phase`: phase space, gradient fields, paths in a plane.
- :mod:`toysim.plots.curves`: metrics against iterations or a parameter, Goodhart's gap,
  the neural diagnostics panels.
- :mod:`toysim.plots.grids`: heatmaps and a sweep's panels.
- :mod:`toysim.plots.collapse_figures`, :mod:`toysim.plots.sweep_figures`,
  :mod:`toysim.plots.neural_figures`,
  :mod:`toysim.plots.regime_figures`, :mod:`toysim.plots.label_noise_figures`,
  :mod:`toysim.plots.landscape_figures`: each registered figure from its experiment's result
  (:mod:`toysim.experiments`), with its caption and metadata.
- :mod:`toysim.plots.goodhart_figures`: the Goodhart curves and the calibration map.
- :mod:`toysim.plots.mitigation_figures`: the mitigations figure (KL leash, ensembles, early
  stopping, FPO).
"""

from toysim.plots.curves import curves, diagnostics_panels, goodhart_gap, over_iterations
from toysim.plots.grids import heatmaps, sweep_panels
from toysim.plots.phase import gradient_fields, phase_space, plane_paths, utility_on_plane
from toysim.plots.style import (
    BACKGROUND_CMAP,
    OKABE_ITO,
    SEQUENTIAL_CMAP,
    STYLES,
    head_marker,
    styles_for,
)

__all__ = [
    "BACKGROUND_CMAP",
    "OKABE_ITO",
    "SEQUENTIAL_CMAP",
    "STYLES",
    "curves",
    "diagnostics_panels",
    "goodhart_gap",
    "gradient_fields",
    "head_marker",
    "heatmaps",
    "over_iterations",
    "phase_space",
    "plane_paths",
    "styles_for",
    "sweep_panels",
    "utility_on_plane",
]
