"""Numbers quoted from result sidecars: ``{{ SOURCE: PATH | FORMAT }}`` references in Markdown.

A page of the documentation never types a measured number: it writes a reference,
and the docs build (``tools/docs_hooks.py``) replaces it with
``format(value, FORMAT)`` of the value the sidecar holds, so a page cannot drift
from the runs it reports. A reference names

* ``SOURCE``: a JSON file, ``figures/SOURCE.json`` (a figure's sidecar, written by
  ``toysim figures``) or ``docs/data/SOURCE.json`` (a measurement kept on record,
  with the machine and the date it was made on); or a Markdown table file that
  ``toysim figures`` writes, ``figures/SOURCE.md``;
* ``PATH``: the value inside it, keys joined by ``.``; ``[3]`` picks a list's item,
  ``[variant=rlhf]`` the one dict of a list whose ``variant`` is ``rlhf``, and
  ``["sampled, beta = 1, epsilon = 0.1"]`` the dict's key written between the quotes,
  as it is (for a key with a dot, a bracket or ``=`` in it). In a Markdown source,
  the body of its section ``### PATH`` (``*``: the whole file);
* ``FORMAT`` (optional): a Python format spec (``.2f``, ``.0%``, ``,.0f``); without
  it the value is written with ``str`` (a string, such as a sidecar's
  ``table_markdown``, goes in as it is).

``{{ mitigations: table[variant=rlhf].final_gold_median | .2f }}`` is RLHF's median
final gold in ``figures/mitigations.json``, to two decimals; in
``figures/label_noise_full.json`` the PATH
``table.pairwise-linear.rlhf["sampled, beta = 1, epsilon = 0.1"].collapse_rate`` is RLHF's
collapse rate on pairwise-linear with sampled labels at those ``beta`` and ``epsilon``. A
missing file, key or item is a :class:`ReferenceError_` naming the page, the file and the
key. ``\\{{`` is written as ``{{``, not read as a reference.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

REFERENCE = re.compile(r"(?<!\\)\{\{\s*([\w.-]+)\s*:\s*([^|}]+?)\s*(?:\|\s*([^}]*?)\s*)?\}\}")
"""``{{ SOURCE: PATH | FORMAT }}``: groups source, path, format (``None`` when absent). A
backslash before the braces (``\\{{``) makes it text, for a page that shows the syntax."""
_SEGMENT = re.compile(r'\["([^"]*)"\]|\[([^\]]*)\]|([^.\[\]]+)')


class ReferenceError_(LookupError):
    """A reference whose file, key, item or format does not resolve."""


def source_file(source: str, folders: Sequence[Path]) -> Path:
    """``FOLDER/SOURCE.json`` (or ``.md``) for the one folder of ``folders`` that has it.

    Raises:
      ReferenceError_: no folder has it, or more than one does (ambiguous).
    """
    names = (f"{source}.json", f"{source}.md")
    found = [folder / name for folder in folders for name in names if (folder / name).is_file()]
    if len(found) != 1:
        where = ", ".join(str(folder) for folder in folders)
        problem = "no file" if not found else "more than one file"
        raise ReferenceError_(f"{problem} {source}.json or {source}.md in {where}")
    return found[0]


def section(markdown: str, name: str) -> str:
    """The body of ``markdown``'s section ``### name`` (up to the next heading), stripped;
    all of ``markdown`` for ``name == "*"``.

    Raises:
      ReferenceError_: no such section, naming the sections there are.
    """
    if name == "*":
        return markdown.strip()
    parts = re.split(r"^### (.+)$", markdown, flags=re.M)
    bodies = dict(zip(parts[1::2], parts[2::2], strict=True))
    if name not in bodies:
        raise ReferenceError_(f"no section '### {name}' (has {sorted(bodies)})")
    return bodies[name].strip()


def segments(path: str) -> list[str | int | tuple[str, str]]:
    """The steps of ``path``: a key (str), a list index (int) or a selector ``(key, value)``.
    A quoted key ``["..."]`` is a key (str) written as it is, dots, brackets and ``=``
    included.

    >>> segments("table[variant=kl-leash (best c)].final_gold_median")
    ['table', ('variant', 'kl-leash (best c)'), 'final_gold_median']
    >>> segments('table.rlhf["sampled, beta = 1, epsilon = 0.1"].collapse_rate')
    ['table', 'rlhf', 'sampled, beta = 1, epsilon = 0.1', 'collapse_rate']
    """
    steps: list[str | int | tuple[str, str]] = []
    for match in _SEGMENT.finditer(path):
        quoted, bracket, key = match.groups()
        if quoted is not None:
            steps.append(quoted)
        elif key is not None:
            steps.append(key.strip())
        elif "=" in bracket:
            field, _, value = bracket.partition("=")
            steps.append((field.strip(), value.strip()))
        elif bracket.strip().lstrip("-").isdigit():
            steps.append(int(bracket))
        else:
            raise ReferenceError_(
                f'[{bracket}] is neither an index [3], a selector [key=value] nor a key ["key"]'
            )
    if not steps:
        raise ReferenceError_(f"empty path {path!r}")
    return steps


def lookup(data: object, path: str) -> object:
    """The value at ``path`` (see :func:`segments`) inside the decoded JSON ``data``.

    Raises:
      ReferenceError_: a key, index or selector that matches nothing (or, for a
        selector, more than one item), naming the step and what is there.
    """
    value = data
    done = ""  # the steps resolved so far, for the messages
    for step in segments(path):
        if isinstance(step, str):
            if not isinstance(value, dict) or step not in value:
                keys = sorted(value)[:12] if isinstance(value, dict) else type(value).__name__
                raise ReferenceError_(f"no key {step!r} at {done or 'the top'!r} (has {keys})")
            value = value[step]
        elif isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                raise ReferenceError_(f"no item [{step}] at {done!r}")
            value = value[step]
        else:
            field, wanted = step
            hits = [
                item
                for item in (value if isinstance(value, list) else [])
                if isinstance(item, dict) and str(item.get(field)) == wanted
            ]
            if len(hits) != 1:
                raise ReferenceError_(
                    f"{len(hits)} items with {field} = {wanted!r} at {done!r} (need one)"
                )
            value = hits[0]
        done += _written(step)
    return value


def _written(step: str | int | tuple[str, str]) -> str:
    """``step`` as a path writes it (a key that the plain syntax cannot name, quoted)."""
    if isinstance(step, int):
        return f"[{step}]"
    if isinstance(step, tuple):
        return f"[{step[0]}={step[1]}]"
    return f'["{step}"]' if re.search(r"[.\[\]=]", step) or step != step.strip() else f".{step}"


def formatted(value: object, spec: str | None) -> str:
    """``format(value, spec)``; ``str(value)`` without a spec.

    Raises:
      ReferenceError_: the spec does not apply to the value (a string given ``.2f``).
    """
    if spec is None:
        return str(value)
    try:
        return format(value, spec)
    except (TypeError, ValueError) as error:
        raise ReferenceError_(f"format {spec!r} does not apply to {value!r}: {error}") from None


def resolve(source: str, path: str, spec: str | None, folders: Sequence[Path]) -> str:
    """The text a reference stands for: the value at ``path`` in ``source``, formatted.

    Raises:
      ReferenceError_: naming the file and the key.
    """
    file = source_file(source, folders)
    try:
        if file.suffix == ".md":
            return formatted(section(file.read_text(), path), spec)
        return formatted(lookup(json.loads(file.read_text()), path), spec)
    except ReferenceError_ as error:
        raise ReferenceError_(f"{file.name}: {path}: {error}") from None


def render(markdown: str, page: str, folders: Sequence[Path]) -> str:
    """``markdown`` with every reference replaced by the value it names (and ``\\{{`` by ``{{``).

    Raises:
      ReferenceError_: one line per reference that does not resolve, each naming
        ``page``, the file and the key.
    """
    problems: list[str] = []

    def replace(match: re.Match) -> str:
        try:
            return resolve(match[1], match[2], match[3], folders)
        except ReferenceError_ as error:
            problems.append(f"{page}: {match[0]}: {error}")
            return match[0]

    out = REFERENCE.sub(replace, markdown)
    if problems:
        raise ReferenceError_("\n".join(problems))
    return out.replace("\\{{", "{{")
