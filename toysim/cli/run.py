"""``toysim run``: trajectories of one preset, as a table or JSON lines."""

from __future__ import annotations

import argparse
import json

from toysim.cli.checks import check_run_memory, check_seed
from toysim.cli.parser import UserError
from toysim.presets import DEFAULT_PRESET

DEFAULT_METHODS = ("rlhf", "fpo-exact", "fpo-relaxed", "fpo-practical")


def run_command(args: argparse.Namespace) -> int:
    """``toysim run``: one row per method; returns the exit status."""
    import jax

    from toysim.config import validate
    from toysim.experiments.runner import run_seed, trajectory_factory
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
        spec, hp = build(args.preset, name, gamma=args.gamma, steps=args.steps, **switches)
        validate(spec, hp)
        check_run_memory(args, trajectory_factory(spec), spec, hp)
        trajectory = run_seed(spec, hp, args.seed)
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
                differences=preset_differences(spec, hp, reference_preset(args.preset)),
                config=describe(spec, hp),
            )
        )
    return emit(rows, args.json, format_table)


def reference_preset(preset: str) -> str:
    """The preset a run's settings are compared with: a sampled-buffer preset with itself
    (its game differs from paper-linear's in every field), a linear one with paper-linear."""
    from toysim.presets import PRESETS

    return preset if PRESETS[preset].sampled else DEFAULT_PRESET


def last_value(trajectory, field: str) -> float | None:
    """The final value of ``field`` if this kind of trajectory records it."""
    values = getattr(trajectory, field, None)
    return None if values is None else float(values[-1])


def unconverged_solves(trajectory) -> int | None:
    """How many of the run's curvature solves did not converge (``None`` if it records none)."""
    converged = getattr(trajectory, "solve_converged", None)
    return None if converged is None else int((~converged).sum())


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
    return header + "\n" + "\n".join(lines + warnings)
