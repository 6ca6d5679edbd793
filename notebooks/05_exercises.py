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
# # 05 · Problem set: reward hacking in a toy RLHF loop
#
# Six exercises on the `paper-linear` game of notebook 01 (every number is in
# docs/settings.md). Each one is **predict, then run**:
#
# 1. read the question and write your prediction in the cell `answer = None`;
# 2. run `check(...)`: it prints `right` with the reason, or a hint (never the answer).
#    toysim computes the correct answer itself, with the same simulations as below;
# 3. run the experiment cell after it and see why.
#
# Do not run the experiment before you have committed to a prediction: the point is
# to find out where your intuition about reward hacking is wrong.
#
# The game in one paragraph: outputs `y` in 50 dimensions, of which the first 3 are
# **signal** and the other 47 **noise**. The true utility is a bump
# `U(y) = 10 exp(-0.3 ||y - m||^2)` around the human ideal `m = (2, 2, 2, 0, ..., 0)`.
# The reward model (RM) is linear, `r_w(y) = w . y`, started near `(1, 1, 1, 0, ...)`
# plus small random noise weights. Each iteration the policy (a point `y`) takes one
# gradient step on `r_w(y) - c ||y||^2`, then the RM one SGD step on
# `(w . y - U(y))^2` at the new point. The theory behind the exercises is in
# docs/theory/game.md, docs/theory/stackelberg-gradient.md and
# docs/theory/relaxations.md.
#
# This notebook saves no figures (it runs from any folder); the checkers take a few
# seconds the first time each one compiles its simulation.

# %%
import jax
import numpy as np

jax.config.update("jax_enable_x64", True)  # the notebook's choice; the library never flips it

from toysim import build, plots, simulate
from toysim.exercises import ACTION_COSTS, GAMMAS, HOLDS_AT, PRACTICAL_GAMMA, SEEDS, check
from toysim.sweep import sweep

# %% [markdown]
# ## (a) The capacity gap
#
# First, without running anything: **why can the linear RM never fit `U`?** Compare
# what `w . y` and `U(y)` do as `y` moves far from the origin in any direction, and
# what each is at the origin.
#
# Now the prediction. `U` is the same function of every noise coordinate, symmetric
# about 0, so an RM that fitted `U` everywhere would put **zero** weight on the noise.
# The RM starts with small random noise weights. After 300 RLHF iterations
# (seed 0), what is the **cosine** between the RM's noise weights `w[3:]` and the
# policy's noise `y[3:]`? About 0 would mean the RM has learned that noise is
# worthless; about +1, that it rewards exactly the noise the policy has; about -1,
# that it punishes it.

# %%
answer = None  # your prediction: a number in [-1, 1]
check("capacity_gap", answer)

# %% [markdown]
# Run it: the norms of the noise parts of `w` and `y`, and the cosine between them.

# %%
spec, hp = build("paper-linear", "rlhf")
rlhf = simulate(spec, hp, seed=0)
k = spec.signal_dims
w_noise, y_noise = np.asarray(rlhf.w[:, k:]), np.asarray(rlhf.theta[:, k:])
for it in (10, 50, 100, 200, 300):
    w, y = w_noise[it - 1], y_noise[it - 1]
    cosine = w @ y / (np.linalg.norm(w) * np.linalg.norm(y))
    print(
        f"iteration {it:>3}: ||w_noise|| {np.linalg.norm(w):.3f}, "
        f"||y_noise|| {np.linalg.norm(y):.3f}, cosine {cosine:+.3f}, "
        f"U(y) {float(rlhf.utility[it - 1]):.2f}"
    )

# %% [markdown]
# The capacity gap: `w . y` is 0 at the origin and unbounded along any direction
# where `w` is not orthogonal, while `U` is positive everywhere and vanishes far away;
# a hyperplane matches a bump at best near one point. Retrained only at the policy's
# own output, the RM is calibrated *there* and wrong elsewhere, and along the noise
# it keeps paying for exactly the direction the policy has taken.

