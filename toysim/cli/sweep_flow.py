"""The pieces of ``toysim sweep`` around the computation: the cluster, the saved chunks, signals.

:func:`start_cluster` joins a multi-process run before JAX starts; :func:`identify` names the
result; :func:`open_store` decides, on process 0 and for every process, whether the sweep
starts, resumes from saved chunks, is already done or is refused; :func:`stop_on_signals`
turns SIGINT and SIGTERM into :class:`Interrupted`, which the command reports in one line with
the command that resumes; :func:`write_result` writes the finished result from the chunks.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from toysim.cli.parser import UserError
from toysim.sweep import SweepPlan, assemble
from toysim.sweeps import cluster
from toysim.sweeps.store import ChunkStore, SweepFileError, config_hash, result_name, save_sweep

PROG = "python -m toysim"


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def resume_command(argv: list[str]) -> str:
    """The command line that resumes the sweep ``argv`` started: ``--force`` dropped,
    ``--resume`` added."""
    kept = [a for a in argv if not (len(a) > 3 and "--force".startswith(a))]
    if "--resume" not in kept:
        kept.append("--resume")
    return shlex.join([*PROG.split(), *kept])


def interrupted_line(err: Interrupted, store: ChunkStore | None, argv: list[str]) -> str:
    """The one line printed when a sweep is interrupted: what was saved, how to resume."""
    if jax.process_count() > 1 and not cluster.is_writer():
        saved = f"process {jax.process_index()}; process 0 saves the chunks"
    elif store is None:
        saved = "before any chunk was saved"
    else:
        n = store.manifest["n_chunks"]
        saved = f"{len(store.saved())} of {n} chunks saved in {store.folder}"
    return f"toysim sweep: interrupted by {err} ({saved}); resume with: {resume_command(argv)}"


def _check_address(address: str) -> None:
    host, sep, port = address.rpartition(":")
    if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
        raise UserError(f"toysim sweep: --coordinator must be HOST:PORT; got {address!r}")


def start_cluster(args: argparse.Namespace) -> None:
    """Join the processes of a multi-host sweep if asked to (before JAX computes anything).

    ``--coordinator``, ``--num-processes`` and ``--process-id`` together name the cluster;
    ``--distributed`` alone lets JAX detect it (SLURM, Open MPI, ...). Neither: one process.
    """
    explicit = (args.coordinator, args.num_processes, args.process_id)
    if all(v is None for v in explicit) and not args.distributed:
        return
    if any(v is not None for v in explicit):
        if any(v is None for v in explicit):
            raise UserError(
                "toysim sweep: --coordinator, --num-processes and --process-id go together "
                "(or --distributed alone, to detect SLURM or MPI)"
            )
        _check_address(args.coordinator)
        if args.num_processes < 1 or not 0 <= args.process_id < args.num_processes:
            raise UserError(
                f"toysim sweep: --process-id must be in [0, --num-processes) and "
                f"--num-processes >= 1; got {args.process_id} and {args.num_processes}"
            )
    try:
        cluster.initialize(*explicit)
    except (ValueError, RuntimeError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"toysim sweep: cannot join the cluster: {message}") from None


class Start(NamedTuple):
    """What :func:`open_store` decided: the chunks still to compute, and the store."""

    todo: list[int]
    store: ChunkStore | None
    complete: bool


def _decide(args, final: Path, manifest: dict) -> tuple[ChunkStore | None, list[int], bool]:
    """Process 0's decision from the files: (store, chunks already saved, already complete)."""
    partial = final.with_name(final.name + ".partial")
    existing = [p for p in (final.with_suffix(".npz"), final.with_suffix(".json")) if p.exists()]
    if existing and not args.force:
        if args.resume:
            return None, [], True
        raise UserError(
            f"toysim sweep: {existing[0]} exists (same configuration); pass --force to overwrite it"
        )
    if partial.exists() and args.resume:
        store = ChunkStore.open(partial)
        if store.manifest.get("config_hash") != manifest["config_hash"]:
            raise UserError(f"toysim sweep: {partial} holds another configuration's chunks")
        if store.manifest.get("chunk_size") != manifest["chunk_size"]:
            raise UserError(
                f"toysim sweep: the chunks saved in {partial} hold "
                f"{store.manifest.get('chunk_size')} runs each, this run's "
                f"{manifest['chunk_size']}; resume with the --chunk and devices it started with"
            )
        return store, store.saved(), False
    if partial.exists() and not args.force:
        saved = len(list(partial.glob("chunk-*.npz")))
        raise UserError(
            f"toysim sweep: a partial run of this sweep is in {partial} ({saved} of "
            f"{manifest['n_chunks']} chunks); pass --resume to continue it or --force to restart"
        )
    return ChunkStore.create(partial, manifest), [], False


