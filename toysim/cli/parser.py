"""The argument parser of ``toysim``: every command, option and default."""

from __future__ import annotations

import argparse
import os

from toysim.config import METHODS, SWITCHES

SWITCH_HELP = {"hessian": "FPO switch (docs/theory/exact-fpo.md, the curvature ladder)"}
"""The help of an FPO switch's flag, where it says more than "FPO switch"."""
MAX_MEMORY_HELP = "refuse above this estimated memory (default: this machine's available memory)"


class UserError(Exception):
    """A mistake in the command line; reported in one line."""


def check_counts(command: str, **counts: int | None) -> None:
    """Each count given (``None``: not given) is >= 1; ``chunk=0`` -> ``--chunk must be ...``."""
    for name, value in counts.items():
        if value is not None and value < 1:
            flag = name.replace("_", "-")
            raise UserError(f"toysim {command}: --{flag} must be an integer >= 1; got {value}")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage block
        raise UserError(f"{self.prog}: {message} (see --help)")


def add_composition_arguments(command: argparse.ArgumentParser) -> None:
    """The flags that compose a run (``run`` and ``sweep``): the leader, the mitigations and
    the data (docs/engine.md; :mod:`toysim.cli.pieces` checks and builds them)."""
    from toysim.presets import CHOICES

    pieces = command.add_argument_group("leader, mitigations and data (docs/engine.md)")
    pieces.add_argument(
        "--leader",
        choices=CHOICES["leader"],
        default="gradient",
        help="gradient: the method's gradient steps (default); expert: expert iteration",
    )
    pieces.add_argument("--n", type=int, help="expert iteration: draws per group (default 16)")
    pieces.add_argument("--groups", type=int, help="expert iteration: groups (default 8)")
    pieces.add_argument(
        "--spread", type=float, help="expert iteration, linear game: sampling spread"
    )
    pieces.add_argument(
        "--expert-step", type=float, help="expert iteration: step toward the kept mean (0.1)"
    )
    pieces.add_argument("--members", type=int, help="reward models (default 1)")
    pieces.add_argument(
        "--aggregate", choices=CHOICES["aggregate"], help="the ensemble's rewards (mean)"
    )
    pieces.add_argument(
        "--gold-budget", type=int, help="early stopping: gold labels per check (default 0)"
    )
    pieces.add_argument("--patience", type=float, help="early stopping: checks (default 3)")
    pieces.add_argument("--check-every", type=float, help="early stopping: iterations (10)")
    pieces.add_argument("--gold-noise", type=float, help="early stopping: label noise (1)")
    pieces.add_argument(
        "--regime", choices=CHOICES["regime"], help="the follower's data (not population)"
    )
    pieces.add_argument(
        "--labels", choices=CHOICES["labels"], help="pairwise presets: the label model"
    )
    pieces.add_argument(
        "--pairing",
        choices=CHOICES["pairing"],
        help="pairwise presets: two policy outputs, or one against the initial policy's",
    )
    pieces.add_argument(
        "--candidates",
        type=int,
        help="--pairing reference: the own output is the best of this many by the RM (1)",
    )


GRID_HELP = (
    "NAME=start:stop:num, NAME=log:start:stop:num or NAME=v1,v2 (repeatable, at most two). "
    "NAME: a field of the preset's numbers or an alias (c, lr, eta, lambda, wd, bias, A); "
    "traced, one compile: patience, check-every, gold-noise, spread, expert-step; static, "
    "one compile per value: n, groups, members, gold-budget"
)


