"""Animations: the frames shown, the frames drawn, and the GIF and MP4 writers."""

import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from toysim.animate import (
    AnimationError,
    frame_iterations,
    output_format,
    phase_space_frames,
    save_frames,
)

UTILITY = dict(amplitude=10.0, tau=0.3, ideal_norm=2.0 * np.sqrt(3.0))


def synthetic_runs(steps: int) -> dict:
    """Two made-up paths (no simulation): one to the ideal, one arcing into the noise."""
    t = np.linspace(0.0, 1.0, steps)
    return {
        "fpo-relaxed": (3.4 * t, 0.5 * np.sin(np.pi * t), 10.0 * t),
        "rlhf": (4.0 * t, 1.6 * t, 5.0 * np.sin(np.pi * t)),
    }


@given(st.integers(1, 500), st.integers(2, 200))
def test_frame_iterations_run_from_start_to_end_evenly(steps, frames):
    shown = frame_iterations(steps, frames)
    assert len(shown) == min(frames, steps + 1)
    assert shown[0] == 0 and shown[-1] == steps
    gaps = np.diff(shown)
    assert gaps.min() >= 1 and gaps.max() - gaps.min() <= 1


@pytest.mark.parametrize(("steps", "frames"), [(0, 10), (10, 1)])
def test_frame_iterations_refuse_an_empty_animation(steps, frames):
    with pytest.raises(AnimationError, match="steps|frames"):
        frame_iterations(steps, frames)


def test_frames_grow_from_the_start_and_differ_from_each_other():
    images = list(phase_space_frames(synthetic_runs(40), frames=6, **UTILITY))
    assert len(images) == 6
    assert {image.shape for image in images} == {images[0].shape}
    assert images[0].dtype == np.uint8 and images[0].shape[2] == 3
    for before, after in zip(images[:-1], images[1:], strict=True):
        assert np.any(before != after)
    # the paths grow: the last frame departs from the start more than the second one does
    departed = [np.any(image != images[0], axis=2).sum() for image in images[1:]]
    assert departed[-1] > departed[0] > 0


def test_a_short_trajectory_gives_one_frame_per_iteration():
    images = list(phase_space_frames(synthetic_runs(4), frames=80, **UTILITY))
    assert len(images) == 5  # the start and 4 iterations


def test_runs_of_different_lengths_are_refused():
    runs = synthetic_runs(10)
    runs["rlhf"] = tuple(a[:5] for a in runs["rlhf"])
    with pytest.raises(AnimationError, match="same length"):
        list(phase_space_frames(runs, **UTILITY))


def test_gif_has_every_frame_holds_the_last_and_is_the_same_byte_for_byte(tmp_path):
    first, second = tmp_path / "a.gif", tmp_path / "b.gif"
    for path in (first, second):
        frames = phase_space_frames(synthetic_runs(30), frames=7, **UTILITY)
        save_frames(frames, path, fps=10, hold_seconds=1.0)
    assert first.read_bytes() == second.read_bytes()
    with Image.open(first) as gif:
        assert gif.n_frames == 7
        assert gif.size == (640, 440)
        durations = []
        for k in range(gif.n_frames):
            gif.seek(k)
            durations.append(gif.info["duration"])
    assert durations[:-1] == [100] * 6 and durations[-1] == 1100


def test_mp4_is_written_with_the_bundled_ffmpeg(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    frames = phase_space_frames(synthetic_runs(20), frames=5, **UTILITY)
    path = save_frames(frames, tmp_path / "a.mp4")
    assert path.stat().st_size > 0
    assert path.read_bytes()[4:8] == b"ftyp"  # an ISO media file


def test_mp4_without_imageio_ffmpeg_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(AnimationError, match="imageio-ffmpeg"):
        output_format("movie.mp4")
    assert output_format("movie.GIF") == ".gif"


@pytest.mark.parametrize("name", ["movie.png", "movie", "movie.gif.txt"])
def test_other_extensions_are_refused(name):
    with pytest.raises(AnimationError, match=r"\.gif or \.mp4"):
        output_format(name)
