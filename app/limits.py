"""Configurable limits on what one request may ask of the service (policy only).

Each check raises :class:`~app.errors.LimitExceeded` (422) or
:class:`~app.errors.QueueFull` (429) with a detail that names the limit, the value asked
for and the setting that changes it, e.g.::

    network.sizes: [784, 5000, 10] has 3,980,010 parameters; the limit is 1,000,000
    (BACKPROP_MAX_NETWORK_PARAMETERS)

| limit | setting (``BACKPROP_...``) | default | status |
|---|---|---|---|
| request body | ``MAX_BODY_BYTES`` (the API's body-limit middleware) | 256 MiB | 413 |
| dataset rows x features | ``MAX_DATASET_VALUES`` | 100,000,000 | 422 |
| network parameters (weights + biases) | ``MAX_NETWORK_PARAMETERS`` | 10,000,000 | 422 |
| epochs of one job | ``MAX_EPOCHS`` | 100,000 | 422 |
| jobs waiting in the queue | ``MAX_QUEUED_JOBS`` | 10,000 | 429 |
| weight snapshots of one job | ``MAX_SNAPSHOTS`` | 1,000 | 422 |
| snapshots x network parameters of one job | ``MAX_SNAPSHOT_VALUES`` | 20,000,000 | 422 |
| trials of one sweep | ``MAX_SWEEP_TRIALS`` | 1,000 | 422 |
| trials of one sweep queued or running at once | ``MAX_SWEEP_PARALLELISM`` | 64 | 422 |

The queue limit is soft: two submits racing at the limit may both pass (the count and
the insert are two statements). It exists to stop a runaway client, not to meter.

The checks take plain numbers, so the services call them before any expensive work (a
``generate`` request is checked before the arrays are made).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from app.errors import LimitExceeded, QueueFull

__all__ = ["LimitExceeded", "LimitSettings", "Limits", "QueueFull", "network_parameters"]

DEFAULT_MAX_DATASET_VALUES = 100_000_000  # MNIST's 70,000 x 784 = 54.9M fits
DEFAULT_MAX_NETWORK_PARAMETERS = 10_000_000
DEFAULT_MAX_EPOCHS = 100_000
DEFAULT_MAX_QUEUED_JOBS = 10_000
DEFAULT_MAX_SNAPSHOTS = 1_000
DEFAULT_MAX_SNAPSHOT_VALUES = 20_000_000  # 160 MB of float64 weights per job
DEFAULT_MAX_SWEEP_TRIALS = 1_000
DEFAULT_MAX_SWEEP_PARALLELISM = 64


class LimitSettings(Protocol):
    """The settings fields the checks read (``app.config.Settings`` has them)."""

    max_dataset_values: int
    max_network_parameters: int
    max_epochs: int
    max_queued_jobs: int
    max_snapshots: int
    max_snapshot_values: int
    max_sweep_trials: int
    max_sweep_parallelism: int


@dataclass(frozen=True)
class Limits:
    """The limits in force; :meth:`from_settings` reads them from the service settings."""

    max_dataset_values: int = DEFAULT_MAX_DATASET_VALUES
    max_network_parameters: int = DEFAULT_MAX_NETWORK_PARAMETERS
    max_epochs: int = DEFAULT_MAX_EPOCHS
    max_queued_jobs: int = DEFAULT_MAX_QUEUED_JOBS
    max_snapshots: int = DEFAULT_MAX_SNAPSHOTS
    max_snapshot_values: int = DEFAULT_MAX_SNAPSHOT_VALUES
    max_sweep_trials: int = DEFAULT_MAX_SWEEP_TRIALS
    max_sweep_parallelism: int = DEFAULT_MAX_SWEEP_PARALLELISM

    @classmethod
    def from_settings(cls, settings: LimitSettings) -> Limits:
        return cls(
            max_dataset_values=settings.max_dataset_values,
            max_network_parameters=settings.max_network_parameters,
            max_epochs=settings.max_epochs,
            max_queued_jobs=settings.max_queued_jobs,
            max_snapshots=settings.max_snapshots,
            max_snapshot_values=settings.max_snapshot_values,
            max_sweep_trials=settings.max_sweep_trials,
            max_sweep_parallelism=settings.max_sweep_parallelism,
        )

    def check_dataset(self, n_samples: int, n_features: int, *, field: str = "dataset") -> None:
        """Rows x features of a dataset about to be stored or generated."""
        values = n_samples * n_features
        if values > self.max_dataset_values:
            raise LimitExceeded(
                f"{field}: {n_samples:,} rows x {n_features:,} features = {values:,} values; "
                f"the limit is {self.max_dataset_values:,} (BACKPROP_MAX_DATASET_VALUES)",
                limit="max_dataset_values",
                value=values,
                maximum=self.max_dataset_values,
            )

    def check_network(self, sizes: Sequence[int], *, field: str = "network.sizes") -> None:
        """Weights plus biases of a network with layer sizes ``sizes``."""
        parameters = network_parameters(sizes)
        if parameters > self.max_network_parameters:
            raise LimitExceeded(
                f"{field}: {list(sizes)} has {parameters:,} parameters; the limit is "
                f"{self.max_network_parameters:,} (BACKPROP_MAX_NETWORK_PARAMETERS)",
                limit="max_network_parameters",
                value=parameters,
                maximum=self.max_network_parameters,
            )

    def check_epochs(self, epochs: int, *, field: str = "training.epochs") -> None:
        """Epochs of one job."""
        if epochs > self.max_epochs:
            raise LimitExceeded(
                f"{field}: {epochs:,} epochs; the limit is {self.max_epochs:,} "
                "(BACKPROP_MAX_EPOCHS)",
                limit="max_epochs",
                value=epochs,
                maximum=self.max_epochs,
            )

    def check_queue(self, queued: int) -> None:
        """``queued`` jobs wait already; one more may join only below the limit."""
        if queued >= self.max_queued_jobs:
            raise QueueFull(
                f"the queue is full: {queued:,} jobs are waiting; the limit is "
                f"{self.max_queued_jobs:,} (BACKPROP_MAX_QUEUED_JOBS); retry when some "
                "have started",
                limit="max_queued_jobs",
                value=queued,
                maximum=self.max_queued_jobs,
            )

    def check_snapshots(
        self,
        sizes: Sequence[int],
        epochs: int,
        every: int | None,
        *,
        field: str = "training.snapshot_every",
    ) -> None:
        """The weight snapshots a job keeps: one after every ``every``-th epoch."""
        if every is None:
            return
        count = epochs // every
        if count > self.max_snapshots:
            raise LimitExceeded(
                f"{field}: {every} keeps {count:,} snapshots of {epochs:,} epochs; the limit "
                f"is {self.max_snapshots:,} (BACKPROP_MAX_SNAPSHOTS); use snapshot_every >= "
                f"{-(-epochs // self.max_snapshots)}",
                limit="max_snapshots",
                value=count,
                maximum=self.max_snapshots,
            )
        parameters = network_parameters(sizes)
        values = count * parameters
        if values > self.max_snapshot_values:
            most = max(self.max_snapshot_values // parameters, 1)
            raise LimitExceeded(
                f"{field}: {count:,} snapshots x {parameters:,} parameters = {values:,} "
                f"values; the limit is {self.max_snapshot_values:,} "
                f"(BACKPROP_MAX_SNAPSHOT_VALUES); use snapshot_every >= {-(-epochs // most)}",
                limit="max_snapshot_values",
                value=values,
                maximum=self.max_snapshot_values,
            )

    def check_sweep(self, max_trials: int, parallelism: int) -> None:
        """Trials of one sweep, in all and at once."""
        if max_trials > self.max_sweep_trials:
            raise LimitExceeded(
                f"max_trials: {max_trials:,} trials; the limit is {self.max_sweep_trials:,} "
                "(BACKPROP_MAX_SWEEP_TRIALS)",
                limit="max_sweep_trials",
                value=max_trials,
                maximum=self.max_sweep_trials,
            )
        if parallelism > self.max_sweep_parallelism:
            raise LimitExceeded(
                f"parallelism: {parallelism:,} trials at once; the limit is "
                f"{self.max_sweep_parallelism:,} (BACKPROP_MAX_SWEEP_PARALLELISM)",
                limit="max_sweep_parallelism",
                value=parallelism,
                maximum=self.max_sweep_parallelism,
            )

    def check_job(
        self, sizes: Sequence[int], epochs: int, queued: int, snapshot_every: int | None = None
    ) -> None:
        """Every limit of a new job, cheapest first."""
        self.check_epochs(epochs)
        self.check_network(sizes)
        self.check_snapshots(sizes, epochs, snapshot_every)
        self.check_queue(queued)


def network_parameters(sizes: Sequence[int]) -> int:
    """Weights and biases of a fully connected network: sum of n_l * (n_{l-1} + 1)."""
    return sum(n_out * (n_in + 1) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))
