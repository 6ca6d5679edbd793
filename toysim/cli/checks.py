"""Checks of a command line before anything compiles: one line naming the field and what is
allowed (a :class:`~toysim.cli.parser.UserError`, exit status 2).

Seeds must lie in ``[0, 2**63)``, counts be >= 1, ``--devices`` between 1 and this machine's
cores, a sweep's grid name fields the game reads, once each, and the estimated memory
(:mod:`toysim.memory`) stay under ``--max-memory`` (default: what this machine has free).
"""

from __future__ import annotations

import argparse
import math
import os

from toysim.cli.parser import UserError
from toysim.config import ConfigError


def check_seed(command: str, seed: int) -> None:
    """``seed`` in ``[0, 2**63)``, the seeds :func:`toysim.seeds.seed_keys` takes."""
    from toysim.seeds import checked_seed

    try:
        checked_seed(seed)
    except ConfigError as err:
        raise UserError(f"toysim {command}: --{err}") from None


def check_counts(command: str, **counts: int | None) -> None:
    """Each count given (``None``: not given) is >= 1; ``chunk=0`` -> ``--chunk must be ...``."""
    for name, value in counts.items():
        if value is not None and value < 1:
            flag = name.replace("_", "-")
            raise UserError(f"toysim {command}: --{flag} must be an integer >= 1; got {value}")


def check_devices(count: int) -> None:
    """``--devices`` between 1 and the cores of this machine (each host device is a core)."""
    cores = os.cpu_count() or 1
    if not 1 <= count <= cores:
        raise UserError(
            f"toysim: --devices must be an integer in [1, {cores}] (this machine's cores); "
            f"got {count}"
        )


def memory_limit(args: argparse.Namespace) -> float | None:
    """``--max-memory`` in bytes (``None``: this machine's available memory)."""
    gb = args.max_memory
    if gb is None:
        return None
    if not (math.isfinite(gb) and gb > 0):
        raise UserError(f"toysim {args.command}: --max-memory must be a number of GB > 0; got {gb}")
    return gb * 1e9


def check_run_memory(args: argparse.Namespace, factory, spec, hp) -> None:
    """Refuse a ``run`` whose trajectory would not fit (see :func:`toysim.memory.run_bytes`)."""
    from toysim.memory import check_memory, run_bytes

    what = f"toysim run: {spec.steps} iterations of {spec.method.name}"
    check_memory(run_bytes(factory, spec, hp, 1), memory_limit(args), what)


def sweep_request(args: argparse.Namespace):
    """``(spec, hparams, grid)`` of a ``sweep`` command line, every part checked (without
    starting JAX, so that a multi-process sweep can still join its cluster).

    Refused: no ``--grid`` (and no recipe), more than two axes, an axis named twice (aliases
    included), an axis over a field the game does not read (``gamma`` with ``rlhf``), seeds or
    chunk below 1.
    """
    from toysim.config import HParams
    from toysim.presets import build
    from toysim.sweep import parse_grid

    check_counts("sweep", seeds=args.seeds, chunk=args.chunk)
    if not args.grid:
        raise UserError(
            "toysim sweep: --grid NAME=SPEC is required (e.g. --grid gamma=0:1:11), "
            "or --recipe NAME"
        )
    if len(args.grid) > 2:
        raise UserError("toysim sweep: at most two --grid axes (run several sweeps for more)")
    axes = [parse_grid(text) for text in args.grid]
    names = [name for name, _ in axes]
    if len(set(names)) < len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise UserError(f"toysim sweep: --grid names {twice} twice (one axis per field)")
    spec, hp = build(args.preset, args.method, gamma=args.gamma, steps=args.steps)
    HParams.check_read(spec, names)
    memory_limit(args)
    return spec, hp, dict(axes)


def check_sweep_memory(args: argparse.Namespace, spec, hp, grid: dict) -> None:
    """Refuse a sweep whose estimated memory (:func:`toysim.memory.sweep_bytes`) is above
    ``--max-memory`` (default: what this machine has available)."""
    from toysim.memory import check_memory, sweep_bytes

    runs = math.prod(len(v) for v in grid.values()) * args.seeds
    what = f"toysim sweep: {runs} runs of {spec.steps} iterations"
    estimate = sweep_bytes([(spec, hp)], runs, args.chunk, args.devices or 1)
    check_memory(estimate, memory_limit(args), what)
