"""The pairwise experiments: label noise as an axis, the landscape and the steering's direction
(docs/theory/pairwise.md)."""

import dataclasses
import json

import jax
import matplotlib.pyplot as plt
import numpy as np
import pytest

from toysim.experiments.label_noise import LabelNoiseVariant, label_noise_runs, label_noise_table
from toysim.experiments.landscape import (
    LandscapeRuns,
    alignment_summary,
    best_response_fit,
    best_response_run,
    draw_spread,
    fit_summary,
    preset_landscape,
    preset_runs,
    steering_alignment,
)
from toysim.experiments.runner import run_seeds
from toysim.game.landscape import landscape
from toysim.model.metrics import collapsed
from toysim.plots.label_noise_figures import label_noise_figure
from toysim.plots.landscape_figures import landscape_figure, running_mean
from toysim.presets import build

TINY = LabelNoiseVariant(
    presets=("pairwise-linear",),
    betas=(1.0,),
    epsilons=(0.0, 0.3),
    seeds=2,
    steps=12,
    expected_grid=(),
    expected_point=True,
    best_response=True,
    methods=("rlhf", "fpo-exact"),
)


@pytest.mark.slow  # sweeps compiled per method and label model: minutes on 2 cores
def test_label_noise_cells_are_the_runs_of_those_numbers():
    """A tiny variant: each grid cell's medians and collapse rate are those of ``run_seeds`` of
    the game with that ``(beta, epsilon)``; expected labels and the best response at the
    preset's own numbers; the table and the figure's sidecar hold them."""
    runs = label_noise_runs(TINY)
    cells = runs.grid["pairwise-linear"]["sampled"]["fpo-exact"]
    assert cells.median_final.shape == (1, 2) and cells.final.shape == (1, 2, 2)
    spec, hp = build("pairwise-linear", "fpo-exact", steps=12)
    direct = run_seeds(spec, hp._replace(beta=1.0, label_noise=0.3), 2)
    u = np.asarray(direct.utility)
    np.testing.assert_allclose(cells.final[0, 1], u[:, -1], rtol=1e-12)
    assert cells.collapse_rate[0, 1] == np.mean(collapsed(u[:, -1], u.max(axis=1)))
    expected = runs.grid["pairwise-linear"]["expected"]["rlhf"]
    assert expected.median_final.ndim == 0
    rlhf, rlhf_hp = build("pairwise-linear", "rlhf", steps=12)
    at_point = run_seeds(dataclasses.replace(rlhf, labels="expected"), rlhf_hp, 2)
    assert float(expected.median_final) == pytest.approx(np.median(at_point.utility[:, -1]))
    best = runs.best_response["pairwise-linear"]
    assert set(best) == {"sampled", "expected"} and set(best["sampled"]) == {"rlhf", "fpo-exact"}
    table = label_noise_table(runs)["pairwise-linear"]["fpo-exact"]
    assert set(table) == {
        "sampled, beta = 1, epsilon = 0",
        "sampled, beta = 1, epsilon = 0.3",
        "expected, beta = 1, epsilon = 0.1",
        "best response, sampled, beta = 1, epsilon = 0.1",
        "best response, expected, beta = 1, epsilon = 0.1",
    }
    fig, meta = label_noise_figure(runs)
    plt.close(fig)
    assert json.loads(json.dumps(meta))["cells"]["pairwise-linear"]["sampled"]["rlhf"]


@pytest.mark.slow  # sweeps compiled per method and label model: minutes on 2 cores
def test_a_reference_variant_runs_the_reference_pairing():
    """The variant's pairing reaches every game it runs: a one-cell, one-method variant with
    ``pairing = reference`` equals ``run_seeds`` of the preset with that switch; the caption
    says what a pair compares."""
    one = TINY._replace(epsilons=(0.1,), methods=("fpo-exact",), best_response=False)
    runs = label_noise_runs(one._replace(expected_point=False, pairing="reference"))
    final = runs.grid["pairwise-linear"]["sampled"]["fpo-exact"].final[0, 0]
    spec, hp = build("pairwise-linear", "fpo-exact", steps=12)
    direct = run_seeds(dataclasses.replace(spec, pairing="reference"), hp, 2)
    np.testing.assert_allclose(final, np.asarray(direct.utility)[:, -1], rtol=1e-12)
    fig, meta = label_noise_figure(runs)
    plt.close(fig)
    assert "against a reference drawn from the initial policy" in meta["caption"]


def test_exact_steering_points_down_the_utility_gradient_outside_the_ball():
    """The claim of docs/theory/pairwise.md: along exact FPO's run (sampled labels, 40
    iterations, seeds 0-1), wherever the policy is outside the ball on ``[0, m]`` and below the
    bump's inflection value ``A e^{-1/2}``, the steering ``-gamma grad S`` has a negative cosine
    with ``grad U`` (every such iteration), on average below -0.9."""
    spec, hp = build("pairwise-linear", "fpo-exact", steps=40)
    spec = dataclasses.replace(spec, record_state=True)
    alignment = steering_alignment(spec, hp, run_seeds(spec, hp, 2), every=1)
    region = alignment_summary(alignment, hp.amplitude)["regions"]["outside_below_inflection"]
    assert region["iterations"] >= 60
    assert region["fraction_pointing_down"] == 1.0
    assert region["mean_cosine"] < -0.9


