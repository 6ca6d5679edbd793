"""The commands other than ``run``: sweep, figures, animate, reproduce, bench, explorer-data."""

from __future__ import annotations

import argparse
import signal
import sys

from toysim.cli.checks import check_seed, check_sweep_memory, sweep_request
from toysim.cli.parser import UserError, check_counts
from toysim.cli.run import emit


def bench_command(args: argparse.Namespace) -> int:
    """``toysim bench``: the benchmark rows as a report or JSON lines."""
    from toysim import bench

    chunk = {} if args.chunk is None else {"chunk": args.chunk}
    repeats = args.repeats if args.repeats is not None else (3 if args.neural else 5)
    steps = {} if args.steps is None else {"steps": args.steps}
    counts = {"--batch": args.batch, "--numpy-runs": args.numpy_runs, "--repeats": repeats}
    counts.update({"--seeds": args.seeds, "--chunk": args.chunk, "--steps": args.steps})
    for flag, value in counts.items():
        if value is not None and value < 1:
            raise UserError(f"toysim bench: {flag} must be >= 1; got {value}")
    if steps and not args.neural:
        raise UserError("toysim bench: --steps applies to --neural only")
    if args.sweep:
        results = bench.run_sweep_benchmark(args.seeds, args.numpy_runs, repeats, **chunk)
        report = bench.format_sweep_report
    elif args.scale:
        results, report = bench.run_scale_benchmark(), bench.format_scale_report
    elif args.neural:
        from toysim import bench_neural

        widths = {} if args.precision is None else {"precisions": (args.precision,)}
        results = bench_neural.run_neural_benchmark(repeats=repeats, **steps, **widths)
        report = bench_neural.format_neural_report
    else:
        results = bench.run_benchmark(args.batch, args.numpy_runs, repeats, **chunk)
        report = bench.format_report
    return emit(results, args.json, report)


def sweep_command(args: argparse.Namespace) -> int:
    """``toysim sweep``: a grid times seeds, saved chunk by chunk, then with its sidecar and drawn.

    SIGINT / SIGTERM stop it with one line (what was saved, the command that resumes) and exit
    status 130 / 143.
    """
    from toysim.cli.sweep_flow import Interrupted, interrupted_line, stop_on_signals

    state: dict = {}
    try:
        with stop_on_signals():
            return _sweep(args, state)
    except Interrupted as err:
        argv = getattr(args, "argv", sys.argv[1:])
        print(interrupted_line(err, state.get("store"), argv), file=sys.stderr)
        return 128 + err.signum


def _sweep(args: argparse.Namespace, state: dict) -> int:
    """The sweep itself: checks, cluster, plan, the missing chunks saved one by one, result."""
    from toysim.cli.run import reference_preset
    from toysim.cli.sweep_flow import (
        Interrupted,
        identify,
        open_store,
        start_cluster,
        write_result,
    )
    from toysim.presets import RECIPES, preset_differences
    from toysim.safeio import OutputError, check_output_dir
    from toysim.sweep import default_chunk, plan_sweep, run_chunks
    from toysim.sweeps import cluster

    if args.recipe:
        recipe = RECIPES[args.recipe]
        args.preset, args.method, args.grid = recipe.preset, recipe.method, list(recipe.grid)
    if args.force and args.resume:
        raise UserError("toysim sweep: --force (start again) and --resume exclude each other")
    request = sweep_request(args)
    try:
        out = check_output_dir(args.out)
    except OutputError as err:
        raise UserError(f"toysim sweep: {err}") from None
    chunk = args.chunk or default_chunk(request.spec)
    start_cluster(args)
    check_sweep_memory(args, request, chunk)
    plan = plan_sweep(
        request.spec, request.hp, request.grid, args.seeds, collapse_drop=args.collapse_drop,
        chunk_size=chunk,
    )  # fmt: skip
    name, manifest = identify(args, plan, request.grid)
    reference = reference_preset(args.preset)
    differences = preset_differences(request.game, request.game_hp, reference)
    plan.config.update(preset=args.preset, differences=differences)
    start = open_store(args, out / name, manifest)
    if start.complete:
        print(f"toysim sweep: {out / name}.npz is already complete; nothing to resume")
        return 0
    state["store"] = start.store
    writer = cluster.is_writer()
    chunks = run_chunks(plan, start.todo)
    if writer and sys.stderr.isatty():
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc="sweep", unit="chunk", total=len(start.todo))
    for step, (i, outputs) in enumerate(chunks):
        if writer:
            start.store.save(i, outputs)
        if cluster.preempted(step):  # SIGTERM on a cluster: every process stops after this chunk
            raise Interrupted(signal.SIGTERM)
    if writer:
        print(write_result(args, plan, start.store, out / name))
    return 0


