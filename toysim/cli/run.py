"""``toysim run``: trajectories of one preset, as a table or JSON lines."""

from __future__ import annotations

import argparse
import json

from toysim.cli.checks import check_run_memory, check_seed
from toysim.cli.parser import UserError
from toysim.config import validate
from toysim.presets import DEFAULT_PRESET

DEFAULT_METHODS = ("rlhf", "fpo-exact", "fpo-relaxed", "fpo-practical")


def run_command(args: argparse.Namespace) -> int:
    """``toysim run``: one row per method; returns the exit status."""
    import jax

    from toysim.game.pairwise import NEURAL_PRESETS
    from toysim.game.trajectory import make_trajectory, simulate
    from toysim.presets import build, preset_differences
    from toysim.provenance import describe

    switches = dict(hessian=args.hessian, influence=args.influence, params=args.params)
    switches["oracle"] = args.oracle
    if args.method is None and (args.gamma is not None or any(switches.values())):
        raise UserError("toysim run: --gamma and the switches need --method (e.g. --method fpo)")
    check_seed("run", args.seed)
    methods = [args.method] if args.method else list(DEFAULT_METHODS)
    rows = []
    for name in methods:
        if args.preset in NEURAL_PRESETS:
            spec, hp, trajectory, differences = run_neural(name, args, switches)
        else:
            spec, hp = build(args.preset, name, gamma=args.gamma, steps=args.steps, **switches)
            validate(spec, hp)
            check_run_memory(args, make_trajectory, spec, hp)
            trajectory = simulate(spec, hp, args.seed)
            differences = preset_differences(spec, hp)
        m = spec.method
        rows.append(
            dict(
                preset=args.preset,
                method=m.name,
                hessian=m.hessian if m.foresight else None,
                influence=m.influence if m.foresight else None,
                params=m.params,
                oracle=m.oracle if m.foresight else None,
                gamma=float(hp.gamma),
                seed=args.seed,
                steps=spec.steps,
                final_signal=float(trajectory.signal[-1]),
                final_noise=float(trajectory.noise[-1]),
                final_utility=float(trajectory.utility[-1]),
                max_utility=float(trajectory.utility.max()),
                final_expected_utility=last_value(trajectory, "expected_utility"),
                final_proxy_reward=float(trajectory.proxy_reward[-1]),
                final_steering_norm=last_value(trajectory, "steering_norm"),
                unconverged_solves=unconverged_solves(trajectory),
                precision=args.precision,
                jax_version=jax.__version__,
                differences=differences,
                config=describe(spec, hp),
            )
        )
    return emit(rows, args.json, format_table)


def last_value(trajectory, field: str) -> float | None:
    """The final value of ``field`` if this kind of trajectory records it."""
    values = getattr(trajectory, field, None)
    return None if values is None else float(values[-1])


def unconverged_solves(trajectory) -> int | None:
    """How many of the run's curvature solves did not converge (``None`` if it records none)."""
    converged = getattr(trajectory, "solve_converged", None)
    return None if converged is None else int((~converged).sum())


def run_neural(name: str, args: argparse.Namespace, switches: dict):
    """One run of a sampled-buffer preset (paper-nn, pairwise-*): ``(spec, hparams, trajectory,
    differences)``, the last the fields that differ from the preset's
    (:func:`toysim.provenance.describe_differences`)."""
    import dataclasses

    from toysim.experiments.runner import run_seed, validate_game
    from toysim.game.neural import make_neural_trajectory
    from toysim.game.pairwise import NEURAL_PRESETS
    from toysim.provenance import describe_differences

    spec, hp = preset = NEURAL_PRESETS[args.preset](name, **switches)
    if args.steps is not None:
        spec = dataclasses.replace(spec, steps=args.steps)
    if args.gamma is not None:
        hp = hp._replace(gamma=args.gamma)
    validate_game(spec, hp)
    check_run_memory(args, make_neural_trajectory, spec, hp)
    trajectory = run_seed(spec, hp, args.seed, make_neural_trajectory)
    return spec, hp, trajectory, describe_differences(spec, hp, *preset)


def emit(rows: list[dict], as_json: bool, formatter) -> int:
    """Print one JSON object per row, or the formatted report; exit status 0."""
    if as_json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(formatter(rows))
    return 0


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
    shown = {"method", "gamma", "steps"}  # columns and header
    changed = {k: v for row in rows for k, v in row["differences"].items() if k not in shown}
    if changed:
        from toysim.game.pairwise import NEURAL_PRESETS

        neural = first["preset"] in NEURAL_PRESETS
        reference = f"the {first['preset']} preset" if neural else DEFAULT_PRESET
        settings = ", ".join(f"{k} {v}" for k, v in changed.items())
        header += f"\nsettings that differ from {reference}: {settings}"
    warnings = [
        f"warning: {row['method']}: {row['unconverged_solves']} of {row['steps']} curvature "
        "solves did not converge (see docs/theory/exact-fpo.md)"
        for row in rows
        if row.get("unconverged_solves")
    ]
    return header + "\n" + "\n".join(lines + warnings)
