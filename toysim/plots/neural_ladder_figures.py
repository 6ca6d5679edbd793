"""The curvature ladder on ``paper-nn`` (docs/results/neural-ladder.md): final utility,
cosine with the exact direction along the run, and each choice's solver convergence and time.

Turns :func:`toysim.experiments.neural_ladder.neural_ladder_runs`' result into
``(figure, meta)``: a matplotlib figure and what its ``NAME.json`` sidecar records.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from toysim.experiments.neural_ladder import (
    NeuralLadder,
    checkpoint_iterations,
    neural_ladder_summary,
)
from toysim.plots.style import OKABE_ITO, finish_panels, styles_for


def _final_utility_panel(ax, result: NeuralLadder, rows, styles, amplitude: float) -> None:
    for i, r in enumerate(rows):
        final = np.asarray(result.runs[r["choice"]].trajectory.utility)[:, -1]
        style = styles[r["choice"]]
        ax.scatter(final, np.full(final.shape, i), s=12, color="0.6", zorder=2, linewidths=0)
        f = r["final"]
        ax.errorbar(
            f["median"],
            i,
            xerr=[[f["median"] - f["q25"]], [f["q75"] - f["median"]]],
            fmt=style["marker"],
            color=style["color"],
            markeredgecolor="black",
            markersize=8,
            capsize=4,
            lw=2,
            zorder=3,
        )
    ax.axvline(amplitude, color="0.4", lw=1, linestyle=":")
    ax.set_yticks(range(len(rows)), [r["choice"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(-0.3, amplitude * 1.08)
    ax.set_xlabel("final utility U(theta_T): median, IQR, seeds (grey)")


def _cosine_panel(ax, result: NeuralLadder, rows, styles) -> None:
    iterations = checkpoint_iterations(result.steps, result.every) + 1
    for r in rows:
        cosines = result.runs[r["choice"]].cosines
        if cosines is None:
            continue
        style = styles[r["choice"]]
        ax.plot(
            iterations,
            np.median(cosines, axis=0),
            color=style["color"],
            linestyle=style["linestyle"],
            marker=style["marker"],
            markeredgecolor="black",
            lw=2,
            label=r["choice"],
        )
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("outer iteration")
    ax.set_ylabel(f"cosine with the exact direction\n(median of seeds 0-{result.cosine_seeds - 1})")
    ax.legend(fontsize=7, loc="lower left")


def _solver_panel(ax, rows) -> None:
    solving = [r for r in rows if r["converged_fraction"] is not None]
    y = np.arange(len(solving))
    ax.barh(y, [100 * r["converged_fraction"] for r in solving], color=OKABE_ITO["sky"])
    for i, r in enumerate(solving):
        ax.text(
            2,
            i,
            f"{r['mean_iterations']:.0f} it., {r['s_per_run']:.2f} s/run",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(y, [r["choice"] for r in solving])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("solves that converged (%)")


def neural_ladder_figure(result: NeuralLadder):
    """Three panels: final utility per choice (median, IQR and every seed), the median cosine
    with the exact (pseudo-inverse) steering direction at each checkpoint, and the fraction
    of curvature solves that converged with the mean iterations and seconds per run."""
    rows = neural_ladder_summary(result)
    amplitude = next(iter(result.runs.values())).config["hparams"]["amplitude"]
    styles = styles_for(r["choice"] for r in rows)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained")
    _final_utility_panel(axes[0], result, rows, styles, amplitude)
    _cosine_panel(axes[1], result, rows, styles)
    _solver_panel(axes[2], rows)
    finish_panels(
        fig,
        axes,
        f"Curvature ladder on paper-nn: {result.seeds} seeds, {result.steps} outer iterations",
    )
    caption = (
        f"paper-nn, seeds 0-{result.seeds - 1}, {result.steps} outer iterations. Left: final "
        "utility of exact FPO with each curvature choice of the hessian switch and of rlhf, "
        "fpo-relaxed and fpo-practical (median, interquartile range, each seed in grey). "
        "Middle: cosine between each choice's steering direction and the exact one (dense "
        f"Hessian, pseudo-inverse on |lambda| > {result.cutoff_of_weight_decay:g} wd) every "
        f"{result.every} iterations, median over seeds 0-{result.cosine_seeds - 1}. Right: "
        "curvature solves that met their tolerance, mean iterations and seconds per run "
        "(one jit(vmap) batch after compilation). The sidecar holds every seed's final "
        "utility and every checkpoint's cosines and smallest Hessian eigenvalue."
    )
    meta = {
        "caption": caption,
        "preset": "paper-nn",
        "seeds": result.seeds,
        "steps": result.steps,
        "checkpoint_every": result.every,
        "cosine_seeds": result.cosine_seeds,
        "config": {label: runs.config for label, runs in result.runs.items()},
        "summary": rows,
        "checkpoints": checkpoint_iterations(result.steps, result.every).tolist(),
        "per_seed_final_utility": {
            label: np.asarray(runs.trajectory.utility[:, -1]).tolist()
            for label, runs in result.runs.items()
        },
        "checkpoint_cosines": {
            label: runs.cosines.tolist()
            for label, runs in result.runs.items()
            if runs.cosines is not None
        },
        "checkpoint_smallest_eigenvalue": {
            label: runs.smallest_eigenvalue.tolist()
            for label, runs in result.runs.items()
            if runs.smallest_eigenvalue is not None
        },
    }
    return fig, meta
