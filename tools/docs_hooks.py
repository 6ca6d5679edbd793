"""MkDocs hooks for toysim's site: executed notebooks, and LaTeX turned into MathML at build time.

``mkdocs build --strict`` loads this file (``hooks:`` in ``mkdocs.yml``). It

* executes every notebook of ``notebooks/`` before the build, in quick mode
  (``TOYSIM_QUICK=1``: fewer seeds, coarser grids, as CI runs them), one kernel per
  usable core, into ``docs/notebooks/`` (git-ignored), where mkdocs-jupyter renders them with their
  outputs. Each runs in its own working folder, ``build/notebooks/NAME/``
  (git-ignored), so the figures it saves land in ``figures/`` there, never in the
  repository's ``figures/``; the slow tests check that folder and the executed
  copy instead of running every notebook a second time. A notebook is executed
  again only when it or toysim's source changed (a hash kept in the executed
  notebook's metadata), so ``mkdocs serve`` does not loop on its own output.
* replaces the math of every page by MathML: ``$...$`` and ``$$...$$`` in
  Markdown pages (through ``pymdownx.arithmatex``) and in the notebooks' Markdown
  cells, converted by ``latex2mathml``. Browsers draw MathML natively, so the
  site loads no script, font or style sheet from another host and renders
  offline. LaTeX that ``latex2mathml`` does not understand is a warning, so a
  strict build fails on it and names the page and the formula.
* writes every measured number a page quotes from its source: each
  ``{{ SOURCE: PATH | FORMAT }}`` becomes the value ``figures/SOURCE.json`` or
  ``docs/data/SOURCE.json`` holds (:mod:`toysim.sidecars`). A reference that does not
  resolve stops the build with the page, the file and the key.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import os
import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.toysim")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = ROOT / "docs" / "notebooks"
WORKING = ROOT / "build" / "notebooks"
"""``WORKING / NAME`` is the working folder notebook ``NAME`` is executed in."""
NOTEBOOK_TIMEOUT = 900  # seconds per cell
SOURCES = (ROOT / "figures", ROOT / "docs" / "data")
"""Where a page's ``{{ SOURCE: PATH }}`` references find ``SOURCE.json``."""

# LaTeX environments latex2mathml lacks, mapped to ones it draws the same way.
_ENVIRONMENTS = {"aligned": "align*", "gathered": "gather*"}
_ENV = re.compile(r"\\(begin|end)\{(" + "|".join(_ENVIRONMENTS) + r")\}")
# LaTeX operators latex2mathml lacks, spelled with ones it has.
_MACROS = {
    "arg": r"\operatorname{arg}",
    "argmin": r"\operatorname{argmin}",
    "argmax": r"\operatorname{argmax}",
}
_MACRO = re.compile(r"\\(" + "|".join(_MACROS) + r")(?![A-Za-z])")
# Delimiters latex2mathml leaves as their LaTeX name after ``\big`` and friends.
_DELIMITERS = {
    **dict.fromkeys(("\\|", "\\Vert", "\\lVert", "\\rVert"), "&#x02016;"),
    **dict.fromkeys(("\\vert", "\\lvert", "\\rvert"), "&#x0007C;"),
    **dict.fromkeys(("\\{", "\\lbrace"), "&#x0007B;"),
    **dict.fromkeys(("\\}", "\\rbrace"), "&#x0007D;"),
    "\\langle": "&#x027E8;",
    "\\rangle": "&#x027E9;",
    "\\lfloor": "&#x0230A;",
    "\\rfloor": "&#x0230B;",
    "\\lceil": "&#x02308;",
    "\\rceil": "&#x02309;",
}
_NAMED_DELIMITER = re.compile(r"(<mo[^>]*>)(\\[A-Za-z]+|\\[|{}])(</mo>)")
# Bars TeX never stretches unless asked (\left, \big), but MathML's operator dictionary would.
_BAR = re.compile(r"<mo>(&#x02016;|&#x0007C;|&#x02223;)</mo>")
# What latex2mathml emits for what it did not parse: a command left as text, or a stray ``&``.
_UNPARSED = re.compile(r">[^<]*\\[^<]*<|<mi>&</mi>|<mi>&amp;</mi>")

