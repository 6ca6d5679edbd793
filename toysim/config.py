"""Configuration: static game structure, traced hyperparameters, leader methods.

Structure that changes the compiled program (dimension, horizon, follower kind,
which relaxations are on) lives in the frozen, hashable :class:`LinearSpec`.
Every number a user may sweep lives in :class:`LinearHParams`, a NamedTuple of
scalars passed to the compiled trajectory as a traced argument, so a sweep
over any of them compiles once.

Every field is validated with an error naming the field and what is allowed.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import NamedTuple

import numpy as np

from toysim.rules import (
    HPARAM_READS,
    HPARAM_RULES,
    ConfigError,
    check_choice,
    check_int,
    check_numbers,
    check_read,
    check_steps,
    needs_solve,
)

CURVATURES = ("exact", "damped", "gauss-newton", "diagonal", "identity")
"""The rungs whose ``M`` is a matrix standing for ``H``, exact first (docs/theory/exact-fpo.md)."""
HESSIAN = (*CURVATURES, "neumann", "unrolled")
"""The ``hessian`` switch: the matrices, then the rungs truncated after ``Method.rung_steps``."""
INFLUENCE = ("global", "local")
PARAMS = ("optimum", "current")
ORACLE = ("true", "none")
SWITCHES = {"hessian": HESSIAN, "influence": INFLUENCE, "params": PARAMS, "oracle": ORACLE}
"""Each FPO switch and its allowed values, the exact choice first."""
FOLLOWERS = ("sgd", "best-response", "population")
ANCHORS = ("ridge", "proximal")
RECORDS = ("full", "scalars")
REGIMES = ("replace", "window", "accumulate")
"""The follower's data regimes: the newest block only, the last ``W`` blocks, every block."""


@dataclasses.dataclass(frozen=True)
class Method:
    """A leader method: myopic RLHF, or FPO with the four switches of docs/theory/relaxations.md.

    Attributes:
      name: a display name (``rlhf``, ``fpo-exact``, ... or ``fpo`` for a custom mix).
      foresight: False for myopic RLHF (no steering term at all).
      hessian: the curvature ``M`` in ``M^{-1} g`` (docs/theory/exact-fpo.md): ``exact``
        (the follower's Hessian ``H``), ``damped`` (``H + mu I``), ``gauss-newton``
        (``J^T J`` term plus the regulariser), ``diagonal`` (``diag H``; on a network by
        default the Gauss-Newton matrix's diagonal) or ``identity``; or a truncated rung:
        ``neumann`` (``H^{-1}`` by ``K`` terms of its Neumann series) or ``unrolled`` (the
        follower's response differentiated through ``K`` steps of its own optimizer).
      influence: ``global`` (``g_bar = E_pi[grad_phi r]``) or ``local`` (``grad_phi r(y)``).
      params: ``optimum`` (``phi*``, the follower's best response) or ``current`` (``phi_t``).
      oracle: ``true`` (``grad_phi l`` uses ``U(y)``) or ``none`` (``r - U`` -> 1).
      rung_steps: ``K >= 1`` of ``neumann`` (the series' terms) or ``unrolled`` (the
        follower's steps); unread by the other rungs.
    """

    name: str
    foresight: bool = True
    hessian: str = "exact"
    influence: str = "global"
    params: str = "optimum"
    oracle: str = "true"
    rung_steps: int = 20

    def validate(self) -> None:
        """Check each switch against its allowed values, ``rung_steps``, and that ``unrolled``
        has global influence and the oracle (its follower trains on the true labels).

        Raises:
            ConfigError: naming the first switch whose value is not allowed, and the choices.
        """
        for field, allowed in SWITCHES.items():
            check_choice(field, getattr(self, field), allowed)
        check_int("rung_steps", self.rung_steps, minimum=1)
        if self.hessian == "unrolled" and (self.influence, self.oracle) != ("global", "true"):
            raise ConfigError(
                "hessian = unrolled differentiates the follower's actual update (true labels) "
                "along the policy's fixed reward gradient: influence must be global and oracle "
                f"true; got influence {self.influence!r}, oracle {self.oracle!r}"
            )

    @property
    def is_exact(self) -> bool:
        """All four switches exact: the leader follows the true Stackelberg gradient."""
        return self.foresight and (self.hessian, self.influence, self.params, self.oracle) == (
            "exact",
            "global",
            "optimum",
            "true",
        )


