"""Errors raised by the engine.

Hierarchy::

    NNError(Exception)
    ├── SpecError(NNError, ValueError)   a bad network spec, training config or weights;
    │                                    .field names where (dotted path, e.g. "network.cost")
    └── DivergenceError(NNError)         training produced a non-finite loss or weight;
                                         .epoch names when
"""

from __future__ import annotations


class NNError(Exception):
    """Base class of every error the engine raises on purpose."""


class SpecError(NNError, ValueError):
    """A spec, config or weights document is invalid; raised before any training starts.

    ``field`` is a dotted path into the request ("network.cost", "training.batch_size",
    "initial_weights[1].weights") so the HTTP layer can point at the culprit.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return (type(self), (self.field, self.message))


class DivergenceError(NNError):
    """Training produced a non-finite loss or weight during ``epoch`` (1-based)."""

    def __init__(self, epoch: int, message: str) -> None:
        self.epoch = epoch
        self.message = message
        super().__init__(message)

    def __reduce__(self) -> tuple[type, tuple[int, str]]:
        return (type(self), (self.epoch, self.message))
