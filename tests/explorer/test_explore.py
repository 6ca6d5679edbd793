"""The live explorer, driven headlessly: it redraws, never recompiles on a number, shows errors."""

import contextlib
import dataclasses
import html
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

pytest.importorskip(
    "ipywidgets", reason="the explorer needs ipywidgets: pip install 'toysim[notebooks]'"
)

import toysim  # noqa: E402
from toysim.explorer import (  # noqa: E402
    EXPLORER_STEPS,
    NUMBERS,
    PRESET_NAMES,
    Explorer,
    Settings,
    explore,
    explorer_latency,
    game_of,
    method_of,
    starting_settings,
    trace_counts,
)


def drawn(explorer: Explorer) -> dict[str, np.ndarray]:
    """The data of every moving line, copied."""
    f = explorer.figure
    return {
        "path_x": np.array(f.path.get_xdata()),
        "path_y": np.array(f.path.get_ydata()),
        "utility": np.array(f.utility_line.get_ydata()),
        "noise": np.array(f.noise_line.get_ydata()),
    }


def differs(a: dict, b: dict, key: str) -> bool:
    return a[key].shape != b[key].shape or not np.allclose(a[key], b[key])


@contextlib.contextmanager
def program_compiles():
    """The XLA compilations of explorer programs (:func:`toysim.explorer.runs.program`, whose
    jitted function is ``jit(counted)``) while the block runs, as a list of their durations."""
    compiled = []

    def listen(event: str, seconds: float, **info) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            if info.get("fun_name") == "jit(counted)":
                compiled.append(seconds)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield compiled
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


@pytest.fixture(scope="module")
def explorer() -> Explorer:
    return explore("paper-linear", "fpo-relaxed", canvas="image").explorer


def test_explore_returns_a_widget_with_its_explorer(explorer):
    import ipywidgets

    box = explorer.widget
    assert isinstance(box, ipywidgets.VBox)
    assert box.explorer is explorer
    assert set(explorer.controls) == set(Settings._fields)
    assert explorer.message.value == ""
    assert explorer.surface.widget.value[:3] == b"\xff\xd8\xff"  # a JPEG


@pytest.mark.parametrize(("name", "value"), [("gamma", 0.02), ("action_cost", 0.3)])
def test_moving_gamma_or_c_moves_the_lines(explorer, name, value):
    before = drawn(explorer)
    picture = explorer.surface.widget.value
    old = explorer.controls[name].value
    explorer.controls[name].value = value
    after = drawn(explorer)
    for key in before:
        assert differs(before, after, key), key
    assert explorer.surface.widget.value != picture
    explorer.controls[name].value = old


def test_numbers_never_trace_again_but_move_the_picture(explorer):
    spec, _ = game_of(explorer.settings)
    counts = trace_counts()
    assert counts[spec] == 1  # traced (and compiled) once, when the explorer first drew
    moves = {
        "gamma": 0.5,
        "action_cost": 0.05,
        "leader_lr": 0.01,
        "follower_lr": 0.002,
        "steps": 120,
        "seed": 7,
    }
    assert set(moves) == set(NUMBERS)
    with program_compiles() as compiled:
        for name, value in moves.items():
            before = drawn(explorer)
            explorer.controls[name].value = value
            assert differs(before, drawn(explorer), "path_x"), name
    assert trace_counts() == counts
    assert compiled == []
    assert len(explorer.figure.utility_line.get_xdata()) == 120
    explorer.set(**{name: getattr(Settings(), name) for name in moves})


def test_a_switch_compiles_once_and_switching_back_reuses_the_program():
    explorer = Explorer(
        Settings(
            preset="sycophancy",
            method="fpo-relaxed",
            hessian="identity",
            influence="local",
            params="current",
            oracle="true",
        ),
        canvas="image",
    )
    relaxed, _ = game_of(explorer.settings)
    explorer.controls["oracle"].value = "none"  # relaxed without the oracle is practical
    assert explorer.controls["method"].value == "fpo-practical"
    practical, _ = game_of(explorer.settings)
    explorer.controls["influence"].value = "global"  # no named method: a custom mix
    assert explorer.controls["method"].value == "fpo"
    custom, _ = game_of(explorer.settings)
    assert custom.method.influence == "global"
    counts = trace_counts()
    assert [counts[s] for s in (relaxed, practical, custom)] == [1, 1, 1]
    with program_compiles() as compiled:
        explorer.controls["method"].value = "fpo-relaxed"
        assert explorer.settings.oracle == "true" and explorer.settings.influence == "local"
        explorer.controls["oracle"].value = "none"
        explorer.controls["influence"].value = "global"
    assert trace_counts() == counts
    assert compiled == []  # switching back ran the programs compiled before


