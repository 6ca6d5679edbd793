"""Command line: ``toysim COMMAND`` or ``python -m toysim COMMAND``.

Commands: run, sweep, figures, animate, explorer-data, reproduce, bench.

The command line is an application, not the library: it turns on float64
(``--precision 64``, the default) before any computation. On a user error it
prints one line to stderr and exits with status 2, without a traceback.

The parser is in :mod:`toysim.cli.parser`, ``run`` in :mod:`toysim.cli.run`,
the other commands in :mod:`toysim.cli.commands`.
"""

from __future__ import annotations

import os
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


def _set_precision(bits: int) -> None:
    import jax

    jax.config.update("jax_enable_x64", bits == 64)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    from toysim.game.trajectory import NonFiniteTrajectoryError

    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # sweep: the resume command
        _set_precision(args.precision or 64)  # bench --neural leaves it unset: both widths
        if getattr(args, "devices", None) is not None:
            _set_host_devices(args.devices)
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
