"""The curvature ladder on ``paper-nn``: each curvature matrix of exact FPO over seeds.

See docs/results/neural-ladder.md. For each curvature matrix of the ``hessian``
switch (exact FPO's other switches: global influence, true oracle, current
parameters), and for rlhf, fpo-relaxed and fpo-practical as references, one
``jit(vmap)`` batch of seeds records the utility, the solver's diagnostics and,
every ``every`` iterations, the RM parameters and buffer the leader saw. Offline,
at those checkpoints, the steering direction ``-grad_y S`` at ``y = theta`` of
each choice is compared with the *exact* one: ``v = H^+ g`` from the dense
Hessian ``H`` (``[P, P]``, ``P = 1,441``) of the follower's objective, its
eigendecomposition and the pseudo-inverse on the eigenvalues with
``|lambda| > cutoff`` (:data:`CUTOFF_OF_WEIGHT_DECAY` times the weight decay:
every direction the buffer does not see has eigenvalue ``wd``, so the cutoff
keeps those and drops only eigenvalues that the loss's negative curvature
pulls towards 0).
"""

from __future__ import annotations

import dataclasses
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from toysim import linalg
from toysim.analysis import cosine, summarise
from toysim.config import CURVATURES, as_float_arrays
from toysim.experiments.nonconvexity import (
    policies_seen,
    recorded_curvature,
    steering_direction,
)
from toysim.experiments.runner import compiled_seeds
from toysim.experiments.tables import markdown_table
from toysim.game.records import Trajectory, raise_if_nonfinite
from toysim.game.sampled import SampledHParams, SampledSpec, network_model, neural_utility
from toysim.game.steering import reward_gradient, sample_steering
from toysim.game.trajectory import make_trajectory
from toysim.model.metrics import collapsed
from toysim.model.utility import utility
from toysim.presets import build
from toysim.provenance import describe
from toysim.seeds import seed_keys

REFERENCES = ("rlhf", "fpo-relaxed", "fpo-practical")
"""The named methods run beside the ladder (rlhf has no steering direction)."""

CUTOFF_OF_WEIGHT_DECAY = 0.5
"""The pseudo-inverse keeps eigenvalues with ``|lambda| > 0.5 wd`` (see the module docstring)."""


class Choice(NamedTuple):
    """One row of the ladder: a label and the paper-nn method and switches it runs."""

    label: str
    method: str
    switches: dict


def ladder_choices(hessians=CURVATURES, references=REFERENCES) -> tuple[Choice, ...]:
    """Exact FPO with each ``hessian`` choice (labelled ``hessian=...``), then the references."""
    rungs = tuple(Choice(f"hessian={h}", "fpo-exact", {"hessian": h}) for h in hessians)
    return rungs + tuple(Choice(name, name, {}) for name in references)


def checkpoint_iterations(steps: int, every: int) -> np.ndarray:
    """The checkpoints ``every - 1, 2 every - 1, ... < steps`` (each block's last iteration)."""
    return np.arange(every - 1, steps, every)


@dataclasses.dataclass(frozen=True)
class CheckpointedTrajectory:
    """A trajectory factory (for :func:`~toysim.experiments.runner.compiled_seeds`): paper-nn
    (:func:`~toysim.game.sampled_round.sampled_trajectory`), with the recorded RM parameters and
    buffer kept only at :func:`checkpoint_iterations` (hashable by value, so compiled once
    per spec)."""

    every: int

    def __call__(self, spec: SampledSpec):
        """``run(key, hp) -> Trajectory`` with ``rm_params`` / ``buffer`` thinned."""
        run = make_trajectory(spec)
        at = checkpoint_iterations(spec.steps, self.every)

        def thinned(key: Array, hp: SampledHParams) -> Trajectory:
            trajectory = run(key, hp)
            if trajectory.rm_params is None:
                return trajectory
            state = jax.tree.map(lambda x: x[at], (trajectory.rm_params, trajectory.buffer))
            return trajectory._replace(rm_params=state[0], buffer=state[1])

        return thinned


def pseudo_inverse_solve(matrix: Array, b: Array, cutoff: Array) -> tuple[Array, Array]:
    """``x = Q diag(1/lambda_i if |lambda_i| > cutoff else 0) Q^T b`` for the symmetric
    ``matrix = Q diag(lambda) Q^T``.

    Returns:
      ``x`` and the smallest eigenvalue of ``matrix``.
    """
    lam, q = jnp.linalg.eigh(matrix)
    keep = jnp.abs(lam) > cutoff
    inverse = jnp.where(keep, 1.0 / jnp.where(keep, lam, 1.0), 0.0)
    return q @ (inverse * (q.T @ b)), lam[0]


