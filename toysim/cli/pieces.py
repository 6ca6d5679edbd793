"""The pieces a run composes from the command line: the flags ``toysim run`` and
``toysim sweep`` share to choose the leader, the mitigations and the data (docs/engine.md).

:func:`check_pieces` refuses, in one line naming the flag, a combination that does not exist
(a flag of one leader, game or rule used without it, a flag and a grid axis over the same
field); :func:`compose_game` builds what runs, as :func:`toysim.presets.build` and
:func:`toysim.presets.compose` do, every refusal naming the flag.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Collection, Mapping

from toysim.cli.parser import UserError, check_counts

FLAGS = {
    "n": "--n",
    "groups": "--groups",
    "spread": "--spread",
    "step": "--expert-step",
    "members": "--members",
    "aggregate": "--aggregate",
    "gold_budget": "--gold-budget",
    "patience": "--patience",
    "every": "--check-every",
    "label_noise": "--gold-noise",
    "regime": "--regime",
    "labels": "--labels",
    "pairing": "--pairing",
    "candidates": "--candidates",
}
"""The flag of each composition field, for errors that name the flag."""
AXIS_FLAGS = {
    "n": "n",
    "groups": "groups",
    "expert.spread": "spread",
    "expert.step": "expert_step",
    "members": "members",
    "gold_budget": "gold_budget",
    "stop.patience": "patience",
    "stop.every": "check_every",
    "stop.label_noise": "gold_noise",
}
"""The grid axis of a composition (:mod:`toysim.sweeps.grid`) -> the argument of its flag."""
EXPERT_FLAGS = ("n", "groups", "spread", "expert_step")
STOP_FLAGS = ("patience", "check_every", "gold_noise")
DEFAULTS = {"members": 1, "gold_budget": 0}
"""What ``--members`` and ``--gold-budget`` mean when not given: one model, no early stopping."""


def _flag(argument: str) -> str:
    return "--" + argument.replace("_", "-")


def check_pieces(
    command: str,
    args: argparse.Namespace,
    gradient: Collection[str],
    axes: Mapping[str, Collection[float]] | None = None,
) -> None:
    """Refuse a combination of composition flags (and, for a sweep, grid ``axes``, the
    composition's axes the grid names) that does not exist, in one line naming the flag;
    then fill in :data:`DEFAULTS`.

    Args:
      command: ``run`` or ``sweep`` (the error's prefix).
      args: the parsed command line.
      gradient: the arguments that choose the gradient leader (its method, ``gamma``, the
        FPO switches), refused with ``--leader expert``.
      axes: the grid's composition axes (``members``, ``stop.patience``, ...) and values.
    """
    from toysim.presets import PRESETS

    prefix = f"toysim {command}:"
    given = lambda argument: getattr(args, argument) is not None  # noqa: E731
    axes = axes or {}
    on_grid = {AXIS_FLAGS[a]: a for a in axes}
    for argument, axis in on_grid.items():
        if given(argument):
            raise UserError(
                f"{prefix} {_flag(argument)} and --grid {axis} set the same field; give one"
            )
    expert_pieces = [_flag(f) for f in EXPERT_FLAGS if given(f)]
    expert_pieces += [f"--grid {on_grid[f]}" for f in EXPERT_FLAGS if f in on_grid]
    if args.leader == "expert":
        chosen = [f for f in gradient if given(f)]
        if chosen:
            raise UserError(
                f"{prefix} {_flag(chosen[0])} chooses the gradient leader; --leader expert has "
                "none (expert iteration keeps the best of n draws)"
            )
    elif expert_pieces:
        raise UserError(
            f"{prefix} {expert_pieces[0]} is expert iteration's; it needs --leader expert"
        )
    gold = max(args.gold_budget or 0, *axes.get("gold_budget", [0]))
    stop_pieces = [_flag(f) for f in STOP_FLAGS if given(f)]
    stop_pieces += [f"--grid {on_grid[f]}" for f in STOP_FLAGS if f in on_grid]
    if stop_pieces and gold <= 0:
        raise UserError(
            f"{prefix} {stop_pieces[0]} is early stopping's; it needs --gold-budget > 0"
        )
    sampled = PRESETS[args.preset].sampled
    pairs = sampled and PRESETS[args.preset].spec.get("data") == "pairs"
    for flag in ("labels", "pairing", "candidates"):
        if getattr(args, flag) is not None and not pairs:
            raise UserError(
                f"{prefix} --{flag} applies to the pairwise presets; {args.preset} labels "
                "outputs with U(y)"
            )
    spread = "--spread" if given("spread") else ("--grid spread" if "spread" in on_grid else None)
    if spread and sampled:
        raise UserError(
            f"{prefix} {spread} applies to the linear presets; the sampled-buffer game "
            "samples with its own spread schedule"
        )
    counts = dict(members=args.members, n=args.n, groups=args.groups)
    check_counts(command, **counts, candidates=args.candidates)
    members = max(args.members or 1, *axes.get("members", [1]))
    if args.aggregate is not None and members < 2:
        raise UserError(
            f"{prefix} --aggregate combines an ensemble's rewards; it needs --members > 1"
        )
    if given("gold_budget") and args.gold_budget < 0:
        raise UserError(f"{prefix} --gold-budget must be an integer >= 0; got {args.gold_budget}")
    for argument, default in DEFAULTS.items():
        if not given(argument):
            setattr(args, argument, default)


def composed(args: argparse.Namespace) -> bool:
    """Whether the flags ask for more than the game alone: expert iteration, an ensemble or
    early stopping."""
    return bool(args.leader == "expert" or args.members > 1 or args.gold_budget)


def compose_game(
    command: str,
    args: argparse.Namespace,
    method: str,
    switches: dict,
    force: bool = False,
):
    """``(game, game_hp, spec, hp)``: the preset's game with ``method`` and the data flags,
    and what runs (a :class:`~toysim.game.composition.Composition` of it when a leader or
    mitigation flag asks for one, or ``force``; else the game itself)."""
    from toysim.config import ConfigError
    from toysim.presets import STOP_DEFAULTS, build, compose

    game, game_hp = build(args.preset, method, gamma=args.gamma, steps=args.steps, **switches)
    fields = ("regime", "labels", "pairing", "candidates")
    data = {k: getattr(args, k) for k in fields if getattr(args, k) is not None}
    if data:
        game = dataclasses.replace(game, **data)
        try:
            game.validate()  # the population follower has no buffer: window only
        except ConfigError as err:
            raise flag_error(command, err) from None
    if not (force or composed(args)):
        return game, game_hp, game, game_hp
    numbers = dict(patience=args.patience, every=args.check_every, label_noise=args.gold_noise)
    stop = STOP_DEFAULTS._replace(**{k: v for k, v in numbers.items() if v is not None})
    expert = dict(n=args.n, groups=args.groups, spread=args.spread, step=args.expert_step)
    if args.leader != "expert":
        expert = {}
    try:
        spec, hp = compose(
            game,
            game_hp,
            leader=args.leader,
            members=args.members,
            aggregate=args.aggregate or "mean",
            gold_budget=args.gold_budget,
            stop=stop,
            **expert,
        )
        spec.validate()
        hp.validate(spec)
    except ConfigError as err:
        raise flag_error(command, err) from None
    return game, game_hp, spec, hp


def flag_error(command: str, err: Exception) -> Exception:
    """A :class:`~toysim.config.ConfigError` on a field a flag sets, as the
    :class:`UserError` naming the flag (``regime must be ...`` -> ``toysim run: --regime
    must be ...``); else ``err``."""
    field, _, rest = str(err).partition(" ")
    return UserError(f"toysim {command}: {FLAGS[field]} {rest}") if field in FLAGS else err
