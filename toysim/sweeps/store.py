"""A sweep's result in memory and on disk: validated files, identifying names, saved chunks.

On disk a finished sweep is ``NAME.npz`` (arrays ``axis_<name>`` and ``metric_<name>``)
beside ``NAME.json``, its sidecar: the format (``"format": "toysim-sweep"`` and
``"format_version"``), the SHA-256 of the ``.npz``, the configuration and the versions that
made it. Both are written atomically (:mod:`toysim.safeio`). :func:`load_sweep` checks all of
it, so a truncated, foreign or older-format file is refused with one clear line.

While a sweep runs, each finished chunk is saved into the folder ``NAME.partial/``
(:class:`ChunkStore`: ``manifest.json`` and ``chunk-00000.npz``, ...), from which ``--resume``
continues; the folder is removed once the result is written.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from toysim.provenance import versions
from toysim.safeio import atomic_path, write_text

FORMAT = "toysim-sweep"
FORMAT_VERSION = 2
"""Version 2 added the format fields and the checksum; version 1 (no ``format`` field) is the
sidecar of earlier toysim releases."""

SUMMARY_FIELDS = (
    "final_signal",
    "final_noise",
    "final_utility",
    "max_utility",
    "final_expected_utility",
    "final_proxy_reward",
    "final_ideal_reward",
    "final_biased_noise",
    "collapsed",
    "nonfinite_at",
    "stopped",
    "gold_spent",
    "final_kl",
)
"""Every summary a sweep may hold, in order; a sweep holds those its runs record
(:func:`toysim.sweep.make_summary`): a composition's runs add early stopping's ``stopped`` and
``gold_spent``, expert iteration's ``final_kl``."""


class SweepFileError(ValueError):
    """A sweep file that is missing, truncated, foreign, or of another format version."""


class SweepResult(NamedTuple):
    """Labelled results of a sweep.

    Attributes:
      axes: the grid axes in order (hyperparameter name -> values), then ``seed``.
      metrics: summary name (see :data:`SUMMARY_FIELDS`) -> array of shape
        ``(*[len(v) for v in axes.values()])``.
      config: the game, base hyperparameters, method and collapse rule.
    """

    axes: dict[str, np.ndarray]
    metrics: dict[str, np.ndarray]
    config: dict

    def median_over_seeds(self, metric: str) -> np.ndarray:
        """The median of ``metrics[metric]`` over the seed axis: shape ``(*grid,)``."""
        return np.median(self.metrics[metric], axis=-1)

    def fraction_over_seeds(self, metric: str) -> np.ndarray:
        """The mean of ``metrics[metric]`` over seeds: for ``collapsed``, the fraction collapsed."""
        return np.mean(self.metrics[metric], axis=-1)


