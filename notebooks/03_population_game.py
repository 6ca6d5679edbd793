# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · The population game in closed form
#
# With a Gaussian policy `y ~ N(theta, sigma^2 I)`, a linear RM and the squared loss,
# every expectation of the game is closed form (docs/theory/population.md):
#
# * `E[U] = A s1^(-d/2) exp(-tau ||theta - m||^2 / s1)`, with `s1 = 1 + 2 tau sigma^2`
#   (`chi_1` on the theory pages);
# * `E[y U] = E[U] (theta + 2 tau sigma^2 m) / s1`;
# * the RM's best response `w*(theta) = (theta theta^T + (sigma^2 + lambda/2) I)^(-1) E[y U]`
#   (ridge);
# * the leader's objective `J(theta) = w*(theta) . theta - c (||theta||^2 + d sigma^2)`.
#
# So the whole Stackelberg game has an exact, noise-free gradient `dJ/dtheta`.
# The myopic leader instead follows `w* - 2 c theta`, treating `w*` as fixed.
#
# **Where figures go.** The notebook runs from any folder. It saves each figure
# (PNG, PDF and a JSON sidecar) into `toysim.figures.output_dir()`: the folder named
# by the environment variable `TOYSIM_FIGURES` if it is set, else `figures/` in the
# kernel's working directory (in Jupyter, the notebook's own folder). Set
# `TOYSIM_QUICK=1` for fewer seeds (what the tests do).

# %%
import os

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from toysim import build, figures
from toysim.experiments.population import population_field
from toysim.game.linear_round import utility_of
from toysim.model import gaussian_utility_moments, utility
from toysim.plots.collapse_figures import population_field_figure

QUICK = os.environ.get("TOYSIM_QUICK") == "1"
OUT = figures.output_dir()  # $TOYSIM_FIGURES, else ./figures

# %% [markdown]
# ## The closed forms against sampling
#
# A quick sanity check a student can run: the closed-form `E[U]` and `E[y U]`
# against a Monte Carlo average, with its standard error.

# %%
spec, hp = build("population", "fpo-exact")
u = utility_of(spec, hp)
theta = 0.8 * u.ideal + 0.2
moments = gaussian_utility_moments(u, theta, jnp.asarray(hp.sigma))
n = 20_000 if QUICK else 200_000
samples = theta + hp.sigma * jax.random.normal(jax.random.key(0), (n, spec.dim))
values = utility(u, samples)
print(
    f"E[U]: closed form {float(moments.mean):.4f}, Monte Carlo {float(values.mean()):.4f} "
    f"+- {float(values.std() / np.sqrt(n)):.4f}"
)
mc_mean_y = (samples * values[:, None]).mean(axis=0)
print(
    "E[yU][:4]: closed form",
    np.round(np.asarray(moments.mean_y[:4]), 4),
    " Monte Carlo",
    np.round(np.asarray(mc_mean_y[:4]), 4),
)

# %% [markdown]
# ## Two gradient fields over the (signal, noise) plane
#
# Place the policy mean at `theta = s m/||m|| + n e` (signal `s`, noise `n` along one
# noise coordinate `e`), let the RM best-respond, and draw where each gradient sends
# `theta`. With a ridge RM, `w*(theta)` lies in the span of `theta` and `m`, so both
# gradients stay in this plane: the picture is exact, not a projection.
#
# * **Myopic**: flows to a fixed point *beyond* the human ideal: holding the RM
#   fixed, the leader keeps climbing the RM's hyperplane until the action cost stops it.
# * **Exact Stackelberg**: the gradient of `J` itself, so it flows to `J`'s maximum.
# * **Their difference** is the steering term: what foresight adds.
#
# Red: the `rlhf` and `fpo-exact` trajectories of the `population` preset. Both move
# along the signal axis (the ridge RM forgets the noise of its initial weights at once,
# so this game shows the distortion of the fixed point rather than a drift into noise);
# exact FPO gets much further toward the ideal in the same 300 iterations.

# %%
field = population_field(quick=QUICK)
fig, meta = population_field_figure(field)
figures.save(fig, "population_field", OUT, meta)

# %%
for method, trajectory in field.paths.items():
    print(
        f"{method:>10}: final U(theta) {float(trajectory.utility[-1]):.2f}, "
        f"E[U] {float(trajectory.expected_utility[-1]):.2f}, "
        f"signal {float(trajectory.signal_proj[-1]):.2f}"
    )
