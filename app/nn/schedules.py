"""Learning-rate schedules, in a registry keyed by the API's names.

A schedule gives the learning rate of each epoch and may adapt the base rate at an
epoch's end from the monitored loss (the validation loss, or the train loss when there
is no validation split). Its state lives in the training loop's ``schedule`` dict, which
is part of every checkpoint, so a resumed run adapts exactly as an uninterrupted one.

- ``constant``: the base rate every epoch.
- ``step``: ``learning_rate · lr_decay^⌊(epoch − 1) / lr_step_epochs⌋``.
- ``plateau``: Nielsen's rule: multiply the base rate by ``lr_decay`` (halve it, by
  default) when the monitored loss has not improved for ``lr_patience`` epochs.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.nn.spec import TrainingConfig

State = MutableMapping[str, float | int]


class Schedule:
    """One schedule: ``learning_rate`` per epoch, ``end_of_epoch`` to adapt the base rate."""

    name = ""

    def learning_rate(self, epoch: int, base_lr: float, config: TrainingConfig) -> float:
        """The rate of ``epoch`` (1-based), given the current base rate."""
        return base_lr

    def end_of_epoch(
        self, loss: float, base_lr: float, state: State, config: TrainingConfig
    ) -> float:
        """The base rate after an epoch whose monitored loss was ``loss``."""
        return base_lr


class Constant(Schedule):
    name = "constant"


class Step(Schedule):
    name = "step"

    def learning_rate(self, epoch: int, base_lr: float, config: TrainingConfig) -> float:
        return config.learning_rate * config.lr_decay ** ((epoch - 1) // config.lr_step_epochs)


class Plateau(Schedule):
    name = "plateau"

    def end_of_epoch(
        self, loss: float, base_lr: float, state: State, config: TrainingConfig
    ) -> float:
        if loss < state["plateau_best"]:
            state["plateau_best"], state["plateau_wait"] = loss, 0
            return base_lr
        state["plateau_wait"] = int(state["plateau_wait"]) + 1
        if state["plateau_wait"] >= config.lr_patience:
            state["plateau_wait"] = 0
            return base_lr * config.lr_decay
        return base_lr


SCHEDULES: Mapping[str, Schedule] = MappingProxyType(
    {s.name: s for s in (Constant(), Step(), Plateau())}
)
"""Every learning-rate schedule by API name."""
