"""Unrolled against implicit steering: the truncated rungs measured beside exact FPO.

See docs/theory/exact-fpo.md (*Truncated rungs*). For each preset of :data:`MEASURED` and each
rung of :data:`RUNGS` (exact FPO, the implicit function; the Neumann series of ``K`` terms;
``K`` unrolled steps of the follower's own optimizer), :func:`truncated_record` measures

* **cost**: one trajectory's compile seconds, and its microseconds per iteration after
  compilation (best of :data:`REPEATS` calls);
* **direction**: the cosine of the rung's steering direction ``-grad S`` with the exact
  rung's at the follower's best response ``phi*`` (every rung at ``params = optimum``: the
  unrolled steps start from ``phi*``, with the follower's optimizer state), at the states of
  exact FPO's runs of :data:`COSINE_SEEDS` seeds; the median over states and seeds;
* **outcome**: the median final utility ``U(theta_T)`` and the collapse rate
  (:func:`toysim.model.metrics.collapsed`) over :data:`SEEDS` seeds, each rung at the
  preset's own ``params`` (the linear game at ``phi*``, the sampled-buffer game at the
  follower's current parameters, where the unrolled rung is the ``K``-step lookahead);
  and, as :data:`WITHOUT_STEERING`, the unrolled rung at ``gamma = 0``.

In the sampled-buffer game the states are recorded (``record_state``) and the follower's Adam
state, which is not, is replayed from them (:func:`adam_states`). ``python -m
toysim.experiments.truncated`` writes :data:`RECORD`, the source of the page's table.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from toysim.analysis import steering_cosines
from toysim.bench import _compile_and_time
from toysim.config import Method, as_float_arrays
from toysim.experiments.runner import run_seeds
from toysim.experiments.tables import columns_table
from toysim.game.followers import BufferData, adam_l2_optimizer, optimizer_step
from toysim.game.sampled_round import leader_view, network_model, neural_utility
from toysim.game.trajectory import make_trajectory
from toysim.model.interface import pairwise
from toysim.model.sampling import standard_normal
from toysim.presets import PRESETS, build
from toysim.provenance import measured_on
from toysim.safeio import write_text
from toysim.seeds import seed_key
from toysim.sweep import sweep

MEASURED = ("paper-linear", "pairwise-linear")
"""The presets measured: one of each game."""
RUNGS = (
    ("exact", {}),
    ("neumann, K = 5", dict(hessian="neumann", rung_steps=5)),
    ("neumann, K = 20", dict(hessian="neumann", rung_steps=20)),
    ("neumann, K = 100", dict(hessian="neumann", rung_steps=100)),
    ("unrolled, K = 1", dict(hessian="unrolled", rung_steps=1)),
    ("unrolled, K = 5", dict(hessian="unrolled", rung_steps=5)),
    ("unrolled, K = 20", dict(hessian="unrolled", rung_steps=20)),
)
"""Each rung's label and its switches on ``fpo-exact``, the exact one first."""
WITHOUT_STEERING = ("unrolled, K = 20, gamma = 0", dict(hessian="unrolled", rung_steps=20))
"""A last row: the unrolled rung with no steering term, its reward term still taken ``K``
steps ahead (which part of the rung changes the outcome); its cosine is not measured."""
SEEDS = 16
COSINE_SEEDS = 4
CHECK_EVERY = 25
"""The sampled-buffer game's directions are compared every this many iterations."""
DRAWS = 16
"""Sampled outputs (pairs) the sampled-buffer game's steering direction is averaged over, at
the policy's starting spread (a pair of equal outputs carries no steering)."""
REPEATS = 3
RECORD = Path("docs/data/truncated_rungs.json")


def rung_method(switches: dict, params: str) -> Method:
    """``fpo-exact`` with ``switches``, at ``params``."""
    return Method("fpo", **{**dict(params=params), **switches})


def cost(spec, hp) -> dict:
    """Compile seconds and microseconds per iteration of one trajectory (seed 0)."""
    args = (seed_key(0), as_float_arrays(hp))
    compile_s, run_s = _compile_and_time(make_trajectory(spec), args, REPEATS)
    return {"compile_s": compile_s, "iteration_us": run_s / spec.steps * 1e6}


def outcome(spec, hp) -> dict:
    """Median final utility and collapse rate over :data:`SEEDS` seeds."""
    metrics = sweep(spec, hp, {}, SEEDS, chunk_size=SEEDS).metrics
    return {
        "median_final_utility": float(np.median(metrics["final_utility"])),
        "collapse_rate": float(np.mean(metrics["collapsed"])),
    }


def linear_cosines(preset: str) -> list[float]:
    """Each rung's median cosine with exact FPO, as probes (``params = optimum``) along exact
    FPO's runs of ``preset``."""
    spec, hp = build(preset, "fpo-exact")
    probes = tuple(rung_method(switches, "optimum") for _, switches in RUNGS)
    runs = run_seeds(dataclasses.replace(spec, probes=probes), hp, COSINE_SEEDS)
    cosines = np.asarray(steering_cosines(runs.probe_steering))  # [seeds, T, rungs]
    return [float(c) for c in np.median(cosines.reshape(-1, len(RUNGS)), axis=0)]


