"""Markdown tables of the experiments' summaries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


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
