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
# # 01 · Alignment collapse in the 50-dimensional toy
#
# In iterative RLHF the policy produces the outputs on which the reward model (RM) is
# retrained. The policy is a Stackelberg **leader**, the RM its **follower**. Standard
# RLHF is *myopic*: it climbs the current RM and ignores how its own outputs will
# reshape the RM. This notebook reproduces the paper's first experiment (the
# `paper-linear` preset; every number is in docs/settings.md):
#
# * outputs `y` in 50 dimensions; the true (human) utility is a Gaussian bump
#   `U(y) = 10 exp(-0.3 ||y - m||^2)` centred on the human ideal `m = (2, 2, 2, 0, ..., 0)`;
# * the RM is **linear**, `r_w(y) = w . y`: a hyperplane can never fit a bump
#   (the *capacity gap*);
# * each iteration the policy (a point `y`) takes one gradient step on
#   `r_w(y) - c ||y||^2`, then the RM takes one SGD step on the squared error
#   `(w . y - U(y))^2` at the new point.
#
# The first 3 coordinates are **signal** (where `m` lives); the other 47 are **noise**:
# directions the RM can be exploited along but humans do not value.
#
# Every figure below is made by the same functions as `python -m toysim figures`
# and saved with a JSON sidecar of its configuration.
#
# **Where figures go.** The notebook runs from any folder. It saves each figure
# (PNG, PDF and a JSON sidecar) into `toysim.figures.output_dir()`: the folder named
# by the environment variable `TOYSIM_FIGURES` if it is set, else `figures/` in the
# kernel's working directory (in Jupyter, the notebook's own folder). Set
# `TOYSIM_QUICK=1` for fewer seeds (what the tests do).

# %%
import os

import jax

jax.config.update("jax_enable_x64", True)  # the notebook's choice; the library never flips it

from toysim import build, figures, simulate
from toysim.experiments import collapse
from toysim.plots import collapse_figures

QUICK = os.environ.get("TOYSIM_QUICK") == "1"  # fewer seeds, for CI
OUT = figures.output_dir()  # $TOYSIM_FIGURES, else ./figures

# %% [markdown]
# ## Three leaders
#
# * **rlhf**: myopic, ascends `w . y - c ||y||^2`.
# * **fpo-relaxed**: the paper's relaxed foresighted penalty, `- gamma (r - U) ||grad_w r||^2`
#   with `gamma = 0.1`. For a linear RM `grad_w r = y`, so the penalty is
#   `gamma (w . y - U(y)) ||y||^2`: it punishes outputs the RM *overrates*, in
#   proportion to how strongly training on them would move the RM.
# * **fpo-practical**: the oracle-free version, `- gamma ||grad_w r||^2`.
#
# `collapse_runs` runs each over many seeds at once (one `jit(vmap)` per method);
# the seed draws the RM's random initial weights.

# %%
runs = collapse.collapse_runs(quick=QUICK)
for method, t in runs.trajectories.items():
    print(
        f"{method:>14}: final signal {float(t.signal[0, -1]):.2f}, "
        f"noise {float(t.noise[0, -1]):.2f}, utility {float(t.utility[0, -1]):.2f}"
    )

# %% [markdown]
# ## The phase-space picture
#
# Signal magnitude against noise magnitude, over contours of the true utility. Time
# runs from light to dark. RLHF arcs away into the noise; relaxed FPO stays in the
# signal corridor and settles next to the human ideal (the gold star).

# %%
fig, meta = collapse_figures.collapse_phase_space(runs, "block")
figures.save(fig, "collapse_phase_space", OUT, meta)

# %% [markdown]
# In these published coordinates the background is only an *upper bound* on `U`:
# a point with signal magnitude `s` can still point away from `m` inside the
# signal block. Projecting on `m` instead (signal = `y . m/||m||`, noise = distance
# from the line through `m`) makes `||y - m||^2 = (signal - ||m||)^2 + noise^2`
# exact, so the contour *is* the true utility of every plotted point:

# %%
fig, meta = collapse_figures.collapse_phase_space(runs, "projection")
figures.save(fig, "collapse_phase_space_projection", OUT, meta)

# %% [markdown]
# ## Noise and utility over time
#
# The other two published figures. RLHF's utility peaks near iteration 100, then
# falls as the noise keeps growing: the policy keeps finding directions the RM
# rewards and the human does not.

# %%
fig, meta = collapse_figures.collapse_noise(runs)
figures.save(fig, "collapse_noise", OUT, meta)

# %%
fig, meta = collapse_figures.collapse_utility(runs)
figures.save(fig, "collapse_utility", OUT, meta)

# %% [markdown]
# ## Where is the Goodhart gap?
#
# One might expect the proxy reward `r(y)` to climb while `U(y)` falls. Not here:
# the RM is retrained on the policy's own output every iteration, so *at that output*
# it is nearly calibrated (left). The gap opens elsewhere (right): under RLHF the
# RM's score of the human ideal `r(m)` sinks far below `U(m) = 10`. The policy has
# steered the RM into liking where the policy already is: the RM's map is refined
# only where the policy walks.

# %%
fig, meta = collapse_figures.collapse_goodhart(runs)
figures.save(fig, "collapse_goodhart", OUT, meta)

# %% [markdown]
# ## Over seeds
#
# The picture is not one lucky seed: median and interquartile range over seeds.

# %%
fig, meta = collapse_figures.collapse_bands(runs)
figures.save(fig, "collapse_bands", OUT, meta)

# %% [markdown]
# ## Why practical FPO only half-helps here
#
# For a linear RM, `grad_w r_w(y) = y`, so the practical penalty is
# `gamma ||y||^2`, and the leader's objective becomes
# `w . y - (c + gamma) ||y||^2`: **practical FPO is exactly RLHF with a stronger
# action cost** (a tighter KL leash). It shortens the leash but cannot tell signal
# from noise. Check it: RLHF with `c = 0.1 + 0.1` follows the same trajectory.

# %%
spec, hp = build("paper-linear", "rlhf")
leashed = simulate(spec, hp._replace(action_cost=0.2), seed=0)
practical = runs.trajectories["fpo-practical"]
gap = abs(float(leashed.noise[-1]) - float(practical.noise[0, -1]))
print(f"final noise: rlhf with c = 0.2: {float(leashed.noise[-1]):.6f}")
print(
    f"             fpo-practical:     {float(practical.noise[0, -1]):.6f}  (difference {gap:.1e})"
)

# %% [markdown]
# Relaxed FPO keeps the overconfidence factor `r - U`: it penalises only the outputs
# the RM overrates, which in this toy are exactly the noisy ones. The next notebook
# (`02_exact_vs_relaxed`) puts back the exact influence function and climbs down the
# ladder of relaxations one switch at a time.
