"""``toysim run``: trajectories of one preset, as a table or JSON lines."""

from __future__ import annotations

import argparse
import json
import math

from toysim.cli.checks import check_run_memory, check_seed
from toysim.cli.parser import UserError
from toysim.presets import DEFAULT_PRESET

DEFAULT_METHODS = ("rlhf", "fpo-exact", "fpo-relaxed", "fpo-practical")


def run_command(args: argparse.Namespace) -> int:
    """``toysim run``: one row per method (or one expert-iteration row); the exit status."""
    import jax

    from toysim import make_trajectory
    from toysim.cli.pieces import compose_game
    from toysim.config import validate
    from toysim.experiments.runner import run_seed
    from toysim.presets import preset_differences
    from toysim.provenance import describe

    switches = dict(hessian=args.hessian, influence=args.influence, params=args.params)
    switches.update(oracle=args.oracle, rung_steps=args.rung_steps)
    check_run_pieces(args, switches)
    check_seed("run", args.seed)
    methods = [args.method] if args.method else list(DEFAULT_METHODS)
    if args.leader == "expert":
        methods = ["rlhf"]  # the game's method is not used: gamma 0, no steering
    # every row refused up front
    games = [compose_game("run", args, name, switches) for name in methods]
    for _, _, spec, hp in games:
        validate(spec, hp)
        check_run_memory(args, make_trajectory, spec, hp)
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
                pairing=game.pairing if getattr(game, "data", None) == "pairs" else None,
                candidates=getattr(game, "candidates", None),
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
                unconverged_optima=unconverged_solves(trajectory, "optimum"),
                precision=args.precision,
                jax_version=jax.__version__,
                differences=preset_differences(game, game_hp, reference_preset(args.preset)),
                config=describe(spec, hp),
            )
        )
    return emit(rows, args.json, format_table)


def check_run_pieces(args: argparse.Namespace, switches: dict) -> None:
    """Refuse ``--gamma`` or a switch without ``--method`` (``run`` compares four methods by
    default, each with its own weight), then the composition flags
    (:func:`toysim.cli.pieces.check_pieces`)."""
    from toysim.cli.pieces import check_pieces

    if args.leader != "expert" and args.method is None:
        if args.gamma is not None or any(switches.values()):
            raise UserError(
                "toysim run: --gamma and the switches need --method (e.g. --method fpo)"
            )
    check_pieces("run", args, gradient=("method", "gamma", *switches))


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


def unconverged_solves(trajectory, field: str = "solve") -> int | None:
    """How many of the run's solves did not converge (``None`` if it records none): its
    curvature solves (``field = solve``) or, with ``params = optimum`` in the sampled-buffer
    game, its best responses (``optimum``)."""
    info = getattr(trajectory, field, None)
    return None if info is None else int((~info.converged).sum())


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
