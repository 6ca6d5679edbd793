"""The lecture path, docs/teaching/index.md: on the site, first of its section, reachable from
the home page and the README, one step per lecture figure, and the teacher's key kept off it."""

import re
from pathlib import Path

import yaml

from toysim.exercises import EXERCISES
from toysim.plots.slides import LECTURE_SLIDES

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "teaching" / "index.md"
CONFIG = yaml.safe_load((ROOT / "mkdocs.yml").read_text())


def test_the_page_is_first_in_the_teaching_section_and_linked_from_home_and_readme():
    teaching = next(section["Teaching"] for section in CONFIG["nav"] if "Teaching" in section)
    assert teaching[0] == {"Start here: teaching with toysim": "teaching/index.md"}
    assert "](teaching/index.md)" in (ROOT / "docs" / "index.md").read_text()
    assert "](docs/teaching/index.md)" in (ROOT / "README.md").read_text()


def test_only_the_key_is_kept_off_the_site_and_the_page_does_not_link_it():
    assert CONFIG["exclude_docs"].split() == ["/teaching/key.md"]
    assert "key.md)" not in PAGE.read_text()


def test_each_step_shows_its_figure_links_its_slide_and_names_an_exercise():
    steps = re.split(r"^### ", PAGE.read_text(), flags=re.M)[1:]
    assert len(steps) == len(LECTURE_SLIDES)
    for step, name in zip(steps, LECTURE_SLIDES, strict=True):
        assert f"](../figures/{name}.png)" in step, name
        assert f"](../figures/slides/{name}.png)" in step, name
        assert "```python" in step, name
        assert any(f"**Exercise** `{exercise}`" in step for exercise in EXERCISES), name


def test_every_exercise_belongs_to_a_step():
    text = PAGE.read_text()
    assert all(f"`{exercise}`" in text.split("### ", 1)[1] for exercise in EXERCISES)
