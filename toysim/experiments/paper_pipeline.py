"""The published pipeline in miniature: pairs against a reference, the best of 8 candidates.

See docs/theory/pairwise.md (*Best of n candidates by the current reward model*). The paper's
language-model pipeline samples ``n = 8`` outputs per prompt, keeps the one its current reward
model scores best, pairs it against an output of the frozen initial policy, and trains the
reward model on the Bradley-Terry label of the pair; it reports relaxed FPO beating the RLHF
baseline (188 to 144 judge-decided pairs) and practical FPO tying it (140 to 135).

:func:`pipeline_record` runs :data:`PRESET` with ``pairing = reference`` for each leader of
:data:`METHODS`, with :data:`CANDIDATES` candidates and, beside it, with one (the pairing
alone), each over :data:`SEEDS` seeds at the preset's own horizon, and records per leader the
median final and peak utility ``U(theta)``, the collapse rate
(:func:`toysim.model.metrics.collapsed`) and, as the paper's head-to-head count, on how many
seeds its final utility beats RLHF's with the same number of candidates (seed ``s`` of
each leader starts from the same reward model and draws) and on how many it falls below, with
the two-sided sign test's p-value (:func:`sign_test`). ``python -m
toysim.experiments.paper_pipeline`` writes :data:`RECORD`, the source of the page's numbers.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import jax
import numpy as np

from toysim.experiments.tables import columns_table
from toysim.presets import build
from toysim.provenance import measured_on
from toysim.safeio import write_text
from toysim.sweep import sweep

PRESET = "pairwise-linear"
METHODS = ("rlhf", "fpo-practical", "fpo-relaxed", "fpo-exact")
"""The baseline first: every other leader is counted against it."""
PUBLISHED = {"fpo-relaxed": (188, 144), "fpo-practical": (140, 135)}
"""The paper's judge-decided pairs against the RLHF baseline: ``(won, lost)``."""
CANDIDATES = 8
SEEDS = 16
RECORD = Path("docs/data/paper_pipeline.json")


def final_and_peak(method: str, candidates: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(final U, peak U, collapsed)`` per seed of :data:`PRESET` against a reference with
    ``candidates`` candidates, ``method`` at its preset defaults."""
    spec, hp = build(PRESET, method)
    spec = dataclasses.replace(spec, pairing="reference", candidates=candidates)
    metrics = sweep(spec, hp, {}, SEEDS, chunk_size=SEEDS).metrics
    return tuple(np.asarray(metrics[k]) for k in ("final_utility", "max_utility", "collapsed"))


def sign_test(wins: int, losses: int) -> float:
    """The two-sided sign test's p-value of ``wins`` against ``losses`` (ties dropped):
    ``min(1, 2 P[Binomial(n, 1/2) >= max(wins, losses)])``, ``n = wins + losses``."""
    n, k = wins + losses, max(wins, losses)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n)


def pipeline_rows(candidates: int) -> list[dict]:
    """One row per leader of :data:`METHODS`: medians, collapse rate, wins against RLHF."""
    runs = {m: final_and_peak(m, candidates) for m in METHODS}
    baseline = runs[METHODS[0]][0]
    rows = []
    for method, (final, peak, collapsed) in runs.items():
        wins, losses = int(np.sum(final > baseline)), int(np.sum(final < baseline))
        rows.append(
            {
                "method": method,
                "candidates": candidates,
                "median_final_utility": float(np.median(final)),
                "median_peak_utility": float(np.median(peak)),
                "collapse_rate": float(np.mean(collapsed)),
                "wins_against_rlhf": wins,
                "losses_against_rlhf": losses,
                "sign_test_p": sign_test(wins, losses),
            }
        )
    return rows


TABLE_COLUMNS = (
    ("leader", "`{method}`"),
    ("candidates", "{candidates}"),
    ("median final $U$", "{median_final_utility:.2f}"),
    ("median peak $U$", "{median_peak_utility:.2f}"),
    ("collapsed", "{collapse_rate:.0%}"),
    ("seeds won against `rlhf`, lost (sign test $p$)", "{duel}"),
)
"""The table's columns: a heading and the template of a row's cell."""


def duel(row: dict) -> str:
    """``wins, losses (p)`` against RLHF, or ``-`` for RLHF itself."""
    if row["method"] == "rlhf":
        return "-"
    return f"{row['wins_against_rlhf']}, {row['losses_against_rlhf']} ({row['sign_test_p']:.2f})"


def table_markdown(rows: list[dict]) -> str:
    """The record's rows as a Markdown table."""
    return columns_table(TABLE_COLUMNS, [{**r, "duel": duel(r)} for r in rows])


def pipeline_record() -> dict:
    """The rows with :data:`CANDIDATES` candidates and with one, their table, what ran, where
    and when."""
    with jax.enable_x64(True):
        rows = pipeline_rows(CANDIDATES) + pipeline_rows(1)
    spec, _ = build(PRESET, "rlhf")
    entry = {"what": "python -m toysim.experiments.paper_pipeline", **measured_on()}
    setting = {"preset": PRESET, "pairing": "reference", "seeds": SEEDS, "steps": spec.steps}
    by_key = {f"{r['method']}, n = {r['candidates']}": r for r in rows}
    published = {
        m: {"won": won, "lost": lost, "sign_test_p": sign_test(won, lost)}
        for m, (won, lost) in PUBLISHED.items()
    }
    table = table_markdown(rows)
    return {PRESET: {**entry, **setting, "rows": by_key, "table": table, "published": published}}


if __name__ == "__main__":
    write_text(RECORD, json.dumps(pipeline_record(), indent=1) + "\n")
