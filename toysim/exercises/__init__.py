"""Checkers for the problem set of notebook 05: derive a number, then check it.

``check(name, answer)`` prints ``right`` with the reason, or a hint. Each checker
computes the correct answer with toysim itself (:mod:`toysim.exercises.linear`,
:mod:`toysim.exercises.games`; cached for the session) and accepts an answer within
its relative tolerance. A hint gives the idea of the derivation, the same text
whatever the wrong answer: never the value, and never whether the answer is too
large or too small. ``check(name, None)`` prints the question without computing
anything. :data:`EXERCISES` lists the exercises, :func:`solution` gives an
exercise's numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from toysim.exercises import games, linear
from toysim.presets import build

Answer = tuple[float, ...]


class Verdict(NamedTuple):
    """The outcome of a check: ``right`` is None when no answer was given."""

    right: bool | None
    message: str


class Exercise(NamedTuple):
    """One exercise.

    Attributes:
      question: the question, as ``check(name, None)`` prints it.
      form: what an answer is, as the hint for a malformed answer says it.
      size: how many numbers an answer has.
      solve: ``() -> Answer``, the correct numbers, computed by toysim.
      rtol: the relative tolerance within which each number is right.
      hint: the idea of the derivation.
      why: ``Answer -> str``, the explanation printed once the answer is right.
    """

    question: str
    form: str
    size: int
    solve: Callable[[], Answer]
    rtol: float
    hint: str
    why: Callable[[Answer], str]


RTOL = 0.005
"""Relative tolerance of an answer: three significant figures."""


def as_numbers(answer: object, size: int) -> Answer | None:
    """``answer`` as ``size`` finite floats (a number, or a sequence of ``size`` numbers;
    NumPy and JAX scalars count), or None if it is not of that form."""
    items = (answer,) if size == 1 else answer
    if size > 1 and not (isinstance(items, list | tuple) or np.ndim(items) == 1):
        return None
    try:
        values = [np.asarray(x) for x in items]
    except TypeError:
        return None
    if len(values) != size or any(v.ndim or v.dtype.kind not in "fiu" for v in values):
        return None
    numbers = tuple(float(v) for v in values)
    return numbers if all(math.isfinite(x) for x in numbers) else None


def accepts(exercise: Exercise, numbers: Answer, correct: Answer) -> tuple[bool, ...]:
    """Whether each of ``numbers`` is within the exercise's tolerance of ``correct``."""
    return tuple(
        math.isclose(x, c, rel_tol=exercise.rtol) for x, c in zip(numbers, correct, strict=True)
    )


ORDINALS = ("first", "second")


def judge(exercise: Exercise, answer: object) -> Verdict:
    """Right with the reason, or the exercise's hint (for a pair, also which number is
    right); a malformed answer is told its form."""
    numbers = as_numbers(answer, exercise.size)
    if numbers is None:
        return Verdict(False, f"not yet. Hint: answer with {exercise.form}.")
    correct = exercise.solve()
    right = accepts(exercise, numbers, correct)
    if all(right):
        return Verdict(True, f"right: {exercise.why(correct)}")
    if exercise.size > 1 and any(right):
        done = ", ".join(ORDINALS[i] for i, ok in enumerate(right) if ok)
        return Verdict(False, f"not yet: the {done} number is right. Hint: {exercise.hint}")
    return Verdict(False, f"not yet. Hint: {exercise.hint}")


def _one(f: Callable[[], float]) -> Callable[[], Answer]:
    return lambda: (f(),)


def _steering_why(a: Answer) -> str:
    return (
        f"u . (-grad S) = {a[0]:.2f}, and the sign is the point. -grad S = -||y||^2 grad e(y) - "
        "2 e(y) y with e = r - U. The RM was just refit at the policy, so e is near 0 there and "
        "the second term is negligible; the first descends the RM's error. Past the best point "
        "of RLHF's line U falls outward while r keeps rising, so the error grows outward and "
        "the force pulls the policy back: away from outputs whose labels would mark its reward "
        "down, toward those the RM already scores right. Myopic RLHF has no such term."
    )


def _underrated_why(a: Answer) -> str:
    _, w = linear.rlhf_final_state()
    amplitude = linear.linear_game()[1].amplitude
    reward_at_ideal = float(w @ linear.ideal())
    return (
        f"f_bar = {a[0]:.3f}. The RM underrates every output on the ray short of that point, "
        f"the ideal itself included (r_w(m) = {reward_at_ideal:.2f} against U(m) = "
        f"{amplitude:g}), and overrates beyond it; it also underrates the whole "
        "half-space w . y < 0, where r < 0 < U. A linear RM is a plane through the origin: "
        "refit only at the policy's own outputs, it matches U there and nowhere near the "
        "ideal, so climbing it leads past the ideal into what it overrates."
    )


