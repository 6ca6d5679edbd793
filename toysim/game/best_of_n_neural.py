"""Expert iteration on the sampled-buffer game: best-of-n as the leader against its
reward model (paper-nn's MLP, or the pairwise presets' models on pairs).

The loop of :func:`toysim.game.neural.make_neural_trajectory` with the leader's
15 gradient steps replaced by one expert-iteration step
(:mod:`toysim.game.best_of_n`): ``groups`` groups of ``n`` draws from
``N(theta, sigma_t^2 I)`` (the preset's spread schedule), the best of each by
the current reward model, ``theta += lr (mean(y_best) - theta)``. The follower
is unchanged: the policy emits ``samples_per_step`` samples (pairs with a
Bradley-Terry label, with ``data = pairs``;
:func:`toysim.game.sampled.policy_block`) into the buffer of the spec's data
regime and the reward model takes one Adam step on it. The reward model starts
from the same draw as the preset's run of the same seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from toysim.config import ConfigError, as_float_arrays
from toysim.game.best_of_n import BestOfNSpec, best_of_n_draw, gaussian_kl
from toysim.game.followers import (
    BufferData,
    adam_l2_optimizer,
    buffer_insert,
    empty_buffer,
    optimizer_step,
    regime_blocks,
)
from toysim.game.sampled import (
    NeuralHParams,
    initial_reward_params,
    network_model,
    neural_utility,
    policy_block,
    schedule,
)
from toysim.model.interface import pairwise
from toysim.model.utility import utility


class NeuralBestOfNHParams(NamedTuple):
    """Expert iteration's numbers on the sampled-buffer game (all traced).

    Attributes:
      game: the preset's hyperparameters (the leader's step sizes, clip and gamma are unused).
      n: the number of draws per group, ``1 <= n <= spec.max_n``.
      step: ``lr`` in ``theta += lr (mean(y_best) - theta)``, in ``[0, 1]``.
    """

    game: NeuralHParams
    n: float
    step: float

    def validate(self, spec: BestOfNSpec) -> None:
        """Check every number against ``spec`` (:func:`validate_neural_best_of_n`)."""
        validate_neural_best_of_n(spec, self)


def validate_neural_best_of_n(spec: BestOfNSpec, hp: NeuralBestOfNHParams) -> None:
    """Check ``spec``, the game's numbers and the ranges of ``n`` and ``step``.

    Raises:
        ConfigError: naming the first invalid field and what is allowed.
    """
    spec.validate()
    hp.game.validate(spec.game)
    n = float(hp.n)
    if not (n == int(n) and 1 <= n <= spec.max_n):
        raise ConfigError(f"n must be an integer in [1, max_n = {spec.max_n}]; got {hp.n!r}")
    if not 0 <= float(hp.step) <= 1:
        raise ConfigError(f"step must be in [0, 1]; got {hp.step!r}")


class NeuralBestOfNTrajectory(NamedTuple):
    """Per outer iteration (leading axis ``T``, after any vmapped axes).

    Attributes:
      theta: the policy mean, ``[T, d]``.
      utility: ``U(theta)``; proxy_reward: ``r_phi(theta)`` after the follower's step, ``[T]``.
      sigma: the policy's spread, ``[T]``.
      kl: ``KL(N(theta, sigma_t^2 I) || N(0, sigma_start^2 I))``, ``[T]``.
    """

    theta: Array
    utility: Array
    proxy_reward: Array
    sigma: Array
    kl: Array


def make_neural_best_of_n_trajectory(
    spec: BestOfNSpec,
) -> Callable[[Array, NeuralBestOfNHParams], NeuralBestOfNTrajectory]:
    """A pure ``run(key, hparams) -> NeuralBestOfNTrajectory``: expert iteration on
    ``spec.game`` (a :class:`~toysim.game.neural.NeuralSpec`)."""
    spec.validate()
    game = spec.game
    model = network_model(game)
    pairs = game.data == "pairs"
    follower_model = pairwise(model) if pairs else model
    window = game.buffer_size // game.samples_per_step
    blocks = regime_blocks(game.regime, window, game.steps)

    def run(key: Array, hp: NeuralBestOfNHParams) -> NeuralBestOfNTrajectory:
        g = as_float_arrays(hp.game)
        n, step = (jnp.asarray(x, dtype=jnp.result_type(float)) for x in hp[1:])
        dtype = jnp.result_type(float)
        u = neural_utility(game, g)
        init_key, loop_key = jax.random.split(key)
        phi = initial_reward_params(model, g, init_key, dtype)
        optimizer = adam_l2_optimizer(g.follower_lr, g.weight_decay)
        buffer = empty_buffer(blocks, game.dim, dtype, game.samples_per_step, pairs)
        state = (jnp.zeros(game.dim, dtype), phi, optimizer.init(phi), buffer)

        def outer(carry, inputs):
            theta, phi, opt_state, buffer = carry
            t, step_key = inputs
            sigma = schedule(g.sigma_start, g.sigma_end, t, game.steps)
            draw_key, sample_key, *label_key = jax.random.split(step_key, 3 if pairs else 2)

            def score(y):
                return model.reward(phi, y)

            kept = jax.vmap(lambda k: best_of_n_draw(k, theta, sigma, n, spec.max_n, score))(
                jax.random.split(draw_key, spec.groups)
            )
            theta = theta + step * (jnp.mean(kept, axis=0) - theta)
            block = policy_block(
                game, g, u, theta, sigma, sample_key, label_key[0] if pairs else sample_key
            )
            buffer = buffer_insert(buffer, *block)
            data = BufferData(follower_model, buffer, None)
            _, phi, opt_state = optimizer_step(optimizer, data.loss, phi, opt_state)
            return (theta, phi, opt_state, buffer), (theta, model.reward(phi, theta), sigma)

        steps = jnp.arange(game.steps, dtype=dtype)
        _, (theta, proxy, sigma) = jax.lax.scan(
            outer, state, (steps, jax.random.split(loop_key, game.steps))
        )
        kl = gaussian_kl(theta, sigma, jnp.zeros(game.dim, dtype), g.sigma_start)
        return NeuralBestOfNTrajectory(theta, utility(u, theta), proxy, sigma, kl)

    return run
