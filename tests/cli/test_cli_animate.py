"""The command line: animate, --version, figures --list and --only."""

import subprocess
import sys

import pytest
from PIL import Image

import toysim
from toysim import figures
from toysim.cli import main
from toysim.config import ConfigError
from toysim.experiments import shared


def toysim_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "toysim", *args], capture_output=True, text=True, timeout=600
    )


def test_animate_writes_a_gif_with_one_frame_per_shown_iteration(tmp_path):
    out = tmp_path / "short.gif"
    done = toysim_cli(
        "animate", "--method", "rlhf", "--method", "fpo-relaxed", "--steps", "20",
        "--frames", "8", "--fps", "10", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert str(out) in done.stdout and "8 frames" in done.stdout
    with Image.open(out) as gif:
        assert gif.n_frames == 8
        assert gif.size == (640, 440)


def test_animate_mp4_without_imageio_ffmpeg_exits_2_naming_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    assert main(["animate", "--steps", "5", "--out", str(tmp_path / "a.mp4")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "imageio-ffmpeg" in err
    assert not (tmp_path / "a.mp4").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--out", "movie.png"], ".gif or .mp4"),
        (["--out", "a.gif", "--fps", "0"], "--fps"),
        (["--out", "a.gif", "--frames", "1"], "--frames"),
        (["--out", "a.gif", "--seed", "-1"], "seed"),
        (["--out", "a.gif", "--preset", "paper-nn"], "preset"),
        (["--out", "a.gif", "--method", "nope"], "method"),
    ],
)
def test_animate_user_errors_exit_2_with_one_line(args, needle, capsys):
    assert main(["animate", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err


def test_version_prints_the_package_version():
    done = toysim_cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"toysim {toysim.__version__}"


def test_figures_list_prints_every_registered_name_and_computes_nothing(tmp_path):
    done = toysim_cli("figures", "--list", "--out", str(tmp_path / "none"))
    assert done.returncode == 0, done.stderr
    listed = [line.split()[0] for line in done.stdout.splitlines()]
    assert listed == list(figures.FIGURES)
    assert not (tmp_path / "none").exists()


def test_every_notebook_and_sweep_figure_is_registered():
    names = [n for group in figures.NOTEBOOK_FIGURES.values() for n in group]
    assert set(names) | set(figures.SWEEP_FIGURES) | {"ladder_tables"} <= set(figures.FIGURES)


def test_figures_only_writes_that_figure_and_prints_its_line(tmp_path):
    done = toysim_cli("figures", "--only", "collapse_noise", "--quick", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "collapse_noise.json",
        "collapse_noise.pdf",
        "collapse_noise.png",
    ]
    first = done.stdout.splitlines()[0].split()
    assert first[0] == "collapse_noise" and first[2] == "s" and float(first[1]) > 0


def test_figures_only_an_unknown_name_exits_2_listing_the_allowed(tmp_path, capsys):
    args = ["figures", "--only", "collapse_noise", "--only", "nope", "--out", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "'nope'" in err
    assert all(name in err for name in figures.FIGURES)
    assert not any(tmp_path.iterdir())


def test_make_figures_refuses_an_unknown_name_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="nope"):
        figures.make_figures(tmp_path, names=["collapse_noise", "nope"])
    assert not any(tmp_path.iterdir())


def test_shared_runs_are_computed_once_for_the_figures_that_need_them(tmp_path, monkeypatch):
    calls = []
    real = shared.collapse_runs

    def counted(quick):
        calls.append(quick)
        return real(quick)

    class Counted(shared.SharedRuns):
        collapse = shared._once(counted)

    monkeypatch.setattr(figures, "SharedRuns", Counted)
    names = ["collapse_utility", "collapse_noise"]
    made = list(figures.make_figures(tmp_path, quick=True, names=names))
    assert calls == [True]
    assert [name for name, _, _ in made] == ["collapse_noise", "collapse_utility"]  # registry order
    assert all(path.is_file() for _, _, paths in made for path in paths)
