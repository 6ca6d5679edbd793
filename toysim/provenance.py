"""Where a result came from: its configuration, the versions and git revision that made it.

Every file toysim writes next to a result (a figure's ``NAME.json``, a sweep's
``PATH.json``, the browser page's data) records :func:`describe` of its game
and :func:`versions`; this module imports nothing else of toysim's (only the version), so the
figure registry, the sweeps and the reproduction can all use it.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import os
import platform
import subprocess
from pathlib import Path

import jax
import matplotlib
import numpy as np

from toysim._version import __version__


def describe(spec: object, hp: tuple) -> dict:
    """A JSON-ready description of a game: its static spec (a dataclass) and its numbers.

    Args:
      spec: a :class:`~toysim.config.LinearSpec` (or the neural game's spec).
      hp: its hyperparameters (a NamedTuple of scalars).

    Returns:
      ``{"spec": dataclasses.asdict(spec), "hparams": {name: float}}``, where a field of
      ``spec`` that is itself a dataclass (the method, the neural game's solver) also
      records its class as ``type``: ``{"type": "CG", "tol": 1e-06, "maxiter": 100}``.
    """
    fields = dataclasses.asdict(spec)
    for name, value in fields.items():
        if dataclasses.is_dataclass(child := getattr(spec, name)):
            fields[name] = {"type": type(child).__name__, **value}
    return {"spec": fields, "hparams": numbers(hp)}


def numbers(hp: tuple, prefix: str = "") -> dict:
    """``{name: float}`` of every field of the NamedTuple ``hp``; a field that is itself a
    NamedTuple (a composition's stopping rule, say) gives ``{"stop.patience": ...}``."""
    out = {}
    for name, value in hp._asdict().items():
        if hasattr(value, "_asdict"):
            out.update(numbers(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = float(np.asarray(value))
    return out


def describe_differences(spec: object, hp: tuple, reference_spec: object, reference_hp: tuple):
    """The fields of :func:`describe` of ``(spec, hp)`` whose values differ from those of the
    reference game (e.g. the default preset): ``{field: value}``, spec fields first.

    What a run changed from the defaults, so that an output says what ran (the sycophancy
    preset: ``{"biased_dims": 2, "rm_init_bias": 0.5}``).
    """
    ours, reference = describe(spec, hp), describe(reference_spec, reference_hp)
    return {
        field: value
        for part in ("spec", "hparams")
        for field, value in ours[part].items()
        if reference[part].get(field) != value
    }


@functools.cache
def git_revision() -> str | None:
    """The commit of the git checkout toysim is imported from, or ``None`` outside one."""
    try:
        done = subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def versions() -> dict[str, str | bool | None]:
    """The versions that made a result: toysim, JAX, NumPy, matplotlib, Python, the precision
    (``float64``) and the git revision (``None`` outside a checkout)."""
    return {
        "toysim": __version__,
        "jax": jax.__version__,
        "numpy": np.__version__,
        "matplotlib": matplotlib.__version__,
        "python": platform.python_version(),
        "float64": bool(jax.config.jax_enable_x64),
        "git_revision": git_revision(),
    }


def machine_description() -> str:
    """CPU model, core count and JAX backend: the machine a timing was measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, jax {jax.__version__} on {jax.default_backend()}"


def load_average() -> float | None:
    """The 1-minute load average (``None`` where the OS does not report it)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def measured_on() -> dict[str, str | float | None]:
    """Where and when a result was measured: :func:`machine_description`, today's date
    (ISO, UTC) and :func:`load_average`, so that a timing is never quoted without them."""
    return {
        "machine": machine_description(),
        "date": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        "load_average": load_average(),
    }