def exact_and_choice_directions(spec: SampledSpec, hp: SampledHParams):
    """``at(flat_phi, buffer, theta) -> (exact, choice, smallest eigenvalue)``: the steering
    directions ``-grad_y S(theta)`` of the pseudo-inverse exact FPO (global influence, true
    oracle) and of ``spec.method`` at one recorded state.

    The choice's solve starts from zero (the run's was warm-started from the previous
    iteration's solution) and its random estimates (Lanczos, Hutchinson) use ``key(0)``.
    """
    hp = as_float_arrays(hp)
    u = neural_utility(spec, hp)
    model = network_model(spec)
    identity = linalg.linear_map(linalg.identity_solution)

    def at(flat, buffer, theta):
        phi, hessian = recorded_curvature(model, hp, flat, buffer)
        g = reward_gradient(model, phi, theta)
        v, smallest = pseudo_inverse_solve(hessian, g, CUTOFF_OF_WEIGHT_DECAY * hp.weight_decay)

        def exact_penalty(y):
            return sample_steering(model, phi, y, lambda s: utility(u, s), identity, True, v)

        state = (model, phi, buffer, theta, jax.random.key(0), u)
        choice = steering_direction(spec, hp, spec.method, state)
        return -jax.grad(exact_penalty)(theta), choice, smallest

    return at


