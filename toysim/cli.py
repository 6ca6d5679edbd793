"""Command line: ``toysim COMMAND`` or ``python -m toysim COMMAND``.

Commands: run, sweep, figures, animate, explorer-data, reproduce, bench.

The command line is an application, not the library: it turns on float64
(``--precision 64``, the default) before any computation. On a user error it
prints one line to stderr and exits with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from toysim.config import HESSIAN, INFLUENCE, METHODS, ORACLE, PARAMS, ConfigError

DEFAULT_METHODS = ("rlhf", "fpo-exact", "fpo-relaxed", "fpo-practical")


class UserError(Exception):
    """A mistake in the command line; reported in one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage block
        raise UserError(f"{self.prog}: {message} (see --help)")


def _parser() -> argparse.ArgumentParser:
    import toysim
    from toysim.presets import PRESETS, RECIPES

    parser = _Parser(prog="toysim", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"toysim {toysim.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run trajectories and print a comparison table")
    run.add_argument("--preset", default="paper-linear", choices=[*PRESETS, "paper-nn"])
    run.add_argument(
        "--method",
        choices=list(METHODS),
        help="leader method (default: rlhf, fpo-exact, fpo-relaxed and fpo-practical)",
    )
    run.add_argument("--hessian", choices=HESSIAN, help="FPO switch (docs/theory/relaxations.md)")
    run.add_argument("--influence", choices=INFLUENCE, help="FPO switch")
    run.add_argument("--params", choices=PARAMS, help="FPO switch")
    run.add_argument("--oracle", choices=ORACLE, help="FPO switch")
    run.add_argument("--gamma", type=float, help="steering weight (default: see README)")
    run.add_argument("--steps", type=int, help="iterations T (default: the preset's)")
    run.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    run.add_argument("--json", action="store_true", help="print one JSON object per run")
    run.add_argument("--precision", type=int, choices=(32, 64), default=64)

    sweep = sub.add_parser("sweep", help="a grid of hyperparameters times seeds, in one compile")
    sweep.add_argument("--preset", default="paper-linear", choices=list(PRESETS))
    sweep.add_argument("--method", default="rlhf", choices=list(METHODS))
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="NAME=start:stop:num, NAME=log:start:stop:num or NAME=v1,v2 (repeatable; "
        "NAME is an HParams field or c, lr, eta, lambda, wd, bias)",
    )
    sweep.add_argument("--recipe", choices=list(RECIPES), help="a named sweep (overrides the rest)")
    sweep.add_argument("--seeds", type=int, default=32, help="seeds per grid point (default 32)")
    sweep.add_argument("--gamma", type=float, help="steering weight if not on the grid")
    sweep.add_argument("--steps", type=int, help="iterations T (default: the preset's)")
    sweep.add_argument("--collapse-drop", type=float, default=0.2, help="see toysim.sweep")
    sweep.add_argument("--chunk", type=int, default=8192, help="runs per compiled call")
    sweep.add_argument("--out", default="results", help="output folder (default results/)")
    sweep.add_argument("--devices", type=int, help="expose N host CPU devices (XLA flag)")
    sweep.add_argument("--precision", type=int, choices=(32, 64), default=64)

    figures = sub.add_parser("figures", help="regenerate every figure of the notebooks")
    figures.add_argument("--out", default="figures", help="output folder (default figures/)")
    figures.add_argument("--quick", action="store_true", help="fewer seeds, coarser grids (CI)")
    figures.add_argument(
        "--only", action="append", metavar="NAME", help="only this figure (repeatable; see --list)"
    )
    figures.add_argument(
        "--list", action="store_true", help="list the figures' names and descriptions and exit"
    )
    figures.add_argument("--precision", type=int, choices=(32, 64), default=64)

    animate = sub.add_parser("animate", help="the phase-space paths as an animation (GIF or MP4)")
    animate.add_argument("--preset", default="paper-linear", choices=list(PRESETS))
    animate.add_argument(
        "--method",
        action="append",
        choices=list(METHODS),
        help="a method to draw (repeatable; default: rlhf, fpo-exact, fpo-relaxed, fpo-practical)",
    )
    animate.add_argument("--steps", type=int, help="iterations T (default: the preset's)")
    animate.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    animate.add_argument("--fps", type=int, default=15, help="frames per second (default 15)")
    animate.add_argument(
        "--frames", type=int, default=80, help="frames shown, at most T + 1 (default 80)"
    )
    animate.add_argument("--out", required=True, help="FILE.gif (Pillow) or FILE.mp4 (ffmpeg)")
    animate.add_argument("--precision", type=int, choices=(32, 64), default=64)

    reproduce = sub.add_parser(
        "reproduce", help="the reproduction table of the linear toy, measured"
    )
    reproduce.add_argument("--seeds", type=int, default=16, help="seeds per median (default 16)")
    reproduce.add_argument(
        "--neural", action="store_true", help="the paper-nn setting (neural RM) instead"
    )
    reproduce.add_argument("--json", action="store_true", help="print one JSON object per method")
    reproduce.add_argument("--precision", type=int, choices=(32, 64), default=64)

    bench = sub.add_parser("bench", help="time NumPy vs jit vs vmapped trajectories")
    bench.add_argument("--batch", type=int, default=1024, help="seeds in the vmapped batch")
    bench.add_argument("--numpy-runs", type=int, default=3, help="NumPy runs per method")
    bench.add_argument("--repeats", type=int, default=5, help="timed repeats (best is kept)")
    bench.add_argument("--json", action="store_true", help="print one JSON object per row")
    bench.add_argument(
        "--sweep", action="store_true", help="sweep throughput, FLOPs and peak fraction instead"
    )
    bench.add_argument("--scale", action="store_true", help="exact FPO's cost per step against d")
    bench.add_argument("--neural", action="store_true", help="paper-nn run and 5-seed batch times")
    bench.add_argument("--seeds", type=int, default=4096, help="seeds in the --sweep benchmark")
    bench.add_argument(
        "--chunk",
        type=int,
        help="runs per vectorised block (default: 100 kB per [runs, d] array); --sweep: per call",
    )
    bench.add_argument(
        "--devices",
        type=int,
        default=os.cpu_count(),
        help="expose N host CPU devices (XLA flag); default: one per core",
    )
    bench.add_argument("--precision", type=int, choices=(32, 64), default=64)
    explorer = sub.add_parser(
        "explorer-data", help="the (gamma, c) sweep behind the docs' browser explorer"
    )
    explorer.add_argument(
        "--out", default="docs/assets/explorer.json", help="JSON file (default: %(default)s)"
    )
    explorer.add_argument("--precision", type=int, choices=(32, 64), default=64)
    return parser


