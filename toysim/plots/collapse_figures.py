"""The figures of notebooks 01-03: alignment collapse, the relaxation ladder, the population
game's gradient fields.

Each function turns an experiment's result (:mod:`toysim.experiments`) into
``(figure, meta)``: a matplotlib figure and the caption, configuration and
numbers its ``NAME.json`` sidecar records.
"""

from __future__ import annotations

import numpy as np

from toysim.experiments.collapse import CollapseRuns, collapse_summary
from toysim.experiments.ladder import LadderRuns, ladder_table
from toysim.experiments.population import PopulationField
from toysim.plots.curves import goodhart_gap, over_iterations
from toysim.plots.phase import gradient_fields, phase_space
from toysim.plots.style import styles_for

PHASE_COORDINATES = {
    "block": (
        "signal",
        "noise",
        "Alignment collapse in phase space (published coordinates)",
        "paper-linear, seed 0: signal ||y[:3]|| against noise ||y[3:]||, 300 iterations, "
        "lines fading in from the start. Background: A exp(-tau((signal - ||m||)^2 + "
        "noise^2)), an upper bound on the true utility in these coordinates (equal when "
        "y[:3] is parallel to m). RLHF arcs into the noise; relaxed FPO stays in the signal "
        "corridor and reaches the human ideal; practical FPO only half-helps.",
    ),
    "projection": (
        "signal_proj",
        "noise_proj",
        "Alignment collapse in phase space (projection on m)",
        "paper-linear, seed 0, in projection coordinates: signal = y . m/||m||, noise = "
        "distance of y from the line through m. Here ||y - m||^2 = (signal - ||m||)^2 + "
        "noise^2 exactly, so the background contour is the true utility of every point.",
    ),
}
"""The phase-space figure's coordinates: trajectory fields (signal, noise), title, caption."""


def _collapse_meta(runs: CollapseRuns, caption: str) -> dict:
    return {"caption": caption, **collapse_summary(runs)}


def collapse_phase_space(runs: CollapseRuns, coords: str = "block"):
    """The published phase-space figure (``block``) or its exact-contour one (``projection``)."""
    if coords not in PHASE_COORDINATES:
        raise ValueError(f"coords must be one of {', '.join(PHASE_COORDINATES)}; got {coords!r}")
    hp = runs.hparams
    signal, noise, title, caption = PHASE_COORDINATES[coords]
    pairs = {m: (getattr(t, signal)[0], getattr(t, noise)[0]) for m, t in runs.trajectories.items()}
    fig = phase_space(
        pairs,
        amplitude=float(hp.amplitude),
        tau=float(hp.tau),
        ideal_norm=runs.ideal_norm,
        coords=coords,
        title=title,
    )
    return fig, _collapse_meta(runs, caption)


def collapse_noise(runs: CollapseRuns):
    """Noise magnitude against iterations (published figure 2), seed 0."""
    fig = over_iterations(
        {m: t.noise[0] for m, t in runs.trajectories.items()},
        ylabel="noise magnitude ||y[k:]||",
        title="Noise: RLHF drifts into the RM's blind spots",
    )
    caption = "paper-linear, seed 0: noise magnitude ||y[3:]|| against iterations."
    return fig, _collapse_meta(runs, caption)


def collapse_utility(runs: CollapseRuns):
    """True utility against iterations with the ideal ``A`` dashed (published figure 3), seed 0."""
    fig = over_iterations(
        {m: t.utility[0] for m, t in runs.trajectories.items()},
        ylabel="true utility U(y)",
        reference=float(runs.hparams.amplitude),
        reference_label="ideal, U(m) = A",
        title="True utility: RLHF peaks, then falls",
        ylim=(0, float(runs.hparams.amplitude) * 1.08),
    )
    caption = (
        "paper-linear, seed 0: true utility U(y) against iterations; dashed: the human "
        "ideal A = 10."
    )
    return fig, _collapse_meta(runs, caption)


def collapse_goodhart(runs: CollapseRuns):
    """Proxy reward vs true utility over time, and the RM's score of the human ideal, seed 0."""
    fig = goodhart_gap(
        {
            m: {
                "utility": np.asarray(t.utility[0]),
                "proxy_reward": np.asarray(t.proxy_reward[0]),
                "ideal_reward": np.asarray(t.ideal_reward[0]),
            }
            for m, t in runs.trajectories.items()
        },
        amplitude=float(runs.hparams.amplitude),
    )
    caption = (
        "paper-linear, seed 0. Left: the RM is retrained on the policy's own output every "
        "iteration, so there the proxy reward r(y) tracks the true utility U(y) closely; "
        "the gap is not at the policy's output. Right: it is elsewhere: under RLHF the RM's "
        "score of the human ideal r(m) falls far below U(m) = 10 as the policy steers the RM "
        "toward where it stands; under relaxed FPO the RM stays calibrated at the ideal."
    )
    return fig, _collapse_meta(runs, caption)


