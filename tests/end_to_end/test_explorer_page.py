"""The browser explorer (docs/explorer.md): its committed data, and the page in a real browser.

The data test recomputes a few grid points with :func:`toysim.simulate` (float64,
as ``python -m toysim explorer-data`` writes them). The JSON keeps 4 significant
digits, so a stored value ``s`` of a recomputed ``x`` satisfies
``|s - x| <= 5e-4 |x|`` (half a unit in the 4th significant digit is at most
``0.5 * 10^-3`` of the value); ``atol = 1e-12`` allows for float64 rounding of a
batched versus a single compiled run, far below the 4-digit rounding.
"""

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import strict_site
from toysim import build, simulate
from toysim.cli import main
from toysim.explorer.page_data import (
    COSTS,
    EVERY,
    PAGE_GAMMAS,
    PAGE_METHODS,
    PAGE_PRESET,
    round_significant,
)
from toysim.game.linear_round import utility_of
from toysim.model.utility import utility
from toysim.provenance import describe

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "docs" / "assets" / "explorer.json"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROUNDING = dict(rtol=5e-4, atol=1e-12)


@pytest.fixture(scope="module")
def data():
    return json.loads(DATA.read_text())


def test_the_committed_data_is_small_and_on_the_grid(data):
    assert DATA.stat().st_size < 1_000_000
    assert data["grid"] == {"gamma": list(PAGE_GAMMAS), "c": list(COSTS)}
    assert list(data["methods"]) == sorted(PAGE_METHODS)
    assert data["methods"]["rlhf"]["gamma"] == [0.0]  # rlhf ignores gamma: stored once per c
    for method, entry in data["methods"].items():
        assert len(entry["runs"]) == len(entry["gamma"])
        for row in entry["runs"]:
            assert len(row) == len(COSTS)
            for run in row:
                (length,) = {len(run[k]) for k in ("signal", "noise", "utility")}
                if run["nonfinite_at"] is None:
                    assert length == len(data["iterations"]), method
                else:  # cut before the first non-finite record
                    assert data["iterations"][length - 1] < run["nonfinite_at"], method


def test_the_config_and_the_utility_constants_are_the_preset(data):
    spec, hp = build(PAGE_PRESET, "rlhf")
    assert data["preset"] == PAGE_PRESET and data["versions"]["float64"] is True
    assert data["iterations"] == list(range(0, spec.steps + 1, EVERY))
    assert data["utility"]["amplitude"] == hp.amplitude and data["utility"]["tau"] == hp.tau
    np.testing.assert_allclose(data["utility"]["ideal_norm"], hp.ideal_value * np.sqrt(3))
    for method in PAGE_METHODS:
        expected = json.loads(json.dumps(describe(*build(PAGE_PRESET, method))))
        assert data["methods"][method]["config"] == expected
        assert data["methods"][method]["default_gamma"] == expected["hparams"]["gamma"]


@pytest.mark.parametrize(
    ("method", "gamma", "c"),
    [("rlhf", 0.0, 0.3), ("fpo-relaxed", 0.1, 0.1), ("fpo-exact", 2.0, 0.05)],
)
def test_the_committed_trajectories_are_what_toysim_computes(data, method, gamma, c):
    entry = data["methods"][method]
    run = entry["runs"][entry["gamma"].index(gamma)][COSTS.index(c)]
    spec, hp = build(PAGE_PRESET, method, gamma=gamma)
    hp = hp._replace(action_cost=c)
    t = simulate(spec, hp, seed=data["seed"])
    start = float(utility(utility_of(spec, hp), jnp.zeros(spec.dim)))
    expected = {
        "signal": np.r_[0.0, t.signal_proj[EVERY - 1 :: EVERY]],
        "noise": np.r_[0.0, t.noise_proj[EVERY - 1 :: EVERY]],
        "utility": np.r_[start, t.utility[EVERY - 1 :: EVERY]],
    }
    assert run["nonfinite_at"] is None
    for name, values in expected.items():
        np.testing.assert_allclose(run[name], values, **ROUNDING, err_msg=name)


def test_explorer_data_refuses_an_output_that_is_not_a_json_file(capsys, tmp_path):
    assert main(["explorer-data", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"--out must name a .json file; got {str(tmp_path)!r}")


def test_rounding_keeps_four_significant_digits():
    x = np.array([123456.0, 0.000123456, -9.87654, 0.0])
    assert round_significant(x) == [123500.0, 0.0001235, -9.877, 0.0]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The built site (``mkdocs build --strict``) served on 127.0.0.1 from a thread."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    out = strict_site(tmp_path_factory.mktemp("site"))

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(out)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium through selenium, with explicit paths (no Selenium Manager)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip(
            f"needs {CHROMIUM} and {CHROMEDRIVER}: apt-get install -y chromium chromium-driver"
        )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--window-size=1300,1800",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    yield driver
    driver.quit()


def _move(driver, slider_id: str, index: int) -> None:
    driver.execute_script(
        "const s = document.getElementById(arguments[0]); s.value = arguments[1];"
        "s.dispatchEvent(new Event('input'));",
        slider_id,
        index,
    )


def _path(driver, plot: str, method: str) -> str | None:
    return driver.execute_script(
        "const p = document.querySelector(`#${arguments[0]} path[data-method='${arguments[1]}']`);"
        "return p ? p.getAttribute('d') : null;",
        plot,
        method,
    )


@pytest.mark.slow
def test_the_explorer_page_redraws_when_a_slider_moves(site, browser, data):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{site}/explorer/")
    ready = "return document.getElementById('toysim-explorer').dataset.ready === 'true';"
    try:
        WebDriverWait(browser, 30).until(lambda d: d.execute_script(ready))
    except TimeoutException:
        pytest.fail(f"the explorer did not draw within 30 s; console: {browser.get_log('browser')}")
    root = browser.find_element("id", "toysim-explorer")
    preset = data["methods"]["fpo-relaxed"]
    assert float(root.get_attribute("data-gamma")) == preset["default_gamma"]  # published 0.1
    assert float(root.get_attribute("data-c")) == preset["config"]["hparams"]["action_cost"]
    rlhf, relaxed = _path(browser, "tx-phase", "rlhf"), _path(browser, "tx-phase", "fpo-relaxed")
    assert rlhf.count("L") == len(data["iterations"]) - 1  # one vertex per stored iteration

    _move(browser, "tx-c", COSTS.index(0.3))
    assert float(root.get_attribute("data-c")) == 0.3
    moved = _path(browser, "tx-phase", "rlhf")
    assert moved != rlhf
    assert _path(browser, "tx-utility", "rlhf") is not None

    _move(browser, "tx-gamma", PAGE_GAMMAS.index(2.0))
    assert float(root.get_attribute("data-gamma")) == 2.0
    assert _path(browser, "tx-phase", "rlhf") == moved  # rlhf ignores gamma
    assert _path(browser, "tx-phase", "fpo-relaxed") not in (relaxed, None)

    browser.find_element("css selector", "#toysim-explorer input[value='rlhf']").click()
    assert _path(browser, "tx-phase", "rlhf") is None  # unticked: not drawn

    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name);"
    )
    assert any(r.endswith("/assets/explorer.json") for r in resources)
    assert all(r.startswith(site) for r in resources), resources  # nothing from elsewhere
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
