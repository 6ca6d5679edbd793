"""The documentation: docstrings, the API reference, the gallery, the math hook, the strict build.

The hook and build tests need the ``docs`` extra (``pip install -e ".[docs]"``)
and are skipped without it.
"""

import ast
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.helpers import docs_hooks, strict_site
from toysim.sidecars import render

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "toysim"
DOCS = ROOT / "docs"
SOURCES = (ROOT / "figures", DOCS / "data")


def public_modules() -> list[str]:
    """Dotted names of every module of the package whose path has no ``_``-prefixed part."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(part.startswith("_") for part in parts):
            names.append(".".join(parts))
    return names


def undocumented(path: Path) -> list[str]:
    """Public modules, classes, functions and methods of ``path`` without a docstring."""
    tree = ast.parse(path.read_text())
    missing = [] if ast.get_docstring(tree) else [f"{path.name}: module"]

    def walk(node, prefix: str) -> None:
        for child in node.body:
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            if child.name.startswith("_"):
                continue
            if not ast.get_docstring(child):
                missing.append(f"{path.name}:{child.lineno}: {prefix}{child.name}")
            if isinstance(child, ast.ClassDef):
                walk(child, f"{prefix}{child.name}.")

    walk(tree, "")
    return missing


def test_every_public_definition_has_a_docstring():
    missing = [item for path in sorted(PACKAGE.rglob("*.py")) for item in undocumented(path)]
    assert not missing, "no docstring: " + ", ".join(missing)


def test_api_reference_covers_every_public_module():
    directives = set()
    for page in (DOCS / "reference").glob("*.md"):
        directives |= set(re.findall(r"^::: ([\w.]+)", page.read_text(), re.MULTILINE))
    missing = sorted(set(public_modules()) - directives)
    assert not missing, f"modules without an API reference page: {missing}"


def test_gallery_shows_every_figure_once():
    """On the page as built: the captions' sidecar references rendered first."""
    gallery = render((DOCS / "gallery.md").read_text(), "gallery.md", SOURCES)
    shown = re.findall(r"!\[[^\]]*\]\(figures/([\w-]+)\.png\)", gallery)
    pngs = sorted(path.stem for path in (ROOT / "figures").glob("*.png"))
    assert sorted(shown) == pngs


def test_docs_figures_is_the_repository_folder():
    assert (DOCS / "figures").resolve() == (ROOT / "figures").resolve()


CONTROL = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]")
"""Characters no page or docstring should hold: what ``"\\theta"`` written without its
second backslash becomes (tab, vertical tab, bell, ...)."""


def test_no_page_or_module_holds_a_control_character():
    files = [
        *DOCS.rglob("*.md"),
        ROOT / "README.md",
        *PACKAGE.rglob("*.py"),
        *ROOT.glob("notebooks/*.py"),
    ]
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in files
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if CONTROL.search(line)
    ]
    assert not found, f"control characters (a LaTeX command lost its backslash?) at {found}"


def load_hooks():
    pytest.importorskip("latex2mathml", reason="the docs extra is not installed")
    return docs_hooks()


def test_latex_becomes_mathml_inline_and_display():
    hooks = load_hooks()
    inline = hooks.latex_to_mathml(r"\nabla_\theta F = H^{-1} g", display=False)
    block = hooks.latex_to_mathml(r"\frac{a}{b}", display=True)
    assert inline.startswith("<math") and 'display="inline"' in inline and "<msup>" in inline
    assert 'display="block"' in block and "<mfrac>" in block


def test_aligned_is_drawn_as_a_table():
    hooks = load_hooks()
    mathml = hooks.latex_to_mathml(r"\begin{aligned} a &= b \\ c &= d \end{aligned}", True)
    assert "<mtable" in mathml and "<mi>&</mi>" not in mathml


def test_arg_min_is_an_operator():
    hooks = load_hooks()
    mathml = hooks.latex_to_mathml(r"\phi^* = \arg\min_\phi L + \argmax_y U", display=False)
    assert "<mo>arg</mo>" in mathml and "<mo>argmax</mo>" in mathml


def test_norm_bars_do_not_stretch_and_sized_delimiters_are_characters():
    hooks = load_hooks()
    norm = hooks.latex_to_mathml(r"\lVert y \rVert^2", display=False)
    assert norm.count('<mo stretchy="false">&#x02016;</mo>') == 2
    sized = hooks.latex_to_mathml(r"\big\| y \big\| + \bigl\langle a \bigr\rangle", False)
    assert "\\" not in sized and "&#x02016;" in sized and "&#x027E8;" in sized


