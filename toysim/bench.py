"""Benchmark: the published NumPy loop against toysim's jit and vmapped trajectories.

For each of rlhf, fpo-relaxed and fpo-exact on ``paper-linear`` (300 iterations,
d = 50), one run on one machine times:

* the NumPy re-implementation of the published algorithm
  (:mod:`toysim.reference_numpy`, finite-difference leader gradient); the
  published code has no exact FPO, so fpo-exact is compared with the published
  FPO loop (relaxed penalty);
* one jit-compiled trajectory (compile time reported separately);
* a ``jit(vmap)`` batch of ``batch`` seeds, per trajectory, recording the
  scalar metrics per iteration (``record="scalars"``, as a sweep would).

Times are the best of ``repeats`` calls after compilation. Timings never gate
a test; the ratios go in the README with the machine they were measured on.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time

import jax
import numpy as np

from toysim.game.trajectory import make_trajectory
from toysim.presets import build
from toysim.reference_numpy import run_published

NUMPY_PENALTY = {"rlhf": "none", "fpo-relaxed": "relaxed", "fpo-exact": "relaxed"}


def _best_time(fn, args: tuple, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def machine_description() -> str:
    """CPU model, core count and JAX backend, for the README's benchmark table."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, jax {jax.__version__} on {jax.default_backend()}"


def run_benchmark(batch: int = 1024, numpy_runs: int = 3, repeats: int = 5) -> list[dict]:
    """Time every method; returns one dict of seconds and ratios per method."""
    results = []
    for method in ("rlhf", "fpo-relaxed", "fpo-exact"):
        spec, hp = build("paper-linear", method)
        start = time.perf_counter()
        for seed in range(numpy_runs):
            run_published(NUMPY_PENALTY[method], seed, steps=spec.steps)
        numpy_run = (time.perf_counter() - start) / numpy_runs

        run = make_trajectory(spec)
        key = jax.random.key(0)
        start = time.perf_counter()
        single = jax.jit(run).lower(key, hp).compile()
        single_compile = time.perf_counter() - start
        single_run = _best_time(single, (key, hp), repeats)

        keys = jax.random.split(jax.random.key(1), batch)
        scalars = make_trajectory(dataclasses.replace(spec, record="scalars"))
        batched = jax.jit(jax.vmap(scalars, in_axes=(0, None)))
        start = time.perf_counter()
        batched = batched.lower(keys, hp).compile()
        batch_compile = time.perf_counter() - start
        batch_run = _best_time(batched, (keys, hp), repeats)

        results.append(
            dict(
                method=method,
                steps=spec.steps,
                dim=spec.dim,
                batch=batch,
                numpy_s_per_run=numpy_run,
                jit_compile_s=single_compile,
                jit_s_per_run=single_run,
                batch_compile_s=batch_compile,
                batch_s=batch_run,
                batch_s_per_run=batch_run / batch,
                speedup_single=numpy_run / single_run,
                speedup_batch=numpy_run / (batch_run / batch),
                dtype=str(np.asarray(hp.leader_lr, dtype=jax.numpy.result_type(float)).dtype),
                machine=machine_description(),
            )
        )
    relaxed = next(r for r in results if r["method"] == "fpo-relaxed")
    for r in results:
        r["single_vs_relaxed"] = r["jit_s_per_run"] / relaxed["jit_s_per_run"]
        r["batch_vs_relaxed"] = r["batch_s_per_run"] / relaxed["batch_s_per_run"]
    return results


def format_report(results: list[dict]) -> str:
    """A plain-text table of the benchmark."""
    lines = [
        f"paper-linear, {results[0]['steps']} iterations, d = {results[0]['dim']}, "
        f"{results[0]['dtype']}; machine: {results[0]['machine']}",
        f"{'method':<12} {'numpy/run':>10} {'jit/run':>10} {'compile':>8} "
        f"{'batch/run':>10} {'compile':>8} {'x single':>9} {'x batch':>9} {'vs relaxed':>11}",
    ]
    for r in results:
        lines.append(
            f"{r['method']:<12} {r['numpy_s_per_run'] * 1e3:>8.1f}ms "
            f"{r['jit_s_per_run'] * 1e6:>8.0f}us {r['jit_compile_s']:>7.2f}s "
            f"{r['batch_s_per_run'] * 1e6:>8.1f}us {r['batch_compile_s']:>7.2f}s "
            f"{r['speedup_single']:>8.0f}x {r['speedup_batch']:>8.0f}x "
            f"{r['single_vs_relaxed']:>5.2f}/{r['batch_vs_relaxed']:<5.2f}"
        )
    lines.append(
        f"batch = {results[0]['batch']} seeds in one jit(vmap); 'vs relaxed' is the time per "
        "trajectory relative to fpo-relaxed (single / batch); fpo-exact's NumPy baseline is "
        "the published FPO loop."
    )
    return "\n".join(lines)