def adam_states(spec, hp, model, phi0, rm_params, buffers):
    """The follower's Adam state at each round of a recorded run: ``s_{t+1}`` from ``s_t``,
    the recorded ``phi_t`` and the buffer it trained on (the one recorded at ``t + 1``); also
    the largest distance between the replayed ``phi_{t+1}`` and the recorded one."""
    optimizer = adam_l2_optimizer(hp.follower_lr, hp.weight_decay)
    unravel = ravel_pytree(phi0)[1]

    def step(state, x):
        flat, buffer = x
        data = BufferData(model, buffer, None)
        _, phi, next_state = optimizer_step(optimizer, data.loss, unravel(flat), state)
        return next_state, (state, ravel_pytree(phi)[0])

    later = jax.tree.map(lambda a: a[1:], buffers)
    _, (states, replayed) = jax.lax.scan(step, optimizer.init(phi0), (rm_params[:-1], later))
    return states, jnp.max(jnp.abs(replayed - rm_params[1:]))


def sampled_cosines(preset: str) -> tuple[list[float], float]:
    """Each rung's median cosine with exact FPO at the follower's best response, at every
    :data:`CHECK_EVERY`-th state of exact FPO's runs of ``preset`` (``params = optimum``), of
    the steering averaged over :data:`DRAWS` fixed draws around the policy's mean; and the
    Adam replay's largest error."""
    spec, hp = build(preset, "fpo-exact", params="optimum")
    spec = dataclasses.replace(spec, record_state=True)
    hp = as_float_arrays(hp)
    runs = run_seeds(spec, hp, COSINE_SEEDS)
    u = neural_utility(spec, hp)
    model = network_model(spec)
    models = (model, pairwise(model) if spec.data == "pairs" else model)
    phi0 = model.init(jax.random.key(0), jnp.result_type(float))
    unravel = ravel_pytree(phi0)[1]
    at = np.arange(CHECK_EVERY, spec.steps - 1, CHECK_EVERY)

    shape = (DRAWS, 2, spec.dim) if spec.data == "pairs" else (DRAWS, spec.dim)
    eps = hp.sigma_start * standard_normal(jax.random.key(1), shape, jnp.result_type(float))

    def direction(method, phi, opt_state, buffer, theta):
        """``-E_eps grad_theta S(theta + sigma eps)``: the steering the leader's steps follow."""
        rung = dataclasses.replace(spec, method=method, record_state=False)
        key = jax.random.key(0)
        view = leader_view(rung, hp, u, models, unravel(phi), buffer, theta, key, None, opt_state)
        return -jax.grad(lambda th: jnp.mean(jax.vmap(view.penalty)(th + eps)))(theta)

    methods = [rung_method(switches, "optimum") for _, switches in RUNGS]
    directions = [jax.jit(jax.vmap(functools.partial(direction, m))) for m in methods]
    rows, worst = [], 0.0
    for s in range(COSINE_SEEDS):
        buffers = jax.tree.map(lambda a, s=s: a[s], runs.buffer)
        states, error = adam_states(spec, hp, models[1], phi0, runs.rm_params[s], buffers)
        worst = max(worst, float(error))
        pick = jax.tree.map(lambda a: a[at], (runs.rm_params[s], states, buffers))
        thetas = runs.theta[s][at - 1]  # the policy the leader moved from at round t
        columns = [each(*pick, thetas) for each in directions]
        rows.append(np.asarray(steering_cosines(jnp.stack(columns, axis=1))))
    return [float(c) for c in np.median(np.concatenate(rows), axis=0)], worst


def truncated_record() -> dict:
    """Per preset, the rows (cost, cosine, outcome per rung) and their Markdown table, with
    what ran, where and when (and, in the sampled-buffer game, the Adam replay's error)."""
    record = {}
    with jax.enable_x64(True):
        for preset in MEASURED:
            entry = {"what": "python -m toysim.experiments.truncated", **measured_on()}
            if PRESETS[preset].sampled:
                cosines, entry["adam_replay_error"] = sampled_cosines(preset)
            else:
                cosines = linear_cosines(preset)
            rows = []
            for (label, switches), cos in zip(RUNGS, cosines, strict=True):
                spec, hp = build(preset, "fpo-exact", **switches)
                rows.append({"rung": label, "cosine": cos, **cost(spec, hp), **outcome(spec, hp)})
            label, switches = WITHOUT_STEERING
            spec, hp = build(preset, "fpo-exact", gamma=0.0, **switches)
            rows.append({"rung": label, "cosine": None, **cost(spec, hp), **outcome(spec, hp)})
            record[preset] = {**entry, "rows": rows, "table": table_markdown(rows)}
    return record


TABLE_COLUMNS = (
    ("rung", "{rung}"),
    ("µs per iteration", "{iteration_us:,.0f}"),
    ("compile s", "{compile_s:.1f}"),
    ("cosine to exact at $\\phi^*$", "{cosine_cell}"),
    ("median final $U$", "{median_final_utility:.2f}"),
    ("collapsed", "{collapse_rate:.0%}"),
)
"""The table's columns: a heading and the template of a row's cell."""


def table_markdown(rows: list[dict]) -> str:
    """The record's rows as a Markdown table; a rung without a cosine shows ``-``."""
    cosine = [{"cosine_cell": "-" if r["cosine"] is None else f"{r['cosine']:.3f}"} for r in rows]
    return columns_table(TABLE_COLUMNS, [{**r, **c} for r, c in zip(rows, cosine, strict=True)])


if __name__ == "__main__":
    write_text(RECORD, json.dumps(truncated_record(), indent=1) + "\n")
