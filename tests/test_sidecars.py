"""References into result sidecars (toysim.sidecars), on files made here by hand."""

import json

import pytest

from toysim.sidecars import ReferenceError_, lookup, render, section, segments

DATA = {
    "table": [{"variant": "rlhf", "gold": 3.857}, {"variant": "kl (2x c)", "gold": 2.289}],
    "grid": [0.01, 0.1, 3.0],
    "nested": {"a b=c": {"x": 7}},
    "cells": {"sampled, beta = 1, epsilon = 0.1": {"rate": 0.9375}, "a]b": 2},
}


def test_a_path_is_keys_indices_and_selectors():
    assert segments("table[variant=kl (2x c)].gold") == ["table", ("variant", "kl (2x c)"), "gold"]
    assert segments("grid[-1]") == ["grid", -1]
    with pytest.raises(ReferenceError_, match=r"\[x\] is neither"):
        segments("grid[x]")


def test_a_quoted_key_is_taken_as_written():
    """Inside ``["..."]`` dots, ``=``, brackets and spaces belong to the key: not a selector,
    not a split."""
    path = 'cells["sampled, beta = 1, epsilon = 0.1"].rate'
    assert segments(path) == ["cells", "sampled, beta = 1, epsilon = 0.1", "rate"]
    assert lookup(DATA, path) == 0.9375
    assert lookup(DATA, 'cells["a]b"]') == 2
    assert segments('x[" padded "]') == ["x", " padded "]
    with pytest.raises(ReferenceError_, match=r'a key \["key"\]'):
        segments('cells["unclosed]')


def test_lookup_by_key_index_and_selector():
    assert lookup(DATA, "table[variant=kl (2x c)].gold") == 2.289
    assert lookup(DATA, "grid[-1]") == 3.0
    assert lookup(DATA, "nested.a b=c.x") == 7


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tabel", r"no key 'tabel' at 'the top'"),
        ("grid[3]", r"no item \[3\] at '.grid'"),
        ("table[variant=ppo].gold", r"0 items with variant = 'ppo' at '.table'"),
        ("table.gold", r"no key 'gold' at '.table' \(has list\)"),
        (
            'cells["sampled, beta = 1, epsilon = 0.2"].rate',
            r"no key 'sampled, beta = 1, epsilon = 0.2' at '.cells' "
            r"\(has \['a\]b', 'sampled, beta = 1, epsilon = 0.1'\]\)",
        ),
        (
            'cells["sampled, beta = 1, epsilon = 0.1"].rat',
            r"""no key 'rat' at '.cells\["sampled, beta = 1, epsilon = 0.1"\]'""",
        ),
    ],
)
def test_a_path_that_misses_names_where(path, message):
    with pytest.raises(ReferenceError_, match=message):
        lookup(DATA, path)


def test_render_formats_and_names_page_file_and_key(tmp_path):
    (tmp_path / "runs.json").write_text(json.dumps(DATA))
    (tmp_path / "tables.md").write_text("### one\n\n| a |\n\n### two\n\nx\n")
    text = (
        "{{ runs: grid[1] | .0% }} {{ runs: table[0].gold | .2f }} {{ tables: two }} \\{{ a: b }}"
    )
    assert render(text, "p.md", [tmp_path]) == "10% 3.86 x {{ a: b }}"
    quoted = '{{ runs: cells["sampled, beta = 1, epsilon = 0.1"].rate | .0% }}'
    assert render(quoted, "p.md", [tmp_path]) == "94%"
    with pytest.raises(ReferenceError_) as error:
        render("{{ runs: grid[9] }} and {{ gone: x }}", "p.md", [tmp_path])
    lines = str(error.value).splitlines()
    assert lines[0].startswith("p.md: {{ runs: grid[9] }}: runs.json: grid[9]")
    assert lines[1].startswith("p.md: {{ gone: x }}: no file gone.json")


def test_a_format_that_does_not_apply_is_named(tmp_path):
    (tmp_path / "runs.json").write_text(json.dumps(DATA))
    with pytest.raises(ReferenceError_, match=r"format '.2f' does not apply to 'rlhf'"):
        render("{{ runs: table[0].variant | .2f }}", "p.md", [tmp_path])


def test_a_source_in_two_folders_is_ambiguous(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "runs.json").write_text("{}")
    with pytest.raises(ReferenceError_, match="more than one file runs.json"):
        render("{{ runs: x }}", "p.md", [tmp_path / "a", tmp_path / "b"])


def test_a_markdown_section_and_the_whole_file():
    text = "intro\n### one\nfirst\n### two\nsecond\n"
    assert section(text, "two") == "second"
    assert section(text, "*") == text.strip()
    with pytest.raises(ReferenceError_, match=r"no section '### three' \(has \['one', 'two'\]\)"):
        section(text, "three")
