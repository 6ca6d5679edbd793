"""What each hyperparameter may be, and which games read it: the tables behind validation.

:data:`HPARAM_RULES` and :data:`NEURAL_HPARAM_RULES` give each field of
:class:`~toysim.config.LinearHParams` and :class:`~toysim.game.sampled.SampledHParams` its
allowed values (every field must also be finite); :data:`HPARAM_READS` and
:data:`NEURAL_HPARAM_READS` say which games read a field at all (a field not listed is read
by every game), so that a sweep over a number the game ignores (``gamma`` with ``rlhf``) is
refused instead of producing a flat, meaningless axis. The ``validate`` methods of both
hyperparameter tuples and :func:`check_read` apply them; nothing else hard-codes a field's
range.
:func:`check_choice` is the one check of a field whose value is one of named choices.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable
from typing import NamedTuple

import numpy as np


class ConfigError(ValueError):
    """A configuration field holds a value outside what is allowed."""


MAX_STEPS = 2**31 - 1
"""The longest horizon: XLA counts a loop's iterations in 32-bit integers."""


def check_steps(steps: object) -> None:
    """``steps`` an integer in ``[1, MAX_STEPS]``.

    Raises:
      ConfigError: naming ``steps`` and the allowed range.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= MAX_STEPS:
        raise ConfigError(f"steps must be an integer in [1, 2**31 - 1]; got {steps!r}")


def check_int(field: str, value: object, minimum: int) -> None:
    """Raise :class:`ConfigError` naming ``field`` unless ``value`` is an integer ``>= minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{field} must be an integer >= {minimum}; got {value!r}")


def check_choice(name: str, value: object, allowed: Collection[str]) -> None:
    """Raise :class:`ConfigError` naming ``name`` and ``allowed`` unless ``value`` is allowed."""
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


class Rule(NamedTuple):
    """A field's allowed values: ``ok(values) -> bool array`` and the words for them."""

    ok: Callable[[np.ndarray], np.ndarray]
    allowed: str


def _positive(v):
    return v > 0


def _non_negative(v):
    return v >= 0


def _any(v):
    return v == v


FINITE = Rule(_any, "a finite number")
POSITIVE = Rule(_positive, "> 0")
STEP_SIZE = Rule(_non_negative, ">= 0 (a step size)")
SPREAD = Rule(_non_negative, ">= 0 (a standard deviation)")

HPARAM_RULES: dict[str, Rule] = {
    "amplitude": POSITIVE,
    "tau": POSITIVE,
    "ideal_value": FINITE,
    "action_cost": Rule(_non_negative, ">= 0"),
    "gamma": Rule(_non_negative, ">= 0"),
    "leader_lr": STEP_SIZE,
    "follower_lr": STEP_SIZE,
    "weight_decay": Rule(lambda v: (v >= 0) & (v < 1), "in [0, 1)"),
    "lam": Rule(_non_negative, ">= 0"),
    "sigma": SPREAD,
    "rm_init_signal": FINITE,
    "rm_init_noise": SPREAD,
    "rm_init_bias": FINITE,
    "damping": Rule(_non_negative, ">= 0 (mu of the damped Hessian H + mu I)"),
}
"""The linear and population games' numbers (:class:`toysim.config.LinearHParams`)."""

NEURAL_HPARAM_RULES: dict[str, Rule] = {
    "amplitude": POSITIVE,
    "tau": POSITIVE,
    "ideal_value": FINITE,
    "action_cost": Rule(_non_negative, ">= 0"),
    "gamma": Rule(_non_negative, ">= 0"),
    "sigma_start": SPREAD,
    "sigma_end": SPREAD,
    "lr_start": STEP_SIZE,
    "lr_end": STEP_SIZE,
    "follower_lr": STEP_SIZE,
    "weight_decay": Rule(_non_negative, ">= 0"),
    "clip": POSITIVE,
    "init_scale": SPREAD,
    "damping": Rule(_non_negative, ">= 0"),
    "beta": Rule(_non_negative, ">= 0"),
    "label_noise": Rule(lambda v: (v >= 0) & (v <= 1), "in [0, 1]"),
}
"""The sampled-buffer games' numbers (:class:`toysim.game.sampled.SampledHParams`)."""


