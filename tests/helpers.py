"""Shared builders for the tests: small random games in float64, runs on several devices, the
early-stopping rule by hand, and driving the docs' browser pages."""

import functools
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toysim.config import LinearHParams, LinearSpec, Method
from toysim.game.followers import FollowerState, buffer_insert, follower_buffer, make_follower
from toysim.game.leader import leader_gradient
from toysim.game.policy import GaussianPolicy, PointPolicy
from toysim.model.utility import Utility, utility

EXACT = Method("fpo-exact")

shared_follower = functools.cache(make_follower)
"""One follower per spec: a compiled function taking it as a static argument compiles once
per game, not once per test (``make_follower`` makes new closures each call)."""


def random_hparams(rng, **changes) -> LinearHParams:
    hp = LinearHParams(
        amplitude=rng.uniform(1.0, 10.0),
        tau=rng.uniform(0.05, 0.4),
        ideal_value=rng.uniform(0.5, 2.5),
        action_cost=rng.uniform(0.0, 0.3),
        gamma=0.0,
        leader_lr=0.02,
        follower_lr=rng.uniform(0.001, 0.02),
        weight_decay=0.0,
        lam=rng.uniform(0.05, 3.0),
        sigma=0.0,
        rm_init_signal=1.0,
        rm_init_noise=0.1,
    )
    hp = hp._replace(**changes)
    return LinearHParams(*(jnp.asarray(x, dtype=jnp.float64) for x in hp))


def random_utility(rng, d, k, hp) -> Utility:
    return Utility(hp.amplitude, hp.tau, hp.ideal_value * (jnp.arange(d) < k).astype(jnp.float64))


def point_game(
    rng, d, buffer_size, n_old, anchor, method=EXACT, follower="best-response", regime="window"
):
    """A point-policy game with ``n_old`` earlier samples in the follower's buffer.

    ``n_old < buffer_size``, so every earlier sample stays beside the new one (the horizon
    is ``buffer_size`` iterations: an ``accumulate`` buffer has as many blocks).
    Returns ``(spec, follower, state, theta, hp, u, old_samples, policy)``.
    """
    assert n_old < buffer_size
    spec = LinearSpec(
        dim=d,
        signal_dims=min(3, d - 1),
        steps=buffer_size,
        follower=follower,
        buffer_size=buffer_size,
        follower_steps=1,
        anchor=anchor,
        method=method,
        regime=regime,
    )
    hp = random_hparams(rng)
    u = random_utility(rng, d, spec.signal_dims, hp)
    follower_ = shared_follower(spec)
    buffer = follower_buffer(spec, jnp.float64)
    olds = [jnp.asarray(rng.normal(size=d)) for _ in range(n_old)]
    for y in olds:
        buffer = buffer_insert(buffer, y, utility(u, y))
    w = jnp.asarray(rng.normal(size=d))
    state = FollowerState(w, buffer, follower_.init(w, hp).opt_state)
    theta = jnp.asarray(u.ideal + rng.normal(size=d))
    return spec, follower_, state, theta, hp, u, olds, PointPolicy()


def population_game(rng, d, anchor, method=EXACT):
    spec = LinearSpec(
        dim=d,
        signal_dims=min(3, d - 1),
        steps=1,
        follower="population",
        buffer_size=0,
        follower_steps=1,
        anchor=anchor,
        method=method,
    )
    hp = random_hparams(rng, sigma=rng.uniform(0.05, 0.8))
    u = random_utility(rng, d, spec.signal_dims, hp)
    follower_ = shared_follower(spec)
    w = jnp.asarray(rng.normal(size=d))
    state = follower_.init(w, hp)
    theta = jnp.asarray(u.ideal + 0.7 * rng.normal(size=d))
    return spec, follower_, state, theta, hp, u, GaussianPolicy(hp.sigma)


@functools.partial(jax.jit, static_argnums=0, static_argnames="h")
def central_difference(f, x, *args, h=1e-5):
    """``(f(x + h e_i, *args) - f(x - h e_i, *args)) / (2h)`` for every coordinate ``i``.

    The ``2 d`` evaluations run as one compiled, vmapped call; each is still a plain
    evaluation of ``f``. ``f`` is static: a module-level ``f`` given its other inputs as
    ``args`` compiles once per shape, where a closure is a new ``f`` and compiles each time.
    """
    steps = h * jnp.eye(x.shape[0], dtype=x.dtype)
    values = jax.vmap(lambda z: f(z, *args))(jnp.concatenate([x + steps, x - steps]))
    plus, minus = jnp.split(values, 2)
    return (plus - minus) / (2 * h)


