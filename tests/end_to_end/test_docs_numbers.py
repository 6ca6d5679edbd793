"""Numbers that cannot drift: every measured number a page quotes comes from its source.

A docs page writes ``{{ SOURCE: PATH | FORMAT }}`` (:mod:`toysim.sidecars`) and the
build renders the value; a page that types a measured-looking number
(:mod:`tests.end_to_end.numbers_scan`) fails here unless the number is on the page's
allow-list below, with the reason it is not a measurement. The README, shown raw,
cannot be rendered: each of its numbers is checked against its source instead.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from tests.end_to_end.numbers_scan import PRESETS_TABLE, measured_numbers
from toysim.cli import main
from toysim.model.metrics import COLLAPSE_DROP
from toysim.presets import build
from toysim.sidecars import REFERENCE, ReferenceError_, render, resolve

ROOT = Path(__file__).resolve().parents[2]
SOURCES = (ROOT / "figures", ROOT / "docs" / "data")
PAGES = sorted(
    path for path in (ROOT / "docs").rglob("*.md") if "figures" not in path.relative_to(ROOT).parts
)

COLLAPSE_RULE = f"{1 - COLLAPSE_DROP:g} times"  # the collapse rule: final below 0.8 x peak
EVERYWHERE = {COLLAPSE_RULE: "the collapse rule's factor, toysim.model.metrics.COLLAPSE_DROP"}
"""Numbers any page may write: constants of the code, each checked against it."""

TWO_ETA = "2 eta = 2 x paper-linear's follower_lr, relaxed FPO's one-step weight (tested)"
ALLOWED: dict[str, dict[str, str]] = {
    "docs/results/ladder.md": {
        "2.7": "E[U] at the ideal under N(m, 0.3^2 I) in d = 50, derived (checked below)",
    },
    "docs/theory/game.md": {
        "0.55": "a bound on |proxy - U| over the run, tested by tests/end_to_end/test_story.py",
    },
    "docs/theory/notation.md": {
        "0.01": TWO_ETA,
        "0.5": "the phase figure's grid of gamma for relaxed and practical FPO ends here",
    },
    "docs/cli.md": {
        "0.1": "expert iteration's step, toysim.experiments.goodhart.EXPERT_STEP (tested)",
        "0.3": "the point policy's sampling spread, goodhart.POINT_SPREAD (tested)",
    },
    "docs/gallery.md": {
        "9.5": "a threshold of a claim, tested by test_claims.py",
        "2.2": "the landscape's second ascent start, experiments.landscape.ASCENT_STARTS",
    },
    "docs/teaching/key.md": {
        "0.5%": "the checkers' relative tolerance, toysim.exercises (tested by test_exercises)",
        "0.1%": "goodhart_gap's tolerance, toysim.exercises (tested by test_exercises)",
        "0.3": "the point policy's sampling spread, goodhart.POINT_SPREAD (tested)",
    },
    "docs/theory/population.md": {
        "0.3": "the same cap A chi^(-d/2) at sigma = 0.5, derived on the page",
        "2.7": "the cap at sigma = 0.3, derived on the page (and tested on the population preset)",
    },
    "docs/theory/stackelberg-gradient.md": {
        "0.01": TWO_ETA,
        "0.6": "the page's analytic estimate of RLHF's cap in d = 1,000, derived",
        "0.11": "the exact steering term's xi near the ideal, derived on the page",
        "0.12": "2 eta |m|^2 = 0.01 x 12, derived on the page",
    },
    "docs/results/neural-ladder.md": dict.fromkeys(
        ("0.99", "0.92", "1.00", "0.48", "0.79"),
        "a statistic of the sidecar's checkpoint arrays, computed by test_claims.py",
    ),
    "docs/results/benchmarks.md": {
        "2,000x": "the speed-up the project set as a target (met or not: test_claims.py)",
        "25%": "the fraction of the matmul peak set as a target (met or not: test_claims.py)",
    },
    "docs/results/sweeps.md": {
        "37 of 120": "an example of the message an interrupted sweep prints",
        "0.02": "the phase figure's grid of c starts here (its recipe)",
        "0.4": "the phase figure's grid of c ends here (its recipe)",
        "9.5": "a threshold of a claim, tested by test_claims.py",
    },
    "docs/results/reproduction.md": {
        "0.05": "the published loop's finite-difference step, run_published's fd_step (tested)",
    },
    "docs/results/goodhart.md": {
        "8.3": "the ideal's d = |m| / (0.3 sqrt 2) = 2.5 sqrt 2 / (0.3 sqrt 2), derived",
    },
    "docs/results/mitigations.md": {
        "2x": "the name of the variant 'kl-leash (2x best c)'",
        "16 times": "the leash grid's top factor, NEURAL_LEASH_FACTORS",
    },
    "docs/theory/pairwise.md": {
        "6.07": "A e^(-1/2), the bump's inflection value at pairwise-linear's A, derived (tested)",
        "2.2": "the landscape's second ascent start, experiments.landscape.ASCENT_STARTS (tested)",
    },
}
"""Per page, numbers that are not measurements, each with why."""

PRESET_VALUES: dict[str, dict[str, tuple[str, str, str] | list[tuple[str, str, str]]]] = {
    "docs/explorer.md": {
        "0.1": [("paper-linear", "fpo-relaxed", "gamma"), ("paper-linear", "rlhf", "action_cost")]
    },
    "docs/results/sweeps.md": {"0.5": ("sycophancy", "rlhf", "rm_init_bias")},
    "docs/results/goodhart.md": {
        "0.1": ("paper-nn", "rlhf", "sigma_start"),
        "0.001": ("paper-nn", "rlhf", "sigma_end"),
        "0.3": ("pairwise-linear", "rlhf", "sigma_start"),
    },
    "docs/theory/neural.md": {
        "0.05": ("paper-nn", "rlhf", "lr_start"),
        "0.001": ("paper-nn", "rlhf", "lr_end"),
        "0.1": ("paper-nn", "rlhf", "sigma_start"),
    },
    "docs/settings.md": {
        "0.2": ("paper-nn", "fpo-exact", "gamma"),
        "0.1": ("paper-linear", "fpo-relaxed", "gamma"),
        "0.005": ("paper-nn", "fpo-relaxed", "gamma"),
    },
    "docs/theory/notation.md": {
        "0.2": ("paper-nn", "fpo-exact", "gamma"),
        "0.1": ("paper-linear", "fpo-relaxed", "gamma"),
        "0.005": ("paper-nn", "fpo-relaxed", "gamma"),
    },
}
"""Per page, hyperparameters it quotes: ``{text: (preset, method, field)}`` (or a list of
them, when one text is several fields), checked against the presets."""

PENDING: dict[str, str] = {
    # Pages whose measured numbers are still typed by hand (issue 21, item 1), each with why:
    # converted to references in turn; the test below fails once a page is clean, so
    # that it leaves this list.
}


def name(path: Path) -> str:
    return str(path.relative_to(ROOT))


DOCTEST_OUTPUT = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def doctest_numbers(markdown: str) -> list[float]:
    """Every number printed under a prompt in ``markdown``'s doctest blocks, which
    ``test_examples.py`` checks against a run."""
    printed = [
        line
        for block in DOCTEST_OUTPUT.findall(markdown)
        for line in block.splitlines()
        if not line.startswith((">>>", "..."))
    ]
    return [float(x) for x in re.findall(r"-?\d+\.\d+", "\n".join(printed))]


def shown_by_a_doctest(number: str, printed: list[float]) -> bool:
    """``number`` (a decimal) is one of ``printed`` rounded to as many decimals."""
    if not re.fullmatch(r"-?\d+\.\d+", number):
        return False
    places = len(number.split(".")[1])
    return any(round(x, places) == float(number) for x in printed)


def unsourced(path: Path) -> list[str]:
    """The measured-looking numbers of ``path`` that are neither references, nor printed by one
    of its doctests (checked by running them), nor allowed."""
    allowed = {**EVERYWHERE, **ALLOWED.get(name(path), {}), **PRESET_VALUES.get(name(path), {})}
    text = path.read_text()
    printed = doctest_numbers(text)
    return [
        n for n in measured_numbers(text) if n not in allowed and not shown_by_a_doctest(n, printed)
    ]


def test_the_collapse_rule_allowed_everywhere_is_the_code_s():
    assert COLLAPSE_RULE == "0.8 times"


@pytest.mark.parametrize("path", PAGES, ids=name)
def test_a_page_quotes_no_measured_number_by_hand(path):
    found = unsourced(path)
    if name(path) in PENDING:
        assert found, f"{name(path)} quotes every number by reference: take it off PENDING"
        pytest.xfail(f"conversion pending: {PENDING[name(path)]}")
    assert not found, (
        f"{name(path)} types measured-looking numbers {found}: write each as a reference "
        "{{ SOURCE: PATH | FORMAT }} to its sidecar, or allow it in ALLOWED with the reason"
    )


@pytest.mark.parametrize("page", sorted(PRESET_VALUES))
def test_a_quoted_hyperparameter_is_the_preset_s(page):
    for text, checks in PRESET_VALUES[page].items():
        for preset, method, field in checks if isinstance(checks, list) else [checks]:
            assert f"{float(getattr(build(preset, method)[1], field)):g}" == text, (page, field)


def preset_numbers(preset: str) -> set[str]:
    """Every hyperparameter value of ``preset`` under each method, written with ``%g``."""
    values = set()
    for method in ("rlhf", "fpo-relaxed", "fpo-practical", "fpo-exact"):
        hp = build(preset, method)[1]
        values |= {f"{float(v):g}" for v in hp if not hasattr(v, "_asdict")}
    return values


@pytest.mark.parametrize("path", PAGES, ids=name)
def test_a_presets_table_quotes_its_presets_values(path):
    """A table marked ``<!-- presets table: ... -->`` is skipped by the scan, so each of its
    decimals must be a hyperparameter value of one of the presets it names."""
    for presets, table in PRESETS_TABLE.findall(path.read_text()):
        allowed = set().union(*(preset_numbers(p.strip()) for p in presets.split(",")))
        stray = set(re.findall(r"(?<![\w.])\d+\.\d+", table)) - allowed
        assert not stray, f"{name(path)}: {stray} are no value of {presets}"


def test_every_allowed_number_still_occurs():
    """An allow-list entry that no longer matches anything is stale."""
    for page, numbers in [*ALLOWED.items(), *PRESET_VALUES.items()]:
        found = set(measured_numbers((ROOT / page).read_text()))
        assert set(numbers) <= found, f"{page}: {set(numbers) - found} no longer occur"


@pytest.mark.parametrize("path", [*PAGES, ROOT / "README.md"], ids=name)
def test_every_reference_resolves(path):
    render(path.read_text(), name(path), SOURCES)


def test_a_hand_typed_median_is_caught():
    """The scan flags a median typed into a results page, and not the same number quoted."""
    typed = "RLHF ends at 3.86 [3.81, 4.01], 44% of seeds, in 85.9 µs (26x faster)."
    assert measured_numbers(typed) == ["3.86", "3.81", "4.01", "44%", "85.9 µs", "26x"]
    quoted = (
        "RLHF ends at {{ mitigations: table[variant=rlhf].final_gold_median | .2f }} "
        "(`python -m toysim run`, jax 0.9.2, $\\gamma = 0.1$, [link](x.md#a-2.5))."
    )
    assert measured_numbers(quoted) == []
    assert "3.86" in render(quoted, "page.md", SOURCES)


def test_a_bad_reference_names_page_file_and_key():
    with pytest.raises(ReferenceError_, match=r"page\.md: .*mitigations\.json: .*'tabel'"):
        render("{{ mitigations: tabel.x }}", "page.md", SOURCES)
    with pytest.raises(ReferenceError_, match=r"page\.md: .*no file nope\.json"):
        render("{{ nope: x }}", "page.md", SOURCES)


def test_timings_carry_their_machine_and_date():
    """A page quoting an entry of a record (docs/data/) also quotes its machine and date."""
    records = {path.stem for path in (ROOT / "docs" / "data").glob("*.json")}
    for path in [*PAGES, ROOT / "README.md"]:
        quoted = {(m[1], m[2].strip()) for m in REFERENCE.finditer(path.read_text())}
        for source, entry in {(s, p.split(".")[0]) for s, p in quoted if s in records}:
            for field in ("machine", "date"):
                assert (source, f"{entry}.{field}") in quoted, (
                    f"{name(path)} quotes {source}: {entry} without its {field}"
                )


def test_the_records_say_machine_and_date():
    for path in (ROOT / "docs" / "data").glob("*.json"):
        for entry, record in json.loads(path.read_text()).items():
            if isinstance(record, dict):
                assert {"machine", "date", "what"} <= record.keys(), f"{path.name}: {entry}"


def test_the_mitigations_leash_grid_is_the_presets_cost_times_the_factors():
    """The pages quote the grid's ends from the sidecar; the grid is the preset's ``c``
    times 1/4 ... 16 (a constant, not a measurement)."""
    for preset in ("paper-nn", "pairwise-linear", "pairwise-nn"):
        c = float(build(preset, "rlhf")[1].action_cost)
        ends = [
            resolve(
                f"mitigations_{preset.replace('-', '_')}", f"config.kl_grid[{i}]", None, SOURCES
            )
            for i in (0, -1)
        ]
        assert [float(x) for x in ends] == pytest.approx([c / 4, 16 * c])


README_NUMBERS = [
    # (the text the README shows, the reference it must equal)
    ("3.0", "{{ collapse_animation: final_metrics.rlhf.final_ideal_reward | .1f }}"),
    ("6.65", "{{ collapse_animation: final_metrics.rlhf.max_utility | .2f }}"),
    ("4.13", "{{ collapse_animation: final_metrics.rlhf.final_utility | .2f }}"),
    ("7.41", "{{ collapse_animation: final_metrics.fpo-exact.final_utility | .2f }}"),
    ("8 min 17 s", "{{ timings: ci.figures }}"),
    ("7 min 24 s", "{{ timings: ci.tests }}"),
    (
        "in CI, 2 cores, jax 0.9.2, 2026-12-08",
        "in CI, {{ timings: ci.machine }}, jax {{ timings: ci.jax }}, {{ timings: ci.date }}",
    ),
    ("11.3 s", "{{ timings: run.cold_wall_s }} s"),
    ("6.8 s of CPU time", "{{ timings: run.cold_cpu_s }} s of CPU time"),
    ("6.3 s once", "{{ timings: run.cached_wall_s }} s once"),
    ("load average 6.9", "load average {{ timings: run.load_average }}"),
    (
        "AMD EPYC, 2 cores, jax 0.9.2 on cpu, 2026-12-07",
        "{{ timings: run.machine }}, {{ timings: run.date }}",
    ),
]
"""The README is shown raw (GitHub), so no build renders it: each of its measured numbers is
listed here with its source, and must read as that source's value."""


