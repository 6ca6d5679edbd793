"""The phase-space figure as an animation: each method's path growing over the utility contours.

:func:`phase_space_frames` turns trajectories (arrays; it never simulates)
into RGB frames in projection coordinates, where the background contour is
the exact true utility; :func:`save_frames` writes them as a GIF (Pillow
only, one palette shared by every frame, so the file stays small and is the
same byte for byte on every run) or as an MP4 (the ffmpeg binary bundled with
the optional ``imageio-ffmpeg`` package). :func:`animate_phase_space` runs the
methods (:mod:`toysim.experiments.animation`) and writes their animation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
from PIL import Image

from toysim import plots
from toysim.experiments.animation import ANIMATION_METHODS, animation_runs
from toysim.safeio import atomic_path

FORMATS = (".gif", ".mp4")
"""The animation formats :func:`save_animation` writes, by file extension."""


class AnimationError(ValueError):
    """An output the animation cannot be written to (its format, or a missing package)."""


def frame_iterations(steps: int, frames: int) -> np.ndarray:
    """The iterations shown: ``min(frames, steps + 1)`` evenly spaced integers from 0 to ``steps``.

    Iteration 0 is the start, before the first leader step; ``steps`` is the end.

    Args:
      steps: ``T``, the trajectory's number of iterations (>= 1).
      frames: the number of frames wanted (>= 2).

    Returns:
      Strictly increasing iteration indices, first 0 and last ``steps``.
    """
    if steps < 1:
        raise AnimationError(f"steps must be >= 1; got {steps}")
    if frames < 2:
        raise AnimationError(f"frames must be >= 2; got {frames}")
    count = min(frames, steps + 1)
    return np.round(np.linspace(0, steps, count)).astype(int)


def _limits(values: list[np.ndarray], default: tuple[float, float]) -> tuple[float, float]:
    """``default``, widened to hold every value with a 5% margin."""
    low = min(default[0], *(1.05 * float(v.min()) for v in values))
    high = max(default[1], *(1.05 * float(v.max()) for v in values))
    return low, high


def phase_space_frames(
    runs: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    amplitude: float,
    tau: float,
    ideal_norm: float,
    frames: int = 80,
    title: str | None = None,
    styles: Mapping[str, dict] | None = None,
) -> Iterator[np.ndarray]:
    """Signal against noise in projection coordinates, each path growing frame by frame.

    The background is ``U = A exp(-tau ((signal - ||m||)^2 + noise^2))``, exact
    in these coordinates (as in :func:`toysim.plots.phase_space`); each
    method's path is drawn from the start (the origin) up to the frame's
    iteration, with a marker at its head and its current true utility in the
    legend; a counter shows the iteration. The static parts are drawn once
    and every frame is blitted over them.

    Args:
      runs: label -> ``(signal_proj[T], noise_proj[T], utility[T])`` of one
        trajectory each (the state after iterations 1..T); all of the same ``T``.
      amplitude: ``A``, the utility's height.
      tau: ``tau``, the utility's width parameter.
      ideal_norm: ``||m||``, the distance of the human ideal from the origin.
      frames: the number of frames (fewer when ``T + 1`` is smaller), see
        :func:`frame_iterations`.
      title: the figure's title.
      styles: label -> style (default :func:`toysim.plots.styles_for`).

    Yields:
      One ``uint8`` RGB image ``[height, width, 3]`` per shown iteration.
    """
    import matplotlib.pyplot as plt

    paths = _paths_from_start(runs, float(plots.utility_on_plane(0, 0, amplitude, tau, ideal_norm)))
    steps = len(next(iter(paths.values()))[0]) - 1
    iterations = frame_iterations(steps, frames)
    fig = plots.phase_space(
        {},
        amplitude=amplitude,
        tau=tau,
        ideal_norm=ideal_norm,
        coords="projection",
        xlim=_limits([p[0] for p in paths.values()], (0.0, 5.0)),
        ylim=_limits([p[1] for p in paths.values()], (0.0, 3.0)),
        title=title,
    )
    try:
        ax = fig.axes[0]
        marked = ax.get_legend_handles_labels()
        styles = styles or plots.styles_for(paths)
        lines, heads = {}, {}
        for label in paths:
            style = styles[label]
            (lines[label],) = ax.plot(
                [], [], color=style["color"], linestyle=style["linestyle"], lw=2.2, animated=True
            )
            (heads[label],) = ax.plot([], [], animated=True, **plots.head_marker(style))
        legend = ax.legend(
            [*heads.values(), *marked[0]],
            [*(_legend_text(label, paths[label][2][0]) for label in paths), *marked[1]],
            loc="upper left",
            frameon=True,
            framealpha=0.9,
            fontsize=9,
        )
        legend.set_animated(True)
        texts = dict(zip(paths, legend.get_texts(), strict=False))
        counter = ax.text(
            0.98,
            0.97,
            "",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=11,
            family="monospace",
            bbox=dict(facecolor="white", edgecolor="none", alpha=0.9),
            animated=True,
        )
        fig.canvas.draw()  # the static parts, once; animated artists are left out
        fig.set_layout_engine("none")  # freeze the layout so every frame lines up
        background = fig.canvas.copy_from_bbox(fig.bbox)
        moving = [*lines.values(), *heads.values(), legend, counter]
        for i in iterations:
            for label, (signal, noise, utility) in paths.items():
                lines[label].set_data(signal[: i + 1], noise[: i + 1])
                heads[label].set_data([signal[i]], [noise[i]])
                texts[label].set_text(_legend_text(label, utility[i]))
            counter.set_text(f"iteration {i:>{len(str(steps))}d} / {steps}")
            fig.canvas.restore_region(background)
            for artist in moving:
                ax.draw_artist(artist)
            yield np.array(fig.canvas.buffer_rgba())[..., :3]
    finally:
        plt.close(fig)


def _legend_text(label: str, utility: float) -> str:
    return f"{label}: U = {utility:.2f}"


def _paths_from_start(runs, start_utility: float) -> dict[str, tuple[np.ndarray, ...]]:
    """Each run with the start (the origin, utility ``start_utility``) prepended, checked."""
    if not runs:
        raise AnimationError("runs must hold at least one trajectory")
    paths = {
        label: (
            np.r_[0.0, np.asarray(signal, dtype=float)],
            np.r_[0.0, np.asarray(noise, dtype=float)],
            np.r_[start_utility, np.asarray(utility, dtype=float)],
        )
        for label, (signal, noise, utility) in runs.items()
    }
    if len({p[i].shape for p in paths.values() for i in range(3)}) != 1:
        raise AnimationError("every trajectory in runs must be 1-D with the same length T")
    return paths


def _write_gif(frames: list[np.ndarray], path: Path, fps: int, hold_seconds: float) -> None:
    """A looping GIF through Pillow, with one palette for every frame and the last one held.

    The palette is the median cut of the last frame (which holds every path),
    applied to every frame without dithering: unchanged pixels keep their
    index, so Pillow stores only the changed rectangle of each frame.
    """
    images = [Image.fromarray(frame) for frame in frames]
    palette = images[-1].quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    indexed = [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in images]
    duration = [round(1000 / fps)] * len(indexed)
    duration[-1] += round(1000 * hold_seconds)
    indexed[0].save(path, save_all=True, append_images=indexed[1:], duration=duration, loop=0)


def _write_mp4(frames: list[np.ndarray], path: Path, fps: int) -> None:
    """An H.264 MP4 through the ffmpeg binary bundled with imageio-ffmpeg."""
    import warnings

    import imageio_ffmpeg

    height, width = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(
        str(path), (width, height), fps=fps, macro_block_size=2, ffmpeg_log_level="error"
    )
    with warnings.catch_warnings():
        # JAX warns on any fork; this one is followed at once by exec of ffmpeg.
        warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
        writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()


def output_format(path: str | Path) -> str:
    """The animation format of ``path`` (``.gif`` or ``.mp4``), checked before any work.

    Raises:
      AnimationError: naming the extension if it is neither, or the missing
        ``imageio-ffmpeg`` package for ``.mp4``.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise AnimationError(f"the output must end in {' or '.join(FORMATS)}; got {str(path)!r}")
    if suffix == ".mp4":
        ffmpeg_executable()
    return suffix


