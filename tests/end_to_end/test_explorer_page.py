"""The browser explorer (docs/explorer.md): its committed data, and the page in a real browser.

The page runs paper-linear itself (docs/assets/game.js, float64). Its runs are compared with
:func:`toysim.simulate` in float64 at several slider settings: every recorded ``theta``,
``w`` and ``U(theta)`` within ``RTOL = 1e-9`` of the largest magnitude of that quantity over
the run. The two differ only in the order of float64 operations: measured, a few 1e-15,
except relaxed FPO at ``gamma = 2`` (about 1e-10), a run near its oscillation threshold that
amplifies rounding (one ulp more in one coordinate of ``w_0`` moves its utility by 4e-13).
The time a slider change takes is printed (``-rP`` shows it), never asserted.
"""

import json
import statistics

import numpy as np
import pytest

from tests.helpers import enter, open_page, severe_console_messages
from toysim import build, simulate
from toysim.cli import main
from toysim.explorer.page_data import PAGE_METHODS, PAGE_PRESET, SEED, explorer_data
from toysim.provenance import describe

RTOL = 1e-9
SETTINGS = [(0.1, 0.1), (2.0, 0.05), (0.0, 0.0), (0.5, 0.3), (0.013, 0.017)]
"""(gamma, c) pairs: the preset, exact FPO's weight, no steering nor leash, a strong leash,
and values off every slider position (typed into the boxes)."""


def test_the_committed_data_is_small_and_current(page_data):
    assert len(json.dumps(page_data)) < 10_000
    fresh = json.loads(json.dumps(explorer_data()))
    assert page_data["preset"] == PAGE_PRESET and page_data["seed"] == SEED
    assert page_data["w0"] == fresh["w0"] and page_data["methods"] == fresh["methods"]
    assert page_data["versions"]["float64"] is True
    for method in PAGE_METHODS:
        expected = json.loads(json.dumps(describe(*build(PAGE_PRESET, method))))
        assert page_data["methods"][method]["config"] == expected
        assert page_data["methods"][method]["default_gamma"] == expected["hparams"]["gamma"]


def test_the_shipped_w0_is_the_one_toysim_starts_seed_0_from(page_data):
    """RLHF's first leader step from ``theta_0 = 0`` is ``theta_1 = alpha w_0``."""
    spec, hp = build(PAGE_PRESET, "rlhf")
    theta_1 = np.asarray(simulate(spec, hp, seed=SEED).theta[0])
    np.testing.assert_allclose(np.asarray(page_data["w0"]) * hp.leader_lr, theta_1, rtol=1e-15)


def test_explorer_data_refuses_an_output_that_is_not_a_json_file(capsys, tmp_path):
    assert main(["explorer-data", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"--out must name a .json file; got {str(tmp_path)!r}")


def page_runs(driver) -> dict:
    """The page's current runs, per method: theta and w ``[T, d]``, U ``[T]``, nonfinite_at."""
    runs = driver.execute_script(
        "const runs = document.getElementById('toysim-explorer').toysimRuns;"
        "return Object.fromEntries(Object.entries(runs).map(([m, r]) => [m, {"
        "theta: Array.from(r.theta.subarray(0, r.steps * 50)),"
        "w: Array.from(r.w.subarray(0, r.steps * 50)),"
        "utility: Array.from(r.utility.subarray(0, r.steps)), nonfinite_at: r.nonfiniteAt}]));"
    )
    return {
        m: {
            "theta": np.reshape(r["theta"], (-1, 50)),
            "w": np.reshape(r["w"], (-1, 50)),
            "utility": np.asarray(r["utility"]),
            "nonfinite_at": r["nonfinite_at"],
        }
        for m, r in runs.items()
    }


def relative_difference(a, b) -> float:
    """``max |a - b| / max |b|``."""
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(b)))


