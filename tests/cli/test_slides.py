"""Slides: a registered figure at 16:9 with large type (``toysim figures --slides``)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from PIL import Image

from toysim.cli import main
from toysim.figures import FIGURES, save
from toysim.plots.slides import (
    DEFAULT_SLIDES,
    LECTURE_SLIDES,
    Slide,
    current_slide,
    is_picture,
    slide_style,
    wrapped,
)

ROOT = Path(__file__).resolve().parents[2]


def a_figure():
    """A small figure whose sizes are known: 10 pt title, 9 pt legend, a 2 pt line with 5 pt
    markers, at 6.4 x 4.4 inches."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    ax.plot([0, 1], [0, 1], lw=2, marker="o", markersize=5, label="a line")
    ax.set_title("a title", fontsize=10)
    ax.legend(fontsize=9)
    return fig, ax


def pixels(png: Path) -> tuple[int, int]:
    with Image.open(png) as image:
        return image.size


def test_a_slide_png_is_16_by_9_and_its_sidecar_says_so(tmp_path):
    fig, ax = a_figure()
    with slide_style(Slide(scale=2.0)):
        png, pdf, sidecar = save(fig, "one", tmp_path, {"caption": "a figure"})
    plt.close(fig)
    assert pixels(png) == (1920, 1080)  # 1920 / 16 = 120 = 1080 / 9
    record = json.loads(sidecar.read_text())
    assert record["caption"] == "a figure"
    assert record["slide"] == {
        "aspect": "16:9",
        "inches": [12.8, 7.2],
        "pixels": [1920, 1080],
        "scale": 2.0,
    }
    assert ax.title.get_fontsize() == 20
    assert ax.get_legend().get_texts()[0].get_fontsize() == 18
    line = ax.lines[0]
    assert (line.get_linewidth(), line.get_markersize()) == (4, 10)
    assert pdf.stat().st_size > 0


def test_outside_the_style_a_figure_is_saved_as_it_was_drawn(tmp_path):
    fig, ax = a_figure()
    with slide_style():
        pass
    png, _, sidecar = save(fig, "one", tmp_path, {"caption": "a figure"})
    plt.close(fig)
    assert pixels(png) == (960, 660)  # 6.4 x 4.4 inches at 150 dpi
    assert "slide" not in json.loads(sidecar.read_text())
    assert ax.title.get_fontsize() == 10 and current_slide() is None


def test_a_slide_needs_a_positive_size_and_scale():
    with pytest.raises(ValueError, match="inches and scale must be positive"):
        with slide_style(Slide(scale=0.0)):
            pass
    assert current_slide() is None


def test_the_pictures_are_the_registered_figures_but_the_tables_and_the_animation():
    for name, figure in FIGURES.items():
        other = "Markdown" in figure.description or "GIF" in figure.description
        assert is_picture(name) != other, name


def test_the_lecture_s_slides_are_registered_pictures():
    assert set(DEFAULT_SLIDES) < set(LECTURE_SLIDES) <= set(FIGURES)
    assert all(is_picture(name) for name in LECTURE_SLIDES)


def test_figures_slides_writes_a_16_by_9_slide_into_figures_slides(tmp_path):
    """Without ``--out`` the slides go to ``figures/slides/`` of the working folder."""
    done = subprocess.run(
        [sys.executable, "-m", "toysim", "figures", "--slides", "--quick"]
        + ["--only", "collapse_noise"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout's toysim, from tmp_path
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    out = tmp_path / "figures" / "slides"
    assert sorted(p.name for p in tmp_path.rglob("*.*")) == [
        "collapse_noise.json",
        "collapse_noise.pdf",
        "collapse_noise.png",
    ]
    assert pixels(out / "collapse_noise.png") == (1920, 1080)
    sidecar = json.loads((out / "collapse_noise.json").read_text())
    assert sidecar["figure"] == "collapse_noise" and sidecar["slide"]["aspect"] == "16:9"
    assert done.stdout.splitlines()[-1] == "wrote 3 files to figures/slides/"


@pytest.mark.parametrize("name", ["ladder_tables", "collapse_animation"])
def test_slides_of_a_table_or_the_animation_exit_2_naming_it(name, tmp_path, capsys):
    assert main(["figures", "--slides", "--only", name, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"{name!r} is a table or an animation" in err
    assert "collapse_phase_space" in err and "goodhart_tables" not in err
    assert not any(tmp_path.iterdir())


def test_wrapping_breaks_between_words_and_never_inside_math():
    assert wrapped("fpo-relaxed, iteration 300", 0.6) == "fpo-relaxed,\niteration 300"  # 15 chars
    assert wrapped("error $r_w(y) - U(y)$ here", 0.5) == "error\n$r_w(y) - U(y)$\nhere"
    assert wrapped("two\nlines of text", 0.62) == "two\nlines of\ntext"  # 8 chars a line
    assert wrapped("short", 0.5) == "short"  # a word longer than the budget stays whole


def test_a_slide_s_titles_and_labels_fit_their_panels(tmp_path):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), layout="constrained")
    for ax in axes:
        ax.set_title("a title as long as the panel is wide at ten points")
        ax.set_xlabel("signal: projection of theta on m / ||m||, and more")
    fig.suptitle("a figure title that runs across all three panels and beyond at large type")
    with slide_style():
        save(fig, "three", tmp_path, {})
    renderer = fig.canvas.get_renderer()
    for ax in axes:
        width = ax.get_window_extent(renderer).width
        assert "\n" in ax.title.get_text() and "\n" in ax.xaxis.label.get_text()
        assert ax.title.get_window_extent(renderer).width <= width
        assert ax.xaxis.label.get_window_extent(renderer).width <= width
    assert fig._suptitle.get_window_extent(renderer).width <= fig.bbox.width
    plt.close(fig)