# %% [markdown]
# ## (b) How much foresight stops the collapse?
#
# Relaxed FPO adds the penalty `- gamma (r_w(y) - U(y)) ||grad_w r_w(y)||^2`, which for
# the linear RM is `- gamma (w . y - U(y)) ||y||^2`: it charges the outputs the RM
# *overrates*, in proportion to how strongly training on them would move the RM.
# `gamma = 0` is RLHF, the published weight is `0.1`.
#
# At the preset's action cost `c = 0.1`, what is the **smallest** `gamma` among the
# candidates below at which relaxed FPO's median final utility over 8 seeds reaches 9
# (the ideal is 10)?

# %%
print("candidates:", GAMMAS)
answer = None  # your prediction: one of GAMMAS
check("relaxed_gamma", answer)

# %% [markdown]
# Run it: one compiled sweep over the candidates and 8 seeds.

# %%
spec, hp = build("paper-linear", "fpo-relaxed")
relaxed = sweep(spec, hp, {"gamma": GAMMAS}, SEEDS)
for gamma, final, noise in zip(
    GAMMAS,
    relaxed.median_over_seeds("final_utility"),
    relaxed.median_over_seeds("final_noise"),
    strict=True,
):
    mark = "holds" if final >= HOLDS_AT else ""
    print(f"gamma {gamma:<6g}: median final utility {final:5.2f}, noise {noise:.3f} {mark}")

# %% [markdown]
# ## (c) Dropping the oracle
#
# Relaxed FPO needs `U(y)`, the human's true utility of the output: an oracle.
# **Practical FPO** replaces the residual `r - U` by 1 and penalises
# `gamma ||grad_w r_w(y)||^2` alone. With `gamma = 0.05` and the preset's `c = 0.1`,
# practical FPO follows exactly the same trajectory as RLHF with some other action
# cost `c`. Which `c`?

# %%
answer = None  # your prediction: an action cost c
check("practical_leash", answer)

# %% [markdown]
# Run it: practical FPO against RLHF at the preset's `c` and at `c + gamma` (seed 0).

# %%
spec, hp = build("paper-linear", "fpo-practical")
practical = simulate(spec, hp._replace(gamma=PRACTICAL_GAMMA), seed=0)
spec, hp = build("paper-linear", "rlhf")
print(f"practical FPO: final utility {float(practical.utility[-1]):.2f}")
for c in (hp.action_cost, hp.action_cost + PRACTICAL_GAMMA):
    leashed = simulate(spec, hp._replace(action_cost=c), seed=0)
    gap = float(np.max(np.abs(np.asarray(leashed.theta) - np.asarray(practical.theta))))
    print(
        f"RLHF at c = {c:g}: final utility {float(leashed.utility[-1]):.2f}, "
        f"largest difference from practical FPO's trajectory {gap:.1e}"
    )

# %% [markdown]
# In this toy the oracle is the whole difference between "punish the outputs the RM
# overrates" and "stay close to the origin". A leash pulls signal and noise alike,
# so practical FPO cannot stop the drift into the noise; it only slows it.

# %% [markdown]
# ## (d) The KL leash
#
# The action cost `c ||y||^2` plays the role of RLHF's KL penalty to the reference
# policy. Over the action costs below, which `c` gives RLHF its **best median final
# utility** (8 seeds)?

# %%
print("candidates:", ACTION_COSTS)
answer = None  # your prediction: one of ACTION_COSTS
check("kl_leash", answer)

# %% [markdown]
# And at the two ends: label RLHF's outcome at the weakest leash (`c = 0.01`) and at
# the strongest (`c = 3`), each one of
#
# * `"collapse"`: reaches a good utility, then loses more than 20% of it by the end;
# * `"stall"`: never gets anywhere (its peak utility stays below 2, a fifth of the ideal);
# * `"holds"`: neither.

# %%
answer = None  # your prediction: a pair, (label at c = 0.01, label at c = 3)
check("leash_failure", answer)

