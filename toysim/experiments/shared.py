"""The simulations several figures share (:class:`SharedRuns`), each computed on first use.

:mod:`toysim.figures` hands one :class:`SharedRuns` to every figure it makes in a
process; a figure's registration names the member it reads (``shares``), so that
``toysim figures --jobs N`` makes the figures sharing a member in one worker and
each run is computed once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from toysim.experiments.collapse import collapse_runs
from toysim.experiments.goodhart import GoodhartRuns, goodhart_runs
from toysim.experiments.ladder import ladder_runs
from toysim.experiments.neural import neural_runs
from toysim.experiments.neural_ladder import neural_ladder_runs

T = TypeVar("T")


def _once(run: Callable[[bool], T]) -> functools.cached_property[T]:
    """A member computed by ``run(quick)`` on first use, then kept."""
    return functools.cached_property(lambda runs: run(runs.quick))


class SharedRuns:
    """The simulations several figures share, each computed on first use and only once."""

    def __init__(self, quick: bool = False):
        self.quick = quick
        self._goodhart: dict[str, GoodhartRuns] = {}

    collapse = _once(collapse_runs)
    """:func:`collapse_runs`: paper-linear with each method over 32 seeds (4 if quick)."""
    ladder = _once(ladder_runs)
    """:func:`ladder_runs`: the cumulative relaxation ladder in the population game."""
    neural = _once(neural_runs)
    """:func:`neural_runs`: paper-nn with each method over 5 seeds (2 if quick)."""
    neural_ladder = _once(neural_ladder_runs)
    """:func:`neural_ladder_runs`: every curvature choice on paper-nn, 16 seeds (2 if quick)."""

    def goodhart(self, preset: str) -> GoodhartRuns:
        """:func:`goodhart_runs` of ``preset`` (16 seeds, 4 if quick), computed once."""
        if preset not in self._goodhart:
            self._goodhart[preset] = goodhart_runs(preset, self.quick)
        return self._goodhart[preset]
