"""The decision-boundary grid: a network's outputs over the plane of a 2-D dataset.

NumPy only. `boundary_grid` evaluates any `forward(points) -> outputs` function on a
regular grid that covers the training points with a margin, the same numbers the PNG
shows and the JSON endpoint returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

DEFAULT_RESOLUTION = 100
MAX_RESOLUTION = 400
MARGIN = 0.1  # fraction of the data range added on each side


@dataclass(frozen=True)
class BoundaryGrid:
    """Outputs of a network over a grid; `outputs[i, j]` is at `(xs[j], ys[i])`."""

    xs: np.ndarray  # (nx,)
    ys: np.ndarray  # (ny,)
    outputs: np.ndarray  # (ny, nx, n_outputs)

    @property
    def labels(self) -> np.ndarray:
        """Predicted class per grid point: argmax, or output >= 0.5 for one output."""
        if self.outputs.shape[2] == 1:
            return (self.outputs[:, :, 0] >= 0.5).astype(int)
        return np.argmax(self.outputs, axis=2)


def _axis(values: np.ndarray, resolution: int) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo if hi > lo else 1.0
    return np.linspace(lo - MARGIN * span, hi + MARGIN * span, resolution)


def boundary_grid(
    forward: Callable[[np.ndarray], np.ndarray],
    inputs: np.ndarray,
    resolution: int = DEFAULT_RESOLUTION,
) -> BoundaryGrid:
    """Evaluate `forward` on a `resolution` x `resolution` grid around `inputs` (n, 2)."""
    if inputs.ndim != 2 or inputs.shape[1] != 2:
        raise ValueError(f"a decision boundary needs 2 input features, got {inputs.shape[1]}")
    if not 2 <= resolution <= MAX_RESOLUTION:
        raise ValueError(f"resolution must be between 2 and {MAX_RESOLUTION}, got {resolution}")
    xs, ys = _axis(inputs[:, 0], resolution), _axis(inputs[:, 1], resolution)
    gx, gy = np.meshgrid(xs, ys)  # (ny, nx) each, rows follow y
    points = np.column_stack([gx.ravel(), gy.ravel()])
    outputs = np.asarray(forward(points), dtype=np.float64)
    return BoundaryGrid(xs=xs, ys=ys, outputs=outputs.reshape(len(ys), len(xs), -1))


def target_labels(targets: np.ndarray) -> np.ndarray:
    """Class index of each training target: argmax of one-hot rows, or the 0/1 column."""
    if targets.shape[1] == 1:
        return (targets[:, 0] >= 0.5).astype(int)
    return np.argmax(targets, axis=1)


def grid_document(
    grid: BoundaryGrid,
    inputs: np.ndarray,
    targets: np.ndarray,
    task: str,
    classes: list[str] | None,
) -> dict:
    """The JSON form of a grid plus the training points, for clients that draw their own."""
    doc: dict = {
        "resolution": len(grid.xs),
        "x": grid.xs.tolist(),
        "y": grid.ys.tolist(),
        "outputs": grid.outputs.tolist(),
        "task": task,
        "classes": classes,
        "points": {"inputs": inputs.tolist(), "targets": targets.tolist()},
    }
    if task == "classification":
        doc["labels"] = grid.labels.tolist()
        doc["points"]["labels"] = target_labels(targets).tolist()
    return doc
