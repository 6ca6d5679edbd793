"""Seeds to keys: distinct seeds never share a key, in float32 or float64."""

import jax
import numpy as np
import pytest

from toysim import ConfigError, build, simulate
from toysim.experiments.runner import run_seed, run_seeds


def seed_keys(seeds):
    from toysim.seeds import seed_keys

    return seed_keys(seeds)


def key_data(keys):
    return np.asarray(jax.random.key_data(keys))


@pytest.mark.parametrize("x64", [False, True])
def test_seeds_a_multiple_of_2_to_the_32_apart_get_different_keys(x64):
    with jax.enable_x64(x64):
        keys = key_data(seed_keys([5, 2**32 + 5, 2**40 + 5, 2**63 - 1]))
    assert len({tuple(k) for k in keys}) == 4


@pytest.mark.parametrize("x64", [False, True])
def test_float32_runs_of_seeds_2_to_the_32_apart_differ(x64):
    spec, hp = build("paper-linear", "rlhf", steps=3)
    with jax.enable_x64(x64):
        a = run_seed(spec, hp, 7).utility
        b = run_seed(spec, hp, 2**32 + 7).utility
        c = simulate(spec, hp, 2**32 + 7).utility
    assert not np.array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(b), np.asarray(c))


@pytest.mark.parametrize("x64", [False, True])
def test_keys_below_2_to_the_32_are_jax_random_key(x64):
    """Every existing result keeps its keys: below 2**32 the derivation is jax.random.key."""
    seeds = [0, 1, 16, 2**31 + 3, 2**32 - 1]
    with jax.enable_x64(x64):
        ours = key_data(seed_keys(seeds))
        theirs = np.stack([key_data(jax.random.key(s)) for s in seeds])
    np.testing.assert_array_equal(ours, theirs)


def test_keys_equal_jax_random_key_under_x64_for_every_seed():
    seeds = [2**32, 2**40 + 7, 2**63 - 1]
    theirs = np.stack([key_data(jax.random.key(s)) for s in seeds])
    np.testing.assert_array_equal(key_data(seed_keys(seeds)), theirs)
    from toysim.seeds import seed_key_data

    np.testing.assert_array_equal(seed_key_data(np.asarray(seeds, dtype=np.int64)), theirs)


@pytest.mark.parametrize("seed", [-1, 2**63, 1.5, True, "3"])
def test_seeds_outside_the_range_are_refused(seed):
    with pytest.raises(ConfigError, match=r"seed must be an integer in \[0, 2\*\*63\)"):
        seed_keys([seed])


def test_run_seeds_of_numpy_seeds_equal_python_seeds():
    spec, hp = build("paper-linear", "rlhf", steps=3)
    a = run_seeds(spec, hp, np.arange(3, dtype=np.int64)).utility
    np.testing.assert_array_equal(np.asarray(a), np.asarray(run_seeds(spec, hp, [0, 1, 2]).utility))