def checkpoint_cosines(
    spec: SampledSpec, hp: SampledHParams, trajectory: Trajectory, every: int, seeds: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine of ``spec.method``'s steering direction with the exact one at each checkpoint.

    Args:
      spec: the game the batch ``trajectory`` ran (``record_state=True``, thinned by
        :class:`CheckpointedTrajectory` with the same ``every``).
      hp: that game's hyperparameters.
      trajectory: the batch, with its recorded states at the checkpoints.
      every: the checkpoints' spacing (:func:`checkpoint_iterations`).
      seeds: how many of the batch's first runs to diagnose.

    Returns:
      ``([seeds, C] cosines, [seeds, C] smallest Hessian eigenvalues)``.
    """
    at = exact_and_choice_directions(spec, hp)
    iterations = checkpoint_iterations(spec.steps, every)
    theta = trajectory.theta[:seeds]
    seen = policies_seen(theta)[:, iterations]
    state = jax.tree.map(lambda x: x[:seeds], (trajectory.rm_params, trajectory.buffer))

    # One compiled state at a time, nothing batched: batched over seeds and checkpoints these
    # solves deadlocked on jax 0.10.2 (2 cores), whose batched LAPACK calls wait on threads
    # of the pool they occupy; pyproject.toml now excludes those versions.
    one = jax.jit(at)
    cosines, smallest = np.zeros(seen.shape[:2]), np.zeros(seen.shape[:2])
    for s in range(seen.shape[0]):
        for c in range(seen.shape[1]):
            flat, buffer = jax.tree.map(lambda x, s=s, c=c: x[s, c], state)
            exact, choice, lowest = one(flat, buffer, seen[s, c])
            cosines[s, c], smallest[s, c] = float(cosine(choice, exact)), float(lowest)
    return cosines, smallest


class ChoiceRuns(NamedTuple):
    """One choice's batch: its trajectories (checkpoint states dropped), the checkpoint
    cosines (``None`` without steering), its smallest Hessian eigenvalues there, its
    configuration and its compile and run seconds."""

    trajectory: Trajectory
    cosines: np.ndarray | None
    smallest_eigenvalue: np.ndarray | None
    config: dict
    compile_s: float
    batch_s: float


class NeuralLadder(NamedTuple):
    """Every choice's :class:`ChoiceRuns` (by label), the seeds, checkpoint spacing and
    iterations, how many seeds the cosines use, and the eigenvalue cutoff's factor."""

    runs: dict
    seeds: int
    every: int
    steps: int
    cosine_seeds: int
    cutoff_of_weight_decay: float


def run_choice(choice: Choice, seeds: int, steps: int, every: int, cosine_seeds: int) -> ChoiceRuns:
    """One ``jit(vmap)`` batch of ``seeds`` for ``choice`` (compile and run timed apart),
    then its checkpoint cosines on the first ``cosine_seeds``."""
    spec, hp = build("paper-nn", choice.method, **choice.switches)
    steer = spec.method.foresight
    spec = dataclasses.replace(spec, steps=steps, record_state=steer)
    factory = CheckpointedTrajectory(every)
    keys = seed_keys(seeds)
    start = time.perf_counter()
    executable = compiled_seeds(spec, factory).lower(keys, hp).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    trajectory = jax.block_until_ready(executable(keys, hp))
    batch_s = time.perf_counter() - start
    records = trajectory._replace(rm_params=None, buffer=None)  # per iteration (states thinned)
    raise_if_nonfinite(records, spec)
    cosines = smallest = None
    if steer:
        cosines, smallest = checkpoint_cosines(spec, hp, trajectory, every, cosine_seeds)
    return ChoiceRuns(records, cosines, smallest, describe(spec, hp), compile_s, batch_s)


def neural_ladder_runs(
    quick: bool = False, choices: tuple[Choice, ...] | None = None, steps: int | None = None
) -> NeuralLadder:
    """Every ladder choice on paper-nn: 16 seeds (cosines on the first 4, every 500
    iterations); ``quick``: 2 seeds, cosines on both every 100 of 400 iterations.

    Args:
      quick: the small settings of the tests and CI.
      choices: the rows (default :func:`ladder_choices`).
      steps: outer iterations (default 4,000, or 400 with ``quick``).
    """
    seeds, cosine_seeds, every = (2, 2, 100) if quick else (16, 4, 500)
    steps = steps or (400 if quick else SampledSpec().steps)
    every = min(every, steps)
    runs = {
        c.label: run_choice(c, seeds, steps, every, cosine_seeds)
        for c in (choices or ladder_choices())
    }
    return NeuralLadder(runs, seeds, every, steps, cosine_seeds, CUTOFF_OF_WEIGHT_DECAY)


def records_solves(config: dict) -> bool:
    """Whether a run of this configuration records a curvature solve per iteration (global
    influence with a ``hessian`` other than the identity)."""
    m = config["spec"]["method"]
    return bool(m["foresight"]) and m["hessian"] != "identity" and m["influence"] == "global"


def choice_summary(label: str, runs: ChoiceRuns) -> dict:
    """One row: final utility (median, quartiles), collapse rate (final below 0.8 times the
    peak, :func:`toysim.model.metrics.collapsed`), solver convergence rate, mean iterations and
    median backward error (``None`` without recorded solves), median cosine with the exact
    direction (``None`` without steering), and compile and per-run seconds."""
    t = runs.trajectory
    final = np.asarray(t.utility[:, -1])
    peak = np.asarray(t.utility.max(axis=1))
    solves = records_solves(runs.config)
    seeds = final.shape[0]
    return {
        "choice": label,
        "gamma": float(runs.config["hparams"]["gamma"]),
        "seeds": seeds,
        "final": summarise(final),
        "collapsed_fraction": float(np.mean(collapsed(final, peak))),
        "converged_fraction": float(np.mean(np.asarray(t.solve.converged))) if solves else None,
        "mean_iterations": float(np.mean(np.asarray(t.solve.iterations))) if solves else None,
        "median_backward_error": (
            float(np.median(np.asarray(t.solve.backward_error))) if solves else None
        ),
        "median_cosine": None if runs.cosines is None else float(np.median(runs.cosines)),
        "compile_s": runs.compile_s,
        "s_per_run": runs.batch_s / seeds,
    }


def neural_ladder_summary(result: NeuralLadder) -> list[dict]:
    """:func:`choice_summary` of every choice, in the ladder's order."""
    return [choice_summary(label, runs) for label, runs in result.runs.items()]


def _or_dash(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_neural_ladder_table(result: NeuralLadder) -> str:
    """The ladder as a Markdown table (one row per choice) with a line on the settings."""
    rows = neural_ladder_summary(result)
    lines = [
        f"paper-nn, {result.steps} outer iterations, seeds 0-{result.seeds - 1} in one "
        f"jit(vmap) batch per choice; cosine with the exact direction (pseudo-inverse, "
        f"|lambda| > {result.cutoff_of_weight_decay:g} wd) every {result.every} iterations "
        f"on seeds 0-{result.cosine_seeds - 1}",
        "",
    ]
    header = (
        "choice",
        "gamma",
        "final utility: median [IQR]",
        "collapsed",
        "solves converged",
        "mean iterations",
        "backward error (median)",
        "cosine to exact (median)",
        "s per run",
        "compile s",
    )
    cells = [
        (
            r["choice"],
            f"{r['gamma']:.3g}",
            f"{r['final']['median']:.2f} [{r['final']['q25']:.2f}, {r['final']['q75']:.2f}]",
            f"{r['collapsed_fraction']:.0%}",
            _or_dash(r["converged_fraction"], ".1%"),
            _or_dash(r["mean_iterations"], ".1f"),
            _or_dash(r["median_backward_error"], ".1e"),
            _or_dash(r["median_cosine"], ".3f"),
            f"{r['s_per_run']:.3f}",
            f"{r['compile_s']:.1f}",
        )
        for r in rows
    ]
    return "\n".join(lines) + "\n" + markdown_table(header, cells)
