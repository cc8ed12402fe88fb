"""Wake-ups: tell workers at once that a job was queued or a cancel was asked for.

Without them an idle worker finds a new job at its next poll (``BACKPROP_POLL_INTERVAL``)
and a training worker sees a cancel at its next lease check
(``BACKPROP_CANCEL_POLL_SECONDS``). The polls stay: a message is best effort, and a lost
one costs only the old delay.

Messages (text): ``queued`` (there may be work: a job was submitted, requeued or handed
back) and ``cancel <job id>`` (stop that job: cancel requested, or the job deleted).
:func:`send` is called *after* the transaction that made the change committed, so a
woken worker always finds it.

Transports, chosen by the database:

- **PostgreSQL**: ``NOTIFY`` on a channel named after the current schema (so several
  deployments sharing one database, in different schemas, do not wake each other);
  each worker ``LISTEN``\\ s on a dedicated connection (:class:`PostgresListener`).
  Works across hosts.
- **SQLite**: Unix datagram sockets in a directory beside the database file,
  ``<database>.wake/``. Each worker binds one socket there (:class:`SocketListener`);
  the sender sends one datagram to every socket in the directory and removes the
  sockets of workers that are gone. Works for the processes on the host (or containers
  sharing the volume) that can write that directory.
- An in-memory SQLite database has no transport: the polls do the work.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

log = logging.getLogger("backprop.notify")

QUEUED = "queued"
CANCEL = "cancel"
SUFFIX = ".wake"
MAX_MESSAGE = 256
# Linux's sun_path holds 108 bytes; longer socket paths are reached through the
# directory's file descriptor (/proc/self/fd/N/name).
MAX_SOCKET_PATH = 100
CHANNEL_SQL = "'backprop_' || substr(md5(current_schema()), 1, 16)"


def cancel_message(job_id: str) -> str:
    """The message that asks the worker running ``job_id`` to check its job now."""
    return f"{CANCEL} {job_id}"


def parse(message: str) -> tuple[str, str | None]:
    """``("queued", None)`` or ``("cancel", job_id)``; unknown messages pass through."""
    kind, _, job_id = message.strip().partition(" ")
    return kind, job_id or None


def wake_dir(url: URL | str) -> Path | None:
    """The socket directory of a SQLite database file, or None (in-memory, other
    databases)."""
    url = make_url(url)
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(os.path.realpath(database) + SUFFIX)


# -- sending ---------------------------------------------------------------------------


def send(session: Session, message: str) -> None:
    """Best effort: deliver ``message`` to the workers of the session's database. Call
    it after the change it announces has committed; it never raises."""
    bind = session.get_bind()
    try:
        if bind.dialect.name == "postgresql":
            session.execute(
                text(f"SELECT pg_notify({CHANNEL_SQL}, :message)"), {"message": message}
            )
            session.commit()
        else:
            directory = wake_dir(bind.engine.url)
            if directory is not None:
                send_datagrams(directory, message)
    except Exception as exc:  # a wake-up must never fail the request that sends it
        log.debug("wake-up %r not sent: %s", message, exc)
        with contextlib.suppress(Exception):
            session.rollback()


@contextlib.contextmanager
def _short_paths(directory: Path) -> Iterator[str]:
    """A prefix for paths in ``directory`` short enough for a socket address."""
    if len(str(directory)) + 40 < MAX_SOCKET_PATH:
        yield str(directory)
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def send_datagrams(directory: Path, message: str) -> int:
    """Send ``message`` to every worker socket in ``directory``; remove the sockets
    nobody listens on any more. Returns how many were sent."""
    try:
        entries = [e.name for e in os.scandir(directory) if e.name.endswith(".sock")]
    except FileNotFoundError:
        return 0
    if not entries:
        return 0
    data = message.encode()[:MAX_MESSAGE]
    sent = 0
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender,
        _short_paths(directory) as prefix,
    ):
        sender.setblocking(False)
        for name in entries:
            try:
                sender.sendto(data, f"{prefix}/{name}")
                sent += 1
            except ConnectionRefusedError:  # its worker is gone (killed): clean up
                with contextlib.suppress(OSError):
                    os.unlink(directory / name)
            except (BlockingIOError, FileNotFoundError, PermissionError, OSError):
                # Full queue: that worker has wake-ups pending anyway. Gone or not ours:
                # nothing to do.
                pass
    return sent


# -- receiving -------------------------------------------------------------------------


class Listener(Protocol):
    """Where a worker receives messages: a file descriptor to wait on, and a drain."""

    def fileno(self) -> int: ...

    def drain(self) -> list[str]:
        """The messages that have arrived (non-blocking; may be empty)."""
        ...

    def close(self) -> None: ...


class SocketListener:
    """A Unix datagram socket in the database's wake directory."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory = directory
        self.name = f"w-{os.getpid()}-{secrets.token_hex(4)}.sock"
        self.path = directory / self.name
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with _short_paths(directory) as prefix:
            self.socket.bind(f"{prefix}/{self.name}")
        self.socket.setblocking(False)

    def fileno(self) -> int:
        return self.socket.fileno()

    def drain(self) -> list[str]:
        messages: list[str] = []
        while True:
            try:
                data = self.socket.recv(MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                return messages
            messages.append(data.decode(errors="replace"))

    def close(self) -> None:
        self.socket.close()
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(self.path).st_mode):
                os.unlink(self.path)


class PostgresListener:
    """``LISTEN`` on a dedicated autocommit connection (outside the engine's pool)."""

    def __init__(self, engine: Engine) -> None:
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        self.connection: Any = engine.dialect.dbapi.connect(*cargs, **cparams)  # type: ignore[union-attr]
        try:
            self.connection.autocommit = True
            channel = self.connection.execute(f"SELECT {CHANNEL_SQL}").fetchone()[0]
            self.connection.execute(f'LISTEN "{channel}"')
        except Exception:
            self.connection.close()
            raise
        self.channel = channel

    def fileno(self) -> int:
        return int(self.connection.fileno())

    def drain(self) -> list[str]:
        return [n.payload for n in self.connection.notifies(timeout=0)]

    def close(self) -> None:
        self.connection.close()


def listen(engine: Engine) -> Listener | None:
    """A listener for ``engine``'s database, or None when it has no transport."""
    if engine.dialect.name == "postgresql":
        return PostgresListener(engine)
    directory = wake_dir(engine.url)
    return SocketListener(directory) if directory is not None else None
