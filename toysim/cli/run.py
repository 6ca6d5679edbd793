"""``toysim run``: trajectories of one preset, as a table or JSON lines."""

from __future__ import annotations

import argparse
import json
import math

from toysim.cli.checks import check_counts, check_run_memory, check_seed
from toysim.cli.parser import UserError
from toysim.presets import DEFAULT_PRESET

DEFAULT_METHODS = ("rlhf", "fpo-exact", "fpo-relaxed", "fpo-practical")


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
}
"""The flag of each composition field, for errors that name the flag."""
EXPERT_FLAGS = ("n", "groups", "spread", "expert_step")
STOP_FLAGS = ("patience", "check_every", "gold_noise")


def run_command(args: argparse.Namespace) -> int:
    """``toysim run``: one row per method (or one expert-iteration row); the exit status."""
    import jax

    from toysim.config import validate
    from toysim.experiments.runner import run_seed, trajectory_factory
    from toysim.presets import preset_differences
    from toysim.provenance import describe

    switches = dict(hessian=args.hessian, influence=args.influence, params=args.params)
    switches["oracle"] = args.oracle
    check_pieces(args, switches)
    check_seed("run", args.seed)
    methods = [args.method] if args.method else list(DEFAULT_METHODS)
    if args.leader == "expert":
        methods = ["rlhf"]  # the game's method is not used: gamma 0, no steering
    games = [run_game(args, name, switches) for name in methods]  # every row refused up front
    for _, _, spec, hp in games:
        validate(spec, hp)
        check_run_memory(args, trajectory_factory(spec), spec, hp)
    rows = []
    for game, game_hp, spec, hp in games:
        trajectory = run_seed(spec, hp, args.seed)
        m = spec.method
        stopping = stop_fields(trajectory)
        rows.append(
            dict(
                preset=args.preset,
                method=m.name,
                hessian=m.hessian if m.foresight else None,
                influence=m.influence if m.foresight else None,
                params=m.params,
                oracle=m.oracle if m.foresight else None,
                gamma=float(game_hp.gamma),
                leader=args.leader,
                members=args.members,
                aggregate=args.aggregate or "mean",
                gold_budget=args.gold_budget,
                regime=getattr(game, "regime", None),
                labels=game.labels if getattr(game, "data", None) == "pairs" else None,
                seed=args.seed,
                steps=game.steps,
                final_signal=float(trajectory.signal[-1]),
                final_noise=float(trajectory.noise[-1]),
                final_utility=float(trajectory.utility[-1]),
                max_utility=float(trajectory.utility.max()),
                final_expected_utility=last_value(trajectory, "expected_utility"),
                final_proxy_reward=float(trajectory.proxy_reward[-1]),
                final_steering_norm=last_value(trajectory, "steering_norm"),
                final_kl=last_value(trajectory, "kl"),
                **stopping,
                unconverged_solves=unconverged_solves(trajectory),
                unconverged_optima=unconverged_solves(trajectory, "optimum_converged"),
                precision=args.precision,
                jax_version=jax.__version__,
                differences=preset_differences(game, game_hp, reference_preset(args.preset)),
                config=describe(spec, hp),
            )
        )
    return emit(rows, args.json, format_table)


