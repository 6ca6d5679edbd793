"""Figures: the command regenerates every figure; the notebooks run and write theirs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from PIL import Image

from tests.helpers import BUILT_SITE_ENV, docs_hooks
from toysim.figures import FIGURES, NOTEBOOK_FIGURES, SWEEP_FIGURES, default_figures, output_dir
from toysim.plots.slides import LECTURE_SLIDES

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def assert_figures_written(out: Path, names) -> None:
    for name in names:
        for suffix in (".png", ".pdf", ".json"):
            path = out / f"{name}{suffix}"
            assert path.is_file() and path.stat().st_size > 0, f"{path} missing or empty"
        sidecar = json.loads((out / f"{name}.json").read_text())
        assert sidecar["figure"] == name
        assert sidecar["caption"] and sidecar["config"]
        assert {"toysim", "jax", "numpy", "matplotlib"} <= sidecar["versions"].keys()


FRESH_FIGURES_ENV = "TOYSIM_FRESH_FIGURES"
"""Names a folder ``python -m toysim figures`` has just written from this checkout.

``.ci/run`` sets it to the folder its first step (the README's set-up command) wrote,
so one CI run makes the figures once; without it the fixture below makes them.
"""


@pytest.fixture(scope="module")
def fresh_figures(tmp_path_factory) -> Path:
    """``python -m toysim figures``, run once for every test of this module that needs it."""
    if os.environ.get(FRESH_FIGURES_ENV):
        return Path(os.environ[FRESH_FIGURES_ENV]).resolve()
    out = tmp_path_factory.mktemp("figures")
    done = subprocess.run(
        [sys.executable, "-m", "toysim", "figures", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.slow
def test_figures_command_writes_every_registered_figure(fresh_figures):
    """Every notebook's figures, every sweep figure and every other entry of the registry."""
    assert {n for names in NOTEBOOK_FIGURES.values() for n in names} | set(SWEEP_FIGURES) <= set(
        FIGURES
    )
    made = default_figures()
    pictures = [n for n in made if not n.endswith("_tables") and n != "collapse_animation"]
    assert_figures_written(fresh_figures, pictures)
    assert (fresh_figures / "collapse_animation.gif").stat().st_size > 0
    tables = (fresh_figures / "ladder_tables.md").read_text()
    assert "+ local influence" in tables and "single_switch_population" in tables


NOTEBOOK_NAMES = sorted(path.stem for path in NOTEBOOKS.glob("*.ipynb"))


def test_every_notebook_with_figures_exists():
    assert set(NOTEBOOK_FIGURES) <= set(NOTEBOOK_NAMES)


@pytest.mark.parametrize("notebook", NOTEBOOK_NAMES)
def test_notebook_pairs_are_in_sync(notebook):
    """The ``.ipynb`` holds the same cells as its jupytext percent script, and no outputs."""
    script = jupytext.read(NOTEBOOKS / f"{notebook}.py")
    stored = nbformat.read(NOTEBOOKS / f"{notebook}.ipynb", as_version=4)
    assert [(c.cell_type, c.source) for c in script.cells] == [
        (c.cell_type, c.source) for c in stored.cells
    ]
    assert not any(c.get("outputs") for c in stored.cells), "commit notebooks without outputs"


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOK_NAMES)
def test_notebook_runs_from_any_folder_and_writes_its_figures(notebook, tmp_path):
    """Run in quick mode from a working folder outside the repository's notebooks, a
    notebook saves its figures into ``figures/`` there (``toysim.figures.output_dir()``) and
    shows each. The docs build executes every notebook so (``tools/docs_hooks.py``): with
    ``$TOYSIM_BUILT_SITE`` (a site just built from this checkout) this checks that
    execution, else it executes the notebook the same way itself."""
    hooks = docs_hooks()
    source = NOTEBOOKS / f"{notebook}.ipynb"
    if os.environ.get(BUILT_SITE_ENV):
        executed, working = hooks.EXECUTED / source.name, hooks.WORKING / notebook
        assert hooks.is_current(executed, source), "the site was built from another checkout"
    else:
        executed, working = tmp_path / source.name, tmp_path / "work"
        assert hooks.execute_notebook(source, executed, working)
    nb = nbformat.read(executed, as_version=4)
    saved = NOTEBOOK_FIGURES.get(notebook, ())
    assert_figures_written(working / "figures", saved)
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    shown = [o.data["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    assert len(shown) >= len(saved), "every saved figure is also shown in the notebook"
    assert len(set(shown)) == len(shown), "a figure is shown twice"
    assert {p.name for p in working.iterdir()} <= {"figures"}, "wrote outside figures/"


def test_output_dir_is_the_environment_variable_else_figures_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOYSIM_FIGURES", raising=False)
    assert output_dir() == tmp_path.resolve() / "figures"
    monkeypatch.setenv("TOYSIM_FIGURES", "")
    assert output_dir() == tmp_path.resolve() / "figures"
    monkeypatch.setenv("TOYSIM_FIGURES", str(tmp_path / "elsewhere"))
    assert output_dir() == tmp_path.resolve() / "elsewhere"


def _without_versions(sidecar: dict) -> dict:
    """The sidecar without its provenance (versions, and the machine and date it was made on)."""
    return {k: v for k, v in sidecar.items() if k not in ("versions", "measured")}


def _assert_close(a, b, path="") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _assert_close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-6, abs=1e-9, nan_ok=True), path
    else:
        assert a == b, path


def committed(relative: str) -> str:
    """The text of ``relative`` (e.g. ``figures/kl_leash.json``) as committed at ``HEAD``."""
    done = subprocess.run(
        ["git", "show", f"HEAD:{relative}"],
        cwd=NOTEBOOKS.parent,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"not a git checkout with {relative} committed: {done.stderr.strip()}")
    return done.stdout


@pytest.mark.slow
def test_committed_figures_match_a_fresh_run(fresh_figures):
    """``figures/`` at ``HEAD`` holds what ``python -m toysim figures`` makes now: every
    sidecar's numbers and configuration, and every table."""
    made = {path.name.removesuffix(".json") for path in fresh_figures.glob("*.json")}
    expected = {name for name in default_figures() if not name.endswith("_tables")}
    assert expected <= made  # CI's figures step writes into figures/, beside the opt-in ones
    for name in sorted(f"{name}.json" for name in expected):
        fresh = json.loads((fresh_figures / name).read_text())
        stored = json.loads(committed(f"figures/{name}"))
        _assert_close(_without_versions(stored), _without_versions(fresh), name)
    for table in ("ladder_tables.md", "goodhart_tables.md"):
        assert (fresh_figures / table).read_text() == committed(f"figures/{table}"), table


@pytest.mark.parametrize("name", LECTURE_SLIDES)
def test_a_committed_slide_is_16_by_9_and_holds_its_figure_s_numbers(name):
    """``figures/slides/`` holds the lecture path's slides (``toysim figures --slides``): each
    a 1920 x 1080 PNG whose sidecar says 16:9 and otherwise equals its figure's."""
    slides = NOTEBOOKS.parent / "figures" / "slides"
    with Image.open(slides / f"{name}.png") as png:
        assert png.size == (1920, 1080)
    slide = json.loads((slides / f"{name}.json").read_text())
    assert slide.pop("slide")["aspect"] == "16:9"
    figure = json.loads((NOTEBOOKS.parent / "figures" / f"{name}.json").read_text())
    _assert_close(_without_versions(figure), _without_versions(slide), name)


def test_styles_tell_every_label_apart_from_the_methods_beside_it():
    """The curvature ladder's labels: five rungs beside rlhf, fpo-relaxed and fpo-practical;
    no two share a colour and marker, and the methods keep their own styles."""
    from toysim.plots.style import STYLES, styles_for

    labels = [f"hessian={h}" for h in ("exact", "damped", "gauss-newton", "diagonal", "identity")]
    labels += ["rlhf", "fpo-relaxed", "fpo-practical"]
    styles = styles_for(labels)
    pairs = {(s["color"], s["marker"]) for s in styles.values()}
    assert len(pairs) == len(labels)
    assert all(styles[m] == STYLES[m] for m in ("rlhf", "fpo-relaxed", "fpo-practical"))