METHODS: dict[str, Method] = {
    "rlhf": Method("rlhf", foresight=False, params="current"),
    "fpo-exact": Method("fpo-exact"),
    "fpo-relaxed": Method(
        "fpo-relaxed", hessian="identity", influence="local", params="current", oracle="true"
    ),
    "fpo-practical": Method(
        "fpo-practical", hessian="identity", influence="local", params="current", oracle="none"
    ),
    "fpo": Method("fpo"),
}


def method_from_name(
    name: str,
    *,
    hessian: str | None = None,
    influence: str | None = None,
    params: str | None = None,
    oracle: str | None = None,
    rung_steps: int | None = None,
) -> Method:
    """The named method, with any switch (or ``rung_steps``) given overriding the alias's value.

    An alias whose switches are overridden is renamed ``fpo`` (a custom mix).
    """
    check_choice("method", name, METHODS)
    base = METHODS[name]
    given = dict(hessian=hessian, influence=influence, params=params, oracle=oracle)
    overrides = {k: v for k, v in dict(given, rung_steps=rung_steps).items() if v is not None}
    if not overrides:
        base.validate()
        return base
    if not base.foresight:
        raise ConfigError(
            f"switches ({', '.join(overrides)}) apply to FPO methods only; "
            "rlhf has no steering term (use --method fpo)"
        )
    changed = {k: v for k, v in overrides.items() if getattr(base, k) != v}
    method = dataclasses.replace(base, name=base.name if not changed else "fpo", **overrides)
    method.validate()
    return method


