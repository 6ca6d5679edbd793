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
import functools
import inspect
import time

import jax
import numpy as np
from jax.sharding import PartitionSpec

from toysim.game.linear_round import SCAN_UNROLL
from toysim.game.trajectory import batched_trajectory, block_size, make_trajectory
from toysim.presets import build
from toysim.provenance import measured_on
from toysim.reference_numpy import run_published
from toysim.sweep import batch_mesh, sweep

NUMPY_PENALTY = {"rlhf": "none", "fpo-relaxed": "relaxed", "fpo-exact": "relaxed"}


def _best_time(fn, args: tuple, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def _row(**fields) -> dict:
    """One result row: ``fields`` plus the dtype, machine, date and load every table needs."""
    dtype = np.dtype(jax.numpy.result_type(float)).name
    return dict(fields, dtype=dtype, **measured_on())


def sharded_over_devices(run_batch):
    """``run_batch(keys, hp)`` with the batch split evenly over every device (one per core).

    Each device runs ``run_batch`` on its share of ``keys`` (``jax.shard_map``);
    with one device, ``run_batch`` itself.
    """
    if len(jax.devices()) == 1:
        return run_batch
    spec = PartitionSpec("batch")
    return jax.shard_map(
        run_batch,
        mesh=batch_mesh(),
        in_specs=(spec, PartitionSpec()),
        out_specs=spec,
        check_vma=False,  # the time loop's carry starts replicated, then varies per run
    )


def numpy_seconds_per_run(method: str, runs: int, steps: int) -> float:
    """Mean time of the published NumPy loop (the baseline of ``method``)."""
    start = time.perf_counter()
    for seed in range(runs):
        run_published(NUMPY_PENALTY[method], seed, steps=steps)
    return (time.perf_counter() - start) / runs


def _compile_and_time(fn, args: tuple, repeats: int) -> tuple[float, float]:
    """``(seconds to compile jax.jit(fn) for args, best of repeats calls after it)``."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return time.perf_counter() - start, _best_time(compiled, args, repeats)


def run_benchmark(
    batch: int = 1024, numpy_runs: int = 3, repeats: int = 5, chunk: int | None = None
) -> list[dict]:
    """Time every method; returns one dict of seconds and ratios per method.

    The batch is timed twice in the same run: as :func:`batched_trajectory`
    (``chunk`` runs per block, by default its ``block_size``; the batch split
    over every device) and as one plain ``jit(vmap)`` of the whole batch, the
    measure used before it.
    """
    itemsize = np.dtype(jax.numpy.result_type(float)).itemsize
    results = []
    for method in ("rlhf", "fpo-relaxed", "fpo-exact"):
        spec, hp = build("paper-linear", method)
        numpy_run = numpy_seconds_per_run(method, numpy_runs, spec.steps)

        key, keys = jax.random.key(0), jax.random.split(jax.random.key(1), batch)
        scalars = dataclasses.replace(spec, record="scalars")
        single_compile, single_run = _compile_and_time(make_trajectory(spec), (key, hp), repeats)
        batch_compile, batch_run = _compile_and_time(
            sharded_over_devices(batched_trajectory(scalars, chunk)), (keys, hp), repeats
        )
        vmapped = jax.vmap(make_trajectory(scalars), in_axes=(0, None))
        _, vmap_run = _compile_and_time(vmapped, (keys, hp), repeats)
        results.append(
            _row(
                method=method,
                steps=spec.steps,
                dim=spec.dim,
                batch=batch,
                chunk=chunk or block_size(spec.dim, itemsize),
                devices=len(jax.devices()),
                scan_unroll=SCAN_UNROLL,
                repeats=repeats,
                numpy_s_per_run=numpy_run,
                jit_compile_s=single_compile,
                jit_s_per_run=single_run,
                batch_compile_s=batch_compile,
                batch_s=batch_run,
                batch_s_per_run=batch_run / batch,
                vmap_s_per_run=vmap_run / batch,
                speedup_single=numpy_run / single_run,
                speedup_batch=numpy_run / (batch_run / batch),
                speedup_vmap=numpy_run / (vmap_run / batch),
            )
        )
    relaxed = next(r for r in results if r["method"] == "fpo-relaxed")
    for r in results:
        r["single_vs_relaxed"] = r["jit_s_per_run"] / relaxed["jit_s_per_run"]
        r["batch_vs_relaxed"] = r["batch_s_per_run"] / relaxed["batch_s_per_run"]
    return results


def format_report(results: list[dict]) -> str:
    """A plain-text table of the benchmark."""
    first = results[0]
    lines = [
        f"paper-linear, {first['steps']} iterations, d = {first['dim']}, {first['dtype']}; "
        f"machine: {first['machine']}; load average {first['load_average']}",
        f"{'method':<12} {'numpy/run':>10} {'jit/run':>10} {'compile':>8} {'batch/run':>10} "
        f"{'compile':>8} {'vmap/run':>9} {'x single':>9} {'x batch':>9} {'x vmap':>8} "
        f"{'vs relaxed':>11}",
    ]
    for r in results:
        lines.append(
            f"{r['method']:<12} {r['numpy_s_per_run'] * 1e3:>8.1f}ms "
            f"{r['jit_s_per_run'] * 1e6:>8.0f}us {r['jit_compile_s']:>7.2f}s "
            f"{r['batch_s_per_run'] * 1e6:>8.1f}us {r['batch_compile_s']:>7.2f}s "
            f"{r['vmap_s_per_run'] * 1e6:>7.1f}us "
            f"{r['speedup_single']:>8.0f}x {r['speedup_batch']:>8.0f}x {r['speedup_vmap']:>7.0f}x "
            f"{r['single_vs_relaxed']:>5.2f}/{r['batch_vs_relaxed']:<5.2f}"
        )
    lines.append(
        f"batch = {first['batch']} seeds, {first['chunk']} per block (batched_trajectory) on "
        f"{first['devices']} device(s); vmap = the same seeds in one plain jit(vmap); "
        "'vs relaxed' is the time per trajectory relative to fpo-relaxed (single / batch); "
        "fpo-exact's NumPy baseline is the published FPO loop."
    )
    return "\n".join(lines)


def _flops(fn, *args) -> float:
    analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list) else analysis
    return float(analysis.get("flops", float("nan")))


def flops_per_trajectory(spec, hp) -> float:
    """XLA's count of floating-point operations for one trajectory of ``spec``.

    XLA's cost analysis counts a loop body once, whatever its trip count, so
    the count is taken on 1- and 2-step trajectories (both unrolled, no loop):
    ``flops(1) + (T - 1) (flops(2) - flops(1))``.
    """
    key = jax.random.key(0)
    one, two = (
        _flops(make_trajectory(dataclasses.replace(spec, steps=t, record="scalars")), key, hp)
        for t in (1, 2)
    )
    return one + (spec.steps - 1) * (two - one)


def machine_peak_flops(size: int = 2048, repeats: int = 5) -> float:
    """Achievable floating-point rate: a ``size x size`` matrix product, best of ``repeats``."""
    dtype = jax.numpy.result_type(float)
    a = jax.random.normal(jax.random.key(0), (size, size), dtype=dtype)
    matmul = jax.jit(lambda x: x @ x)
    jax.block_until_ready(matmul(a))
    return 2.0 * size**3 / _best_time(matmul, (a,), repeats)


def run_sweep_benchmark(
    seeds: int = 4096, numpy_runs: int = 3, repeats: int = 3, chunk: int | None = None
) -> list[dict]:
    """Sweep throughput: ``seeds`` trajectories of 300 iterations through
    :func:`toysim.sweep.sweep` (compiled beforehand) in calls of ``chunk`` runs
    (default: the sweep's own); the ratio to the NumPy loop and the fraction of
    the machine's floating-point peak."""
    default_chunk = inspect.signature(sweep).parameters["chunk_size"].default
    peak = machine_peak_flops()
    results = []
    for method in ("rlhf", "fpo-relaxed", "fpo-exact"):
        spec, hp = build("paper-linear", method)
        numpy_run = numpy_seconds_per_run(method, numpy_runs, spec.steps)
        per_call = chunk or default_chunk
        run = functools.partial(sweep, spec, hp, {}, seeds, chunk_size=per_call)
        result = run()  # compile (and warm up)
        seconds = _best_time(run, (), repeats)
        flops = flops_per_trajectory(spec, hp)
        rate = seeds / seconds
        results.append(
            _row(
                method=method,
                seeds=seeds,
                steps=spec.steps,
                devices=result.config["devices"],
                chunk=per_call,
                sweep_s=seconds,
                trajectories_per_s=rate,
                numpy_s_per_run=numpy_run,
                speedup=numpy_run * rate,
                flops_per_trajectory=flops,
                achieved_flops=flops * rate,
                peak_flops=peak,
                fraction_of_peak=flops * rate / peak,
            )
        )
    return results


def format_sweep_report(results: list[dict]) -> str:
    """The sweep benchmark as a text table: trajectories per second, x NumPy, FLOP rate.

    Args:
        results: the rows of ``run_sweep_benchmark``, one per method.

    Returns:
        A header line (seeds, iterations, devices, machine, matmul peak) and one line per method.
    """
    first = results[0]
    lines = [
        f"sweep of {first['seeds']} seeds x {first['steps']} iterations (paper-linear), "
        f"{first['dtype']}, on {first['devices']} device(s); machine: {first['machine']}; "
        f"load average {first['load_average']}; measured matmul peak "
        f"{first['peak_flops'] / 1e9:.1f} GFLOP/s",
        f"{'method':<12} {'sweep':>8} {'traj/s':>10} {'x numpy':>9} {'MFLOP/traj':>11} "
        f"{'GFLOP/s':>8} {'of peak':>8}",
    ]
    for r in results:
        lines.append(
            f"{r['method']:<12} {r['sweep_s']:>7.3f}s {r['trajectories_per_s']:>10.0f} "
            f"{r['speedup']:>8.0f}x {r['flops_per_trajectory'] / 1e6:>11.2f} "
            f"{r['achieved_flops'] / 1e9:>8.2f} {r['fraction_of_peak']:>8.1%}"
        )
    lines.append(
        f"calls of {first['chunk']} runs (toysim sweep --chunk {first['chunk']}), each device "
        "running its share in cache-sized blocks"
    )
    return "\n".join(lines)


def run_scale_benchmark(dims=(50, 100, 200, 500, 1000, 2000), buffer: int = 16, steps: int = 100):
    """fpo-exact with a best-response buffer follower: seconds per iteration against ``d``.

    The follower's Hessian is ``lambda I + C^T C`` with ``C`` of rank ``B = buffer``;
    the Woodbury solve costs ``O(B^2 d + B^3)`` where a dense Cholesky costs
    ``O(d^3)``: the dense factorisation of the same matrix is timed beside it.
    """
    from toysim import linalg

    rows = []
    for d in dims:
        spec, hp = build("paper-linear", "fpo-exact", steps=steps)
        spec = dataclasses.replace(
            spec, dim=d, follower="best-response", buffer_size=buffer, anchor="ridge"
        )
        hp = hp._replace(lam=1.0, gamma=2.0 / buffer)
        run = jax.jit(make_trajectory(spec))
        key = jax.random.key(0)
        jax.block_until_ready(run(key, hp))
        per_step = _best_time(run, (key, hp), 3) / steps
        h = linalg.LowRankPlusDiagonal(
            jax.numpy.asarray(1.0), jax.random.normal(key, (buffer, d), dtype=jax.numpy.float64)
        )
        dense = jax.jit(lambda m, v: linalg.solve(linalg.DenseOperator(m), v, linalg.Cholesky()).x)
        matrix, v = h.dense(), jax.numpy.ones(d)
        jax.block_until_ready(dense(matrix, v))
        rows.append(
            _row(
                dim=d,
                buffer=buffer,
                s_per_step=per_step,
                dense_cholesky_solve_s=_best_time(dense, (matrix, v), 3),
            )
        )
    return rows


def format_scale_report(rows: list[dict]) -> str:
    """Exact FPO's cost per iteration against ``d`` as a text table, beside a dense solve.

    Args:
        rows: the rows of ``run_scale_benchmark``, one per dimension.

    Returns:
        A header line and one line per ``d``: time per iteration, dense Cholesky solve time.
    """
    lines = [
        f"fpo-exact, best-response follower on a buffer of {rows[0]['buffer']}, Woodbury solve",
        f"{'d':>6} {'per iteration':>14} {'dense d x d Cholesky solve alone':>34}",
    ]
    for r in rows:
        lines.append(
            f"{r['dim']:>6} {r['s_per_step'] * 1e6:>12.1f}us "
            f"{r['dense_cholesky_solve_s'] * 1e6:>32.1f}us"
        )
    return "\n".join(lines)
