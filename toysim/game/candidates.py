"""Best of ``n`` candidates by the current reward model: how the chosen output of a pair is made.

See docs/theory/pairwise.md (*Best of n candidates*). With ``SampledSpec.candidates = n > 1``
(pairs against a reference only) the policy's output of each pair is

    y = theta + sigma eps_{j*},   j* = argmax_j r_phi(theta + sigma eps_j),  j = 1..n,

the candidate the current reward model ``r_phi`` scores best, for the leader's sampled pairs
and for the new block the follower trains on. Differentiation is pathwise: ``j*`` is held
fixed, which is exact wherever no two candidates tie (almost everywhere). Candidate 0 is the
draw the game makes with ``n = 1``; the other ``n - 1`` come from
``fold_in(key, CANDIDATE_STREAM)``, a key no ``n = 1`` run uses, so ``n = 1`` is the game
as it was, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import Array

from toysim.config import ConfigError
from toysim.model.sampling import standard_normal

MAX_CANDIDATE_DRAWS = 2**26
"""The most candidates' numbers one iteration may hold (``n x steps x d``), as expert
iteration's :data:`toysim.game.composition.MAX_DRAWS`."""
CANDIDATE_STREAM = 2
"""The ``fold_in`` tag of the extra candidates' key (the sampled-buffer game folds 1 into a
round's key for the curvature rung's draws)."""


def check_candidates(spec) -> None:
    """Refuse ``candidates > 1`` but with pairs against a reference, or more draws than
    :data:`MAX_CANDIDATE_DRAWS` (``spec`` a :class:`toysim.game.sampled.SampledSpec`).

    Raises:
        ConfigError: naming the field, what is allowed and the value.
    """
    n = spec.candidates
    if n > 1 and not spec.against_reference:
        raise ConfigError(
            "candidates must be 1 unless data = pairs and pairing = reference (the best of n "
            f"is the output paired against the reference); got {n!r}"
        )
    steps = max(spec.inner_steps, spec.samples_per_step)
    if n * steps * spec.dim > MAX_CANDIDATE_DRAWS:
        raise ConfigError(
            "candidates x max(inner_steps, samples_per_step) x dim must be at most 2**26 (the "
            f"draws one iteration holds); got {n} x {steps} x {spec.dim}"
        )


def draw_candidates(key: Array, eps: Array, n: int) -> Array | None:
    """``[..., n, d]``: the first outputs' noise ``eps[..., 0, :]`` of the pairs ``eps [..., 2,
    d]`` as candidate 0, then ``n - 1`` standard normals from ``fold_in(key, CANDIDATE_STREAM)``;
    ``None`` for ``n = 1`` (no draw: the pairs are kept as drawn).

    Args:
      key: the key ``eps`` was drawn from.
      eps: the pairs' standard normal noise, ``[..., 2, d]``.
      n: the number of candidates, ``>= 1``.
    """
    if n == 1:
        return None
    extra_shape = (*eps.shape[:-2], n - 1, eps.shape[-1])
    extra = standard_normal(jax.random.fold_in(key, CANDIDATE_STREAM), extra_shape, eps.dtype)
    return jnp.concatenate([eps[..., :1, :], extra], axis=-2)


def best_candidate(
    score: Callable[[Array], Array], theta: Array, sigma: Array, candidates: Array
) -> Array:
    """``eps_{j*}``, ``j* = argmax_j score(theta + sigma eps_j)`` over ``candidates [..., n,
    d]``: the chosen noise ``[..., d]``. ``j*`` carries no derivative (held fixed), so a
    derivative through ``theta + sigma eps_{j*}`` is the pathwise one.

    Args:
      score: the reward model's score of outputs ``[..., d] -> [...]``.
      theta: the policy's mean, ``[d]``.
      sigma: the policy's spread.
      candidates: the candidates' noise (:func:`draw_candidates`).
    """
    scores = jax.lax.stop_gradient(score(theta + sigma * candidates))
    best = jnp.argmax(scores, axis=-1)
    return jnp.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]


def choose(
    score: Callable[[Array], Array] | None,
    theta: Array,
    sigma: Array,
    eps: Array,
    candidates: Array | None,
) -> Array:
    """The pairs' noise ``eps [..., 2, d]`` with each first output's replaced by
    :func:`best_candidate` of ``candidates``; ``eps`` itself when ``candidates`` is ``None``
    (``n = 1``)."""
    if candidates is None:
        return eps
    return eps.at[..., 0, :].set(best_candidate(score, theta, sigma, candidates))
