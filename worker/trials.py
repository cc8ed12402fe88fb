"""A sweep's trial in the worker (app/services/sweeps.py does the deciding).

- :func:`prune_check`: for a trial whose sweep has a pruner, the check the epoch
  recorder runs after every epoch but the last, before it records the epoch: the pruner
  sees the epoch's objective and may stop the trial there (:class:`TrialPruned`, which
  carries the weights of that epoch).
- :func:`advance_sweep`: once a trial's job has ended, tell Optuna and start the next
  trials. :func:`advance_due` does the same, on the worker's periodic tick, for every
  sweep left waiting (e.g. its last worker was killed between the two steps).

A failing sweep decision is logged and never stops the worker: the next tick retries it.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.faults import classify
from app.jobqueue import Lease
from app.nn import EpochMetrics, TrainState
from app.services import sweeps

log = logging.getLogger("backprop.worker")


class TrialPruned(Exception):  # noqa: N818 (Optuna's name for the same event)
    """The sweep's pruner stopped this trial at the end of ``epoch``."""

    def __init__(self, epoch: int, state: TrainState) -> None:
        super().__init__(f"pruned at epoch {epoch}")
        self.epoch = epoch
        self.state = state  # the training state at that epoch's end


class PruneCheck:
    """``check(metrics) -> bool``: report the epoch's objective to the sweep's pruner."""

    def __init__(
        self, sessions: sessionmaker[Session], lease: Lease, trial: sweeps.TrialContext
    ) -> None:
        self.sessions = sessions
        self.lease = lease
        self.trial = trial

    def __call__(self, metrics: EpochMetrics) -> bool:
        if metrics.epoch >= self.trial.epochs:
            return False  # the last epoch: nothing left to save
        value = getattr(metrics, self.trial.metric)
        try:
            with self.sessions() as session:
                return sweeps.should_prune(session, self.lease, self.trial, metrics.epoch, value)
        except SQLAlchemyError as exc:
            if classify(exc) is None:
                raise
            # The database is not answering: this epoch is not reported to the pruner,
            # and training goes on (the epoch recorder rides the outage).
            return False


def prune_check(sessions: sessionmaker[Session], lease: Lease) -> PruneCheck | None:
    """The check for the leased job, or None when it is no trial of a pruning sweep."""
    with sessions() as session:
        trial = sweeps.trial_context(session, lease.job_id)
    return None if trial is None else PruneCheck(sessions, lease, trial)


def advance_sweep(sessions: sessionmaker[Session], settings: Settings, job_id: str) -> None:
    """After a job ended: advance its sweep, if it is a trial of one."""
    try:
        with sessions() as session:
            sweeps.after_job(session, settings, job_id)
    except Exception:
        log.exception("job %s: advancing its sweep failed (the next tick retries)", job_id)


def advance_due(sessions: sessionmaker[Session], settings: Settings) -> None:
    """Advance every sweep with a decision pending."""
    try:
        with sessions() as session:
            n = sweeps.advance_due(session, settings)
        if n:
            log.info("advanced %d waiting sweep(s)", n)
    except Exception:
        log.exception("advancing waiting sweeps failed (the next tick retries)")
