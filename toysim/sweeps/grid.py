"""A sweep's grid: the names an axis may take, its values, and where each value goes.

An axis is either

* **traced**: a number of the run, which every point of the grid shares one compiled program
  for: a field of the game's numbers (:class:`~toysim.config.LinearHParams` or
  :class:`~toysim.game.sampled.SampledHParams`, or a short alias of one, :data:`ALIASES`), or,
  in a :class:`~toysim.game.composition.Composition`, a number of its early-stopping rule or
  of expert iteration (:data:`COMPOSITION_AXES`, named as ``toysim run``'s flags name them);
* **static**: a field of the composition that changes the compiled program's shapes
  (:data:`STATIC_AXES`: expert iteration's draws per group and groups, the ensemble's
  members, the gold budget); each of its values compiles once (:func:`static_points`).

:func:`parse_grid` reads ``NAME=SPEC`` (:func:`grid_values`) and resolves ``NAME``
(:func:`axis_name`; :func:`composition_axis` for a composition's axes alone);
:func:`resolve_grid` checks a whole grid against the game and builds its programs;
:func:`with_axis` puts a column of values into a run's numbers.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from toysim.config import ConfigError, LinearHParams
from toysim.game.composition import Composition, CompositionParams
from toysim.game.sampled import SampledSpec

ALIASES = {
    "c": "action_cost",
    "lr": "leader_lr",
    "eta": "follower_lr",
    "lambda": "lam",
    "wd": "weight_decay",
    "bias": "rm_init_bias",
    "A": "amplitude",
}
"""Short names of the game's numbers (each applies where the game has that field)."""
COMPOSITION_AXES = {
    "patience": "stop.patience",
    "check-every": "stop.every",
    "gold-noise": "stop.label_noise",
    "spread": "expert.spread",
    "expert-step": "expert.step",
}
"""A composition's traced numbers: the ``toysim run`` flag that sets each (without ``--``) ->
the axis, its place in :class:`~toysim.game.composition.CompositionParams`."""
STATIC_AXES = {"n": "n", "groups": "groups", "members": "members", "gold-budget": "gold_budget"}
"""A composition's static fields that a grid may vary: flag -> axis. ``n`` sets both the draws
made (``max_n``) and the draws that compete, so each value is the run ``toysim run --n``
makes."""
STATIC_MINIMUM = {"n": 1, "groups": 1, "members": 1, "gold_budget": 0}
EXPERT_AXES = ("n", "groups", "expert.spread", "expert.step")
"""The axes only expert iteration reads."""
STOP_AXES = ("stop.patience", "stop.every", "stop.label_noise")
"""The axes only early stopping reads."""
MAX_AXIS_VALUES = 10**8
"""The most values one grid axis may hold (refused before the axis is built: 0.8 GB)."""
MAX_PROGRAMS = 64
"""The most compiled programs (combinations of static values) one sweep may need."""


def _flag_form(name: str) -> str:
    """``name`` with ``_`` read as ``-`` if that names a composition axis (``gold_budget``)."""
    dashed = name.replace("_", "-")
    return dashed if dashed in COMPOSITION_AXES or dashed in STATIC_AXES else name


def axis_name(name: str, hp: tuple | None = None) -> str:
    """The axis ``name`` stands for in a sweep of the numbers ``hp`` (default: the linear
    game's :class:`~toysim.config.LinearHParams`): the game's field (``c`` -> ``action_cost``), a
    composition's traced number (``patience`` -> ``stop.patience``) or a static field
    (``gold-budget`` -> ``gold_budget``).

    Raises:
      ConfigError: ``name`` is none of these, or a composition's number while ``hp`` is a
        plain game's.
    """
    composed = isinstance(hp, CompositionParams)
    game = hp.game if composed else hp
    fields = (LinearHParams if game is None else type(game))._fields
    axis = composition_axis(name)
    if axis is not None:
        if not (composed or is_static(axis)):  # a static axis is refused by static_points
            raise ConfigError(
                f"grid {name!r} is a number of a composition (early stopping or expert "
                "iteration); this sweep is of a plain game (toysim.presets.compose adds them)"
            )
        return axis
    field = ALIASES.get(name, name)
    if field not in fields:
        aliases = [f"{k} (= {v})" for k, v in ALIASES.items() if v in fields]
        pieces = [*COMPOSITION_AXES, *STATIC_AXES]
        raise ConfigError(
            f"grid name must be one of {', '.join([*fields, *aliases])}, or a composition's "
            f"{', '.join(pieces)}; got {name!r}"
        )
    return field