@dataclasses.dataclass(frozen=True)
class LinearSpec:
    """The static structure of a game: changing any field recompiles.

    Attributes:
      dim: ``d``, the dimension of an output ``y``.
      signal_dims: ``k``, the number of leading coordinates the ideal ``m`` lives on.
      steps: ``T``, the number of (leader step, follower step) iterations.
      follower: ``sgd`` (K optax steps), ``best-response`` (exact minimiser of
        the buffer loss) or ``population`` (closed-form game, Gaussian policy).
      buffer_size: ``B``, how many recent samples the follower trains on under
        ``regime = window`` (1 = the newest only); each carries weight ``omega = 1/B``.
      follower_steps: ``K``, the optimizer steps per iteration of the ``sgd`` follower.
      anchor: ``ridge`` (``w_bar = 0``) or ``proximal`` (``w_bar = w_t``) in ``L``.
      method: the leader method.
      record: ``full`` records ``theta`` and ``w`` (``[T, d]`` each) beside the
        scalar metrics; ``scalars`` leaves them out (``None``), which keeps a
        large batch from being bound by writing ``2 T d`` numbers per run.
      probes: FPO methods whose steering direction ``-grad S`` is recorded at
        every state of this run (for comparing relaxations along one trajectory).
      biased_dims: how many noise coordinates (right after the signal block)
        the initial RM overrates by ``hp.rm_init_bias`` (0: none).
      regime: the buffer follower's data (:meth:`sample_weight`): ``window`` (the ``B``
        newest samples, each of weight ``1/B``), ``replace`` (the newest only: ``B = 1``)
        or ``accumulate`` (every sample of the run, each of weight ``1/t`` at iteration
        ``t``: the mean). The population follower has no buffer: ``window`` only.
    """

    dim: int
    signal_dims: int
    steps: int
    follower: str
    buffer_size: int
    follower_steps: int
    anchor: str
    method: Method
    record: str = "full"
    probes: tuple[Method, ...] = ()
    biased_dims: int = 0
    regime: str = "window"

    def __post_init__(self) -> None:
        integers_as_int(self)

    @property
    def policy(self) -> str:
        """``gaussian`` for the population follower, ``point`` otherwise."""
        return "gaussian" if self.follower == "population" else "point"

    @property
    def new_sample_weight(self) -> float:
        """``omega = omega_1``, the weight of the leader's newest data in the follower's ``L``
        at the first iteration (:meth:`sample_weight` of a buffer holding one sample).

        ``1/B`` for a buffer follower under ``window``, 1 under ``replace`` and
        ``accumulate``; 1 for the population follower, whose data is the whole policy
        distribution. ``gamma = 2 omega`` makes FPO's objective the exact Stackelberg
        gradient (docs/theory/stackelberg-gradient.md; the factor 2 because toysim's penalty
        is ``S = -I/2``, see ``toysim.game.leader``); under ``accumulate``, where the newest
        sample's weight falls to ``omega_t = 1/t``, the follower scales the steering term
        by ``omega_t / omega_1`` so that the same ``gamma`` stays exact at every iteration.
        """
        return self.sample_weight(1.0)

    def sample_weight(self, samples):
        """``omega_t``, the weight of each sample (the newest included) in the follower's
        ``L = sum_i omega_t l(w; y_i) + (lambda/2) ||w - w_bar||^2`` when its buffer holds
        ``samples`` samples.

        ``1/B`` under ``window``, fixed (also while the buffer fills, when the weights sum
        to less than 1); 1 under ``replace`` (``B = 1``); ``1/samples`` under
        ``accumulate`` (the mean over every sample so far, ``1/t`` at iteration ``t``); 1
        for the population follower. ``samples`` may be traced (a count in the float dtype).
        """
        if self.follower == "population" or self.regime == "replace":
            return 1.0
        if self.regime == "accumulate":
            return 1.0 / samples
        return 1.0 / self.buffer_size

    def validate(self) -> None:
        """Check every field (sizes, follower, recording, anchor, regime, method, bias) for
        consistency.

        Raises:
            ConfigError: naming the first invalid field and what is allowed.
        """
        check_int("dim", self.dim, minimum=2)
        check_steps(self.steps)
        check_int("follower_steps", self.follower_steps, minimum=1)
        if not isinstance(self.signal_dims, int) or not 1 <= self.signal_dims < self.dim:
            raise ConfigError(
                f"signal_dims must be an integer with 1 <= signal_dims < dim = {self.dim} "
                f"(at least one noise dimension); got {self.signal_dims!r}"
            )
        check_choice("follower", self.follower, FOLLOWERS)
        check_choice("record", self.record, RECORDS)
        check_choice("anchor", self.anchor, ANCHORS)
        check_choice("regime", self.regime, REGIMES)
        if self.follower == "population":
            if self.buffer_size != 0:
                raise ConfigError(
                    "buffer_size must be 0 for the population follower "
                    f"(it trains on the whole policy distribution); got {self.buffer_size!r}"
                )
            if self.regime != "window":
                raise ConfigError(
                    "regime must be window for the population follower (it has no buffer: "
                    f"it trains on the whole policy distribution); got {self.regime!r}"
                )
        else:
            check_int("buffer_size", self.buffer_size, minimum=1)
        self.method.validate()
        if not isinstance(self.biased_dims, int) or not (
            0 <= self.biased_dims <= self.dim - self.signal_dims
        ):
            raise ConfigError(
                f"biased_dims must be an integer in [0, dim - signal_dims = "
                f"{self.dim - self.signal_dims}]; got {self.biased_dims!r}"
            )
        for probe in self.probes:
            if not isinstance(probe, Method) or not probe.foresight:
                raise ConfigError(
                    f"probes must be FPO methods (with a steering term); got {probe!r}"
                )
            probe.validate()
        for method in (self.method, *self.probes):
            if method.foresight and method.hessian == "unrolled" and self.follower != "sgd":
                raise ConfigError(
                    "follower must be sgd with hessian = unrolled (it unrolls the follower's "
                    f"own optimizer steps; the {self.follower} follower takes none); "
                    f"got {self.follower!r}"
                )


