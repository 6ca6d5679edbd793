"""The command line: the comparison table, one JSON object per run, one-line user errors."""

import json
import os
import subprocess
import sys

import jax
import pytest

from tests.helpers import refused

JSON_FIELDS = {
    "preset",
    "method",
    "hessian",
    "influence",
    "params",
    "oracle",
    "gamma",
    "seed",
    "steps",
    "final_signal",
    "final_noise",
    "final_utility",
    "max_utility",
    "final_proxy_reward",
}


def toysim(*args):
    return subprocess.run(
        [sys.executable, "-m", "toysim", *args], capture_output=True, text=True, timeout=600
    )


def test_run_without_a_method_compares_the_four_methods():
    out = toysim("run", "--steps", "50")
    assert out.returncode == 0, out.stderr
    for method in ("rlhf", "fpo-exact", "fpo-relaxed", "fpo-practical"):
        assert method in out.stdout
    for column in ("signal", "noise", "utility", "max utility", "proxy reward"):
        assert column in out.stdout


def test_json_prints_one_object_per_run_with_every_field(cli):
    status, out, err = cli("run", "--json", "--steps", "30", "--preset", "population")
    assert status == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["method"] for r in rows] == ["rlhf", "fpo-exact", "fpo-relaxed", "fpo-practical"]
    for row in rows:
        assert JSON_FIELDS <= row.keys()
        assert row["steps"] == 30 and row["preset"] == "population"


def test_switches_make_a_custom_fpo_and_reach_the_run(cli):
    status, out, err = cli(
        "run",
        "--json",
        "--steps",
        "20",
        "--method",
        "fpo",
        "--hessian",
        "identity",
        "--influence",
        "local",
        "--params",
        "current",
        "--oracle",
        "none",
        "--gamma",
        "0.3",
    )
    assert status == 0, err
    row = json.loads(out)
    assert (row["hessian"], row["influence"], row["params"], row["oracle"]) == (
        "identity",
        "local",
        "current",
        "none",
    )
    assert row["gamma"] == 0.3
    status, out, err = cli(
        "run", "--json", "--steps", "20", "--method", "fpo-practical", "--gamma", "0.3"
    )
    assert status == 0, err
    assert json.loads(out)["final_noise"] == pytest.approx(row["final_noise"], rel=1e-12)


USER_ERRORS = [
    (("run", "--method", "ppo"), "invalid choice: 'ppo'"),
    (("run", "--hessian", "inverse", "--method", "fpo"), "invalid choice: 'inverse'"),
    (("run", "--steps", "0"), "steps must be an integer in [1, 2**31 - 1]; got 0"),
    (("run", "--method", "fpo", "--gamma", "-1"), "gamma must be >= 0"),
    (("run", "--method", "rlhf", "--gamma", "0.1"), "gamma must be 0 for rlhf"),
    (("run", "--gamma", "0.1"), "need --method"),
    (("run", "--seed", "-3"), "--seed must be an integer in [0, 2**63)"),
    (("walk",), "invalid choice: 'walk'"),
    (("bench", "--chunk", "0"), "--chunk must be >= 1"),
    (("bench", "--neural", "--steps", "0"), "--steps must be >= 1"),
    (("bench", "--steps", "10"), "--steps applies to --neural only"),
    (("figures", "--jobs", "0"), "toysim figures: --jobs must be an integer >= 1; got 0"),
]


@pytest.mark.parametrize("args, needle", USER_ERRORS)
def test_user_errors_exit_nonzero_with_one_line(cli, args, needle):
    assert needle in refused(cli, *args)


@pytest.mark.parametrize(
    "args, needle", [USER_ERRORS[2], USER_ERRORS[7], USER_ERRORS[8], USER_ERRORS[11]]
)
def test_user_errors_in_a_fresh_interpreter_print_one_line_and_no_traceback(args, needle):
    """The same refusals as a user meets them (a parser error, a checked field, each command):
    status 2 from the process itself and no traceback."""
    out = toysim(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert needle in lines[0]
    assert "Traceback" not in out.stderr


def test_run_paper_nn_from_the_command_line(cli):
    status, out, err = cli(
        "run", "--preset", "paper-nn", "--steps", "30", "--json", "--method", "fpo-relaxed"
    )
    assert status == 0, err
    row = json.loads(out)
    assert JSON_FIELDS <= row.keys()
    assert row["preset"] == "paper-nn" and row["gamma"] == 0.005 and row["steps"] == 30
    assert "params must be current" in refused(
        cli, "run", "--preset", "paper-nn", "--method", "fpo", "--params", "optimum"
    )


@pytest.mark.parametrize(("argv", "widths"), [([], (64, 32)), (["--precision", "32"], (32,))])
def test_bench_neural_times_both_widths_unless_precision_names_one(argv, widths, monkeypatch):
    from toysim import bench_neural
    from toysim.cli import main

    asked = {}

    def fake(repeats, steps=None, precisions=bench_neural.PRECISIONS):
        asked.update(precisions=precisions, steps=steps)
        return []

    monkeypatch.setattr(bench_neural, "run_neural_benchmark", fake)
    monkeypatch.setattr(bench_neural, "format_neural_report", lambda rows: "")
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))  # restored after
    x64 = jax.config.jax_enable_x64
    try:
        assert main(["bench", "--neural", "--steps", "7", "--devices", "1", *argv]) == 0
    finally:
        jax.config.update("jax_enable_x64", x64)
    assert asked == {"precisions": widths, "steps": 7}


def test_bench_neural_compares_with_the_published_code_per_iteration():
    """A shortened run is compared with the same share of a published 4,000-iteration run
    (22 s): 1,000 iterations in 0.25 s are 22x faster, not 88x."""
    from toysim.bench_neural import speedup_vs_published

    assert speedup_vs_published(1000, 0.25) == pytest.approx(22.0)
    assert speedup_vs_published(4000, 2.0) == pytest.approx(11.0)


@pytest.mark.parametrize(
    ("machine", "flags", "expected"),
    [
        ("x86_64", "", "--xla_cpu_max_isa=AVX2"),
        ("AMD64", "--a", "--a --xla_cpu_max_isa=AVX2"),
        ("x86_64", "--xla_cpu_max_isa=AVX512", "--xla_cpu_max_isa=AVX512"),  # the user's cap
        ("arm64", "--a", "--a"),  # not an x86 flag
    ],
)
def test_figures_cap_the_instruction_set_on_x86_only(monkeypatch, machine, flags, expected):
    """``figures`` caps XLA:CPU at AVX2 on x86-64 (AVX-512 sums round differently, and a
    chaotic run's figure would differ between machines), keeping a cap the user set."""
    import platform

    from toysim.cli import _set_portable_codegen

    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setenv("XLA_FLAGS", flags)
    _set_portable_codegen()
    assert os.environ["XLA_FLAGS"] == expected