def _set_host_devices(count: int) -> None:
    """Expose ``count`` CPU devices to XLA; must run before JAX's backend starts."""
    if count < 1:
        raise UserError(f"toysim: --devices must be >= 1; got {count}")
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


def _set_precision(bits: int) -> None:
    import jax

    jax.config.update("jax_enable_x64", bits == 64)


def _run(args: argparse.Namespace) -> int:
    import jax

    from toysim.game.trajectory import simulate
    from toysim.presets import build

    switches = dict(hessian=args.hessian, influence=args.influence, params=args.params)
    switches["oracle"] = args.oracle
    if args.method is None and (args.gamma is not None or any(switches.values())):
        raise UserError("toysim run: --gamma and the switches need --method (e.g. --method fpo)")
    if args.seed < 0:
        raise UserError(f"toysim run: seed must be a non-negative integer; got {args.seed}")
    methods = [args.method] if args.method else list(DEFAULT_METHODS)
    rows = []
    for name in methods:
        if args.preset == "paper-nn":
            spec, hp, trajectory = _run_neural(name, args, switches)
        else:
            spec, hp = build(args.preset, name, gamma=args.gamma, steps=args.steps, **switches)
            trajectory = simulate(spec, hp, args.seed)
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
                final_expected_utility=_last(trajectory, "expected_utility"),
                final_proxy_reward=float(trajectory.proxy_reward[-1]),
                final_steering_norm=_last(trajectory, "steering_norm"),
                precision=args.precision,
                jax_version=jax.__version__,
            )
        )
    return _emit(rows, args.json, _table)


def _last(trajectory, field: str) -> float | None:
    """The final value of ``field`` if this kind of trajectory records it."""
    values = getattr(trajectory, field, None)
    return None if values is None else float(values[-1])


def _run_neural(name: str, args: argparse.Namespace, switches: dict):
    """One paper-nn run: ``(spec, hparams, trajectory)``."""
    import dataclasses

    from toysim.experiments.runner import run_seed
    from toysim.game.neural import make_neural_trajectory, paper_nn

    spec, hp = paper_nn(name, **switches)
    if args.steps is not None:
        if args.steps < 1:
            raise UserError(f"toysim run: steps must be an integer >= 1; got {args.steps}")
        spec = dataclasses.replace(spec, steps=args.steps)
    if args.gamma is not None:
        if args.gamma < 0 or (not spec.method.foresight and args.gamma != 0):
            raise UserError(f"toysim run: gamma must be >= 0 (0 for rlhf); got {args.gamma}")
        hp = hp._replace(gamma=args.gamma)
    return spec, hp, run_seed(spec, hp, args.seed, make_neural_trajectory)


def _emit(rows: list[dict], as_json: bool, formatter) -> int:
    """Print one JSON object per row, or the formatted report; exit status 0."""
    if as_json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(formatter(rows))
    return 0


def _table(rows: list[dict]) -> str:
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
    return header + "\n" + "\n".join(lines)


def _bench(args: argparse.Namespace) -> int:
    from toysim import bench

    chunk = {} if args.chunk is None else {"chunk": args.chunk}
    if min(args.batch, args.numpy_runs, args.repeats, args.seeds, *chunk.values()) < 1:
        raise UserError(
            "toysim bench: --batch, --numpy-runs, --repeats, --seeds and --chunk must be >= 1"
        )
    if args.sweep:
        results = bench.run_sweep_benchmark(args.seeds, args.numpy_runs, args.repeats, **chunk)
        report = bench.format_sweep_report
    elif args.scale:
        results, report = bench.run_scale_benchmark(), bench.format_scale_report
    elif args.neural:
        results, report = bench.run_neural_benchmark(), bench.format_neural_report
    else:
        results = bench.run_benchmark(args.batch, args.numpy_runs, args.repeats, **chunk)
        report = bench.format_report
    return _emit(results, args.json, report)


