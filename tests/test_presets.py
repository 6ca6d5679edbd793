"""The preset registry, the sycophancy preset and the kl-leash recipe (docs/settings.md)."""

import jax
import numpy as np
import pytest

from toysim import ConfigError, build, make_trajectory
from toysim.presets import RECIPES
from toysim.sweep import parse_grid, sweep


def biased_noise(method, seeds=8):
    spec, hp = build("sycophancy", method)
    keys = jax.vmap(jax.random.key)(np.arange(seeds))
    trajectory = jax.jit(jax.vmap(make_trajectory(spec), in_axes=(0, None)))(keys, hp)
    return np.median(np.asarray(trajectory.biased_noise), axis=0)


def test_rlhf_amplifies_the_rm_bias_and_relaxed_fpo_undoes_it():
    rlhf = biased_noise("rlhf")
    relaxed = biased_noise("fpo-relaxed")
    assert rlhf[-1] > 3 * rlhf[19]  # keeps growing long after the start
    assert relaxed[-1] < 0.05 and relaxed[-1] < 0.1 * rlhf[-1]


def test_biased_dims_start_the_rm_biased():
    spec, hp = build("sycophancy", "rlhf", steps=1)
    from toysim.game.linear_round import initial_reward_weights

    w0 = np.asarray(initial_reward_weights(jax.random.key(0), spec, hp._replace(rm_init_noise=0)))
    np.testing.assert_array_equal(w0[:5], [1, 1, 1, 0.5, 0.5])
    assert np.all(w0[5:] == 0)


def test_kl_leash_recipe_is_too_weak_then_right_then_too_strong():
    recipe = RECIPES["kl-leash"]
    name, cost = parse_grid(recipe.grid[0])
    spec, hp = build(recipe.preset, recipe.method)
    result = sweep(spec, hp, {name: cost}, seeds=4)
    final = result.median_over_seeds("final_utility")
    peak = result.median_over_seeds("max_utility")
    best = int(np.argmax(final))
    assert 0 < best < len(cost) - 1
    assert final[0] < 0.5 * peak[0]  # too weak: reaches the peak, then drifts away
    assert result.fraction_over_seeds("collapsed")[0] == 1.0
    assert peak[-1] < 0.2 * final[best]  # too strong: never gets anywhere


SAMPLED = ("paper-nn", "pairwise-linear", "pairwise-nn")


def test_one_registry_holds_all_six_presets_of_both_games():
    from toysim.presets import LINEAR_PRESETS, PRESETS, SAMPLED_PRESETS

    assert LINEAR_PRESETS == ("paper-linear", "population", "sycophancy")
    assert SAMPLED_PRESETS == SAMPLED
    assert set(PRESETS) == {*LINEAR_PRESETS, *SAMPLED_PRESETS}


@pytest.mark.parametrize("preset", SAMPLED)
def test_sampled_presets_build_with_the_exact_and_relaxed_weights(preset):
    """``omega = 5 / 50`` new samples per buffer, so exact FPO's ``gamma = 2 omega = 0.2``;
    with ``H -> I`` the published 0.005; an FPO method evaluates at the current follower
    unless ``params`` is given."""
    from toysim.game.sampled import SampledSpec

    for method, gamma in (("rlhf", 0.0), ("fpo-exact", 0.2), ("fpo-relaxed", 0.005)):
        spec, hp = build(preset, method)
        assert isinstance(spec, SampledSpec) and hp.gamma == pytest.approx(gamma, abs=1e-15)
        assert spec.method.params == "current"
    spec, _ = build(preset, "fpo-exact", hessian="damped", steps=7)
    assert spec.method.hessian == "damped" and spec.steps == 7
    with pytest.raises(ConfigError, match="gamma must be 0 for rlhf"):
        build(preset, "rlhf", gamma=0.1)


def test_the_command_line_never_imports_the_game_package():
    """``toysim.cli`` reaches every game through :mod:`toysim.presets` and the runner."""
    import ast
    import pathlib

    import toysim.cli

    for path in pathlib.Path(toysim.cli.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                assert not name.startswith("toysim.game"), f"{path.name} imports {name}"
