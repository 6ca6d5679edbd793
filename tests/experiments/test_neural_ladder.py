"""The curvature-ladder experiment on paper-nn: its summary numbers against direct
computations, and its figure and table through the registry."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from toysim import figures
from toysim.analysis import cosine
from toysim.config import as_float_arrays
from toysim.experiments import neural_ladder as nl
from toysim.experiments.runner import run_seeds
from toysim.game.followers import empty_buffer
from toysim.game.sampled_round import network_model, network_objective, neural_utility
from toysim.game.steering import sample_steering
from toysim.linalg import identity_solution, linear_map
from toysim.model.utility import utility
from toysim.presets import build


def test_pseudo_inverse_solve_equals_the_solve_on_a_definite_matrix(rng):
    b = rng.normal(size=(6, 6))
    matrix = b @ b.T + 0.5 * np.eye(6)
    rhs = rng.normal(size=6)
    x, smallest = nl.pseudo_inverse_solve(jnp.asarray(matrix), jnp.asarray(rhs), 1e-8)
    np.testing.assert_allclose(x, np.linalg.solve(matrix, rhs), rtol=1e-10)
    np.testing.assert_allclose(smallest, np.linalg.eigvalsh(matrix)[0], rtol=1e-12)


def test_pseudo_inverse_solve_drops_the_eigenvalues_under_the_cutoff(rng):
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    lam = np.array([-3.0, -1e-4, 2e-5, 0.5, 4.0])
    matrix = q @ np.diag(lam) @ q.T
    rhs = rng.normal(size=5)
    x, _ = nl.pseudo_inverse_solve(jnp.asarray(matrix), jnp.asarray(rhs), 1e-3)
    kept = np.abs(lam) > 1e-3
    expected = q[:, kept] @ ((q[:, kept].T @ rhs) / lam[kept])
    np.testing.assert_allclose(x, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("hessian", ["exact", "gauss-newton"])
def test_a_choice_that_is_exact_on_an_empty_buffer_has_cosine_one(hessian):
    """On an empty buffer the follower's Hessian is ``wd I``: exact and Gauss-Newton
    directions equal the pseudo-inverse one, and that one is the direction of
    ``v = g / wd`` computed by hand."""
    spec, hp = build("paper-nn", "fpo-exact", hessian=hessian)
    model = network_model(spec)
    phi = [(hp.init_scale * w, bias) for w, bias in model.init(jax.random.key(1), jnp.float64)]
    flat = ravel_pytree(phi)[0]
    buffer = empty_buffer(10, spec.dim, jnp.float64, spec.samples_per_step)
    theta = 0.3 * jax.random.normal(jax.random.key(2), (spec.dim,))
    exact, choice, smallest = jax.jit(nl.exact_and_choice_directions(spec, hp))(flat, buffer, theta)
    np.testing.assert_allclose(cosine(choice, exact), 1.0, rtol=1e-9)
    np.testing.assert_allclose(smallest, hp.weight_decay, rtol=1e-9)
    assert np.linalg.norm(exact) > 0


@pytest.fixture(scope="module")
def short_ladder():
    """Two seeds, 4 iterations, a checkpoint at iteration 3: Gauss-Newton FPO (a solve that
    converges, so its direction does not hang on rounding) and rlhf."""
    choices = nl.ladder_choices(("gauss-newton",), ("rlhf",))
    result = nl.neural_ladder_runs(quick=True, choices=choices, steps=4)
    return result, nl.neural_ladder_summary(result)


@pytest.mark.slow
def test_summary_matches_a_direct_computation(short_ladder):
    result, rows = short_ladder
    assert result.seeds == 2 and result.every == 4 and result.steps == 4
    for row in rows:
        t = result.runs[row["choice"]].trajectory
        utility = np.asarray(t.utility)
        final = utility[:, -1]
        q25, q50, q75 = np.percentile(final, [25, 50, 75])
        assert row["final"] == pytest.approx(dict(median=q50, q25=q25, q75=q75), rel=1e-12)
        collapsed = np.mean([f < 0.8 * p for f, p in zip(final, utility.max(axis=1), strict=True)])
        assert row["collapsed_fraction"] == collapsed
        assert row["seeds"] == 2 and row["s_per_run"] > 0 and row["compile_s"] > 0
    rung, rlhf = rows
    converged = np.asarray(result.runs["hessian=gauss-newton"].trajectory.solve.converged)
    assert rung["converged_fraction"] == pytest.approx(converged.mean())
    assert rlhf["converged_fraction"] is None and rlhf["median_cosine"] is None
    cosines = result.runs["hessian=gauss-newton"].cosines
    assert cosines.shape == (2, 1) and rung["median_cosine"] == np.median(cosines)


@pytest.mark.slow
def test_checkpointed_runs_equal_the_plain_runs(short_ladder):
    """Recording and thinning the states changes nothing the run records per iteration."""
    result, _ = short_ladder
    spec, hp = build("paper-nn", "fpo-exact", hessian="gauss-newton")
    plain = run_seeds(dataclasses.replace(spec, steps=4), hp, 2, nl.CheckpointedTrajectory(4))
    ran = result.runs["hessian=gauss-newton"].trajectory
    np.testing.assert_array_equal(ran.utility, plain.utility)
    np.testing.assert_array_equal(ran.solve.iterations, plain.solve.iterations)


@pytest.mark.slow
def test_checkpoint_cosine_against_a_dense_numpy_pseudo_inverse(short_ladder):
    """The exact direction at the checkpoint, rebuilt with ``jax.hessian`` and NumPy's
    ``eigh``: the cosine of the recorded choice's direction with it is the one reported."""
    result, _ = short_ladder
    spec, hp = build("paper-nn", "fpo-exact", hessian="gauss-newton")
    spec = dataclasses.replace(spec, steps=4, record_state=True)
    states = run_seeds(spec, hp, 2, nl.CheckpointedTrajectory(4))
    model = network_model(spec)
    unravel = ravel_pytree(model.init(jax.random.key(0), jnp.float64))[1]
    flat = states.rm_params[0, 0]
    buffer = jax.tree.map(lambda x: x[0, 0], states.buffer)
    theta = states.theta[0, 2]  # the leader's start at iteration 3
    objective = network_objective(model, buffer, hp.weight_decay)
    dense = np.asarray(jax.hessian(lambda x: objective(unravel(x)))(flat))
    ours, choice, _ = nl.exact_and_choice_directions(spec, hp)(flat, buffer, theta)
    g = jax.grad(lambda x: model.reward(unravel(x), theta))(flat)
    lam, q = np.linalg.eigh(dense)
    keep = np.abs(lam) > nl.CUTOFF_OF_WEIGHT_DECAY * hp.weight_decay
    v = q[:, keep] @ ((q[:, keep].T @ np.asarray(g)) / lam[keep])
    u = neural_utility(spec, as_float_arrays(hp))
    exact = -jax.grad(
        lambda y: sample_steering(
            model,
            unravel(flat),
            y,
            lambda s: utility(u, s),
            linear_map(identity_solution),
            True,
            jnp.asarray(v),
        )
    )(theta)
    np.testing.assert_allclose(ours, exact, rtol=1e-8, atol=1e-12 * np.abs(exact).max())
    reported = result.runs["hessian=gauss-newton"].cosines[0, 0]
    np.testing.assert_allclose(cosine(choice, exact), reported, rtol=1e-8)


@pytest.mark.slow
def test_the_registry_writes_the_figure_and_the_table(short_ladder, tmp_path, monkeypatch):
    result, rows = short_ladder
    monkeypatch.setattr(figures.SharedRuns, "neural_ladder", result)
    written = [
        p
        for _, _, paths in figures.make_figures(
            tmp_path, quick=True, names=["neural_ladder", "neural_ladder_table"]
        )
        for p in paths
    ]
    assert {p.name for p in written} == {
        "neural_ladder.png",
        "neural_ladder.pdf",
        "neural_ladder.json",
        "neural_ladder_table.md",
    }
    sidecar = json.loads((tmp_path / "neural_ladder.json").read_text())
    assert sidecar["figure"] == "neural_ladder" and sidecar["caption"]
    assert [r["choice"] for r in sidecar["summary"]] == ["hessian=gauss-newton", "rlhf"]
    table = (tmp_path / "neural_ladder_table.md").read_text()
    f = rows[0]["final"]
    final = f"{f['median']:.2f} [{f['q25']:.2f}, {f['q75']:.2f}]"
    assert f"| hessian=gauss-newton | 0.2 | {final}" in table
    assert "| rlhf | 0 |" in table
