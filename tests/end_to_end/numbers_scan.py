"""What counts as a measured-looking number in a page's prose, for ``test_docs_numbers``.

A page's prose is its Markdown without fenced code (the examples test runs the Python
blocks and checks their output), inline code, math, link targets, HTML comments and
``{{ SOURCE: PATH }}`` references. In it a number looks measured when it is a decimal
(``3.86``), a duration (``20 s``, ``7 min``, ``85.9 µs``), a ratio (``26x``,
``1.5 times``), a percentage (``44%``) or a count out of a total (``7 of 16``).
Versions (``jax 0.9.2``, ``Python 3.10``) and dates are not numbers of a result, nor
are the hyperparameters of a table marked ``<!-- presets table: PRESET, ... -->``, which
``test_docs_numbers`` checks against those presets instead.
"""

from __future__ import annotations

import re

PRESETS_TABLE = re.compile(r"^<!-- presets table: ([\w, -]+) -->\n((?:\|[^\n]*\n)+)", re.M)
"""A table of hyperparameters, marked with the presets it lists (checked against them)."""
_HIDDEN = re.compile(
    PRESETS_TABLE.pattern + "|"  # a presets table
    r"^(```|~~~).*?^\3"  # fenced code
    r"|`[^`\n]*`"  # inline code
    r"|\$\$.*?\$\$|(?<![\\$])\$[^$\n]+?\$"  # math
    r"|\{\{.*?\}\}"  # references to a sidecar
    r"|\]\([^)]*\)"  # link targets
    r"|<!--.*?-->"  # comments
    r"|https?://\S+"
    r"|\b(?:jax|JAX|Python|python|NumPy|numpy|version|arXiv:)\s*\d+(?:\.\d+)+"  # versions
    r"|\b\d+\.\d+\.\d+\b"  # a dotted version on its own
    r"|\b\d{4}-\d{2}-\d{2}\b",  # a date
    re.S | re.M,
)
_NUMBER = r"\d[\d,]*(?:\.\d+)?"
MEASURED = re.compile(
    rf"(?<![\w.,-])(?:"
    rf"{_NUMBER}\s*(?:µs|us|ms|s|min|h|seconds|minutes|hours)\b"  # a duration
    rf"|{_NUMBER}\s*(?:x|×)(?![\w-])|{_NUMBER}\s+times\b"  # a ratio
    rf"|{_NUMBER}\s*%"  # a percentage
    rf"|\d+ of (?:the )?(?:its )?\d+\b"  # a count out of a total
    rf"|\d[\d,]*\.\d+"  # a decimal
    rf")(?![\w.]\d)"
)


def prose(markdown: str) -> str:
    """``markdown`` with code, math, references, link targets, comments and versions blanked."""
    return _HIDDEN.sub(" ", markdown)


def measured_numbers(markdown: str) -> list[str]:
    """Every measured-looking number of ``markdown``'s prose, as written (a line break as a
    space), in order."""
    return [re.sub(r"\s+", " ", m.group(0)) for m in MEASURED.finditer(prose(markdown))]
