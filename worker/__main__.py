"""``python -m worker``: migrate (idempotent), then claim and train jobs until SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

from app.config import get_settings
from app.db.migrate import upgrade_head
from app.metrics import WORKERS_BUSY, mark_process_dead
from worker.runner import Worker
from worker.threads import apply_cpu_budget


def main() -> int:
    """Run one worker process until SIGTERM/SIGINT; exit 0 after a clean hand-back."""
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s worker %(process)d: %(message)s",
    )
    apply_cpu_budget(settings)
    upgrade_head(settings)
    worker = Worker(settings)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("backprop.worker").info(
            "%s received: finishing at the next batch boundary", signal.Signals(signum).name
        )
        worker.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        worker.run()
    finally:
        worker.close()
        WORKERS_BUSY.set(0)
        mark_process_dead(os.getpid())  # its live gauges leave the exposition with it
    return 0


if __name__ == "__main__":
    sys.exit(main())