@pytest.mark.slow
def test_the_page_runs_are_toysim_simulate_at_every_setting(site, browser):
    open_page(browser, f"{site}/explorer/", "toysim-explorer")
    worst = {}
    for gamma, c in SETTINGS:
        enter(browser, "tx-gamma-box", gamma)
        enter(browser, "tx-c-box", c)
        runs = page_runs(browser)
        assert sorted(runs) == sorted(PAGE_METHODS)
        for method, run in runs.items():
            spec, hp = build(PAGE_PRESET, method, gamma=gamma if method != "rlhf" else None)
            t = simulate(spec, hp._replace(action_cost=c), seed=SEED)
            assert run["nonfinite_at"] is None, (method, gamma, c)
            for name in ("theta", "w", "utility"):
                difference = relative_difference(run[name], getattr(t, name))
                assert difference <= RTOL, (method, gamma, c, name, difference)
                worst[method] = max(worst.get(method, (0.0,)), (difference, gamma, c))
    for method, (difference, gamma, c) in sorted(worst.items()):
        print(
            f"JS vs toysim.simulate, {method}: largest relative difference over theta, w, U "
            f"and {len(SETTINGS)} settings {difference:.1e} (gamma = {gamma}, c = {c})"
        )


@pytest.mark.slow
def test_a_diverging_run_stops_where_toysim_reports_it(site, browser):
    open_page(browser, f"{site}/explorer/", "toysim-explorer")
    enter(browser, "tx-gamma-box", 5.0)
    run = page_runs(browser)["fpo-relaxed"]
    spec, hp = build(PAGE_PRESET, "fpo-relaxed", gamma=5.0)
    with pytest.raises(FloatingPointError, match=f"iteration {run['nonfinite_at']} of"):
        simulate(spec, hp, seed=SEED)
    row = browser.find_element("css selector", "#toysim-explorer tr[data-method='fpo-relaxed']")
    assert f"non-finite at iteration {run['nonfinite_at']}" in row.text


@pytest.mark.slow
def test_a_slider_change_reruns_and_redraws_and_its_time_is_reported(site, browser):
    open_page(browser, f"{site}/explorer/", "toysim-explorer")
    root = browser.find_element("id", "toysim-explorer")
    assert float(root.get_attribute("data-gamma")) == 0.1  # the published weight
    assert float(root.get_attribute("data-c")) == 0.1
    path = (
        "const p = document.querySelector(`#tx-phase path[data-method='${arguments[0]}']`);"
        "return p ? p.getAttribute('d') : null;"
    )
    rlhf = browser.execute_script(path, "rlhf")
    relaxed = browser.execute_script(path, "fpo-relaxed")
    assert rlhf.count("L") == 300  # one vertex per iteration after the start
    # each change: the input event's handler (four runs of 300 iterations, the SVG rebuilt)
    # and the layout it forces, timed in the page
    times = browser.execute_script(
        "const s = document.getElementById('tx-gamma');"
        "const root = document.getElementById('toysim-explorer');"
        "const out = [];"
        "for (let k = 0; k < 41; k++) {"
        "  const start = performance.now();"
        "  s.value = 101 + 5 * k; s.dispatchEvent(new Event('input'));"
        "  root.getBoundingClientRect(); document.body.offsetHeight;"
        "  out.push([performance.now() - start, +root.dataset.computeMs]); }"
        "return out;"
    )
    total, compute = (sorted(t[i] for t in times[1:]) for i in (0, 1))  # the first warms up
    print(
        f"slider change, 4 methods x 300 iterations of paper-linear ({len(total)} changes): "
        f"median {statistics.median(total):.1f} ms (max {total[-1]:.1f} ms), of which the runs "
        f"{statistics.median(compute):.1f} ms"
    )
    assert browser.execute_script(path, "fpo-relaxed") != relaxed
    assert browser.execute_script(path, "rlhf") == rlhf  # rlhf ignores gamma
    enter(browser, "tx-c-box", 0.3)
    assert float(root.get_attribute("data-c")) == 0.3
    assert browser.execute_script(path, "rlhf") not in (rlhf, None)

    enter(browser, "tx-c-box", -1)  # refused with a reason, nothing rerun
    note = browser.find_element("css selector", "#tx-c-box ~ .tx-note").text
    assert note == "c must be a number from 0 to 1" and float(root.get_attribute("data-c")) == 0.3

    browser.find_element("css selector", "#toysim-explorer input[value='rlhf']").click()
    assert browser.execute_script(path, "rlhf") is None  # unticked: not drawn

    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name);"
    )
    assert any(r.endswith("/assets/explorer.json") for r in resources)
    assert any(r.endswith("/assets/game.js") for r in resources)
    assert all(r.startswith(site) for r in resources), resources  # nothing from elsewhere
    assert not severe_console_messages(browser)
