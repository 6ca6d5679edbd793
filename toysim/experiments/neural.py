"""``paper-nn`` (the MLP reward model): each method over seeds, and the non-convexity
diagnostics along the exact-FPO run (notebook 04)."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from toysim.experiments.nonconvexity import nonconvexity_diagnostics
from toysim.experiments.runner import run_seed, run_seeds
from toysim.game.curvature import CurvatureOptions
from toysim.presets import build
from toysim.provenance import describe

NEURAL_FIGURE_METHODS = ("rlhf", "fpo-relaxed", "fpo-practical", "fpo-exact")
"""The methods of the neural figures: rlhf and the three named FPO variants."""


class NeuralRuns(NamedTuple):
    """paper-nn trajectories of each method over seeds, and their configuration."""

    trajectories: dict
    config: dict
    seeds: int


def figure_game(method: str):
    """The paper-nn preset run with ``method``, except that ``fpo-exact`` is the damped exact
    FPO of the published comparison, which these figures show: ``H + mu I`` with a fixed
    ``mu = 1``, CG from 0 (no warm start); the preset's own ``fpo-exact`` solves the undamped
    ``H`` by MINRES."""
    if method != "fpo-exact":
        return build("paper-nn", method)
    spec, hp = build("paper-nn", method, hessian="damped")
    options = CurvatureOptions(damping="fixed", warm_start=False)
    return dataclasses.replace(spec, curvature=options), hp


def neural_runs(quick: bool = False) -> NeuralRuns:
    """paper-nn (the neural RM) with each method, vmapped over 5 seeds (2 with ``quick``)."""
    seeds = 2 if quick else 5
    trajectories, config = {}, {}
    for method in NEURAL_FIGURE_METHODS:
        spec, hp = figure_game(method)
        trajectories[method] = run_seeds(spec, hp, seeds)
        config[method] = describe(spec, hp)
    return NeuralRuns(trajectories, config, seeds)


class NeuralDiagnostics(NamedTuple):
    """The follower's Hessian along the fpo-exact run (seed 0), every ``every`` iterations.

    Attributes:
      diagnostics: :class:`~toysim.experiments.nonconvexity.Diagnostics` (eigenvalues, cosines).
      trajectory: the fpo-exact run with its recorded states.
      every: the spacing of the diagnosed iterations.
      config: the game.
    """

    diagnostics: object
    trajectory: object
    every: int
    config: dict


def neural_diagnostics(quick: bool = False) -> NeuralDiagnostics:
    """Non-convexity along the fpo-exact trajectory (seed 0), every 100 iterations (400 if
    quick): the undamped Hessian's extreme eigenvalues and each relaxation's cosine with the
    exact steering."""
    spec, hp = figure_game("fpo-exact")
    spec = dataclasses.replace(spec, record_state=True)
    trajectory = run_seed(spec, hp, 0)
    every = 400 if quick else 100
    d = nonconvexity_diagnostics(spec, hp, trajectory, every=every)
    return NeuralDiagnostics(d, trajectory, every, describe(spec, hp))


def neural_diagnostics_summary(result: NeuralDiagnostics) -> dict:
    """The diagnosed iterations, the fraction with an indefinite Hessian, the extreme
    eigenvalues, the median cosines, how often CG converged and the final utility."""
    d, trajectory = result.diagnostics, result.trajectory
    return {
        "iterations": [int(i) for i in d.iteration],
        "indefinite_fraction": float(np.mean(np.asarray(d.indefinite))),
        "smallest_eigenvalue_min": float(np.min(np.asarray(d.smallest))),
        "largest_eigenvalue_max": float(np.max(np.asarray(d.largest))),
        "median_cosine": {k: float(np.median(np.asarray(v))) for k, v in d.cosines.items()},
        "solve_converged_fraction": float(np.mean(np.asarray(trajectory.solve.converged))),
        "solve_mean_iterations": float(np.mean(np.asarray(trajectory.solve.iterations))),
        "final_utility": float(trajectory.utility[-1]),
    }
