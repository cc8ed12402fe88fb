"""Request and response models of `POST /v1/backprop` (docs/design.md §3).

One forward and one backward pass over a small batch, returned layer by layer so a
reader can follow the equations of docs/design.md §1 with real numbers:

- per layer `l = 1 … L`: `z_l`, the activation `a_l`, the error `delta_l` (one row per
  sample), and the batch-mean gradients `grad_weights` (`n_l × n_{l-1}`, Nielsen's
  orientation: row `j` holds the weights into neuron `j`) and `grad_biases` (`n_l`);
- the batch cost (mean `C_x`, no L2 term) and a central finite-difference check of every
  gradient (max relative error per layer);
- with `learning_rate`: the weights after one gradient-descent step (docs/design.md §1, eq. 93).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.schemas.spec import Activation, DType, NetworkSpec

# A 2-3-1 sigmoid network with hand-picked weights on the four XOR points: small enough to
# redo on paper, and the response shows the hidden deltas built from the output delta.
XOR_EXAMPLE: dict[str, Any] = {
    "network": {
        "sizes": [2, 3, 1],
        "hidden_activation": "sigmoid",
        "output_activation": "sigmoid",
        "cost": "cross_entropy",
    },
    "weights": [
        {
            "weights": [[0.5, -0.4], [0.3, 0.8], [-0.6, 0.2]],
            "biases": [0.1, -0.2, 0.05],
        },
        {"weights": [[0.7, -0.5, 0.9]], "biases": [-0.1]},
    ],
    "inputs": [[0, 0], [0, 1], [1, 0], [1, 1]],
    "targets": [[0], [1], [1], [0]],
    "learning_rate": 0.5,
}

# The same batch through a seeded 2-4-2 tanh / softmax / log-likelihood network.
SEED_EXAMPLE: dict[str, Any] = {
    "network": {
        "sizes": [2, 4, 2],
        "hidden_activation": "tanh",
        "output_activation": "softmax",
        "cost": "log_likelihood",
    },
    "seed": 0,
    "inputs": [[0, 0], [0, 1], [1, 0], [1, 1]],
    "targets": [[1, 0], [0, 1], [0, 1], [1, 0]],
}

# A trained job's weights (paste an id from POST /v1/jobs once it has succeeded).
JOB_EXAMPLE: dict[str, Any] = {
    "job_id": "<job id>",
    "inputs": [[0, 0], [0, 1], [1, 0], [1, 1]],
    "targets": [[0], [1], [1], [0]],
}


class LayerParameters(BaseModel):
    """One layer of a weights document: `weights` is `n_l × n_{l-1}`, `biases` is `n_l`."""

    weights: list[list[float]]
    biases: list[float]
    activation: Activation | None = Field(
        default=None,
        description="Optional (as in `GET /v1/jobs/{id}/weights`); must match the network.",
    )


class BackpropRequest(BaseModel):
    """A network, its weights (given, a job's, or seeded) and one batch of samples.

    Give exactly one of `weights`, `job_id` and `seed`. `network` is required except with
    `job_id`, where it defaults to the job's network (and must agree with it if given).
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [XOR_EXAMPLE]})

    network: NetworkSpec | None = Field(
        default=None, description="The network (`init` is used with `seed` only)."
    )
    weights: list[LayerParameters] | None = Field(
        default=None, description="The `layers` list of a weights document (Nielsen orientation)."
    )
    job_id: str | None = Field(default=None, description="Use this job's trained weights.")
    seed: int | None = Field(
        default=None, ge=0, description="Initialise the weights with `network.init` and this seed."
    )
    inputs: list[list[float]] = Field(
        min_length=1, description="The batch: one row of `n_0` numbers per sample."
    )
    targets: list[list[float]] = Field(
        min_length=1, description="One row of `n_L` target values per sample."
    )
    learning_rate: float | None = Field(
        default=None, gt=0, description="If given, also return the weights after one SGD step."
    )
    l2: float = Field(default=0.0, ge=0, description="L2 strength λ of the update.")
    n: int | None = Field(
        default=None,
        ge=1,
        description="Training-set size in the L2 factor `1 − ηλ/n`; default: the batch size.",
    )
    check_gradients: bool = Field(
        default=True,
        description="Run the finite-difference check (2 forward passes per parameter).",
    )
    dtype: DType = Field(
        default="float64",
        description="Arithmetic of the pass (as a job's `training.dtype`); the "
        "finite-difference check always runs in float64.",
    )

    @model_validator(mode="after")
    def _one_weight_source(self) -> BackpropRequest:
        given = [name for name in ("weights", "job_id", "seed") if getattr(self, name) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"give exactly one of 'weights', 'job_id' and 'seed' (found: {found})")
        if self.network is None and self.job_id is None:
            raise ValueError("'network' is required unless 'job_id' is given")
        return self


class LayerTrace(BaseModel):
    """What layer `l` computed. Batch quantities have one row per sample."""

    layer: int = Field(description="`l`, from 1 (first hidden layer) to L (output layer).")
    activation_function: str
    weights: list[list[float]] = Field(description="`W_l` used in the pass, `n_l × n_{l-1}`.")
    biases: list[float] = Field(description="`b_l` used in the pass, `n_l`.")
    z: list[list[float]] = Field(description="`z_l = W_l a_{l-1} + b_l`, `m × n_l`.")
    activation: list[list[float]] = Field(description="`a_l = σ_l(z_l)`, `m × n_l`.")
    delta: list[list[float]] = Field(
        description="`δ_l = ∂C_x/∂z_l`: the output error for l = L, else "
        "`(W_{l+1}ᵀ δ_{l+1}) ⊙ σ_l'(z_l)`; `m × n_l`."
    )
    grad_weights: list[list[float]] = Field(
        description="`∂C/∂W_l`, the batch mean of `δ_l a_{l-1}ᵀ`, `n_l × n_{l-1}`."
    )
    grad_biases: list[float] = Field(description="`∂C/∂b_l`, the batch mean of `δ_l`, `n_l`.")


class LayerCheck(BaseModel):
    """Largest relative error between backprop and central finite differences in a layer."""

    layer: int
    max_rel_error_weights: float
    max_rel_error_biases: float


class GradientCheck(BaseModel):
    epsilon: float = Field(description="Step of the central differences `(C(θ+ε) − C(θ−ε))/2ε`.")
    max_rel_error: float = Field(description="Largest relative error over all layers.")
    layers: list[LayerCheck]


class UpdatedLayer(BaseModel):
    weights: list[list[float]]
    biases: list[float]


class Update(BaseModel):
    """One gradient-descent step: `W ← (1 − ηλ/n) W − η ∂C/∂W`, `b ← b − η ∂C/∂b`."""

    learning_rate: float
    l2: float
    n: int
    layers: list[UpdatedLayer]
    cost_after: float = Field(description="Cost of the same batch with the updated weights.")


class BackpropResponse(BaseModel):
    network: NetworkSpec = Field(description="The network the pass ran on.")
    source: Literal["weights", "job", "seed"]
    dtype: DType = Field(default="float64", description="Arithmetic of the pass.")
    batch_size: int
    cost: float = Field(description="Mean `C_x` over the batch (no L2 term).")
    layers: list[LayerTrace]
    gradient_check: GradientCheck | None = None
    update: Update | None = None
