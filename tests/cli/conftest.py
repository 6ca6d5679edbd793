"""The command line called in-process: no interpreter to start, and what it compiles is
shared with the rest of the worker's tests (:func:`tests.helpers.refused` reads a refusal)."""

import os

import jax
import pytest

from toysim.cli import main


@pytest.fixture
def cli(capsys, tmp_path, monkeypatch):
    """``cli(*argv) -> (status, stdout, stderr lines)``, in-process, sweeps writing to tmp_path;
    JAX's precision and ``XLA_FLAGS`` restored afterwards."""
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
