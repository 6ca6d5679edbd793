"""The sampled-buffer game's configuration and its data: points or pairs, one block a step.

:class:`SampledSpec` (static structure) and :class:`SampledHParams` (traced
numbers) configure the loop of :func:`toysim.game.sampled_round.sampled_trajectory`
(paper-nn and the pairwise presets, docs/theory/neural.md and
docs/theory/pairwise.md); :func:`network_model` builds its reward model,
:func:`block_labels` labels the block of samples the policy emits each
iteration and :func:`leader_reward` is the reward the leader climbs;
:func:`initial_reward_params`, :func:`sampled_buffer` and :func:`policy_block` are the
start of the reward model, its empty buffer and the block of data the policy emits, shared
by every leader of the game (:mod:`toysim.game.sampled_round`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import DTypeLike

from toysim import linalg
from toysim.config import REGIMES, ConfigError, Method, check_steps, integers_as_int
from toysim.game.candidates import check_candidates, choose, draw_candidates
from toysim.game.curvature import CurvatureOptions
from toysim.game.followers import SampleBuffer, empty_buffer, regime_blocks
from toysim.model.interface import (
    RewardModel,
    RewardParams,
    linear_reward_model,
    mlp_reward_model,
)
from toysim.model.preference import preference_probability, sample_labels
from toysim.model.sampling import standard_normal
from toysim.model.utility import Utility, utility
from toysim.rules import (
    NEURAL_HPARAM_READS,
    NEURAL_HPARAM_RULES,
    check_choice,
    check_numbers,
    check_read,
)

REWARD_MODELS = ("mlp", "linear")
DATA_KINDS = ("points", "pairs")
LABELS = ("sampled", "expected")
PAIRINGS = ("policy", "reference")
"""What a pair compares: two outputs of the policy, or the policy's output and a reference
drawn from the frozen initial policy (the pairing of the published language-model pipeline)."""


@dataclasses.dataclass(frozen=True)
class SampledSpec:
    """Static structure of the neural game (changing a field recompiles).

    Attributes:
      dim, signal_dims: ``d`` and the number of coordinates ``m`` lives on.
      hidden: hidden layer widths of the MLP reward model.
      steps: outer iterations ``T``.
      inner_steps: leader steps per outer iteration.
      buffer_size, samples_per_step: the follower's buffer and how many new
        samples enter it per outer iteration (``buffer_size`` a multiple of it).
      method: the leader method; ``params = optimum`` (``phi_s`` the follower's best
        response on its buffer, :mod:`toysim.game.optimum`) only with the linear reward model.
      solver: the solver of the curvature rung's system, a :mod:`toysim.linalg` solver
        (``CG``, ``MINRES``, ``LU`` or ``Cholesky``), or ``None`` for the rung's default
        (:data:`toysim.game.curvature.DEFAULT_SOLVERS`: MINRES for ``exact``, CG for
        ``damped``, both at relative tolerance ``1e-6``; direct for the others).
      curvature: how the rungs are built (:class:`toysim.game.curvature.CurvatureOptions`:
        spectral or fixed damping, Lanczos steps, the diagonal rung's Gauss-Newton or
        Hutchinson diagonal, Hutchinson probes, warm starts).
      record_state: also record the RM parameters and buffer at every iteration.
      reward_model: ``mlp`` (``hidden`` layers) or ``linear`` (``r_w(y) = w . y``).
      data: ``points`` (outputs labelled ``U(y)``, squared error) or ``pairs``
        (two outputs of the policy, a Bradley-Terry label, the logistic loss;
        docs/theory/pairwise.md).
      labels: for pairs, ``sampled`` (Bernoulli labels) or ``expected`` (the
        label's probability: the label noise in expectation).
      pairing: for pairs, ``policy`` (both outputs drawn from the current policy) or
        ``reference`` (the policy's output against a reference drawn from the frozen initial
        policy ``N(0, sigma_start^2 I)``; :func:`policy_outputs`).
      candidates: ``n``, each reference pair's own output the best of ``n`` draws of the policy
        by the current reward model, leader's and follower's (:mod:`toysim.game.candidates`).
      regime: the follower's data: ``replace`` (the newest block only),
        ``window`` (the last ``buffer_size / samples_per_step`` blocks) or
        ``accumulate`` (every block of the run).
    """

    dim: int = 10
    signal_dims: int = 2
    hidden: tuple[int, ...] = (32, 32)
    steps: int = 4000
    inner_steps: int = 15
    buffer_size: int = 50
    samples_per_step: int = 5
    method: Method = Method("rlhf", foresight=False, params="current")
    solver: linalg.Solver | None = None
    curvature: CurvatureOptions = CurvatureOptions()
    record_state: bool = False
    reward_model: str = "mlp"
    data: str = "points"
    labels: str = "sampled"
    regime: str = "window"
    pairing: str = "policy"
    candidates: int = 1

    def __post_init__(self) -> None:
        integers_as_int(self)

    @property
    def new_sample_weight(self) -> float:
        """``omega = samples_per_step / buffer_size``, the weight of one iteration's new
        samples in the follower's buffer loss; ``gamma = 2 omega`` is the exact weight."""
        return self.samples_per_step / self.buffer_size

    @property
    def against_reference(self) -> bool:
        """Whether each pair is the policy's output against a reference from the frozen initial
        policy (``data = pairs``, ``pairing = reference``): the second output of a pair then
        neither moves with ``theta`` nor counts in the leader's reward."""
        return self.data == "pairs" and self.pairing == "reference"

    def validate(self) -> None:
        """Check the sizes, the buffer, the solver and the method (``params = current`` for the
        MLP).

        Raises:
            ConfigError: naming the first invalid field and what is allowed.
        """
        for field in (
            "dim",
            "steps",
            "inner_steps",
            "buffer_size",
            "samples_per_step",
            "candidates",
        ):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{field} must be an integer >= 1; got {value!r}")
        check_steps(self.steps)
        if not 1 <= self.signal_dims < self.dim:
            raise ConfigError(
                f"signal_dims must be an integer with 1 <= signal_dims < dim = {self.dim}; "
                f"got {self.signal_dims!r}"
            )
        if self.buffer_size % self.samples_per_step:
            raise ConfigError(
                f"buffer_size must be a multiple of samples_per_step = {self.samples_per_step}; "
                f"got {self.buffer_size!r}"
            )
        choices = dict(reward_model=REWARD_MODELS, data=DATA_KINDS, labels=LABELS, regime=REGIMES)
        for field, allowed in dict(choices, pairing=PAIRINGS).items():
            check_choice(field, getattr(self, field), allowed)
        if self.pairing != "policy" and self.data != "pairs":
            raise ConfigError(
                f"pairing must be policy with data = points (a point has no pair); got "
                f"{self.pairing!r}"
            )
        check_candidates(self)
        self.method.validate()
        self.curvature.validate()
        solvers = (linalg.CG, linalg.MINRES, linalg.LU, linalg.Cholesky, linalg.Neumann)
        if self.solver is not None and not isinstance(self.solver, solvers):
            raise ConfigError(
                "solver must be a toysim.linalg solver: CG, MINRES, LU, Cholesky or Neumann (the "
                f"identity is the relaxation hessian = identity); got {self.solver!r}"
            )
        own = {"neumann": "None or a Neumann", "unrolled": "None"}.get(self.method.hessian)
        neumann = own == "None or a Neumann" and isinstance(self.solver, linalg.Neumann)
        if own and not (self.solver is None or neumann):
            raise ConfigError(
                f"solver must be {own} with hessian = {self.method.hessian} (the rung brings "
                f"its own, of K = method.rung_steps); got {self.solver!r}"
            )
        if self.reward_model == "mlp" and self.method.params != "current":
            raise ConfigError(
                "params must be current with reward_model = mlp: a non-convex RM has no unique "
                f"best response phi* to evaluate at (the linear one has); got "
                f"{self.method.params!r} (method {self.method.name!r})"
            )
        if self.data == "pairs" and self.method.foresight and self.method.hessian == "gauss-newton":
            raise ConfigError(
                "hessian must be exact, damped, diagonal, identity, neumann or unrolled with "
                "data = pairs: the Gauss-Newton rung is the squared loss's "
                "(docs/theory/pairwise.md); got 'gauss-newton'"
            )
        gauss_newton_diagonal = self.method.hessian == "diagonal" and (
            self.curvature.diagonal == "gauss-newton"
        )
        if self.data == "pairs" and self.method.foresight and gauss_newton_diagonal:
            raise ConfigError(
                "curvature.diagonal must be auto or hutchinson with data = pairs and hessian "
                "= diagonal: the Gauss-Newton diagonal is the squared loss's; got 'gauss-newton'"
            )


class SampledHParams(NamedTuple):
    """The neural game's numbers (all traced: a sweep over them compiles once).

    Attributes:
      amplitude, tau, ideal_value: ``U = A exp(-tau ||y - m||^2)``, ``m = v`` on the signal dims.
      action_cost: ``c`` in ``F``.
      gamma: the steering weight.
      sigma_start, sigma_end: the policy's spread schedule.
      lr_start, lr_end: the leader's step-size schedule.
      follower_lr: Adam's learning rate.
      weight_decay: L2 weight decay added to the follower's gradient.
      clip: the leader's gradient is clipped to ``[-clip, clip]`` per coordinate.
      init_scale: standard deviation of the RM's initial weights.
      damping: for ``hessian = damped``, ``mu`` in ``H + mu I`` (``spec.curvature.damping
        = fixed``) or the margin of ``mu = max(margin - lambda_min, 0)`` (``spectral``).
        The undamped ``H`` is indefinite along paper-nn runs (docs/theory/neural.md
        gives its spectrum): with a fixed ``mu = 1`` CG converged on 81% of iterations
        over seeds 0-15 (``toysim reproduce --neural --seeds 16``).
      beta, label_noise: the pairs' labeller, Bradley-Terry on ``U`` with inverse
        temperature ``beta``, each label flipped with probability ``label_noise``.
    """

    amplitude: float = 10.0
    tau: float = 0.2
    ideal_value: float = 2.5
    action_cost: float = 0.01
    gamma: float = 0.005
    sigma_start: float = 0.1
    sigma_end: float = 0.001
    lr_start: float = 0.05
    lr_end: float = 0.001
    follower_lr: float = 1e-3
    weight_decay: float = 1e-3
    clip: float = 1.0
    init_scale: float = 0.1
    damping: float = 1.0
    beta: float = 1.0
    label_noise: float = 0.0

    def validate(self, spec: SampledSpec) -> None:
        """Check every number against :data:`toysim.rules.NEURAL_HPARAM_RULES` (finite, in
        range), ``weight_decay > 0`` with ``params = optimum`` and ``gamma = 0`` for rlhf.

        Raises:
            ConfigError: naming the first bad field, what is allowed and the value.
        """
        check_numbers(self, NEURAL_HPARAM_RULES)
        decay = np.asarray(self.weight_decay, dtype=float)
        if spec.method.params == "optimum" and np.any(decay <= 0):
            raise ConfigError(
                "weight_decay must be > 0 with params = optimum: the L2 term makes the linear "
                "reward model's loss strictly convex, so that its best response is unique; got "
                f"{float(decay.ravel()[np.argmax(decay.ravel() <= 0)])!r}"
            )
        if not spec.method.foresight and np.any(np.asarray(self.gamma) != 0):
            raise ConfigError(f"gamma must be 0 for rlhf (no steering term); got {self.gamma!r}")

    @staticmethod
    def check_read(spec: SampledSpec, names) -> None:
        """Refuse varying (a sweep's grid) a field the game of ``spec`` never reads
        (:data:`toysim.rules.NEURAL_HPARAM_READS`), e.g. ``beta`` without pairs.

        Raises:
            ConfigError: naming the field, what reads it and the fields this game reads.
        """
        check_read(spec, names, SampledHParams._fields, NEURAL_HPARAM_READS)


def neural_utility(spec: SampledSpec, hp: SampledHParams) -> Utility:
    """``U`` with ``m = v`` on the first ``k`` coordinates."""
    signal_mask = (jnp.arange(spec.dim) < spec.signal_dims).astype(jnp.result_type(float))
    return Utility(hp.amplitude, hp.tau, hp.ideal_value * signal_mask)


def schedule(start: Array, end: Array, t: Array, steps: int) -> Array:
    """``end + (start - end) (1 - (t/T)^4)``."""
    return end + (start - end) * (1.0 - (t / steps) ** 4)


def network_model(spec: SampledSpec) -> RewardModel:
    """The pointwise reward model of ``spec`` (unit-scale initial weights): the MLP
    ``d -> hidden -> 1``, or the linear ``r_w(y) = w . y``."""
    if spec.reward_model == "linear":
        return linear_reward_model(spec.dim)
    return mlp_reward_model((spec.dim, *spec.hidden, 1))


def policy_outputs(
    spec: SampledSpec, hp: SampledHParams, theta: Array, sigma: Array, eps: Array
) -> Array:
    """``y = theta + sigma eps``: the policy's outputs for standard normal ``eps`` (``[..., d]``
    points or ``[..., 2, d]`` pairs). With ``pairing = reference`` the second output of each
    pair is instead the reference ``y_ref = sigma_start eps_1``, a draw of the frozen initial
    policy ``N(0, sigma_start^2 I)`` that does not move with ``theta``."""
    y = theta + sigma * eps
    if spec.against_reference:
        y = y.at[..., 1, :].set(hp.sigma_start * eps[..., 1, :])
    return y


def own_outputs(spec: SampledSpec, y: Array) -> Array:
    """The outputs of ``y`` (:func:`policy_outputs`) whose reward the leader climbs: all of
    them, or with ``pairing = reference`` the first of each pair (not the reference)."""
    return y[..., 0, :] if spec.against_reference else y


def leader_reward(model: RewardModel, phi: RewardParams, y: Array, action_cost: Array) -> Array:
    """``r_phi(y) - c ||y||^2`` for an output ``y``; its mean over the two outputs of a pair."""
    if y.ndim == 1:
        return model.reward(phi, y) - action_cost * y @ y
    return jnp.mean(model.reward(phi, y) - action_cost * jnp.sum(y * y, axis=-1))


def leader_objective(
    spec: SampledSpec,
    hp: SampledHParams,
    model: RewardModel,
    phi: RewardParams,
    penalty: Callable[[Array], Array],
    score: Callable[[Array], Array],
    sigma: Array,
) -> Callable[[Array, tuple[Array, Array | None]], Array]:
    """``(theta, (eps, candidates)) -> F = r_phi(y) - c ||y||^2 - gamma S(y)``: the gradient
    leader's objective on one sample ``y`` (:func:`policy_outputs` of ``eps``; a pair's own
    output the best of ``candidates`` by ``score``, :func:`toysim.game.candidates.choose`),
    its reward :func:`leader_reward` of :func:`own_outputs` and ``S`` the ``penalty``."""

    def objective(theta: Array, draws: tuple[Array, Array | None]) -> Array:
        y = policy_outputs(spec, hp, theta, sigma, choose(score, theta, sigma, *draws))
        reward = leader_reward(model, phi, own_outputs(spec, y), hp.action_cost)
        return reward - hp.gamma * penalty(y)

    return objective


def expected_labels(spec: SampledSpec, hp: SampledHParams, u: Utility, y: Array) -> Array:
    """``U(y)`` for points; for pairs the Bradley-Terry probability that the first is
    preferred: each label's expected value, a differentiable function of ``y``."""
    values = utility(u, y)
    if spec.data == "points":
        return values
    return preference_probability(values[..., 0], values[..., 1], hp.beta, hp.label_noise)


def block_labels(spec: SampledSpec, hp: SampledHParams, u: Utility, y: Array, key: Array) -> Array:
    """The labels of one block: :func:`expected_labels`, or for pairs under ``labels =
    sampled`` a Bernoulli draw of each from ``key``."""
    p = expected_labels(spec, hp, u, y)
    return sample_labels(key, p) if spec.data == "pairs" and spec.labels == "sampled" else p


def initial_reward_params(
    model: RewardModel, hp: SampledHParams, key: Array, dtype: DTypeLike
) -> RewardParams:
    """``phi_0 = init_scale * model.init(key)``: the reward model a run starts from, in
    ``dtype``; ``hp.init_scale`` scales every parameter of ``model`` (:func:`network_model`,
    unit-scale initial weights; the MLP's biases start at 0)."""
    return jax.tree.map(lambda x: hp.init_scale * x, model.init(key, dtype))


def sampled_buffer(spec: SampledSpec, dtype: DTypeLike) -> SampleBuffer:
    """The follower's empty buffer: :func:`~toysim.game.followers.regime_blocks` of
    ``spec.regime`` (a window of ``buffer_size / samples_per_step`` blocks, one block, or
    all ``steps``) blocks of ``samples_per_step`` samples, pairs with ``data = pairs``."""
    window = spec.buffer_size // spec.samples_per_step
    blocks = regime_blocks(spec.regime, window, spec.steps)
    return empty_buffer(blocks, spec.dim, dtype, spec.samples_per_step, spec.data == "pairs")


def policy_block(
    spec: SampledSpec,
    hp: SampledHParams,
    u: Utility,
    theta: Array,
    sigma: Array,
    sample_key: Array,
    label_key: Array,
    score: Callable[[Array], Array] | None = None,
) -> tuple[Array, Array]:
    """``(y, labels)``: :func:`policy_outputs` for the ``samples_per_step`` new samples of one
    iteration (``[n, d]``, or pairs ``[n, 2, d]`` with ``data = pairs``) and their
    :func:`block_labels`; each pair's own output the best of ``candidates`` by ``score``.

    Args:
      spec: the game's structure (``dim``, ``samples_per_step``, ``data``, ``labels``).
      hp: the game's numbers (the pairs' labeller).
      u: the utility that labels the samples.
      theta: the policy's mean, ``[d]``.
      sigma: the policy's spread.
      sample_key: the ``jax.random`` key of ``eps``.
      label_key: the key of the Bernoulli labels of pairs (unused for points).
      score: the current reward model's score of outputs (needed with ``candidates > 1``).
    """
    pair = (2,) if spec.data == "pairs" else ()
    shape = (spec.samples_per_step, *pair, spec.dim)
    eps = standard_normal(sample_key, shape, jnp.result_type(float))
    candidates = draw_candidates(sample_key, eps, spec.candidates)
    y = policy_outputs(spec, hp, theta, sigma, choose(score, theta, sigma, eps, candidates))
    return y, block_labels(spec, hp, u, y, label_key)
