"""The problem set's checkers: right for the answer derived independently here, a hint that
states neither the answer nor its direction otherwise, and no answer on the learner's path.

Each exercise's answer is computed here by its own route (closed forms, backpropagation by
hand) from the same runs, which toysim's compiled programs produce once for the module.
"""

import math
import os
import re
from pathlib import Path

import jax
import nbformat
import numpy as np
import pytest

from tests.helpers import docs_hooks
from toysim import build, exercises
from toysim.exercises import games, linear, verdict
from toysim.game.linear_round import initial_reward_weights
from toysim.seeds import seed_key

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "05_exercises.py"
KEY = ROOT / "docs" / "teaching" / "key.md"
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e-?\d+)?")
DOCS_PATH = re.compile(r"docs/[\w/.-]+?\.md")


def bump(amplitude, tau, ideal, y):
    """``U(y)`` and ``grad U(y)`` of the Gaussian bump, by hand."""
    value = amplitude * np.exp(-tau * np.sum((y - ideal) ** 2))
    return value, -2.0 * tau * (y - ideal) * value


def crossing(f, grid, falling):
    """The first sign change of ``f`` on ``grid``, refined by the secant method."""
    values = np.array([f(x) for x in grid])
    signs = np.sign(values)
    i = next(i for i in range(len(grid) - 1) if signs[i] == (1 if falling else -1) != signs[i + 1])
    a, b = grid[i], grid[i + 1]
    for _ in range(60):
        fa, fb = f(a), f(b)
        if fb == fa:
            break
        a, b = b, b - fb * (b - a) / (fb - fa)
    return b


def steering_force(theta, w, hp, ideal):
    """``u . (-grad S)`` for ``S = (w . y - U(y)) ||y||^2`` with ``w`` parallel to ``theta``."""
    n = np.linalg.norm(theta)
    u = theta / n
    value, grad = bump(hp.amplitude, hp.tau, ideal, theta)
    error = w @ theta - value
    return -(n**2 * (u @ w - u @ grad) + 2.0 * error * n)


def underrated_until(w, hp, ideal):
    """Where ``f (w . m)`` climbs above ``A exp(-tau ||m||^2 (f - 1)^2)`` on the ray."""
    slope, m2 = w @ ideal, ideal @ ideal

    def gap(f):
        return f * slope - hp.amplitude * np.exp(-hp.tau * m2 * (f - 1) ** 2)

    return crossing(gap, np.linspace(0.0, 3.0, 3001), falling=False)


def population_rest_points():
    """Rest points on ``theta = s m_hat`` from the scalar closed form of ``w*`` (ridge,
    Sherman-Morrison along ``m_hat``) and the derivative of ``J`` by central differences."""
    spec, hp = build("population", "rlhf")
    d, norm_m = spec.dim, hp.ideal_value * math.sqrt(spec.signal_dims)
    chi = 1 + 2 * hp.tau * hp.sigma**2
    spread = hp.sigma**2 + hp.lam / 2

    def slope(s):  # w*(s m_hat) . m_hat
        expected_u = hp.amplitude * chi ** (-d / 2) * np.exp(-hp.tau * (s - norm_m) ** 2 / chi)
        return expected_u * (s + 2 * hp.tau * hp.sigma**2 * norm_m) / chi / (s * s + spread)

    def objective(s):
        return slope(s) * s - hp.action_cost * (s * s + d * hp.sigma**2)

    grid = np.linspace(0.05, 8.0, 400)
    myopic = crossing(lambda s: slope(s) - 2 * hp.action_cost * s, grid, falling=True)
    h = 1e-5
    exact = crossing(lambda s: (objective(s + h) - objective(s - h)) / (2 * h), grid, True)
    return myopic, exact


def mlp_parameter_gradient_norm2(flat, sizes, y):
    """``||grad_phi r_phi(y)||^2`` for the softplus MLP, by backpropagation written out."""
    layers, i = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        w = flat[i : i + n_in * n_out].reshape(n_in, n_out)
        b = flat[i + n_in * n_out : i + n_in * n_out + n_out]
        layers.append((w, b))
        i += n_in * n_out + n_out
    assert i == flat.size
    inputs, slopes, h = [], [], y
    for w, b in layers[:-1]:
        z = h @ w + b
        inputs.append(h)
        slopes.append(1 / (1 + np.exp(-z)))  # softplus' = logistic
        h = np.logaddexp(0, z)
    total = h @ h + 1.0  # the output layer's weights and bias
    back = layers[-1][0][:, 0]
    for (w, _), h_in, s in zip(
        reversed(layers[:-1]), reversed(inputs), reversed(slopes), strict=True
    ):
        delta = back * s
        total += (h_in @ h_in) * (delta @ delta) + delta @ delta
        back = w @ delta
    return total


