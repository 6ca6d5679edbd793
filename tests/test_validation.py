"""Bad input: every field is checked, with an error naming the field and what is allowed."""

import dataclasses
import re

import pytest

from toysim import ConfigError, build, method_from_name, simulate, validate
from toysim.config import LinearSpec, Method


def spec_and_hp(method="fpo-exact", preset="paper-linear"):
    return build(preset, method, steps=5)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("dim", 3, r"signal_dims must be an integer with 1 <= signal_dims < dim = 3"),
        ("dim", 1, r"dim must be an integer >= 2"),
        ("signal_dims", 0, r"signal_dims must be .* 1 <= signal_dims"),
        ("steps", 0, r"steps must be an integer in \[1, 2\*\*31 - 1\]; got 0"),
        ("steps", 2**31, r"steps must be an integer in \[1, 2\*\*31 - 1\]"),
        ("follower", "adam", r"follower must be one of sgd, best-response, population; got 'adam'"),
        ("buffer_size", 0, r"buffer_size must be an integer >= 1"),
        ("follower_steps", 0, r"follower_steps must be an integer >= 1"),
        ("anchor", "l2", r"anchor must be one of ridge, proximal; got 'l2'"),
        ("record", "all", r"record must be one of full, scalars; got 'all'"),
    ],
)
def test_spec_fields_are_validated(field, value, message):
    spec, hp = spec_and_hp()
    with pytest.raises(ConfigError, match=message):
        validate(dataclasses.replace(spec, **{field: value}), hp)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("leader_lr", -0.1, r"leader_lr must be >= 0 \(a step size\); got -0.1"),
        ("follower_lr", -1e-3, r"follower_lr must be >= 0 \(a step size\)"),
        ("amplitude", 0.0, r"amplitude must be > 0"),
        ("tau", -1.0, r"tau must be > 0"),
        ("action_cost", -0.1, r"action_cost must be >= 0"),
        ("gamma", -0.5, r"gamma must be >= 0"),
        ("weight_decay", 1.0, r"weight_decay must be in \[0, 1\)"),
        ("rm_init_noise", -0.1, r"rm_init_noise must be >= 0"),
        ("ideal_value", float("nan"), r"ideal_value must be a finite number"),
        ("sigma", 0.2, r"sigma must be 0 for the point policy"),
    ],
)
def test_hparam_fields_are_validated(field, value, message):
    spec, hp = spec_and_hp()
    with pytest.raises(ConfigError, match=message):
        validate(spec, hp._replace(**{field: value}))


def test_negative_sigma_is_refused_for_the_gaussian_policy():
    spec, hp = spec_and_hp(preset="population")
    with pytest.raises(ConfigError, match=r"sigma must be >= 0 \(a standard deviation\); got -0.3"):
        validate(spec, hp._replace(sigma=-0.3))


@pytest.mark.parametrize("method", ["fpo-exact", "fpo"])
@pytest.mark.parametrize("lam", [0.0, -1.0])
def test_nonpositive_lambda_with_the_exact_hessian_explains_strong_convexity(method, lam):
    spec, hp = spec_and_hp(method)
    with pytest.raises(ConfigError, match=r"lam must be > 0") as err:
        validate(spec, hp._replace(lam=lam))
    assert "strongly convex" in str(err.value)


def test_lambda_zero_is_fine_without_any_solve():
    spec, hp = spec_and_hp("fpo-relaxed")
    validate(spec, hp._replace(lam=0.0))


def test_sweep_arrays_are_checked_element_by_element():
    import numpy as np

    spec, hp = spec_and_hp()
    with pytest.raises(ConfigError, match=r"gamma must be >= 0; got -0.2"):
        validate(spec, hp._replace(gamma=np.array([0.1, -0.2, 0.3])))


def test_unknown_method_and_switch_names_list_the_valid_ones():
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "method must be one of rlhf, fpo-exact, fpo-relaxed, fpo-practical, fpo; got 'ppo'"
        ),
    ):
        method_from_name("ppo")
    with pytest.raises(
        ConfigError,
        match=r"hessian must be one of exact, damped, gauss-newton, diagonal, identity, "
        r"neumann, unrolled; got 'inverse'",
    ):
        method_from_name("fpo", hessian="inverse")
    with pytest.raises(ConfigError, match=r"influence must be one of global, local"):
        method_from_name("fpo", influence="nearby")
    with pytest.raises(ConfigError, match=r"params must be one of optimum, current"):
        method_from_name("fpo", params="best")
    with pytest.raises(ConfigError, match=r"oracle must be one of true, none"):
        method_from_name("fpo", oracle="yes")
    with pytest.raises(ConfigError, match=r"switches \(hessian\) apply to FPO methods only"):
        method_from_name("rlhf", hessian="identity")
    with pytest.raises(ConfigError, match=r"preset must be one of paper-linear, population"):
        build("paper-nonlinear", "rlhf")
    with pytest.raises(ConfigError, match=r"gamma must be 0 for rlhf"):
        build("paper-linear", "rlhf", gamma=0.1)