_ARITHMATEX = re.compile(
    r'<(span|div) class="arithmatex">(?:\\\(|\\\[)(.*?)(?:\\\)|\\\])</\1>', re.DOTALL
)
_MATHJAX_SCRIPTS = re.compile(
    r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S
)
# nbconvert's widget loader fetches the widget manager from a CDN when a notebook stored
# widget state (the executor does not store it: a static page cannot run widgets).
_WIDGETS_SCRIPT = re.compile(
    r"<script>\s*\(function\(\) \{\s*function addWidgetsRenderer\(\).*?</script>", re.S
)
# nbconvert's Mermaid loader imports Mermaid from a CDN when a notebook has a diagram.
_MERMAID_SCRIPT = re.compile(
    r'<script type="module">\s*document\.addEventListener\("DOMContentLoaded", async \(\) => \{'
    r'\s*const diagrams = document\.querySelectorAll\("\.jp-Mermaid.*?</script>',
    re.S,
)
_MARKDOWN_CELL = re.compile(
    r'(<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown[^"]*"[^>]*>)(.*?)(</div>)', re.S
)
_TAG_OR_CODE = re.compile(r"(<(code|pre)\b.*?</\2>|<[^>]+>)", re.S)
_DOLLARS = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\s)([^$\n]+?)(?<![\s\\])\$", re.S)


class MathError(ValueError):
    """LaTeX that latex2mathml cannot turn into MathML."""


def latex_to_mathml(latex: str, display: bool) -> str:
    """MathML for the LaTeX formula ``latex``, inline or as a display block.

    Args:
        latex: the formula, without its ``$`` delimiters and not HTML-escaped.
        display: a display block (``$$...$$``) rather than inline math.

    Returns:
        A ``<math>`` element.

    Raises:
        MathError: the formula uses a command or layout latex2mathml does not know.
    """
    from latex2mathml.converter import convert  # the docs extra; notebooks need none of it

    source = _ENV.sub(lambda m: f"\\{m[1]}{{{_ENVIRONMENTS[m[2]]}}}", latex.strip())
    source = _MACRO.sub(lambda m: _MACROS[m[1]], source)
    try:
        mathml = convert(source, display="block" if display else "inline")
    except Exception as error:  # latex2mathml raises many exception types
        raise MathError(f"cannot convert {latex!r}: {error}") from error
    mathml = _NAMED_DELIMITER.sub(
        lambda m: m[1] + _DELIMITERS.get(m[2], m[2]) + m[3] if m[2] in _DELIMITERS else m[0],
        mathml,
    )
    mathml = _BAR.sub(r'<mo stretchy="false">\1</mo>', mathml)
    unparsed = _UNPARSED.search(mathml)
    if unparsed:
        raise MathError(f"cannot convert {latex!r}: {unparsed[0]} is not understood")
    return mathml


def _converted(latex: str, display: bool, page: str) -> str | None:
    """``latex_to_mathml``, logging a warning naming ``page`` (None) where it fails."""
    try:
        return latex_to_mathml(latex, display)
    except MathError as error:
        log.warning("%s: %s", page, error)
        return None


def arithmatex_to_mathml(content: str, page: str) -> str:
    """Replace each ``pymdownx.arithmatex`` span or div of ``content`` by MathML.

    Args:
        content: a page's HTML, with arithmatex's generic ``\\(...\\)`` and ``\\[...\\]``.
        page: the page's source path, for warnings.

    Returns:
        The HTML with every formula drawn as MathML (a formula that fails stays as it was).
    """

    def replace(match: re.Match) -> str:
        display = match[1] == "div"
        mathml = _converted(html.unescape(match[2]), display, page)
        if mathml is None:
            return match[0]
        return f'<div class="math">{mathml}</div>' if display else mathml

    return _ARITHMATEX.sub(replace, content)