def composition_axis(name: str) -> str | None:
    """The composition's axis ``name`` stands for (``gold-budget`` -> ``gold_budget``,
    ``patience`` -> ``stop.patience``), or ``None`` for a game's number."""
    key = _flag_form(name)
    if key in STATIC_AXES or key in STATIC_AXES.values():
        return STATIC_AXES.get(key, key)
    traced = COMPOSITION_AXES.get(key, key)
    return traced if traced in COMPOSITION_AXES.values() else None


def grid_values(text: str) -> tuple[str, np.ndarray]:
    """``(name, values)`` of ``name=start:stop:num`` (evenly spaced, both ends included),
    ``name=log:start:stop:num`` (geometrically spaced) or ``name=v1,v2,...``."""
    name, sep, spec = text.partition("=")
    if not sep or not spec:
        raise ConfigError(f"grid must look like name=start:stop:num or name=v1,v2; got {text!r}")
    count = spec.split(":")[-1].strip() if spec.count(":") in (2, 3) else ""
    if count.isdigit() and int(count) > MAX_AXIS_VALUES:
        raise ConfigError(
            f"grid {name!r}: at most {MAX_AXIS_VALUES:.0e} values per axis; got {int(count)}"
        )
    try:
        parts = spec.split(":")
        if parts[0] == "log" and len(parts) == 4:
            values = np.geomspace(float(parts[1]), float(parts[2]), int(parts[3]))
        elif len(parts) == 3:
            values = np.linspace(float(parts[0]), float(parts[1]), int(parts[2]))
        elif len(parts) == 1:
            values = np.asarray([float(v) for v in spec.split(",")])
        else:
            raise ValueError(spec)
    except ValueError as err:
        raise ConfigError(
            f"grid {name!r}: expected start:stop:num, log:start:stop:num or v1,v2,...; got {spec!r}"
        ) from err
    if values.size < 1:
        raise ConfigError(f"grid {name!r} has no values: {spec!r}")
    return name.strip(), values


def parse_grid(text: str, hp: tuple | None = None) -> tuple[str, np.ndarray]:
    """``(axis, values)`` of ``text`` (:func:`grid_values`), its name resolved by
    :func:`axis_name` for the numbers ``hp``."""
    name, values = grid_values(text)
    return axis_name(name, hp), values


def is_static(axis: str) -> bool:
    """Whether ``axis`` changes the compiled program (one compile per value)."""
    return axis in STATIC_AXES.values()


def with_axis(hp: tuple, axis: str, values) -> tuple:
    """``hp`` with the traced ``axis`` (a game field, ``stop.*`` or ``expert.*``) set to
    ``values`` (in a composition, a game field is ``hp.game``'s)."""
    if isinstance(hp, CompositionParams):
        part, _, field = axis.rpartition(".")
        inner = getattr(hp, part or "game")
        return hp._replace(**{part or "game": inner._replace(**{field: values})})
    return hp._replace(**{axis: values})