def _sweep(args: argparse.Namespace) -> int:
    from toysim.plots.sweep_figures import sweep_figure
    from toysim.presets import RECIPES, build
    from toysim.sweep import parse_grid, save_sweep, sweep

    if args.recipe:
        recipe = RECIPES[args.recipe]
        args.preset, args.method, args.grid = recipe.preset, recipe.method, list(recipe.grid)
    if len(args.grid) > 2:
        raise UserError("toysim sweep: at most two --grid axes (run several sweeps for more)")
    grid = dict(parse_grid(text) for text in args.grid)
    spec, hp = build(args.preset, args.method, gamma=args.gamma, steps=args.steps)
    result = sweep(
        spec,
        hp,
        grid,
        args.seeds,
        collapse_drop=args.collapse_drop,
        chunk_size=args.chunk,
        progress=sys.stderr.isatty(),
    )
    name = "_".join([args.preset, spec.method.name, *grid]) if grid else args.preset
    npz, sidecar = save_sweep(result, f"{args.out}/{name}")
    fig, meta = sweep_figure(result, title=f"{args.preset}, {spec.method.name}")
    figure = f"{args.out}/{name}.png"
    fig.savefig(figure, dpi=150)
    runs = result.metrics["final_utility"].size
    print(f"{runs} runs on {result.config['devices']} device(s): {npz}, {sidecar}, {figure}")
    print(
        f"final utility median {np.median(result.metrics['final_utility']):.3f}, "
        f"collapsed {np.mean(result.metrics['collapsed']):.1%} of runs"
    )
    return 0


def _figures(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from toysim.figures import FIGURES, make_figures

    if args.list:
        width = max(map(len, FIGURES))
        for name, figure in FIGURES.items():
            print(f"{name:<{width}}  {figure.description}")
        return 0
    unknown = [name for name in args.only or () if name not in FIGURES]
    if unknown:
        raise UserError(
            f"toysim figures: unknown figure {unknown[0]!r}; allowed: {', '.join(FIGURES)}"
        )
    made = make_figures(args.out, quick=args.quick, names=args.only)
    total = len(set(args.only)) if args.only else len(FIGURES)
    width = max(map(len, args.only or FIGURES))
    written = []
    with tqdm(total=total, unit="figure", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
        for name, seconds, paths in made:
            tqdm.write(f"{name:<{width}}  {seconds:6.1f} s", file=sys.stdout)
            written += paths
            bar.update()
    print(f"wrote {len(written)} files to {args.out}/")
    return 0


def _animate(args: argparse.Namespace) -> int:
    from toysim.animate import AnimationError, animate_phase_space, output_format
    from toysim.experiments.animation import ANIMATION_METHODS

    if args.seed < 0:
        raise UserError(f"toysim animate: seed must be a non-negative integer; got {args.seed}")
    if args.fps < 1 or args.frames < 2:
        raise UserError(
            f"toysim animate: --fps must be >= 1 and --frames >= 2; got {args.fps}, {args.frames}"
        )
    methods = list(dict.fromkeys(args.method)) if args.method else list(ANIMATION_METHODS)
    try:
        output_format(args.out)
        path, meta = animate_phase_space(
            args.out, args.preset, methods, args.seed, args.steps, args.frames, args.fps
        )
    except AnimationError as err:
        raise UserError(f"toysim animate: {err}") from None
    size = path.stat().st_size
    print(f"wrote {path} ({meta['frames']} frames at {args.fps} fps, {size / 1024:.0f} KiB)")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from toysim.reproduce import format_neural_rows, format_rows, neural_rows, reproduction_rows

    if args.seeds < 1:
        raise UserError(f"toysim reproduce: --seeds must be >= 1; got {args.seeds}")
    if args.neural:
        return _emit(neural_rows(args.seeds), args.json, format_neural_rows)
    return _emit(reproduction_rows(args.seeds), args.json, format_rows)


def _explorer_data(args: argparse.Namespace) -> int:
    from pathlib import Path

    from toysim.explorer import write_explorer_data

    if Path(args.out).suffix != ".json" or Path(args.out).is_dir():
        raise UserError(f"toysim explorer-data: --out must name a .json file; got {args.out!r}")
    path = write_explorer_data(args.out)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    from toysim.game.trajectory import NonFiniteTrajectoryError

    try:
        args = _parser().parse_args(argv)
        _set_precision(args.precision)
        if getattr(args, "devices", None):
            _set_host_devices(args.devices)
        commands = {
            "run": _run,
            "sweep": _sweep,
            "figures": _figures,
            "animate": _animate,
            "reproduce": _reproduce,
            "bench": _bench,
            "explorer-data": _explorer_data,
        }
        return commands[args.command](args)
    except (UserError, ConfigError, NonFiniteTrajectoryError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
