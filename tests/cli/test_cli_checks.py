"""Bad command lines are refused before anything compiles: exit status 2, one line on stderr
naming the field and what is allowed, no traceback, no file written."""

import pytest

from tests.helpers import refused

BIG = str(2**63)
SWEEP = ("sweep", "--steps", "3", "--seeds", "1")


@pytest.mark.parametrize(
    "argv, needle",
    [
        (SWEEP, "--grid NAME=SPEC is required"),
        ((*SWEEP, "--grid", "c=0,1", "--chunk", "0"), "--chunk must be an integer >= 1; got 0"),
        ((*SWEEP, "--grid", "c=0,1", "--chunk", "-3"), "--chunk must be an integer >= 1; got -3"),
        (("run", "--method", "rlhf", "--steps", "2", "--seed", BIG), "--seed must be an integer"),
        (("animate", "--seed", BIG, "--out", "x.gif"), "--seed must be an integer in [0, 2**63)"),
        (("run", "--method", "rlhf", "--steps", "1000000000"), "needs an estimated"),
        (("sweep", "--grid", "c=0:1:100000", "--grid", "lr=0:1:100000"), "needs an estimated"),
        (("sweep", "--grid", "c=0:1:1000000000"), "at most 1e+08 values per axis"),
        ((*SWEEP, "--grid", "gamma=0,1"), "gamma is not read by method 'rlhf'"),
        ((*SWEEP, "--method", "fpo-relaxed", "--grid", "lam=1,2"), "lam is not read"),
        ((*SWEEP, "--grid", "sigma=0,1"), "sigma is not read"),
        ((*SWEEP, "--grid", "bias=0,1"), "rm_init_bias is not read"),
        ((*SWEEP, "--grid", "c=0,1", "--grid", "c=2,3"), "--grid names action_cost twice"),
        ((*SWEEP, "--grid", "c=0,1", "--grid", "action_cost=2"), "names action_cost twice"),
        ((*SWEEP, "--grid", "c=0,1", "--devices", "0"), "--devices must be an integer in [1, "),
        ((*SWEEP, "--grid", "c=0,1", "--devices", "1000"), "--devices must be an integer in"),
        (("bench", "--devices", "0"), "--devices must be an integer in [1, "),
        (("run", "--preset", "paper-nn", "--method", "fpo-relaxed", "--gamma", "nan"), "gamma"),
    ],
)
def test_defects_of_the_issue_are_refused_in_one_line(cli, tmp_path, argv, needle):
    line = refused(cli, *argv)
    assert needle in line and line.startswith("error: "), line
    assert not any(tmp_path.iterdir())


def test_paper_nn_nonfinite_gamma_names_the_field_not_the_trajectory(cli):
    argv = ("run", "--preset", "paper-nn", "--method", "fpo-relaxed", "--steps", "2")
    assert refused(cli, *argv, "--gamma", "nan") == "error: gamma must be finite and >= 0; got nan"
    assert "gamma must be 0 for rlhf" in refused(cli, *argv[:4], "rlhf", "--gamma", "0.5")


@pytest.mark.parametrize("seeds", ["0", "-2"])
def test_non_positive_seeds_are_refused(cli, seeds):
    line = refused(cli, "sweep", "--grid", "c=0,1", "--seeds", seeds)
    assert f"--seeds must be an integer >= 1; got {seeds}" in line


@pytest.mark.parametrize("gb", ["0", "-1", "nan", "inf"])
def test_max_memory_must_be_a_positive_number(cli, gb):
    line = refused(cli, "run", "--method", "rlhf", "--steps", "2", "--max-memory", gb)
    assert "--max-memory must be a number of GB > 0" in line


def test_the_memory_refusal_prints_the_estimate_and_the_limit(cli):
    from toysim import build, make_trajectory
    from toysim.memory import run_bytes

    spec, hp = build("paper-linear", "rlhf", steps=1000)
    estimate = run_bytes(make_trajectory, spec, hp, 1) / 1e9
    line = refused(cli, "run", "--method", "rlhf", "--steps", "1000", "--max-memory", "1e-6")
    assert f"1000 iterations of rlhf needs an estimated {estimate:.3g} GB" in line
    assert "above the limit of 1e-06 GB" in line and "--max-memory" in line