def figures_command(args: argparse.Namespace) -> int:
    """``toysim figures``: regenerate (or list) the registered figures in ``--jobs`` processes,
    or make slides of them (``--slides``, :mod:`toysim.plots.slides`, in this process).

    A figure that raises stops the command with one line naming it (exit status 1).
    """
    from contextlib import nullcontext

    from tqdm import tqdm

    from toysim.figure_workers import make_figures_in_workers
    from toysim.figures import FIGURES, FigureError, default_figures
    from toysim.plots import slides

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
    if args.slides:
        refused = [name for name in args.only or () if not slides.is_picture(name)]
        if refused:
            allowed = ", ".join(name for name in FIGURES if slides.is_picture(name))
            raise UserError(
                f"toysim figures: --slides makes pictures, and {refused[0]!r} is a table or an "
                f"animation; allowed: {allowed}"
            )
    check_counts("figures", jobs=args.jobs)
    out = args.out or (slides.SLIDES_FOLDER if args.slides else "figures")
    from toysim.safeio import OutputError, check_output_dir

    try:
        check_output_dir(out)  # before anything is computed
    except OutputError as err:
        raise UserError(f"toysim figures: {err}") from None
    names = args.only or list(slides.DEFAULT_SLIDES if args.slides else default_figures())
    jobs = 1 if args.slides else args.jobs  # the slides' style is this process's
    made = make_figures_in_workers(out, args.quick, names, jobs)
    total, width = len(set(names)), max(map(len, names))
    written = []
    with (
        slides.slide_style() if args.slides else nullcontext(),
        tqdm(total=total, unit="figure", file=sys.stderr, disable=not sys.stderr.isatty()) as bar,
    ):
        try:
            for name, seconds, paths in made:
                tqdm.write(f"{name:<{width}}  {seconds:6.1f} s", file=sys.stdout)
                written += paths
                bar.update()
        except FigureError as err:
            print(f"error: toysim figures: {str(err).splitlines()[0]}", file=sys.stderr)
            return 1
    print(f"wrote {len(written)} files to {out}/")
    return 0


def animate_command(args: argparse.Namespace) -> int:
    """``toysim animate``: the phase-space animation as GIF or MP4."""
    from toysim.animate import AnimationError, animate_phase_space, output_format
    from toysim.experiments.animation import ANIMATION_METHODS

    check_seed("animate", args.seed)
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


def reproduce_command(args: argparse.Namespace) -> int:
    """``toysim reproduce``: the published medians beside toysim's."""
    from toysim.reproduce import format_neural_rows, format_rows, neural_rows, reproduction_rows

    if args.seeds < 1:
        raise UserError(f"toysim reproduce: --seeds must be >= 1; got {args.seeds}")
    if args.neural:
        return emit(neural_rows(args.seeds), args.json, format_neural_rows)
    return emit(reproduction_rows(args.seeds), args.json, format_rows)


def explorer_data_command(args: argparse.Namespace) -> int:
    """``toysim explorer-data``: the JSON of the browser pages (explorer and theory widgets)."""
    from pathlib import Path

    from toysim.explorer import write_explorer_data

    if Path(args.out).suffix != ".json" or Path(args.out).is_dir():
        raise UserError(f"toysim explorer-data: --out must name a .json file; got {args.out!r}")
    path = write_explorer_data(args.out)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0