def check_pieces(args: argparse.Namespace, switches: dict) -> None:
    """Refuse, in one line naming the flag, a combination of ``toysim run``'s flags that
    does not exist: a flag of one leader, game or rule used without it."""
    from toysim.presets import PRESETS

    given = lambda flag: getattr(args, flag) is not None  # noqa: E731
    if args.leader == "expert":
        chosen = [f for f in ("method", "gamma", *switches) if given(f)]
        if chosen:
            raise UserError(
                f"toysim run: --{chosen[0]} chooses the gradient leader; --leader expert has "
                "none (expert iteration keeps the best of n draws)"
            )
    else:
        if args.method is None and (args.gamma is not None or any(switches.values())):
            raise UserError(
                "toysim run: --gamma and the switches need --method (e.g. --method fpo)"
            )
        chosen = [f for f in EXPERT_FLAGS if given(f)]
        if chosen:
            flag = "--" + chosen[0].replace("_", "-")
            raise UserError(f"toysim run: {flag} is expert iteration's; it needs --leader expert")
    chosen = [f for f in STOP_FLAGS if given(f)]
    if chosen and not args.gold_budget:
        flag = "--" + chosen[0].replace("_", "-")
        raise UserError(f"toysim run: {flag} is early stopping's; it needs --gold-budget > 0")
    sampled = PRESETS[args.preset].sampled
    pairs = sampled and PRESETS[args.preset].spec.get("data") == "pairs"
    if args.labels is not None and not pairs:
        raise UserError(
            f"toysim run: --labels applies to the pairwise presets; {args.preset} labels "
            "outputs with U(y)"
        )
    if args.spread is not None and sampled:
        raise UserError(
            "toysim run: --spread applies to the linear presets; the sampled-buffer game "
            "samples with its own spread schedule"
        )
    check_counts("run", members=args.members, n=args.n, groups=args.groups)
    if args.aggregate is not None and args.members < 2:
        raise UserError(
            "toysim run: --aggregate combines an ensemble's rewards; it needs --members > 1"
        )
    if args.gold_budget < 0:
        raise UserError(
            f"toysim run: --gold-budget must be an integer >= 0; got {args.gold_budget}"
        )


def run_game(args: argparse.Namespace, name: str, switches: dict):
    """``(game, game_hp, spec, hp)``: the preset's game with ``name`` and the data flags, and
    what runs (a :class:`~toysim.game.composition.Composition` of it when a leader or
    mitigation flag asks for one, else the game itself)."""
    import dataclasses

    from toysim.config import ConfigError
    from toysim.presets import STOP_DEFAULTS, build, compose

    game, game_hp = build(args.preset, name, gamma=args.gamma, steps=args.steps, **switches)
    data = {k: getattr(args, k) for k in ("regime", "labels") if getattr(args, k) is not None}
    if data:
        game = dataclasses.replace(game, **data)
        try:
            game.validate()  # the population follower has no buffer: window only
        except ConfigError as err:
            raise flag_error(err) from None
    if args.leader == "gradient" and args.members == 1 and not args.gold_budget:
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
        raise flag_error(err) from None
    return game, game_hp, spec, hp


def flag_error(err: Exception) -> Exception:
    """A :class:`ConfigError` on a field a flag sets, as the :class:`UserError` naming the
    flag (``regime must be ...`` -> ``toysim run: --regime must be ...``); else ``err``."""
    field, _, rest = str(err).partition(" ")
    return UserError(f"toysim run: {FLAGS[field]} {rest}") if field in FLAGS else err


def reference_preset(preset: str) -> str:
    """The preset a run's settings are compared with: a sampled-buffer preset with itself
    (its game differs from paper-linear's in every field), a linear one with paper-linear."""
    from toysim.presets import PRESETS

    return preset if PRESETS[preset].sampled else DEFAULT_PRESET


def last_value(trajectory, field: str) -> float | None:
    """The final value of ``field`` if this kind of trajectory records it."""
    values = getattr(trajectory, field, None)
    return None if values is None else float(values[-1])


def stop_fields(trajectory) -> dict:
    """A run's early stopping: ``stopped``, ``gold_spent``, ``stop_iteration`` (the iteration
    whose check stopped the leader, else ``None``) and ``best_check`` (the iteration of the
    check with the best gold estimate: once stopped, the one the leader rolled back to;
    ``None`` before any check); all ``None`` for a run that records no stopping."""
    from toysim import stop_iteration

    if getattr(trajectory, "stopped", None) is None:
        return dict(stopped=None, gold_spent=None, stop_iteration=None, best_check=None)
    stop, best = int(stop_iteration(trajectory.stopped)), int(trajectory.best_check[-1])
    return dict(
        stopped=stop > 0,
        gold_spent=last_value(trajectory, "gold_spent"),
        stop_iteration=stop or None,
        best_check=best or None,
    )


