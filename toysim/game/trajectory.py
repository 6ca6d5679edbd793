"""Iterated Stackelberg trajectories: T (leader step, follower step) rounds in one ``lax.scan``.

``make_trajectory(spec)`` returns a pure ``run(key, hparams) -> Trajectory``
(purejaxrl's ``make_train`` pattern): the structure in ``spec`` is static, the
numbers in ``hparams`` are traced, so ``jax.jit(jax.vmap(run))`` over seeds
or hyperparameter values compiles once. The library never jits; the caller
does (or uses :func:`simulate`, which also checks finiteness).

One iteration ``t`` (as in the published code):

1. the leader ascends ``F`` from ``theta_t``: ``theta_{t+1} = theta_t + lr grad F(theta_t)``;
2. the follower trains on the leader's new output(s): ``w_t -> w_{t+1}``;
3. the record stores the state after both moves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from toysim.config import ConfigError, GameSpec, HParams, as_float_arrays, validate
from toysim.game.followers import make_follower
from toysim.game.leader import follower_view, leader_gradient, steering_gradient
from toysim.game.policy import GaussianPolicy, PointPolicy
from toysim.model.metrics import block_signal_noise, projection_signal_noise
from toysim.model.sampling import standard_normal
from toysim.model.utility import Utility, utility
from toysim.seeds import seed_key

SCAN_UNROLL = 2
"""Iterations per loop body: fewer loop round trips (chosen by `python -m toysim bench`)."""


class Trajectory(NamedTuple):
    """Per-iteration record of a run; leading axis ``T`` (plus any vmapped axes before it).

    Attributes:
      theta: policy point or mean, ``[T, d]`` (``None`` if ``spec.record == "scalars"``).
      w: RM parameters, ``[T, d]`` (``None`` if ``spec.record == "scalars"``).
      signal: ``||theta[:k]||`` (published block coordinates), ``[T]``.
      noise: ``||theta[k:]||``, ``[T]``.
      signal_proj: ``theta . m/||m||`` (projection coordinates), ``[T]``.
      noise_proj: ``||theta - signal_proj m/||m|| ||``, ``[T]``.
      utility: ``U(theta)``, ``[T]``.
      expected_utility: ``E_{y~pi_theta}[U(y)]`` (equals ``utility`` for a point policy), ``[T]``.
      proxy_reward: ``E_{y~pi_theta}[r_w(y)] = w . theta``, ``[T]``.
      overconfidence: ``proxy_reward - expected_utility``, ``[T]``.
      steering_norm: ``||gamma grad S||``, the norm of the steering term (0 for RLHF), ``[T]``.
      ideal_reward: ``r_w(m)``, the RM's score of the human ideal (whose true
        utility is ``A``): where the Goodhart gap opens, ``[T]``.
      biased_noise: ``||theta`` on the ``spec.biased_dims`` coordinates the
        initial RM overrates``||`` (the sycophancy of the policy; 0 without them), ``[T]``.
      probe_steering: ``-grad S`` of each of ``spec.probes`` at the state each
        iteration starts from, ``[T, P, d]`` (``None`` without probes).
    """

    theta: Array | None
    w: Array | None
    signal: Array
    noise: Array
    signal_proj: Array
    noise_proj: Array
    utility: Array
    expected_utility: Array
    proxy_reward: Array
    overconfidence: Array
    steering_norm: Array
    ideal_reward: Array
    biased_noise: Array
    probe_steering: Array | None = None


def utility_of(spec: GameSpec, hp: HParams) -> Utility:
    """``U`` with ``m = (v, ..., v, 0, ..., 0)`` (``k`` signal coordinates of value ``v``)."""
    signal_mask = (jnp.arange(spec.dim) < spec.signal_dims).astype(jnp.result_type(float))
    return Utility(
        amplitude=jnp.asarray(hp.amplitude),
        tau=jnp.asarray(hp.tau),
        ideal=hp.ideal_value * signal_mask,
    )


def biased_mask(spec: GameSpec) -> Array:
    """1 on the ``spec.biased_dims`` noise coordinates right after the signal block."""
    i = jnp.arange(spec.dim)
    inside = (i >= spec.signal_dims) & (i < spec.signal_dims + spec.biased_dims)
    return inside.astype(jnp.result_type(float))


def initial_reward_weights(key: Array, spec: GameSpec, hp: HParams) -> Array:
    """``w_0 = (s, ..., s, b, ..., b, 0, ..., 0) + N(0, noise^2 I)`` (docs/settings.md).

    ``s`` on the ``k`` signal coordinates, ``b = rm_init_bias`` on the
    ``biased_dims`` coordinates after them (0 unless the sycophancy preset).
    """
    signal_mask = (jnp.arange(spec.dim) < spec.signal_dims).astype(jnp.result_type(float))
    eps = standard_normal(key, (spec.dim,), signal_mask.dtype)
    return (
        hp.rm_init_signal * signal_mask
        + hp.rm_init_bias * biased_mask(spec)
        + hp.rm_init_noise * eps
    )


def make_trajectory(spec: GameSpec) -> Callable[[Array, HParams], Trajectory]:
    """A pure ``run(key, hparams) -> Trajectory`` for the game ``spec``.

    ``spec`` is validated here; ``hparams`` is traced and validated by
    :func:`simulate` (it cannot be inspected inside ``jit``).
    """
    spec.validate()
    follower = make_follower(spec)
    method = spec.method

    def run(key: Array, hp: HParams) -> Trajectory:
        hp = as_float_arrays(hp)
        u = utility_of(spec, hp)
        policy = GaussianPolicy(hp.sigma) if spec.policy == "gaussian" else PointPolicy()
        theta0 = jnp.zeros(spec.dim, dtype=u.ideal.dtype)
        state0 = (theta0, follower.init(initial_reward_weights(key, spec, hp), hp))

        def metrics(theta: Array, w: Array, steering_norm: Array, probes: Array) -> Trajectory:
            """Every recorded quantity, from ``(theta, w)``; works on ``[d]`` or ``[T, d]``."""
            signal, noise = block_signal_noise(theta, spec.signal_dims)
            signal_proj, noise_proj = projection_signal_noise(theta, u.ideal)
            expected_u = policy.expected_utility(theta, u)
            proxy = jnp.sum(w * theta, axis=-1)  # E[r_w(y)] = w . theta (linear RM)
            full = spec.record == "full"
            return Trajectory(
                theta=theta if full else None,
                w=w if full else None,
                signal=signal,
                noise=noise,
                signal_proj=signal_proj,
                noise_proj=noise_proj,
                utility=utility(u, theta),
                expected_utility=expected_u,
                proxy_reward=proxy,
                overconfidence=proxy - expected_u,
                steering_norm=steering_norm,
                ideal_reward=w @ u.ideal,
                biased_noise=biased_noise(theta),
                probe_steering=probes,
            )

        def biased_noise(theta: Array) -> Array:
            """``||theta * biased_mask||``; without biased coordinates, zeros and no pass over d."""
            if not spec.biased_dims:
                return jnp.zeros(theta.shape[:-1], theta.dtype)
            return jnp.linalg.norm(theta * biased_mask(spec), axis=-1)

        def probe_directions(fstate, theta) -> Array | None:
            """``-grad S`` of every probe method at the current state, ``[P, d]``."""
            if not spec.probes:
                return None
            return -jnp.stack(
                [
                    steering_gradient(
                        probe,
                        policy,
                        follower_view(probe, follower, fstate, theta, hp, u),
                        theta,
                        u,
                    )
                    for probe in spec.probes
                ]
            )

        def step(carry, _):
            theta, fstate = carry
            grad = leader_gradient(method, policy, follower, fstate, theta, hp, u)
            probes = probe_directions(fstate, theta)
            theta = theta + hp.leader_lr * grad.total
            fstate = follower.update(fstate, theta, hp, u)
            steering_norm = jnp.linalg.norm(grad.steering)
            if spec.record == "full":  # metrics after the scan, vectorised over T
                out = (theta, fstate.w, steering_norm, probes)
            else:  # only scalars leave the loop
                out = metrics(theta, fstate.w, steering_norm, probes)
            return (theta, fstate), out

        _, out = jax.lax.scan(step, state0, length=spec.steps, unroll=SCAN_UNROLL)
        return metrics(*out) if spec.record == "full" else out

    return run


BLOCK_BYTES = 2**17
"""Bytes (128 KiB) one ``[chunk, d]`` array of a :func:`batched_trajectory` block may take.

