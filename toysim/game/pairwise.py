"""The pairwise presets: ``pairwise-linear`` and ``pairwise-nn`` (docs/theory/pairwise.md).

Both are paper-nn's sampled-buffer game (:func:`toysim.game.neural.paper_nn`:
same utility, buffer of the last 10 blocks of 5 samples, Adam follower with
L2 decay, steering weights) with a Bradley-Terry follower on pairs of the
policy's outputs, labelled by Bernoulli draws (``beta = 1``, 10% of labels
flipped), and a Gaussian policy of constant spread ``sigma = 0.3`` so that a
pair's two outputs differ enough for a comparison to say something. The
leash ``c`` is set so that myopic RLHF collapses: its policy rises towards the
ideal output, overshoots along the reward model's extrapolation, and drifts
off the bump where every comparison is a coin flip (docs/settings.md gives the
measured medians).

:data:`NEURAL_PRESETS` names every preset of the sampled-buffer game, as
``toysim run --preset`` offers them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from toysim.game.neural import paper_nn
from toysim.game.sampled import NeuralHParams, NeuralSpec

PAIRWISE_HPARAMS = dict(sigma_start=0.3, sigma_end=0.3, beta=1.0, label_noise=0.1)
"""The numbers both pairwise presets change from paper-nn's."""


def pairwise_linear(method: str, **switches) -> tuple[NeuralSpec, NeuralHParams]:
    """``pairwise-linear``: the linear RM ``r_w(y) = w . y`` on pairs, 1,000 iterations.

    paper-nn's game with ``w_0 ~ N(0, 0.1^2 I)``, Adam at ``1e-2`` and the leash
    ``c = 0.05``; ``gamma`` as paper-nn's (0, ``2 omega = 0.2`` exact, 0.005 relaxed).
    """
    spec, hp = paper_nn(method, **switches)
    spec = dataclasses.replace(spec, reward_model="linear", data="pairs", steps=1000)
    hp = hp._replace(**PAIRWISE_HPARAMS, follower_lr=1e-2, action_cost=0.05)
    return spec, hp


def pairwise_nn(method: str, **switches) -> tuple[NeuralSpec, NeuralHParams]:
    """``pairwise-nn``: paper-nn's MLP on pairs, 1,500 iterations, the leash ``c = 0.003``.

    ``gamma`` as paper-nn's (0, ``2 omega = 0.2`` exact, 0.005 relaxed).
    """
    spec, hp = paper_nn(method, **switches)
    spec = dataclasses.replace(spec, data="pairs", steps=1500)
    return spec, hp._replace(**PAIRWISE_HPARAMS, action_cost=0.003)


NEURAL_PRESETS: dict[str, Callable[..., tuple[NeuralSpec, NeuralHParams]]] = {
    "paper-nn": paper_nn,
    "pairwise-linear": pairwise_linear,
    "pairwise-nn": pairwise_nn,
}
"""The presets of the sampled-buffer game: ``name -> (method, **switches) -> (spec, hp)``."""
