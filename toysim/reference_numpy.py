"""A plain NumPy re-implementation of the published linear toy.

The published code estimates the leader's gradient by forward finite
differences (step 0.05, one coordinate at a time) of

    w . y - c ||y||^2 - gamma P(y),
    P(y) = (w . y - U(y)) ||y||^2    (relaxed FPO; grad_w r_w(y) = y),
    P(y) = ||y||^2                   (practical FPO),

takes one ascent step of size 0.02, then one SGD step of the reward model on
the new point: ``w <- (1 - 1e-4) w + 0.005 * 2 (U(y) - w . y) y``.

It is the baseline of the benchmark and an independent check that toysim's
``paper-linear`` preset is the published game (only the leader's gradient
differs: toysim's is exact).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class PublishedRun(NamedTuple):
    """Per-iteration arrays of one run: ``y [T, d]``, ``signal, noise, utility [T]``."""

    y: np.ndarray
    signal: np.ndarray
    noise: np.ndarray
    utility: np.ndarray


def run_published(
    penalty: str,
    seed: int,
    *,
    dim: int = 50,
    signal_dims: int = 3,
    steps: int = 300,
    gamma: float = 0.1,
    action_cost: float = 0.1,
    leader_lr: float = 0.02,
    follower_lr: float = 0.005,
    weight_decay: float = 1e-4,
    fd_step: float = 0.05,
    initial_w: np.ndarray | None = None,
) -> PublishedRun:
    """One published trajectory; ``penalty`` is ``none`` (RLHF), ``relaxed`` or ``practical``.

    ``initial_w`` replaces the seeded draw ``(1, 1, 1, 0, ...) + N(0, 0.1^2)``.
    """
    if penalty not in ("none", "relaxed", "practical"):
        raise ValueError(f"penalty must be one of none, relaxed, practical; got {penalty!r}")
    amplitude, tau = 10.0, 0.3
    ideal = np.zeros(dim)
    ideal[:signal_dims] = 2.0
    if initial_w is None:
        w = np.zeros(dim)
        w[:signal_dims] = 1.0
        w += np.random.default_rng(seed).normal(0.0, 0.1, size=dim)
    else:
        w = np.array(initial_w, dtype=float)
    y = np.zeros(dim)

    def true_utility(x):
        return amplitude * np.exp(-tau * np.sum((x - ideal) ** 2))

    def objective(x):
        reward = w @ x
        value = reward - action_cost * (x @ x)
        if penalty == "relaxed":
            value -= gamma * (reward - true_utility(x)) * (x @ x)
        elif penalty == "practical":
            value -= gamma * (x @ x)
        return value

    ys, utilities = [], []
    for _ in range(steps):
        base = objective(y)
        grad = np.empty(dim)
        for i in range(dim):
            shifted = y.copy()
            shifted[i] += fd_step
            grad[i] = (objective(shifted) - base) / fd_step
        y = y + leader_lr * grad
        u = true_utility(y)
        w = (1.0 - weight_decay) * w + follower_lr * 2.0 * (u - w @ y) * y
        ys.append(y)
        utilities.append(u)
    ys = np.asarray(ys)
    return PublishedRun(
        y=ys,
        signal=np.linalg.norm(ys[:, :signal_dims], axis=1),
        noise=np.linalg.norm(ys[:, signal_dims:], axis=1),
        utility=np.asarray(utilities),
    )
