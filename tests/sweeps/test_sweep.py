"""Sweeps: one compile, equal to single runs, sharded equal to unsharded, saved and reloaded."""

import dataclasses
import json
import subprocess
import sys
import textwrap

import chex
import jax
import numpy as np
import pytest

from tests.helpers import run_on_host_devices
from toysim import ConfigError, build, simulate
from toysim.cli import main
from toysim.presets import STOP_DEFAULTS, compose
from toysim.sweep import load_sweep, parse_grid, save_sweep, sweep


def test_parse_grid_forms():
    name, values = parse_grid("gamma=0:0.5:6")
    assert name == "gamma" and np.allclose(values, [0, 0.1, 0.2, 0.3, 0.4, 0.5])
    name, values = parse_grid("c=log:0.01:1:3")
    assert name == "action_cost" and np.allclose(values, [0.01, 0.1, 1.0])
    name, values = parse_grid("lambda=1,2.5")
    assert name == "lam" and np.allclose(values, [1, 2.5])
    with pytest.raises(ConfigError, match="grid name must be one of"):
        parse_grid("temperature=0:1:3")
    with pytest.raises(ConfigError, match="expected start:stop:num"):
        parse_grid("gamma=0:1")


def test_sweep_equals_single_runs_and_labels_its_axes():
    spec, hp = build("paper-linear", "fpo-relaxed", steps=60)
    gamma, cost = np.array([0.0, 0.1, 0.3]), np.array([0.05, 0.2])
    result = sweep(spec, hp, {"gamma": gamma, "c": cost}, seeds=2, chunk_size=5)
    assert list(result.axes) == ["gamma", "action_cost", "seed"]
    assert result.metrics["final_utility"].shape == (3, 2, 2)
    for i, g in enumerate(gamma):
        for j, c in enumerate(cost):
            for s in range(2):
                one = simulate(spec, hp._replace(gamma=g, action_cost=c), seed=s)
                got = result.metrics["final_utility"][i, j, s]
                np.testing.assert_allclose(got, one.utility[-1], rtol=1e-10)
                assert result.metrics["max_utility"][i, j, s] == pytest.approx(
                    float(one.utility.max()), rel=1e-10
                )
    collapsed = result.metrics["final_utility"] < 0.8 * result.metrics["max_utility"]
    np.testing.assert_array_equal(result.metrics["collapsed"], collapsed)
    assert np.all(result.metrics["nonfinite_at"] == 0)


def test_sweep_traces_once_for_all_chunks(monkeypatch):
    """Every chunk (the last one padded) reuses the one compiled summary."""
    import toysim.sweep as sweep_module

    original = sweep_module.make_summary

    def traced_once(spec):
        chex.clear_trace_counter()
        return chex.assert_max_traces(original(spec), n=1)

    monkeypatch.setattr(sweep_module, "make_summary", traced_once)
    sweep_module.compiled_summary.cache_clear()  # a program cached by another test has no count
    spec, hp = build("paper-linear", "rlhf", steps=20)
    try:
        result = sweep(spec, hp, {"c": np.linspace(0.05, 0.3, 7)}, seeds=3, chunk_size=4)
    finally:  # the counted program must not serve a later test's other shapes
        sweep_module.compiled_summary.cache_clear()
    assert result.config["chunk_size"] == 4 and result.metrics["final_noise"].shape == (7, 3)


def test_sweep_results_round_trip_through_npz_and_json(tmp_path):
    spec, hp = build("paper-linear", "rlhf", steps=30)
    result = sweep(spec, hp, {"c": [0.1, 0.2]}, seeds=2)
    npz, sidecar = save_sweep(result, tmp_path / "kl")
    meta = json.loads(sidecar.read_text())
    assert meta["axes"] == ["action_cost", "seed"] and "jax" in meta["versions"]
    back = load_sweep(tmp_path / "kl")
    chex.assert_trees_all_equal(back.metrics, result.metrics)
    chex.assert_trees_all_equal(back.axes, result.axes)


