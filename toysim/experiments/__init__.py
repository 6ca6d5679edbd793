"""The experiments behind every figure: each runs its games and returns arrays and metadata.

One module per experiment, none importing matplotlib; the figures are drawn
from their results by :mod:`toysim.plots` and registered in
:mod:`toysim.figures`.

- :mod:`toysim.experiments.runner`: one game over seeds, ``jit(vmap)``, compiled once
  per spec, then the non-finite check.
- :mod:`toysim.experiments.collapse`: ``paper-linear`` with each method (notebook 01).
- :mod:`toysim.experiments.ladder`: the relaxation ladder (notebook 02).
- :mod:`toysim.experiments.population`: the population game's gradient fields (notebook 03).
- :mod:`toysim.experiments.neural`: ``paper-nn`` runs and the non-convexity diagnostics
  (notebook 04).
- :mod:`toysim.experiments.phase`: the phase diagram over (gamma, c).
- :mod:`toysim.experiments.dimension`: collapse against the dimension.
- :mod:`toysim.experiments.kl_leash`: the KL leash curve.
- :mod:`toysim.experiments.sycophancy`: the sycophancy preset.
- :mod:`toysim.experiments.regimes`: the data regimes on the pairwise presets.
- :mod:`toysim.experiments.label_noise`: each leader over the labeller's ``(beta, epsilon)``
  on the pairwise presets.
- :mod:`toysim.experiments.landscape`: the leader's objective at the follower's fixed point
  and the steering's direction along pairwise-linear's exact FPO.
- :mod:`toysim.experiments.animation`: the paths of the phase-space animation.
- :mod:`toysim.experiments.goodhart`: gold and proxy against sqrt(KL), Gao et al.'s fits.
- :mod:`toysim.experiments.calibration`: the reward model's error over signal / noise.
- :mod:`toysim.experiments.mitigations`: the KL leash, reward-model ensembles, early stopping
  and FPO at matched leader steps.
- :mod:`toysim.experiments.shared`: the runs several figures share, each computed once.
"""
