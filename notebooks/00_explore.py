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
# # 00 · Explore the game live
#
# In iterative RLHF the policy (the **leader**) produces the outputs the reward model
# (the **follower**) is retrained on. Each iteration the leader climbs
#
# $$F(\theta) = \mathbb{E}[r_\phi(y)] - c\,\mathbb{E}\|y\|^2 - \gamma\,S(\theta),$$
#
# then the reward model takes a step of size $\eta$ on the squared error between its
# score and the true utility $U(y) = 10\,e^{-0.3\|y - m\|^2}$ at the new output.
# Myopic **RLHF** drops the steering term $S$ and drifts into directions the linear
# reward model overrates but humans do not value (the **noise**); **FPO** keeps $S$,
# the influence of the leader's next output on the reward model, and four switches
# choose how exactly it is computed.
#
# Run the cell below (JupyterLab, after `pip install -e ".[notebooks]"` in a clone) and move
# the sliders: the picture answers at once.
#
# * **gamma**: the weight of the steering term (FPO only; RLHF's is 0).
# * **c**: the action cost, a KL-like leash that pulls the policy back to the origin.
# * **leader step**, **follower step eta**: the two step sizes (the follower's
#   exact loss has the proximal weight $\lambda = 1/\eta$, so they move together).
# * **steps T**: the horizon shown; **seed**: the reward model's random start.
# * **method** and the four **switches** (hessian, influence, params, oracle):
#   `fpo-exact` is the true Stackelberg gradient, `fpo-relaxed` and `fpo-practical`
#   are the paper's relaxations; changing a switch picks the method it makes.
# * **coordinates**: `projection` (on $m$; the contours are the exact utility) or
#   `block` (the published $\|y_{1:3}\|$, $\|y_{4:50}\|$; the contours bound it).
#
# Things to try:
#
# 1. Start with **rlhf**: the path arcs away from the star into the noise and the
#    utility peaks near iteration 100, then falls. Raise **c**: a tighter leash
#    slows the drift but also stops the policy short of the ideal.
# 2. Switch to **fpo-relaxed** and lower **gamma** towards 0.001: somewhere on the
#    way the collapse comes back. Then raise it again until it stops; too much is
#    also wrong: at gamma = 3 the policy runs far past the ideal, and at 5 the run
#    blows up (the message in the widget says at which iteration).
# 3. From **fpo-relaxed** switch the **oracle** off (the method becomes
#    `fpo-practical`): without the true utility the penalty is only a leash.
# 4. **fpo-exact** at its Stackelberg weight gamma = 2 ends between RLHF and relaxed
#    FPO; what gamma does it need to hold?
# 5. Try the **population** preset (a Gaussian policy, every expectation in closed
#    form) and **sycophancy** (the initial reward model overrates two noise features).
#
# Moving a number never recompiles: one program per preset and method is compiled
# (a few seconds, the first time) and every number is passed to it as data. The
# theory behind each switch is in docs/theory/relaxations.md.

# %%
import jax
from IPython.display import display

jax.config.update("jax_enable_x64", True)  # the notebook's choice; the library never flips it

import toysim

box = toysim.explore("paper-linear", "rlhf")
display(box)

# %% [markdown]
# The widget can also be driven from code, for instance to set up a comparison
# before a class: `box.explorer` holds the controls, and `set` changes several at
# once (a named method first, then any switch).

# %%
box.explorer.set(method="fpo-relaxed", gamma=0.05, action_cost=0.1)
utility = box.explorer.last_run.series["utility"]
print(f"fpo-relaxed, gamma 0.05: final utility {utility[-1]:.2f} (peak {utility.max():.2f})")
