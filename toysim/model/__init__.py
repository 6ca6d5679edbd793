"""The game's primitives: utility, reward model, metrics (docs/theory/game.md)."""

from toysim.model.metrics import block_signal_noise, projection_signal_noise
from toysim.model.reward import anchor_penalty, linear_reward, oracle_free_loss, squared_loss
from toysim.model.utility import (
    GaussianUtilityMoments,
    Utility,
    gaussian_utility_moments,
    utility,
    utility_grad,
)

__all__ = [
    "GaussianUtilityMoments",
    "Utility",
    "anchor_penalty",
    "block_signal_noise",
    "gaussian_utility_moments",
    "linear_reward",
    "oracle_free_loss",
    "projection_signal_noise",
    "squared_loss",
    "utility",
    "utility_grad",
]
