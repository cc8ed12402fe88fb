"""The NumPy backpropagation engine (imports NumPy and the standard library only).

Everything public is re-exported here; see docs/design.md §1 for the maths and the module
docstrings for the details.
"""

from app.nn.activations import ACTIVATIONS, Activation
from app.nn.backprop import training_gradients
from app.nn.costs import COSTS, Cost
from app.nn.errors import DivergenceError, NNError, SpecError
from app.nn.init import INITIALIZERS
from app.nn.inspect import LayerCheck, LayerTrace, Trace, backprop_trace, gradient_check, sgd_step
from app.nn.network import Network, predict_labels
from app.nn.optimizers import OPTIMIZERS, Optimizer
from app.nn.spec import NetworkSpec, TrainingConfig
from app.nn.training import EpochMetrics, TrainResult, TrainState, train

__all__ = [
    "ACTIVATIONS",
    "COSTS",
    "INITIALIZERS",
    "OPTIMIZERS",
    "Activation",
    "Cost",
    "DivergenceError",
    "EpochMetrics",
    "LayerCheck",
    "LayerTrace",
    "NNError",
    "Network",
    "NetworkSpec",
    "Optimizer",
    "SpecError",
    "Trace",
    "TrainResult",
    "TrainState",
    "TrainingConfig",
    "backprop_trace",
    "gradient_check",
    "predict_labels",
    "sgd_step",
    "train",
    "training_gradients",
]