def test_sweep_rejects_bad_values_with_the_field_name():
    spec, hp = build("paper-linear", "rlhf", steps=10)
    with pytest.raises(ConfigError, match="leader_lr must be >= 0"):
        sweep(spec, hp, {"lr": [0.01, -0.02]}, seeds=1)
    with pytest.raises(ConfigError, match="seeds must be an integer >= 1"):
        sweep(spec, hp, {}, seeds=0)


SHARDED = textwrap.dedent(
    """
    import json, jax, numpy as np
    jax.config.update("jax_enable_x64", True)
    from toysim import build
    from toysim.sweep import sweep
    assert len(jax.devices()) == 4, jax.devices()
    spec, hp = build("paper-linear", "fpo-exact", steps=50)
    r = sweep(spec, hp, {"gamma": [0.0, 2.0, 8.0], "c": [0.05, 0.1, 0.3]}, seeds=3, chunk_size=8)
    print(json.dumps({"devices": r.config["devices"],
                      "utility": r.metrics["final_utility"].tolist(),
                      "noise": r.metrics["final_noise"].tolist()}))
    """
)


def test_sharded_sweep_on_four_devices_equals_one_device():
    sharded = run_on_host_devices(SHARDED, 4)
    assert sharded["devices"] == 4
    spec, hp = build("paper-linear", "fpo-exact", steps=50)
    single = sweep(spec, hp, {"gamma": [0.0, 2.0, 8.0], "c": [0.05, 0.1, 0.3]}, seeds=3)
    assert single.config["devices"] == len(jax.devices())
    np.testing.assert_allclose(sharded["utility"], single.metrics["final_utility"], rtol=1e-12)
    np.testing.assert_allclose(sharded["noise"], single.metrics["final_noise"], rtol=1e-12)


