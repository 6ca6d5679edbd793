"""Where a figure goes: its PNG, PDF and JSON sidecar, and the notebooks' output folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

from toysim.plots.slides import current_slide, fit_to_slide
from toysim.provenance import measured_on, versions
from toysim.safeio import atomic_path, write_text

PNG_DPI = 150
"""The resolution of every PNG :func:`save` writes."""


def save(fig, name: str, out: str | Path, meta: dict) -> list[Path]:
    """Write ``NAME.png``, ``NAME.pdf`` and the ``NAME.json`` sidecar into ``out``, each
    atomically (:func:`toysim.safeio.atomic_path`).

    Inside :func:`toysim.plots.slides.slide_style` ``fig`` is first made a slide
    (:func:`~toysim.plots.slides.fit_to_slide`) and the sidecar says so (``"slide"``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    slide = current_slide()
    if slide is not None:
        fit_to_slide(fig, slide)
        meta = {**meta, "slide": slide.record(PNG_DPI)}
    paths = [out / f"{name}.png", out / f"{name}.pdf", out / f"{name}.json"]
    with atomic_path(paths[0]) as png, atomic_path(paths[1]) as pdf:
        fig.savefig(png, dpi=PNG_DPI)
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
