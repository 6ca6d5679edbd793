"""A property of the whole command line: generated argument lists for every subcommand never
end in a traceback. Each exits 0, or exits 2 with exactly one line on stderr.

The arguments are mostly invalid (zero, negative, huge, non-finite, non-numeric values,
unknown names, repeated flags), and the valid ones cheap (two iterations, one seed, the
heavy commands only with an argument they refuse), so that every example runs in-process
through :func:`toysim.cli.main` in well under a second once its program is compiled.
"""

import contextlib
import io
import os

import jax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toysim.cli import main

pytestmark = pytest.mark.slow

BAD_INTS = ["0", "-1", "-3", str(2**63), str(2**64), "1.5", "x", "", "nan", "1e3"]
FLOATS = ["0", "0.1", "-1", "nan", "inf", "-inf", "1e308", "x", ""]
PRESETS = ["paper-linear", "population", "sycophancy", "bogus"]
METHODS = ["rlhf", "fpo-exact", "fpo-relaxed", "fpo-practical", "fpo", "ppo"]
SWITCHES = {
    "--hessian": ["exact", "identity", "inverse"],
    "--influence": ["global", "local", "near"],
    "--params": ["optimum", "current", "best"],
    "--oracle": ["true", "none", "yes"],
}
GRID_NAMES = ["c", "gamma", "lr", "eta", "lambda", "lam", "wd", "bias", "A", "sigma", "bogus"]
GRID_NAMES += ["beta", "label_noise", "n", "groups", "members", "gold-budget", "patience"]
GRID_NAMES += ["check-every", "gold-noise", "spread", "expert-step", "stop.every"]
GRID_SPECS = ["0:1:3", "0.1,0.2", "log:0.01:1:3", "0:1:0", "0:1:-2", "log:0:1:3", "x", "1e400"]
GRID_SPECS += ["0:1:1000000000", "", "0:1", "nan,1", "0:1:100000"]
GARBAGE = st.text(alphabet="-=abcx019 .:", max_size=6)


def option(flag: str, values: list[str]):
    """``[flag, value]`` with the value drawn from ``values`` (or, one time in eight, garbage)."""
    value = st.sampled_from([True] * 7 + [False]).flatmap(
        lambda listed: st.sampled_from(values) if listed else GARBAGE
    )
    return st.tuples(st.just(flag), value).map(list)


def command(name: str, options: list, required=(), defaults=()):
    """``[name, *options in any order, *required]``, then ``defaults`` for absent flags."""

    def assemble(chosen):
        argv = [name, *(token for pair in chosen for token in pair), *required]
        for flag, value in defaults:
            if flag not in argv:
                argv += [flag, value]
        return argv

    return st.lists(st.one_of(*options), max_size=5).map(assemble)


def run_command():
    options = [
        option("--preset", [*PRESETS, "paper-nn", "pairwise-linear"]),
        option("--method", METHODS),
        *(option(flag, values) for flag, values in SWITCHES.items()),
        option("--gamma", FLOATS),
        option("--steps", ["2", *BAD_INTS, "1000000000"]),
        option("--seed", ["0", str(2**32 + 1), *BAD_INTS]),
        option("--max-memory", FLOATS),
        option("--precision", ["64", "32", "16"]),
        st.just(["--json"]),
        *composition_options(),
    ]
    return command("run", options, defaults=[("--steps", "2")]).map(one_method)


def composition_options():
    """The flags ``run`` and ``sweep`` share: the leader, the mitigations, the data."""
    return [
        option("--leader", ["gradient", "expert", "sgd"]),
        option("--n", ["1", "4", *BAD_INTS]),
        option("--groups", ["2", *BAD_INTS]),
        option("--spread", FLOATS),
        option("--expert-step", FLOATS),
        option("--members", ["1", "2", *BAD_INTS]),
        option("--aggregate", ["mean", "min", "max"]),
        option("--gold-budget", ["0", "2", *BAD_INTS]),
        option("--patience", FLOATS),
        option("--check-every", FLOATS),
        option("--gold-noise", FLOATS),
        option("--regime", ["replace", "window", "accumulate", "all"]),
        option("--labels", ["sampled", "expected", "noisy"]),
        option("--pairing", ["policy", "reference", "initial"]),
        option("--candidates", ["1", "2", *BAD_INTS]),
    ]


def one_method(argv: list[str]) -> list[str]:
    """``argv`` with ``--method rlhf`` unless it names a method or asks for expert iteration
    (which refuses one): one compiled program per run, not four."""
    expert = any(a == "--leader" and b == "expert" for a, b in zip(argv, argv[1:], strict=False))
    return argv if expert or "--method" in argv else [*argv, "--method", "rlhf"]


