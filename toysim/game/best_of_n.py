"""Best-of-n as a leader (expert iteration), and the KL divergences of the Goodhart curves.

See docs/results/goodhart.md. Best-of-n sampling draws ``n`` outputs from a
base policy and keeps the one the reward model scores highest. Its KL
divergence from the base policy (for a continuous base and a score with no
ties) is ``log n - (n - 1)/n`` (Stiennon et al. 2020; Gao, Schulman, Hilton 2022).

As a leader in the iterated game, best-of-n is *expert iteration*: each
iteration it draws ``groups`` independent groups of ``n`` outputs from the
current Gaussian policy ``N(theta, s^2 I)``, keeps the best of each group by
the current reward model, and moves the policy mean toward their mean,
``theta += lr (mean(y_best) - theta)``; the follower then trains on the new
policy's data exactly as after an RL step (:mod:`toysim.game.followers`), so
the reward model is retrained on what the leader now produces. ``n`` is a
traced number (a mask over ``spec.max_n`` draws), so a sweep over ``n``
compiles once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from toysim.config import ConfigError, GameSpec, HParams, Method, as_float_arrays, validate
from toysim.game.followers import make_follower
from toysim.game.neural import NeuralSpec
from toysim.game.policy import GaussianPolicy, PointPolicy
from toysim.game.trajectory import initial_reward_weights, utility_of
from toysim.model.metrics import block_signal_noise
from toysim.model.sampling import standard_normal


def best_of_n_kl(n: Array) -> Array:
    """``KL(best-of-n || base) = log n - (n - 1)/n`` (0 at ``n = 1``)."""
    n = jnp.asarray(n, dtype=jnp.result_type(float))
    return jnp.log(n) - (n - 1.0) / n


def gaussian_kl(mean: Array, sigma: Array, mean0: Array, sigma0: Array) -> Array:
    """``KL(N(mean, sigma^2 I) || N(mean0, sigma0^2 I))`` in ``R^d``, in closed form::

        (1/2) [ d sigma^2/sigma0^2 + ||mean - mean0||^2/sigma0^2 - d + 2 d log(sigma0/sigma) ]

    Args:
      mean: the policy's mean, ``[..., d]``.
      sigma: the policy's spread (``> 0``), a scalar or ``[...]``.
      mean0: the reference policy's mean, ``[..., d]``.
      sigma0: the reference policy's spread (``> 0``), a scalar or ``[...]``.

    Returns:
      The divergence, ``[...]``.
    """
    d = mean.shape[-1]
    ratio = (sigma / sigma0) ** 2
    shift = jnp.sum((mean - mean0) ** 2, axis=-1) / sigma0**2
    return 0.5 * (d * ratio + shift - d - d * jnp.log(ratio))


def select_best(samples: Array, scores: Array, n: Array) -> Array:
    """The sample with the highest score among the first ``n``: ``samples[argmax_{i < n} s_i]``.

    Args:
      samples: ``[max_n, d]`` draws.
      scores: their scores, ``[max_n]``.
      n: how many of the draws compete (``1 <= n <= max_n``; traced, a mask).

    Returns:
      The kept draw, ``[d]`` (``samples[0]`` when ``n = 1``: no selection).
    """
    competing = jnp.arange(scores.shape[0], dtype=jnp.result_type(float)) < n
    best = jnp.argmax(jnp.where(competing, scores, -jnp.inf))
    return samples[best]


def best_of_n_draw(
    key: Array, theta: Array, spread: Array, n: Array, max_n: int, score: Callable
) -> Array:
    """One best-of-n output: ``max_n`` draws ``y_i = theta + spread eps_i``, the best of the
    first ``n`` by ``score`` (:func:`select_best`).

    Args:
      key: the draws' ``jax.random`` key.
      theta: the policy mean, ``[d]``.
      spread: the policy's standard deviation ``s``.
      n: the number of competing draws (traced).
      max_n: the number of draws made (static; ``n <= max_n``).
      score: ``y [max_n, d] -> [max_n]``, the reward model's scores.
    """
    samples = theta + spread * standard_normal(key, (max_n, theta.shape[-1]), theta.dtype)
    return select_best(samples, score(samples), n)


@dataclasses.dataclass(frozen=True)
class BestOfNSpec:
    """The static structure of expert iteration (changing it recompiles).

    Attributes:
      game: the game whose follower, utility and horizon are used (its method is
        ignored): a linear-RM :class:`~toysim.config.GameSpec`, or a sampled-buffer
        preset's :class:`~toysim.game.neural.NeuralSpec` (paper-nn, pairwise-linear,
        pairwise-nn; :mod:`toysim.game.best_of_n_neural`).
      max_n: draws per group; the traced ``n`` uses the first ``n`` of them.
      groups: independent groups of ``n`` per iteration, whose kept outputs are averaged.
    """

    game: GameSpec | NeuralSpec
    max_n: int = 64
    groups: int = 16

    @property
    def steps(self) -> int:
        """The horizon ``T`` of the game."""
        return self.game.steps

    @property
    def method(self) -> Method:
        """The leader, named ``best-of-n`` (for error messages)."""
        return Method("best-of-n", foresight=False, params="current")

    def validate(self) -> None:
        """Check the game and the two sizes.

        Raises:
            ConfigError: naming the first invalid field and what is allowed.
        """
        self.game.validate()
        for field in ("max_n", "groups"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{field} must be an integer >= 1; got {value!r}")


class BestOfNHParams(NamedTuple):
    """Expert iteration's numbers (all traced).

    Attributes:
      game: the game's hyperparameters (its leader step size and gamma are unused).
      n: the number of draws per group, ``1 <= n <= spec.max_n``.
      spread: ``s``, the standard deviation the policy samples with (``> 0``).
      step: ``lr`` in ``theta += lr (mean(y_best) - theta)``, in ``[0, 1]``.
    """

    game: HParams
    n: float
    spread: float
    step: float

    def validate(self, spec: BestOfNSpec) -> None:
        """Check every number against ``spec`` (:func:`validate_best_of_n`)."""
        validate_best_of_n(spec, self)


def validate_best_of_n(spec: BestOfNSpec, hp: BestOfNHParams) -> None:
    """Check ``spec`` and the ranges of ``n``, ``spread`` and ``step``.

    Raises:
        ConfigError: naming the first invalid field and what is allowed.
    """
    validate(spec.game, hp.game)
    spec.validate()
    n = float(hp.n)
    if not (n == int(n) and 1 <= n <= spec.max_n):
        raise ConfigError(f"n must be an integer in [1, max_n = {spec.max_n}]; got {hp.n!r}")
    if not float(hp.spread) > 0:
        raise ConfigError(f"spread must be > 0 (a standard deviation); got {hp.spread!r}")
    if not 0 <= float(hp.step) <= 1:
        raise ConfigError(f"step must be in [0, 1]; got {hp.step!r}")


class BestOfNTrajectory(NamedTuple):
    """Per iteration of expert iteration (leading axis ``T``, after any vmapped axes).

    Attributes:
      theta: the policy mean, ``[T, d]``.
      signal, noise: ``||theta[:k]||`` and ``||theta[k:]||``, ``[T]``.
      expected_utility: the gold reward, the game's policy's ``E[U]`` at ``theta``
        (``U(theta)`` for a point-policy game), ``[T]``.
      proxy_reward: ``E[r_w(y)] = w . theta`` with the retrained RM, ``[T]``.
      kl: ``KL(N(theta, s^2 I) || N(theta_0, s^2 I)) = ||theta - theta_0||^2 / (2 s^2)``, ``[T]``.
    """

    theta: Array
    signal: Array
    noise: Array
    expected_utility: Array
    proxy_reward: Array
    kl: Array


def make_best_of_n_trajectory(
    spec: BestOfNSpec,
) -> Callable[[Array, BestOfNHParams], BestOfNTrajectory]:
    """A pure ``run(key, hparams) -> BestOfNTrajectory``: expert iteration in ``spec.game``.

    The initial RM is drawn from ``key`` as in :func:`toysim.make_trajectory`,
    so a seed starts both leaders against the same reward model.
    """
    spec.validate()
    game = spec.game
    follower = make_follower(game)

    def run(key: Array, hp: BestOfNHParams) -> BestOfNTrajectory:
        hp = as_float_arrays(hp._replace(game=0.0))._replace(game=as_float_arrays(hp.game))
        g = hp.game
        u = utility_of(game, g)
        gold_policy = GaussianPolicy(g.sigma) if game.policy == "gaussian" else PointPolicy()
        theta0 = jnp.zeros(game.dim, dtype=u.ideal.dtype)
        state0 = (theta0, follower.init(initial_reward_weights(key, game, g), g))
        draw_keys = jax.random.split(jax.random.fold_in(key, 1), game.steps)

        def step(carry, step_key):
            theta, fstate = carry
            group_keys = jax.random.split(step_key, spec.groups)

            def score(y):  # the linear RM's scores of the draws
                return y @ fstate.w

            kept = jax.vmap(lambda k: best_of_n_draw(k, theta, hp.spread, hp.n, spec.max_n, score))(
                group_keys
            )
            theta = theta + hp.step * (jnp.mean(kept, axis=0) - theta)
            fstate = follower.update(fstate, theta, g, u)
            return (theta, fstate), (theta, fstate.w)

        _, (theta, w) = jax.lax.scan(step, state0, draw_keys)
        return BestOfNTrajectory(
            theta,
            *block_signal_noise(theta, game.signal_dims),
            expected_utility=gold_policy.expected_utility(theta, u),
            proxy_reward=jnp.sum(w * theta, axis=-1),
            kl=gaussian_kl(theta, hp.spread, theta0, hp.spread),
        )

    return run


class BestOfNCurve(NamedTuple):
    """Best-of-n from a fixed base policy and reward model, for each ``n`` of a list.

    Attributes:
      n: the numbers of draws, ``[N]``.
      kl: ``log n - (n - 1)/n``, ``[N]``.
      gold: ``E[U(y_best)]``, the Monte Carlo mean over the draws, ``[N]``.
      proxy: ``E[r(y_best)]``, ``[N]``.
    """

    n: Array
    kl: Array
    gold: Array
    proxy: Array


def best_of_n_curve(
    key: Array,
    theta: Array,
    spread: Array,
    ns: Array,
    repeats: int,
    score: Callable[[Array], Array],
    gold: Callable[[Array], Array],
) -> BestOfNCurve:
    """Gold and proxy of best-of-n sampling from ``N(theta, spread^2 I)`` for each ``n`` in ``ns``.

    ``repeats`` times, ``max(ns)`` outputs are drawn; best-of-n keeps the best of
    the first ``n`` by ``score`` (the same draws serve every ``n``, so the curve
    is smooth in ``n``), and the means over the repeats estimate
    ``E[U(y_best)]`` and ``E[r(y_best)]``.

    Args:
      key: the draws' ``jax.random`` key.
      theta: the base policy's mean.
      spread: the base policy's spread.
      ns: the values of ``n`` (integers ``>= 1``, concrete: their maximum fixes the shapes).
      repeats: Monte Carlo repeats per ``n``.
      score: ``y [m, d] -> [m]``, the reward model.
      gold: ``y [m, d] -> [m]``, the true utility.
    """
    max_n = int(np.max(ns))
    ns = jnp.asarray(ns, dtype=jnp.result_type(float))

    def one(k):
        y = theta + spread * standard_normal(k, (max_n, theta.shape[-1]), theta.dtype)
        return score(y), gold(y)

    scores, golds = jax.lax.map(one, jax.random.split(key, repeats))
    competing = jnp.arange(max_n, dtype=ns.dtype)[None, :] < ns[:, None]  # [N, max_n]
    best = jnp.argmax(jnp.where(competing[:, None, :], scores[None], -jnp.inf), axis=-1)
    kept_gold = jnp.take_along_axis(golds[None], best[..., None], axis=-1)[..., 0]
    kept_proxy = jnp.take_along_axis(scores[None], best[..., None], axis=-1)[..., 0]
    return BestOfNCurve(ns, best_of_n_kl(ns), kept_gold.mean(axis=-1), kept_proxy.mean(axis=-1))
