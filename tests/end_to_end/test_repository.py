"""The repository stands on its own: no tracked file points outside it.

Users clone toysim and get nothing else, so a tracked file may neither name
the developers' specification files nor link to a path outside the
repository.
"""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Built from pieces so that this file does not match itself.
OUTSIDE_NAMES = ("MODEL" + ".md", "STYLE" + ".md", ".." + "/shared")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def tracked_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: no list of tracked files")
    return [ROOT / name for name in listed.splitlines() if (ROOT / name).is_file()]


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:  # a binary file (PNG, PDF, GIF)
        return None


def exists_after_docs_build(path: Path) -> bool:
    """True for a file, or for an executed notebook the docs build writes into docs/notebooks/."""
    if path.parent == ROOT / "docs" / "notebooks" and path.suffix == ".ipynb":
        return (ROOT / "notebooks" / path.name).is_file()
    return path.exists()


def test_no_tracked_file_names_a_file_outside_the_repository():
    offenders = []
    for path in tracked_files():
        text = text_of(path)
        if text is None or path.parent.name == ".ci":
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if any(name in line for name in OUTSIDE_NAMES):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}")
    assert not offenders, "\n".join(offenders)


def test_every_relative_markdown_link_stays_inside_the_repository_and_exists():
    broken = []
    for path in tracked_files():
        if path.suffix != ".md":
            continue
        for target in MARKDOWN_LINK.findall(text_of(path) or ""):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a URL (https:, mailto:) or an anchor on the same page
            resolved = (path.parent / target.split("#")[0]).resolve()
            if not resolved.is_relative_to(ROOT) or not exists_after_docs_build(resolved):
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken, "\n".join(broken)