def _json(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"


def config_hash(config: Mapping) -> str:
    """The first 10 hex digits of the SHA-256 of ``config`` as canonical JSON."""
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def result_name(label: Mapping, config: Mapping) -> str:
    """A file stem that identifies a sweep: the readable ``label`` then :func:`config_hash`.

    Args:
      label: ``preset``, ``method``, optionally ``pieces`` (the composition's flags, e.g.
        ``members3-min``), ``axes`` (name -> number of values), ``seeds``, ``first_seed``,
        ``steps`` and ``precision`` (bits).
      config: everything that determines the result (the hash covers it all).

    Returns:
      e.g. ``paper-linear_fpo-relaxed_gamma4_action_cost3_seeds0-1_T40_f64_1a2b3c4d5e`` (an
      axis ``stop.patience`` as ``stop-patience``: the name has no dot before its suffix).
    """
    grid = [f"{name.replace('.', '-')}{size}" for name, size in label["axes"].items()]
    last_seed = label["first_seed"] + label["seeds"] - 1
    parts = [label["preset"], label["method"], *label.get("pieces", ()), *grid]
    parts += [f"seeds{label['first_seed']}-{last_seed}", f"T{label['steps']}"]
    parts += [f"f{label['precision']}", config_hash(config)]
    return "_".join(parts)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_sweep(result: SweepResult, path: str | Path) -> tuple[Path, Path]:
    """Write ``PATH.npz`` and its sidecar ``PATH.json``, each atomically (npz first).

    Returns:
      ``(npz, sidecar)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    npz, sidecar = path.with_suffix(".npz"), path.with_suffix(".json")
    arrays = {f"axis_{k}": v for k, v in result.axes.items()}
    arrays.update({f"metric_{k}": v for k, v in result.metrics.items()})
    with atomic_path(npz) as tmp:
        np.savez_compressed(tmp, **arrays)
        checksum = _sha256(tmp)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "npz_sha256": checksum,
        "axes": list(result.axes),
        "metrics": list(result.metrics),
        "config": result.config,
        "versions": versions(),
    }
    write_text(sidecar, _json(meta))
    return npz, sidecar


def _read_sidecar(sidecar: Path) -> dict:
    if not sidecar.is_file():
        raise SweepFileError(f"{sidecar}: no sweep sidecar there")
    try:
        meta = json.loads(sidecar.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SweepFileError(
            f"{sidecar}: not a toysim sweep sidecar (invalid JSON: {err})"
        ) from None
    if not isinstance(meta, dict):
        raise SweepFileError(f"{sidecar}: not a toysim sweep sidecar (not a JSON object)")
    if "format" not in meta and "axes" in meta:
        raise SweepFileError(
            f"{sidecar}: a sweep of an older toysim (format version 1); this toysim reads "
            f"version {FORMAT_VERSION}: rerun the sweep"
        )
    if meta.get("format") != FORMAT:
        raise SweepFileError(f"{sidecar}: not a toysim sweep sidecar (no format {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise SweepFileError(
            f"{sidecar}: sweep format version {meta.get('format_version')!r}; this toysim reads "
            f"version {FORMAT_VERSION}"
        )
    return meta


def load_sweep(path: str | Path) -> SweepResult:
    """Read back what :func:`save_sweep` wrote, checking it on the way.

    Raises:
      SweepFileError: a missing, truncated or modified ``.npz`` (its checksum differs from the
        sidecar's), a sidecar that is not toysim's or of another format version, or arrays
        whose names or shapes do not match the sidecar (each in one line naming the file).
    """
    path = Path(path)
    meta = _read_sidecar(path.with_suffix(".json"))
    npz = path.with_suffix(".npz")
    if not npz.is_file():
        raise SweepFileError(f"{npz}: missing (its sidecar {path.with_suffix('.json')} exists)")
    if _sha256(npz) != meta.get("npz_sha256"):
        raise SweepFileError(f"{npz}: truncated or modified (checksum differs from its sidecar)")
    try:
        with np.load(npz) as data:
            axes = {k: data[f"axis_{k}"] for k in meta["axes"]}
            metrics = {k: data[f"metric_{k}"] for k in meta["metrics"]}
    except (KeyError, OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise SweepFileError(f"{npz}: unreadable or incomplete sweep arrays ({err})") from None
    shape = tuple(len(v) for v in axes.values())
    wrong = [k for k, v in metrics.items() if v.shape != shape]
    if wrong:
        raise SweepFileError(f"{npz}: metric {wrong[0]!r} does not have the axes' shape {shape}")
    return SweepResult(axes, metrics, meta["config"])


class ChunkStore:
    """The folder ``NAME.partial/`` of a running sweep: its manifest and each finished chunk.

    Args:
      folder: the folder (created by :meth:`create`).
      manifest: what the chunks belong to: the configuration hash, chunk size and count.
    """

    def __init__(self, folder: str | Path, manifest: Mapping):
        self.folder = Path(folder)
        self.manifest = dict(manifest)

    @classmethod
    def create(cls, folder: str | Path, manifest: Mapping) -> ChunkStore:
        """Start an empty store (removing any earlier one at ``folder``)."""
        folder = Path(folder)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        write_text(folder / "manifest.json", _json({"format": FORMAT, **manifest}))
        return cls(folder, manifest)

    @classmethod
    def open(cls, folder: str | Path) -> ChunkStore:
        """The store at ``folder``; raises :class:`SweepFileError` if it has no valid manifest."""
        path = Path(folder) / "manifest.json"
        try:
            manifest = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise SweepFileError(f"{path}: not a toysim partial sweep ({err})") from None
        if not isinstance(manifest, dict) or manifest.pop("format", None) != FORMAT:
            raise SweepFileError(f"{path}: not a toysim partial sweep")
        return cls(folder, manifest)

    def path(self, index: int) -> Path:
        """The file of chunk ``index``."""
        return self.folder / f"chunk-{index:05d}.npz"

    def saved(self) -> list[int]:
        """The indices of the chunks saved so far, in order."""
        return sorted(int(p.stem.split("-")[1]) for p in self.folder.glob("chunk-*.npz"))

    def save(self, index: int, outputs: Mapping[str, np.ndarray]) -> Path:
        """Write chunk ``index`` (summary name -> the chunk's values) atomically."""
        with atomic_path(self.path(index)) as tmp:
            np.savez(tmp, **outputs)
        return self.path(index)

    def load(self, index: int) -> dict[str, np.ndarray]:
        """Chunk ``index`` as saved; raises :class:`SweepFileError` if it is unreadable."""
        path = self.path(index)
        try:
            with np.load(path) as data:
                chunk = {name: data[name] for name in SUMMARY_FIELDS if name in data.files}
        except (KeyError, OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise SweepFileError(
                f"{path}: unreadable chunk ({err}); remove it to recompute"
            ) from None
        if "final_utility" not in chunk:
            raise SweepFileError(f"{path}: not a chunk of sweep summaries; remove it to recompute")
        size = self.manifest["chunk_size"]
        if any(v.shape != (size,) for v in chunk.values()):
            raise SweepFileError(f"{path}: a chunk of another size than {size}")
        return chunk

    def remove(self) -> None:
        """Delete the folder (once the finished result is written)."""
        shutil.rmtree(self.folder, ignore_errors=True)
