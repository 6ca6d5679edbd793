"""The problem set's checkers: right for the answer computed here, a hint without it otherwise."""

import re

import numpy as np
import pytest

from toysim import build, exercises, simulate
from toysim.exercises import ACTION_COSTS, GAMMAS, HOLDS_AT, PRACTICAL_GAMMA, SEEDS, verdict

NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def finals_and_peaks(method: str, field: str, values) -> tuple[np.ndarray, np.ndarray]:
    """Final and peak true utility ``[len(values), SEEDS]`` of ``method`` on paper-linear,
    one ``simulate`` per value and seed."""
    spec, hp = build("paper-linear", method)
    runs = [
        [simulate(spec, hp._replace(**{field: v}), seed=s).utility for s in range(SEEDS)]
        for v in values
    ]
    utility = np.asarray(runs)
    return utility[..., -1], utility.max(axis=-1)


@pytest.fixture(scope="module")
def noise_cosine() -> float:
    spec, hp = build("paper-linear", "rlhf")
    t = simulate(spec, hp, seed=0)
    w, y = np.asarray(t.w)[-1, 3:], np.asarray(t.theta)[-1, 3:]
    return float(np.dot(w, y) / np.sqrt(np.dot(w, w) * np.dot(y, y)))


@pytest.fixture(scope="module")
def leash() -> tuple[np.ndarray, np.ndarray]:
    return finals_and_peaks("rlhf", "action_cost", ACTION_COSTS)


def leash_label(final: np.ndarray, peak: np.ndarray) -> str:
    if np.mean(final < 0.8 * peak) > 0.5:
        return "collapse"
    return "stall" if np.median(peak) < 2.0 else "holds"


@pytest.fixture(scope="module")
def answers(noise_cosine, leash) -> dict:
    """Each exercise's correct answer, computed without toysim.exercises."""
    relaxed_final, _ = finals_and_peaks("fpo-relaxed", "gamma", GAMMAS)
    hp = build("paper-linear", "rlhf")[1]
    final, peak = leash
    return {
        "capacity_gap": noise_cosine,
        "relaxed_gamma": next(
            g for g, f in zip(GAMMAS, relaxed_final, strict=True) if np.median(f) >= HOLDS_AT
        ),
        "practical_leash": hp.action_cost + PRACTICAL_GAMMA,
        "kl_leash": ACTION_COSTS[int(np.argmax(np.median(final, axis=1)))],
        "leash_failure": (leash_label(final[0], peak[0]), leash_label(final[-1], peak[-1])),
        "lookahead_gamma": 2 * 1.0 * hp.follower_lr,  # 2 omega eta, omega = 1
    }


def wrong_answers(name: str, correct) -> list:
    """Plausible wrong answers: the other candidates, or values off by more than the tolerance."""
    if name == "relaxed_gamma":
        return [g for g in GAMMAS if g != correct]
    if name == "kl_leash":
        return [c for c in ACTION_COSTS if c != correct]
    if name == "leash_failure":
        labels = exercises.OUTCOMES
        return [(a, b) for a in labels for b in labels if (a, b) != correct]
    if name == "capacity_gap":
        return [correct - 0.5, -correct, 0.0]
    return [0.5 * correct, 2 * correct, correct + 0.01]


def mentions(message: str, correct) -> bool:
    """Whether ``message`` states ``correct``: a number within 1% of it, or the label."""
    if isinstance(correct, tuple):
        return any(f"'{label}'" in message or f'"{label}"' in message for label in correct)
    found = [float(x) for x in NUMBER.findall(message)]
    return any(np.isclose(x, correct, rtol=0.01, atol=1e-3) for x in found)


def test_the_answers_are_what_the_problem_set_says(answers):
    """Sanity of the exercises themselves (each is a real question, with margins)."""
    assert answers["capacity_gap"] > 0.9
    assert answers["relaxed_gamma"] > 0
    assert answers["leash_failure"] == ("collapse", "stall")


@pytest.mark.parametrize("name", sorted(exercises.EXERCISES))
def test_checker_says_right_for_the_correct_answer(name, answers, capsys):
    assert verdict(name, answers[name]).right is True
    exercises.check(name, answers[name])
    assert capsys.readouterr().out.startswith("right")


@pytest.mark.parametrize("name", sorted(exercises.EXERCISES))
def test_checker_hints_without_giving_the_answer(name, answers):
    correct = answers[name]
    for wrong in wrong_answers(name, correct):
        result = verdict(name, wrong)
        assert result.right is False, (name, wrong)
        assert "hint" in result.message.lower()
        assert not mentions(result.message, correct), (name, wrong, result.message)


@pytest.mark.parametrize("name", sorted(exercises.EXERCISES))
def test_checker_asks_for_an_answer_first(name, capsys):
    result = verdict(name, None)
    assert result.right is None
    assert result.message.startswith("write your answer first")
    exercises.check(name, None)
    assert "write your answer first" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(exercises.EXERCISES))
@pytest.mark.parametrize("malformed", ["ten", True, float("nan"), [1, 2, 3]])
def test_checker_hints_at_the_form_of_a_malformed_answer(name, malformed):
    result = verdict(name, malformed)
    assert result.right is False
    assert "answer with" in result.message


def test_practical_leash_hints_when_the_leash_diverges():
    result = verdict("practical_leash", 1e3)
    assert result.right is False and "diverges" in result.message


def test_unknown_exercise_is_a_clear_error():
    with pytest.raises(KeyError, match="no exercise 'nope'; the exercises are capacity_gap"):
        verdict("nope", 1.0)
