"""A sweep over two processes joined by jax.distributed (CPU, gloo) equals the one-process sweep.

Issue 11, item 5: on the code before it, ``jax.device_get`` fails on the shards another process
holds, and ``toysim sweep`` has no flags to join a cluster.
"""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from toysim.sweep import load_sweep

ARGS = ["sweep", "--preset", "paper-linear", "--method", "fpo-relaxed", "--grid", "gamma=0:4:5",
        "--grid", "c=0.05,0.2", "--seeds", "3", "--steps", "60", "--chunk", "8"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def toysim(*argv: str) -> subprocess.Popen:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "toysim", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return out


def test_two_processes_write_once_and_equal_one_process_on_two_devices(tmp_path):
    port = free_port()
    cluster = ["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    procs = [
        toysim(*ARGS, *cluster, "--process-id", str(i), "--out", str(tmp_path / "two"))
        for i in range(2)
    ]
    single = toysim(*ARGS, "--devices", "2", "--out", str(tmp_path / "one"))
    first, second = (finish(p) for p in procs)
    finish(single)
    assert "on 2 device(s) in 2 process(es)" in first and "runs on" not in second
    (two,) = sorted((tmp_path / "two").glob("*.npz"))
    (one,) = sorted((tmp_path / "one").glob("*.npz"))
    assert two.name == one.name
    merged, alone = load_sweep(two.with_suffix("")), load_sweep(one.with_suffix(""))
    assert merged.config["processes"] == 2 and alone.config["processes"] == 1
    assert merged.config["devices"] == alone.config["devices"] == 2
    assert merged.metrics.keys() == alone.metrics.keys()
    for name, values in alone.metrics.items():
        np.testing.assert_array_equal(merged.metrics[name], values)


SMALL = ["sweep", "--preset", "paper-linear", "--method", "rlhf", "--grid", "c=0.05,0.2",
         "--seeds", "2", "--steps", "20"]  # fmt: skip


def test_a_plain_sweep_never_joins_a_cluster(tmp_path, monkeypatch):
    from toysim.cli import main
    from toysim.sweeps import cluster

    def refuse(*args):
        raise AssertionError("a single-machine sweep tried to join a cluster")

    monkeypatch.setattr(cluster, "initialize", refuse)
    assert main([*SMALL, "--out", str(tmp_path)]) == 0


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--coordinator", "127.0.0.1:1234"], "go together"),
        (["--coordinator", "nohost", "--num-processes", "2", "--process-id", "0"], "HOST:PORT"),
        (["--coordinator", "h:1", "--num-processes", "2", "--process-id", "2"], "--process-id"),
    ],
)
def test_cluster_flags_are_checked_in_one_line(tmp_path, capsys, flags, words):
    from toysim.cli import main

    assert main([*SMALL, *flags, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err


@pytest.mark.slow
@pytest.mark.parametrize("signalled", [(0, 1), (1,)], ids=["both", "process-1-only"])
def test_sigterm_stops_both_processes_after_the_same_chunk_and_they_resume(tmp_path, signalled):
    import signal
    import time

    # 40 chunks of about 0.1 s each: JAX's preemption service polls for SIGTERM once a second,
    # so a shorter sweep can finish before the processes agree to stop (and then process 0
    # waits 3 minutes at JAX's preemption barrier for a process that has already left).
    argv = [
        *ARGS[:-2],
        "--chunk",
        "2",
        "--seeds",
        "8",
        "--steps",
        "20000",
        "--out",
        str(tmp_path / "two"),
    ]
    cluster = ["--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", "2"]
    procs = [toysim(*argv, *cluster, "--process-id", str(i)) for i in range(2)]
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("two/*.partial/chunk-*.npz")) and time.monotonic() < deadline:
        time.sleep(0.02)
    for i in signalled:
        procs[i].send_signal(signal.SIGTERM)
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [143, 143], errors
    assert "chunks saved in" in errors[0] and "process 0 saves the chunks" in errors[1]
    cluster[1] = f"127.0.0.1:{free_port()}"
    for p in [toysim(*argv, *cluster, "--process-id", str(i), "--resume") for i in range(2)]:
        finish(p)
    finish(toysim(*argv[:-1], str(tmp_path / "one"), "--devices", "2"))
    (two,), (one,) = (sorted((tmp_path / d).glob("*.npz")) for d in ("two", "one"))
    merged, alone = load_sweep(two.with_suffix("")), load_sweep(one.with_suffix(""))
    for name, values in alone.metrics.items():
        np.testing.assert_array_equal(merged.metrics[name], values)