class LinearHParams(NamedTuple):
    """Every number a user may sweep; each a scalar (or, in a sweep, an array).

    Attributes:
      amplitude: ``A > 0`` in ``U``.
      tau: ``tau > 0`` in ``U``.
      ideal_value: the value of ``m`` on each of the ``k`` signal coordinates.
      action_cost: ``c >= 0``, the KL leash ``c E||y||^2``.
      gamma: ``gamma >= 0``, the weight of the steering penalty ``S``.
      leader_lr: the leader's gradient-ascent step size, ``>= 0``.
      follower_lr: the follower's step size ``eta``, ``>= 0`` (sgd follower).
      weight_decay: the decoupled weight decay per step, in ``[0, 1)`` (sgd follower).
      lam: ``lambda`` in the follower's anchor term; ``> 0`` where a solve is needed.
      sigma: the Gaussian policy's spread (0 for a point policy).
      rm_init_signal: the initial RM weight on each signal coordinate.
      rm_init_noise: the standard deviation of the initial RM's Gaussian perturbation.
      rm_init_bias: the initial RM weight on each of the ``spec.biased_dims``
        noise coordinates after the signal block (the sycophancy preset: biased
        preference data makes the RM overrate a few features humans do not value).
      damping: ``mu >= 0`` of the ``damped`` curvature ``H + mu I`` (the linear
        follower's ``H`` has smallest eigenvalue at least ``lambda > 0``, so any
        ``mu >= 0`` keeps it positive definite).
    """

    amplitude: float
    tau: float
    ideal_value: float
    action_cost: float
    gamma: float
    leader_lr: float
    follower_lr: float
    weight_decay: float
    lam: float
    sigma: float
    rm_init_signal: float
    rm_init_noise: float
    rm_init_bias: float = 0.0
    damping: float = 0.0

    def validate(self, spec: LinearSpec) -> None:
        """Check every number against :data:`toysim.rules.HPARAM_RULES` (finite, in range;
        arrays element by element), ``sigma = 0`` for a point policy, and ``lambda > 0``
        wherever the game solves with ``H`` (:func:`toysim.rules.needs_solve`).

        Raises:
            ConfigError: naming the first bad field, what is allowed and the value.
        """
        lam = np.asarray(self.lam, dtype=float)
        if needs_solve(spec) and np.any(lam <= 0):
            raise ConfigError(
                f"lam must be > 0 with follower {spec.follower!r} and method "
                f"{spec.method.name!r}; got {float(lam.ravel()[np.argmax(lam.ravel() <= 0)])!r}. "
                "The best response phi* and the Hessian solve exist only if the follower's loss "
                "is strongly convex, which lambda > 0 guarantees for the linear reward model "
                "(docs/theory/game.md)."
            )
        check_numbers(self, HPARAM_RULES)
        if spec.policy == "point" and np.any(np.asarray(self.sigma) != 0):
            raise ConfigError(
                f"sigma must be 0 for the point policy of the {spec.follower!r} follower; "
                f"got {float(np.ravel(self.sigma)[np.flatnonzero(np.ravel(self.sigma))[0]])!r}"
            )

    @staticmethod
    def check_read(spec: LinearSpec, names) -> None:
        """Refuse varying (a sweep's grid) a field the game of ``spec`` never reads
        (:data:`toysim.rules.HPARAM_READS`), e.g. ``gamma`` with ``rlhf``.

        Raises:
            ConfigError: naming the field, what reads it and the fields this game reads.
        """
        check_read(spec, names, LinearHParams._fields, HPARAM_READS)


def as_float_arrays(params):
    """The same NamedTuple of numbers with every field a JAX array of the default float dtype
    (what a compiled trajectory receives, whether the numbers were Python floats or a sweep)."""
    import jax.numpy as jnp

    return type(params)(*(jnp.asarray(x, dtype=jnp.result_type(float)) for x in params))


def integers_as_int(spec: object) -> None:
    """Replace each NumPy integer field (or tuple of them) of the frozen dataclass ``spec`` by
    the Python int, so that ``numpy.int64(300)`` steps are accepted, hash and print as 300."""

    def as_int(value):
        if isinstance(value, numbers.Integral) and not isinstance(value, bool | int):
            return int(value)
        if isinstance(value, tuple):
            return tuple(as_int(v) for v in value)
        return value

    for field in dataclasses.fields(spec):
        object.__setattr__(spec, field.name, as_int(getattr(spec, field.name)))


def validate(spec: LinearSpec, hparams: LinearHParams) -> None:
    """Check every field: ``spec.validate()``, then ``hparams.validate(spec)``.

    The one check of a game before it runs: the linear game's :class:`LinearSpec` and
    :class:`LinearHParams`, or any other game's spec and hyperparameters (the sampled-buffer
    game's, a :class:`~toysim.game.composition.Composition`'s) with the same two methods.
    ``hparams`` fields may be arrays (a sweep): every element is checked.

    Raises:
      ConfigError: naming the first bad field and what is allowed.
    """
    spec.validate()
    hparams.validate(spec)
