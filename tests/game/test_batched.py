"""batched_trajectory: a batch run block by block equals jax.vmap of one run, field by field."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import run_on_host_devices
from toysim import ConfigError, build, make_trajectory
from toysim.game.trajectory import BLOCK_BYTES, batched_trajectory, block_size


def assert_trees_equal(a, b):
    jax.tree.map(np.testing.assert_array_equal, a, b)


@pytest.mark.parametrize("method", ["rlhf", "fpo-exact"])
def test_blocks_equal_the_vmap_of_each_block(method):
    """10 runs in blocks of 4: blocks [0:4], [4:8] and the remainder [8:10] are each a vmap."""
    spec, hp = build("paper-linear", method, steps=10)
    spec = dataclasses.replace(spec, record="scalars")
    keys = jax.random.split(jax.random.key(0), 10)
    batch = jax.jit(batched_trajectory(spec, chunk=4))(keys, hp)
    vmapped = jax.jit(jax.vmap(make_trajectory(spec), in_axes=(0, None)))
    for block in (slice(0, 4), slice(4, 8), slice(8, 10)):
        expected = vmapped(keys[block], hp)
        assert_trees_equal(jax.tree.map(lambda x, s=block: x[s], batch), expected)
    assert batch.utility.shape == (10, 10) and batch.theta is None


def test_per_run_hyperparameters_and_full_records():
    """A field with a leading batch axis is taken per run; scalar fields are shared."""
    spec, hp = build("paper-linear", "fpo-relaxed", steps=10)
    keys = jax.random.split(jax.random.key(1), 6)
    gammas = jnp.linspace(0.0, 0.3, 6)
    batch = jax.jit(batched_trajectory(spec, chunk=3))(keys, hp._replace(gamma=gammas))
    shared = hp._replace(gamma=None)
    per_run = jax.vmap(
        lambda k, g: make_trajectory(spec)(k, shared._replace(gamma=g)), in_axes=(0, 0)
    )
    expected = jax.jit(per_run)(keys[:3], gammas[:3])
    assert_trees_equal(jax.tree.map(lambda x: x[:3], batch), expected)
    assert batch.theta.shape == (6, 10, spec.dim)
    assert not np.allclose(batch.noise[0], batch.noise[5])


def test_default_block_size_follows_the_dimension_and_dtype():
    assert block_size(50, 8) == 256 and block_size(50, 4) == 512
    assert block_size(10**7, 8) == 1
    for dim, itemsize in [(50, 8), (3, 4), (1000, 8)]:
        runs = block_size(dim, itemsize)
        assert runs & (runs - 1) == 0  # a power of two
        assert runs * dim * itemsize <= BLOCK_BYTES < 2 * runs * dim * itemsize


@pytest.mark.parametrize("chunk", [0, -3, 2.5])
def test_a_bad_chunk_is_refused_by_name(chunk):
    spec, _ = build("paper-linear", "rlhf", steps=5)
    with pytest.raises(ConfigError, match="chunk"):
        batched_trajectory(spec, chunk=chunk)


SHARDED_BATCH = """
import jax, json
jax.config.update("jax_enable_x64", True)
from toysim import build
from toysim.bench import sharded_over_devices
from toysim.game.trajectory import batched_trajectory
spec, hp = build("paper-linear", "fpo-exact", steps=30)
keys = jax.random.split(jax.random.key(1), 8)
t = jax.jit(sharded_over_devices(batched_trajectory(spec, chunk=2)))(keys, hp)
print(json.dumps({"devices": len(jax.devices()), "utility": t.utility[:, -1].tolist()}))
"""


def test_the_bench_batch_split_over_two_devices_equals_the_vmap():
    """``bench`` splits its batch over host devices (``shard_map``): same numbers as one vmap."""
    sharded = run_on_host_devices(SHARDED_BATCH, 2)
    assert sharded["devices"] == 2
    spec, hp = build("paper-linear", "fpo-exact", steps=30)
    keys = jax.random.split(jax.random.key(1), 8)
    single = jax.vmap(make_trajectory(spec), in_axes=(0, None))(keys, hp)
    np.testing.assert_allclose(sharded["utility"], single.utility[:, -1], rtol=1e-12)
