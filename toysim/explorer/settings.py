"""What the live explorer shows: its settings, their allowed values, and the game they make.

:class:`Settings` holds the structure (preset, method, the four FPO switches, see
docs/theory/relaxations.md), the numbers (``gamma``, the action cost ``c``, the
two step sizes, the horizon ``T``, the seed) and the view (phase-space
coordinates). :func:`game_of` turns them into ``(LinearSpec, LinearHParams)`` at the
compiled horizon :data:`EXPLORER_STEPS`; :func:`method_of` maps switches to the
method they make, so equal structures share one compiled program.

``paper-nn`` is left out: one run of the neural game takes 0.2-4 s (and its
compile 2-3 s), far above the 50 ms a slider needs to feel live.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from toysim import config
from toysim.presets import LINEAR_PRESETS, build
from toysim.rules import check_choice

EXPLORER_STEPS = 1000
"""The horizon every explorer program is compiled at; the horizon slider shows a prefix."""

PRESET_NAMES = LINEAR_PRESETS
"""The presets offered: the linear game's (a sampled-buffer run is too slow to answer a slider
at once)."""

START_SPEC, START_HP = build("paper-linear", "fpo-relaxed")
"""Where the explorer starts: paper-linear's numbers, with relaxed FPO's published weight."""

METHOD_NAMES = ("rlhf", "fpo-exact", "fpo-relaxed", "fpo-practical", "fpo")
COORDS = ("projection", "block")

NUMBERS = {
    # name: (kind, min, max[, step]); a log slider moves in steps of 0.01 in log10
    "gamma": ("log", 1e-3, 10.0),
    "action_cost": ("linear", 0.0, 1.0, 0.005),
    "leader_lr": ("log", 1e-3, 0.2),
    "follower_lr": ("log", 1e-4, 0.1),
    "steps": ("int", 10, EXPLORER_STEPS, 10),
    "seed": ("int", 0, 63, 1),
}
"""Each numeric setting's slider: log sliders span ``[min, max]`` in powers of ten."""


class Settings(NamedTuple):
    """Everything the explorer shows: the structure, the numbers and the view.

    Attributes:
      preset: one of :data:`PRESET_NAMES`.
      method: one of :data:`METHOD_NAMES` (``fpo`` is a custom mix of the switches).
      hessian, influence, params, oracle: the FPO switches; switches that differ
        from a named FPO method's make the run the named method with those
        switches, or else a custom ``fpo`` mix (:func:`method_of`); ignored for ``rlhf``.
      gamma: the steering weight (ignored for ``rlhf``, whose weight is 0).
      action_cost: ``c``, the KL leash.
      leader_lr: the leader's step size.
      follower_lr: the SGD follower's step ``eta``; its exact loss has the
        proximal weight ``lambda = 1/eta`` (see docs/settings.md), so both move
        together. Unused by the population preset (closed-form best response).
      steps: the horizon ``T`` shown, at most :data:`EXPLORER_STEPS`.
      seed: draws the RM's random initial weights.
      coords: ``projection`` (on ``m``: the contours are the exact utility) or
        ``block`` (published: ``||y[:k]||``, ``||y[k:]||``; the contours bound it).
    """

    preset: str = "paper-linear"
    method: str = "rlhf"
    hessian: str = "exact"
    influence: str = "global"
    params: str = "optimum"
    oracle: str = "true"
    gamma: float = START_HP.gamma
    action_cost: float = START_HP.action_cost
    leader_lr: float = START_HP.leader_lr
    follower_lr: float = START_HP.follower_lr
    steps: int = START_SPEC.steps
    seed: int = 0
    coords: str = "projection"


def method_of(settings: Settings) -> config.Method:
    """The leader method of the settings.

    A named method whose switches were changed becomes the named FPO method with
    those switches if there is one (``fpo-relaxed`` without the oracle is
    ``fpo-practical``), else a custom ``fpo`` mix; so equal structures share
    one compiled program.
    """
    check_choice("method", settings.method, METHOD_NAMES)
    if not config.METHODS[settings.method].foresight:
        return config.method_from_name(settings.method)
    method = config.method_from_name(
        settings.method, **{k: getattr(settings, k) for k in config.SWITCHES}
    )
    for named in config.METHODS.values():
        if named.foresight and named.name != "fpo" and _switches(named) == _switches(method):
            return named
    return method


