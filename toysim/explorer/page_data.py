"""The data behind the browser pages: the explorer (docs/explorer.md) and the theory widgets.

The pages run paper-linear themselves (``docs/assets/game.js``, float64, for any
``gamma`` and ``c``). The one thing they cannot compute is the random draw of the
reward model's initial weights, so this document ships seed ``seed``'s

    w_0 = (s, ..., s, 0, ..., 0) + rm_init_noise * eps,    eps ~ N(0, I)

(:func:`toysim.game.linear_round.initial_reward_weights`, always in float64, each number
the shortest decimal that reads back as the same double) beside each method's
configuration (:func:`toysim.provenance.describe`: every number the page's updates use,
and the structure it checks it can run) and the versions that made it. With them the
page's run of a method is ``toysim.simulate(spec, hp, seed)`` run again in the browser.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np

from toysim.game.linear_round import initial_reward_weights
from toysim.presets import build
from toysim.seeds import seed_key

PAGE_PRESET = "paper-linear"
PAGE_METHODS = ("rlhf", "fpo-exact", "fpo-relaxed", "fpo-practical")
SEED = 0


def page_reward_weights(seed: int = SEED) -> np.ndarray:
    """``w_0`` of paper-linear's run from ``seed`` (member 0's key is the run's), in float64.

    The draw is made in float32 and cast (:mod:`toysim.model.sampling`), and ``w_0`` is
    formed in float64 whatever JAX's default precision: the page runs in float64.
    """
    spec, hp = build(PAGE_PRESET, "rlhf")
    with jax.enable_x64(True):
        return np.asarray(initial_reward_weights(seed_key(seed), spec, hp), dtype=np.float64)


def explorer_data(seed: int = SEED, methods=PAGE_METHODS) -> dict:
    """The pages' JSON document: ``preset``, ``seed``, ``w0`` (``[d]``), per method its
    ``config`` (spec and numbers) and ``default_gamma``, and ``versions``."""
    from toysim.provenance import describe, versions

    data = {
        "preset": PAGE_PRESET,
        "seed": seed,
        "w0": [float(x) for x in page_reward_weights(seed)],
        "methods": {},
        "versions": {**versions(), "float64": True},
    }
    for method in methods:
        spec, hp = build(PAGE_PRESET, method)
        config = describe(spec, hp)
        data["methods"][method] = {"config": config, "default_gamma": config["hparams"]["gamma"]}
    return data


def write_explorer_data(path: str | Path = "docs/assets/explorer.json", **kwargs) -> Path:
    """Compute :func:`explorer_data` and write it as compact JSON to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(explorer_data(**kwargs), separators=(",", ":"), sort_keys=True)
    path.write_text(text + "\n")
    return path