def collapse_bands(runs: CollapseRuns):
    """True utility over iterations, median and interquartile range over seeds."""
    fig = over_iterations(
        {m: t.utility for m, t in runs.trajectories.items()},
        ylabel="true utility U(y)",
        reference=float(runs.hparams.amplitude),
        reference_label="ideal, U(m) = A",
        title=f"True utility over {runs.seeds} seeds (median, interquartile range)",
        ylim=(0, float(runs.hparams.amplitude) * 1.08),
    )
    caption = (
        f"paper-linear over seeds 0-{runs.seeds - 1} (the seed draws the RM's initial "
        "weights): median true utility with the interquartile range shaded."
    )
    return fig, _collapse_meta(runs, caption)


def _ladder_meta(runs: LadderRuns, caption: str) -> dict:
    return {
        "caption": caption,
        "seeds": runs.seeds,
        "config": runs.config,
        "table": ladder_table(runs),
    }


def ladder_phase_space(runs: LadderRuns):
    """Each rung's trajectory (seed 0) in projection coordinates."""
    hp = runs.config["game"]["hparams"]
    fig = phase_space(
        {
            label: (np.asarray(t.signal_proj)[0], np.asarray(t.noise_proj)[0])
            for label, t in runs.trajectories.items()
        },
        amplitude=hp["amplitude"],
        tau=hp["tau"],
        ideal_norm=runs.ideal_norm,
        coords="projection",
        xlim=(0.0, 4.0),
        ylim=(0.0, 0.5),
        styles=styles_for(runs.labels),
        title=f"The relaxation ladder ({runs.config['setting']}), seed 0",
    )
    caption = (
        f"Setting {runs.config['setting']}: the policy mean theta of each rung of the ladder "
        "(each relaxation added to the ones before), seed 0, in projection coordinates; "
        "the contour is U(theta)."
    )
    return fig, _ladder_meta(runs, caption)


def ladder_utility(runs: LadderRuns):
    """``U(theta)`` against iterations for each rung, bands over seeds."""
    hp = runs.config["game"]["hparams"]
    fig = over_iterations(
        {label: t.utility for label, t in runs.trajectories.items()},
        ylabel="true utility at the policy mean, U(theta)",
        reference=hp["amplitude"],
        reference_label="ideal, U(m) = A",
        title=f"The relaxation ladder ({runs.config['setting']}): utility",
        ylim=(0, hp["amplitude"] * 1.08),
        styles=styles_for(runs.labels),
    )
    caption = (
        f"Setting {runs.config['setting']}: U(theta) against iterations for each rung, median "
        f"and interquartile range over {runs.seeds} seeds."
    )
    return fig, _ladder_meta(runs, caption)


def ladder_cosines(runs: LadderRuns):
    """Cosine between each rung's steering direction and the exact one, along the exact run."""
    fig = over_iterations(
        {label: runs.cosines[:, :, i] for i, label in enumerate(runs.labels) if i > 0},
        ylabel="cos(steering direction, exact)",
        reference=0.0,
        reference_label="orthogonal",
        title=f"How far each relaxation steers from exact ({runs.config['setting']})",
        ylim=(-1.05, 1.05),
        styles=styles_for(runs.labels),
        legend_outside=True,
    )
    caption = (
        f"Setting {runs.config['setting']}: at every state of the exact-FPO trajectory, the "
        "cosine between each rung's steering direction -grad S and the exact one; median "
        f"and interquartile range over {runs.seeds} seeds. Scale-free, so independent of gamma."
    )
    return fig, _ladder_meta(runs, caption)


def population_field_figure(result: PopulationField):
    """Myopic against exact Stackelberg gradient, over the leader's objective ``J``."""
    grid_s, grid_n = np.meshgrid(result.signal, result.noise)
    f = result.field
    myopic, exact, steering = (
        "myopic (RLHF): grad at fixed w*",
        "exact Stackelberg: dJ/dtheta",
        "the steering term: exact - myopic",
    )
    fig = gradient_fields(
        grid_s,
        grid_n,
        {
            myopic: (f["myopic_signal"], f["myopic_noise"]),
            exact: (f["exact_signal"], f["exact_noise"]),
            steering: (
                f["exact_signal"] - f["myopic_signal"],
                f["exact_noise"] - f["myopic_noise"],
            ),
        },
        f["objective"],
        background_label="leader's objective J(theta)",
        ideal_norm=result.ideal_norm,
        paths={
            name: (result.paths[m].signal_proj, result.paths[m].noise_proj)
            for name, m in ((myopic, "rlhf"), (exact, "fpo-exact"))
        },
        title="The population game: where each gradient sends the policy mean",
    )
    caption = (
        "population preset (Gaussian policy, sigma 0.3, ridge follower at its best response "
        "w*(theta)): the leader's gradient projected on the plane of m and one noise "
        "direction (both fields stay in it). Left: myopic, holding w* fixed. Right: the exact "
        "Stackelberg gradient dJ/dtheta, including the steering term; right: their difference. "
        "Red: the rlhf and fpo-exact trajectories from 0 (seed 0, 300 iterations). "
        "Background: J(theta)."
    )
    meta = {"caption": caption, "config": result.config, "grid_points": int(grid_s.size)}
    return fig, meta
