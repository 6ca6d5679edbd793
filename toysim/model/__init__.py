"""The game's primitives: utility, reward model, metrics (docs/theory/game.md)."""

from toysim.model.interface import RewardModel, linear_reward_model, mlp_reward_model
from toysim.model.metrics import block_signal_noise, projection_signal_noise
from toysim.model.reward import anchor_penalty, linear_reward
from toysim.model.utility import (
    GaussianUtilityMoments,
    Utility,
    gaussian_utility_moments,
    utility,
    utility_grad,
)

__all__ = [
    "GaussianUtilityMoments",
    "RewardModel",
    "Utility",
    "anchor_penalty",
    "block_signal_noise",
    "gaussian_utility_moments",
    "linear_reward",
    "linear_reward_model",
    "mlp_reward_model",
    "projection_signal_noise",
    "utility",
    "utility_grad",
]
