"""Wake-up transports (app/db/notify.py): what one process sends after a commit reaches a
listener, on SQLite (datagrams in ``<db>.wake/``) and PostgreSQL (NOTIFY/LISTEN)."""

from __future__ import annotations

import os
import select
import socket
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app import jobqueue
from app.config import Settings
from app.db import notify
from app.db.session import make_engine, make_sessionmaker
from tests.helpers import submit_job


def received(listener: notify.Listener, timeout: float = 5.0) -> list[str]:
    """Messages that arrive within ``timeout`` (at least one, unless none comes)."""
    readable, _, _ = select.select([listener.fileno()], [], [], timeout)
    if not readable:
        return []
    messages = listener.drain()
    while True:  # a second datagram may be just behind the first
        readable, _, _ = select.select([listener.fileno()], [], [], 0.05)
        if not readable:
            return messages
        messages += listener.drain()


def test_a_message_sent_after_a_commit_reaches_every_listener(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    first, second = notify.listen(engine), notify.listen(engine)
    assert first is not None and second is not None
    try:
        with sessions() as session:
            notify.send(session, notify.cancel_message("abc"))
        assert received(first) == ["cancel abc"]
        assert received(second) == ["cancel abc"]
    finally:
        first.close()
        second.close()


def test_submit_and_cancel_announce_themselves(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    listener = notify.listen(engine)
    assert listener is not None
    try:
        with sessions() as session:
            job = submit_job(session)
            assert received(listener) == [notify.QUEUED]
            lease = jobqueue.claim(session, "w", lease_seconds=30)
            assert lease is not None
            jobqueue.request_cancel(session, job.id)
            assert received(listener) == [f"cancel {job.id}"]
    finally:
        listener.close()


def test_a_message_never_crosses_to_another_database(
    settings: Settings, engine: Engine, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two deployments (two SQLite files; two schemas of one PostgreSQL database) do not
    wake each other's workers."""
    if settings.database_url.startswith("sqlite"):
        other_url = f"sqlite:///{tmp_path / 'other.db'}"
    else:
        cluster = request.getfixturevalue("postgres")
        other_url = cluster.create_database()
        request.addfinalizer(lambda: cluster.drop_database(other_url))
    other = make_engine(Settings(database_url=other_url))
    listener = notify.listen(other)
    assert listener is not None
    try:
        with make_sessionmaker(engine)() as session:
            notify.send(session, notify.QUEUED)
        assert received(listener, timeout=0.5) == []
    finally:
        listener.close()
        other.dispose()


def test_sqlite_sockets_live_beside_the_database_and_go_with_their_worker(
    tmp_path: Path,
) -> None:
    engine = make_engine(Settings(database_url=f"sqlite:///{tmp_path / 'jobs.db'}"))
    listener = notify.listen(engine)
    assert isinstance(listener, notify.SocketListener)
    assert listener.path.parent == tmp_path / "jobs.db.wake"
    assert listener.path.exists()
    listener.close()
    assert not listener.path.exists()
    engine.dispose()


def test_the_sender_removes_the_socket_of_a_worker_that_died(tmp_path: Path) -> None:
    directory = tmp_path / "db.wake"
    live = notify.SocketListener(directory)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(directory / "w-1-dead.sock"))
    dead.close()  # as after a SIGKILL: the file stays, nobody reads it
    try:
        assert notify.send_datagrams(directory, notify.QUEUED) == 1
        assert not (directory / "w-1-dead.sock").exists()
        assert received(live) == [notify.QUEUED]
    finally:
        live.close()


def test_socket_paths_longer_than_an_address_still_work(tmp_path: Path) -> None:
    """A socket address holds 108 bytes; a deep directory is reached through its fd."""
    directory = tmp_path / ("d" * 60) / ("e" * 60) / "backprop.db.wake"
    assert len(str(directory)) > 120
    listener = notify.SocketListener(directory)
    try:
        assert notify.send_datagrams(directory, "cancel x") == 1
        assert received(listener) == ["cancel x"]
    finally:
        listener.close()


def test_no_transport_for_an_in_memory_database_and_sending_never_fails(
    tmp_path: Path,
) -> None:
    engine = make_engine(Settings(database_url="sqlite://"))
    assert notify.listen(engine) is None
    with make_sessionmaker(engine)() as session:
        notify.send(session, notify.QUEUED)  # nothing to reach, no error
    engine.dispose()
    assert notify.send_datagrams(tmp_path / "missing.wake", notify.QUEUED) == 0
    os.makedirs(tmp_path / "empty.wake")
    assert notify.send_datagrams(tmp_path / "empty.wake", notify.QUEUED) == 0