About 20 such arrays pass through memory per iteration; at 128 KiB or less a
block's working set stays in one core's 512 KiB L2 cache through the whole
scan, where one ``[1024, d]`` float64 block (400 kB per array) spills to L3
on every pass (measured by ``python -m toysim bench``; docs/results/benchmarks.md).
"""


def block_size(dim: int, itemsize: int) -> int:
    """Runs per block: the largest power of two with ``runs * d * itemsize <= BLOCK_BYTES``.

    256 at ``d = 50`` in float64, 512 in float32; at least 1. A power of two
    divides the usual batch sizes, so no block is padded.
    """
    runs = max(1, BLOCK_BYTES // (dim * itemsize))
    return 1 << (runs.bit_length() - 1)


def batched_trajectory(spec: GameSpec, chunk: int | None = None) -> Callable[..., Trajectory]:
    """A pure ``run_batch(keys, hparams) -> Trajectory`` over a batch of runs, ``chunk`` at a time.

    ``run_batch(keys, hp)`` equals ``jax.vmap(make_trajectory(spec))`` over
    ``keys`` (shape ``[B]``) and over every field of ``hp`` that has a
    leading ``[B]`` axis (scalar fields are shared by all runs): every field
    of the result has the leading axis ``B``. It is evaluated as
    ``jax.lax.map(..., batch_size=chunk)``: the time loop runs on ``chunk``
    runs at once, block after block, so that a block's state stays in cache.
    Each block is the ``vmap`` of ``chunk`` runs, so its numbers are those of
    ``jax.vmap(make_trajectory(spec))`` on ``chunk`` keys (a batched run may
    differ from a single one in the last bits, as under any ``vmap``).

    Args:
      spec: the game (static).
      chunk: runs per block (``>= 1``); ``None`` takes :func:`block_size` for
        ``spec.dim`` and the floating-point type in use.

    Returns:
      ``run_batch``, pure and not jitted: the caller jits it.
    """
    if chunk is not None and (not isinstance(chunk, int) or chunk < 1):
        raise ConfigError(f"chunk must be an integer >= 1 or None; got {chunk!r}")
    run = make_trajectory(spec)

    def run_batch(keys: Array, hp: HParams) -> Trajectory:
        size = chunk or block_size(spec.dim, jnp.dtype(jnp.result_type(float)).itemsize)
        per_run = jax.tree.map(lambda x: jnp.ndim(x) > 0, hp)
        batched = jax.tree.map(lambda x, b: x if b else None, hp, per_run)

        def one(xs):
            key, fields = xs
            hp_one = jax.tree.map(lambda x, b, f: f if b else x, hp, per_run, fields)
            return run(key, hp_one)

        return jax.lax.map(one, (keys, batched), batch_size=min(size, keys.shape[0]))

    return run_batch


VECTOR_FIELDS = {"theta": 1, "w": 1, "probe_steering": 2, "rm_params": 1}
"""Record fields with per-iteration vectors: the number of axes after the time axis."""


def first_nonfinite_iteration(trajectory: Trajectory) -> Array:
    """The first iteration (1-based) at which any recorded value is NaN or infinite; 0 if none.

    Works on batched trajectories: the result has the batch shape.
    """
    finite_t = None
    for name, x in trajectory._asdict().items():
        if not hasattr(x, "dtype"):  # None, or a record of inputs (a buffer)
            continue
        ok = jnp.isfinite(x)
        trailing = VECTOR_FIELDS.get(name, 0)
        if trailing:
            ok = jnp.all(ok, axis=tuple(range(-trailing, 0)))
        finite_t = ok if finite_t is None else finite_t & ok
    bad = ~finite_t
    return jnp.where(jnp.any(bad, axis=-1), jnp.argmax(bad, axis=-1) + 1, 0)


class NonFiniteTrajectoryError(FloatingPointError):
    """A trajectory produced NaN or infinite values; the message names the iteration."""


@functools.lru_cache(maxsize=64)
def compiled_trajectory(spec: GameSpec) -> Callable[[Array, HParams], Trajectory]:
    """``jax.jit(make_trajectory(spec))``, one per ``spec`` (hyperparameters never recompile)."""
    return jax.jit(make_trajectory(spec))


def simulate(spec: GameSpec, hp: HParams, seed: int) -> Trajectory:
    """Validate, run one jit-compiled trajectory, and refuse to return non-finite numbers.

    Raises:
      ConfigError: a field of ``spec`` or ``hp`` is invalid.
      NonFiniteTrajectoryError: the trajectory went non-finite; the message
        gives the first iteration at which it did.
    """
    validate(spec, hp)
    trajectory = compiled_trajectory(spec)(seed_key(seed), hp)
    raise_if_nonfinite(trajectory, spec)
    return trajectory


def raise_if_nonfinite(trajectory: Trajectory, spec: GameSpec) -> None:
    """Raise :class:`NonFiniteTrajectoryError` if any run in ``trajectory`` went non-finite."""
    first = np.asarray(first_nonfinite_iteration(trajectory))
    if np.any(first > 0):
        runs = np.argwhere(first > 0)
        where = "" if first.ndim == 0 else f" (run index {tuple(int(i) for i in runs[0])})"
        it = int(first.ravel()[np.flatnonzero(first.ravel() > 0)[0]])
        raise nonfinite_error(it, spec, where)


def nonfinite_error(iteration: int, spec: GameSpec, where: str = "") -> NonFiniteTrajectoryError:
    """The error for a run of ``spec`` that went non-finite at ``iteration`` (1-based).

    ``where`` names the run in a batch (e.g. ``" (run index (3,))"``), or is empty.
    """
    return NonFiniteTrajectoryError(
        f"trajectory became non-finite at iteration {iteration} of {spec.steps}{where}, "
        f"method {spec.method.name!r}: reduce a step size (leader_lr, follower_lr) or gamma"
    )
