"""``toysim figures --jobs N``: figures sharing runs grouped, the longest group first, the
workers' files equal to one process's, a failing figure reported in one line."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from toysim import figure_workers, figures
from toysim.cli import main
from toysim.config import ConfigError
from toysim.experiments.shared import SharedRuns
from toysim.figure_workers import figure_groups, make_figures_in_workers, usable_cores


def toysim_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "toysim", *args], capture_output=True, text=True, timeout=600
    )


def test_the_cost_table_names_only_registered_figures():
    assert set(figure_workers.SECONDS) <= set(figures.FIGURES)
    assert all(
        seconds > 0 for seconds in [*figure_workers.SECONDS.values(), figure_workers.OTHER_SECONDS]
    )


class Read(Exception):
    """What a figure read first of the runs it was handed."""


class FirstRead:
    """Stands in for :class:`SharedRuns`: reading anything of it raises :class:`Read`."""

    def __getattr__(self, name):
        raise Read(name)


def test_each_figure_reads_the_shared_runs_it_declares_and_no_other(monkeypatch, tmp_path):
    """Each figure's first read of its runs is the member its ``shares`` names; one that
    shares none reads ``quick`` first (for an experiment of its own), or nothing (the
    animation, stopped here before it computes)."""

    def animation(*args, **kwargs):
        raise Read(None)

    monkeypatch.setattr(figures, "animate_phase_space", animation)
    members = {name for name in vars(SharedRuns) if not name.startswith("_")}
    for name, figure in figures.FIGURES.items():
        with pytest.raises(Read) as read:
            figure.write(FirstRead(), tmp_path)
        first = read.value.args[0]
        if figure.shares is None:
            assert first in ("quick", None), name
        else:
            assert figure.shares in members and first == figure.shares, name
    assert not any(tmp_path.iterdir())


def test_groups_keep_shared_runs_together_longest_first_ties_in_registry_order():
    names = figures.chosen_figures(
        ["sycophancy", "goodhart_tables", "collapse_utility", "data_regimes", "kl_leash"]
        + ["goodhart_population", "collapse_noise"]
    )
    assert figure_groups(names) == [
        ["data_regimes"],  # 334 s
        ["goodhart_population", "goodhart_tables"],  # 32 + 10 s
        ["collapse_noise", "collapse_utility"],  # 10 + 10 s
        ["kl_leash"],  # 10 s, registered before sycophancy
        ["sycophancy"],
    ]


def test_one_job_or_one_group_is_the_one_process_path(monkeypatch, tmp_path):
    made = []
    monkeypatch.setattr(figure_workers, "make_figures", lambda *args: made.append(args) or "one")

    def spawned(*args):
        raise AssertionError("no worker for one group")

    monkeypatch.setattr(figure_workers, "_in_workers", spawned)
    pair = ["collapse_utility", "collapse_noise"]
    assert make_figures_in_workers(tmp_path, True, pair, jobs=4) == "one"
    assert make_figures_in_workers(tmp_path, False, ["kl_leash", *pair], jobs=1) == "one"
    assert made == [
        (tmp_path, True, ["collapse_noise", "collapse_utility"]),
        (tmp_path, False, ["collapse_noise", "collapse_utility", "kl_leash"]),
    ]


@pytest.mark.parametrize(("names", "jobs", "needle"), [(["nope"], 2, "'nope'"), ([], 0, "jobs")])
def test_an_unknown_figure_or_no_job_is_refused_before_any_work(names, jobs, needle, tmp_path):
    with pytest.raises(ConfigError, match=needle):
        make_figures_in_workers(tmp_path, names=names or None, jobs=jobs)
    assert not any(tmp_path.iterdir())


def test_the_default_is_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert usable_cores() == 3
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    assert usable_cores() == 7


CHEAP = ("collapse_noise", "collapse_utility", "kl_leash")
"""Two groups (the collapse runs, the KL leash) quick to make."""


@pytest.mark.slow  # over 12 s; runs in CI's slow step
def test_two_workers_write_the_files_one_process_writes(tmp_path):
    """Sidecars equal but for when and where they were made; PNG and PDF byte for byte."""
    only = [arg for name in CHEAP for arg in ("--only", name)]
    for jobs in ("1", "2"):
        done = toysim_cli(
            "figures", "--quick", *only, "--jobs", jobs, "--out", str(tmp_path / jobs)
        )
        assert done.returncode == 0, done.stderr
        printed = sorted(line.split()[0] for line in done.stdout.splitlines()[:-1])
        assert printed == sorted(CHEAP)
        assert done.stdout.endswith(f"wrote 9 files to {tmp_path / jobs}/\n")
    for name in CHEAP:
        one, two = (json.loads((tmp_path / jobs / f"{name}.json").read_text()) for jobs in "12")
        assert one.pop("measured")["date"] and two.pop("measured")["date"]
        assert one == two, name
        for suffix in (".png", ".pdf"):
            assert (tmp_path / "1" / f"{name}{suffix}").read_bytes() == (
                tmp_path / "2" / f"{name}{suffix}"
            ).read_bytes(), name + suffix


def test_a_figure_that_raises_is_one_line_naming_it(monkeypatch, tmp_path, capsys):
    def write(runs, out):
        raise ValueError("no such thing\nsecond line")

    monkeypatch.setitem(
        figures.FIGURES, "kl_leash", figures.FIGURES["kl_leash"]._replace(write=write)
    )
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))  # restored after
    assert main(["figures", "--only", "kl_leash", "--jobs", "1", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == "error: toysim figures: figure kl_leash failed: ValueError: no such thing\n"


@pytest.mark.slow  # over 12 s; runs in CI's slow step
def test_a_figure_that_raises_in_a_worker_is_one_line_naming_it(tmp_path):
    """The worker making ``kl_leash`` cannot write it (a folder is in the way): one line, exit
    status 1, and no traceback from either process."""
    (tmp_path / "kl_leash.png").mkdir()
    only = ["--only", "kl_leash", "--only", "collapse_noise"]
    done = toysim_cli("figures", "--quick", *only, "--jobs", "2", "--out", str(tmp_path))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: toysim figures: figure kl_leash failed: IsADirectoryError")


def running(pid: int) -> bool:
    """``pid`` exists and has not ended (a zombie, ended but not yet reaped, has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux's ``/proc``), ``[]`` once it has none or is gone."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.slow  # over 12 s; runs in CI's slow step
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads Linux's /proc")
def test_no_worker_outlives_a_killed_command(tmp_path):
    """SIGKILL runs none of the command's clean-up: each worker notices and stops itself."""
    only = ["--only", "kl_leash", "--only", "collapse_noise"]
    argv = [sys.executable, "-m", "toysim", "figures", "--quick", *only, "--jobs", "2"]
    command = subprocess.Popen([*argv, "--out", str(tmp_path)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(workers := children(command.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)  # two workers and multiprocessing's resource tracker
    assert len(workers) == 3 and command.poll() is None
    command.send_signal(signal.SIGKILL)
    command.wait()
    deadline = time.monotonic() + 30
    while any(map(running, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(running, workers))