def test_rlhf_disables_the_switches_and_gamma_and_fpo_restores_its_default():
    explorer = Explorer(Settings(preset="population", method="fpo-exact"), canvas="image")
    c = explorer.controls
    assert c["follower_lr"].disabled  # the population follower has no step size
    c["gamma"].value = 0.7
    c["method"].value = "rlhf"
    assert c["gamma"].disabled and all(c[s].disabled for s in ("hessian", "oracle"))
    assert explorer.last_run.hparams.gamma == 0.0
    c["method"].value = "fpo-exact"
    assert not c["gamma"].disabled and not c["hessian"].disabled
    assert c["gamma"].value == pytest.approx(2.0)  # back to 2 omega, the Stackelberg weight
    assert explorer.last_run.hparams.gamma == pytest.approx(2.0)


@pytest.mark.parametrize(
    "settings",
    [
        Settings(method="fpo-relaxed", hessian="identity", influence="local", params="current",
                 gamma=0.3, action_cost=0.2, leader_lr=0.03, follower_lr=0.01, steps=150, seed=3),
        Settings(preset="population", method="fpo-exact", gamma=1.5, steps=200, seed=1),
        Settings(preset="sycophancy", method="rlhf", steps=300, seed=2, coords="block"),
    ],
)  # fmt: skip
def test_the_drawn_trajectory_is_simulate_at_the_same_settings(settings):
    explorer = Explorer(settings, canvas="image")
    method = toysim.method_from_name(
        settings.method,
        **(
            {}
            if settings.method == "rlhf"
            else {k: getattr(settings, k) for k in ("hessian", "influence", "params", "oracle")}
        ),
    )
    spec, hp = toysim.build(
        settings.preset, method, gamma=settings.gamma if method.foresight else None,
        steps=settings.steps,
    )  # fmt: skip
    hp = hp._replace(action_cost=settings.action_cost, leader_lr=settings.leader_lr)
    if spec.follower == "sgd":
        hp = hp._replace(follower_lr=settings.follower_lr, lam=1.0 / settings.follower_lr)
    expected = toysim.simulate(spec, hp, seed=settings.seed)
    signal, noise = (
        (expected.signal_proj, expected.noise_proj)
        if settings.coords == "projection"
        else (expected.signal, expected.noise)
    )
    got = drawn(explorer)
    assert len(got["utility"]) == settings.steps < EXPLORER_STEPS
    np.testing.assert_allclose(got["path_x"], np.r_[0.0, signal], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["path_y"], np.r_[0.0, noise], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["noise"], noise, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["utility"], expected.utility, rtol=1e-12, atol=1e-12)
    assert explorer.last_run.hparams == hp


def test_a_bad_value_shows_a_message_instead_of_raising(explorer):
    explorer.draw(explorer.settings._replace(leader_lr=-0.1))
    assert "leader_lr must be >= 0" in html.unescape(explorer.message.value)
    assert explorer.last_run is None
    explorer.redraw()
    assert explorer.message.value == ""
    assert explorer.last_run is not None


def test_a_run_that_blows_up_shows_simulates_message_and_its_finite_part(explorer):
    settings = explorer.settings._replace(gamma=10.0, leader_lr=0.05)
    spec, hp = game_of(settings)
    spec = dataclasses.replace(spec, steps=settings.steps)
    with pytest.raises(toysim.NonFiniteTrajectoryError) as raised:
        toysim.simulate(spec, hp, seed=settings.seed)
    explorer.set(gamma=10.0, leader_lr=0.05)
    assert str(raised.value) in html.unescape(explorer.message.value)
    first_bad = int(str(raised.value).split("iteration ")[1].split(" ")[0])
    assert len(explorer.figure.utility_line.get_ydata()) == first_bad - 1
    assert np.all(np.isfinite(explorer.figure.path.get_xydata()))
    explorer.set(gamma=0.1, leader_lr=0.02)
    assert explorer.message.value == ""


