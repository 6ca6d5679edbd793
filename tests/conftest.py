"""Tests run in float64 with strict dtype promotion, with JAX's persistent compilation cache on.

The library itself never flips these flags; only the test session does. The cache
(``$TOYSIM_CACHE``, see :mod:`toysim.compilation_cache`) lets the test processes, and
the next session, load what another one compiled. The ``cli`` fixture calls the command
line in-process.
"""

import os

import jax
import numpy as np
import pytest
from hypothesis import settings

from toysim.cli import main
from toysim.compilation_cache import enable_compilation_cache

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
enable_compilation_cache()

settings.register_profile("toysim", max_examples=20, deadline=None, derandomize=True)
settings.load_profile("toysim")


@pytest.fixture
def rng():
    return np.random.default_rng(20260523)


@pytest.fixture
def cli(capsys, tmp_path, monkeypatch):
    """``cli(*argv) -> (status, stdout, stderr lines)``: the command line in-process (no
    interpreter to start, and what it compiles is shared with the worker's other tests),
    sweeps writing to tmp_path; JAX's precision and ``XLA_FLAGS`` restored afterwards
    (:func:`tests.helpers.refused` reads a refusal)."""
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
    x64 = jax.config.jax_enable_x64

    def run(*argv):
        argv = [*argv, "--out", str(tmp_path)] if argv[0] == "sweep" else list(argv)
        try:
            status = main(argv)
        finally:
            jax.config.update("jax_enable_x64", x64)
        out, err = capsys.readouterr()
        return status, out, err.strip().splitlines()

    return run
