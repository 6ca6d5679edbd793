"""JAX's persistent compilation cache, in a folder keyed on this machine's CPU.

A program XLA compiled once is loaded from disk the next time any process
asks for it: a warm ``toysim run`` skips most of its compile time. The
command line and the test session turn the cache on (the library never does
at import; from Python call :func:`enable_compilation_cache`).

Where: ``$TOYSIM_CACHE`` if set (``off`` turns the cache off), else
``$XDG_CACHE_HOME/toysim``, else ``~/.cache/toysim``; inside it one folder per
:func:`machine_key`. XLA:CPU compiles for the host's instruction set, so a
program compiled on one CPU can crash (``SIGILL``) on another: a cache folder
made on one machine is never read on a machine whose CPU differs.
"""

from __future__ import annotations

import hashlib
import os
import platform
from collections.abc import Mapping
from pathlib import Path

import jax
import jaxlib

CACHE_ENV = "TOYSIM_CACHE"
"""The cache's root folder, or ``off``."""

MIN_COMPILE_SECONDS = 0.0
"""Programs that compile faster than this are not written: none, so every program is
(JAX's default, 1 s, would leave out most of toysim's trajectories, and the small eager
programs a test session compiles by the thousand take longer to compile than to load)."""


def cpu_description(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """What XLA:CPU compiles for: the CPU's model name and instruction-set flags (Linux), or
    the host's name, architecture and processor where ``/proc/cpuinfo`` is missing (so
    elsewhere each machine keeps its own folder)."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return " ".join((platform.node(), platform.machine(), platform.processor()))
    fields = ("model name", "flags", "Features", "CPU implementer", "CPU part")
    first = {}
    for line in lines:
        name, _, value = line.partition(":")
        first.setdefault(name.strip(), value.strip())
    return "\n".join(f"{name}: {first.get(name, '')}" for name in fields)


def machine_key(cpu: str | None = None) -> str:
    """A 16-hex-digit hash of the CPU (:func:`cpu_description`), the architecture and the
    jax and jaxlib versions: the name of this machine's cache folder."""
    described = cpu if cpu is not None else cpu_description()
    parts = (described, platform.machine(), jax.__version__, jaxlib.__version__)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def cache_root(environ: Mapping[str, str] = os.environ) -> Path | None:
    """``$TOYSIM_CACHE``, ``$XDG_CACHE_HOME/toysim`` or ``~/.cache/toysim``; ``None`` when
    ``$TOYSIM_CACHE`` is ``off``."""
    chosen = environ.get(CACHE_ENV, "").strip()
    if chosen.lower() == "off":
        return None
    if chosen:
        return Path(chosen).expanduser()
    base = environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "toysim"


def enable_compilation_cache(root: Path | str | None = None) -> Path | None:
    """Turn on JAX's persistent compilation cache in ``root / ("xla-" + machine_key())``.

    ``root`` defaults to :func:`cache_root`. Also raises XLA's C++ log threshold to
    fatal: XLA:CPU logs an error-level line on *every* load from the cache, even
    one written on this same machine, because it counts the compiler's tuning
    preferences (``+prefer-no-gather``) as instruction-set features the host
    lacks (openxla/xla#44565); the per-CPU folder is what keeps a load safe.

    Returns:
      The folder in use, or ``None`` if the cache is off (``TOYSIM_CACHE=off``).
    """
    folder = Path(root) if root is not None else cache_root()
    if folder is None:
        return None
    folder = folder / f"xla-{machine_key()}"
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_logging_level", "CRITICAL")
    return folder
