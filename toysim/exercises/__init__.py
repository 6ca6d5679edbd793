"""Checkers for the problem set of notebook 05: predict, then run.

``check(name, answer)`` prints ``right`` with a one-line reason, or a hint. Each
checker computes the correct answer with toysim itself (one simulation or one
sweep on ``paper-linear``, cached for the session) and compares; a hint never
states the correct answer. ``check(name, None)`` asks for an answer without
computing anything.

The exercises (``EXERCISES`` lists them):

* ``capacity_gap``: the cosine between the RM's noise weights and the policy's
  noise after 300 RLHF iterations (seed 0); right within 0.1.
* ``relaxed_gamma``: the smallest weight in ``GAMMAS`` at which relaxed FPO's
  median final utility over ``SEEDS`` seeds reaches ``HOLDS_AT``.
* ``practical_leash``: the action cost at which RLHF follows practical FPO's
  trajectory (``PRACTICAL_GAMMA``, the preset's c); right when the two
  trajectories agree to ``LEASH_TOLERANCE`` relative to the largest coordinate.
* ``kl_leash``: the action cost in ``ACTION_COSTS`` with RLHF's best median
  final utility over ``SEEDS`` seeds.
* ``leash_failure``: RLHF's outcome at the weakest and the strongest action cost
  of ``ACTION_COSTS``, each one of ``OUTCOMES``.
* ``lookahead_gamma``: the relaxed weight (``H -> I``) of the exact one-step
  lookahead; right within 1% relative.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from toysim.analysis import ladder_gamma
from toysim.config import ConfigError
from toysim.experiments.runner import simulate
from toysim.game.records import NonFiniteTrajectoryError
from toysim.presets import build
from toysim.sweep import sweep

PRESET = "paper-linear"
SEEDS = 8
"""Seeds of every sweep behind a checker (medians over seeds 0-7)."""

GAMMAS = (0.0, 0.005, 0.01, 0.025, 0.05, 0.1)
"""Candidate weights of relaxed FPO (exercise ``relaxed_gamma``)."""

HOLDS_AT = 9.0
"""Median final utility at or above which a method "holds" (the ideal is 10)."""

PRACTICAL_GAMMA = 0.05
"""Practical FPO's weight in exercise ``practical_leash``."""

LEASH_TOLERANCE = 1e-3
"""Largest difference between two trajectories, relative to their largest coordinate,
at which ``practical_leash`` calls them the same."""

ACTION_COSTS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
"""Candidate action costs c (exercises ``kl_leash`` and ``leash_failure``)."""

OUTCOMES = ("collapse", "stall", "holds")
"""``collapse``: most seeds lose more than 20% of their peak utility
(:func:`toysim.model.metrics.collapsed`);
``stall``: otherwise, with a median peak utility below a fifth of the ideal value;
``holds``: neither."""

COSINE_TOLERANCE = 0.1
LOOKAHEAD_RTOL = 0.01


class Verdict(NamedTuple):
    """The outcome of a check: ``right`` is None when no answer was given."""

    right: bool | None
    message: str


class Exercise(NamedTuple):
    """A question and its judge, ``judge(answer) -> Verdict`` for an answer that is not None."""

    question: str
    judge: Callable[[object], Verdict]


def _right(why: str) -> Verdict:
    return Verdict(True, f"right: {why}")


def _hint(text: str) -> Verdict:
    return Verdict(False, f"not yet. Hint: {text}")


def _as_number(answer: object) -> float | None:
    """``answer`` as a finite float, or None if it is not a real number."""
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real):
        return None
    value = float(answer)
    return value if math.isfinite(value) else None


def _candidate(answer: object, candidates: tuple[float, ...]) -> int | None:
    """The index of ``answer`` in ``candidates`` (relative tolerance 1e-9), or None."""
    value = _as_number(answer)
    if value is None:
        return None
    hits = [i for i, c in enumerate(candidates) if math.isclose(value, c, rel_tol=1e-9)]
    return hits[0] if hits else None


