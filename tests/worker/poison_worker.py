"""A real worker that dies (``os._exit(137)``, like the OOM killer) during training.

Run as ``python poison_worker.py`` with the usual ``BACKPROP_*`` environment. It runs
the unmodified ``python -m worker`` in the main thread; a watchdog thread reads the
database and ends the process the moment a job is running here with at least
``POISON_AFTER_EPOCH`` epochs done, so the job always kills whichever worker takes it,
without any test hook inside the service.
"""

from __future__ import annotations

import os
import runpy
import threading
import time

from sqlalchemy import create_engine, text


def watchdog(database_url: str, after_epoch: int) -> None:
    """Exit once a job claimed *by this process* (a lease token that was not there when
    it started) runs with ``after_epoch`` epochs done. A dead predecessor's job, still
    marked running until its lease is found expired, does not count."""
    sqlite = database_url.startswith("sqlite")
    engine = create_engine(database_url, connect_args={"timeout": 30} if sqlite else {})
    query = text("SELECT lease_token, epoch FROM jobs WHERE status = 'running'")
    with engine.connect() as conn:
        before = {token for token, _ in conn.execute(query)}
    while True:
        with engine.connect() as conn:
            mine = [e for token, e in conn.execute(query) if token not in before]
        if any(epoch >= after_epoch for epoch in mine):
            os._exit(137)
        time.sleep(0.02)


if __name__ == "__main__":
    threading.Thread(
        target=watchdog,
        args=(os.environ["BACKPROP_DATABASE_URL"], int(os.environ.get("POISON_AFTER_EPOCH", "1"))),
        daemon=True,
    ).start()
    runpy.run_module("worker", run_name="__main__", alter_sys=True)
