"""The reproduction table of the linear toy (docs/results/reproduction.md), measured.

For RLHF, relaxed FPO and practical FPO on ``paper-linear``: the published
numbers (quoted from the paper and its code), the NumPy re-implementation of the published
finite-difference code (measured), and toysim with exact gradients (measured),
each as the median over ``seeds`` seeds of the final signal / noise / utility.
"""

from __future__ import annotations

import numpy as np

from toysim.experiments.runner import run_seeds
from toysim.model.metrics import collapsed
from toysim.presets import build
from toysim.reference_numpy import run_published

PUBLISHED = {
    # method: (published code with finite differences, published exact-gradient run)
    "rlhf": ((4.063, 1.648, 3.932), (4.07, 1.65, 3.91)),
    "fpo-relaxed": ((3.275, 0.172, 9.806), (3.32, 0.01, 9.94)),
    "fpo-practical": ((3.419, 1.393, 5.533), (3.44, 1.39, 5.54)),
}
PENALTY = {"rlhf": "none", "fpo-relaxed": "relaxed", "fpo-practical": "practical"}


def final_medians(method: str, seeds: int) -> tuple[float, float, float]:
    """Median over seeds ``0..seeds-1`` of toysim's final (signal, noise, utility)."""
    spec, hp = build("paper-linear", method)
    trajectory = run_seeds(spec, hp, seeds)
    return tuple(
        float(np.median(np.asarray(x)[:, -1]))
        for x in (trajectory.signal, trajectory.noise, trajectory.utility)
    )


def numpy_medians(method: str, seeds: int) -> tuple[float, float, float]:
    """Median over seeds of the published finite-difference loop's final values."""
    runs = [run_published(PENALTY[method], seed) for seed in range(seeds)]
    return tuple(
        float(np.median([getattr(r, name)[-1] for r in runs]))
        for name in ("signal", "noise", "utility")
    )


def reproduction_rows(seeds: int = 16) -> list[dict]:
    """One dict per method with all four triples."""
    rows = []
    for method, (published_fd, published_exact) in PUBLISHED.items():
        rows.append(
            dict(
                method=method,
                seeds=seeds,
                published_fd=published_fd,
                numpy_fd=numpy_medians(method, seeds),
                published_exact=published_exact,
                toysim_exact=final_medians(method, seeds),
            )
        )
    return rows


def format_rows(rows: list[dict]) -> str:
    """A Markdown table (final signal / noise / utility at iteration 300)."""

    def fmt(triple):
        return " / ".join(f"{x:.3f}" for x in triple)

    lines = [
        f"paper-linear, iteration 300, final signal / noise / utility; "
        f"measured values are medians over seeds 0-{rows[0]['seeds'] - 1}",
        "",
        "| method | published code (FD) | NumPy re-implementation (FD), measured "
        "| published exact | toysim (exact), measured |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {fmt(r['published_fd'])} | {fmt(r['numpy_fd'])} "
            f"| {fmt(r['published_exact'])} | {fmt(r['toysim_exact'])} |"
        )
    return "\n".join(lines)


NEURAL_PUBLISHED = {
    # the neural RM: the published PyTorch code, seeds 0-4, final utility
    "rlhf": (2.31, 3.53, 2.78, 5.71, 7.57),
    "fpo-relaxed": (9.74, 9.72, 9.95, 9.99, 9.40),
}


def neural_rows(seeds: int = 32, methods=("rlhf", "fpo-relaxed", "fpo-practical", "fpo-exact")):
    """paper-nn over seeds: final and peak utility (median, quartiles, min, max) per method
    (``fpo-exact``: the damped exact FPO of the published comparison, fixed ``mu = 1``; the
    whole curvature ladder is docs/results/neural-ladder.md's)."""
    from toysim.experiments.neural import figure_game
    from toysim.game.trajectory import make_trajectory

    rows = []
    for method in methods:
        spec, hp = figure_game(method)
        trajectory = run_seeds(spec, hp, seeds, make_trajectory)
        final = np.asarray(trajectory.utility[:, -1])
        peak = np.asarray(trajectory.utility.max(axis=1))
        q25, q50, q75 = np.percentile(final, [25, 50, 75])
        row = dict(
            method=method,
            seeds=seeds,
            gamma=float(hp.gamma),
            final_median=float(q50),
            final_q25=float(q25),
            final_q75=float(q75),
            final_min=float(final.min()),
            final_max=float(final.max()),
            peak_median=float(np.median(peak)),
            collapsed_fraction=float(np.mean(collapsed(final, peak))),
            published_seeds_0_4=NEURAL_PUBLISHED.get(method),
        )
        if (
            spec.method.foresight
            and spec.method.hessian != "identity"
            and spec.method.influence == "global"
        ):
            row["solve_converged_fraction"] = float(np.mean(trajectory.solve.converged))
            row["solve_mean_iterations"] = float(np.mean(trajectory.solve.iterations))
        rows.append(row)
    return rows


def format_neural_rows(rows: list[dict]) -> str:
    """A Markdown table of :func:`neural_rows`."""
    lines = [
        f"paper-nn, 4,000 outer iterations, seeds 0-{rows[0]['seeds'] - 1}",
        "",
        "| method | gamma | final utility: median [IQR], min-max | peak (median) | collapsed "
        "| published, seeds 0-4 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        published = r["published_seeds_0_4"]
        lines.append(
            f"| {r['method']} | {r['gamma']:.3g} | {r['final_median']:.2f} "
            f"[{r['final_q25']:.2f}, {r['final_q75']:.2f}], {r['final_min']:.2f}-"
            f"{r['final_max']:.2f} | {r['peak_median']:.2f} | {r['collapsed_fraction']:.0%} | "
            f"{', '.join(f'{x:.1f}' for x in published) if published else '-'} |"
        )
    for r in rows:
        if "solve_converged_fraction" in r:
            lines.append(
                f"\n{r['method']}: the curvature solve converged on "
                f"{r['solve_converged_fraction']:.0%} of iterations, "
                f"{r['solve_mean_iterations']:.1f} iterations on average."
            )
    return "\n".join(lines)
