"""The simulations several figures share (:class:`SharedRuns`), each computed on first use.

:mod:`toysim.figures` hands one :class:`SharedRuns` to every figure it makes in a
process; a figure's registration names the member it reads (``shares``), so that
``toysim figures --jobs N`` makes the figures sharing a member in one worker and
each run is computed once.
"""

from __future__ import annotations

import functools

from toysim.experiments.collapse import CollapseRuns, collapse_runs
from toysim.experiments.goodhart import GoodhartRuns, goodhart_runs
from toysim.experiments.ladder import LadderRuns, ladder_runs
from toysim.experiments.neural import NeuralRuns, neural_runs
from toysim.experiments.neural_ladder import NeuralLadder, neural_ladder_runs


class SharedRuns:
    """The simulations several figures share, each computed on first use and only once."""

    def __init__(self, quick: bool = False):
        self.quick = quick
        self._goodhart: dict[str, GoodhartRuns] = {}

    @functools.cached_property
    def collapse(self) -> CollapseRuns:
        """:func:`collapse_runs`: paper-linear with each method over 32 seeds (4 if quick)."""
        return collapse_runs(self.quick)

    @functools.cached_property
    def ladder(self) -> LadderRuns:
        """:func:`ladder_runs`: the cumulative relaxation ladder in the population game."""
        return ladder_runs(self.quick)

    @functools.cached_property
    def neural(self) -> NeuralRuns:
        """:func:`neural_runs`: paper-nn with each method over 5 seeds (2 if quick)."""
        return neural_runs(self.quick)

    @functools.cached_property
    def neural_ladder(self) -> NeuralLadder:
        """:func:`neural_ladder_runs`: every curvature choice on paper-nn, 16 seeds (2 if quick)."""
        return neural_ladder_runs(self.quick)

    def goodhart(self, preset: str) -> GoodhartRuns:
        """:func:`goodhart_runs` of ``preset`` (16 seeds, 4 if quick), computed once."""
        if preset not in self._goodhart:
            self._goodhart[preset] = goodhart_runs(preset, self.quick)
        return self._goodhart[preset]