def test_alignment_summary_counts_each_region_by_hand():
    cosine = np.array([[np.nan, -0.5, 0.2, -0.9], [0.4, -0.1, 0.3, 0.8]])
    outside = np.array([[False, True, True, False], [True, True, False, False]])
    utility = np.array([[0.8, 1.0, 9.0, 9.5], [2.0, 3.0, 1.0, 7.0]])
    norms = dict(steering_norm=np.arange(8.0).reshape(2, 4), reward_norm=np.ones((2, 4)))
    summary = alignment_summary(dict(cosine=cosine, outside=outside, utility=utility, **norms), 10)
    assert summary["fraction_outside_ball"] == 0.5
    assert summary["median_steering_norm"] == 3.5 and summary["median_reward_norm"] == 1.0
    assert summary["mean_cosine_outside_ball"] == pytest.approx((-0.5 + 0.2 + 0.4 - 0.1) / 4)
    regions = summary["regions"]
    assert regions["outside_below_inflection"] == {
        "iterations": 3,
        "fraction_pointing_down": pytest.approx(2 / 3),
        "mean_cosine": pytest.approx((-0.5 + 0.4 - 0.1) / 3),
    }
    assert regions["outside_above_inflection"]["iterations"] == 1
    assert regions["inside_below_inflection"]["mean_cosine"] == pytest.approx(0.3)
    assert regions["inside_above_inflection"]["fraction_pointing_down"] == 0.5


