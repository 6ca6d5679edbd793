"""The answers of the problem set's exercises beyond ``paper-linear``, computed by toysim.

* :func:`population_rest_points`: where the myopic and the exact Stackelberg gradient of
  the ``population`` game vanish on the line through the ideal
  (:func:`toysim.analysis.population_gradient`);
* :func:`neural_slope_share`: the share of the reward model's slope that relaxed FPO
  replaces by the true utility's slope at the end of a short ``paper-nn`` run;
* :func:`pairwise_stop`: where on the line to the ideal a leader stops that climbs a
  comparison-trained linear reward model at its best response, to first order in the
  differences the labeller compares.

``tests/test_exercises.py`` checks each against a route written there (closed forms,
backpropagation by hand).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from toysim.analysis import population_gradient
from toysim.config import as_float_arrays
from toysim.exercises.roots import bisect, first_crossing
from toysim.experiments.runner import simulate
from toysim.game.sampled import network_model, neural_utility
from toysim.game.steering import reward_gradient
from toysim.model.preference import preference_probability
from toysim.model.utility import utility_grad
from toysim.presets import build

SEED = 0
"""The seed of the ``paper-nn`` run."""

SIGNALS = np.linspace(0.05, 8.0, 160)
"""Signal values ``s`` of ``theta = s m_hat`` searched for the population game's rest points."""

NEURAL_STEPS = 200
"""Outer iterations of the ``paper-nn`` run (relaxed FPO is at the ideal well before)."""

PAIRWISE_LINE = (0.05, 1.0)
"""The stretch of ``theta = f m`` searched for the pairwise leader's stop."""


@functools.cache
def population_rest_points() -> tuple[float, float]:
    """``(s_myopic, s_exact)``: the first ``s > 0`` at which the signal component of the
    myopic gradient ``w*(theta) - 2 c theta``, and of ``dJ/dtheta``, turns negative, at
    ``theta = s m_hat`` of the ``population`` preset (the follower at its best response)."""
    spec, hp = build("population", "rlhf")
    at = jax.jit(population_gradient(spec, hp))

    def component(index: int):
        return lambda s: float(at(jnp.asarray(s), jnp.asarray(0.0))[index])

    myopic, exact = component(0), component(2)
    return first_crossing(myopic, SIGNALS, True), first_crossing(exact, SIGNALS, True)


@functools.cache
def neural_run() -> tuple:
    """Relaxed FPO on ``paper-nn`` for :data:`NEURAL_STEPS` iterations (seed 0), recording
    the reward model the leader saw: ``(spec, hp, trajectory)``."""
    spec, hp = build("paper-nn", "fpo-relaxed")
    spec = dataclasses.replace(spec, steps=NEURAL_STEPS, record_state=True)
    return spec, hp, simulate(spec, hp, seed=SEED)


def neural_final_state() -> tuple:
    """``(model, phi, theta)``: the reward model and parameters the leader saw at the run's
    last iteration, and the policy's final mean."""
    spec, _, run = neural_run()
    model = network_model(spec)
    unravel = ravel_pytree(model.init(jax.random.key(0), run.theta.dtype))[1]
    return model, unravel(run.rm_params[-1]), run.theta[-1]


@functools.cache
def neural_slope_share() -> float:
    """``gamma ||grad_phi r_phi(theta)||^2`` at :func:`neural_final_state`: where ``r = U``,
    relaxed FPO's gradient is ``(1 - share) grad r + share grad U - 2 c theta``."""
    _, hp, _ = neural_run()
    model, phi, theta = neural_final_state()
    g = reward_gradient(model, phi, theta)
    return float(hp.gamma * (g @ g))


def comparison_slope(beta: float, label_noise: float) -> float:
    """``kappa``: the labeller's ``dp/d(U_0 - U_1)`` at equal utilities over the logistic
    link's ``s'(0)``, so that ``p ~ s(kappa (U_0 - U_1))`` to first order (autodiff)."""
    dp = jax.grad(lambda x: preference_probability(x, 0.0, beta, label_noise))(0.0)
    return float(dp / jax.grad(jax.nn.sigmoid)(0.0))


@functools.cache
def pairwise_stop() -> float:
    """The ``f`` at which ``V(f) = kappa grad U(f m) . f m - c ||f m||^2`` peaks on
    ``pairwise-linear``: the leader's reward at a best response ``w* = kappa grad U(theta)``,
    which a linear logistic fit to the labeller's comparisons learns to first order."""
    spec, hp = build("pairwise-linear", "rlhf")
    u = neural_utility(spec, as_float_arrays(hp))
    kappa = comparison_slope(hp.beta, hp.label_noise)

    def value(f):
        y = f * u.ideal
        return kappa * utility_grad(u, y) @ y - hp.action_cost * y @ y

    slope = jax.jit(jax.grad(value))
    return bisect(lambda f: float(slope(jnp.asarray(f))), *PAIRWISE_LINE)
