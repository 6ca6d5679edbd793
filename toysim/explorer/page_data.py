"""The data behind the browser explorer (docs/explorer.md): paper-linear over a (gamma, c) grid.

For each leader method, every point of the grid ``gamma x c`` is run as one
``jit(vmap(run))`` over traced :class:`~toysim.config.LinearHParams` (one compile per
method), for one seed, and each trajectory is kept every ``every`` iterations
in projection coordinates, where ``U = A exp(-tau ((signal - ||m||)^2 + noise^2))``
holds exactly, so the page can draw the utility contours itself from ``A``,
``tau`` and ``||m||``. RLHF has no steering term and ignores ``gamma``: it is
stored once per ``c``. Numbers are rounded to 4 significant digits so the JSON
stays small; a run that goes non-finite keeps only its records before the
iteration at which it did, which is stored beside it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from toysim.config import LinearHParams, as_float_arrays, validate
from toysim.game.linear_round import utility_of
from toysim.game.records import first_nonfinite_iteration
from toysim.game.trajectory import make_trajectory
from toysim.model.utility import utility
from toysim.presets import build

PAGE_PRESET = "paper-linear"
PAGE_METHODS = ("rlhf", "fpo-exact", "fpo-relaxed", "fpo-practical")
PAGE_GAMMAS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
COSTS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 1.0)
SEED = 0
EVERY = 5
DIGITS = 4
PAGE_SERIES = ("signal", "noise", "utility")


def round_significant(values, digits: int = DIGITS) -> list[float]:
    """``values`` rounded to ``digits`` significant digits, as the shortest Python floats."""
    return [float(f"{v:.{digits}g}") for v in np.asarray(values, dtype=float).ravel()]


def grid_hparams(hp: LinearHParams, gammas, costs) -> LinearHParams:
    """``hp`` with ``gamma`` and ``action_cost`` over the grid ``gammas x costs`` (flattened,
    ``gamma`` major), every other field broadcast to the same length."""
    g, c = np.meshgrid(np.asarray(gammas, float), np.asarray(costs, float), indexing="ij")
    fields = {k: np.full(g.size, float(v)) for k, v in hp._asdict().items()}
    fields.update(gamma=g.ravel(), action_cost=c.ravel())
    return LinearHParams(**fields)


def method_runs(method: str, gammas, costs, seed: int = SEED, every: int = EVERY) -> dict:
    """Downsampled trajectories of ``method`` on paper-linear over ``gammas x costs``.

    One ``jit(vmap)`` call over the whole grid (one compile per method); the
    record keeps iterations ``0, every, 2 every, ..., T`` (``T`` a multiple of
    ``every``), iteration 0 being the start ``theta = 0``.

    Returns:
      ``{"signal", "noise", "utility"}``: arrays ``[G, C, T/every + 1]``
      (projection coordinates and ``U(theta)``), and ``"nonfinite_at"``:
      ``[G, C]``, the first non-finite iteration (0 if none).
    """
    spec, hp = build(PAGE_PRESET, method)
    if spec.steps % every:
        raise ValueError(f"every must divide the horizon {spec.steps}; got {every}")
    spec = dataclasses.replace(spec, record="scalars")
    batch = grid_hparams(hp, gammas, costs)
    validate(spec, batch)
    run = make_trajectory(spec)
    keep = np.arange(every - 1, spec.steps, every)

    def downsampled(hparams: LinearHParams) -> dict:
        t = run(jax.random.key(seed), hparams)
        return {
            "signal": t.signal_proj[keep],
            "noise": t.noise_proj[keep],
            "utility": t.utility[keep],
            "nonfinite_at": first_nonfinite_iteration(t),
        }

    out = jax.jit(jax.vmap(downsampled))(as_float_arrays(batch))
    shape = (len(gammas), len(costs))
    u = utility_of(spec, hp)
    start = {"signal": 0.0, "noise": 0.0, "utility": float(utility(u, jnp.zeros(spec.dim)))}
    result = {
        name: np.concatenate(
            [np.full((batch.gamma.size, 1), start[name]), np.asarray(out[name])], axis=1
        ).reshape(*shape, -1)
        for name in PAGE_SERIES
    }
    result["nonfinite_at"] = np.asarray(out["nonfinite_at"]).reshape(shape)
    return result


def _run_record(runs: dict, i: int, j: int, every: int) -> dict:
    """One grid point's series as rounded lists; a run that went non-finite at iteration ``n``
    keeps only its records before ``n`` (every recorded quantity is finite there)."""
    nonfinite_at = int(runs["nonfinite_at"][i, j])
    length = -(-nonfinite_at // every) if nonfinite_at else runs["signal"].shape[-1]
    record = {name: round_significant(runs[name][i, j, :length]) for name in PAGE_SERIES}
    record["nonfinite_at"] = nonfinite_at or None
    return record


def explorer_data(
    gammas=PAGE_GAMMAS, costs=COSTS, seed: int = SEED, every: int = EVERY, methods=PAGE_METHODS
) -> dict:
    """The explorer's JSON document: grids, utility constants, configuration, versions and,
    per method, ``runs[gamma index][c index] = {signal, noise, utility, nonfinite_at}``
    (RLHF: one gamma, 0)."""
    from toysim.provenance import describe, versions

    spec, hp = build(PAGE_PRESET, "rlhf")
    u = utility_of(spec, hp)
    data = {
        "preset": PAGE_PRESET,
        "seed": seed,
        "coordinates": "projection: signal = theta . m/||m||, noise = ||theta - signal m/||m|| ||",
        "iterations": list(range(0, spec.steps + 1, every)),
        "grid": {"gamma": list(gammas), "c": list(costs)},
        "utility": {
            "amplitude": float(hp.amplitude),
            "tau": float(hp.tau),
            "ideal_norm": float(jnp.linalg.norm(u.ideal)),
        },
        "digits": DIGITS,
        "methods": {},
        "versions": versions(),
    }
    for method in methods:
        method_spec, method_hp = build(PAGE_PRESET, method)
        method_gammas = gammas if method_spec.method.foresight else (0.0,)
        runs = method_runs(method, method_gammas, costs, seed, every)
        data["methods"][method] = {
            "gamma": list(method_gammas),
            "default_gamma": float(method_hp.gamma),
            "config": describe(method_spec, method_hp),
            "runs": [
                [_run_record(runs, i, j, every) for j in range(len(costs))]
                for i in range(len(method_gammas))
            ],
        }
    return data


def write_explorer_data(path: str | Path = "docs/assets/explorer.json", **kwargs) -> Path:
    """Compute :func:`explorer_data` and write it as compact JSON to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(explorer_data(**kwargs), separators=(",", ":"), sort_keys=True)
    path.write_text(text + "\n")
    return path