class Read(NamedTuple):
    """When a game reads a field: ``when(spec) -> bool``, and the words for it."""

    when: Callable[[object], bool]
    needs: str


def _foresight(spec) -> bool:
    return spec.method.foresight


def needs_solve(spec) -> bool:
    """Whether the linear game solves with ``H = lambda I + ...`` (so reads ``lambda``): a
    best-response or population follower, or FPO with a Hessian other than the identity (or
    the ``unrolled`` rung, which takes optimizer steps) or with ``params = optimum``."""
    m = spec.method
    return (
        m.foresight and (m.hessian not in ("identity", "unrolled") or m.params == "optimum")
    ) or spec.follower in ("best-response", "population")


HPARAM_READS: dict[str, Read] = {
    "gamma": Read(_foresight, "an FPO method (rlhf has no steering term)"),
    "follower_lr": Read(lambda s: s.follower == "sgd", "the sgd follower"),
    "weight_decay": Read(lambda s: s.follower == "sgd", "the sgd follower"),
    "lam": Read(
        needs_solve,
        "a best-response or population follower, or FPO with a Hessian solve or params optimum",
    ),
    "sigma": Read(lambda s: s.policy == "gaussian", "the Gaussian policy (population preset)"),
    "rm_init_bias": Read(lambda s: s.biased_dims > 0, "biased_dims > 0 (the sycophancy preset)"),
    "damping": Read(
        lambda s: s.method.foresight and s.method.hessian == "damped", "FPO with hessian = damped"
    ),
}
"""The fields of :class:`~toysim.config.LinearHParams` only some games read (the rest: all)."""

NEURAL_HPARAM_READS: dict[str, Read] = {
    "gamma": HPARAM_READS["gamma"],
    "beta": Read(lambda s: s.data == "pairs", "data = pairs (the pairwise presets)"),
    "label_noise": Read(lambda s: s.data == "pairs", "data = pairs (the pairwise presets)"),
    "damping": HPARAM_READS["damping"],
}
"""The fields of :class:`~toysim.game.sampled.SampledHParams` only some games read."""


def fields_read(spec, fields: Iterable[str], reads: dict[str, Read]) -> tuple[str, ...]:
    """The fields among ``fields`` that the game of ``spec`` reads."""
    return tuple(f for f in fields if f not in reads or reads[f].when(spec))


def check_read(spec, names: Iterable[str], fields: Iterable[str], reads: dict[str, Read]):
    """Refuse a request to vary a field the game of ``spec`` never reads.

    Raises:
      ConfigError: naming the first such field, what would read it, and the fields read.
    """
    for name in names:
        if name in reads and not reads[name].when(spec):
            follower = getattr(spec, "follower", None)
            game = f" with follower {follower!r}" if follower else ""
            raise ConfigError(
                f"{name} is not read by method {spec.method.name!r}{game}: it needs "
                f"{reads[name].needs}; "
                f"fields this game reads: {', '.join(fields_read(spec, fields, reads))}"
            )


def check_numbers(hparams: NamedTuple, rules: dict[str, Rule]) -> None:
    """Each field of ``hparams`` (a scalar or an array, as in a sweep) finite and allowed.

    Raises:
      ConfigError: naming the first field with a bad element, what is allowed, and the value.
    """
    for field, rule in rules.items():
        value = np.asarray(getattr(hparams, field), dtype=float)
        good = np.isfinite(value) & rule.ok(value)
        if not np.all(good):
            bad = float(np.ravel(value[~good] if value.ndim else value)[0])
            finite = math.isfinite(bad) or rule is FINITE
            allowed = rule.allowed if finite else f"finite and {rule.allowed}"
            raise ConfigError(f"{field} must be {allowed}; got {bad!r}")
