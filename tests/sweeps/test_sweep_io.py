"""Sweeps never lose or mislabel a result: names, refusals, atomic files, chunks, resume, load.

Each test guards one defect of issue 11 (items 1 and 2) and fails on the code before it.
"""

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from toysim import build
from toysim.cli import main
from toysim.sweep import load_sweep, save_sweep, sweep

SMALL = ["sweep", "--preset", "paper-linear", "--method", "rlhf", "--grid", "c=0.05,0.2",
         "--steps", "20"]  # fmt: skip


def results(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.npz"))


def one_line_error(capsys, status: int, expected: int = 2) -> str:
    err = capsys.readouterr().err.strip()
    assert status == expected and len(err.splitlines()) == 1, err
    return err


def test_sweeps_with_other_seeds_or_steps_do_not_overwrite_each_other(tmp_path, capsys):
    assert main([*SMALL, "--seeds", "2", "--out", str(tmp_path)]) == 0
    first = results(tmp_path)
    before = load_sweep(first[0].with_suffix(""))
    assert main([*SMALL, "--seeds", "3", "--out", str(tmp_path)]) == 0
    assert main([*SMALL, "--seeds", "2", "--steps", "21", "--out", str(tmp_path)]) == 0
    assert len(results(tmp_path)) == 3
    names = [p.stem for p in results(tmp_path)]
    assert any("seeds0-2" in n for n in names) and any("T21" in n for n in names)
    again = load_sweep(first[0].with_suffix(""))
    np.testing.assert_array_equal(again.metrics["final_utility"], before.metrics["final_utility"])


def test_the_same_sweep_again_is_refused_in_one_line_unless_forced(tmp_path, capsys):
    assert main([*SMALL, "--seeds", "2", "--out", str(tmp_path)]) == 0
    (npz,) = results(tmp_path)
    stamp = npz.stat().st_mtime_ns
    capsys.readouterr()
    err = one_line_error(capsys, main([*SMALL, "--seeds", "2", "--out", str(tmp_path)]))
    assert "exists" in err and "--force" in err and npz.stat().st_mtime_ns == stamp
    assert main([*SMALL, "--seeds", "2", "--out", str(tmp_path), "--force"]) == 0
    assert results(tmp_path) == [npz] and load_sweep(npz.with_suffix("")).config["name"]


def test_a_crash_while_writing_leaves_the_previous_result_whole(tmp_path, monkeypatch):
    spec, hp = build("paper-linear", "rlhf", steps=20)
    old = sweep(spec, hp, {"c": [0.1, 0.2]}, seeds=2)
    save_sweep(old, tmp_path / "r")
    new = sweep(spec, hp, {"c": [0.3, 0.4]}, seeds=2)

    def crash(file, **arrays):
        Path(file).write_bytes(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", crash)
    with pytest.raises(KeyboardInterrupt):
        save_sweep(new, tmp_path / "r")
    back = load_sweep(tmp_path / "r")
    np.testing.assert_array_equal(back.axes["action_cost"], [0.1, 0.2])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.npz"]


@pytest.mark.parametrize("kind", ["file", "under-a-file"])
def test_out_is_checked_before_anything_is_compiled(tmp_path, capsys, monkeypatch, kind):
    import toysim.sweep as sweep_module

    def no_compile(*args):
        raise AssertionError("compiled before checking --out")

    monkeypatch.setattr(sweep_module, "compiled_summary", no_compile)
    (tmp_path / "taken").write_text("a file\n")
    out = tmp_path / "taken" if kind == "file" else tmp_path / "taken" / "sub"
    err = one_line_error(capsys, main([*SMALL, "--seeds", "2", "--out", str(out)]))
    assert "--out" in err and str(tmp_path / "taken") in err


def test_load_sweep_refuses_truncated_foreign_and_older_files(tmp_path):
    spec, hp = build("paper-linear", "rlhf", steps=20)
    npz, sidecar = save_sweep(sweep(spec, hp, {"c": [0.1, 0.2]}, seeds=2), tmp_path / "r")
    meta = json.loads(sidecar.read_text())
    data = npz.read_bytes()
    npz.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or modified"):
        load_sweep(tmp_path / "r")
    npz.write_bytes(data)
    sidecar.write_text(json.dumps({"axes": meta["axes"], "metrics": meta["metrics"], "config": {}}))
    with pytest.raises(ValueError, match="older toysim"):
        load_sweep(tmp_path / "r")
    sidecar.write_text('{"figure": "something else"}')
    with pytest.raises(ValueError, match="not a toysim sweep"):
        load_sweep(tmp_path / "r")
    sidecar.write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ValueError, match="format version 99"):
        load_sweep(tmp_path / "r")


def test_saved_chunks_are_refused_without_resume_and_resumed_with_it(tmp_path, capsys):
    argv = [*SMALL, "--seeds", "3", "--chunk", "2", "--out", str(tmp_path)]
    assert main(argv) == 0
    (npz,) = results(tmp_path)
    whole = load_sweep(npz.with_suffix(""))
    partial = tmp_path / f"{npz.stem}.partial"
    assert not partial.exists()
    npz.unlink(), npz.with_suffix(".json").unlink(), npz.with_suffix(".png").unlink()
    from toysim.sweeps.store import ChunkStore

    manifest = {"config_hash": npz.stem.rsplit("_", 1)[1], "chunk_size": 2, "n_chunks": 3}
    store = ChunkStore.create(partial, {**manifest, "total": 6})
    store.save(0, {k: v.ravel()[:2] for k, v in whole.metrics.items()})
    capsys.readouterr()
    err = one_line_error(capsys, main(argv))
    assert "--resume" in err and "1 of 3 chunks" in err
    err = one_line_error(capsys, main([*argv[:-4], "--chunk", "4", *argv[-2:], "--resume"]))
    assert "--chunk" in err
    assert main([*argv, "--resume"]) == 0 and not partial.exists()
    resumed = load_sweep(npz.with_suffix(""))
    for name, values in whole.metrics.items():
        np.testing.assert_array_equal(resumed.metrics[name], values)


INTERRUPTED = ["sweep", "--preset", "paper-linear", "--method", "fpo-exact", "--grid",
               "gamma=0:1:60", "--seeds", "2", "--steps", "150", "--chunk", "1"]  # fmt: skip


def start_sweep(out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "toysim", *INTERRUPTED, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, JAX_PLATFORMS="cpu"),
    )


