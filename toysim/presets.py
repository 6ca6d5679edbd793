"""Named settings: ``paper-linear``, ``population``, ``sycophancy`` (docs/settings.md).

``build(preset, method, ...)`` returns the ``(GameSpec, HParams)`` pair a run needs.

Default ``gamma`` (the weight of the steering penalty ``S``):

* ``rlhf``: 0 (no steering term);
* exact Hessian (``fpo-exact``, or any mix with ``hessian=exact``):
  ``2 omega``, the weight that makes FPO's objective the exact Stackelberg
  gradient (``omega`` = weight of the new data in ``L``; see ``toysim.game.leader``);
* identity Hessian (``fpo-relaxed``, ``fpo-practical``, other mixes): the
  preset's published weight (0.1 in the linear toy), because with ``H -> I``
  the scale of ``H^{-1}`` has to go into ``gamma``.
"""

from __future__ import annotations

from typing import NamedTuple

from toysim.config import ConfigError, GameSpec, HParams, Method, method_from_name


class Preset(NamedTuple):
    """A named setting: its static structure, its numbers, the published FPO weight."""

    description: str
    spec: dict
    hparams: HParams
    relaxed_gamma: float


PAPER_LINEAR = Preset(
    description=(
        "The published linear toy: d = 50, k = 3, point policy from 0, linear RM, one SGD "
        "step per iteration on the newest point (lr 0.005, decoupled decay 1e-4). "
        "Exact L: squared error on the newest point + proximal (1/(2 eta))||w - w_t||^2, "
        "so lambda = 1/eta = 200 and omega = 1."
    ),
    spec=dict(
        dim=50,
        signal_dims=3,
        steps=300,
        follower="sgd",
        buffer_size=1,
        follower_steps=1,
        anchor="proximal",
    ),
    hparams=HParams(
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
    spec=dict(PAPER_LINEAR.spec, biased_dims=2),
    hparams=PAPER_LINEAR.hparams._replace(rm_init_bias=0.5),
    relaxed_gamma=PAPER_LINEAR.relaxed_gamma,
)

PRESETS: dict[str, Preset] = {
    "paper-linear": PAPER_LINEAR,
    "population": POPULATION,
    "sycophancy": SYCOPHANCY,
}


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


def default_gamma(preset: Preset, spec: GameSpec, method: Method) -> float:
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
) -> tuple[GameSpec, HParams]:
    """``(spec, hparams)`` for ``preset`` run with ``method``.

    Args:
      preset: a key of :data:`PRESETS`.
      method: a method name (see :data:`toysim.config.METHODS`) or a :class:`Method`.
      gamma: the steering weight; ``None`` takes :func:`default_gamma`.
      steps: the horizon ``T``; ``None`` keeps the preset's.
      **switches: ``hessian``, ``influence``, ``params``, ``oracle`` overrides.
    """
    if preset not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}")
    p = PRESETS[preset]
    m = method if isinstance(method, Method) else method_from_name(method, **switches)
    spec_fields = dict(p.spec, method=m)
    if steps is not None:
        spec_fields["steps"] = steps
    spec = GameSpec(**spec_fields)
    if gamma is not None and not m.foresight and gamma != 0:
        raise ConfigError(f"gamma must be 0 for rlhf (it has no steering term); got {gamma!r}")
    g = default_gamma(p, spec, m) if gamma is None else gamma
    return spec, p.hparams._replace(gamma=g)