def ffmpeg_executable() -> str:
    """The path of the ffmpeg binary bundled with ``imageio-ffmpeg``.

    Raises:
      AnimationError: if ``imageio-ffmpeg`` is not installed.
    """
    try:
        import imageio_ffmpeg
    except ImportError:
        raise AnimationError(
            "writing .mp4 needs the imageio-ffmpeg package (pip install 'toysim[animation]'); "
            ".gif needs nothing more"
        ) from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def save_frames(
    frames: Iterable[np.ndarray], path: str | Path, *, fps: int = 15, hold_seconds: float = 1.5
) -> Path:
    """Write RGB frames to ``path`` as a GIF or an MP4, chosen by its extension.

    Args:
      frames: ``uint8`` images ``[height, width, 3]``, e.g. from :func:`phase_space_frames`.
      path: ``*.gif`` (Pillow) or ``*.mp4`` (H.264 through imageio-ffmpeg's ffmpeg).
      fps: frames per second (>= 1).
      hold_seconds: how long a GIF shows its last frame before looping (>= 0).

    Returns:
      ``path``, written.
    """
    if fps < 1:
        raise AnimationError(f"fps must be >= 1; got {fps}")
    if hold_seconds < 0:
        raise AnimationError(f"hold_seconds must be >= 0; got {hold_seconds}")
    path = Path(path)
    suffix = output_format(path)
    frames = list(frames)
    if not frames:
        raise AnimationError("frames must hold at least one image")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:  # whole or not at all
        if suffix == ".gif":
            _write_gif(frames, tmp, fps, hold_seconds)
        else:
            _write_mp4(frames, tmp, fps)
    return path