# --- (a) the capacity gap ------------------------------------------------------------


COSINE_ROUNDING = 1e-9
"""A computed cosine may exceed 1 by rounding (1.0000000000000002); such answers are cosines."""


@functools.cache
def _rlhf_noise_cosine() -> float:
    """Cosine of the RM's noise weights ``w[k:]`` with the policy's noise ``theta[k:]``
    after the last RLHF iteration (paper-linear, seed 0)."""
    spec, hp = build(PRESET, "rlhf")
    t = simulate(spec, hp, seed=0)
    w, theta = np.asarray(t.w[-1, spec.signal_dims :]), np.asarray(t.theta[-1, spec.signal_dims :])
    return float(w @ theta / (np.linalg.norm(w) * np.linalg.norm(theta)))


def _judge_capacity_gap(answer: object) -> Verdict:
    value = _as_number(answer)
    if value is None or abs(value) > 1 + COSINE_ROUNDING:
        return _hint("answer with a cosine, a number in [-1, 1].")
    correct = _rlhf_noise_cosine()
    if abs(value - correct) <= COSINE_TOLERANCE:
        return _right(
            f"the cosine is {correct:.3f}, and it is so from the first step. The policy moves "
            "along w and the RM along y, so on the noise coordinates both stay on the line of "
            "the RM's initial random noise weights. Refit only where the policy stands, the RM "
            "keeps rewarding the noise the policy has drifted into: a hyperplane cannot be "
            "right both there and at the ideal."
        )
    return _hint(
        "U is symmetric in every noise coordinate, so a fit of all of U would put no weight "
        "there; but each step the RM sees one point, the policy's y, and moves w along y: "
        "w <- w - 2 eta (w . y - U(y)) y. Meanwhile the policy moves along w. What does that "
        "do to the angle between w and y on the noise coordinates?"
    )


# --- (b) how much foresight stops the collapse ------------------------------------------


@functools.cache
def _relaxed_medians() -> tuple[float, ...]:
    """Relaxed FPO's median final utility over ``SEEDS`` seeds for each of ``GAMMAS``."""
    spec, hp = build(PRESET, "fpo-relaxed")
    result = sweep(spec, hp, {"gamma": GAMMAS}, SEEDS)
    return tuple(float(x) for x in result.median_over_seeds("final_utility"))


def _judge_relaxed_gamma(answer: object) -> Verdict:
    i = _candidate(answer, GAMMAS)
    if i is None:
        return _hint("answer with one of the values in toysim.exercises.GAMMAS.")
    medians = _relaxed_medians()
    holding = [j for j, m in enumerate(medians) if m >= HOLDS_AT]
    first = holding[0] if holding else None
    if i == first:
        return _right(
            f"from gamma = {GAMMAS[i]:g} the median final utility is {medians[i]:.2f}. The "
            "penalty gamma (r - U) ||y||^2 charges the outputs the RM overrates; below that "
            "weight it is too weak to stop the drift into the noise."
        )
    if first is None or medians[i] < HOLDS_AT:
        return _hint(
            f"at gamma = {GAMMAS[i]:g} the median final utility is {medians[i]:.2f}, below "
            f"{HOLDS_AT:g}: that penalty is too weak. Try a larger weight."
        )
    return _hint(
        f"gamma = {GAMMAS[i]:g} holds (median {medians[i]:.2f}), but it is not the smallest "
        "weight in GAMMAS that does."
    )


# --- (c) dropping the oracle ------------------------------------------------------------


@functools.cache
def _practical_trajectory() -> np.ndarray:
    """Practical FPO's policy ``theta`` ``[T, d]`` at ``PRACTICAL_GAMMA`` (seed 0)."""
    spec, hp = build(PRESET, "fpo-practical")
    return np.asarray(simulate(spec, hp._replace(gamma=PRACTICAL_GAMMA), seed=0).theta)