def sweep_command(out: str):
    grid = st.builds(
        lambda n, s: f"{n}={s}", st.sampled_from(GRID_NAMES), st.sampled_from(GRID_SPECS)
    )
    options = [
        option("--preset", [*PRESETS, "paper-nn", "pairwise-linear", "pairwise-nn"]),
        option("--method", METHODS),
        st.tuples(st.just("--grid"), grid | GARBAGE).map(list),
        st.tuples(st.just("--grid"), grid).map(list),
        option("--recipe", ["kl-leash", "bogus"]),
        option("--seeds", ["1", *BAD_INTS]),
        option("--gamma", FLOATS),
        option("--steps", ["2", *BAD_INTS]),
        option("--collapse-drop", FLOATS),
        option("--chunk", ["1", "7", *BAD_INTS]),
        option("--devices", ["1", "2", "0", "1000", *BAD_INTS]),
        option("--max-memory", FLOATS),
        option("--precision", ["64", "32"]),
        *composition_options(),
    ]
    defaults = [("--steps", "2"), ("--seeds", "1"), ("--grid", "c=0.1,0.2")]
    return command("sweep", options, required=["--out", out], defaults=defaults)


def refused_commands(out: str):
    """Commands whose valid runs are long: each drawn with an argument they refuse."""
    figures = command(
        "figures",
        [
            option("--out", [out]),
            st.just(["--quick"]),
            option("--precision", ["32", "64"]),
            option("--jobs", ["1", "2", *BAD_INTS]),
        ],
        required=["--only", "no-such-figure"],
    )
    animate = command(
        "animate",
        [
            option("--preset", PRESETS),
            option("--method", METHODS),
            option("--steps", ["2", *BAD_INTS]),
            option("--seed", ["0", *BAD_INTS]),
            option("--fps", ["15", *BAD_INTS]),
            option("--frames", ["3", *BAD_INTS]),
        ],
        required=["--out", os.path.join(out, "movie.txt")],
    )
    reproduce = command(
        "reproduce",
        [st.just(["--neural"]), st.just(["--json"]), option("--precision", ["32", "64"])],
        required=["--seeds", "0"],
    )
    bench = command(
        "bench",
        [
            *(option(f, ["1", *BAD_INTS]) for f in ("--batch", "--numpy-runs", "--seeds")),
            option("--chunk", ["1", *BAD_INTS]),
            option("--steps", ["1", *BAD_INTS]),
            option("--devices", ["1", "0", "1000"]),
            st.sampled_from([["--sweep"], ["--scale"], ["--neural"], ["--json"]]),
        ],
        required=["--repeats", "0"],
    )
    explorer = command("explorer-data", [option("--out", [out])], required=["--out", out])
    listing = st.sampled_from(
        [["figures", "--list"], ["--version"], ["run", "--help"], [], ["sweep", "--out", out]]
    )
    garbage = st.lists(GARBAGE, max_size=4)
    return st.one_of(figures, animate, reproduce, bench, explorer, listing, garbage)


def call(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` in-process: ``(status, stdout, stderr)``; JAX's precision and
    ``XLA_FLAGS`` restored whatever the command set."""
    out, err = io.StringIO(), io.StringIO()
    x64, flags = jax.config.jax_enable_x64, os.environ.get("XLA_FLAGS")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
    except SystemExit as exit_:  # --help and --version exit through argparse
        status = exit_.code
    finally:
        jax.config.update("jax_enable_x64", x64)
        os.environ.pop("XLA_FLAGS", None) if flags is None else os.environ.update(XLA_FLAGS=flags)
    return status, out.getvalue(), err.getvalue()


def exits_cleanly(argv: list[str]) -> None:
    status, out, err = call(argv)
    assert status in (0, 2), (argv, status, err)
    if status == 2:
        assert len(err.strip().splitlines()) == 1, (argv, err)
        assert err.startswith(("error: ", "toysim")), (argv, err)


PROPERTY = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY
@given(data=st.data())
def test_every_command_line_exits_0_or_2_with_one_line(tmp_path_factory, data):
    out = str(tmp_path_factory.mktemp("out"))
    strategies = {"run": run_command(), "sweep": sweep_command(out), "other": refused_commands(out)}
    kind = data.draw(st.sampled_from(["run", "run", "sweep", "sweep", "other"]))
    argv = data.draw(strategies[kind])
    exits_cleanly(argv)