def test_the_offered_presets_share_the_utility_drawn_once_behind_the_path():
    utilities = {
        (p.hparams.amplitude, p.hparams.tau, p.hparams.ideal_value, p.spec["signal_dims"])
        for name, p in toysim.PRESETS.items()
        if name in PRESET_NAMES
    }
    assert len(utilities) == 1


def test_a_named_method_starts_with_its_switches_and_default_gamma():
    relaxed = starting_settings("paper-linear", "fpo-relaxed")
    assert (relaxed.hessian, relaxed.influence, relaxed.params, relaxed.oracle) == (
        "identity", "local", "current", "true",
    )  # fmt: skip
    assert relaxed.gamma == 0.1
    assert starting_settings("population", "fpo-exact").gamma == 2.0
    assert starting_settings("paper-linear", "fpo-exact", gamma=0.5).gamma == 0.5
    practical = starting_settings("paper-linear", "fpo-relaxed", oracle="none")
    assert method_of(practical).name == "fpo-practical"


def test_starting_values_outside_the_sliders_or_unknown_are_refused():
    with pytest.raises(toysim.ConfigError, match="gamma must be in"):
        explore(gamma=50.0, canvas="image")
    with pytest.raises(toysim.ConfigError, match="unknown setting"):
        explore(temperature=1.0, canvas="image")
    with pytest.raises(toysim.ConfigError, match="preset must be one of"):
        explore("paper-nn", canvas="image")
    with pytest.raises(toysim.ConfigError, match="canvas must be one of"):
        explore(canvas="svg")


def test_the_ipympl_canvas_blits_the_lines_without_a_full_rendering():
    pytest.importorskip("ipympl", reason="the interactive canvas needs ipympl")
    from ipympl.backend_nbagg import Canvas

    explorer = explore(method="fpo-relaxed", canvas="ipympl").explorer
    assert isinstance(explorer.surface.widget, Canvas)
    background = explorer.figure.background
    before = drawn(explorer)
    explorer.controls["gamma"].value = 0.12
    assert differs(before, drawn(explorer), "path_y")
    assert explorer.figure.background is background  # limits unchanged: lines only


def test_explorer_latency_times_each_enabled_slider_in_turn():
    timed = explorer_latency(7, moves="jump", preset="population", method="fpo-exact")
    sliders = [n for n in NUMBERS if n != "follower_lr"]  # population: no follower step
    assert timed["slider"] == (sliders * 2)[:7]
    for key in ("total_ms", "compute_ms", "draw_ms", "cpu_ms", "full"):
        assert timed[key].shape == (7,), key
    assert np.all(timed["total_ms"] >= timed["compute_ms"] + timed["draw_ms"])
    assert timed["median_ms"] == np.median(timed["total_ms"])
    with pytest.raises(toysim.ConfigError, match="moves must be drag or jump"):
        explorer_latency(1, moves="walk")


def test_the_package_does_not_shadow_its_modules():
    import toysim.explorer.widget

    assert toysim.explore is toysim.explorer.widget.explore is explore
    assert toysim.explorer.__name__ == "toysim.explorer"


def test_toysim_imports_without_ipywidgets_and_explore_says_what_to_install():
    code = (
        "import sys; sys.modules['ipywidgets'] = None\n"
        "import toysim\n"
        "try:\n"
        "    toysim.explore()\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'toysim[notebooks]'" in out.stdout


NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "00_explore"


def test_the_notebook_pair_is_in_sync_and_stored_without_outputs():
    jupytext = pytest.importorskip("jupytext")
    import nbformat

    script = jupytext.read(NOTEBOOK.with_suffix(".py"))
    stored = nbformat.read(NOTEBOOK.with_suffix(".ipynb"), as_version=4)
    assert [(c.cell_type, c.source) for c in script.cells] == [
        (c.cell_type, c.source) for c in stored.cells
    ]
    assert not any(c.get("outputs") for c in stored.cells)


@pytest.mark.slow
def test_the_notebook_runs_from_any_directory(tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    monkeypatch.chdir(tmp_path)
    nb = nbformat.read(NOTEBOOK.with_suffix(".ipynb"), as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3").execute()
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "fpo-relaxed, gamma 0.05: final utility" in printed
