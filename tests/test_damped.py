"""Damped Hessian solves for the neural RM: products, conjugate gradients, spectrum."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from jax.flatten_util import ravel_pytree

from toysim.game.damped import (
    conjugate_gradient,
    dense_hessian,
    hessian_spectrum,
    hessian_vector_product,
)
from toysim.model.mlp import mlp_init, mlp_reward


def tiny_buffer_loss(seed):
    """The MSE of a tiny MLP on a random buffer, as a function of its flat parameters."""
    rng = np.random.default_rng(seed)
    params = mlp_init(jax.random.key(seed), (3, 4, 4, 1), scale=0.5)
    flat, unravel = ravel_pytree(params)
    ys = jnp.asarray(rng.normal(size=(6, 3)))
    labels = jnp.asarray(rng.normal(size=6))

    def loss(x):
        return jnp.mean((mlp_reward(unravel(x), ys) - labels) ** 2)

    return loss, flat


@given(seed=st.integers(0, 2**31))
def test_hessian_vector_products_equal_the_dense_hessian(seed):
    loss, x = tiny_buffer_loss(seed)
    v = jnp.asarray(np.random.default_rng(seed + 1).normal(size=x.shape))
    chex.assert_trees_all_close(
        hessian_vector_product(loss, x)(v), dense_hessian(loss, x) @ v, rtol=1e-9, atol=1e-12
    )


@given(seed=st.integers(0, 2**31), damping=st.floats(0.01, 1.0))
def test_conjugate_gradient_equals_the_dense_solve_when_it_converges(seed, damping):
    loss, x = tiny_buffer_loss(seed)
    h = dense_hessian(loss, x)
    spectrum = hessian_spectrum(h)
    mu = jnp.asarray(damping) + jnp.maximum(0.0, -spectrum.smallest)  # positive definite
    b = jnp.asarray(np.random.default_rng(seed + 2).normal(size=x.shape))
    result = conjugate_gradient(hessian_vector_product(loss, x), b, mu, tol=1e-10, maxiter=500)
    assert bool(result.converged), (result.iterations, result.residual)
    dense = jnp.linalg.solve(h + mu * jnp.eye(x.shape[0]), b)
    chex.assert_trees_all_close(result.x, dense, rtol=1e-7, atol=1e-9)


def test_spectrum_reports_indefiniteness():
    s = hessian_spectrum(jnp.diag(jnp.asarray([-0.5, 1.0, 3.0])))
    assert float(s.smallest) == -0.5 and float(s.largest) == 3.0 and bool(s.indefinite)
    assert not bool(hessian_spectrum(jnp.eye(2)).indefinite)


def test_conjugate_gradient_reports_non_convergence():
    h = jnp.diag(jnp.linspace(1.0, 1e4, 50))
    result = conjugate_gradient(lambda v: h @ v, jnp.ones(50), jnp.asarray(0.0), maxiter=3)
    assert int(result.iterations) == 3 and not bool(result.converged)
