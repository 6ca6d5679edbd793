"""Benchmark of ``paper-nn`` (``toysim bench --neural``): every curvature choice beside rlhf
and fpo-relaxed, in float64 and float32, in one run.

For each precision and each row (rlhf, fpo-relaxed, then exact FPO with each ``hessian``
choice of :data:`toysim.config.CURVATURES`), one run times the compilation of a single
trajectory, that trajectory (best of ``repeats`` calls after compilation) and a
``jit(vmap)`` batch of ``seeds`` runs (split over the devices, one per core), and divides
both by fpo-relaxed's times of the same precision. Timings never gate a test.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from toysim.bench import _compile_and_time, _row, sharded_over_devices
from toysim.config import CURVATURES

PUBLISHED_NN_SECONDS_PER_RUN = 22.0
"""The published PyTorch code on this machine kind: 45-51 s per pair of 4,000-iteration runs."""

PUBLISHED_NN_STEPS = 4000
"""The outer iterations of a published paper-nn run (the preset's ``steps``)."""


def speedup_vs_published(steps: int, seconds_per_run: float) -> float:
    """How many times faster than the published code per outer iteration: its
    ``22 s / 4,000`` iterations against ``seconds_per_run / steps``."""
    return PUBLISHED_NN_SECONDS_PER_RUN / PUBLISHED_NN_STEPS * steps / seconds_per_run


PRECISIONS = (64, 32)
"""The float widths every row is timed in."""


def benchmark_methods() -> tuple[tuple[str, str, dict], ...]:
    """``(label, paper-nn method, switches)`` of each row: rlhf, fpo-relaxed, the ladder."""
    rungs = tuple((f"hessian={h}", "fpo-exact", {"hessian": h}) for h in CURVATURES)
    return (("rlhf", "rlhf", {}), ("fpo-relaxed", "fpo-relaxed", {})) + rungs


def time_neural_row(method: str, switches: dict, seeds: int, repeats: int, steps: int | None):
    """``(steps, compile s, s per run, s per batch of seeds, fraction of the batch's solves
    converged)`` of one row in the current precision."""
    from toysim.game.trajectory import make_trajectory
    from toysim.presets import build
    from toysim.seeds import seed_keys

    spec, hp = build("paper-nn", method, **switches)
    if steps is not None:
        spec = dataclasses.replace(spec, steps=steps)
    run = make_trajectory(spec)
    keys = seed_keys(seeds)
    key = keys[0]
    batch = sharded_over_devices(jax.vmap(run, in_axes=(0, None)))
    compile_s, single_s = _compile_and_time(run, (key, hp), repeats)
    compiled = jax.jit(batch).lower(keys, hp).compile()
    batch_s = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        converged = jax.block_until_ready(compiled(keys, hp).solve.converged)
        batch_s = min(batch_s, time.perf_counter() - start)
    return spec.steps, compile_s, single_s, batch_s, float(np.mean(np.asarray(converged)))


def run_neural_benchmark(
    seeds: int = 16,
    repeats: int = 3,
    steps: int | None = None,
    precisions: tuple[int, ...] = PRECISIONS,
) -> list[dict]:
    """paper-nn: one row per (precision, method) with compile, per-run and batch seconds and
    their ratios to fpo-relaxed's of the same precision.

    Args:
      seeds: runs in the ``jit(vmap)`` batch.
      repeats: timed calls after compilation (the best is kept).
      steps: outer iterations (default: the preset's 4,000).
      precisions: float widths, 64 and/or 32 (``jax.enable_x64`` around each).
    """
    rows = []
    for bits in precisions:
        with jax.enable_x64(bits == 64):
            block = []
            for label, method, switches in benchmark_methods():
                t, compile_s, single_s, batch_s, converged = time_neural_row(
                    method, switches, seeds, repeats, steps
                )
                block.append(
                    _row(
                        method=label,
                        steps=t,
                        seeds=seeds,
                        devices=len(jax.devices()),
                        compile_s=compile_s,
                        s_per_run=single_s,
                        batch_s=batch_s,
                        solves_converged=converged,
                        speedup_vs_published=speedup_vs_published(t, single_s),
                    )
                )
        relaxed = next(r for r in block if r["method"] == "fpo-relaxed")
        for r in block:
            r["single_vs_relaxed"] = r["s_per_run"] / relaxed["s_per_run"]
            r["batch_vs_relaxed"] = r["batch_s"] / relaxed["batch_s"]
        rows.extend(block)
    return rows


def format_neural_report(rows: list[dict]) -> str:
    """The paper-nn benchmark as a text table.

    Args:
        rows: the rows of :func:`run_neural_benchmark`.

    Returns:
        A header line (iterations, machine, published time) and one line per row: dtype,
        compile, per-run and batch seconds, the ratios to fpo-relaxed, the fraction of
        solves that converged in the batch, and the speed-up over the published code.
    """
    first = rows[0]
    lines = [
        f"paper-nn, {first['steps']} outer iterations x 15 inner steps; machine: "
        f"{first['machine']}; load average {first['load_average']}; published PyTorch: "
        f"about {PUBLISHED_NN_SECONDS_PER_RUN:.0f} s per {PUBLISHED_NN_STEPS:,}-iteration run",
        f"{'method':<22} {'dtype':<8} {'compile':>8} {'per run':>9} "
        f"{str(first['seeds']) + ' seeds':>9} {'vs relaxed':>11} {'converged':>10} "
        f"{'vs PyTorch':>11}",
    ]
    for r in rows:
        lines.append(
            f"{r['method']:<22} {r['dtype']:<8} {r['compile_s']:>7.2f}s {r['s_per_run']:>8.3f}s "
            f"{r['batch_s']:>8.3f}s {r['single_vs_relaxed']:>5.2f}/{r['batch_vs_relaxed']:<5.2f} "
            f"{r['solves_converged']:>10.1%} {r['speedup_vs_published']:>10.0f}x"
        )
    lines.append(
        f"batch = {first['seeds']} seeds in one jit(vmap) over {first['devices']} device(s); "
        "'vs relaxed' is the time relative to fpo-relaxed of the same dtype (per run / batch); "
        "'converged' is the fraction of the batch's curvature solves that met their tolerance "
        "(100% where a row has none)."
    )
    return "\n".join(lines)