def _switches(method: config.Method) -> tuple[str, ...]:
    """The method's four switches, in the order of :data:`toysim.config.SWITCHES`."""
    return tuple(getattr(method, k) for k in config.SWITCHES)


def game_of(settings: Settings) -> tuple[config.LinearSpec, config.LinearHParams]:
    """``(spec, hparams)`` of the settings; ``spec`` has the compiled horizon
    :data:`EXPLORER_STEPS`.

    Raises:
      ConfigError: a setting is outside what is allowed (named in the message).
    """
    check_choice("preset", settings.preset, PRESET_NAMES)
    check_choice("coords", settings.coords, COORDS)
    steps = settings.steps
    if not isinstance(steps, int | np.integer) or not 1 <= steps <= EXPLORER_STEPS:
        raise config.ConfigError(
            f"steps must be an integer in [1, {EXPLORER_STEPS}]; got {steps!r}"
        )
    if not isinstance(settings.seed, int | np.integer) or settings.seed < 0:
        raise config.ConfigError(f"seed must be an integer >= 0; got {settings.seed!r}")
    method = method_of(settings)
    spec, hp = build(settings.preset, method, steps=EXPLORER_STEPS)
    gamma = settings.gamma if method.foresight else 0.0
    hp = hp._replace(gamma=gamma, action_cost=settings.action_cost, leader_lr=settings.leader_lr)
    if spec.follower == "sgd":
        if not settings.follower_lr > 0:
            raise config.ConfigError(
                "follower_lr must be > 0 (the exact follower loss has lambda = 1/follower_lr); "
                f"got {settings.follower_lr!r}"
            )
        hp = hp._replace(follower_lr=settings.follower_lr, lam=1.0 / settings.follower_lr)
    config.validate(spec, hp)
    return spec, hp


def check_ranges(settings: Settings) -> None:
    """Raise :class:`ConfigError` if a starting number lies outside its slider's range."""
    for name, (_, low, high, *_) in NUMBERS.items():
        value = getattr(settings, name)
        if not low <= value <= high:
            raise config.ConfigError(
                f"{name} must be in [{low}, {high}] in the explorer; got {value!r}"
            )
    for name, allowed in (
        ("preset", PRESET_NAMES),
        ("method", METHOD_NAMES),
        ("coords", COORDS),
        *config.SWITCHES.items(),
    ):
        check_choice(name, getattr(settings, name), allowed)


def check_known(names) -> None:
    """Raise :class:`ConfigError` naming every one of ``names`` that is not a :class:`Settings`
    field, and the fields allowed."""
    unknown = set(names) - set(Settings._fields)
    if unknown:
        raise config.ConfigError(
            f"unknown setting(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(Settings._fields)}"
        )


def starting_settings(preset: str, method: str, **settings: Any) -> Settings:
    """:class:`Settings` for ``preset`` and ``method``, with ``settings`` overriding fields.

    A named FPO method brings its switches and every FPO method its default
    ``gamma`` (:func:`toysim.presets.default_gamma`), unless given.
    """
    check_known(settings)
    start = Settings(preset=preset, method=method, **settings)
    if method not in config.METHODS or not config.METHODS[method].foresight:
        return start
    if method != "fpo":
        named = config.METHODS[method]
        start = start._replace(**{s: settings.get(s, getattr(named, s)) for s in config.SWITCHES})
    return start if "gamma" in settings else start._replace(gamma=default_gamma_of(start))


def default_gamma_of(settings: Settings) -> float:
    """:func:`toysim.presets.default_gamma` of the settings' preset and method: the weight
    :func:`toysim.presets.build` gives them."""
    check_choice("preset", settings.preset, PRESET_NAMES)
    return build(settings.preset, method_of(settings))[1].gamma