def pairwise_stop():
    """The zero of ``V'(f)`` for ``V(f) = K f (1 - f) exp(-tau M (1 - f)^2) - c M f^2``,
    ``K = 2 tau M A beta (1 - 2 q)``, ``M = ||m||^2``, differentiated by hand."""
    spec, hp = build("pairwise-linear", "rlhf")
    m2 = spec.signal_dims * hp.ideal_value**2
    k = 2 * hp.tau * m2 * hp.amplitude * hp.beta * (1 - 2 * hp.label_noise)

    def dv(f):
        bump_f = np.exp(-hp.tau * m2 * (1 - f) ** 2)
        return k * bump_f * ((1 - 2 * f) + 2 * hp.tau * m2 * f * (1 - f) ** 2)

    def dv_total(f):
        return dv(f) - 2 * hp.action_cost * m2 * f

    return crossing(dv_total, np.linspace(0.05, 1.0, 200), falling=True)


@pytest.fixture(scope="module")
def answers() -> dict:
    """Each exercise's answer by the routes above, from the runs toysim makes."""
    spec, hp = build("paper-linear", "rlhf")
    theta, w = linear.rlhf_final_state()
    ideal = hp.ideal_value * (np.arange(spec.dim) < spec.signal_dims)
    w0 = np.asarray(initial_reward_weights(seed_key(0), spec, hp))
    _, nn_hp, run = games.neural_run()
    sizes = (run.theta.shape[-1], 32, 32, 1)
    norm2 = mlp_parameter_gradient_norm2(
        np.asarray(run.rm_params[-1]), sizes, np.asarray(run.theta[-1])
    )
    return {
        "steering_sign": (steering_force(theta, w, hp, ideal),),
        "underrated": (underrated_until(w, hp, ideal),),
        "goodhart_gap": (ideal @ w0 / np.linalg.norm(w0) / (0.3 * math.sqrt(2)),),
        "lookahead_weight": (2 * linear.LOOKAHEAD_STEP,),
        "population_rest": population_rest_points(),
        "neural_slope_share": (nn_hp.gamma * norm2,),
        "pairwise_stop": (pairwise_stop(),),
    }


def as_answer(numbers: tuple) -> object:
    """What a learner types: a number, or a tuple for a pair."""
    return numbers[0] if len(numbers) == 1 else tuple(numbers)


def numbers_in(text: str) -> list[float]:
    return [float(x) for x in NUMBER.findall(text)]


def states_an_answer(text: str, name: str) -> list[float]:
    """The numbers in ``text`` that exercise ``name``'s checker would accept for any of its
    answers."""
    exercise, correct = exercises.EXERCISES[name], exercises.solution(name)
    return [
        x
        for x in numbers_in(text)
        if any(math.isclose(x, c, rel_tol=exercise.rtol) for c in correct)
    ]


NAMES = list(exercises.EXERCISES)


def test_the_notebook_asks_every_exercise_in_order():
    asked = re.findall(r'check\("(\w+)"', NOTEBOOK.read_text())
    assert asked == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_toysim_computes_the_answer_derived_by_hand(name, answers):
    computed, derived = exercises.solution(name), answers[name]
    tolerance = exercises.EXERCISES[name].rtol / 10
    np.testing.assert_allclose(computed, derived, rtol=tolerance)


def test_the_answers_show_what_the_exercises_teach(answers):
    """The sign of the steering force, the underrated ideal, the parting point on the
    run, rest points either side of the ideal, a share above 1, a stop short of the ideal."""
    assert answers["steering_sign"][0] < 0
    assert 1.0 < answers["underrated"][0]
    spec, hp = build("population", "rlhf")
    s_myopic, s_exact = answers["population_rest"]
    assert s_exact < hp.ideal_value * math.sqrt(spec.signal_dims) < s_myopic
    assert answers["neural_slope_share"][0] > 1
    assert 0 < answers["pairwise_stop"][0] < 1


@pytest.mark.parametrize("name", NAMES)
def test_checker_says_right_for_the_derived_answer(name, answers, capsys):
    result = verdict(name, as_answer(answers[name]))
    assert result.right is True, result.message
    exercises.check(name, as_answer(answers[name]))
    assert capsys.readouterr().out.startswith("right")


def wrong_pairs(correct: tuple, rtol: float) -> list[tuple[tuple, tuple]]:
    """Pairs of wrong answers either side of the correct one, one number off at a time."""
    pairs = []
    for i in range(len(correct)):
        for factor in (3, 20):
            off = [list(correct), list(correct)]
            off[0][i] *= 1 + factor * rtol
            off[1][i] *= 1 - factor * rtol
            pairs.append((tuple(off[0]), tuple(off[1])))
    pairs.append((tuple(-c for c in correct), tuple(0.0 for _ in correct)))
    return pairs