def _judge_practical_leash(answer: object) -> Verdict:
    value = _as_number(answer)
    if value is None or value < 0:
        return _hint("answer with an action cost c, a number >= 0.")
    spec, hp = build(PRESET, "rlhf")
    try:
        rlhf = np.asarray(simulate(spec, hp._replace(action_cost=value), seed=0).theta)
    except (ConfigError, NonFiniteTrajectoryError):
        return _hint(f"RLHF with c = {value:g} diverges: far too strong a leash.")
    practical = _practical_trajectory()
    gap = float(np.max(np.abs(rlhf - practical)) / np.max(np.abs(practical)))
    if gap <= LEASH_TOLERANCE:
        return _right(
            f"the trajectories agree to {gap:.0e}. For a linear RM grad_w r(y) = y, so the "
            "oracle-free penalty gamma ||grad_w r||^2 is gamma ||y||^2: practical FPO is RLHF "
            "with a tighter KL leash, and a leash cannot tell signal from noise."
        )
    looser = np.linalg.norm(rlhf[-1]) > np.linalg.norm(practical[-1])
    return _hint(
        f"RLHF with c = {value:g} ends {'farther from' if looser else 'closer to'} the origin "
        f"than practical FPO: its leash is too {'loose' if looser else 'tight'}. For a linear "
        "RM, what is grad_w r_w(y)? Write practical FPO's objective out with it."
    )


# --- (d) the KL leash -------------------------------------------------------------------


@functools.cache
def _leash_summary() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RLHF over ``ACTION_COSTS`` (``SEEDS`` seeds): median final and peak utility and the
    collapsed fraction, each ``[len(ACTION_COSTS)]``."""
    spec, hp = build(PRESET, "rlhf")
    result = sweep(spec, hp, {"c": ACTION_COSTS}, SEEDS)
    return (
        result.median_over_seeds("final_utility"),
        result.median_over_seeds("max_utility"),
        result.fraction_over_seeds("collapsed"),
    )


def _judge_kl_leash(answer: object) -> Verdict:
    i = _candidate(answer, ACTION_COSTS)
    if i is None:
        return _hint("answer with one of the values in toysim.exercises.ACTION_COSTS.")
    final, peak, _ = _leash_summary()
    best = int(np.argmax(final))
    if i == best:
        return _right(
            f"at c = {ACTION_COSTS[i]:g} RLHF ends at {final[i]:.2f} (median), the best of the "
            "grid: a weaker leash lets it drift into the noise after its peak, a stronger one "
            "holds it near the origin. No c brings it near 10: the leash pulls signal and noise "
            "alike."
        )
    weaker = i < best
    return _hint(
        f"at c = {ACTION_COSTS[i]:g} RLHF's median utility peaks at {peak[i]:.2f} and ends at "
        f"{final[i]:.2f}. {'Does it keep its peak?' if weaker else 'How far does it get?'} "
        f"Try a {'stronger' if weaker else 'weaker'} leash."
    )


def _outcome(peak: float, collapsed: float, ideal: float) -> str:
    """One of ``OUTCOMES`` from a sweep point's median peak utility and collapsed fraction."""
    if collapsed > 0.5:
        return "collapse"
    return "stall" if peak < 0.2 * ideal else "holds"


def _leash_outcomes() -> tuple[str, str]:
    """RLHF's outcome at the weakest and the strongest of ``ACTION_COSTS``."""
    _, peak, collapsed = _leash_summary()
    ideal = build(PRESET, "rlhf")[1].amplitude
    return tuple(_outcome(peak[i], collapsed[i], ideal) for i in (0, -1))


