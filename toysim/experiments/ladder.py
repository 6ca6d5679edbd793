"""The relaxation ladder over seeds, and the steering cosines along the exact run (notebook 02).

The rungs and their weights are in :mod:`toysim.analysis` (:data:`~toysim.analysis.LADDER`,
:func:`~toysim.analysis.ladder_gamma`); docs/theory/relaxations.md derives them.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from toysim.analysis import (
    LADDER,
    SINGLE_SWITCHES,
    ladder_gamma,
    rung_spec,
    steering_comparison,
    summarise,
)
from toysim.config import LinearHParams, LinearSpec, Method
from toysim.experiments.collapse import ideal_norm
from toysim.experiments.runner import run_seeds
from toysim.experiments.tables import columns_table
from toysim.game.records import Trajectory
from toysim.presets import build
from toysim.provenance import describe


def ladder_setting() -> tuple[LinearSpec, LinearHParams]:
    """The Gaussian-policy game in which the switches matter (docs/theory/population.md).

    The ``population`` preset (``N(theta, 0.3^2 I)``, closed form) with a
    *proximal* anchor ``lambda = 1``, so the follower has memory and
    ``phi* != phi_t``. Method and gamma are set per rung.
    """
    spec, hp = build("population", "fpo-exact")
    return dataclasses.replace(spec, anchor="proximal"), hp._replace(lam=1.0)


def run_ladder(
    spec: LinearSpec,
    hp: LinearHParams,
    seeds: int,
    rungs: tuple[tuple[str, Method], ...] = LADDER,
) -> tuple[dict[str, Trajectory], np.ndarray, np.ndarray]:
    """Trajectories of every rung over seeds ``0..seeds-1`` and how their steering compares.

    Returns ``(trajectories, cosines, norm_ratios)``: a dict from rung label to
    a batched :class:`~toysim.game.records.Trajectory`; the ``[seeds, T, rungs]``
    cosines between each rung's steering term and the first rung's (exact);
    and the ratios of their norms, ``gamma`` included. Both are evaluated at
    the states of the *exact* trajectory (:func:`~toysim.analysis.steering_comparison`).
    """
    trajectories = {}
    for label, method in rungs:
        probes = tuple(m for _, m in rungs) if method == rungs[0][1] else ()
        s = rung_spec(spec, method, probes)
        trajectories[label] = run_seeds(s, hp._replace(gamma=ladder_gamma(spec, hp, method)), seeds)
    directions = trajectories[rungs[0][0]].probe_steering
    gammas = jnp.asarray([ladder_gamma(spec, hp, m) for _, m in rungs])
    cosines, ratios = steering_comparison(directions, gammas)
    return trajectories, np.asarray(cosines), np.asarray(ratios)


class LadderRuns(NamedTuple):
    """Every rung of a ladder over seeds, and the steering cosines along the exact run.

    Attributes:
      trajectories: rung label -> batched trajectory.
      cosines: ``[seeds, T, rungs]`` cosine of each rung's steering with the exact one.
      norm_ratios: ``[seeds, T, rungs]`` ratio of their norms (``gamma`` included).
      labels: the rung labels in order.
      config: the setting, the game and each rung's switches and ``gamma``.
      seeds: the number of seeds.
      ideal_norm: ``||m||`` of the game's utility.
    """

    trajectories: dict[str, Trajectory]
    cosines: np.ndarray
    norm_ratios: np.ndarray
    labels: tuple[str, ...]
    config: dict
    seeds: int
    ideal_norm: float


def ladder_runs(quick: bool = False, setting: str = "population", rungs=LADDER) -> LadderRuns:
    """Run ``rungs`` (default: the cumulative ladder) in ``setting``, 16 seeds (4 if quick).

    ``setting`` is ``population`` (:func:`ladder_setting`, Gaussian policy)
    or ``paper-linear`` (point policy, one-step follower).
    """
    if setting == "population":
        spec, hp = ladder_setting()
    else:
        spec, hp = build("paper-linear", "fpo-exact")
    seeds = 4 if quick else 16
    trajectories, cosines, norm_ratios = run_ladder(spec, hp, seeds, rungs)
    config = {
        "setting": setting,
        "game": describe(spec, hp),
        "rungs": {
            label: {**dataclasses.asdict(m), "gamma": ladder_gamma(spec, hp, m)}
            for label, m in rungs
        },
    }
    labels = tuple(label for label, _ in rungs)
    return LadderRuns(
        trajectories, cosines, norm_ratios, labels, config, seeds, ideal_norm(spec, hp)
    )


def ladder_table(runs: LadderRuns) -> list[dict]:
    """Per rung: final true utility, expected utility and noise (median over seeds), and,
    along the exact run, the median cosine of its steering term with the exact one and the
    median ratio of their norms (``gamma`` included)."""
    rows = []
    for i, label in enumerate(runs.labels):
        t = runs.trajectories[label]
        rows.append(
            {
                "rung": label,
                "gamma": runs.config["rungs"][label]["gamma"],
                "final_utility": summarise(np.asarray(t.utility)[:, -1])["median"],
                "final_expected_utility": summarise(np.asarray(t.expected_utility)[:, -1])[
                    "median"
                ],
                "final_noise": summarise(np.asarray(t.noise_proj)[:, -1])["median"],
                "cosine_with_exact": float(np.median(runs.cosines[:, :, i])),
                "norm_ratio_to_exact": float(np.nanmedian(runs.norm_ratios[:, :, i])),
            }
        )
    return rows


def format_ladder_table(rows: list[dict]) -> str:
    """A Markdown table of :func:`ladder_table`."""
    return columns_table(
        [
            ("rung", "{rung}"),
            ("gamma", "{gamma:.3g}"),
            ("final U(theta)", "{final_utility:.3f}"),
            ("final E[U]", "{final_expected_utility:.3f}"),
            ("final noise", "{final_noise:.3f}"),
            ("cos(steering, exact)", "{cosine_with_exact:.3f}"),
            ("norm / exact", "{norm_ratio_to_exact:.3g}"),
        ],
        rows,
    )


def ladder_tables(population: LadderRuns, quick: bool = False) -> str:
    """The Markdown of the figure ``ladder_tables``: :func:`ladder_table` of ``population`` (the
    cumulative ladder in the population game), of the single switches there and of the ladder
    on paper-linear (each run here, ``quick`` as :func:`ladder_runs`)."""
    tables = {
        "ladder_population": ladder_table(population),
        "single_switch_population": ladder_table(ladder_runs(quick, rungs=SINGLE_SWITCHES)),
        "ladder_paper_linear": ladder_table(ladder_runs(quick, setting="paper-linear")),
    }
    return "\n\n".join(
        f"### {name}\n\n{format_ladder_table(rows)}" for name, rows in tables.items()
    )
