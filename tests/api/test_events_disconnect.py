"""A client that leaves the event stream: the server stops writing to it.

A client that reads a few events and closes its socket (``curl -N … | head``) leaves the
server writing into a connection that answers with a reset; asyncio then logs
``socket.send() raised exception.`` for every write past the fifth. The stream must
stop at the first failed write, so not one such line is logged, whether the client
left early in the job or joined late (a burst of recorded epochs in one poll).
"""

from __future__ import annotations

import logging
import socket
import time
from urllib.parse import urlparse

import httpx
import pytest

from tests.helpers import Driver, ThreadServer, make_dataset, make_job

FLOOD = "socket.send() raised exception"


def read_then_leave(url: str, path: str, events: int) -> int:
    """GET ``path``, read until ``events`` events have arrived, then close the socket
    with data still unread (the kernel answers the server's next write with a reset)."""
    address = urlparse(url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        request = f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
        sock.sendall(request.encode())
        received = b""
        while received.count(b"event: ") < events:
            chunk = sock.recv(256)
            if not chunk:
                break
            received += chunk
        # Linger 0: close with a reset, as a killed client's kernel does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" + b"\x00" * 4)
    return received.count(b"event: ")


def burst(driver: Driver, lease: object, first: int, last: int) -> None:
    for epoch in range(first, last + 1):
        driver.epoch(lease, epoch)  # type: ignore[arg-type]


@pytest.mark.parametrize("joins", ["early", "late"])
def test_a_client_that_leaves_gets_no_more_writes(
    server: ThreadServer,
    api: httpx.Client,
    driver: Driver,
    caplog: pytest.LogCaptureFixture,
    joins: str,
) -> None:
    job = make_job(api, make_dataset(api), epochs=3000)
    lease = driver.claim()
    recorded = 1500 if joins == "late" else 2
    burst(driver, lease, 1, recorded)
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        got = read_then_leave(server.url, f"/v1/jobs/{job['id']}/events", events=3)
        assert got >= 3
        # Three more bursts of epochs, each written by one poll of the stream.
        start = recorded + 1
        for k in range(3):
            burst(driver, lease, start + 60 * k, start + 60 * k + 59)
            time.sleep(0.3)
        time.sleep(0.5)
    flood = [r for r in caplog.records if FLOOD in r.getMessage()]
    assert not flood, f"{len(flood)} lines of {FLOOD!r}"
