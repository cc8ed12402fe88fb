"""``GET /metrics``: every process's Prometheus samples plus the job counts, read from
the database at scrape time (so they are right whichever process changed a job)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import JobStatus
from app.metrics import exposition
from app.services.health import job_counts


class JobsByStatus(Collector):
    """``backprop_jobs{status}``: one sample per status, zeros included."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.sessions() as session:
            counts = job_counts(session)
        family = GaugeMetricFamily("backprop_jobs", "Jobs by status.", labels=["status"])
        for status in JobStatus:
            family.add_metric([status.value], counts.get(status.value, 0))
        yield family


def scrape(sessions: sessionmaker[Session], local: Iterable[Collector] = ()) -> bytes:
    """The text exposition (``local``: this process's own registries, see
    ``app.metrics.exposition``); Unavailable when the database does not answer."""
    return exposition([JobsByStatus(sessions)], local)
