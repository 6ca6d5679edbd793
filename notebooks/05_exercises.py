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
# # 05 · Problem set: derive, then check
#
# Seven exercises on why reward hacking happens in toysim's games and what foresight
# changes. Each one asks you to **derive** a number: work out the formula on paper
# first, then evaluate it with a few lines of NumPy or JAX on the objects the
# exercise's first cell sets up. Then
#
# 1. write your number in the cell `answer = None`;
# 2. run `check(...)`: it prints `right` with the explanation, or a hint. toysim
#    computes the correct answer itself, by its own route (a simulation, autodiff of
#    its steering penalty, a step of its follower) and accepts your number to three
#    significant figures.
#
# A hint gives the idea of the derivation and is the same whatever your wrong
# answer is: it never tells you the value, nor whether you are too high or too low,
# so guessing gets you nowhere. Each exercise also asks you to **explain** something
# in a sentence or two; write it down before you check.
#
# What you need: the game (docs/theory/game.md), the symbols
# (docs/theory/notation.md), the presets' numbers (docs/settings.md) and, for
# exercise (e), the closed forms of the population game (docs/theory/population.md).
# The other theory pages derive what these exercises ask you to derive: read them
# afterwards.
#
# The toy in one paragraph (`paper-linear`): outputs `y` in 50 dimensions, the first
# 3 **signal** and the other 47 **noise**; the true utility is the bump
# `U(y) = A exp(-tau ||y - m||^2)`, `A = 10`, `tau = 0.3`, around the ideal
# `m = (2, 2, 2, 0, ..., 0)`. The reward model (RM) is linear, `r_w(y) = w . y`. Each
# iteration the policy (a point `theta`) takes a gradient step on
# `r_w(y) - c ||y||^2` (`c = 0.1`), then the RM one SGD step on `(w . y - U(y))^2` at
# the new point. RLHF ignores how its outputs retrain the RM; FPO (foresighted policy
# optimisation) adds a steering penalty `- gamma S(y)` that accounts for it.

# %%
import jax
import numpy as np

jax.config.update("jax_enable_x64", True)  # the notebook's choice; the library never flips it

from toysim import build, simulate
from toysim.exercises import check
from toysim.exercises.games import neural_final_state
from toysim.game.linear_round import initial_reward_weights
from toysim.seeds import seed_key

spec, hp = build("paper-linear", "rlhf")
rlhf = simulate(spec, hp, seed=0)
theta_T, w_T = np.asarray(rlhf.theta[-1]), np.asarray(rlhf.w[-1])
m = hp.ideal_value * (np.arange(spec.dim) < spec.signal_dims)
A, tau, c = hp.amplitude, hp.tau, hp.action_cost


def U(y):
    """The true utility of paper-linear."""
    return A * np.exp(-tau * np.sum((y - m) ** 2, axis=-1))


# %% [markdown]
# ## (a) The sign of the steering term
#
# Relaxed FPO's leader ascends `r_w(y) - c ||y||^2 - gamma S(y)` with the penalty
#
# `S(y) = (r_w(y) - U(y)) ||grad_w r_w(y)||^2`,
#
# so the steering force on the policy is `-gamma grad S`. Take RLHF's final state
# (seed 0): the policy `theta_T` and the RM `w_T`. RLHF never leaves the line of the
# initial RM's weights, so `w_T` is parallel to `theta_T` (the cell below checks it).
#
# Derive `-grad S(y)` for the linear RM, then evaluate its component along the policy,
# `u . (-grad S(theta_T))` with `u = theta_T / ||theta_T||` (without the factor gamma).
#
# **Explain** before you check: which sign do you expect? Which of the two terms of
# your derivative is small at `theta_T`, given that the RM was just refit there? Why
# does the other term push the policy away from outputs where the RM's error would
# grow?

