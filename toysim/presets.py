"""Every named setting, in one registry (docs/settings.md).

The linear game (:class:`~toysim.config.LinearSpec`, :class:`~toysim.config.LinearHParams`):
``paper-linear``, ``population``, ``sycophancy``. The sampled-buffer game
(:class:`~toysim.game.sampled.SampledSpec`, :class:`~toysim.game.sampled.SampledHParams`):
``paper-nn``, ``pairwise-linear``, ``pairwise-nn``.

``build(preset, method, ...)`` returns the ``(spec, hparams)`` pair a run needs, whichever
game; :func:`toysim.experiments.runner.run_seed` runs it.

Default ``gamma`` (the weight of the steering penalty ``S``):

* ``rlhf``: 0 (no steering term);
* a curvature rung that stands for the Hessian (``fpo-exact``, or any mix with ``hessian``
  other than ``identity``): ``2 omega``, the weight that makes FPO's objective the exact
  Stackelberg gradient (``omega`` = weight of the new data in ``L``; see
  ``toysim.game.leader``);
* identity Hessian (``fpo-relaxed``, ``fpo-practical``, other mixes): the
  preset's published weight (0.1 in the linear toy, 0.005 in paper-nn), because with
  ``H -> I`` the scale of ``H^{-1}`` has to go into ``gamma``.

In the sampled-buffer game an FPO method whose ``params`` switch is not given evaluates
at the follower's current parameters (``params = current``): its reward model is trained
by Adam steps, the MLP has no unique best response, and the linear model's
(:mod:`toysim.game.optimum`) is evaluated at only when asked (``params = "optimum"``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

from toysim.config import REGIMES, ConfigError, LinearHParams, LinearSpec, Method, method_from_name
from toysim.game.composition import LEADERS, Composition, CompositionParams, ExpertParams
from toysim.game.early_stop import StopParams
from toysim.game.sampled import LABELS, PAIRINGS, SampledHParams, SampledSpec
from toysim.model.ensemble import AGGREGATES
from toysim.provenance import describe_differences

Spec = LinearSpec | SampledSpec
Numbers = LinearHParams | SampledHParams


class Preset(NamedTuple):
    """A named setting: its game, static structure and numbers, the published FPO weight.

    Attributes:
      description: one paragraph for people: what the setting is.
      game: the spec type of its game, :class:`~toysim.config.LinearSpec` (the linear game)
        or :class:`~toysim.game.sampled.SampledSpec` (the sampled-buffer game).
      spec: the fields of ``game`` the preset sets (the others keep their defaults).
      hparams: its numbers (``gamma`` is set by :func:`build`).
      relaxed_gamma: the steering weight with ``hessian = identity``.
    """

    description: str
    game: type
    spec: dict
    hparams: Numbers
    relaxed_gamma: float

    @property
    def sampled(self) -> bool:
        """Whether the preset is a sampled-buffer game (its follower trains on samples)."""
        return self.game is SampledSpec


PAPER_LINEAR = Preset(
    description=(
        "The published linear toy: d = 50, k = 3, point policy from 0, linear RM, one SGD "
        "step per iteration on the newest point (lr 0.005, decoupled decay 1e-4). "
        "Exact L: squared error on the newest point + proximal (1/(2 eta))||w - w_t||^2, "
        "so lambda = 1/eta = 200 and omega = 1."
    ),
    game=LinearSpec,
    spec=dict(
        dim=50,
        signal_dims=3,
        steps=300,
        follower="sgd",
        buffer_size=1,
        follower_steps=1,
        anchor="proximal",
    ),
    hparams=LinearHParams(
        amplitude=10.0,
        tau=0.3,
        ideal_value=2.0,
        action_cost=0.1,
        gamma=0.0,
        leader_lr=0.02,
        follower_lr=0.005,
        weight_decay=1e-4,
        lam=1.0 / 0.005,
        sigma=0.0,
        rm_init_signal=1.0,
        rm_init_noise=0.1,
    ),
    relaxed_gamma=0.1,
)

POPULATION = Preset(
    description=(
        "The paper-linear utility and RM, a Gaussian policy "
        "N(theta, 0.3^2 I), and a follower that best-responds to the whole policy "
        "distribution with ridge lambda = 0.1: every expectation and gradient in "
        "closed form, no sampling noise."
    ),
    game=LinearSpec,
    spec=dict(PAPER_LINEAR.spec, follower="population", buffer_size=0, anchor="ridge"),
    hparams=PAPER_LINEAR.hparams._replace(follower_lr=0.0, weight_decay=0.0, lam=0.1, sigma=0.3),
    relaxed_gamma=0.1,
)

SYCOPHANCY = Preset(
    description=(
        "paper-linear, but the initial RM overrates two noise "
        "features by 0.5 each, as biased preference data (answers matching the user's "
        "view) would make it; `biased_noise` measures how far the policy follows them."
    ),
    game=LinearSpec,
    spec=dict(PAPER_LINEAR.spec, biased_dims=2),
    hparams=PAPER_LINEAR.hparams._replace(rm_init_bias=0.5),
    relaxed_gamma=PAPER_LINEAR.relaxed_gamma,
)

PAPER_NN = Preset(
    description=(
        "The published neural setting: d = 10, k = 2, a Gaussian policy whose spread decays "
        "from 0.1 to 0.001, an MLP reward model 10-32-32-1 trained by one Adam step per "
        "iteration (L2 weight 1e-3) on the last 10 blocks of 5 labelled samples, and a "
        "leader taking 15 clipped steps per iteration; 4,000 iterations."
    ),
    game=SampledSpec,
    spec={},
    hparams=SampledHParams(),
    relaxed_gamma=SampledHParams().gamma,
)

PAIRWISE_HPARAMS = dict(sigma_start=0.3, sigma_end=0.3, beta=1.0, label_noise=0.1)
"""The numbers both pairwise presets change from paper-nn's: a constant spread of 0.3, so
that a pair's two outputs differ enough for a comparison to say something, and
Bradley-Terry labels of inverse temperature 1 with 10% of them flipped."""

PAIRWISE_LINEAR = Preset(
    description=(
        "paper-nn's game with comparisons: pairs of the policy's outputs, Bernoulli "
        "Bradley-Terry labels (beta = 1, 10% flipped), a linear reward model r_w(y) = w . y "
        "trained by Adam at 1e-2 on the logistic loss, the leash c = 0.05; 1,000 iterations."
    ),
    game=SampledSpec,
    spec=dict(reward_model="linear", data="pairs", steps=1000),
    hparams=SampledHParams(**PAIRWISE_HPARAMS, follower_lr=1e-2, action_cost=0.05),
    relaxed_gamma=SampledHParams().gamma,
)

PAIRWISE_NN = Preset(
    description=(
        "paper-nn's MLP reward model on pairs of the policy's outputs with Bernoulli "
        "Bradley-Terry labels (beta = 1, 10% flipped), the leash c = 0.003; 1,500 iterations."
    ),
    game=SampledSpec,
    spec=dict(data="pairs", steps=1500),
    hparams=SampledHParams(**PAIRWISE_HPARAMS, action_cost=0.003),
    relaxed_gamma=SampledHParams().gamma,
)

DEFAULT_PRESET = "paper-linear"
"""The preset a run uses unless told otherwise; outputs list what differs from it."""

PRESETS: dict[str, Preset] = {
    "paper-linear": PAPER_LINEAR,
    "population": POPULATION,
    "sycophancy": SYCOPHANCY,
    "paper-nn": PAPER_NN,
    "pairwise-linear": PAIRWISE_LINEAR,
    "pairwise-nn": PAIRWISE_NN,
}
"""Every preset of either game, by name."""

LINEAR_PRESETS = tuple(name for name, p in PRESETS.items() if not p.sampled)
"""The presets of the linear game (what ``toysim sweep`` and ``toysim animate`` run)."""
SAMPLED_PRESETS = tuple(name for name, p in PRESETS.items() if p.sampled)
"""The presets of the sampled-buffer game."""


class Recipe(NamedTuple):
    """A named sweep: ``python -m toysim sweep --recipe NAME``."""

    description: str
    preset: str
    method: str
    grid: tuple[str, ...]


RECIPES: dict[str, Recipe] = {
    "kl-leash": Recipe(
        description=(
            "RLHF's final utility against the action cost c, the KL "
            "leash, from 0.01 (too weak: drifts) to 3 (too strong: does not move)."
        ),
        preset="paper-linear",
        method="rlhf",
        grid=("c=log:0.01:3:25",),
    ),
}


def default_gamma(preset: Preset, spec: Spec, method: Method) -> float:
    """0 for RLHF, ``2 omega`` with the exact Hessian or a rung of the curvature ladder that
    stands for it, else (``H -> I``) the preset's published weight."""
    if not method.foresight:
        return 0.0
    if method.hessian != "identity":
        return 2.0 * spec.new_sample_weight
    return preset.relaxed_gamma