def build_parser() -> argparse.ArgumentParser:
    """The ``toysim`` parser; its errors raise :class:`UserError` (one line, no usage block)."""
    import toysim
    from toysim.model.metrics import COLLAPSE_DROP
    from toysim.presets import LINEAR_PRESETS, PRESETS, RECIPES

    parser = _Parser(
        prog="toysim", description="Command line: toysim COMMAND or python -m toysim COMMAND."
    )
    parser.add_argument("--version", action="version", version=f"toysim {toysim.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run trajectories and print a comparison table")
    run.add_argument("--preset", default="paper-linear", choices=list(PRESETS))
    run.add_argument(
        "--method",
        choices=list(METHODS),
        help="leader method (default: rlhf, fpo-exact, fpo-relaxed and fpo-practical)",
    )
    for switch, allowed in SWITCHES.items():
        run.add_argument(f"--{switch}", choices=allowed, help=SWITCH_HELP.get(switch, "FPO switch"))
    run.add_argument(
        "--rung-steps",
        type=int,
        metavar="K",
        help="terms of --hessian neumann, or follower steps of --hessian unrolled (default 20)",
    )
    run.add_argument(
        "--gamma",
        type=float,
        help="steering weight (default: the preset's, docs/theory/notation.md)",
    )
    run.add_argument("--steps", type=int, help="iterations T (default: the preset's)")
    run.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    add_composition_arguments(run)
    run.add_argument("--json", action="store_true", help="print one JSON object per run")
    run.add_argument("--max-memory", type=float, metavar="GB", help=MAX_MEMORY_HELP)
    run.add_argument("--precision", type=int, choices=(32, 64), default=64)

    sweep = sub.add_parser(
        "sweep", help="a grid of hyperparameters times seeds, in one compile per program"
    )
    sweep.add_argument("--preset", default="paper-linear", choices=list(PRESETS))
    sweep.add_argument("--method", choices=list(METHODS), help="leader method (default rlhf)")
    sweep.add_argument("--grid", action="append", default=[], metavar="NAME=SPEC", help=GRID_HELP)
    sweep.add_argument("--recipe", choices=list(RECIPES), help="a named sweep (overrides the rest)")
    sweep.add_argument("--seeds", type=int, default=32, help="seeds per grid point (default 32)")
    sweep.add_argument("--gamma", type=float, help="steering weight if not on the grid")
    sweep.add_argument("--steps", type=int, help="iterations T (default: the preset's)")
    sweep.add_argument(
        "--collapse-drop", type=float, default=COLLAPSE_DROP, help="see toysim.sweep"
    )
    sweep.add_argument(
        "--chunk",
        type=int,
        help="runs per compiled call (default 8192; 256 on a sampled-buffer preset)",
    )
    add_composition_arguments(sweep)
    sweep.add_argument("--out", default="results", help="output folder (default results/)")
    sweep.add_argument("--devices", type=int, help="expose N host CPU devices (XLA flag)")
    sweep.add_argument("--max-memory", type=float, metavar="GB", help=MAX_MEMORY_HELP)
    sweep.add_argument("--precision", type=int, choices=(32, 64), default=64)
    sweep.add_argument(
        "--force", action="store_true", help="overwrite a result (or saved chunks) of this sweep"
    )
    sweep.add_argument(
        "--resume", action="store_true", help="continue from the chunks an interrupted run saved"
    )
    sweep.add_argument(
        "--coordinator", metavar="HOST:PORT", help="process 0's address (multi-process sweep)"
    )
    sweep.add_argument("--num-processes", type=int, help="processes in the multi-process sweep")
    sweep.add_argument("--process-id", type=int, help="this process's index, 0 .. N-1")
    sweep.add_argument(
        "--distributed",
        action="store_true",
        help="join the cluster JAX detects (SLURM, Open MPI, ...): jax.distributed.initialize()",
    )

    figures = sub.add_parser("figures", help="regenerate the figures (the long ones when named)")
    figures.add_argument(
        "--out", help="output folder (default figures/, or figures/slides/ with --slides)"
    )
    figures.add_argument(
        "--quick",
        action="store_true",
        help="fewer seeds, coarser grids (for a quick look; the docs build runs the notebooks so)",
    )
    figures.add_argument(
        "--only", action="append", metavar="NAME", help="only this figure (repeatable; see --list)"
    )
    figures.add_argument(
        "--list", action="store_true", help="list the figures' names and descriptions and exit"
    )
    figures.add_argument(
        "--slides",
        action="store_true",
        help="16:9 with large type, for a lecture (default: the lecture path's figures)",
    )
    figures.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="make the figures in N processes, those sharing runs in one (default: the usable "
        "cores; 1: one process, in the listed order; --slides: one process)",
    )
    figures.add_argument("--precision", type=int, choices=(32, 64), default=64)

    animate = sub.add_parser("animate", help="the phase-space paths as an animation (GIF or MP4)")
    animate.add_argument("--preset", default="paper-linear", choices=list(LINEAR_PRESETS))
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
    bench.add_argument(
        "--repeats", type=int, help="timed repeats, the best kept (default 5; 3 with --neural)"
    )
    bench.add_argument("--json", action="store_true", help="print one JSON object per row")
    bench.add_argument(
        "--sweep", action="store_true", help="sweep throughput, FLOPs and peak fraction instead"
    )
    bench.add_argument("--scale", action="store_true", help="exact FPO's cost per step against d")
    bench.add_argument(
        "--neural",
        action="store_true",
        help="paper-nn: rlhf, fpo-relaxed and every curvature rung, float64 and float32, "
        "one run and a 16-seed batch each (tens of minutes)",
    )
    bench.add_argument(
        "--steps", type=int, help="--neural: outer iterations (default the preset's 4,000)"
    )
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
    bench.add_argument(
        "--precision",
        type=int,
        choices=(32, 64),
        help="float width (default 64); --neural: time only this width (default both)",
    )
    explorer = sub.add_parser(
        "explorer-data",
        help="the data of the docs' browser pages: seed 0's initial RM weights, the configs",
    )
    explorer.add_argument(
        "--out", default="docs/assets/explorer.json", help="JSON file (default: %(default)s)"
    )
    explorer.set_defaults(precision=64)  # the pages run in float64: no --precision
    return parser