def _judge_leash_failure(answer: object) -> Verdict:
    labels = tuple(answer) if isinstance(answer, list | tuple) else ()
    if len(labels) != 2 or any(label not in OUTCOMES for label in labels):
        return _hint(f"answer with a pair of labels from {OUTCOMES}, e.g. ('holds', 'holds').")
    correct = _leash_outcomes()
    if labels == correct:
        return _right(
            f"at c = {ACTION_COSTS[0]:g} RLHF reaches a good utility, then drifts into the "
            f"noise and loses it; at c = {ACTION_COSTS[-1]:g} it never leaves the origin's "
            "neighbourhood. A too-weak leash fails late, a too-strong one from the start."
        )
    ends = (ACTION_COSTS[0], ACTION_COSTS[-1])
    pairs = zip(ends, labels, correct, strict=True)
    wrong = [f"c = {c:g}" for c, mine, true in pairs if mine != true]
    return _hint(
        f"your label for {' and '.join(wrong)} is off. What tells "
        "the three apart is whether the utility ever rises well above its start, and then "
        "whether it falls back from that peak by the end."
    )


# --- (e) exact vs relaxed ---------------------------------------------------------------


def _lookahead_gamma() -> float:
    """``2 omega / lambda``: the exact one-step lookahead's weight with ``H -> I``."""
    spec, hp = build(PRESET, "fpo-relaxed")
    return ladder_gamma(spec, hp, spec.method)


def _judge_lookahead_gamma(answer: object) -> Verdict:
    value = _as_number(answer)
    if value is None or value <= 0:
        return _hint("answer with a weight gamma, a number > 0.")
    correct = _lookahead_gamma()
    if math.isclose(value, correct, rel_tol=LOOKAHEAD_RTOL):
        published = build(PRESET, "fpo-relaxed")[1].gamma
        return _right(
            f"gamma = 2 omega eta = {correct:g}. The published gamma = {published:g} is "
            f"{published / correct:g} times the game's own foresight: exact FPO follows the true "
            "Stackelberg gradient, weaker than the published relaxed penalty, so it ends between "
            "RLHF and relaxed FPO."
        )
    return _hint(
        f"{'too large' if value > correct else 'too small'}. The one-step follower's loss "
        "Hessian is I / eta + 2 y y^T, and the exact weight is 2 omega with omega = 1. "
        "Replacing H by the identity drops a factor from H^{-1}: which one?"
    )


EXERCISES = {
    "capacity_gap": Exercise(
        "Cosine between the RM's noise weights and the policy's noise after 300 RLHF steps?",
        _judge_capacity_gap,
    ),
    "relaxed_gamma": Exercise(
        "Smallest gamma in GAMMAS at which relaxed FPO's median final utility reaches 9?",
        _judge_relaxed_gamma,
    ),
    "practical_leash": Exercise(
        "Practical FPO (gamma = 0.05, c = 0.1) is RLHF with which action cost c?",
        _judge_practical_leash,
    ),
    "kl_leash": Exercise(
        "Which c in ACTION_COSTS gives RLHF its best median final utility?", _judge_kl_leash
    ),
    "leash_failure": Exercise(
        "RLHF's outcome at the weakest and the strongest c in ACTION_COSTS?",
        _judge_leash_failure,
    ),
    "lookahead_gamma": Exercise(
        "Which relaxed gamma (H -> I) is the exact one-step lookahead on paper-linear?",
        _judge_lookahead_gamma,
    ),
}
"""Every exercise by name."""


def verdict(name: str, answer: object) -> Verdict:
    """Judge ``answer`` to exercise ``name``: right (with why), a hint, or, for None, a nudge.

    Args:
      name: a key of :data:`EXERCISES`.
      answer: the learner's answer; None when not yet written.

    Returns:
      A :class:`Verdict`; its message never states the correct answer of a wrong one.

    Raises:
      KeyError: ``name`` is not an exercise (the message lists them).
    """
    if name not in EXERCISES:
        raise KeyError(f"no exercise {name!r}; the exercises are {', '.join(EXERCISES)}")
    if answer is None:
        return Verdict(None, f"write your answer first: {EXERCISES[name].question}")
    return EXERCISES[name].judge(answer)


def check(name: str, answer: object) -> None:
    """Print :func:`verdict`'s message for ``answer`` to exercise ``name``."""
    print(verdict(name, answer).message)