def test_overriding_an_alias_switch_renames_it_a_custom_mix():
    assert method_from_name("fpo-relaxed", hessian="exact").name == "fpo"
    assert method_from_name("fpo-relaxed", hessian="identity").name == "fpo-relaxed"
    assert method_from_name("fpo-exact") == Method("fpo-exact")


def test_simulate_validates_before_running():
    spec, hp = spec_and_hp()
    with pytest.raises(ConfigError, match="leader_lr"):
        simulate(spec, hp._replace(leader_lr=-1.0), seed=0)
    with pytest.raises(ConfigError, match="signal_dims"):
        simulate(LinearSpec(3, 3, 5, "sgd", 1, 1, "proximal", Method("fpo")), hp, seed=0)


def test_numpy_integers_are_accepted_wherever_python_integers_are():
    import numpy as np

    from toysim.sweep import sweep

    spec, hp = build("paper-linear", "rlhf", steps=np.int64(4))
    assert spec.steps == 4 and type(spec.steps) is int
    assert simulate(spec, hp, np.int64(3)).utility.shape == (4,)
    dims = LinearSpec(
        np.int64(5), np.int32(2), np.int64(3), "sgd", np.int64(1), 1, "ridge", spec.method
    )
    validate(dims, hp)
    result = sweep(spec, hp, {"c": [0.1]}, np.int64(2))
    assert result.metrics["final_utility"].shape == (1, 2)


def test_numpy_integers_are_accepted_by_the_neural_spec():
    import numpy as np

    from toysim.game.sampled_round import SampledSpec

    spec = SampledSpec(steps=np.int64(3), dim=np.int64(4), hidden=(np.int64(8),))
    spec.validate()
    assert (spec.steps, spec.dim, spec.hidden) == (3, 4, (8,))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("gamma", float("nan"), r"gamma must be finite and >= 0; got nan"),
        ("damping", -1.0, r"damping must be >= 0; got -1.0"),
        ("clip", 0.0, r"clip must be > 0; got 0.0"),
        ("lr_start", float("inf"), r"lr_start must be finite and >= 0 \(a step size\); got inf"),
        ("tau", 0.0, r"tau must be > 0"),
        ("ideal_value", float("nan"), r"ideal_value must be a finite number; got nan"),
    ],
)
def test_paper_nn_numbers_are_refused_before_running(field, value, message):
    from toysim.experiments.runner import run_seed
    from toysim.game.trajectory import make_trajectory

    spec, hp = build("paper-nn", "fpo-relaxed")
    spec = dataclasses.replace(spec, steps=2)
    with pytest.raises(ConfigError, match=message):
        run_seed(spec, hp._replace(**{field: value}), 0, make_trajectory)


@pytest.mark.parametrize("field", ["lam", "leader_lr", "rm_init_signal", "amplitude"])
def test_every_linear_number_must_be_finite(field):
    spec, hp = spec_and_hp()
    with pytest.raises(ConfigError, match=rf"{field} must be"):
        validate(spec, hp._replace(**{field: float("inf")}))


def test_only_fields_the_game_reads_may_be_varied():
    from toysim.config import LinearHParams

    LinearHParams.check_read(build("paper-linear", "fpo-exact")[0], ["gamma", "lam", "c"])
    LinearHParams.check_read(build("population", "rlhf")[0], ["sigma", "lam"])
    LinearHParams.check_read(build("sycophancy", "rlhf")[0], ["rm_init_bias", "follower_lr"])
    with pytest.raises(ConfigError, match=r"gamma is not read by method 'rlhf'.*FPO method"):
        LinearHParams.check_read(build("paper-linear", "rlhf")[0], ["gamma"])
    with pytest.raises(ConfigError, match=r"follower_lr is not read .* 'population'"):
        LinearHParams.check_read(build("population", "fpo-exact")[0], ["follower_lr"])