def _goodhart_why(a: Answer) -> str:
    return (
        f"d = {a[0]:.2f}. From theta_0 = 0 the policy walks the line of w_0; the gold along it "
        "peaks at the projection of the ideal, ||theta|| = m . w_0 / ||w_0||, while the proxy "
        "w_0 . theta rises until theta = w_0 / (2c), further out. Past the projection every "
        "step raises the proxy and lowers the gold: the gap opens where the RM's direction stops "
        "pointing at the ideal, which the angle between w_0 and m sets, not the optimiser. "
        "Refit at the policy, as in RLHF, the RM stays calibrated there and proxy and gold "
        "fall together: the gap is then off the policy (exercise underrated)."
    )


def _lookahead_why(a: Answer) -> str:
    return (
        f"gamma = {a[0]:.4g}, 2 eta: w+(y) = w - 2 eta (w . y - U(y)) y scores y at "
        "w . y - 2 eta (r - U) ||y||^2, relaxed FPO's objective term by term. That is the "
        "game's own foresight. With the preset's eta the lookahead weight is a tenth of the "
        "published gamma = 0.1, which at the ideal replaces gamma ||m||^2 = 1.2 times the RM's "
        "slope w by the true slope grad U: relaxed FPO reaches the ideal in this toy by leaning "
        "on the oracle U, not by foresight, and exact FPO, the true Stackelberg gradient, "
        "stops short of it."
    )


def _population_why(a: Answer) -> str:
    spec, hp = build("population", "rlhf")
    norm_m = hp.ideal_value * math.sqrt(spec.signal_dims)
    return (
        f"s_myopic = {a[0]:.3f} and s_exact = {a[1]:.3f}, with the ideal at ||m|| = "
        f"{norm_m:.3f}. At the ideal the refit RM still slopes up along m_hat (E[yU] points "
        "along m), so the myopic leader, holding w* fixed, climbs on until the leash 2cs "
        "catches up: past the ideal. The Stackelberg leader sees that moving outward retrains "
        "the RM to a flatter slope, so J peaks before the ideal. Myopia moves the fixed point "
        "out; foresight pulls it in."
    )


def _neural_why(a: Answer) -> str:
    return (
        f"xi = {a[0]:.3f}, gamma ||grad_phi r(theta)||^2. Above 1: at the ideal relaxed FPO has "
        "replaced all of the network's slope by the true utility's, as the published weight "
        "does in the linear toy (gamma ||m||^2 = 1.2). To score outputs near 10 the network "
        "needs large activations, hence a large parameter gradient, so the penalty is strong "
        "exactly where the RM scores high: relaxed FPO holds the ideal by following the "
        "oracle's slope."
    )


def _pairwise_why(a: Answer) -> str:
    return (
        f"f = {a[0]:.3f}: the leader stops short of the ideal. kappa = beta (1 - 2q): label "
        "noise shrinks the learned slope. A comparison only says which way U rises, so the "
        "RM's score of the policy, kappa grad U(theta) . theta, is zero at the ideal, where U "
        "is flat, whatever U's level there: a comparison-trained RM cannot value reaching the "
        "top, and the leash makes the leader settle on the slope below it."
    )