# %%
cosine = w_T @ theta_T / (np.linalg.norm(w_T) * np.linalg.norm(theta_T))
print(f"cos(w_T, theta_T) = {cosine:.12f}")
print(f"r_w(theta_T) = {w_T @ theta_T:.3f}, U(theta_T) = {U(theta_T):.3f}")

# %%
answer = None  # your derived number
check("steering_sign", answer)

# %% [markdown]
# ## (b) Where the reward model underrates
#
# A hyperplane cannot fit a bump. Which outputs does `w_T` rate **below** their true
# utility? Settle two cases without numbers first: the half-space `w_T . y < 0`, and
# the policy's own output `theta_T`.
#
# Now the ray from the origin through the ideal, `y = f m` for `f >= 0`: the RM
# underrates from `f = 0` up to some `f_bar` and overrates just beyond it. Find
# `f_bar`.
#
# **Explain**: is the ideal itself underrated or overrated? Why is an RM that is right
# at the policy wrong at the ideal, and what does that do to a policy that climbs it?

# %%
answer = None  # your derived f_bar
check("underrated", answer)

# %% [markdown]
# ## (c) Where the Goodhart gap opens
#
# Goodhart curves plot the **gold** reward (the true utility) and the **proxy** (the
# RM's score of the policy) against the policy's distance from where it started,
# `d = sqrt(KL)`. Freeze the RM at its initial weights `w_0` (seed 0; in toysim
# `follower_lr = weight_decay = 0`): from `theta_0 = 0` the leader climbs
# `w_0 . y - c ||y||^2` by `theta <- theta + alpha (w_0 - 2 c theta)`. Read the point
# policy as `N(theta, 0.3^2 I)`, so that `d = ||theta|| / (0.3 sqrt 2)`.
#
# The proxy `w_0 . theta` rises at every iteration. At which `d` does the gold
# `U(theta)` peak, where proxy and gold part? Derive it: reading the peak off the
# run's iterations is not precise enough for three significant figures.
#
# **Explain**: what sets this distance, the optimiser or the RM? What would change if
# the RM were refit at the policy every iteration, as in RLHF (think of (b))?

# %%
w_0 = np.asarray(initial_reward_weights(seed_key(0), spec, hp))
print(f"||w_0|| = {np.linalg.norm(w_0):.4f}")

# %%
answer = None  # your derived distance d
check("goodhart_gap", answer)

# %% [markdown]
# ## (d) Why relaxed FPO approaches the oracle
#
# Suppose the RM takes one SGD step of size `eta` on each new output, without weight
# decay: `w+(y) = w - eta grad_w (w . y - U(y))^2`. The reward the policy will get for
# `y` once the RM has been trained on it is `r_{w+(y)}(y)`: that is the game's own
# foresight, one step ahead.
#
# With `eta = 0.0075`, which weight `gamma` makes relaxed FPO's objective
# `r_w(y) - c ||y||^2 - gamma (r_w(y) - U(y)) ||grad_w r_w(y)||^2` equal to the
# lookahead `r_{w+(y)}(y) - c ||y||^2` for every `y`?
#
# **Explain**: the published weight is `gamma = 0.1` with the preset's `eta = 0.005`.
# Write relaxed FPO's gradient as `(1 - xi) w + xi grad U(y) - ...` and compute `xi`
# at the ideal with the published weight. Whose slope does relaxed FPO follow there,
# the RM's or the true utility's, and is that foresight or the oracle `U`?

# %%
answer = None  # your derived gamma
check("lookahead_weight", answer)

