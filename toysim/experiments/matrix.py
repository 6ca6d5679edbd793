"""The feature matrix: every preset x leader x curvature rung (and ``params``) x mitigation x
data regime x label model x pairing, each cell either a run or a refusal in one line that names
the field.

:func:`feature_matrix` enumerates the cells and builds each one as ``toysim run`` would
(:func:`toysim.presets.build`, then :func:`toysim.presets.compose`), validating it up front;
a cell that builds is a :class:`Cell` with its ``(spec, hparams)``, one that is refused
carries the :class:`~toysim.config.ConfigError` message. :func:`matrix_markdown` renders the
table the documentation shows, so the page is generated from the code, not written by hand.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import NamedTuple

from toysim.config import HESSIAN, ConfigError, validate
from toysim.presets import CHOICES, PRESETS, build, compose

MATRIX_LEADERS = (
    ("rlhf", {}),
    *((f"fpo-exact, hessian={h}", {"hessian": h}) for h in HESSIAN),
    ("fpo-exact, params=optimum", {"params": "optimum"}),
    ("fpo-relaxed", {}),
    ("fpo-practical", {}),
    ("expert iteration", None),
)
"""The leaders: rlhf, exact FPO on every curvature rung, exact FPO at the follower's best
response (the linear game's default; the sampled-buffer game evaluates at the current
parameters unless asked), the two relaxed FPO methods, and expert iteration (``None``: no
gradient method)."""
MITIGATIONS = {
    "none": {},
    "ensemble (mean)": dict(members=3, aggregate="mean"),
    "ensemble (min)": dict(members=3, aggregate="min"),
    "early stopping": dict(gold_budget=4),
    "ensemble + early stopping": dict(members=3, gold_budget=4),
}
"""The mitigations each leader is composed with (three members, four gold labels a check)."""


class Cell(NamedTuple):
    """One cell of the matrix.

    Attributes:
      preset, leader, mitigation, regime, labels, pairing: the cell's coordinates (``labels``
        and ``pairing`` are ``-`` where the preset's game has no pairs).
      spec, hp: what runs (``None`` if refused).
      refusal: the one-line reason it is refused (``None`` if it runs).
    """

    preset: str
    leader: str
    mitigation: str
    regime: str
    labels: str
    pairing: str
    spec: object
    hp: object
    refusal: str | None


DATA_AXES = ("regime", "labels", "pairing")
"""The fields of a cell's data: the follower's data regime, and with pairs the label model and
what a pair compares."""


def data_axes(preset: str) -> list[tuple[str, str, str]]:
    """The ``(regime, labels, pairing)`` cells of ``preset``: each regime of the follower's
    data, times each label model and each pairing with pairs (``-`` where the game labels
    outputs with ``U``: a point has no pair, and ``toysim run`` refuses both flags there)."""
    p = PRESETS[preset]
    pairs = p.sampled and p.spec.get("data") == "pairs"
    with_pairs = (CHOICES["labels"], CHOICES["pairing"]) if pairs else (("-",), ("-",))
    return list(itertools.product(CHOICES["regime"], *with_pairs))


def build_cell(preset, leader, mitigation, data, steps) -> Cell:
    """The cell of ``data`` (one of :func:`data_axes`): its ``(spec, hparams)``, validated, or
    the refusal's message."""
    switches = dict(MATRIX_LEADERS)[leader]
    try:
        method = "rlhf" if switches is None else leader.split(",")[0]
        game, hp = build(preset, method, steps=steps, **(switches or {}))
        fields = {k: v for k, v in zip(DATA_AXES, data, strict=True) if v != "-"}
        game = dataclasses.replace(game, **fields)
        pieces = dict(MITIGATIONS[mitigation])
        if switches is None:
            pieces["leader"] = "expert"
        spec, params = (game, hp) if not pieces else compose(game, hp, **pieces)
        validate(spec, params)
    except ConfigError as err:
        return Cell(preset, leader, mitigation, *data, None, None, str(err))
    return Cell(preset, leader, mitigation, *data, spec, params, None)


def feature_matrix(steps: int | None = None) -> list[Cell]:
    """Every cell of the matrix, in order (``steps``: each run's horizon; ``None``: the
    preset's)."""
    return [
        build_cell(preset, leader, mitigation, data, steps)
        for preset in PRESETS
        for leader, _ in MATRIX_LEADERS
        for mitigation in MITIGATIONS
        for data in data_axes(preset)
    ]


def matrix_markdown(cells: list[Cell]) -> str:
    """The matrix as Markdown: per preset, a leader x mitigation table whose entry counts the
    data cells (:func:`data_axes`) that run (``3/3``) or says ``refused``; then each distinct
    refusal."""
    lines = []
    reasons: dict[str, list[str]] = {}
    for preset in PRESETS:
        mine = [c for c in cells if c.preset == preset]
        data = len(data_axes(preset))
        axes = "regime x labels x pairing" if data > len(CHOICES["regime"]) else "regime"
        lines += [f"### {preset}", "", f"Each entry counts the {axes} cells that run, of {data}."]
        lines += [""]
        lines += ["| leader | " + " | ".join(MITIGATIONS) + " |"]
        lines += ["| --- " * (len(MITIGATIONS) + 1) + "|"]
        for leader, _ in MATRIX_LEADERS:
            row = []
            for mitigation in MITIGATIONS:
                group = [c for c in mine if c.leader == leader and c.mitigation == mitigation]
                runs = sum(c.refusal is None for c in group)
                for c in group:
                    if c.refusal is not None:
                        reason = c.refusal.split("; got")[0]
                        reasons.setdefault(reason, []).append(f"{preset}: {leader}")
                row.append("refused" if runs == 0 else f"{runs}/{data}")
            lines.append(f"| {leader} | " + " | ".join(row) + " |")
        lines.append("")
    ran = sum(c.refusal is None for c in cells)
    lines += [f"{ran} of {len(cells)} cells run; the others are refused for these reasons:", ""]
    for reason, where in reasons.items():
        places = sorted(set(where))
        lines.append(
            f"- `{reason}` ({len(where)} cells: {'; '.join(places[:4])}"
            + (", ..." if len(places) > 4 else "")
            + ")"
        )
    return "\n".join(lines) + "\n"