def test_a_grid_over_a_field_the_game_reads_runs(cli, tmp_path):
    status, out, err = cli(*SWEEP, "--method", "fpo-exact", "--grid", "gamma=0,1")
    assert status == 0, err
    assert "2 runs" in out and any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (("--n", "4"), "--n is expert iteration's; it needs --leader expert"),
        (("--leader", "expert", "--method", "rlhf"), "--method chooses the gradient leader"),
        (("--aggregate", "min"), "--aggregate combines an ensemble's rewards"),
        (("--patience", "2"), "--patience is early stopping's; it needs --gold-budget > 0"),
        (("--gold-budget", "2", "--check-every", "2.5"), "--check-every must be an integer"),
        (("--gold-budget", "2", "--patience", "0"), "--patience must be an integer > 0"),
        (("--leader", "expert", "--expert-step", "2"), "--expert-step must be in [0, 1]"),
        (("--members", "0"), "--members must be an integer >= 1"),
        (("--preset", "population", "--regime", "accumulate"), "--regime must be window"),
        (("--members", "2000"), "--members must be at most 1024; got 2000"),
        (("--gold-budget", str(2**63)), "--gold-budget x dim must be at most 2**26"),
        (("--preset", "paper-nn", "--labels", "expected"), "--labels applies to the pairwise"),
        (("--preset", "paper-linear", "--pairing", "reference"), "--pairing applies to the pair"),
        (("--preset", "paper-nn", "--candidates", "8"), "--candidates applies to the pairwise"),
        (("--preset", "pairwise-linear", "--candidates", "0"), "--candidates must be an integer"),
        (("--preset", "pairwise-nn", "--candidates", "8"), "--candidates must be 1 unless data"),
        (
            ("--preset", "pairwise-nn", "--pairing", "reference", "--candidates", "2")
            + ("--leader", "expert"),
            "--candidates must be 1 with leader = expert",
        ),
        (("--preset", "pairwise-nn", "--leader", "expert", "--spread", "0.1"), "--spread"),
    ],
)
def test_a_composition_flag_without_its_piece_is_refused_by_name(cli, argv, flag):
    assert flag in refused(cli, "run", "--steps", "2", *argv)


def test_every_row_is_refused_before_any_runs(cli, monkeypatch):
    """paper-nn's rlhf row would run with an ensemble; fpo-exact's cannot: nothing runs."""
    import toysim.experiments.runner

    def never(*args):
        raise AssertionError("a run started before every row was checked")

    monkeypatch.setattr(toysim.experiments.runner, "run_seed", never)
    line = refused(cli, "run", "--preset", "paper-nn", "--members", "3")
    assert "--members must be 1 with a foresight method" in line


def test_json_writes_an_infinite_patience_as_a_string(cli):
    import json

    argv = ("run", "--method", "rlhf", "--steps", "3", "--json", "--gold-budget", "2")
    status, out, _ = cli(*argv, "--patience", "inf")
    row = json.loads(out)
    assert status == 0 and row["config"]["hparams"]["stop.patience"] == "inf"
    assert row["gold_budget"] == 2 and row["leader"] == "gradient"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("--grid", "n=1,4"), "--grid n is expert iteration's; it needs --leader expert"),
        (("--leader", "expert", "--n", "4", "--grid", "n=1,4"), "--n and --grid n set the same"),
        (("--grid", "patience=1,3"), "--grid stop.patience is early stopping's; it needs --gold"),
        (("--gold-budget", "2", "--grid", "check-every=2.5,3"), "--grid check-every: every must"),
        (("--leader", "expert", "--grid", "expert-step=0.1,2"), "--grid expert-step: step must"),
        (("--leader", "expert", "--grid", "n=0,4"), "grid 'n': each value must be an integer"),
        (("--leader", "expert", "--grid", "groups=1:100:100"), "at most 64"),
        (("--grid", "members=1,2000"), "at --grid members = 2000: members must be at most 1024"),
        (("--preset", "paper-nn", "--method", "fpo-relaxed", "--grid", "members=1,3"), "foresight"),
        (("--preset", "paper-nn", "--leader", "expert", "--grid", "spread=1,2"), "linear presets"),
        (("--preset", "paper-nn", "--grid", "beta=1,2"), "beta is not read by method 'rlhf'"),
        (("--preset", "paper-nn", "--grid", "lr=1,2"), "grid name must be one of amplitude"),
        (("--leader", "expert", "--grid", "gamma=0,1"), "gamma is not read by method 'best-of-n'"),
        (("--leader", "expert", "--method", "rlhf", "--grid", "c=0,1"), "--method chooses the"),
        (("--preset", "population", "--regime", "replace", "--grid", "c=0,1"), "--regime must be"),
        (("--preset", "paper-nn", "--labels", "expected", "--grid", "c=0,1"), "--labels applies"),
        (("--aggregate", "min", "--grid", "c=0,1"), "--aggregate combines an ensemble's rewards"),
        (("--gold-budget", "-1", "--grid", "c=0,1"), "--gold-budget must be an integer >= 0"),
        (("--gold-budget", "10000000", "--grid", "c=0,1"), "--gold-budget x dim must be at most"),
        (("--members", "0", "--grid", "c=0,1"), "--members must be an integer >= 1"),
        (("--leader", "expert", "--groups", "64", "--grid", "n=1,16384", "--max-memory", "1"),
         "toysim sweep: 2 runs of 3 iterations needs an estimated"),
    ],
)  # fmt: skip
def test_a_sweeps_composition_flag_or_axis_is_refused_by_name_before_compiling(
    cli, tmp_path, monkeypatch, argv, needle
):
    import toysim.sweep

    def never(*args):
        raise AssertionError("compiled before every flag and axis was checked")

    monkeypatch.setattr(toysim.sweep, "compiled_summary", never)
    line = refused(cli, *SWEEP, *argv)
    assert needle in line and line.startswith("error: "), line
    assert not any(tmp_path.iterdir())


def test_zero_rung_steps_are_refused(cli):
    line = refused(cli, "run", "--method", "fpo", "--hessian", "neumann", "--rung-steps", "0")
    assert "rung_steps must be an integer >= 1; got 0" in line
