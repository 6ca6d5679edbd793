"""toysim: a pure-JAX simulator of alignment collapse in iterative RLHF.

Follows Gauthier, Bach, Jordan, "Explaining and Preventing Alignment Collapse
in Iterative RLHF" (arXiv:2605.04266); the documentation site (docs/) derives every formula.
"""

from toysim._version import __version__ as __version__
from toysim.config import (
    METHODS,
    ConfigError,
    LinearHParams,
    LinearSpec,
    Method,
    method_from_name,
    validate,
)
from toysim.experiments.runner import simulate
from toysim.explorer import explore
from toysim.game.early_stop import stop_iteration
from toysim.game.records import NonFiniteTrajectoryError, Trajectory, first_nonfinite_iteration
from toysim.game.sampled import SampledHParams, SampledSpec
from toysim.game.trajectory import make_trajectory
from toysim.presets import PRESETS, build

__all__ = [
    "METHODS",
    "PRESETS",
    "SampledHParams",
    "SampledSpec",
    "ConfigError",
    "LinearSpec",
    "LinearHParams",
    "Method",
    "NonFiniteTrajectoryError",
    "Trajectory",
    "build",
    "explore",
    "first_nonfinite_iteration",
    "make_trajectory",
    "method_from_name",
    "simulate",
    "stop_iteration",
    "validate",
]
