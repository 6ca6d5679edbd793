"""The story the README and the theory pages tell, checked on actual runs.

README.md, docs/index.md and docs/theory/game.md say what myopic RLHF does on
``paper-linear`` (seed 0): the true utility peaks and falls, and the proxy reward,
the retrained reward model's score of the policy, peaks and falls with it. The
README shows the output of ``python -m toysim run``. Every collapse count uses one
rule, :func:`toysim.model.metrics.collapsed`.
"""

import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import toysim
from toysim.cli import main
from toysim.experiments.regimes import RegimeRuns, regime_summary
from toysim.model.metrics import COLLAPSE_DROP, collapsed

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rlhf_seed_0():
    spec, hp = toysim.build("paper-linear", "rlhf")
    run = toysim.simulate(spec, hp, seed=0)
    return np.asarray(run.proxy_reward), np.asarray(run.utility)


def test_rlhf_proxy_peaks_and_falls_with_the_true_utility(rlhf_seed_0):
    """The pages' numbers: the proxy peaks at about 7.00 near iteration 103 and ends at
    about 4.13, never more than 0.55 from the true utility, which peaks at 6.65 and ends
    at 4.13."""
    proxy, utility = rlhf_seed_0
    assert proxy.max() == pytest.approx(7.00, abs=0.005)
    assert int(np.argmax(proxy)) + 1 == 103
    assert 0 < np.argmax(proxy) - np.argmax(utility) <= 10  # "a few iterations after"
    assert proxy[-1] == pytest.approx(4.13, abs=0.005)
    assert proxy[-1] < 0.6 * proxy.max()  # the proxy does not keep rising
    assert np.max(np.abs(proxy - utility)) < 0.55  # it tracks the utility the whole run
    assert utility.max() == pytest.approx(6.65, abs=0.005)
    assert utility[-1] == pytest.approx(4.13, abs=0.005)


def shown_run_output(page: Path, command: str = "python -m toysim run") -> str:
    """The output ``page`` shows under a ``$ COMMAND`` console prompt."""
    prompt = re.escape(f"$ {command}\n")
    found = re.search(rf"```console\n{prompt}(.*?)```", page.read_text(), re.S)
    assert found, f"{page.name} shows the output of {command} in a console block"
    return found.group(1)


def test_the_readme_and_the_home_page_show_what_python_m_toysim_run_prints(capsys):
    assert main(["run"]) == 0
    printed = capsys.readouterr().out
    assert printed == shown_run_output(ROOT / "README.md")
    assert printed == shown_run_output(ROOT / "docs" / "index.md")


def test_the_population_page_shows_what_its_run_prints(capsys):
    assert main(["run", "--preset", "population"]) == 0
    page = ROOT / "docs" / "theory" / "population.md"
    assert capsys.readouterr().out == shown_run_output(
        page, "python -m toysim run --preset population"
    )


def test_collapse_rule_on_hand_values():
    """Collapsed: final below 0.8 x peak, with NumPy and JAX arrays alike; ending at exactly
    0.8 x peak (8 of 10, exact in binary floating point) is not below it."""
    assert COLLAPSE_DROP == 0.2
    final = np.array([7.99, 8.01, 0.5, 4.13, 8.0])
    peak = np.array([10.0, 10.0, 0.55, 6.65, 10.0])
    expected = [True, False, False, True, False]  # 0.5 > 0.8 x 0.55 = 0.44: never got anywhere
    assert collapsed(final, peak).tolist() == expected
    assert np.asarray(collapsed(jnp.asarray(final), jnp.asarray(peak))).tolist() == expected
    assert collapsed(np.float64(4.0), np.float64(10.0), drop=0.5)  # a looser rule by hand


def test_the_regime_summary_counts_collapse_by_the_rule():
    """A seed that keeps 70% of its peak has collapsed (more than a fifth lost); one that
    keeps 90% has not."""
    utility = np.array([[1.0, 10.0, 7.0], [1.0, 10.0, 9.0]])
    runs = RegimeRuns({"p": {"window": utility}}, {"p": {"window": {}}}, 2)
    summary = regime_summary(runs)["p"]["window"]
    assert summary["collapsed_fraction"] == 0.5
    assert summary["median_final_utility"] == 8.0 and summary["median_max_utility"] == 10.0
