"""Every output says what ran: the fields that differ from the default preset appear in
``run``'s table and JSON and in the sweep's sidecar."""

import json

import jax
import pytest

from toysim.cli import main


@pytest.fixture
def cli(capsys):
    x64 = jax.config.jax_enable_x64

    def run(*argv):
        try:
            assert main(list(argv)) == 0
        finally:
            jax.config.update("jax_enable_x64", x64)
        return capsys.readouterr().out

    return run


def test_the_sycophancy_bias_is_in_the_table_and_the_json(cli):
    argv = ("run", "--preset", "sycophancy", "--method", "rlhf", "--steps", "3")
    assert "differ from paper-linear: biased_dims 2, rm_init_bias 0.5" in cli(*argv)
    row = json.loads(cli(*argv, "--json"))
    assert row["differences"] == {"steps": 3, "biased_dims": 2, "rm_init_bias": 0.5}
    assert row["config"]["spec"]["biased_dims"] == 2
    assert row["config"]["hparams"]["rm_init_bias"] == 0.5


def test_the_default_preset_lists_only_what_the_command_line_changed(cli):
    row = json.loads(
        cli("run", "--method", "fpo-relaxed", "--gamma", "0.3", "--steps", "3", "--json")
    )
    assert row["differences"] == {"steps": 3, "gamma": 0.3}
    assert "differ from" not in cli("run", "--method", "rlhf", "--steps", "3")


def test_a_linear_preset_runs_with_a_data_regime_and_says_so(cli):
    argv = ("run", "--method", "fpo-exact", "--regime", "accumulate", "--steps", "3")
    assert "differ from the paper-linear preset: regime accumulate" in cli(*argv)
    row = json.loads(cli(*argv, "--json"))
    assert row["regime"] == "accumulate" and row["differences"] == {
        "steps": 3,
        "regime": "accumulate",
    }
    assert row["gamma"] == 2.0  # 2 omega_1; the follower scales it by omega_t / omega_1


def test_the_population_preset_lists_its_follower_and_policy(cli):
    row = json.loads(
        cli("run", "--preset", "population", "--method", "rlhf", "--steps", "3", "--json")
    )
    assert {"follower": "population", "sigma": 0.3, "lam": 0.1}.items() <= row[
        "differences"
    ].items()


def test_the_sweep_sidecar_names_the_preset_and_its_differences(cli, tmp_path):
    cli(
        "sweep",
        "--preset",
        "sycophancy",
        "--grid",
        "c=0.1,0.2",
        "--seeds",
        "1",
        "--steps",
        "3",
        "--out",
        str(tmp_path),
    )
    sidecar = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert sidecar["config"]["preset"] == "sycophancy"
    assert sidecar["config"]["differences"] == {"steps": 3, "biased_dims": 2, "rm_init_bias": 0.5}


def test_run_says_where_the_leader_stopped_and_which_check_it_rolled_back_to(cli):
    """The stop and the best check of :func:`rule_by_hand` on the library's run of the same
    composition; the final utility is the one at the best check."""
    from tests.helpers import rule_by_hand
    from toysim.experiments.runner import run_seed
    from toysim.game.early_stop import StopParams
    from toysim.presets import build, compose

    flags = ("--gold-budget", "2", "--patience", "1", "--check-every", "5")
    argv = ("run", "--method", "rlhf", "--steps", "40", *flags)
    game, hp = build("paper-linear", "rlhf", steps=40)
    spec, params = compose(game, hp, gold_budget=2, stop=StopParams(1.0, 5.0, 1.0))
    run = run_seed(spec, params, 0)
    stop, best = rule_by_hand(run.gold_estimate, run.climb, every=5, patience=1)
    assert 0 < best < stop
    row = json.loads(cli(*argv, "--json"))
    assert row["stopped"] and (row["stop_iteration"], row["best_check"]) == (stop, best)
    assert row["final_utility"] == pytest.approx(float(run.utility[best - 1]), rel=1e-12)
    assert (
        f"rlhf stopped at iteration {stop} after {2 * stop // 5} gold labels, rolled back "
        f"to the check at iteration {best}" in cli(*argv)
    )
    free = json.loads(cli("run", "--method", "rlhf", "--steps", "3", "--json"))
    assert free["stop_iteration"] is None and free["best_check"] is None
