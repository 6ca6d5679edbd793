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
# # 02 · Exact FPO and the ladder of relaxations
#
# The leader's true (Stackelberg) gradient has a **steering term** that myopic RLHF
# drops: how the policy's outputs move the RM's future parameters. Written with
# the influence function (docs/theory/stackelberg-gradient.md),
#
# `I(y) = - g^T H^{-1} grad_phi l(phi*; y)`,
#
# where `H` is the Hessian of the RM's training loss, `g = E_pi[grad_phi r]` and
# `phi*` the RM's best response. toysim's leader maximises
# `E[r] - c E||y||^2 - gamma S` with the penalty `S = -I/2`; with `gamma = 2 omega`
# (`omega`: the weight of the new data in the RM's loss) this is the **exact**
# Stackelberg gradient, a fact the test suite checks against autodiff through an
# exact solve and against finite differences.
#
# The paper relaxes the exact term in four steps (docs/theory/relaxations.md), each
# a switch in toysim:
#
# | switch | exact | relaxed |
# | --- | --- | --- |
# | `hessian` | solve with `H` | `H -> I` (the scale goes into `gamma`) |
# | `influence` | global `g = E_pi[grad r]` | local `g = grad r(y)` (self-influence, TracIn) |
# | `params` | `phi*`, the RM's optimum | `phi_t`, its current parameters |
# | `oracle` | the residual `r - U` | the constant 1 |
#
# All four relaxed with the oracle is **relaxed FPO**; without it, **practical FPO**.
# (`hessian` also has three rungs between its two ends, `damped`, `gauss-newton` and
# `diagonal`: cheaper matrices that stand for `H`, docs/theory/exact-fpo.md.)
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
from toysim.analysis import LADDER, SINGLE_SWITCHES
from toysim.experiments import ladder as ladder_experiment
from toysim.plots import collapse_figures

QUICK = os.environ.get("TOYSIM_QUICK") == "1"
OUT = figures.output_dir()  # $TOYSIM_FIGURES, else ./figures

for label, method in LADDER:
    print(
        f"{label:>20}: hessian={method.hessian}, influence={method.influence}, "
        f"params={method.params}, oracle={method.oracle}"
    )

# %% [markdown]
# ## A setting where the switches matter: a Gaussian policy
#
# In the linear toy of notebook 01 the policy is a point, and three of the four
# switches barely matter (see the last section). So the ladder is run on the
# **population game** (docs/theory/population.md): the policy is a Gaussian
# `N(theta, 0.3^2 I)` in 50 dimensions, and the RM best-responds to the whole policy
# distribution with a *proximal* anchor `lambda = 1` (it remembers its previous
# parameters, so `phi*` and `phi_t` differ). Every expectation is closed form,
# so every gradient is exact and noise-free.
#
# With `H -> I` the ladder uses `gamma = 2 omega / lambda`, replacing `H` by its
# anchor part `lambda I`.

# %%
ladder = ladder_experiment.ladder_runs(quick=QUICK)
print(ladder_experiment.format_ladder_table(ladder_experiment.ladder_table(ladder)))

# %% [markdown]
# Reading the table (medians over seeds; `U(theta)` at the policy mean, `E[U]` the
# expected utility of the Gaussian policy, capped near 2.7 by the spread alone):
#
# * **exact** FPO brings the policy mean close to the ideal.
# * **H = I** keeps the direction of the steering term (cosine 1) but not its size,
#   since `H` has a large eigenvalue along `theta`; the outcome here is similar.
# * **local influence** is where it breaks: the steering term still points the same
#   way, but it is an order of magnitude larger. Self-influence of a *sample* includes
#   the sample's own noise: `E[y^T M^{-1} y] = theta^T M^{-1} theta + sigma^2 tr M^{-1}`
#   (`M` the matrix that stands for `H`), and in 50 dimensions `sigma^2 tr M^{-1}`
#   dominates. The penalty swamps the reward and the policy
#   freezes near the origin.
# * **current params** changes little here: this follower is never far from its optimum.
# * **no oracle** flips the steering term's sign (cosine -1): in this game the exact
#   term is a *bonus* (the RM underrates the policy's outputs), which the oracle-free
#   penalty cannot express.

# %%
fig, meta = collapse_figures.ladder_phase_space(ladder)
figures.save(fig, "ladder_phase_space", OUT, meta)

# %%
fig, meta = collapse_figures.ladder_utility(ladder)
figures.save(fig, "ladder_utility", OUT, meta)

# %% [markdown]
# ## How far each relaxation steers from exact
#
# At every state of the *exact* trajectory, toysim evaluates every rung's steering
# direction (the `probes` of a `LinearSpec`) and takes its cosine with the exact one.
# A cosine is scale-free, so this isolates the direction from the choice of `gamma`;
# the table's last column gives the size.

# %%
fig, meta = collapse_figures.ladder_cosines(ladder)
figures.save(fig, "ladder_cosines", OUT, meta)

# %% [markdown]
# ## One switch at a time
#
# The ladder adds relaxations cumulatively. Switching each on *alone* (the others
# exact) attributes the damage: local influence and the missing oracle are the two
# that matter in this game.

# %%
single = ladder_experiment.ladder_runs(quick=QUICK, rungs=SINGLE_SWITCHES)
print(ladder_experiment.format_ladder_table(ladder_experiment.ladder_table(single)))

# %% [markdown]
# ## And for the point policy of notebook 01
#
# With a point policy `y = theta`, global and local influence have the same value
# (docs/theory/relaxations.md; their derivatives differ only by a term proportional to the
# residual `r - U`, which the one-step follower keeps small), and the one-step
# follower's Hessian is `I/eta + 2 y y^T`, so `H -> I` is exact to first order.
# Only the oracle matters, which is why the paper's relaxed FPO works so well there.
# Note also that exact FPO (`gamma = 2`) is *weaker* than the published relaxed FPO:
# the published `gamma = 0.1` is ten times the exact one-step lookahead `2 eta = 0.01`.

# %%
point = ladder_experiment.ladder_runs(quick=QUICK, setting="paper-linear")
print(ladder_experiment.format_ladder_table(ladder_experiment.ladder_table(point)))
print("median cosine of '+ no oracle' with exact:", np.round(np.median(point.cosines[..., -1]), 3))