def dollars_to_mathml(text: str, page: str) -> str:
    """Replace ``$$...$$`` and ``$...$`` in HTML ``text`` by MathML, outside tags and code.

    Args:
        text: rendered Markdown (a notebook's Markdown cell), math left as typed.
        page: the page's source path, for warnings.

    Returns:
        The HTML with every formula drawn as MathML.
    """

    def replace(match: re.Match) -> str:
        display = match[1] is not None
        latex = html.unescape(match[1] if display else match[2])
        mathml = _converted(latex, display, page)
        if mathml is None:
            return match[0]
        return f'<div class="math">{mathml}</div>' if display else mathml

    pieces = _TAG_OR_CODE.split(text)
    # re.split with two groups yields text, tag, inner group, text, ...: convert the text only.
    out = []
    for i, piece in enumerate(pieces):
        if piece is None or i % 3 == 2:
            continue
        out.append(_DOLLARS.sub(replace, piece) if i % 3 == 0 else piece)
    return "".join(out)


def notebook_to_mathml(content: str, page: str) -> str:
    """Draw a rendered notebook's math as MathML; drop nbconvert's loaders of remote scripts.

    Args:
        content: the HTML mkdocs-jupyter made of a notebook.
        page: the page's source path, for warnings.

    Returns:
        The HTML without a ``<script>`` that would fetch MathJax, the widget manager or
        Mermaid, and with its math as MathML.
    """
    if 'class="jp-Mermaid' in content:
        log.warning("%s: Mermaid diagrams are not drawn (no script from a CDN)", page)
    for loader in (_MATHJAX_SCRIPTS, _WIDGETS_SCRIPT, _MERMAID_SCRIPT):
        content = loader.sub("", content)
    return _MARKDOWN_CELL.sub(
        lambda m: m[1] + dollars_to_mathml(m[2], page) + m[3],
        content,
    )