def animate_phase_space(
    path: str | Path,
    preset: str = "paper-linear",
    methods: tuple[str, ...] = ANIMATION_METHODS,
    seed: int = 0,
    steps: int | None = None,
    frames: int = 80,
    fps: int = 15,
) -> tuple[Path, dict]:
    """Run each method once and write their phase-space animation to ``path`` (GIF or MP4).

    Args:
      path: ``*.gif`` or ``*.mp4`` (see :func:`save_frames`).
      preset: a point- or Gaussian-policy preset (the paths are ``signal_proj``, ``noise_proj``).
      methods: the methods drawn, one path each.
      seed: the PRNG seed of every run.
      steps: the horizon ``T`` (default: the preset's).
      frames: the number of frames shown (at most ``T + 1``).
      fps: frames per second.

    Returns:
      ``(path, meta)``: the file written and its caption, configuration and final metrics.
    """
    output_format(path)
    runs = animation_runs(preset, methods, seed, steps)
    images = phase_space_frames(
        runs.paths,
        amplitude=runs.amplitude,
        tau=runs.tau,
        ideal_norm=runs.ideal_norm,
        frames=frames,
        title=f"{preset}, seed {seed}: the policy's path in phase space",
    )
    path = save_frames(images, path, fps=fps)
    meta = {
        "caption": (
            f"{preset}, seed {seed}, {runs.steps} iterations: each method's path in projection "
            "coordinates (signal = y . m/||m||, noise = distance of y from the line through m), "
            "growing over the exact true-utility contours, with its current U in the legend."
        ),
        "preset": preset,
        "seed": seed,
        "frames": min(frames, runs.steps + 1),
        "fps": fps,
        "config": runs.config,
        "final_metrics": runs.finals,
    }
    return path, meta
