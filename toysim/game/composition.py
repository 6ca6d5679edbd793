"""A game with its leader and mitigations composed: the pieces either game's loop plugs in.

A :class:`Composition` wraps a game's structure (the linear game's
:class:`~toysim.config.LinearSpec` or the sampled-buffer game's
:class:`~toysim.game.sampled.SampledSpec`) with

* the **leader**: ``gradient``, the game's own gradient leader running ``game.method``
  (rlhf or FPO with its switches and curvature rung), or ``expert``, expert iteration
  (best-of-n as a leader, :func:`toysim.game.best_of_n.expert_move`);
* a **reward-model ensemble** of ``members`` models aggregated by ``mean`` or ``min``
  (:mod:`toysim.model.ensemble`; one member is the single model);
* **early stopping** on a gold budget of ``gold_budget`` labels per check
  (:mod:`toysim.game.early_stop`; 0: none).

Its numbers are a :class:`CompositionParams`: the game's, the stopping rule's and the expert's,
all traced. :func:`toysim.game.trajectory.make_trajectory` runs one, of either game.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from toysim.config import ConfigError, LinearHParams, LinearSpec, Method
from toysim.game.early_stop import StopParams
from toysim.game.sampled import SampledHParams, SampledSpec
from toysim.model.ensemble import AGGREGATES

LEADERS = ("gradient", "expert")
"""The leaders: the game's gradient leader (its ``method``), or expert iteration."""
NO_STOP = StopParams(patience=float("inf"), every=1.0, label_noise=0.0)
"""A stopping rule that never stops (the numbers of a composition without early stopping)."""
MAX_DRAWS = 2**26
"""The most numbers one iteration may draw: expert iteration's ``max_n x groups x dim``, and
early stopping's ``gold_budget x dim`` at a check."""
MAX_MEMBERS = 1024
"""The most reward models an ensemble may hold (each member's start is built at trace time)."""


class ExpertParams(NamedTuple):
    """Expert iteration's numbers (traced: a sweep over ``n`` compiles once).

    Attributes:
      n: draws per group, an integer in ``[1, max_n]``.
      spread: ``s``, the standard deviation the policy samples with in the linear game
        (``> 0``; the sampled-buffer game samples with its own spread schedule).
      step: ``lr`` in ``theta += lr (mean(y_best) - theta)``, in ``[0, 1]``.
    """

    n: float = 1.0
    spread: float = 1.0
    step: float = 0.0


@dataclasses.dataclass(frozen=True)
class Composition:
    """A game, its leader and its mitigations (static: changing a field recompiles).

    Attributes:
      game: the game's structure; its ``method`` is the gradient leader's.
      leader: ``gradient`` or ``expert`` (:data:`LEADERS`).
      max_n: expert iteration's draws per group (the traced ``n`` uses the first ``n``).
      groups: expert iteration's groups of ``n`` per iteration, whose kept outputs are averaged.
      members: ``k >= 1``, the reward models in the ensemble (1: the single model).
      aggregate: ``mean`` or ``min`` over the members' rewards.
      gold_budget: ``b``, gold labels per early-stopping check (0: no early stopping).
    """

    game: LinearSpec | SampledSpec
    leader: str = "gradient"
    max_n: int = 64
    groups: int = 16
    members: int = 1
    aggregate: str = "mean"
    gold_budget: int = 0

    @property
    def steps(self) -> int:
        """``T``, the iterations (the game's)."""
        return self.game.steps

    @property
    def method(self) -> Method:
        """The leader's method: the game's, or ``best-of-n`` for expert iteration."""
        if self.leader == "expert":
            return Method("best-of-n", foresight=False, params="current")
        return self.game.method

    def validate(self) -> None:
        """Check the game, then each field; refuse the combinations that do not exist.

        Raises:
          ConfigError: naming the first invalid field and what is allowed.
        """
        self.game.validate()
        if self.leader not in LEADERS:
            raise ConfigError(f"leader must be one of {', '.join(LEADERS)}; got {self.leader!r}")
        for field, minimum in (("max_n", 1), ("groups", 1), ("members", 1), ("gold_budget", 0)):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ConfigError(f"{field} must be an integer >= {minimum}; got {value!r}")
        if self.members > MAX_MEMBERS:
            raise ConfigError(f"members must be at most {MAX_MEMBERS}; got {self.members}")
        dim = self.game.dim
        if self.leader == "expert" and self.max_n * self.groups * dim > MAX_DRAWS:
            raise ConfigError(
                f"n x groups x dim must be at most 2**26 (the draws one iteration holds); got "
                f"{self.max_n} x {self.groups} x {dim}"
            )
        if self.gold_budget * dim > MAX_DRAWS:
            raise ConfigError(
                f"gold_budget x dim must be at most 2**26 (the draws one check holds); got "
                f"{self.gold_budget} x {dim}"
            )
        if self.leader == "expert" and getattr(self.game, "candidates", 1) > 1:
            raise ConfigError(
                "candidates must be 1 with leader = expert (expert iteration keeps its own best "
                f"of n draws); got {self.game.candidates}"
            )
        if self.aggregate not in AGGREGATES:
            raise ConfigError(
                f"aggregate must be one of {', '.join(AGGREGATES)}; got {self.aggregate!r}"
            )
        steers = self.leader == "gradient" and self.game.method.foresight
        if isinstance(self.game, SampledSpec) and self.members > 1 and steers:
            raise ConfigError(
                f"members must be 1 with a foresight method (the sampled-buffer ensemble has no "
                f"steering term); got members = {self.members} with method "
                f"{self.game.method.name!r}"
            )


