"""The mitigations figure: gold utility over iterations and at the end, for every variant."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from toysim.experiments.mitigations import (
    EARLY_STOP,
    MitigationRuns,
    format_mitigation_table,
    mitigation_table,
)
from toysim.plots.style import OKABE_ITO, STYLES, finish_panels, seed_band

VARIANT_STYLES = {
    "kl-leash (best c)": dict(color=OKABE_ITO["sky"], linestyle="-", marker="v"),
    "kl-leash (2x best c)": dict(color=OKABE_ITO["sky"], linestyle=":", marker="<"),
    "ensemble k=5 (mean)": dict(color=OKABE_ITO["purple"], linestyle="-", marker="P"),
    "ensemble k=5 (min)": dict(color=OKABE_ITO["purple"], linestyle="--", marker="X"),
    "early stopping": dict(color=OKABE_ITO["black"], linestyle=(0, (5, 1)), marker="*"),
}
"""One family, one colour (the leash, the ensembles), told apart by line style and marker; the
four methods keep their colours."""


def mitigations_figure(runs: MitigationRuns):
    """Left: gold utility against iterations (median and IQR over seeds) for every variant.
    Right: final gold utility per variant (median, IQR bar), with its collapse rate."""
    rows = mitigation_table(runs)
    styles = {**STYLES, **VARIANT_STYLES}
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(12, 5.4), layout="constrained", gridspec_kw={"width_ratios": [1.35, 1]}
    )
    for label, gold in runs.gold.items():
        seed_band(left, np.arange(1, gold.shape[1] + 1), gold, styles[label], label)
    ideal = "U(m) = A" if runs.ideal == runs.amplitude else "E[U] at theta = m"
    left.axhline(runs.ideal, color="black", linestyle="--", lw=1.2, label=f"ideal, {ideal}")
    left.set_xlabel("iteration (leader steps, matched)")
    left.set_ylabel("gold utility E[U(y)]")
    left.set_ylim(0, 1.08 * runs.ideal)
    left.legend(frameon=False, fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    for i, row in enumerate(rows):
        style = styles[row["variant"]]
        y = len(rows) - 1 - i
        right.errorbar(
            row["final_gold_median"],
            y,
            xerr=[
                [row["final_gold_median"] - row["final_gold_q25"]],
                [row["final_gold_q75"] - row["final_gold_median"]],
            ],
            fmt=style["marker"],
            color=style["color"],
            markersize=7,
            capsize=3,
        )
        right.annotate(
            f"collapse {row['collapse_rate']:.0%}",
            (row["final_gold_q75"], y),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    right.set_yticks(range(len(rows)), [r["variant"] for r in reversed(rows)], fontsize=9)
    right.axvline(runs.ideal, color="black", linestyle="--", lw=1.2)
    right.set_xlim(0, 1.25 * runs.ideal)
    right.set_xlabel(f"final gold utility at iteration {runs.gold['rlhf'].shape[1]}")
    stop = runs.config["variants"]["early stopping"]["stop"]
    grid = runs.config["kl_grid"]
    title = f"Mitigations beside FPO ({runs.config['preset']}, {runs.seeds} seeds)"
    fig = finish_panels(fig, (left, right), title)
    meta = {
        "caption": (
            f"{runs.config['preset']}, every variant run for the same number of iterations on "
            f"seeds 0-{runs.seeds - 1}: gold utility (median and IQR over seeds) against "
            "iterations (left) and at the end (right, with the fraction of seeds whose final "
            "gold fell below 0.8 times their peak). KL leash: the best c on these seeds of "
            f"{len(grid)} values from {min(grid):.3g} to {max(grid):.3g} "
            f"(c = {runs.config['kl_best_c']:.3g}) and twice it; ensembles: five "
            "reward models from different initialisations; early stopping: "
            f"{EARLY_STOP['gold_budget']} noisy gold labels every {stop['every']:.0f} "
            f"iterations, patience {stop['patience']:.0f}, the stopped leader rolled back to the "
            "policy of its best check."
        ),
        "table": rows,
        "table_markdown": format_mitigation_table(rows),
        "config": runs.config,
    }
    return fig, meta