@pytest.mark.parametrize("shown, reference", README_NUMBERS, ids=lambda x: x[:20])
def test_a_readme_number_is_its_source_s(shown, reference):
    assert render(reference, "README.md", SOURCES) == shown
    assert shown in (ROOT / "README.md").read_text()


def test_the_readme_quotes_no_other_measured_number():
    covered = {n for shown, _ in README_NUMBERS for n in measured_numbers(shown)}
    found = set(measured_numbers((ROOT / "README.md").read_text()))
    assert found - covered - set(EVERYWHERE) == set()


def test_the_population_cap_the_ladder_page_derives():
    """``E[U]`` of ``N(m, sigma^2 I)`` on the population preset: about 2.7, whatever the run."""
    from toysim.game.linear_round import utility_of
    from toysim.game.policy import GaussianPolicy

    spec, hp = build("population", "rlhf")
    u = utility_of(spec, hp)
    assert float(GaussianPolicy(hp.sigma).expected_utility(u.ideal, u)) == pytest.approx(
        2.7, abs=0.05
    )


def test_the_pairwise_page_s_constants():
    """The bump's inflection value ``A e^{-1/2}`` at pairwise-linear's ``A``, and the
    landscape's second ascent start, as theory/pairwise.md writes them."""
    from toysim.experiments.landscape import ASCENT_STARTS

    amplitude = float(build("pairwise-linear", "rlhf")[1].amplitude)
    assert f"{amplitude * math.exp(-0.5):.2f}" == "6.07"
    assert ASCENT_STARTS["noise 2.2"] == 2.2


