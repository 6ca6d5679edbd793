"""The figures of notebook 04: ``paper-nn`` over seeds, its PCA plane and its diagnostics.

Each function turns an experiment's result (:mod:`toysim.experiments.neural`)
into ``(figure, meta)``: a matplotlib figure and what its ``NAME.json`` sidecar
records.
"""

from __future__ import annotations

import numpy as np

from toysim.experiments.neural import NeuralDiagnostics, NeuralRuns, neural_diagnostics_summary
from toysim.plots.curves import diagnostics_panels, over_iterations
from toysim.plots.phase import plane_paths


def _neural_meta(runs: NeuralRuns, caption: str) -> dict:
    return {
        "caption": caption,
        "preset": "paper-nn",
        "seeds": runs.seeds,
        "config": runs.config,
        "final_utility_per_seed": {
            m: [float(x) for x in np.asarray(t.utility)[:, -1]]
            for m, t in runs.trajectories.items()
        },
    }


def neural_utility_bands(runs: NeuralRuns):
    """``U(theta)`` over the 4,000 outer iterations, median and IQR over seeds."""
    caption = (
        f"paper-nn (MLP reward model), seeds 0-{runs.seeds - 1}: U(theta) against outer "
        "iterations, median and interquartile range. fpo-exact solves with the damped "
        "Hessian H + I of the non-convex follower (conjugate gradients)."
    )
    amplitude = next(iter(runs.config.values()))["hparams"]["amplitude"]
    fig = over_iterations(
        {m: np.asarray(t.utility) for m, t in runs.trajectories.items()},
        ylabel="true utility at the policy mean, U(theta)",
        reference=amplitude,
        reference_label="ideal, U(m) = A",
        title=f"Neural reward model: utility over {runs.seeds} seeds (median, IQR)",
        ylim=(0, amplitude * 1.08),
    )
    return fig, _neural_meta(runs, caption)


def neural_pca(runs: NeuralRuns):
    """Seed 0's policy-mean trajectories in the plane of their first two principal components,
    over ``U`` restricted to that plane."""
    paths = {m: np.asarray(t.theta)[0] for m, t in runs.trajectories.items()}
    stacked = np.concatenate(list(paths.values()))
    center = stacked.mean(axis=0)
    _, _, vt = np.linalg.svd(stacked - center, full_matrices=False)
    basis = vt[:2]
    projected = {m: tuple((p - center) @ basis.T[:, i] for i in range(2)) for m, p in paths.items()}
    hp = runs.config["rlhf"]["hparams"]
    spec = runs.config["rlhf"]["spec"]
    ideal = np.zeros(spec["dim"])
    ideal[: spec["signal_dims"]] = hp["ideal_value"]
    a_all = np.concatenate([v[0] for v in projected.values()])
    b_all = np.concatenate([v[1] for v in projected.values()])
    ideal_ab = (ideal - center) @ basis.T
    pad = 0.5
    a = np.linspace(min(a_all.min(), ideal_ab[0]) - pad, max(a_all.max(), ideal_ab[0]) + pad, 160)
    b = np.linspace(min(b_all.min(), ideal_ab[1]) - pad, max(b_all.max(), ideal_ab[1]) + pad, 120)
    grid_a, grid_b = np.meshgrid(a, b)
    points = center + grid_a[..., None] * basis[0] + grid_b[..., None] * basis[1]
    utility = hp["amplitude"] * np.exp(-hp["tau"] * np.sum((points - ideal) ** 2, axis=-1))
    fig = plane_paths(
        grid_a,
        grid_b,
        utility,
        projected,
        xlabel="first principal component",
        ylabel="second principal component",
        background_label="true utility U in this plane",
        ideal=tuple(ideal_ab),
        title="Neural reward model: the policy mean in its PCA plane (seed 0)",
    )
    explained = np.linalg.svd(stacked - center, compute_uv=False) ** 2
    caption = (
        "paper-nn, seed 0: the policy mean theta of each method, projected on the first two "
        "principal components of all four trajectories together "
        f"({explained[:2].sum() / explained.sum():.0%} of their variance); the background is U "
        "on that plane (the ideal need not lie in it exactly)."
    )
    meta = _neural_meta(runs, caption)
    meta["explained_variance"] = float(explained[:2].sum() / explained.sum())
    return fig, meta


def neural_diagnostics_figure(result: NeuralDiagnostics):
    """Non-convexity along the fpo-exact trajectory (seed 0): Hessian spectrum and cosines."""
    d = result.diagnostics
    fig = diagnostics_panels(
        d.iteration,
        {
            "largest eigenvalue": np.asarray(d.largest),
            "smallest eigenvalue": np.asarray(d.smallest),
        },
        {label: np.asarray(v) for label, v in d.cosines.items()},
        title="Without strong convexity: the follower's Hessian along the exact-FPO run (seed 0)",
    )
    caption = (
        f"paper-nn, fpo-exact, seed 0, every {result.every} iterations. Left: the smallest and "
        "largest eigenvalues of the follower's undamped Hessian (buffer MSE + L2), symmetric-log "
        "scale. Right: cosine of each relaxation's steering direction -grad_y S at y = theta "
        "with the damped exact (global) one."
    )
    return fig, {"caption": caption, "config": result.config, **neural_diagnostics_summary(result)}
