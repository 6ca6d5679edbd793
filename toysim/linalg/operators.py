"""Linear operators: what a solve needs to know about ``A`` in ``A x = b``.

Every operator is a NamedTuple with ``matvec(v) = A v``, ``size`` (``A`` is
``size x size``) and ``dense()`` (the matrix, formed only by the direct
solvers and by tests). All are symmetric except a general
:class:`DenseOperator`:

* :class:`DenseOperator`: a matrix;
* :class:`LowRankPlusDiagonal`: ``alpha I + C^T C`` with ``C`` of shape
  ``[n, d]`` (an array, or its products: :class:`FactorProducts`), the linear
  reward model's follower Hessian and the Gauss-Newton matrix
  (docs/theory/exact-fpo.md); the Cholesky solver factors its ``n x n`` Gram
  matrix (Woodbury) when ``n < d``;
* :class:`HessianOperator`: ``v -> hess f(x) v`` by forward-over-reverse
  autodiff, without forming the Hessian (:func:`hessian_operator`);
* :class:`DiagonalOperator`: ``diag(a)``; the direct solvers divide by ``a``;
* :class:`DampedOperator`: ``A + mu I`` (:func:`damped`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

import jax
import jax.numpy as jnp
from jax import Array


class LinearOperator(Protocol):
    """A square linear map ``A`` given by its action on vectors."""

    @property
    def size(self) -> int:
        """``d`` for ``A`` of shape ``[d, d]``."""
        ...

    def matvec(self, v: Array) -> Array:
        """``A v`` for ``v`` of shape ``[d]``."""
        ...

    def dense(self) -> Array:
        """``A`` as a ``[d, d]`` matrix."""
        ...


class DenseOperator(NamedTuple):
    """``A`` given as a ``[d, d]`` matrix.

    Attributes:
      matrix: ``A``.
    """

    matrix: Array

    @property
    def size(self) -> int:
        """``d``."""
        return self.matrix.shape[-1]

    def matvec(self, v: Array) -> Array:
        """``A v``."""
        return self.matrix @ v

    def dense(self) -> Array:
        """``A``."""
        return self.matrix


class FactorProducts(NamedTuple):
    """A matrix ``C`` of shape ``[n, d]`` given by its products, not its entries.

    For a Jacobian, ``C v`` is a forward-mode and ``C^T u`` a reverse-mode product, each
    about one pass through the model, where forming ``C`` costs ``n`` passes and
    ``n d`` memory.

    Attributes:
      apply: ``v -> C v``, ``[d] -> [n]``.
      apply_transpose: ``u -> C^T u``, ``[n] -> [d]``.
      shape: ``(n, d)``.
      dtype: the float type of ``C``.
    """

    apply: Callable[[Array], Array]
    apply_transpose: Callable[[Array], Array]
    shape: tuple[int, int]
    dtype: jnp.dtype

    def dense(self) -> Array:
        """``C`` as an ``[n, d]`` matrix, row ``i`` being ``C^T e_i``."""
        return jax.vmap(self.apply_transpose)(jnp.eye(self.shape[0], dtype=self.dtype))


class LowRankPlusDiagonal(NamedTuple):
    """``A = alpha I + C^T C`` (symmetric, positive definite when ``alpha > 0``).

    Attributes:
      alpha: the scalar ``alpha``.
      factor: ``C``, shape ``[n, d]``: an array, or its products (:class:`FactorProducts`).
      gram: ``C C^T`` (``[n, n]``) when the caller has it more cheaply than the ``n^2 d``
        product (e.g. :func:`toysim.model.mlp.mlp_gradient_gram`), else ``None``. It must
        equal ``C C^T`` (nothing checks it): the Woodbury solve and :func:`frobenius_norm`
        use it, ``matvec`` and ``dense`` use ``factor`` only.
    """

    alpha: Array
    factor: Array | FactorProducts
    gram: Array | None = None

    def factor_matrix(self) -> Array:
        """``C`` as an ``[n, d]`` array (formed if ``factor`` gives its products)."""
        return self.factor.dense() if isinstance(self.factor, FactorProducts) else self.factor

    def factor_gram(self) -> Array:
        """``C C^T``: ``gram`` if given, else the product."""
        if self.gram is not None:
            return self.gram
        c = self.factor_matrix()
        return c @ c.T

    def apply_factor(self, v: Array) -> Array:
        """``C v``."""
        if isinstance(self.factor, FactorProducts):
            return self.factor.apply(v)
        return self.factor @ v

    def apply_factor_transpose(self, u: Array) -> Array:
        """``C^T u``."""
        if isinstance(self.factor, FactorProducts):
            return self.factor.apply_transpose(u)
        return self.factor.T @ u

    @property
    def size(self) -> int:
        """``d``."""
        return self.factor.shape[-1]

    def matvec(self, v: Array) -> Array:
        """``A v = alpha v + C^T (C v)``."""
        if isinstance(self.factor, FactorProducts):
            return self.alpha * v + self.apply_factor_transpose(self.apply_factor(v))
        return self.alpha * v + (self.factor @ v) @ self.factor  # faster than C.T @ on XLA:CPU

    def dense(self) -> Array:
        """The ``[d, d]`` matrix ``alpha I + C^T C``."""
        c = self.factor_matrix()
        return self.alpha * jnp.eye(self.size) + c.T @ c


class DiagonalOperator(NamedTuple):
    """``A = diag(a)`` (symmetric; positive definite when every ``a_i > 0``).

    Attributes:
      diagonal: ``a``, shape ``[d]``.
    """

    diagonal: Array

    @property
    def size(self) -> int:
        """``d``."""
        return self.diagonal.shape[-1]

    def matvec(self, v: Array) -> Array:
        """``A v = a * v``."""
        return self.diagonal * v

    def dense(self) -> Array:
        """``diag(a)``."""
        return jnp.diag(self.diagonal)


class HessianOperator(NamedTuple):
    """``A = hess f(x)`` for a scalar ``f`` of a flat vector ``x`` (symmetric).

    Attributes:
      function: ``f``, mapping a ``[d]`` vector to a scalar.
      point: ``x``, shape ``[d]``.
    """

    function: Callable[[Array], Array]
    point: Array

    @property
    def size(self) -> int:
        """``d``."""
        return self.point.shape[-1]

    def matvec(self, v: Array) -> Array:
        """``hess f(x) v``: ``grad f`` differentiated at ``x`` along ``v`` (no Hessian formed)."""
        return jax.jvp(jax.grad(self.function), (self.point,), (v,))[1]

    def dense(self) -> Array:
        """``hess f(x)`` as a ``[d, d]`` matrix (``jax.hessian``)."""
        return jax.hessian(self.function)(self.point)


def hessian_operator(function: Callable[[Array], Array], point: Array) -> HessianOperator:
    """The matrix-free ``v -> hess function(point) v``.

    Args:
      function: a scalar function of a flat ``[d]`` vector (``jax.flatten_util.ravel_pytree``
        flattens a pytree of parameters).
      point: where the Hessian is taken, shape ``[d]``.

    Returns:
      The :class:`HessianOperator`.
    """
    return HessianOperator(function, point)


class DampedOperator(NamedTuple):
    """``A + mu I``.

    Attributes:
      operator: ``A``.
      damping: the scalar ``mu``.
    """

    operator: LinearOperator
    damping: Array

    @property
    def size(self) -> int:
        """``d``."""
        return self.operator.size

    def matvec(self, v: Array) -> Array:
        """``A v + mu v``."""
        return self.operator.matvec(v) + self.damping * v

    def dense(self) -> Array:
        """``A + mu I`` as a matrix."""
        matrix = self.operator.dense()
        return matrix + self.damping * jnp.eye(self.size, dtype=matrix.dtype)


def damped(operator: LinearOperator, damping: Array | float) -> DampedOperator:
    """``operator + damping I``.

    Args:
      operator: ``A``.
      damping: ``mu`` (a scalar, traced or not).

    Returns:
      The :class:`DampedOperator` ``A + mu I``.
    """
    return DampedOperator(operator, damping)


def frobenius_norm(operator: LinearOperator) -> Array:
    """``||A||_F``, from the structure where there is one.

    ``||alpha I + C^T C||_F^2 = d alpha^2 + 2 alpha tr(C C^T) + ||C C^T||_F^2`` (the
    ``n x n`` Gram matrix, not the ``d x d`` one); ``||diag(a)||_F = ||a||``; any other
    operator is formed (``dense()``).

    Args:
      operator: ``A``.

    Returns:
      The scalar ``||A||_F``.
    """
    if isinstance(operator, LowRankPlusDiagonal):
        alpha, gram = operator.alpha, operator.factor_gram()
        squares = operator.size * alpha**2 + 2.0 * alpha * jnp.trace(gram)  # ||C||_F^2 = tr C C^T
        return jnp.sqrt(squares + jnp.sum(gram**2))
    if isinstance(operator, DiagonalOperator):
        return jnp.linalg.norm(operator.diagonal)
    return jnp.linalg.norm(operator.dense())


class Spectrum(NamedTuple):
    """The extreme eigenvalues of a symmetric matrix, and whether it is indefinite."""

    smallest: Array
    largest: Array
    indefinite: Array


def spectrum(matrix: Array) -> Spectrum:
    """Smallest and largest eigenvalues of a dense symmetric ``matrix`` (``eigvalsh``).

    Args:
      matrix: a symmetric ``[d, d]`` matrix, e.g. ``hessian_operator(f, x).dense()``.

    Returns:
      The :class:`Spectrum`; ``indefinite`` when the smallest eigenvalue is negative.
    """
    eigenvalues = jnp.linalg.eigvalsh(matrix)
    return Spectrum(eigenvalues[0], eigenvalues[-1], eigenvalues[0] < 0)
