"""Markdown tables of the experiments' summaries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """``| h1 | h2 |``, ``| --- | --- |``, then ``| c1 | c2 |`` for each row, one per line.

    Raises:
      ValueError: a row's length differs from the header's.
    """
    lines = [header, ["---"] * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a table row has {len(row)} cells, its header {len(header)}")
        lines.append(row)
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def columns_table(columns: Sequence[tuple[str, str]], rows: Iterable[Mapping]) -> str:
    """:func:`markdown_table` of ``rows``, column by column: a heading and a ``str.format``
    template of the row's fields, e.g. ``("gamma", "{gamma:.3g}")``."""
    header = [heading for heading, _ in columns]
    return markdown_table(header, [[cell.format_map(r) for _, cell in columns] for r in rows])
