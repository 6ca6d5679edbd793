"""Tests run in float64 with strict dtype promotion, with JAX's persistent compilation cache on.

The library itself never flips these flags; only the test session does. The cache
(``$TOYSIM_CACHE``, see :mod:`toysim.compilation_cache`) lets the test processes, and
the next session, load what another one compiled.
"""

import jax
import numpy as np
import pytest
from hypothesis import settings

from toysim.compilation_cache import enable_compilation_cache

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
enable_compilation_cache()

settings.register_profile("toysim", max_examples=20, deadline=None, derandomize=True)
settings.load_profile("toysim")


@pytest.fixture
def rng():
    return np.random.default_rng(20260523)