# %% [markdown]
# Run it: RLHF over the action costs, 8 seeds, final and peak utility.

# %%
spec, hp = build("paper-linear", "rlhf")
leash = sweep(spec, hp, {"c": ACTION_COSTS}, SEEDS)
for c, final, peak, collapsed in zip(
    ACTION_COSTS,
    leash.median_over_seeds("final_utility"),
    leash.median_over_seeds("max_utility"),
    leash.fraction_over_seeds("collapsed"),
    strict=True,
):
    print(f"c {c:<5g}: median peak {peak:5.2f}, final {final:5.2f}, collapsed {collapsed:.0%}")
fig = plots.curves(
    np.asarray(ACTION_COSTS),
    {
        "rlhf: peak": leash.metrics["max_utility"].T,
        "rlhf: final": leash.metrics["final_utility"].T,
    },
    xlabel="action cost c (the KL leash)",
    ylabel="true utility",
    reference=10.0,
    reference_label="ideal, U(m)",
    title=f"RLHF against the leash ({SEEDS} seeds: median and IQR)",
    ylim=(0, 10.8),
    logx=True,
    styles={
        "rlhf: peak": dict(plots.STYLES["rlhf"], linestyle=":"),
        "rlhf: final": plots.STYLES["rlhf"],
    },
)

# %% [markdown]
# ## (e) Exact against relaxed
#
# Exact FPO puts back the true steering term of the Stackelberg gradient: with the
# follower's Hessian `H` and the weight `gamma = 2 omega` (`omega = 1` here), the
# leader follows `dJ/dtheta` itself (docs/theory/exact-fpo.md). One would expect
# the exact gradient to beat any relaxation, yet on `paper-linear` exact FPO ends
# **between** RLHF and the published relaxed FPO. Why?
#
# The one-step follower's loss has Hessian `H = I / eta + 2 y y^T` (`eta = 0.005`,
# the RM's step size). Relaxed FPO replaces `H` by the identity, so its `gamma` must
# carry the scale of `H^{-1}` itself. Which relaxed `gamma` makes relaxed FPO the
# **exact one-step lookahead** of this follower?

# %%
answer = None  # your prediction: a weight gamma > 0
check("lookahead_gamma", answer)

# %% [markdown]
# Run it: the three leaders, and relaxed FPO at the lookahead weight against exact
# FPO (seed 0).

# %%
spec, hp = build("paper-linear", "fpo-exact")
exact = simulate(spec, hp, seed=0)
exact_gamma = float(hp.gamma)
spec, hp = build("paper-linear", "fpo-relaxed")
lookahead_gamma = 2 * 1 * hp.follower_lr  # 2 omega eta, with omega = 1
lookahead = simulate(spec, hp._replace(gamma=lookahead_gamma), seed=0)
runs = {
    "rlhf": rlhf,
    f"fpo-exact (gamma = {exact_gamma:g})": exact,
    f"fpo-relaxed (gamma = {lookahead_gamma:g})": lookahead,
    f"fpo-relaxed (gamma = {hp.gamma:g}, published)": simulate(spec, hp, seed=0),
}
for name, t in runs.items():
    print(
        f"{name:>35}: final utility {float(t.utility[-1]):.2f}, "
        f"noise {float(t.noise[-1]):.3f}, signal {float(t.signal[-1]):.2f}"
    )
gap = float(np.max(np.abs(np.asarray(lookahead.theta) - np.asarray(exact.theta))))
print(f"largest difference between exact FPO and relaxed FPO at the lookahead weight: {gap:.3f}")

# %% [markdown]
# The exact Stackelberg gradient is only as foresighted as the game: a follower that
# takes one small step per iteration barely reacts to any one output, so the true
# steering term is small. The published weight is ten times that lookahead, more
# foresight than the game's own gradient, and it is this excess that keeps relaxed
# FPO in the signal corridor. Notebook 02 and docs/theory/relaxations.md climb the
# ladder of relaxations switch by switch.