def test_two_eta_is_twice_paper_linear_s_follower_rate():
    assert 2 * float(build("paper-linear", "rlhf")[1].follower_lr) == 0.01


def test_a_number_a_doctest_prints_counts_as_sourced():
    page = "ratio 0.342, to machine precision\n```python\n>>> print(x)\n0.342445\n```\n"
    assert shown_by_a_doctest("0.342", doctest_numbers(page))
    assert not shown_by_a_doctest("0.343", doctest_numbers(page))


def test_the_expert_iteration_defaults_the_command_line_page_quotes():
    from toysim.experiments.goodhart import EXPERT_STEP, POINT_SPREAD

    assert (EXPERT_STEP, POINT_SPREAD) == (0.1, 0.3)


def test_the_published_finite_difference_step_the_reproduction_page_quotes():
    import inspect

    from toysim.reference_numpy import run_published

    assert inspect.signature(run_published).parameters["fd_step"].default == 0.05


def test_the_reproduce_record_is_what_the_command_prints(capsys):
    """docs/data/reproduce.json's linear rows are ``toysim reproduce --json``'s output, and its
    table is the command's table of them: rerun, they agree (NumPy and toysim are seeded)."""
    from toysim.reproduce import format_rows

    record = json.loads((ROOT / "docs" / "data" / "reproduce.json").read_text())["linear"]
    assert main(["reproduce", "--json"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(printed) == len(record["rows"])
    for fresh, kept in zip(printed, record["rows"], strict=True):
        assert fresh.keys() == kept.keys() and fresh["method"] == kept["method"]
        for column in ("numpy_fd", "toysim_exact", "published_fd", "published_exact"):
            assert fresh[column] == pytest.approx(kept[column], rel=1e-9), column
    assert record["table_markdown"] == format_rows(record["rows"])


def test_the_scale_record_s_largest_d_is_its_table_s_last_column():
    """docs/theory/exact-fpo.md quotes ``scale.d_2000``; it is the table's ``d = 2,000`` column."""
    scale = json.loads((ROOT / "docs" / "data" / "benchmarks.json").read_text())["scale"]
    last = [line.rstrip(" |").rsplit("|", 1)[1].strip() for line in scale["table"].splitlines()]
    assert last[0] == "2,000"
    assert float(last[2].split()[0]) == pytest.approx(scale["d_2000"]["step_us"], abs=0.5)
    assert last[3] == f"{scale['d_2000']['dense_cholesky_ms']} ms"