def open_store(args: argparse.Namespace, final: Path, manifest: dict) -> Start:
    """Decide how the sweep starts, the same on every process.

    Process 0 reads its files: a finished result is refused unless ``--force`` (or reported
    done with ``--resume``); saved chunks are continued with ``--resume``, refused without it
    (unless ``--force``, which starts again). Its decision is broadcast, so every process
    computes the same chunks; a refusal on process 0 stops the others too.

    Args:
      args: the parsed command line (``force``, ``resume``).
      final: the result's path without suffix.
      manifest: the chunk store's manifest (``config_hash``, ``chunk_size``, ``n_chunks``).
    """
    n = manifest["n_chunks"]
    store, done, complete, error = None, [], False, None
    if cluster.is_writer():
        try:
            store, done, complete = _decide(args, final, manifest)
        except (UserError, SweepFileError) as err:
            error = err
    flags = np.zeros(n + 2, dtype=np.int32)
    flags[0], flags[1] = error is not None, complete
    flags[2:][done] = 1
    flags = cluster.agree(flags)
    if error is not None:
        raise UserError(str(error)) from None
    if flags[0]:
        raise UserError("toysim sweep: process 0 refused to start (see its error)")
    return Start([i for i in range(n) if not flags[2 + i]], store, bool(flags[1]))


def identify(args: argparse.Namespace, plan: SweepPlan, grid: dict) -> tuple[str, dict]:
    """The result's name (what made it, and a hash of the whole configuration) and the
    manifest of its chunk store.

    The hash covers the game (a composition's every field), every base hyperparameter, the
    grid values, the seeds, the collapse rule and the precision; not the chunk size or the
    device count, which change how the runs are laid out, not what they are.
    """
    identity = {k: v for k, v in plan.config.items() if k not in ("devices", "chunk_size")}
    identity |= {"axes": {k: v.tolist() for k, v in plan.axes.items()}, "bits": args.precision}
    label = {
        "preset": args.preset,
        "method": plan.spec.method.name,
        "pieces": pieces(args),
        "axes": {k: len(v) for k, v in grid.items()},
        "seeds": len(plan.axes["seed"]),
        "first_seed": int(plan.axes["seed"][0]),
        "steps": plan.spec.steps,
        "precision": args.precision,
    }
    manifest = {
        "config_hash": config_hash(identity),
        "chunk_size": plan.chunk,
        "n_chunks": plan.n_chunks,
        "total": plan.total,
    }
    return result_name(label, identity), manifest


def pieces(args: argparse.Namespace) -> list[str]:
    """The composition flags of a sweep as parts of its name: ``members3``, ``min``,
    ``gold4``, ``accumulate``, ``expected``, ``reference``, ``candidates8`` (expert iteration
    is the method ``best-of-n``)."""
    parts = [f"members{args.members}"] if args.members > 1 else []
    parts += [f"gold{args.gold_budget}"] if args.gold_budget else []
    named = (args.aggregate, args.regime, args.labels, args.pairing)
    best_of = [f"candidates{args.candidates}"] if (args.candidates or 1) > 1 else []
    return parts + [v for v in named if v is not None] + best_of


def write_result(args: argparse.Namespace, plan: SweepPlan, store: ChunkStore, final: Path) -> str:
    """Join the saved chunks, write ``FINAL.npz``, its sidecar and its figure (each atomically),
    remove the chunks; returns the report (two lines)."""
    import matplotlib.pyplot as plt

    from toysim.plots.sweep_figures import sweep_figure
    from toysim.safeio import atomic_path

    try:
        result = assemble(plan, {i: store.load(i) for i in range(plan.n_chunks)})
    except SweepFileError as err:
        raise UserError(f"toysim sweep: {err}") from None
    result.config.update(processes=jax.process_count(), precision=args.precision, name=final.name)
    npz, sidecar = save_sweep(result, final)
    fig, _ = sweep_figure(result, title=f"{args.preset}, {plan.spec.method.name}")
    figure = final.with_name(f"{final.name}.png")
    try:
        with atomic_path(figure) as tmp:
            fig.savefig(tmp, dpi=150)
    finally:
        plt.close(fig)
    store.remove()
    runs = result.metrics["final_utility"].size
    devices = f"{result.config['devices']} device(s) in {jax.process_count()} process(es)"
    return (
        f"{runs} runs on {devices}: {npz}, {sidecar}, {figure}\n"
        f"final utility median {np.median(result.metrics['final_utility']):.3f}, "
        f"collapsed {np.mean(result.metrics['collapsed']):.1%} of runs"
    )