@pytest.mark.parametrize("latex", [r"\notacommand x", r"a & b", r"\big\foo x"])
def test_latex_that_cannot_be_converted_is_an_error(latex):
    hooks = load_hooks()
    with pytest.raises(hooks.MathError, match="cannot convert"):
        hooks.latex_to_mathml(latex, display=False)


def test_arithmatex_output_is_replaced_and_unescaped():
    hooks = load_hooks()
    html = (
        '<p>see <span class="arithmatex">\\(x &lt; y\\)</span></p>'
        '<div class="arithmatex">\\[\\|y - m\\|^2\\]</div>'
    )
    out = hooks.arithmatex_to_mathml(html, "page.md")
    assert "arithmatex" not in out
    assert "<mo>&lt;</mo>" in out or "<mo>&#x0003C;</mo>" in out
    assert out.count("<math") == 2 and '<div class="math"><math' in out


def test_dollar_math_in_notebook_markdown_skips_code():
    hooks = load_hooks()
    html = "<p>cost $c \\|y\\|^2$ and <code>$HOME</code></p><p>$$E[U]$$</p>"
    out = hooks.dollars_to_mathml(html, "nb.ipynb")
    assert out.count("<math") == 2
    assert "<code>$HOME</code>" in out


def test_notebook_pages_do_not_load_mathjax():
    hooks = load_hooks()
    page = (
        '<!-- Load mathjax -->\n<script src=""> </script>\n<script type="text/x-mathjax-config">'
        "</script>\n<!-- End of mathjax configuration -->"
        '<script type="module">\n  document.addEventListener("DOMContentLoaded", async () => {\n'
        '    const diagrams = document.querySelectorAll(".jp-Mermaid > pre.mermaid");\n'
        '    const m = await import("https://cdnjs.example/mermaid.mjs");\n  });\n</script>'
        "<script>\n(function() {\n  function addWidgetsRenderer() {\n"
        "    var widgetRendererSrc = 'https://cdn.example/embed-amd.js';\n  }\n}());\n</script>"
        '<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown jp-MarkdownOutput" '
        'data-mime-type="text/markdown"><p>$a_1$</p></div>'
    )
    out = hooks.notebook_to_mathml(page, "nb.ipynb")
    assert "<script" not in out and "mathjax" not in out.lower() and "cdn" not in out
    assert "<msub>" in out


def test_the_hook_writes_a_page_s_references_and_stops_on_a_bad_one():
    """``on_page_markdown`` renders ``{{ SOURCE: PATH | FORMAT }}`` from figures/ and
    docs/data/, and a reference that does not resolve stops even a non-strict build with the
    page, the file and the key."""
    hooks = load_hooks()
    from mkdocs.exceptions import PluginError

    page = SimpleNamespace(file=SimpleNamespace(src_uri="results/page.md"))
    good = "RLHF {{ mitigations: table[variant=rlhf].final_gold_median | .2f }}, \\{{ kept }}"
    sidecar = json.loads((ROOT / "figures" / "mitigations.json").read_text())
    median = next(r for r in sidecar["table"] if r["variant"] == "rlhf")["final_gold_median"]
    assert hooks.on_page_markdown(good, page, None, None) == f"RLHF {median:.2f}, {{{{ kept }}}}"
    with pytest.raises(PluginError, match=r"results/page\.md: .*mitigations\.json: .*'tabel'"):
        hooks.on_page_markdown("{{ mitigations: tabel.x }}", page, None, None)


@pytest.mark.slow
def test_site_builds_strict(tmp_path):
    """``mkdocs build --strict`` passes, renders the notebooks and the math, fetches nothing."""
    pytest.importorskip("mkdocs", reason="the docs extra is not installed")
    site = strict_site(tmp_path)
    for page in ("index.html", "notebooks/01_alignment_collapse/index.html", "gallery/index.html"):
        assert (site / page).is_file(), page
    notebook = (site / "notebooks/01_alignment_collapse/index.html").read_text()
    assert "jp-OutputArea-output" in notebook  # rendered with its outputs
    home = (site / "index.html").read_text()
    assert "<math" in home and "arithmatex" not in home
    for page in site.rglob("*.html"):  # nothing fetched from another host
        text = page.read_text()
        assert not re.search(r"""(src=|import\()["']?(https?:)?//""", text), page