@pytest.mark.parametrize("name", NAMES)
def test_checker_hints_without_the_answer_or_its_direction(name, answers):
    exercise = exercises.EXERCISES[name]
    for above, below in wrong_pairs(answers[name], exercise.rtol):
        high, low = verdict(name, as_answer(above)), verdict(name, as_answer(below))
        assert high.right is False and low.right is False, (above, below)
        assert "Hint:" in high.message
        assert high.message == low.message, "a hint that differs either side bisects"
        assert not states_an_answer(high.message, name), high.message


@pytest.mark.parametrize("name", NAMES)
def test_a_right_answer_does_not_give_away_another_exercise(name, answers):
    message = verdict(name, as_answer(answers[name])).message
    for other in NAMES:
        if other != name:
            assert not states_an_answer(message, other), (other, message)


@pytest.mark.parametrize("name", NAMES)
def test_checker_asks_for_an_answer_first(name, capsys):
    result = verdict(name, None)
    assert result.right is None
    assert result.message.startswith("write your answer first")
    exercises.check(name, None)
    assert "write your answer first" in capsys.readouterr().out


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("malformed", ["ten", True, float("nan"), [1, 2, 3], (1.0, "a"), {}])
def test_checker_tells_the_form_of_a_malformed_answer(name, malformed):
    result = verdict(name, malformed)
    assert result.right is False
    assert f"answer with {exercises.EXERCISES[name].form}" in result.message


def test_numpy_and_jax_scalars_are_numbers(answers):
    value = answers["underrated"][0]
    assert verdict("underrated", np.float32(value)).right is True
    assert verdict("underrated", jax.numpy.asarray(value)).right is True
    pair = answers["population_rest"]
    assert verdict("population_rest", np.asarray(pair)).right is True
    assert verdict("population_rest", pair[0]).right is False  # one number is not a pair


def test_a_pair_is_told_which_number_is_right(answers):
    s_myopic, s_exact = answers["population_rest"]
    assert "the first number is right" in verdict("population_rest", (s_myopic, 0.0)).message
    assert "the second number is right" in verdict("population_rest", (0.0, s_exact)).message


def test_unknown_exercise_is_a_clear_error():
    with pytest.raises(KeyError, match="no exercise 'nope'; the exercises are steering_sign"):
        verdict("nope", 1.0)


def learners_path() -> dict[str, str]:
    """The notebook, every docs page it names, and the source of toysim.exercises (which the
    API reference renders): what a learner reads."""
    notebook = NOTEBOOK.read_text()
    texts = {str(NOTEBOOK.relative_to(ROOT)): notebook}
    for page in sorted(set(DOCS_PATH.findall(notebook))):
        texts[page] = (ROOT / page).read_text()
    for source in sorted((ROOT / "toysim" / "exercises").glob("*.py")):
        texts[str(source.relative_to(ROOT))] = source.read_text()
    return texts


def test_the_notebook_names_docs_pages_that_exist_and_not_the_key():
    pages = DOCS_PATH.findall(NOTEBOOK.read_text())
    assert pages and all((ROOT / page).is_file() for page in pages)
    assert "teaching" not in NOTEBOOK.read_text()


@pytest.mark.parametrize("name", NAMES)
def test_nothing_on_the_learners_path_states_an_answer(name):
    stated = {path: states_an_answer(text, name) for path, text in learners_path().items()}
    assert not any(stated.values()), stated


def test_the_key_solves_every_exercise_and_stays_out_of_the_site():
    """Its numbers are doctest output, which tests/end_to_end/test_examples.py runs."""
    key = KEY.read_text()
    for name in NAMES:
        assert f'solution("{name}")' in key, name
    assert "teaching/" in Path(ROOT / "mkdocs.yml").read_text().split("exclude_docs")[1]


@pytest.mark.slow  # executes the notebook (or reads the copy a docs build executed)
def test_the_executed_notebook_states_no_answer(tmp_path):
    hooks = docs_hooks()
    source = ROOT / "notebooks" / "05_exercises.ipynb"
    if os.environ.get("TOYSIM_BUILT_SITE"):
        executed = hooks.EXECUTED / source.name
    else:
        executed = tmp_path / source.name
        assert hooks.execute_notebook(source, executed, tmp_path / "work")
    outputs = [o for c in nbformat.read(executed, as_version=4).cells for o in c.get("outputs", [])]
    text = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs
    )
    for name in NAMES:
        assert not states_an_answer(text, name), name
