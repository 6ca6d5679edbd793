"""Every collapse count uses one rule, :func:`toysim.model.metrics.collapsed`."""

import jax.numpy as jnp
import numpy as np

from toysim.experiments.regimes import RegimeRuns, regime_summary
from toysim.model.metrics import COLLAPSE_DROP, collapsed


def test_collapse_rule_on_hand_values():
    """Collapsed: final below 0.8 x peak, with NumPy and JAX arrays alike."""
    assert COLLAPSE_DROP == 0.2
    final = np.array([7.99, 8.01, 0.5, 4.13])
    peak = np.array([10.0, 10.0, 0.55, 6.65])
    expected = [True, False, False, True]  # 0.5 > 0.8 x 0.55 = 0.44: never got anywhere
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