def static_points(
    spec, hp: tuple, static: Mapping[str, np.ndarray]
) -> list[tuple[Composition, CompositionParams]]:
    """``(spec, hp)`` at every combination of the static axes' values (the last axis
    fastest): ``n`` sets ``max_n`` and ``hp.expert.n``, the others the composition's field.

    Raises:
      ConfigError: a static axis of a plain game, a value that is not a whole number at
        least the field's minimum, or more than :data:`MAX_PROGRAMS` combinations.
    """
    if not static:
        return [(spec, hp)]
    name = next(iter(static))
    if not isinstance(spec, Composition):
        raise ConfigError(
            f"grid {name!r} is a field of a composition (it changes the compiled program); "
            "this sweep is of a plain game (toysim.presets.compose makes one)"
        )
    for axis, values in static.items():
        low = STATIC_MINIMUM[axis]
        bad = ~(np.isfinite(values) & (values == np.round(values)) & (values >= low))
        if np.any(bad):
            raise ConfigError(
                f"grid {axis!r}: each value must be an integer >= {low} (a static field); got "
                f"{float(values[bad][0])!r}"
            )
    programs = int(np.prod([len(v) for v in static.values()]))
    if programs > MAX_PROGRAMS:
        raise ConfigError(
            f"grid: the static axes ({', '.join(static)}) need {programs} compiled programs, "
            f"one per combination of their values; at most {MAX_PROGRAMS}"
        )
    points = []
    for values in itertools.product(*static.values()):
        fields = {axis: int(v) for axis, v in zip(static, values, strict=True)}
        point_hp = hp
        if "n" in fields:
            fields["max_n"] = fields.pop("n")
            point_hp = hp._replace(expert=hp.expert._replace(n=float(fields["max_n"])))
        points.append((dataclasses.replace(spec, **fields), point_hp))
    return points


def check_read(points: Sequence[tuple], axes: Sequence[str]) -> None:
    """Refuse an axis that no program of ``points`` reads: a game field its game and leader
    ignore (``gamma`` with rlhf or expert iteration, :data:`toysim.rules.HPARAM_READS`), an
    expert number without expert iteration, ``spread`` in the sampled-buffer game (it
    samples with its spread schedule), a stopping number where no program has a gold budget.

    Raises:
      ConfigError: naming the axis and what would read it.
    """
    spec, hp = points[0]
    composed = isinstance(spec, Composition)
    game = spec.game if composed else spec
    view = dataclasses.replace(game, method=spec.method) if composed else game
    numbers = hp.game if composed else hp
    pieces = (*STATIC_AXES.values(), *COMPOSITION_AXES.values())
    type(numbers).check_read(view, [a for a in axes if a not in pieces])
    for axis in axes:
        if axis in EXPERT_AXES and spec.leader != "expert":
            raise ConfigError(f"grid {axis!r} is expert iteration's; it needs leader = expert")
        if axis == "expert.spread" and isinstance(game, SampledSpec):
            raise ConfigError(
                "grid 'expert.spread' applies to the linear game; the sampled-buffer game "
                "samples with its own spread schedule"
            )
        if axis in STOP_AXES and not any(p.gold_budget for p, _ in points):
            raise ConfigError(f"grid {axis!r} is early stopping's; it needs gold_budget > 0")


class Grid(NamedTuple):
    """A grid checked against its game (:func:`resolve_grid`).

    Attributes:
      axes: axis -> values, in the order given.
      static: the static axes among them.
      points: ``(spec, hp)`` of each compiled program (:func:`static_points`).
    """

    axes: dict[str, np.ndarray]
    static: tuple[str, ...]
    points: list[tuple]


def resolve_grid(spec, hp: tuple, grid: Mapping[str, Sequence[float]]) -> Grid:
    """The grid ``name -> values`` over the game ``(spec, hp)``: each name resolved
    (:func:`axis_name`), once each, read by the game (:func:`check_read`), the static axes'
    programs built (:func:`static_points`).

    Raises:
      ConfigError: naming the first axis refused.
    """
    axes: dict[str, np.ndarray] = {}
    for name, values in grid.items():
        axis = axis_name(name, hp)
        if axis in axes:
            raise ConfigError(f"grid names {axis} twice (one axis per field)")
        axes[axis] = np.asarray(values, dtype=float).ravel()
    static = {k: v for k, v in axes.items() if is_static(k)}
    points = static_points(spec, hp, static)
    check_read(points, list(axes))
    return Grid(axes, tuple(static), points)
