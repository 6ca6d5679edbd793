"""Tests run in float64 with strict dtype promotion.

The library itself never flips these flags; only the test session does.
"""

import jax
import numpy as np
import pytest
from hypothesis import settings

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")

settings.register_profile("toysim", max_examples=20, deadline=None, derandomize=True)
settings.load_profile("toysim")


@pytest.fixture
def rng():
    return np.random.default_rng(20260523)
