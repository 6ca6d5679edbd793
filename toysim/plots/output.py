"""Where a figure goes: its PNG, PDF and JSON sidecar, and the notebooks' output folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

from toysim.provenance import measured_on, versions
from toysim.safeio import atomic_path, write_text


def save(fig, name: str, out: str | Path, meta: dict) -> list[Path]:
    """Write ``NAME.png``, ``NAME.pdf`` and the ``NAME.json`` sidecar into ``out``, each
    atomically (:func:`toysim.safeio.atomic_path`)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf", out / f"{name}.json"]
    with atomic_path(paths[0]) as png, atomic_path(paths[1]) as pdf:
        fig.savefig(png, dpi=150)
        fig.savefig(pdf, metadata={"CreationDate": None, "ModDate": None})
    write_sidecar(paths[2], name, meta)
    return paths


def write_sidecar(path: Path, name: str, meta: dict) -> None:
    """``path``: ``{"figure": name, **meta, "versions": ..., "measured": ...}`` as sorted,
    indented JSON; ``measured`` (:func:`~toysim.provenance.measured_on`) is the machine and
    date the figure was made on, which a page quoting its timings quotes with them."""
    sidecar = {"figure": name, **meta, "versions": versions(), "measured": measured_on()}
    write_text(path, json.dumps(sidecar, indent=2, sort_keys=True, default=str) + "\n")


FIGURES_ENV = "TOYSIM_FIGURES"
"""The environment variable that names the notebooks' output folder."""


def output_dir() -> Path:
    """The folder the notebooks save their figures into.

    Returns:
      ``$TOYSIM_FIGURES`` if that environment variable is set and not empty,
      else ``figures/`` in the current working directory (absolute either way;
      :func:`save` creates it).
    """
    return Path(os.environ.get(FIGURES_ENV) or "figures").resolve()
