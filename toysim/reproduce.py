"""The reproduction table of MODEL.md section 5, measured.

For RLHF, relaxed FPO and practical FPO on ``paper-linear``: the published
numbers (quoted from MODEL.md), the NumPy re-implementation of the published
finite-difference code (measured), and toysim with exact gradients (measured),
each as the median over ``seeds`` seeds of the final signal / noise / utility.
"""

from __future__ import annotations

import jax
import numpy as np

from toysim.game.trajectory import make_trajectory, raise_if_nonfinite
from toysim.presets import build
from toysim.reference_numpy import run_published

PUBLISHED = {
    # method: (published code with finite differences, published exact-gradient run), MODEL.md 5
    "rlhf": ((4.063, 1.648, 3.932), (4.07, 1.65, 3.91)),
    "fpo-relaxed": ((3.275, 0.172, 9.806), (3.32, 0.01, 9.94)),
    "fpo-practical": ((3.419, 1.393, 5.533), (3.44, 1.39, 5.54)),
}
PENALTY = {"rlhf": "none", "fpo-relaxed": "relaxed", "fpo-practical": "practical"}


def final_medians(method: str, seeds: int) -> tuple[float, float, float]:
    """Median over seeds ``0..seeds-1`` of toysim's final (signal, noise, utility)."""
    spec, hp = build("paper-linear", method)
    keys = jax.vmap(jax.random.key)(np.arange(seeds))
    trajectory = jax.jit(jax.vmap(make_trajectory(spec), in_axes=(0, None)))(keys, hp)
    raise_if_nonfinite(trajectory, spec)
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
