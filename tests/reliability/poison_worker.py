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
    engine = create_engine(database_url, connect_args={"timeout": 30})
    while True:
        with engine.connect() as conn:
            running = conn.execute(
                text("SELECT count(*) FROM jobs WHERE status = 'running' AND epoch >= :e"),
                {"e": after_epoch},
            ).scalar_one()
        if running:
            os._exit(137)
        time.sleep(0.02)


if __name__ == "__main__":
    threading.Thread(
        target=watchdog,
        args=(os.environ["BACKPROP_DATABASE_URL"], int(os.environ.get("POISON_AFTER_EPOCH", "1"))),
        daemon=True,
    ).start()
    runpy.run_module("worker", run_name="__main__", alter_sys=True)
