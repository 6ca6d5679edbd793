"""The data-regime figure: myopic RLHF's utility on the pairwise presets under each regime.

:func:`data_regimes_figure` turns :func:`toysim.experiments.regimes.regime_runs`
into ``(figure, meta)``: a matplotlib figure and what its ``NAME.json`` sidecar
records.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from toysim.experiments.regimes import REGIME_METHOD, RegimeRuns, regime_summary
from toysim.plots.style import CYCLE, finish_panels, seed_band

REGIME_LABELS = {
    "replace": "replace (newest block only)",
    "window": "window (last 10 blocks)",
    "accumulate": "accumulate (every block)",
}


def data_regimes_figure(runs: RegimeRuns):
    """``U(theta)`` against iterations, median and IQR over seeds, one panel per preset and
    one band per data regime."""
    presets = list(runs.utility)
    fig, axes = plt.subplots(1, len(presets), figsize=(11, 4.3), layout="constrained")
    for ax, preset in zip(axes, presets, strict=True):
        for style, (regime, u) in zip(CYCLE, runs.utility[preset].items(), strict=False):
            seed_band(ax, np.arange(1, u.shape[1] + 1), u, style, REGIME_LABELS[regime])
        amplitude = runs.config[preset]["window"]["hparams"]["amplitude"]
        ax.axhline(amplitude, color="black", linestyle="--", lw=1.2, label="ideal, U(m) = A")
        ax.set_ylim(0, amplitude * 1.08)
        ax.set_xlabel("iteration")
        ax.set_ylabel("true utility at the policy mean, U(theta)")
        ax.set_title(preset)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False)
    caption = (
        f"Myopic {REGIME_METHOD} on the pairwise presets (Bradley-Terry reward model on "
        f"sampled pairs), seeds 0-{runs.seeds - 1}: U(theta) against iterations, median and "
        "interquartile range, when the follower trains on the newest block of pairs only, "
        "on a sliding window of the last 10 blocks (the presets' default), or on every "
        "block of the run (weights 1/count)."
    )
    meta = {
        "caption": caption,
        "presets": presets,
        "method": REGIME_METHOD,
        "seeds": runs.seeds,
        "config": runs.config,
        "summary": regime_summary(runs),
        "final_utility_per_seed": {
            p: {r: [float(x) for x in u[:, -1]] for r, u in by.items()}
            for p, by in runs.utility.items()
        },
    }
    title = "Data regimes: RLHF's utility under a pairwise reward model"
    return finish_panels(fig, axes, title), meta
