"""The feature matrix: every preset x leader x mitigation x data regime x curvature rung x
label model x pairing either runs or is refused up front in one line naming the field."""

import re

import jax
import numpy as np
import pytest

from toysim.experiments.matrix import (
    MATRIX_LEADERS,
    MITIGATIONS,
    data_axes,
    feature_matrix,
    matrix_markdown,
)
from toysim.experiments.runner import run_seed
from toysim.game.trajectory import make_trajectory
from toysim.presets import PRESETS

REFUSALS = {
    "regime must be window for the population follower (it has no buffer: it trains on the "
    "whole policy distribution)",
    "members must be 1 with a foresight method (the sampled-buffer ensemble has no steering term)",
    "hessian must be exact, damped, diagonal, identity, neumann or unrolled with data = pairs: "
    "the Gauss-Newton rung is the squared loss's (docs/theory/pairwise.md)",
    "params must be current with reward_model = mlp: a non-convex RM has no unique best "
    "response phi* to evaluate at (the linear one has)",
    "follower must be sgd with hessian = unrolled (it unrolls the follower's own optimizer "
    "steps; the population follower takes none)",
}
"""The only reasons a cell may be refused (a new one must be added here on purpose)."""


@pytest.fixture(scope="module")
def cells():
    return feature_matrix(steps=2)


def test_the_matrix_holds_every_combination_once(cells):
    expected = sum(len(MATRIX_LEADERS) * len(MITIGATIONS) * len(data_axes(p)) for p in PRESETS)
    assert len(cells) == expected == 2160  # 3 x 60 x 3 linear, 60 x 3 paper-nn, 2 x 60 x 12 pairs
    keys = {(c.preset, c.leader, c.mitigation, c.regime, c.labels, c.pairing) for c in cells}
    assert len(keys) == len(cells)


def test_every_refusal_is_one_line_naming_a_field_for_a_known_reason(cells):
    refused = [c for c in cells if c.refusal is not None]
    assert refused and len(refused) < len(cells)
    for cell in refused:
        assert "\n" not in cell.refusal
        assert re.match(r"^[a-z_.]+ must be ", cell.refusal), cell.refusal
        assert cell.refusal.split("; got")[0] in REFUSALS, cell
        assert cell.spec is None and cell.hp is None


def test_what_is_refused_is_exactly_the_known_gaps(cells):
    """Gauss-Newton on pairs, an ensemble under a foresight leader in the sampled-buffer game,
    the best response of an MLP reward model, a data regime other than window for the
    population follower (it has no buffer) and the unrolled rung on it (it takes no steps);
    everything else runs, every regime of the linear game's buffer followers and
    pairwise-linear at its best response included."""
    for c in cells:
        sampled = PRESETS[c.preset].sampled
        pairs = sampled and PRESETS[c.preset].spec.get("data") == "pairs"
        gauss_newton_on_pairs = pairs and "gauss-newton" in c.leader
        steers = c.leader not in ("rlhf", "expert iteration")
        ensemble_steered = sampled and steers and "ensemble" in c.mitigation
        bufferless = PRESETS[c.preset].spec.get("follower") == "population"
        regime_without_buffer = bufferless and c.regime != "window"
        mlp = sampled and PRESETS[c.preset].spec.get("reward_model", "mlp") == "mlp"
        mlp_optimum = mlp and "params=optimum" in c.leader
        unrolled_without_steps = bufferless and "hessian=unrolled" in c.leader
        refused = gauss_newton_on_pairs or ensemble_steered or regime_without_buffer or mlp_optimum
        refused = refused or unrolled_without_steps
        assert (c.refusal is not None) == refused, c


def test_the_docs_page_is_rendered_from_the_matrix(cells):
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "engine.md").read_text()
    assert "<!-- feature-matrix -->" in page
    table = matrix_markdown(cells)
    ran = sum(c.refusal is None for c in cells)
    assert f"{ran} of 2160 cells run" in table
    for preset in PRESETS:
        assert f"### {preset}" in table


def pieces(cell):
    """What a cell exercises: its leader, its mitigation, its regime and label model, and its
    pairing."""
    return {("leader", cell.leader), ("mitigation", cell.mitigation)} | {
        ("data", (cell.regime, cell.labels)),
        ("pairing", cell.pairing),
    }


def covering(cells):
    """Per preset, a small subset of the runnable cells in which every leader, every
    mitigation, every (regime, labels) cell and every pairing appears at least once: each pick
    (the first in matrix order among the best) covers the most pieces not yet covered."""
    chosen = []
    for preset in PRESETS:
        mine = [c for c in cells if c.preset == preset and c.refusal is None]
        need = set().union(*map(pieces, mine))
        while need:
            best = max(mine, key=lambda c: len(pieces(c) & need))
            chosen.append(best)
            need -= pieces(best)
    return chosen


def test_the_covering_subset_covers_every_runnable_piece_of_every_preset(cells):
    subset = covering(cells)
    for preset in PRESETS:
        runnable = [c for c in cells if c.preset == preset and c.refusal is None]
        mine = [c for c in subset if c.preset == preset]
        assert set().union(*map(pieces, mine)) == set().union(*map(pieces, runnable)), preset
        leaders = {c.leader for c in runnable}
        assert len(mine) <= len(leaders) + 2, preset  # about one cell per leader


# The slow step's longest test (about 9 minutes of tracing on 2 loaded cores): one test per
# preset names the preset that fails, and gives this module the most slow tests, which
# pytest-xdist's loadscope hands out first, so it does not start last and run on alone.
@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_every_runnable_cell_traces(cells, preset):
    key = jax.random.key(0)
    for c in cells:
        if c.preset == preset and c.refusal is None:
            shapes = jax.eval_shape(make_trajectory(c.spec), key, c.hp)
            assert shapes.utility.shape == (2,), c


@pytest.mark.slow
def test_a_covering_subset_runs_finite_and_records_its_pieces(cells):
    subset = covering(cells)
    for c in subset:
        run = run_seed(c.spec, c.hp, 0)
        assert np.all(np.isfinite(np.asarray(run.utility))), c
        composed = c.mitigation != "none" or c.leader == "expert iteration"
        assert (run.stopped is not None) == composed, c
        assert (run.kl is not None) == (c.leader == "expert iteration"), c