def game_of(spec: LinearSpec | SampledSpec | Composition) -> LinearSpec | SampledSpec:
    """The game of ``spec``: a composition's, or ``spec`` itself."""
    return spec.game if isinstance(spec, Composition) else spec


def with_steps(spec: LinearSpec | SampledSpec | Composition, steps: int):
    """``spec`` (a game or a composition of one) with the horizon ``T = steps``."""
    if isinstance(spec, Composition):
        return dataclasses.replace(spec, game=dataclasses.replace(spec.game, steps=steps))
    return dataclasses.replace(spec, steps=steps)


def scalar_records(spec: LinearSpec | SampledSpec | Composition):
    """``spec`` (a game or a composition of one) recording only what a run's summary reads:
    the linear game's scalars (``record = "scalars"``, no probes), the sampled-buffer game
    without its per-iteration state (``record_state = False``)."""
    if isinstance(spec, Composition):
        return dataclasses.replace(spec, game=scalar_records(spec.game))
    if isinstance(spec, SampledSpec):
        return dataclasses.replace(spec, record_state=False)
    return dataclasses.replace(spec, record="scalars", probes=())


def whole(x: np.ndarray) -> np.ndarray:
    """Where ``x`` is a whole number or infinite (NaN is not)."""
    with np.errstate(invalid="ignore"):
        return np.isinf(x) | (np.round(x) == x)


class CompositionParams(NamedTuple):
    """A composition's numbers (all traced).

    Attributes:
      game: the game's :class:`~toysim.config.LinearHParams` or
        :class:`~toysim.game.sampled.SampledHParams`.
      stop: the early-stopping rule (unused when ``gold_budget = 0``).
      expert: expert iteration's numbers (unused by the gradient leader).
    """

    game: LinearHParams | SampledHParams
    stop: StopParams = NO_STOP
    expert: ExpertParams = ExpertParams()

    def validate(self, spec: Composition) -> None:
        """The game's numbers, then the stopping rule's (``patience`` a whole number of
        checks, ``inf`` never stops; ``every`` a whole number of iterations ``>= 1``;
        ``label_noise >= 0``), then the expert's (``n`` an integer in
        ``[1, max_n]``, ``spread > 0`` in the linear game, ``step`` in ``[0, 1]``).

        Raises:
          ConfigError: naming the first bad field, what is allowed and the value.
        """
        self.game.validate(spec.game)
        patience, every, noise = (np.asarray(v, dtype=float) for v in self.stop)
        checks = [
            ("patience", patience, whole(patience) & (patience > 0), "an integer > 0 or inf"),
            ("every", every, np.isfinite(every) & whole(every) & (every >= 1), "an integer >= 1"),
            ("label_noise", noise, np.isfinite(noise) & (noise >= 0), "finite and >= 0"),
        ]
        if spec.leader == "expert":
            n, spread, step = (np.asarray(v, dtype=float) for v in self.expert)
            integer_n = (n == np.round(n)) & (n >= 1) & (n <= spec.max_n)
            checks.append(("n", n, integer_n, f"an integer in [1, max_n = {spec.max_n}]"))
            if isinstance(spec.game, LinearSpec):
                checks.append(("spread", spread, spread > 0, "> 0 (a standard deviation)"))
            checks.append(("step", step, (step >= 0) & (step <= 1), "in [0, 1]"))
        for field, value, good, allowed in checks:
            if not np.all(good):
                bad = float(np.ravel(value)[np.argmin(np.ravel(good))])
                raise ConfigError(f"{field} must be {allowed}; got {bad!r}")
