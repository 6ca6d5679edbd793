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
from typing import NamedTuple

from toysim.cli.parser import UserError, check_counts
from toysim.config import ConfigError


def check_seed(command: str, seed: int) -> None:
    """``seed`` in ``[0, 2**63)``, the seeds :func:`toysim.seeds.seed_keys` takes."""
    from toysim.seeds import checked_seed

    try:
        checked_seed(seed)
    except ConfigError as err:
        raise UserError(f"toysim {command}: --{err}") from None


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


class SweepRequest(NamedTuple):
    """What a ``sweep`` command line asks for, checked.

    Attributes:
      game, game_hp: the preset's game with the method and data flags.
      spec, hp: what each run is (a composition of the game when a leader or mitigation flag
        or a composition's grid axis asks for one, else the game).
      grid: axis -> values, in the order given.
      programs: ``(spec, hp)`` of each compiled program (one per combination of static
        values; :func:`toysim.sweeps.grid.static_points`).
    """

    game: object
    game_hp: tuple
    spec: object
    hp: tuple
    grid: dict
    programs: list


def sweep_request(args: argparse.Namespace) -> SweepRequest:
    """Every part of a ``sweep`` command line checked (without starting JAX, so that a
    multi-process sweep can still join its cluster).

    Refused: no ``--grid`` (and no recipe), more than two axes, an axis named twice (aliases
    included), an axis over a field no run reads (``gamma`` with ``rlhf``, ``patience``
    without a gold budget), a composition flag without its piece or beside a grid axis over
    the same field (:func:`toysim.cli.pieces.check_pieces`), a value an axis's field does not
    allow, a static axis whose values are not whole numbers or whose programs are invalid,
    seeds or chunk below 1.
    """
    from toysim.cli.pieces import check_pieces, compose_game
    from toysim.config import validate
    from toysim.sweeps.grid import (
        axis_name,
        composition_axis,
        grid_values,
        is_static,
        resolve_grid,
        with_axis,
    )

    check_counts("sweep", seeds=args.seeds, chunk=args.chunk)
    if not args.grid:
        raise UserError(
            "toysim sweep: --grid NAME=SPEC is required (e.g. --grid gamma=0:1:11), "
            "or --recipe NAME"
        )
    if len(args.grid) > 2:
        raise UserError("toysim sweep: at most two --grid axes (run several sweeps for more)")
    texts = [grid_values(text) for text in args.grid]
    pieces = {composition_axis(name): values for name, values in texts}
    pieces.pop(None, None)
    check_pieces("sweep", args, gradient=("method", "gamma"), axes=pieces)
    method = args.method or "rlhf"
    game, game_hp, spec, hp = compose_game("sweep", args, method, {}, force=bool(pieces))
    names = [axis_name(name, hp) for name, _ in texts]
    if len(set(names)) < len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise UserError(f"toysim sweep: --grid names {twice} twice (one axis per field)")
    grid = {name: values for name, (_, values) in zip(names, texts, strict=True)}
    resolved = resolve_grid(spec, hp, grid)
    for (typed, values), axis in zip(texts, names, strict=True):
        try:  # the base numbers are valid (compose_game): a refusal is the axis's
            if not is_static(axis):
                validate(spec, with_axis(hp, axis, values))
        except ConfigError as err:
            raise UserError(f"toysim sweep: --grid {typed}: {err}") from None
    for program, _ in resolved.points if resolved.static else ():
        try:
            program.validate()
        except ConfigError as err:
            at = [f"{a} = {getattr(program, 'max_n' if a == 'n' else a)}" for a in resolved.static]
            raise UserError(f"toysim sweep: at --grid {', '.join(at)}: {err}") from None
    memory_limit(args)
    return SweepRequest(game, game_hp, spec, hp, grid, resolved.points)


def check_sweep_memory(args: argparse.Namespace, request: SweepRequest, chunk: int) -> None:
    """Refuse a sweep whose estimated memory (:func:`toysim.memory.sweep_bytes`) is above
    ``--max-memory`` (default: what this machine has available)."""
    from toysim.memory import check_memory, sweep_bytes
    from toysim.sweeps.grid import is_static

    runs = math.prod(len(v) for k, v in request.grid.items() if not is_static(k)) * args.seeds
    total = runs * len(request.programs)
    what = f"toysim sweep: {total} runs of {request.spec.steps} iterations"
    estimate = sweep_bytes(request.programs, runs, chunk, args.devices or 1)
    check_memory(estimate, memory_limit(args), what)