def build(
    preset: str,
    method: str | Method = "rlhf",
    *,
    gamma: float | None = None,
    steps: int | None = None,
    **switches: str | None,
) -> tuple[Spec, Numbers]:
    """``(spec, hparams)`` for ``preset`` run with ``method``, whichever game it is.

    Args:
      preset: a key of :data:`PRESETS`.
      method: a method name (see :data:`toysim.config.METHODS`) or a :class:`Method`.
      gamma: the steering weight; ``None`` takes :func:`default_gamma`.
      steps: the horizon ``T``; ``None`` keeps the preset's.
      **switches: ``hessian``, ``influence``, ``params``, ``oracle`` overrides.

    Raises:
      ConfigError: an unknown preset, method or switch value, or a nonzero ``gamma`` with
        ``rlhf``.
    """
    if preset not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}")
    p = PRESETS[preset]
    m = method if isinstance(method, Method) else method_from_name(method, **switches)
    if p.sampled and not isinstance(method, Method) and m.foresight:
        if switches.get("params") is None:  # the best response only when asked for
            m = dataclasses.replace(m, params="current")
    spec_fields = dict(p.spec, method=m)
    if steps is not None:
        spec_fields["steps"] = steps
    spec = p.game(**spec_fields)
    if gamma is not None and not m.foresight and gamma != 0:
        raise ConfigError(f"gamma must be 0 for rlhf (it has no steering term); got {gamma!r}")
    g = default_gamma(p, spec, m) if gamma is None else gamma
    return spec, p.hparams._replace(gamma=g)


