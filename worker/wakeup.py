"""The worker's ears: a thread that receives wake-ups (``app.db.notify``) and turns them
into events the run loop and the lease guard wait on.

``queued`` sets :attr:`Wakeup.work` (the idle loop claims at once); ``cancel <id>`` calls
the handler registered for that job (the lease guard's ``nudge``: it checks the job at
once instead of at its next poll). When the transport cannot be opened or breaks
(database restarting), the thread retries every few seconds and the workers' polls carry
on meanwhile; after a reconnect it sets ``work``, since messages may have been missed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
from collections.abc import Callable

from sqlalchemy import Engine

from app.db import notify

log = logging.getLogger("backprop.worker")

RETRY_SECONDS = 2.0


class Wakeup(threading.Thread):
    """Receives wake-ups for one worker process until :meth:`close`."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(name="wakeup", daemon=True)
        self.engine = engine
        self.work = threading.Event()
        self.ready = threading.Event()  # set once the first attempt to listen is over
        self._watched: dict[str, Callable[[str], None]] = {}
        self._lock = threading.Lock()
        self._closing = False
        self._pipe_r, self._pipe_w = os.pipe()
        self.listening = False
        self.delivered = 0  # messages received from the transport
        self._failing = False  # the last attempt to listen failed

    def wait_for_work(self, timeout: float) -> bool:
        """Block until a ``queued`` wake-up (or :meth:`interrupt`), at most ``timeout``."""
        woken = self.work.wait(timeout)
        self.work.clear()
        return woken

    def interrupt(self) -> None:
        """Wake :meth:`wait_for_work` now (shutdown)."""
        self.work.set()

    def watch(self, job_id: str, handler: Callable[[str], None]) -> None:
        """Call ``handler(job_id)`` when a ``cancel`` for ``job_id`` arrives."""
        with self._lock:
            self._watched[job_id] = handler

    def unwatch(self, job_id: str) -> None:
        with self._lock:
            self._watched.pop(job_id, None)

    def deliver(self, message: str) -> None:
        """Act on one message (also used by tests)."""
        kind, job_id = notify.parse(message)
        if kind == notify.QUEUED:
            self.work.set()
        elif kind == notify.CANCEL and job_id is not None:
            with self._lock:
                handler = self._watched.get(job_id)
            if handler is not None:
                handler(job_id)

    def run(self) -> None:
        try:
            while not self._closing:
                listener = self._open()
                if listener is None:
                    if self._sleep(RETRY_SECONDS):
                        return
                    continue
                try:
                    self._receive(listener)
                finally:
                    self.listening = False
                    with contextlib.suppress(Exception):
                        listener.close()
        finally:
            self.ready.set()
            os.close(self._pipe_r)

    def _open(self) -> notify.Listener | None:
        try:
            listener = notify.listen(self.engine)
        except Exception as exc:
            if not self._failing:  # once per outage; the retries every few seconds are quiet
                log.warning("wake-ups unavailable, polling only: %s", exc)
            self._failing = True
            self.ready.set()
            return None
        if self._failing:
            log.warning("wake-ups back")
        self._failing = False
        if listener is None:  # no transport for this database: the polls do the work
            self.ready.set()
            self._sleep(None)
            return None
        self.listening = True
        self.ready.set()
        self.work.set()  # anything sent before we listened is found by a claim
        return listener

    def _receive(self, listener: notify.Listener) -> None:
        fds = [listener.fileno(), self._pipe_r]
        while not self._closing:
            readable, _, _ = select.select(fds, [], [])
            if self._pipe_r in readable:
                return
            try:
                messages = listener.drain()
            except Exception as exc:  # the connection broke: listen again
                log.warning("wake-ups interrupted, polling meanwhile: %s", exc)
                return
            for message in messages:
                self.delivered += 1
                self.deliver(message)

    def _sleep(self, seconds: float | None) -> bool:
        """Wait ``seconds`` (forever: None) or until :meth:`close`; True when closing."""
        select.select([self._pipe_r], [], [], seconds)
        return self._closing

    def close(self) -> None:
        """Stop listening and wait for the thread."""
        self._closing = True
        with contextlib.suppress(OSError):
            os.write(self._pipe_w, b"x")
        if self.ident is None:  # never started
            os.close(self._pipe_r)
        elif self.is_alive():
            self.join(timeout=5)
        with contextlib.suppress(OSError):
            os.close(self._pipe_w)
