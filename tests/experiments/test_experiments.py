"""The experiments layer: the seed runner, provenance, and an acyclic import graph."""

import ast
import dataclasses
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toysim import build, linalg, simulate
from toysim.experiments import runner
from toysim.experiments.collapse import ideal_norm
from toysim.game.records import NonFiniteTrajectoryError
from toysim.provenance import describe, git_revision, versions
from toysim.seeds import seed_list

PACKAGE = Path(__file__).resolve().parents[2] / "toysim"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, modules: set[str]) -> set[str]:
    """What ``path`` imports anywhere in its body (module level or inside a function):
    ``a.b`` for ``import a.b``; for ``from a.b import c``, ``a.b.c`` if that is a module of
    ``modules`` (a submodule import, like every import, runs its parents' ``__init__`` first
    anyway, so the package itself is not counted) and ``a.b`` otherwise."""
    found = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1]])
                base = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {
        module_name(p): (imported_names(p, modules) & modules) - {module_name(p)} for p in paths
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as a list of nodes (first repeated last), or ``None``."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_a_cycle_and_only_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_import_graph_of_toysim_has_no_cycle():
    graph = import_graph()
    assert graph["toysim.sweep"] and "toysim.figures" not in graph["toysim.sweep"]
    assert "toysim.provenance" in graph["toysim.sweeps.store"]  # what the sweep saves
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_experiments_import_no_plotting():
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    for path in sorted((PACKAGE / "experiments").glob("*.py")):
        names = imported_names(path, modules)
        assert not any(n.split(".")[0] == "matplotlib" for n in names), path.name
        assert not any(n.startswith("toysim.plots") for n in names), path.name


def small_game():
    """One small game shared by the runner's tests (so they share its compiled programs)."""
    return build("paper-linear", "fpo-relaxed", steps=12)


def test_run_seeds_is_reproducible_and_equals_single_runs():
    spec, hp = small_game()
    first = runner.run_seeds(spec, hp, 3)
    again = runner.run_seeds(spec, hp, [0, 1, 2])
    chex.assert_trees_all_equal(first, again)
    for seed in range(3):
        one = simulate(spec, hp, seed)
        np.testing.assert_allclose(first.utility[seed], one.utility, rtol=1e-10)
    other = runner.run_seeds(spec, hp, [5])
    assert not np.allclose(other.utility[0], first.utility[0])


def test_run_seed_equals_simulate():
    spec, hp = small_game()
    chex.assert_trees_all_close(runner.run_seed(spec, hp, 2), simulate(spec, hp, 2), rtol=1e-12)


def test_the_runner_compiles_once_per_spec_whatever_the_hyperparameters():
    spec, hp = build("paper-linear", "rlhf", steps=5)
    runner.compiled_seeds.cache_clear()

    def traced_once(spec):
        chex.clear_trace_counter()
        return chex.assert_max_traces(runner.make_trajectory(spec), n=1)

    runner.run_seeds(spec, hp, 2, traced_once)
    runner.run_seeds(spec, hp._replace(gamma=0.3, action_cost=0.2), 2, traced_once)
    assert runner.compiled_seeds.cache_info().misses == 1


def blow_up_at(iteration: int):
    """A trajectory factory whose utility turns NaN at ``iteration`` (1-based), every seed."""

    def factory(spec):
        run = runner.make_trajectory(spec)

        def nan_run(key, hp):
            t = run(key, hp)
            bad = jnp.arange(1, spec.steps + 1) >= iteration
            return t._replace(utility=jnp.where(bad, jnp.nan, t.utility))

        return nan_run

    return factory


def test_a_non_finite_run_raises_with_its_iteration():
    spec, hp = small_game()
    with pytest.raises(NonFiniteTrajectoryError, match="iteration 7 of 12.*run index"):
        runner.run_seeds(spec, hp, 2, blow_up_at(7))
    with pytest.raises(NonFiniteTrajectoryError, match="iteration 3 of 12"):
        runner.run_seed(spec, hp, 0, blow_up_at(3))


def test_a_diverging_step_size_raises_naming_the_method():
    spec, hp = small_game()
    with pytest.raises(NonFiniteTrajectoryError, match="method 'fpo-relaxed'"):
        runner.run_seeds(spec, hp._replace(leader_lr=1e6), 3)


def test_seed_list_counts_and_lists_and_refuses_bad_seeds():
    assert seed_list(3) == [0, 1, 2] and seed_list([4, 2]) == [4, 2]
    for bad in (0, -1, [], [1, -2], [0.5]):
        with pytest.raises(ValueError, match="seed"):
            seed_list(bad)


def test_provenance_describes_the_game_and_the_versions():
    spec, hp = build("paper-linear", "fpo-exact")
    config = describe(spec, hp)
    method = {"type": "Method", **dataclasses.asdict(spec.method)}
    assert config["spec"] == {**dataclasses.asdict(spec), "method": method}
    neural_spec, neural_hp = build("paper-nn", "fpo-exact")
    neural_spec = dataclasses.replace(neural_spec, solver=linalg.CG(tol=1e-5, maxiter=100))
    solver = describe(neural_spec, neural_hp)["spec"]["solver"]
    assert solver == {"type": "CG", "tol": 1e-5, "maxiter": 100}
    assert config["hparams"]["gamma"] == float(hp.gamma)
    v = versions()
    assert {"toysim", "jax", "numpy", "matplotlib", "python", "float64"} <= v.keys()
    assert v["jax"] == jax.__version__ and v["git_revision"] == git_revision()
    revision = git_revision()
    assert revision is None or (len(revision) == 40 and int(revision, 16) >= 0)


def test_ideal_norm_follows_the_preset():
    spec, hp = build("paper-linear", "rlhf")
    assert ideal_norm(spec, hp) == pytest.approx(float(hp.ideal_value) * np.sqrt(3.0), rel=1e-15)
    wider = dataclasses.replace(spec, signal_dims=5)
    assert ideal_norm(wider, hp._replace(ideal_value=1.5)) == pytest.approx(1.5 * np.sqrt(5.0))


def test_markdown_table_writes_header_rule_and_rows():
    from toysim.experiments.tables import markdown_table

    table = markdown_table(("a", "b c"), [("1", "x"), ("2", "y")])
    assert table == "| a | b c |\n| --- | --- |\n| 1 | x |\n| 2 | y |"
    with pytest.raises(ValueError, match="3 cells, its header 2"):
        markdown_table(("a", "b"), [("1", "2", "3")])


def test_columns_table_fills_each_column_s_template_from_the_row():
    from toysim.experiments.tables import columns_table

    columns = [("name", "{name}"), ("x, y", "{x:.2f} [{y:.0f}]")]
    table = columns_table(columns, [{"name": "a", "x": 1.0, "y": 2.4, "unused": 0}])
    assert table == "| name | x, y |\n| --- | --- |\n| a | 1.00 [2] |"
    with pytest.raises(KeyError, match="'y'"):
        columns_table(columns, [{"name": "a", "x": 1.0}])


def test_a_shared_member_runs_its_experiment_once_with_the_runs_quick():
    from toysim.experiments.shared import _once

    calls = []

    class Runs:
        quick = True
        member = _once(lambda quick: calls.append(quick) or len(calls))

    runs = Runs()
    assert (runs.member, runs.member, calls) == (1, 1, [True])
