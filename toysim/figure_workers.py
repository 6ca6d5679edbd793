"""``toysim figures --jobs N``: the figures made by N worker processes, each shared run once.

The figures that read one member of :class:`~toysim.experiments.shared.SharedRuns` (their
registration's ``shares``) form a *group*, made by one worker in
:data:`~toysim.figures.FIGURES` order, so the run they share is computed once, as in a
single process; every other figure is a group of its own. The groups wait in one queue,
longest first (:data:`SECONDS`), and a worker takes the next one whenever it
is free (longest-processing-time-first list scheduling).

A worker is a fresh ``spawn`` process: it inherits the environment (``XLA_FLAGS``, where
the command line caps the instruction set) and takes the JAX options of the process that
starts it (:data:`INHERITED`: precision, dtype promotion, compilation cache) before it
computes anything, so it compiles the same programs and writes the same files as one
process would. With one job, or one group, the figures are made in this process by
:func:`toysim.figures.make_figures`.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import jax

from toysim.config import ConfigError
from toysim.figures import FIGURES, FigureError, chosen_figures, make_figures

INHERITED = (
    "jax_enable_x64",
    "jax_numpy_dtype_promotion",
    "jax_compilation_cache_dir",
    "jax_persistent_cache_min_compile_time_secs",
    "jax_logging_level",
)
"""The JAX options a worker takes from the process that starts it."""

SECONDS = {
    "data_regimes": 334, "goodhart_paper_nn": 145, "goodhart_pairwise_nn": 121,
    "neural_utility_bands": 116, "neural_diagnostics": 86, "goodhart_pairwise_linear": 76,
    "label_noise": 60, "collapse_vs_dimension": 57, "goodhart_population": 32, "mitigations": 25,
    "goodhart_paper_linear": 30, "ladder_tables": 24, "phase_gamma_c": 19, "label_noise_full": 4050,
    "pairwise_landscape": 120, "label_noise_reference": 350,
}  # fmt: skip
"""Seconds each figure took in a serial ``toysim figures`` (2 shared cores, 2026-12-07; opt-in
ones as the commits adding them say): ``--jobs`` starts the longest first. Others: under 15 s."""
OTHER_SECONDS = 10

POLL_SECONDS = 1.0
"""How often the parent, waiting for a figure, checks that no worker has died."""


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, or every core where the operating
    system does not report one."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def figure_groups(names: Iterable[str]) -> list[list[str]]:
    """``names`` (registered, in :data:`~toysim.figures.FIGURES` order) grouped by the shared
    runs they read, each group in that order; the groups longest first by the sum of their
    :data:`SECONDS` (ties: in the order of their first figure)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name in names:
        shares = FIGURES[name].shares
        groups.setdefault(("runs", shares) if shares else ("figure", name), []).append(name)
    cost = {key: sum(SECONDS.get(n, OTHER_SECONDS) for n in group) for key, group in groups.items()}
    return [groups[key] for key in sorted(groups, key=lambda key: -cost[key])]


def make_figures_in_workers(
    out: str | Path = "figures",
    quick: bool = False,
    names: Iterable[str] | None = None,
    jobs: int | None = None,
) -> Iterator[tuple[str, float, list[Path]]]:
    """:func:`toysim.figures.make_figures` spread over ``jobs`` worker processes.

    Args:
      out: the output folder.
      quick: fewer seeds and coarser grids (same iterations and hyperparameters).
      names: keys of :data:`~toysim.figures.FIGURES`, or ``None`` for the default figures.
      jobs: how many processes (default: :func:`usable_cores`); never more than there are
        groups. With one, :func:`~toysim.figures.make_figures` itself, in this process.

    Returns:
      An iterator yielding ``(name, seconds, files written)`` as each figure is done, in the
      order they finish.

    Raises:
      ConfigError: an unknown figure, or ``jobs`` below 1 (before any work).
      FigureError: a figure raised, or its worker died; the other workers are stopped.
    """
    chosen = chosen_figures(names)
    jobs = usable_cores() if jobs is None else jobs
    if jobs < 1:
        raise ConfigError(f"jobs must be an integer >= 1; got {jobs}")
    groups = figure_groups(chosen)
    workers = min(jobs, len(groups))
    if workers <= 1:
        return make_figures(out, quick, chosen)
    return _in_workers(Path(out), quick, groups, workers)


def _in_workers(
    out: Path, quick: bool, groups: list[list[str]], workers: int
) -> Iterator[tuple[str, float, list[Path]]]:
    context = multiprocessing.get_context("spawn")
    tasks, results = context.Queue(), context.Queue()
    for group in [*groups, *[None] * workers]:  # None: no more work
        tasks.put(group)
    options = {option: getattr(jax.config, option) for option in INHERITED}
    processes = [
        context.Process(
            target=_work, args=(index, tasks, results, options, out, quick), daemon=True
        )
        for index in range(workers)
    ]
    for process in processes:
        process.start()
    making: dict[int, list[str]] = {}  # each worker's group: the figures it has yet to make
    left = sum(map(len, groups))
    try:
        while left:
            kind, index, *message = _receive(results, processes, making)
            if kind == "group":
                making[index] = list(message[0])
            elif kind == "made":
                making[index].remove(message[0])
                left -= 1
                yield tuple(message)
            else:
                raise FigureError(message[0])
    finally:  # done, failed or interrupted: no worker outlives the command
        for process in processes:
            process.terminate()
            process.join()


def _receive(results, processes: list, making: dict[int, list[str]]) -> tuple:
    """The next message of a worker, or :class:`FigureError` if a worker died or all stopped."""
    while True:
        # Read before waiting: a message sent before its worker stopped is in the queue by then.
        codes = [process.exitcode for process in processes]
        try:
            return results.get(timeout=POLL_SECONDS)
        except queue.Empty:
            pass
        for index, code in enumerate(codes):
            if code not in (None, 0):
                doing = making.get(index)
                where = f"figure {doing[0]} failed" if doing else "a worker failed"
                raise FigureError(f"{where}: its process stopped with exit code {code}")
        if None not in codes:
            raise FigureError("the workers stopped before every figure was made")


def _work(index: int, tasks, results, options: dict, out: Path, quick: bool) -> None:
    """A worker: the parent's JAX options, then groups from ``tasks`` until ``None``; onto
    ``results`` go each group as it starts, each figure's ``(name, seconds, paths)`` as it is
    made, and the first failure's one-line message (after which it stops)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # on Ctrl-C the parent stops the workers
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    for option, value in options.items():
        jax.config.update(option, value)
    for group in iter(tasks.get, None):
        results.put(("group", index, group))
        try:
            for made in make_figures(out, quick, group):
                results.put(("made", index, *made))
        except FigureError as err:
            results.put(("failed", index, str(err)))
            return


def _exit_with_parent() -> None:
    """Stop this worker as soon as the process that started it ends, however it ended (a
    SIGTERM or SIGKILL runs none of its clean-up, and a worker would go on alone)."""
    multiprocessing.parent_process().join()
    os._exit(1)