def preset_differences(spec: Spec, hp: Numbers, preset: str = DEFAULT_PRESET) -> dict:
    """Every field of ``(spec, hp)`` that differs from ``preset`` (by default paper-linear)
    run with the same method and its default ``gamma``: ``{field: value}``
    (:func:`toysim.provenance.describe_differences`)."""
    return describe_differences(spec, hp, *build(preset, spec.method))


CHOICES = dict(
    leader=LEADERS, aggregate=AGGREGATES, regime=REGIMES, labels=LABELS, pairing=PAIRINGS
)
"""The allowed values of each named piece a run composes (``toysim run --leader`` ...)."""
EXPERT_DEFAULTS = dict(n=16.0, groups=8, step=0.1, point_spread=0.3)
"""Expert iteration's numbers unless told otherwise: the best of 16 draws in 8 groups, a tenth
of the way per iteration; a point policy samples with spread 0.3 (a Gaussian one with its
own ``sigma``)."""
STOP_DEFAULTS = StopParams(patience=3.0, every=10.0, label_noise=1.0)
"""The early-stopping rule unless told otherwise: a check every 10 iterations, each gold label
with noise of standard deviation 1, stop after 3 checks without a better gold estimate."""


def compose(
    spec: Spec,
    hp: Numbers,
    *,
    leader: str = "gradient",
    n: float | None = None,
    groups: int | None = None,
    spread: float | None = None,
    step: float | None = None,
    members: int = 1,
    aggregate: str = "mean",
    gold_budget: int = 0,
    stop: StopParams = STOP_DEFAULTS,
) -> tuple[Composition, CompositionParams]:
    """``(Composition, CompositionParams)``: the game ``(spec, hp)`` with a leader, a
    reward-model ensemble and early stopping (:mod:`toysim.game.composition`).

    Args:
      spec: the game's structure (from :func:`build`).
      hp: the game's numbers.
      leader: ``gradient`` (the game's ``method``) or ``expert`` (expert iteration).
      n: expert iteration's draws per group (``max_n`` is ``n``).
      groups: expert iteration's groups per iteration.
      spread: expert iteration's sampling spread (linear game only; the sampled-buffer game
        samples with its spread schedule).
      step: expert iteration's step toward the kept mean.
      members: the reward models of the ensemble (1: the single model).
      aggregate: how the members' rewards combine, ``mean`` or ``min``.
      gold_budget: early stopping's gold labels per check (0: none).
      stop: early stopping's rule.

    ``None`` for an expert number takes :data:`EXPERT_DEFAULTS` (a Gaussian policy's
    ``sigma`` as the spread).

    Raises:
      ConfigError: an expert number given with the gradient leader.
    """
    expert_numbers = dict(n=n, groups=groups, spread=spread, step=step)
    if leader != "expert":
        given = [name for name, value in expert_numbers.items() if value is not None]
        if given:
            raise ConfigError(f"{given[0]} is expert iteration's; it needs leader = expert")
    n = EXPERT_DEFAULTS["n"] if n is None else n
    groups = EXPERT_DEFAULTS["groups"] if groups is None else groups
    if not (math.isfinite(n) and n == int(n) and n >= 1):
        raise ConfigError(f"n must be an integer >= 1; got {n!r}")
    if spread is None:
        sigma = float(getattr(hp, "sigma", 0.0))
        spread = sigma if sigma > 0 else EXPERT_DEFAULTS["point_spread"]
    plan = Composition(
        spec,
        leader,
        max_n=int(n),
        groups=groups,
        members=members,
        aggregate=aggregate,
        gold_budget=gold_budget,
    )
    step = EXPERT_DEFAULTS["step"] if step is None else step
    return plan, CompositionParams(hp, stop, ExpertParams(float(n), float(spread), float(step)))