# %% [markdown]
# ## (e) The population game
#
# The `population` preset: a Gaussian policy `N(theta, sigma^2 I)` with `sigma = 0.3`,
# and a follower that plays its exact best response to the whole distribution every
# iteration, ridge regression with `lambda = 0.1`:
#
# `w*(theta) = (theta theta^T + (sigma^2 + lambda / 2) I)^{-1} E[y U(y)]`
#
# (docs/theory/population.md has `E[y U(y)]` in closed form). The myopic leader follows
# `w*(theta) - 2 c theta`, holding `w*` fixed; the Stackelberg leader follows
# `dJ/dtheta` with `J(theta) = w*(theta) . theta - c (||theta||^2 + d sigma^2)`.
#
# On the line `theta = s m_hat` through the ideal (`m_hat = m / ||m||`), each gradient
# vanishes at one `s > 0`. Answer with the pair `(s_myopic, s_exact)`.
#
# **Explain**: where is the ideal on this line? On which side of it does each leader
# stop, and why does holding `w*` fixed move the rest point that way?

# %%
pop_spec, pop_hp = build("population", "rlhf")
print(pop_hp)

# %%
answer = None  # your derived pair (s_myopic, s_exact)
check("population_rest", answer)

# %% [markdown]
# ## (f) The neural reward model
#
# `paper-nn` (docs/settings.md, section paper-nn): outputs in 10 dimensions, an MLP RM
# (10 -> 32 -> 32 -> 1, softplus) trained by Adam on a buffer of the policy's recent
# samples, a Gaussian policy whose mean climbs
# `r_phi(y) - c ||y||^2 - gamma (r_phi(y) - U(y)) ||grad_phi r_phi(y)||^2`
# (relaxed FPO, `gamma = 0.005`, the gradient over all 1,441 parameters of the MLP).
#
# The cell below runs relaxed FPO for 200 iterations (seed 0, about ten seconds to
# compile) and gives the RM the leader saw last, `phi`, and the policy's final mean,
# `theta`. The RM is calibrated there: `r_phi(theta)` is close to `U(theta)`. Where
# `r = U`, relaxed FPO's gradient in `y` can be written
# `(1 - xi) grad r + xi grad U - 2 c y`. Derive `xi` and compute it at `theta`.
#
# **Explain**: is `xi` above or below 1, and whose slope does the leader follow? Why
# is it large here, where the network scores outputs near 10?

# %%
model, phi, theta = neural_final_state()
nn_spec, nn_hp = build("paper-nn", "fpo-relaxed")
nn_m = nn_hp.ideal_value * (np.arange(nn_spec.dim) < nn_spec.signal_dims)
u_theta = nn_hp.amplitude * np.exp(-nn_hp.tau * np.sum((np.asarray(theta) - nn_m) ** 2))
print(f"r_phi(theta) = {float(model.reward(phi, theta)):.3f}, U(theta) = {u_theta:.3f}")
print("layers (W, b):", [(w.shape, b.shape) for w, b in phi])

# %%
answer = None  # your derived xi
check("neural_slope_share", answer)

# %% [markdown]
# ## (g) Comparisons
#
# `pairwise-linear` trains the linear RM on comparisons, not on values. Two outputs
# `y_0, y_1` near the policy are compared by a labeller that prefers `y_0` with
# probability `p = (1 - q) s(beta dU) + q (1 - s(beta dU))`, `dU = U(y_0) - U(y_1)`,
# `s` the logistic function, `beta = 1` and `q = 0.1` (a tenth of the labels
# flipped). The RM fits `s(w . (y_0 - y_1))` to these labels (Bradley-Terry).
#
# To first order in the differences, the fitted RM is `w*(theta) = kappa grad U(theta)`:
# derive `kappa`. A leader that climbs this best response ascends
# `V(theta) = w*(theta) . theta - c ||theta||^2`. On the line `theta = f m`, at which
# `f` does `V` peak? (`pairwise-linear`: `d = 10`, `A = 10`, `tau = 0.2`,
# `m = (2.5, 2.5, 0, ..., 0)`, `c = 0.05`.)
#
# **Explain**: what is `V` at the ideal itself, whatever the height of `U` there? What
# can a comparison-trained RM not reward?

# %%
_, pw_hp = build("pairwise-linear", "rlhf")
print(pw_hp)

# %%
answer = None  # your derived f
check("pairwise_stop", answer)