EXERCISES = {
    "steering_sign": Exercise(
        "at RLHF's final state (seed 0), theta_T with w_T parallel to it, what is u . (-grad S),"
        " u = theta_T / ||theta_T||, for relaxed FPO's S(y) = (r_w(y) - U(y)) ||grad_w r_w(y)||^2?",
        "a number",
        1,
        _one(lambda: linear.steering_force(*linear.rlhf_final_state())),
        RTOL,
        "S is a product of the RM's error e(y) = w . y - U(y) and ||grad_w r_w(y)||^2, which is "
        "||y||^2 for the linear RM. Differentiate the product, then project on u: with w "
        "parallel to theta, u . w = ||w||, and grad U(y) = -2 tau (y - m) U(y). Which of the "
        "two terms is small where the RM was just trained?",
        _steering_why,
    ),
    "underrated": Exercise(
        "on the ray y = f m from the origin through the ideal, RLHF's final RM (seed 0) gives "
        "r_w(y) < U(y) from f = 0 up to some f_bar and r_w(y) > U(y) just beyond: what is f_bar?",
        "a number f > 0",
        1,
        _one(lambda: linear.underrated_until(linear.rlhf_final_state()[1])),
        RTOL,
        "on the ray the RM's score is a straight line through the origin, f (w . m), and U is "
        "a bump centred on the ideal, A exp(-tau ||m||^2 (f - 1)^2). Write both as functions "
        "of f and solve where the line climbs above the bump; w . m is all you need from the "
        "run.",
        _underrated_why,
    ),
    "goodhart_gap": Exercise(
        "with the RM frozen at w_0 (seed 0), at which distance d = ||theta|| / (0.3 sqrt 2) "
        "from the start does the gold U(theta) peak while the proxy w_0 . theta keeps rising?",
        "a distance d > 0",
        1,
        _one(linear.goodhart_gap_distance),
        RTOL / 5,  # the run's best iteration is 0.3% off: derive it, do not read it off
        "with a frozen w_0 the step theta <- theta + alpha (w_0 - 2 c theta) from theta_0 = 0 "
        "never leaves one line through the origin: which? Along a line a Gaussian bump is "
        "largest at the line's point closest to its centre. Check the policy gets that far, "
        "then convert the length into d.",
        _goodhart_why,
    ),
    "lookahead_weight": Exercise(
        "with an RM that takes one SGD step of size eta = 0.0075 (no weight decay) on each new "
        "output, which relaxed-FPO weight gamma is the exact one-step lookahead?",
        "a weight gamma > 0",
        1,
        _one(linear.lookahead_weight),
        RTOL,
        "write the step, w+(y) = w - eta grad_w (w . y - U(y))^2, score y with w+(y), and "
        "compare the result term by term with r_w(y) - gamma (r_w(y) - U(y)) ||grad_w "
        "r_w(y)||^2; grad_w r_w(y) = y for the linear RM.",
        _lookahead_why,
    ),
    "population_rest": Exercise(
        "in the population game, on the line theta = s m_hat: at which s > 0 does the myopic "
        "gradient w*(theta) - 2 c theta vanish, and at which the exact Stackelberg gradient?",
        "a pair (s_myopic, s_exact)",
        2,
        games.population_rest_points,
        RTOL,
        "on that line every vector of the game is a multiple of m_hat, so w*(s m_hat) is a "
        "number times m_hat: get it from w* = (theta theta^T + (sigma^2 + lambda/2) I)^{-1} "
        "E[yU] and the Gaussian moments. The myopic leader stops where that number equals 2 c "
        "s; the foresighted one where J(s) = w*(s m_hat) . s m_hat - c (s^2 + d sigma^2) stops "
        "rising. Solve each numerically.",
        _population_why,
    ),
    "neural_slope_share": Exercise(
        "paper-nn, relaxed FPO, 200 iterations, seed 0: where r = U, relaxed FPO's gradient is "
        "(1 - xi) grad r + xi grad U - 2 c y. What is xi at the policy's final mean?",
        "a number",
        1,
        _one(games.neural_slope_share),
        RTOL,
        "differentiate r_phi(y) - gamma (r_phi(y) - U(y)) ||grad_phi r_phi(y)||^2 in y with "
        "the product rule. One term carries the factor r - U: drop it where the RM is "
        "calibrated, and read off what multiplies grad U in the other. It needs one gradient "
        "of the network over all its parameters.",
        _neural_why,
    ),
    "pairwise_stop": Exercise(
        "pairwise-linear: a leader climbs V(theta) = w*(theta) . theta - c ||theta||^2 with "
        "w*(theta) = kappa grad U(theta), the comparison-trained RM to first order. On theta = "
        "f m, at which f does V peak?",
        "a number f",
        1,
        _one(games.pairwise_stop),
        RTOL,
        "expand the labeller's p = (1 - q) s(beta dU) + q (1 - s(beta dU)) to first order in "
        "dU with s(x) ~ 1/2 + x/4, and match it to the model's s(w . (y_0 - y_1)) with dU ~ "
        "grad U . (y_0 - y_1): that is kappa. Then V(f m) is an explicit function of f; set its "
        "derivative to zero. What is V at the ideal itself?",
        _pairwise_why,
    ),
}
"""Every exercise by name, in the notebook's order."""


def _exercise(name: str) -> Exercise:
    if name not in EXERCISES:
        raise KeyError(f"no exercise {name!r}; the exercises are {', '.join(EXERCISES)}")
    return EXERCISES[name]


def solution(name: str) -> Answer:
    """The correct numbers of exercise ``name``, as toysim computes them (the teacher's key
    and the tests read them here).

    Raises:
      KeyError: ``name`` is not an exercise (the message lists them).
    """
    return _exercise(name).solve()


def verdict(name: str, answer: object) -> Verdict:
    """Judge ``answer`` to exercise ``name``: right (with why), a hint, or, for None, the
    question.

    Args:
      name: a key of :data:`EXERCISES`.
      answer: the learner's answer (a number, or a pair for ``population_rest``); None
        when not yet written.

    Returns:
      A :class:`Verdict`; the message of a wrong answer never states the correct one, nor
      which way it lies.

    Raises:
      KeyError: ``name`` is not an exercise (the message lists them).
    """
    exercise = _exercise(name)
    if answer is None:
        return Verdict(None, f"write your answer first: {exercise.question}")
    return judge(exercise, answer)


def check(name: str, answer: object) -> None:
    """Print :func:`verdict`'s message for ``answer`` to exercise ``name``."""
    print(verdict(name, answer).message)