def test_running_mean_by_hand():
    path = np.array([[1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_allclose(running_mean(path, 2), [[0.0, 0.5, 1.5, 2.5, 3.5]])


@pytest.mark.slow  # about two minutes: every landscape method's runs, six draws, a best response
def test_the_landscape_has_a_second_maximum_behind_the_start():
    """pairwise-linear's ``V``: gradient ascent from ``theta = 0`` ends short of the ideal
    (``U`` about 7.5), from noise 2.2 at negative signal with ``U`` below 0.1, each at a
    stationary point; paper-linear's only maximum is near ``m``. The figure draws both (runs of
    20 iterations, 2 seeds, a coarse grid)."""
    lands = {}
    for preset in ("pairwise-linear", "paper-linear"):
        runs = preset_runs(preset, 2, steps=20)
        lands[preset] = preset_landscape(preset, runs, (10, 6))
        if preset == "pairwise-linear":
            exact = runs["fpo-exact"]
            alignment = {"fpo-exact": steering_alignment(*exact, every=4)}
    pairs = lands["pairwise-linear"]
    start, noisy = (pairs.ascents[k] for k in ("the start, theta = 0", "noise 2.2"))
    assert start[0][-1] > 2.0 and abs(start[1][-1]) < 0.1
    assert noisy[0][-1] < -1.0 and noisy[1][-1] < 0.1
    assert [round(m.utility, 1) for m in lands["paper-linear"].maxima] == [10.0]
    assert lands["paper-linear"].draw_spread is None
    assert len(pairs.draw_spread) == len(pairs.maxima)
    fit = best_response_fit(*best_response_run(steps=12))
    fig, meta = landscape_figure(LandscapeRuns(lands, alignment, 2, fit))
    plt.close(fig)
    meta = json.loads(json.dumps(meta))
    assert meta["steering_alignment"]["fpo-exact"]["fraction_outside_ball"] > 0.5
    assert meta["landscapes"]["pairwise-linear"]["draw_spread"]["draws"] == 6
    assert "draw_spread" not in meta["landscapes"]["paper-linear"]
    assert len(meta["best_response_fit"]["theta_norm"]) == 5


def test_the_draw_spread_is_the_sample_deviation_and_falls_as_one_over_root_n():
    """Two draws: the sample standard deviation of two values is ``|a - b| / sqrt 2``, with
    ``a``, ``b`` the landscape's ``V`` under seeds 0 and 1; and four times the pairs halve the
    spread (Monte Carlo's ``1 / sqrt N``), within the noise of 12 draws at three points."""
    spec, hp = build("pairwise-linear", "rlhf")
    theta = np.zeros((1, spec.dim)) + np.r_[1.0, 0.5, 0.8, np.zeros(spec.dim - 3)]
    a, b = (float(jax.jit(landscape(spec, hp, 256, seed)[0])(theta[0])) for seed in (0, 1))
    assert draw_spread(spec, hp, theta, draws=2, pairs=256) == pytest.approx(
        [abs(a - b) / np.sqrt(2)], rel=1e-9
    )
    points = theta * np.array([[0.5], [1.0], [1.5]])
    few, many = (np.mean(draw_spread(spec, hp, points, 12, n)) for n in (256, 1024))
    assert 0.3 < many / few < 0.75


def test_best_response_fit_recomputes_the_best_response_by_hand():
    """``||phi*||`` and its cosine with the Adam follower's ``phi_t``, against an independent
    Newton solve in NumPy of the buffer's mean Bradley-Terry loss plus ``(wd/2)||w||^2``."""
    spec, hp, run = best_response_run(steps=8)
    fit = best_response_fit(spec, hp, run)
    wd = float(hp.weight_decay)
    for t in (3, 7):
        filled = np.asarray(run.buffer.filled[0, t]) > 0
        y = np.asarray(run.buffer.y[0, t])[filled].reshape(-1, 2, spec.dim)
        p = np.asarray(run.buffer.label[0, t])[filled].ravel()
        dy, w = y[:, 0] - y[:, 1], np.zeros(spec.dim)
        for _ in range(40):
            fit_p = 1.0 / (1.0 + np.exp(-dy @ w))
            grad = dy.T @ (fit_p - p) / len(p) + wd * w
            hess = (dy * (fit_p * (1 - fit_p))[:, None]).T @ dy / len(p) + wd * np.eye(spec.dim)
            w = w - np.linalg.solve(hess, grad)
        phi = np.asarray(run.rm_params[0, t])
        assert fit["blocks"][t] == filled.sum()
        assert fit["best_norm"][t] == pytest.approx(np.linalg.norm(w), rel=1e-8)
        cosine = w @ phi / (np.linalg.norm(w) * np.linalg.norm(phi))
        assert fit["cosine"][t] == pytest.approx(cosine, rel=1e-8)
    assert np.isnan(fit["cosine"][0]) and fit["blocks"][0] == 0
    np.testing.assert_allclose(fit["theta_norm"], np.linalg.norm(run.theta[0], axis=-1))


def test_fit_summary_by_hand():
    blocks = np.array([0, 1, 2, 3, 3, 3, 3])
    fit = dict(
        blocks=blocks,
        best_norm=np.array([0.0, 9.0, 12.0, 2.0, 4.0, 3.0, 1.0]),
        follower_norm=np.array([0.0, 0.1, 0.2, 0.5, 0.5, 0.5, 0.5]),
        cosine=np.array([np.nan, 0.9, 0.1, -0.5, 0.5, 0.0, 0.2]),
        theta_norm=np.arange(7.0),
        utility=np.arange(7.0) / 10,
    )
    summary = fit_summary(fit, first=2)
    assert summary["best_norm_filling"] == [9.0, 12.0]
    assert summary["best_norm_full"] == pytest.approx([1.15, 3.85])  # 5th, 95th of 1, 2, 3, 4
    assert summary["follower_norm_full"] == [0.5, 0.5]
    assert summary["cosine_full_median"] == pytest.approx(0.1)
    assert summary["theta_norm"] == [1.0, 2.0] and summary["utility"] == [0.1, 0.2]


def test_the_sign_test_by_hand():
    """11 wins to 5: 2 (C(16,11) + ... + C(16,16)) / 2^16 = 2 x 6885 / 65536; a tie gives 1;
    188 to 144 (the paper's relaxed count) is about 0.018 (normal approximation with the
    continuity correction: z = (188 - 166 - 0.5) / sqrt(83))."""
    from toysim.experiments.paper_pipeline import sign_test

    assert sign_test(11, 5) == pytest.approx(2 * 6885 / 65536, rel=1e-15)
    assert sign_test(5, 11) == sign_test(11, 5)
    assert sign_test(8, 8) == 1.0
    z = (188 - 166 - 0.5) / np.sqrt(83)
    normal = 1 + float(jax.scipy.special.erf(-z / np.sqrt(2)))
    assert sign_test(188, 144) == pytest.approx(normal, rel=0.05)


def test_the_pipeline_rows_count_wins_and_losses_against_rlhf(monkeypatch):
    """With given finals per seed the rows hold their medians, collapse rates and the seeds
    above and below RLHF's (ties counted in neither)."""
    from toysim.experiments import paper_pipeline

    finals = {
        "rlhf": [1.0, 2.0, 3.0, 4.0],
        "fpo-practical": [2.0, 2.0, 1.0, 5.0],
        "fpo-relaxed": [0.0, 0.0, 0.0, 0.0],
        "fpo-exact": [9.0, 9.0, 9.0, 9.0],
    }

    def fake(method, candidates):
        final = np.asarray(finals[method])
        return final, final + 1.0, np.asarray([True, False, False, False])

    monkeypatch.setattr(paper_pipeline, "final_and_peak", fake)
    rows = {r["method"]: r for r in paper_pipeline.pipeline_rows(8)}
    practical = rows["fpo-practical"]
    assert (practical["wins_against_rlhf"], practical["losses_against_rlhf"]) == (2, 1)
    assert practical["median_final_utility"] == 2.0
    assert practical["median_peak_utility"] == 3.0
    assert practical["collapse_rate"] == 0.25
    assert rows["fpo-relaxed"]["wins_against_rlhf"] == 0
    assert rows["fpo-exact"]["losses_against_rlhf"] == 0
    table = paper_pipeline.table_markdown(list(rows.values())).splitlines()
    assert table[2] == "| `rlhf` | 8 | 2.50 | 3.50 | 25% | - |"
    assert table[3] == "| `fpo-practical` | 8 | 2.00 | 3.00 | 25% | 2, 1 (1.00) |"