def unconverged_solves(trajectory, field: str = "solve_converged") -> int | None:
    """How many of the run's solves did not converge (``None`` if it records none): its
    curvature solves (``field = solve_converged``) or, with ``params = optimum`` in the
    sampled-buffer game, its best responses (``optimum_converged``)."""
    converged = getattr(trajectory, field, None)
    return None if converged is None else int((~converged).sum())


def emit(rows: list[dict], as_json: bool, formatter) -> int:
    """Print one JSON object per row (a non-finite number as the string ``"inf"``, ``"-inf"``
    or ``"nan"``: JSON has none), or the formatted report; exit status 0."""
    if as_json:
        for row in rows:
            print(json.dumps(finite_json(row), allow_nan=False))
    else:
        print(formatter(rows))
    return 0


def finite_json(value):
    """``value`` with every non-finite float replaced by its name (``inf``, ``-inf``, ``nan``)."""
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def stop_summary(row: dict) -> str:
    """One row's early stopping in words: where it stopped and which check it rolled back to,
    or that it ran on."""
    spent = f"{row['gold_spent']:.0f} gold labels"
    if not row["stopped"]:
        return f"{row['method']} ran on after {spent}"
    return (
        f"{row['method']} stopped at iteration {row['stop_iteration']} after {spent}, rolled "
        f"back to the check at iteration {row['best_check']}"
    )


def format_table(rows: list[dict]) -> str:
    """The ``run`` rows as an aligned text table."""
    columns = [
        ("method", "method", "{}"),
        ("gamma", "gamma", "{:.4g}"),
        ("final_signal", "signal", "{:.3f}"),
        ("final_noise", "noise", "{:.3f}"),
        ("final_utility", "utility", "{:.3f}"),
        ("max_utility", "max utility", "{:.3f}"),
        ("final_expected_utility", "E[U]", "{:.3f}"),
        ("final_proxy_reward", "proxy reward", "{:.3f}"),
    ]
    cells = [[title for _, title, _ in columns]]
    cells += [
        [fmt.format(row[key]) if row[key] is not None else "-" for key, _, fmt in columns]
        for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]

    def line(row: list[str]) -> str:
        padded = [row[0].ljust(widths[0])]
        padded += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "  ".join(padded)

    lines = [line(row) for row in cells]
    lines.insert(1, "-" * len(lines[0]))
    first = rows[0]
    header = (
        f"preset {first['preset']}, seed {first['seed']}, {first['steps']} iterations "
        "(final values)"
    )
    pieces = []
    if first.get("leader") == "expert":
        pieces.append("expert iteration")
    if first.get("members", 1) > 1:
        pieces.append(f"an ensemble of {first['members']} ({first['aggregate']})")
    if first.get("gold_budget"):
        stopped = ", ".join(stop_summary(row) for row in rows)
        pieces.append(f"early stopping on {first['gold_budget']} gold labels a check ({stopped})")
    if pieces:
        header += "\nwith " + "; ".join(pieces)
    shown = {"method", "gamma", "steps"}  # columns and header
    changed = {k: v for row in rows for k, v in row["differences"].items() if k not in shown}
    if changed:
        reference = reference_preset(first["preset"])
        reference = f"the {reference} preset" if reference == first["preset"] else reference
        settings = ", ".join(f"{k} {v}" for k, v in changed.items())
        header += f"\nsettings that differ from {reference}: {settings}"
    warnings = [
        f"warning: {row['method']}: {row['unconverged_solves']} of {row['steps']} curvature "
        "solves did not converge (see docs/theory/exact-fpo.md)"
        for row in rows
        if row.get("unconverged_solves")
    ]
    warnings += [
        f"warning: {row['method']}: {row['unconverged_optima']} of {row['steps']} best "
        "responses did not converge (see docs/theory/pairwise.md)"
        for row in rows
        if row.get("unconverged_optima")
    ]
    return header + "\n" + "\n".join(lines + warnings)