def source_hash(notebook: Path) -> str:
    """SHA-256 of the notebook's bytes and of every ``.py`` file of the toysim package."""
    digest = hashlib.sha256(notebook.read_bytes())
    for path in sorted((ROOT / "toysim").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@contextmanager
def _environment(**values: str | None):
    """Set (``None``: unset) environment variables for the kernels started inside the block,
    then restore them."""
    saved = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def is_current(executed: Path, source: Path) -> bool:
    """Whether ``executed`` is an executed copy of ``source`` as it is now (same
    :func:`source_hash` of the notebook and of toysim's source)."""
    import nbformat

    if not executed.is_file():
        return False
    stored = nbformat.read(executed, as_version=4).metadata.get("toysim_docs", {})
    return stored.get("source_hash") == source_hash(source)


def _kernel_environment():
    """The kernels' environment: quick mode, this checkout's toysim first on ``PYTHONPATH``,
    figures saved where a reader's would be (``TOYSIM_FIGURES`` unset)."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return _environment(TOYSIM_QUICK="1", TOYSIM_FIGURES=None, JAX_PLATFORMS="cpu", PYTHONPATH=path)


async def _execute(source: Path, target: Path, working: Path) -> bool:
    """:func:`execute_notebook` as a coroutine, the kernel's environment already set."""
    import nbformat
    from nbclient import NotebookClient

    if is_current(target, source):
        return False
    digest = source_hash(source)
    nb = nbformat.read(source, as_version=4)
    shutil.rmtree(working, ignore_errors=True)
    working.mkdir(parents=True)
    client = NotebookClient(
        nb,
        timeout=NOTEBOOK_TIMEOUT,
        kernel_name="python3",
        store_widget_state=False,
        resources={"metadata": {"path": str(working)}},
    )
    await client.async_execute()
    nb.metadata["toysim_docs"] = {"source_hash": digest, "quick": True}
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return True


def execute_notebook(source: Path, target: Path, working: Path) -> bool:
    """Execute ``source`` in quick mode, in the emptied folder ``working``, into ``target``,
    unless ``target`` is up to date.

    The kernel imports this checkout's toysim (``PYTHONPATH``) and saves figures
    where a reader's would: ``figures/`` in its working folder (``TOYSIM_FIGURES`` unset).

    Args:
      source: a notebook of ``notebooks/`` (committed without outputs).
      target: where the executed copy goes.
      working: the kernel's working folder.

    Returns:
      Whether the notebook was executed (False: the copy was current).
    """
    with _kernel_environment():
        return asyncio.run(_execute(source, target, working))


SLOWEST_FIRST = ("04_neural_reward_model",)
"""Notebooks started before the others: 04 took 184 of the six notebooks' 262 s (2 shared
cores, 2026-12-08), so it starts at once and the others share the other kernel slot."""


def execute_notebooks(sources: list[Path], kernels: int) -> None:
    """:func:`execute_notebook` for each of ``sources`` into :data:`EXECUTED`, at most
    ``kernels`` at a time (:data:`SLOWEST_FIRST` first, then in order), each logged with the
    seconds it took.

    Raises:
      CellExecutionError: the first notebook that failed (in ``sources`` order), once every
        other one has finished and its kernel has stopped.
    """

    async def one(source: Path, slots: asyncio.Semaphore) -> None:
        async with slots:
            start = time.perf_counter()
            if await _execute(source, EXECUTED / source.name, WORKING / source.stem):
                seconds = time.perf_counter() - start
                log.info("executed %s (quick mode) in %.0f s", source.name, seconds)

    async def run_all() -> None:
        slots = asyncio.Semaphore(kernels)
        ordered = sorted(sources, key=lambda s: s.stem not in SLOWEST_FIRST)
        results = await asyncio.gather(*(one(s, slots) for s in ordered), return_exceptions=True)
        outcome = dict(zip(ordered, results, strict=True))
        for source in sources:
            if isinstance(outcome[source], BaseException):
                log.error("%s failed to execute", source.name)
                raise outcome[source]

    with _kernel_environment():
        asyncio.run(run_all())


def on_pre_build(config) -> None:
    """Execute the notebooks that changed since their last executed copy, one kernel per
    usable core (mkdocs hook)."""
    from toysim.figure_workers import usable_cores

    execute_notebooks(sorted(NOTEBOOKS.glob("*.ipynb")), usable_cores())


def on_page_content(content: str, page, config, files) -> str:
    """Draw the page's math as MathML (mkdocs hook)."""
    name = page.file.src_uri
    if name.endswith(".ipynb"):
        return notebook_to_mathml(content, name)
    return arithmatex_to_mathml(content, name)


FEATURE_MATRIX = "<!-- feature-matrix -->"
"""Where a page shows the feature matrix, rendered from the code at build time."""


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Write the page's sidecar references as their values (:func:`toysim.sidecars.render`),
    and put the feature matrix (:func:`toysim.experiments.matrix.matrix_markdown`) where a page
    says :data:`FEATURE_MATRIX` (mkdocs hook): numbers and table are the runs' and the code's,
    never hand-written.

    Raises:
      PluginError: a reference that does not resolve (every one of the page, each naming the
        page, the file and the key), so that even a non-strict build stops.
    """
    from mkdocs.exceptions import PluginError

    from toysim.sidecars import ReferenceError_, render

    try:
        markdown = render(markdown, page.file.src_uri, SOURCES)
    except ReferenceError_ as error:
        raise PluginError(str(error)) from None
    if FEATURE_MATRIX not in markdown:
        return markdown
    from toysim.experiments.matrix import feature_matrix, matrix_markdown

    return markdown.replace(FEATURE_MATRIX, matrix_markdown(feature_matrix(steps=2)))
