"""Every Python example in the README and the docs runs, and prints what the text says.

Examples are fenced ``python`` blocks. A block written as a doctest (``>>>``)
is checked line by line against the output shown under each prompt; any other
block is executed. The blocks of one file share a namespace, in order, as a
reader would run them. Each file runs in a fresh interpreter so that examples
see JAX's defaults (float32, standard promotion), not the test session's
float64 flags: an example that wants float64 says so itself. That interpreter does
turn on the persistent compilation cache the test session uses (the cache changes no
result): many examples run the presets the other tests and the figures compile.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)

RUNNER = r"""
import doctest, re, sys
from pathlib import Path

from toysim.compilation_cache import enable_compilation_cache

enable_compilation_cache()

text = Path(sys.argv[1]).read_text()
blocks = re.findall(r"^```python\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
namespace = {"__name__": "__example__"}
runner = doctest.DocTestRunner(
    optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.FAIL_FAST
)
for number, block in enumerate(blocks, start=1):
    if ">>>" in block:
        test = doctest.DocTestParser().get_doctest(block, namespace, f"block {number}", None, 0)
        runner.run(test, clear_globs=False)
        namespace = test.globs
        if runner.failures:
            sys.exit(1)
    else:
        exec(compile(block, f"{sys.argv[1]}, block {number}", "exec"), namespace)
print(f"{len(blocks)} blocks, {runner.tries} doctest lines: ok")
"""


def markdown_with_examples() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [p for p in files if p.is_file() and PYTHON_BLOCK.search(p.read_text())]


def run_examples(path: Path, tmp_path: Path) -> None:
    """Run ``path``'s examples in a fresh interpreter (:data:`RUNNER`); fail with its output."""
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def pages(lecture: bool) -> list[Path]:
    """The files with examples under docs/theory and docs/teaching, or all the others."""
    folders = (ROOT / "docs" / "theory", ROOT / "docs" / "teaching")
    return [p for p in markdown_with_examples() if (p.parent in folders) == lecture]


def page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


# Two classes, so that pytest-xdist's loadscope (which keeps a module's functions, but only a
# class's methods, on one worker) runs the two halves of these subprocesses side by side.
class TestLecturePages:
    @pytest.mark.parametrize("path", pages(lecture=True), ids=page_id)
    def test_examples_run_and_print_what_the_text_claims(self, path, tmp_path):
        run_examples(path, tmp_path)


class TestOtherPages:
    @pytest.mark.parametrize("path", pages(lecture=False), ids=page_id)
    def test_examples_run_and_print_what_the_text_claims(self, path, tmp_path):
        run_examples(path, tmp_path)