def test_sweep_command_writes_results_and_a_heat_map(tmp_path):
    done = subprocess.run(
        [
            sys.executable, "-m", "toysim", "sweep", "--preset", "paper-linear",
            "--method", "fpo-relaxed", "--grid", "gamma=0:0.3:4", "--grid", "c=0.05:0.2:3",
            "--seeds", "2", "--steps", "40", "--out", str(tmp_path),
        ],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (npz,) = tmp_path.glob("*.npz")
    stem = npz.with_suffix("")
    assert stem.name.startswith("paper-linear_fpo-relaxed_gamma4_action_cost3_seeds0-1_T40_f64_")
    for suffix in (".npz", ".json", ".png"):
        assert stem.with_suffix(suffix).stat().st_size > 0
    assert load_sweep(stem).metrics["final_utility"].shape == (4, 3, 2)


def test_sweep_command_user_errors_are_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "toysim", "sweep", "--grid", "gamma=oops", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "grid 'gamma'" in done.stderr


def test_a_composed_sweep_over_static_and_traced_axes_equals_single_runs():
    """Early stopping's patience and expert iteration's step (traced) around its draws per
    group ``n`` (static: one program per value, ``max_n = n``), in chunks of 3 runs: each
    run equals simulate of ``compose(..., n=n)``, what ``toysim run --leader expert --n N``
    runs, and the axes keep the order given."""
    game, hp = build("paper-linear", "rlhf", steps=20)
    stop = STOP_DEFAULTS._replace(every=4.0, label_noise=0.0)
    pieces = dict(leader="expert", groups=2, gold_budget=2)
    spec, params = compose(game, hp, **pieces, stop=stop)
    grid = {"patience": [1, 3], "n": [1, 4], "expert-step": [0.1, 0.5]}
    result = sweep(spec, params, grid, seeds=2, chunk_size=3)
    assert list(result.axes) == ["stop.patience", "n", "expert.step", "seed"]
    assert result.config["static_axes"] == ["n"] and result.config["spec"]["leader"] == "expert"
    assert {"stopped", "gold_spent", "final_kl"} <= result.metrics.keys()
    assert "final_ideal_reward" not in result.metrics  # a composition does not record it
    for i, patience in enumerate([1.0, 3.0]):
        for j, n in enumerate([1, 4]):
            for k, step in enumerate([0.1, 0.5]):
                rule = stop._replace(patience=patience)
                one_spec, one_params = compose(game, hp, **pieces, n=n, step=step, stop=rule)
                for s in range(2):
                    one = simulate(one_spec, one_params, seed=s)
                    for name, record in [
                        ("final_utility", "utility"),
                        ("final_kl", "kl"),
                        ("gold_spent", "gold_spent"),
                    ]:
                        got = result.metrics[name][i, j, k, s]
                        np.testing.assert_allclose(got, getattr(one, record)[-1], rtol=1e-10)
    assert len(np.unique(result.metrics["final_kl"][0, :, :, 0])) == 4  # n and step matter


def test_static_axes_are_refused_on_a_plain_game_or_beyond_their_values():
    game, hp = build("paper-linear", "rlhf", steps=5)
    with pytest.raises(ConfigError, match="field of a composition"):
        sweep(game, hp, {"members": [1, 2]}, seeds=1)
    spec, params = compose(game, hp, members=2)
    with pytest.raises(ConfigError, match="grid 'members': each value must be an integer >= 1"):
        sweep(spec, params, {"members": [0.5, 2]}, seeds=1)
    with pytest.raises(ConfigError, match="grid 'n' is expert iteration's"):
        sweep(spec, params, {"n": [1, 2]}, seeds=1)
    with pytest.raises(ConfigError, match="at most 64"):
        sweep(spec, params, {"members": range(1, 66)}, seeds=1)


def test_a_sampled_preset_sweeps_from_the_command_line_as_single_runs(tmp_path, capsys):
    """pairwise-linear (the sampled-buffer game) with a data regime and early stopping, over
    the patience: the saved result equals simulate of the same composition, seed by seed,
    and its sidecar records every field of the composition."""
    argv = ["sweep", "--preset", "pairwise-linear", "--regime", "replace", "--gold-budget", "3"]
    argv += ["--check-every", "2", "--gold-noise", "0", "--grid", "patience=1,3"]
    assert main([*argv, "--seeds", "2", "--steps", "12", "--out", str(tmp_path)]) == 0
    (npz,) = tmp_path.glob("*.npz")
    assert npz.name.startswith("pairwise-linear_rlhf_gold3_replace_stop-patience2_seeds0-1_T12_")
    result = load_sweep(npz.with_suffix(""))
    spec = result.config["spec"]
    assert (spec["leader"], spec["gold_budget"], spec["members"]) == ("gradient", 3, 1)
    assert spec["game"]["regime"] == "replace" and spec["game"]["data"] == "pairs"
    stop = {k: v for k, v in result.config["base_hparams"].items() if k.startswith("stop.")}
    assert stop == {"stop.patience": 3.0, "stop.every": 2.0, "stop.label_noise": 0.0}
    assert "final_expected_utility" not in result.metrics  # the sampled game does not record it
    game, hp = build("pairwise-linear", "rlhf", steps=12)
    game = dataclasses.replace(game, regime="replace")
    for i, patience in enumerate([1.0, 3.0]):
        rule = STOP_DEFAULTS._replace(patience=patience, every=2.0, label_noise=0.0)
        one_spec, one_params = compose(game, hp, gold_budget=3, stop=rule)
        for s in range(2):
            one = simulate(one_spec, one_params, seed=s)
            np.testing.assert_allclose(
                result.metrics["final_utility"][i, s], one.utility[-1], rtol=1e-10
            )
            assert result.metrics["gold_spent"][i, s] == one.gold_spent[-1]
    assert not np.array_equal(result.metrics["gold_spent"][0], result.metrics["gold_spent"][1])
