"""Command line: ``toysim COMMAND`` or ``python -m toysim COMMAND``.

Commands: run, sweep, figures, animate, explorer-data, reproduce, bench.

The command line is an application, not the library: it turns on float64
(``--precision 64``, the default) and JAX's persistent compilation cache
(:mod:`toysim.compilation_cache`; ``TOYSIM_CACHE=off`` turns it off) before
any computation. On a user error it
prints one line to stderr and exits with status 2, without a traceback.

The parser is in :mod:`toysim.cli.parser`, ``run`` in :mod:`toysim.cli.run`,
the other commands in :mod:`toysim.cli.commands`, the leader, mitigation and data
flags ``run`` and ``sweep`` share in :mod:`toysim.cli.pieces`.
"""

from __future__ import annotations

import os
import platform
import sys

from toysim.cli.checks import check_devices
from toysim.cli.commands import (
    animate_command,
    bench_command,
    explorer_data_command,
    figures_command,
    reproduce_command,
    sweep_command,
)
from toysim.cli.parser import UserError, build_parser
from toysim.cli.run import run_command
from toysim.compilation_cache import enable_compilation_cache
from toysim.config import ConfigError

__all__ = ["UserError", "main"]


def _set_host_devices(count: int) -> None:
    """Expose ``count`` CPU devices to XLA; must run before JAX's backend starts (and before a
    multi-process sweep joins its cluster, so JAX is not started here).

    Raises:
      UserError: ``count`` is not in [1, cores].
    """
    check_devices(count)
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


PORTABLE_ISA = "AVX2"
"""The widest x86 instruction set ``figures`` lets XLA:CPU use (``--xla_cpu_max_isa``)."""


def _set_portable_codegen() -> None:
    """Cap XLA:CPU at :data:`PORTABLE_ISA` on x86-64, unless ``XLA_FLAGS`` already sets a cap.

    With AVX-512, XLA vectorises sums 8 wide instead of 4, so they round differently; a
    chaotic run (neural_diagnostics' CG on an indefinite Hessian) then ends elsewhere and a
    figure made on one x86 machine would not match one made on another. Must run before
    JAX's backend starts.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if platform.machine().lower() in ("x86_64", "amd64") and "xla_cpu_max_isa" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_max_isa={PORTABLE_ISA}".strip()


def _set_precision(bits: int) -> None:
    import jax

    jax.config.update("jax_enable_x64", bits == 64)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    from toysim import NonFiniteTrajectoryError

    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # sweep: the resume command
        _set_precision(args.precision or 64)  # bench --neural leaves it unset: both widths
        if getattr(args, "devices", None) is not None:
            _set_host_devices(args.devices)
        if args.command == "figures":  # the same numbers on every x86-64 machine
            _set_portable_codegen()
        if args.command != "bench":  # bench times compilation itself
            enable_compilation_cache()
        commands = {
            "run": run_command,
            "sweep": sweep_command,
            "figures": figures_command,
            "animate": animate_command,
            "reproduce": reproduce_command,
            "bench": bench_command,
            "explorer-data": explorer_data_command,
        }
        return commands[args.command](args)
    except (UserError, ConfigError, NonFiniteTrajectoryError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C outside a sweep's own handler: one line, no traceback
        print("toysim: interrupted by SIGINT", file=sys.stderr)
        return 130
