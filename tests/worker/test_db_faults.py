"""The database misbehaves under a running job: real ``backprop serve`` and ``python -m
worker`` processes, talked to over HTTP (scenarios in tests/helpers/faults.py).

- PostgreSQL restarted (``pg_ctl restart -m fast``), and stopped for 8 s (shorter than
  the lease), on a cluster of this module's own: the worker reconnects and goes on with
  the same attempt; the API answers 503 while the server is down.
- The SQLite database's volume (a small tmpfs) full for 5 s: the job goes on; the API's
  ``/health`` says the database cannot write (507) meanwhile.

After each fault the job succeeds in its first attempt with every epoch stored once, and
records an epoch again within 5 s of the database being back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Cluster, deployment, missing_reason
from tests.helpers.crash import Deployment
from tests.helpers.faults import Report, disk_full, restart, ride, stop_start
from tests.helpers.volumes import small_volume

pytestmark = pytest.mark.e2e

BACK_WITHIN = 5.0  # seconds from the database being back to the job's next epoch


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A PostgreSQL server of this module's own: restarting the suite's shared one
    would cut every other test's connections."""
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    own = Cluster().start()
    yield own
    own.stop()


@pytest.fixture
def on_postgres(cluster: Cluster, tmp_path: Path) -> Iterator[Deployment]:
    with deployment(tmp_path, cluster.create_database()) as dep:
        dep.start_api()
        dep.start_worker()
        yield dep


def check(report: Report, dep: Deployment) -> None:
    print(
        f"\n{report.fault}: next epoch {report.back_to_epoch:.2f} s after the database was "
        f"back; answers during it: {dict(report.during)}; attempts {report.attempts}"
    )
    logs = dep.log_text()
    assert report.status == "succeeded", logs
    assert report.attempts == 1, logs  # the same attempt went on: no requeue
    assert report.epochs_once, (report.stored, logs)
    assert report.back_to_epoch <= BACK_WITHIN, logs
    assert "Traceback" not in logs


def test_a_postgresql_restart_costs_the_job_no_attempt(
    cluster: Cluster, on_postgres: Deployment
) -> None:
    check(ride(on_postgres, restart(cluster)), on_postgres)


def test_a_postgresql_outage_shorter_than_the_lease_costs_the_job_no_attempt(
    cluster: Cluster, on_postgres: Deployment
) -> None:
    report = ride(on_postgres, stop_start(cluster, 8))
    check(report, on_postgres)
    assert report.during["GET /health 503"] > 0, report.during
    assert all(answer.endswith(" 503") for answer in report.during), report.during


def test_a_full_disk_under_sqlite_costs_the_job_no_attempt(tmp_path: Path) -> None:
    with (
        small_volume(tmp_path / "volume", 48) as volume,
        deployment(tmp_path, f"sqlite:///{volume / 'backprop.db'}") as dep,
    ):
        dep.start_api()
        dep.start_worker()
        report = ride(dep, disk_full(volume, 5))
        check(report, dep)
        assert report.during["GET /health 507"] > 0, report.during
