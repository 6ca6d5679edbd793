"""The curvature ladder: the matrix ``M`` that stands for the follower's Hessian in ``M^{-1} g``.

See docs/theory/exact-fpo.md. The ``hessian`` switch (:data:`toysim.config.HESSIAN`) picks,
for the follower's objective ``L(phi) = data loss + (lambda/2) ||phi||^2``:

* ``exact``: ``M = H = hess L``. Positive definite for the linear reward model
  (Cholesky, Woodbury over the buffer); indefinite for a network, so solved
  there by MINRES, which needs symmetry only.
* ``damped``: ``M = H + mu I``, ``mu`` fixed (``damping = fixed``) or chosen from
  the spectrum (``spectral``): ``mu = max(margin - lambda_min, 0)`` with ``lambda_min``
  estimated by Lanczos on Hessian-vector products. CG; the solve counts as
  converged only if ``mu + lambda_min > 0`` as measured.
* ``gauss-newton``: ``M = sum_i omega_i 2 J_i^T J_i + lambda I`` (``J_i = grad_phi
  r(y_i)``), the squared loss's Hessian without the residual term
  ``2 omega_i (r_i - U_i) hess r_i``: positive definite for ``lambda > 0``, and
  equal to ``H`` for the linear reward model. A
  :class:`~toysim.linalg.LowRankPlusDiagonal` over the buffer, solved exactly
  by Woodbury (``n x n`` with ``n`` the buffer's samples); in the sampled-buffer
  game, for a model with ``gradient_gram`` (the MLP's, the linear model's), its
  factor ``J`` is applied by forward- and reverse-mode products, never formed.
* ``diagonal``: for the linear game ``M = diag(H)``, exact from basis products. For a
  network (``CurvatureOptions.diagonal``) the Gauss-Newton matrix's diagonal
  ``sum_i 2 omega_i (grad_phi r(y_i))^2 + lambda`` (``gauss-newton``, the default for
  the squared loss: exact, positive, no random draws; ``diag H`` for the linear model)
  or Hutchinson's estimate of ``diag(H)`` from ``probes`` Rademacher vectors
  (``hutchinson``, from an explicit key, the default for pairs), clipped below at
  ``lambda``.
* ``identity``: ``M = I`` (the relaxation).
* ``neumann``: ``M = H``, its inverse applied by the Neumann series truncated after ``K``
  terms (:class:`toysim.linalg.Neumann`, :func:`rung_solver`): Hessian-vector products
  only, step ``1/`` an upper bound on ``lambda_max`` (:func:`toysim.linalg.spectral_bound`).
* ``unrolled`` is no matrix: the follower's response differentiated through ``K`` steps of
  its own optimizer (:func:`toysim.game.leader.follower_view`,
  :mod:`toysim.game.unrolled`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array
from jax.flatten_util import ravel_pytree

from toysim import linalg
from toysim.config import ConfigError, Method
from toysim.game.followers import FollowerData, SampleBuffer, SampleData
from toysim.game.steering import flat_gradient
from toysim.model.interface import RewardModel, RewardParams, linear_reward_model
from toysim.rules import check_choice

DAMPING = ("spectral", "fixed")
"""How ``damped`` picks ``mu``: from the Lanczos estimate of ``lambda_min``, or fixed."""

DIAGONALS = ("auto", "gauss-newton", "hutchinson")
"""Whose diagonal the network's ``diagonal`` rung takes: the Gauss-Newton matrix's (exact;
the squared loss's) or the Hessian's (Hutchinson's estimate, any loss); ``auto`` is the
first for the squared loss and the second otherwise (:meth:`CurvatureOptions.for_loss`)."""

DEFAULT_SOLVERS = {
    "exact": linalg.MINRES(tol=1e-6, maxiter=100),
    "damped": linalg.CG(tol=1e-6, maxiter=100),
    "gauss-newton": linalg.Cholesky(),
    "diagonal": linalg.Cholesky(),
}
"""Each rung's solver when none is given: MINRES for the indefinite exact Hessian, CG for
the damped one, direct (Woodbury, elementwise division) for the structured ones."""


def rung_solver(method: Method, default: linalg.Solver | None = None) -> linalg.Solver:
    """The solver of ``method``'s rung: the Neumann series of ``method.rung_steps`` terms
    (step from :func:`toysim.linalg.spectral_bound`) for ``neumann``, else ``default``
    (``None``: the network's :data:`DEFAULT_SOLVERS` entry)."""
    if method.hessian == "neumann":
        return linalg.Neumann(terms=method.rung_steps)
    return DEFAULT_SOLVERS[method.hessian] if default is None else default


@dataclasses.dataclass(frozen=True)
class CurvatureOptions:
    """How the network's curvature rungs are built (static: changing a field recompiles).

    Attributes:
      damping: ``spectral`` (``mu = max(hp.damping - lambda_min, 0)``, ``hp.damping``
        the margin) or ``fixed`` (``mu = hp.damping``).
      lanczos_steps: Hessian-vector products of the Lanczos estimate of ``lambda_min``.
      diagonal: ``gauss-newton`` (the Gauss-Newton matrix's diagonal, exact; the squared
        loss's), ``hutchinson`` (the Hessian's, estimated) or ``auto`` (the first for the
        squared loss, the second for pairs) for the ``diagonal`` rung.
      probes: Rademacher probes of Hutchinson's diagonal estimate.
      warm_start: start each iteration's Krylov solve from the previous solution.
    """

    damping: str = "spectral"
    lanczos_steps: int = 20
    diagonal: str = "auto"
    probes: int = 16
    warm_start: bool = True

    def validate(self) -> None:
        """Check each field.

        Raises:
            ConfigError: naming the first invalid field and what is allowed.
        """
        check_choice("damping", self.damping, DAMPING)
        check_choice("diagonal", self.diagonal, DIAGONALS)
        for field in ("lanczos_steps", "probes"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{field} must be an integer >= 1; got {value!r}")
        if not isinstance(self.warm_start, bool):
            raise ConfigError(f"warm_start must be True or False; got {self.warm_start!r}")

    def for_loss(self, squared: bool) -> CurvatureOptions:
        """These options with ``diagonal = auto`` resolved: ``gauss-newton`` if the follower's
        loss is the squared error (``squared``), else ``hutchinson``."""
        if self.diagonal != "auto":
            return self
        return dataclasses.replace(self, diagonal="gauss-newton" if squared else "hutchinson")


class Curvature(NamedTuple):
    """A rung's operator ``M`` and whether it is positive definite as far as measured.

    Attributes:
      operator: ``M``.
      well_posed: bool; False when ``damped``'s ``mu + lambda_min <= 0`` (Lanczos
        estimate) or the regulariser of ``gauss-newton`` / ``diagonal`` is not positive.
    """

    operator: linalg.LinearOperator
    well_posed: Array


def sample_weights(buffer: SampleBuffer, weight: Array | None) -> Array:
    """``omega_i`` of each sample in the data loss: ``omega filled_i``, or ``filled_i / count``
    for the mean (see :func:`toysim.game.followers.data_loss`), shape ``[B * n]``."""
    per_block = buffer.filled
    if weight is None:
        count = jnp.maximum(jnp.sum(buffer.filled), 1.0) * buffer.label.shape[-1]
        per_block = per_block / count
    else:
        per_block = weight * per_block
    return jnp.repeat(per_block, buffer.label.shape[-1])


def buffer_samples(buffer: SampleBuffer) -> Array:
    """The buffer's samples with its blocks flattened, ``[B * n, ...]``."""
    return buffer.y.reshape((-1, *buffer.y.shape[2:]))


def gauss_newton_factor(
    model: RewardModel, phi: RewardParams, buffer: SampleBuffer, weight: Array | None
) -> Array:
    """``C`` with ``C^T C = sum_i 2 omega_i J_i^T J_i``: rows ``sqrt(2 omega_i) grad_phi r(y_i)``.

    The Gauss-Newton matrix of the squared loss ``sum_i omega_i (r(y_i) - U_i)^2``.

    Args:
      model: the reward model (squared-error loss).
      phi: the parameters.
      buffer: the samples.
      weight: ``omega``, or ``None`` for the mean over the filled samples.

    Returns:
      ``C``, shape ``[B * n, P]``.
    """
    root = jnp.sqrt(2.0 * sample_weights(buffer, weight))

    def row(y: Array, scale: Array) -> Array:  # scaled inside: 2x faster than rows * root
        return flat_gradient(lambda p, x: scale * model.reward(p, x), phi, y)

    return jax.vmap(row)(buffer_samples(buffer), root)


def gauss_newton_products(
    model: RewardModel, phi: RewardParams, buffer: SampleBuffer, weight: Array | None
) -> linalg.FactorProducts:
    """``C`` of :func:`gauss_newton_factor` by its products, without forming it.

    ``C v = root * (d/dt) r_{phi + t v}(y_i)`` (forward mode) and ``C^T u = grad_phi
    sum_i root_i u_i r_phi(y_i)`` (reverse mode, the forward pass shared by every call),
    ``root_i = sqrt(2 omega_i)``: about one pass through the model each.
    """
    samples = buffer_samples(buffer)
    root = jnp.sqrt(2.0 * sample_weights(buffer, weight))
    flat, unravel = ravel_pytree(phi)

    def rewards(p: RewardParams) -> Array:
        return model.reward(p, samples)

    _, pullback = jax.vjp(rewards, phi)

    def apply(v: Array) -> Array:
        return root * jax.jvp(rewards, (phi,), (unravel(v),))[1]

    def apply_transpose(u: Array) -> Array:
        return ravel_pytree(pullback(root * u)[0])[0]

    shape = (samples.shape[0], flat.shape[0])
    return linalg.FactorProducts(apply, apply_transpose, shape, flat.dtype)


def gauss_newton_operator(
    model: RewardModel,
    phi: RewardParams,
    buffer: SampleBuffer,
    weight: Array | None,
    reg: Array,
    products: bool = False,
) -> linalg.LowRankPlusDiagonal:
    """``M = lambda I + C^T C`` with ``C`` of :func:`gauss_newton_factor`.

    With the model's ``gradient_gram``, ``C C^T = (root root^T) * G`` (``root_i =
    sqrt(2 omega_i)``) comes from the model's structure, so the Woodbury solve skips the
    ``n^2 P`` product; with ``products`` as well, ``C`` is given by its products
    (:func:`gauss_newton_products`) and the ``[n, P]`` Jacobian is never formed (the
    sampled-buffer game's choice, for any model with ``gradient_gram``; the linear game
    keeps its ``C``, the scaled samples, as an array).

    Args:
      model: the reward model (squared-error loss).
      phi: the parameters.
      buffer: the samples.
      weight: ``omega``, or ``None`` for the mean over the filled samples.
      reg: ``lambda``.
      products: give ``C`` by its products (needs ``model.gradient_gram``).

    Returns:
      The :class:`~toysim.linalg.LowRankPlusDiagonal`.
    """
    if model.gradient_gram is None:
        return linalg.LowRankPlusDiagonal(reg, gauss_newton_factor(model, phi, buffer, weight))
    root = jnp.sqrt(2.0 * sample_weights(buffer, weight))
    gram = root[:, None] * root[None, :] * model.gradient_gram(phi, buffer_samples(buffer))
    if products:
        factor = gauss_newton_products(model, phi, buffer, weight)
    else:
        factor = gauss_newton_factor(model, phi, buffer, weight)
    return linalg.LowRankPlusDiagonal(reg, factor, gram)


def gauss_newton_diagonal(
    model: RewardModel, phi: RewardParams, buffer: SampleBuffer, weight: Array | None
) -> Array:
    """``diag(C^T C) = sum_i 2 omega_i (grad_phi r(y_i))^2``, the Gauss-Newton matrix's diagonal.

    From the model's ``gradient_square_sum`` (the MLP's layer structure), else the column
    sums of squares of :func:`gauss_newton_factor`, whose arguments it takes; the diagonal
    is flat, shape ``[P]``.
    """
    if model.gradient_square_sum is None:
        return jnp.sum(gauss_newton_factor(model, phi, buffer, weight) ** 2, axis=0)
    weights = 2.0 * sample_weights(buffer, weight)
    return ravel_pytree(model.gradient_square_sum(phi, buffer_samples(buffer), weights))[0]


def network_curvature(
    hessian: str,
    objective: Callable[[RewardParams], Array],
    model: RewardModel,
    phi: RewardParams,
    buffer: SampleBuffer,
    reg: Array,
    damping: Array,
    options: CurvatureOptions,
    key: Array,
) -> Curvature:
    """The rung ``hessian`` (not ``identity``) for a network on the mean loss over ``buffer``.

    ``exact`` and ``neumann`` (whose series stands for the exact inverse), ``damped`` and
    Hutchinson's diagonal take ``objective``'s Hessian, whatever
    its loss; ``gauss-newton`` and the Gauss-Newton diagonal (``options.diagonal``
    ``gauss-newton`` or ``auto``) are built from ``model`` and ``buffer`` for the squared
    loss and ignore ``objective`` (:class:`~toysim.game.sampled.SampledSpec` refuses them
    for pairs).

    Args:
      hessian: ``exact``, ``neumann``, ``damped``, ``gauss-newton`` or ``diagonal``.
      objective: ``L``, the follower's objective (its mean loss plus ``(reg/2)||phi||^2``).
      model: the reward model.
      phi: where ``L``'s curvature is taken.
      buffer: the follower's samples.
      reg: ``lambda``, the L2 weight (the weight decay).
      damping: ``mu`` (fixed) or the margin (spectral).
      options: the :class:`CurvatureOptions`.
      key: the ``jax.random`` key of the Lanczos start and Hutchinson's probes.

    Returns:
      The :class:`Curvature`.
    """
    flat, unravel = ravel_pytree(phi)
    exact = linalg.hessian_operator(lambda x: objective(unravel(x)), flat)
    if hessian in ("exact", "neumann"):
        return Curvature(exact, jnp.asarray(True))
    if hessian == "damped":
        smallest, _ = linalg.extreme_eigenvalues(exact, key, options.lanczos_steps)
        if options.damping == "spectral":
            damping = jnp.maximum(damping - smallest, 0.0)
        return Curvature(linalg.damped(exact, damping), damping + smallest > 0)
    if hessian == "gauss-newton":
        products = model.gradient_gram is not None
        return Curvature(gauss_newton_operator(model, phi, buffer, None, reg, products), reg > 0)
    if options.diagonal != "hutchinson":  # auto: the squared loss's, as for gauss-newton
        diagonal = gauss_newton_diagonal(model, phi, buffer, None) + reg
        return Curvature(linalg.DiagonalOperator(diagonal), reg > 0)
    diagonal = linalg.hutchinson_diagonal(exact, key, options.probes)
    return Curvature(linalg.DiagonalOperator(jnp.maximum(diagonal, reg)), reg > 0)


def curvature_inverse(
    curvature: Curvature, solver: linalg.Solver, x0: Array | None = None
) -> Callable[[Array], linalg.Solution]:
    """``b -> M^{-1} b`` with its :class:`~toysim.linalg.SolveInfo`, ``converged`` also
    requiring ``curvature.well_posed``.

    Args:
      curvature: the rung's :class:`Curvature`.
      solver: a :mod:`toysim.linalg` solver.
      x0: a warm start for a Krylov solver, or ``None``.

    Returns:
      The map.
    """
    inverse = linalg.inverse(curvature.operator, solver, x0)

    def apply(b: Array) -> linalg.Solution:
        x, info = inverse(b)
        return linalg.Solution(x, info._replace(converged=info.converged & curvature.well_posed))

    return apply


def follower_curvature(
    hessian: str, data: FollowerData, lam: Array, damping: Array, w: Array
) -> linalg.LinearOperator:
    """The rung ``hessian`` (not ``identity``) for the linear reward model's follower.

    ``exact`` (and ``neumann``, whose series stands for its inverse) is
    ``data.curvature(lam)``; ``damped`` adds ``damping I``;
    ``gauss-newton`` is built from the reward's gradients over the buffer (for
    the population follower, whose data is the policy, it is ``E[2 y y^T] +
    lambda I``, the Hessian itself); ``diagonal`` is the exact diagonal from
    basis products.

    Args:
      hessian: ``exact``, ``neumann``, ``damped``, ``gauss-newton`` or ``diagonal``.
      data: the follower's data (:class:`~toysim.game.followers.SampleData` or
        :class:`~toysim.game.followers.PopulationData`).
      lam: ``lambda``.
      damping: ``mu`` of ``damped``.
      w: the RM weights (where the Gauss-Newton Jacobian is taken; it does not depend on them).

    Returns:
      The operator ``M``.
    """
    exact = data.curvature(lam)
    if hessian in ("exact", "neumann"):
        return exact
    if hessian == "damped":
        return linalg.damped(exact, damping)
    if hessian == "gauss-newton":
        if isinstance(data, SampleData):
            model = linear_reward_model(w.shape[-1])
            return gauss_newton_operator(model, w, data.buffer, data.weight, lam)
        return exact
    return linalg.DiagonalOperator(jnp.maximum(linalg.basis_diagonal(exact), lam))