@functools.partial(jax.jit, static_argnums=0)
def exact_leader_gradient(follower, policy, state, theta, hp, u):
    """The leader's gradient with every switch exact (``EXACT``), compiled once per
    :func:`shared_follower` and shape."""
    return leader_gradient(EXACT, policy, follower, state, theta, hp, u).total


def refused(cli, *argv):
    """The one error line of a refused command line (and nothing written)."""
    status, out, err = cli(*argv)
    assert status == 2 and len(err) == 1, (status, out, err)
    return err[0]


def run_on_host_devices(code: str, devices: int) -> dict:
    """Run ``code`` in a fresh interpreter with ``devices`` host CPU devices; the JSON object
    its last line prints."""
    flags = f"--xla_force_host_platform_device_count={devices}"
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def docs_hooks():
    """``tools/docs_hooks.py`` (the site's build hooks) as a module."""
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("docs_hooks", root / "tools" / "docs_hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    return hooks


BUILT_SITE_ENV = "TOYSIM_BUILT_SITE"
"""Names a folder ``mkdocs build --strict`` has just written from this checkout.

``.ci/run`` builds the site once (the README's documentation command) and sets this, so
the slow tests check that build instead of making two more; without it they build.
"""


def strict_site(out: Path, timeout: float = 1800) -> Path:
    """The documentation site: ``$TOYSIM_BUILT_SITE``, else ``mkdocs build --strict`` into
    ``out`` (a warning fails the build: a broken link, a griffe warning, unparsed math)."""
    if os.environ.get(BUILT_SITE_ENV):
        return Path(os.environ[BUILT_SITE_ENV]).resolve()
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return out


def rule_by_hand(golds, climbs, every: int, patience: int) -> tuple[int, int]:
    """``(stop iteration, best check)`` of the stopping rule, by a plain loop over each
    iteration's gold estimate and climb (1-based; stop iteration 0 if it never stops)."""
    best, climb_at_best, since, best_check = -np.inf, np.inf, 0, 0
    for t in range(every, len(golds) + 1, every):
        gold, climb = float(golds[t - 1]), float(climbs[t - 1])
        if gold > best:
            best, climb_at_best, since, best_check = gold, climb, 0, t
        else:
            since += 1
        if since >= patience and climb > climb_at_best:
            return t, best_check
    return 0, best_check


def point_objective(theta, w_bar, hp, u, olds, buffer_size):
    """``J(theta) = r_{phi*(theta)}(theta) - c ||theta||^2``, ``phi*`` by a dense solve.

    ``L(w) = (1/B) sum_i (w . y_i - U(y_i))^2 + (1/B)(w . theta - U(theta))^2
    + (lambda/2) ||w - w_bar||^2``, written out here independently of toysim's follower;
    ``B`` (``buffer_size``) is an array, so every ``B`` shares one compiled program.
    """
    ys = jnp.stack([*olds, theta])

    def loss(w):
        data = jnp.sum((ys @ w - utility(u, ys)) ** 2) / buffer_size
        return data + 0.5 * hp.lam * jnp.sum((w - w_bar) ** 2)

    zero = jnp.zeros_like(theta)
    phi = jnp.linalg.solve(jax.hessian(loss)(zero), -jax.grad(loss)(zero))
    return phi @ theta - hp.action_cost * theta @ theta


point_objective_gradient = jax.jit(jax.grad(point_objective))
"""``dJ/dtheta`` of :func:`point_objective` by autodiff."""


def open_page(driver, url: str, *roots: str) -> None:
    """Load ``url`` and wait until every element id of ``roots`` is built (``data-ready``)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    ready = (
        "return arguments[0].every(id => document.getElementById(id)?.dataset.ready === 'true');"
    )
    try:
        WebDriverWait(driver, 30).until(lambda d: d.execute_script(ready, list(roots)))
    except TimeoutException:
        pytest.fail(f"{roots} not built within 30 s; console: {driver.get_log('browser')}")


def enter(driver, box_id: str, value: float) -> None:
    """Type ``value`` into the number box ``box_id`` (as a reader would; fires ``input``)."""
    driver.execute_script(
        "const b = document.getElementById(arguments[0]); b.value = String(arguments[1]);"
        "b.dispatchEvent(new Event('input'));",
        box_id,
        value,
    )


def severe_console_messages(driver) -> list:
    """The page's console errors so far."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
