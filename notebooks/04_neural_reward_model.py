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
# # 04 · A neural reward model: FPO without strong convexity
#
# The paper's theorem assumes the reward model's loss is strongly convex, so that
# the RM has one best response and its Hessian can be inverted. Real RMs are
# over-parameterised networks with many minima. This notebook runs the paper's
# second toy (docs/theory/neural.md) in JAX:
#
# * outputs in 10 dimensions, `U(y) = 10 exp(-0.2 ||y - m||^2)`, `m = (2.5, 2.5, 0, ...)`;
# * the RM is an MLP 10 -> 32 -> 32 -> 1 (softplus), trained by Adam with L2 weight
#   decay on a buffer of the last 50 samples, 5 new per outer iteration;
# * the policy is a Gaussian whose spread and step size decay over 4,000 outer
#   iterations; each takes 15 clipped gradient steps on single samples.
#
# `fpo-exact` here solves with the **damped** Hessian `H + mu I` (`mu = 1`) of the
# RM's loss at its current parameters, by conjugate gradients on Hessian-vector
# products: no Hessian is ever formed inside the trajectory. (That is the published
# comparison's choice, which these figures keep; the preset's own `fpo-exact` solves
# the undamped `H` by MINRES, and docs/results/neural-ladder.md runs every curvature
# rung.)
#
# **Where figures go.** The notebook runs from any folder. It saves each figure
# (PNG, PDF and a JSON sidecar) into `toysim.figures.output_dir()`: the folder named
# by the environment variable `TOYSIM_FIGURES` if it is set, else `figures/` in the
# kernel's working directory (in Jupyter, the notebook's own folder). Set
# `TOYSIM_QUICK=1` for fewer seeds (what the tests do).

# %%
import os

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from toysim import figures
from toysim.experiments import neural
from toysim.plots import neural_figures

QUICK = os.environ.get("TOYSIM_QUICK") == "1"
OUT = figures.output_dir()  # $TOYSIM_FIGURES, else ./figures

# %% [markdown]
# ## Four leaders over several seeds
#
# `neural_runs` vmaps each method over seeds (5, as in the paper's figure).

# %%
runs = neural.neural_runs(quick=QUICK)
for method, t in runs.trajectories.items():
    finals = np.round(np.asarray(t.utility)[:, -1], 2)
    print(f"{method:>14}: final utility per seed {finals}")

# %% [markdown]
# RLHF's outcome depends on the seed: seed 0 collapses, others end high. Over 16
# seeds (`python -m toysim reproduce --neural --seeds 16`; docs/results/reproduction.md
# quotes its collapse count and range) it is as spread as the published runs (2.3, 3.5,
# 2.8, 5.7, 7.6); relaxed FPO reaches the ideal on every seed. Exact FPO with the damped
# Hessian also prevents the collapse: the theorem's assumption fails, the remedy
# still works.

# %%
fig, meta = neural_figures.neural_utility_bands(runs)
figures.save(fig, "neural_utility_bands", OUT, meta)

# %% [markdown]
# ## The trajectories in their principal plane
#
# The policy mean lives in 10 dimensions; the two principal components of all four
# trajectories show where each went, over the true utility on that plane.

# %%
fig, meta = neural_figures.neural_pca(runs)
figures.save(fig, "neural_pca", OUT, meta)

# %% [markdown]
# ## How non-convex is the follower?
#
# Along the exact-FPO run, every 100 iterations, the dense Hessian of the RM's loss
# (1,441 parameters: small enough to diagonalise) and the steering direction of
# each relaxation against the damped exact one. The Hessian is indefinite almost
# everywhere: its smallest eigenvalue is negative at nearly every checkpoint, so the
# RM's parameters are not at a minimum as the implicit-function argument assumes, and
# conjugate gradients need the damping `H + mu I`; MINRES, the preset's own solver,
# solves the undamped indefinite `H` (docs/results/neural-ladder.md compares them).
# At the policy mean the RM is nearly calibrated (`r ~ U`), so every oracle-based
# steering term points along `grad_y (r - U)` and the directions agree; what the
# relaxations change is the size.

# %%
fig, meta = neural_figures.neural_diagnostics_figure(neural.neural_diagnostics(quick=QUICK))
figures.save(fig, "neural_diagnostics", OUT, meta)
print(
    f"Hessian indefinite at {meta['indefinite_fraction']:.0%} of checkpoints; "
    f"smallest eigenvalue {meta['smallest_eigenvalue_min']:.2f}; "
    f"the curvature solve converged on {meta['solve_converged_fraction']:.0%} of iterations "
    f"({meta['solve_mean_iterations']:.1f} solver iterations on average)"
)