def interrupt_after_first_chunk(out: Path, signum: int) -> tuple[int, str, list[Path]]:
    proc = start_sweep(out)
    deadline = time.monotonic() + 300
    while not list(out.glob("*.partial/chunk-*.npz")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err, sorted(out.glob("*.partial/chunk-*.npz"))


def test_sigint_saves_chunks_says_how_to_resume_and_resume_equals_one_run(tmp_path):
    status, err, saved = interrupt_after_first_chunk(tmp_path / "a", signal.SIGINT)
    lines = err.strip().splitlines()
    assert status == 130 and len(lines) == 1 and "Traceback" not in err, err
    assert f"{len(saved)} of 120 chunks saved" in lines[0] and 1 <= len(saved) < 120
    command = lines[0].split("resume with: ", 1)[1]
    assert command.startswith("python -m toysim sweep ") and command.endswith(" --resume")
    resumed = subprocess.run(
        [sys.executable, *shlex.split(command)[1:]], capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr
    assert main([*INTERRUPTED, "--out", str(tmp_path / "b")]) == 0
    (a,), (b,) = results(tmp_path / "a"), results(tmp_path / "b")
    assert a.name == b.name and not list((tmp_path / "a").glob("*.partial"))
    one, two = load_sweep(a.with_suffix("")), load_sweep(b.with_suffix(""))
    for name, values in two.metrics.items():
        np.testing.assert_array_equal(one.metrics[name], values)


def test_sigterm_stops_with_status_143_and_keeps_the_chunks(tmp_path):
    status, err, saved = interrupt_after_first_chunk(tmp_path, signal.SIGTERM)
    assert status == 143 and len(err.strip().splitlines()) == 1, err
    assert "interrupted by SIGTERM" in err and saved


def test_figures_out_is_checked_before_anything_is_computed(tmp_path, capsys):
    (tmp_path / "taken").write_text("a file\n")
    status = main(["figures", "--only", "kl_leash", "--out", str(tmp_path / "taken")])
    assert "--out" in one_line_error(capsys, status)
