"""Idempotent submits: the ``Idempotency-Key`` header on the POSTs that create things.

A client that sends ``POST /v1/jobs`` and loses the connection before the answer cannot
know whether the job was created. With an ``Idempotency-Key`` header (any string of
1-255 printable ASCII characters, e.g. a uuid4) it can simply retry:

- the first request with a key **reserves** it (one INSERT; the primary key makes the
  reservation atomic across processes), runs normally, and - if it succeeded (2xx) -
  stores its status, headers and body under the key *before* the client sees them;
- a retry with the same key and the same request (method, path, content type and body)
  gets that stored response replayed, with ``Idempotent-Replayed: true``, and creates
  nothing;
- the same key with a different request is refused with 422 and a detail that says so;
- the same key while the first request is still running is refused with 409 (retry
  later);
- a failed request (4xx, 5xx or an exception) **stores nothing**: the reservation is
  removed, so the client can fix the request and reuse the key.

Keys expire after ``ttl_seconds`` (default a day); a reservation whose request never
finished (the process died) may be taken over after ``stale_seconds``.

"Same body" means the same bytes, except that the boundary of a multipart body is
ignored (every HTTP client draws a new random one per request, so a retried upload would
otherwise never match). The fingerprint is computed while the body streams into a
spooled temporary file, so an upload of hundreds of MiB is never held in memory; the
request body limit (413) belongs in a middleware *outside* this one.

Known limit: the created resource and the stored response are written in two
transactions. If the process dies between them, the reservation stays "in progress" and
after ``stale_seconds`` a retry creates the resource a second time.

This is a pure ASGI middleware (no ``BaseHTTPMiddleware``), so it neither buffers
responses of other routes nor breaks streaming; database work runs in a thread so the
event loop never waits on SQLite.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import fault_response
from app.db import idempotency as store
from app.db.ownership import owner_scoped_key

log = logging.getLogger("backprop.api")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255  # the column's length
_KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")

#: POST paths whose requests honour the header (the endpoints that create resources).
DEFAULT_PATHS = (
    "/v1/jobs",
    "/v1/datasets",
    "/v1/datasets/upload",
    "/v1/datasets/generate",
    "/v1/sweeps",
)

#: Response headers worth replaying; the rest (date, server, content-length) are redone.
_REPLAYED_HEADERS = {b"content-type", b"location"}

EngineGetter = Callable[[Scope], Engine]


def engine_from_app_state(scope: Scope) -> Engine:
    """The SQLAlchemy engine the app's lifespan stored on ``app.state``.

    Accepts ``state.engine`` or a ``state.sessionmaker`` bound to an engine, so the
    middleware needs nothing from the service beyond what its lifespan creates anyway.
    """
    state = scope["app"].state
    engine = getattr(state, "engine", None)
    if engine is None:
        maker = getattr(state, "sessionmaker", None) or getattr(state, "session_factory", None)
        engine = maker.kw["bind"] if maker is not None else None
    if engine is None:
        raise RuntimeError("IdempotencyMiddleware: no engine on app.state (lifespan not run?)")
    return engine


class _Fingerprint:
    """sha256 of a request, blind to the multipart boundary (see the module docstring).

    Boundary occurrences are replaced while streaming, keeping a tail of
    ``len(boundary) - 1`` bytes between chunks so that a boundary split across two
    chunks is still found.
    """

    def __init__(self, method: str, path: str, content_type: str) -> None:
        self._hash = hashlib.sha256()
        self._boundary = b""
        self._tail = b""
        media_type, _, params = content_type.partition(";")
        media_type = media_type.strip().lower()
        if media_type.startswith("multipart/"):
            match = re.search(r'boundary="?([^";]+)"?', params)
            if match:
                self._boundary = match.group(1).encode("latin-1")
        self._hash.update(f"{method} {path}\n{media_type}\n".encode())

    def update(self, chunk: bytes) -> None:
        if not self._boundary:
            self._hash.update(chunk)
            return
        data = (self._tail + chunk).replace(self._boundary, b"\0BOUNDARY\0")
        keep = len(self._boundary) - 1
        # A boundary can't be hidden in the kept tail: it would have been replaced above.
        self._hash.update(data[: len(data) - keep] if keep else data)
        self._tail = data[len(data) - keep :] if keep else b""

    def hexdigest(self) -> str:
        self._hash.update(self._tail)
        self._tail = b""
        return self._hash.hexdigest()


class IdempotencyMiddleware:
    """Replays the stored response of a retried POST instead of running it again.

    ``app.add_middleware(IdempotencyMiddleware)``; options: ``paths`` (exact POST paths
    covered), ``get_engine`` (scope -> Engine, default :func:`engine_from_app_state`),
    ``ttl_seconds`` (how long a key is remembered), ``stale_seconds`` (after which an
    unfinished reservation may be taken over), ``purge_every_seconds`` (how often a
    request also deletes expired keys).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        paths: Iterable[str] = DEFAULT_PATHS,
        get_engine: EngineGetter = engine_from_app_state,
        ttl_seconds: float = 24 * 3600,
        stale_seconds: float = 600,
        spool_bytes: int = 1 << 20,
        purge_every_seconds: float = 60.0,
    ) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.get_engine = get_engine
        self.ttl = dt.timedelta(seconds=ttl_seconds)
        self.stale = dt.timedelta(seconds=stale_seconds)
        self.spool_bytes = spool_bytes
        self.purge_every = purge_every_seconds
        self._next_purge = 0.0  # time.monotonic() of the next sweep of expired keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path = scope["path"].rstrip("/") or "/"
        headers = _header_dict(scope)
        raw_key = headers.get(HEADER.lower().encode())
        if raw_key is None or path not in self.paths:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1")
        if not _KEY_RE.fullmatch(key):
            await _send_json(send, 400, {"detail": _bad_key_detail(key)})
            return
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        with tempfile.SpooledTemporaryFile(max_size=self.spool_bytes) as spool:
            fingerprint = _Fingerprint("POST", path, content_type)
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client left before sending its body: nothing happened
                chunk = message.get("body", b"")
                fingerprint.update(chunk)
                spool.write(chunk)
                more = message.get("more_body", False)
            digest = fingerprint.hexdigest()
            engine = self.get_engine(scope)
            stored = owner_scoped_key(key)  # one owner's key never replays another's answer
            try:
                verdict = await run_in_threadpool(self._reserve, engine, stored, path, digest, key)
            except SQLAlchemyError as exc:
                answer = fault_response(exc)  # 503 or 507, as a route would answer
                if answer is None:
                    raise
                await answer(scope, receive, send)
                return
            if verdict is not None:
                await _send_stored(send, *verdict)
                return
            await self._run(scope, _replay_body(spool, receive), send, engine, stored)

    # -- the request, captured --------------------------------------------------------

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, engine: Engine, key: str
    ) -> None:
        start: Message | None = None
        body = bytearray()
        finished = False
        try:

            async def capture(message: Message) -> None:
                nonlocal start, finished
                if message["type"] == "http.response.start":
                    start = message
                    return
                if message["type"] != "http.response.body" or start is None:
                    await send(message)
                    return
                body.extend(message.get("body", b""))
                if message.get("more_body", False):
                    return
                finished = True
                status = start["status"]
                if 200 <= status < 300:
                    kept = [
                        [k.decode("latin-1"), v.decode("latin-1")]
                        for k, v in start.get("headers", [])
                        if k.lower() in _REPLAYED_HEADERS
                    ]
                    # Stored before the client sees it: an answer that was delivered
                    # is always replayable.
                    await run_in_threadpool(self._complete, engine, key, status, kept, bytes(body))
                else:
                    await run_in_threadpool(self._release, engine, key)
                await send(start)
                await send({"type": "http.response.body", "body": bytes(body)})

            await self.app(scope, receive, capture)
        finally:
            if not finished:
                await run_in_threadpool(self._release, engine, key)

    # -- the store (each call one short transaction, run in a worker thread) -------------

    def _reserve(
        self, engine: Engine, key: str, path: str, digest: str, shown: str | None = None
    ) -> tuple[int, list[list[str]], bytes] | None:
        """Reserve ``key`` (as stored; ``shown``: as the client sent it, for messages);
        None if reserved, else the response to send instead."""
        shown = key if shown is None else shown
        if time.monotonic() >= self._next_purge:  # keeps the table from growing forever
            self._next_purge = time.monotonic() + self.purge_every
            store.purge_expired(engine, self.ttl.total_seconds())
        reservation = store.reserve(
            engine,
            key,
            path,
            digest,
            ttl=self.ttl.total_seconds(),
            stale=self.stale.total_seconds(),
        )
        found = reservation.stored
        if reservation.outcome == "reserved":
            return None
        if found is None:
            return 409, [], _detail(f"Idempotency-Key '{shown}' is contended; retry in a moment")
        if found.fingerprint != digest:
            return (
                422,
                [],
                _detail(
                    f"Idempotency-Key '{shown}' was already used for a different request "
                    f"(POST {found.path} with another body); use a new key for a new request"
                ),
            )
        if found.status_code is None:
            return (
                409,
                [],
                _detail(
                    f"a request with Idempotency-Key '{shown}' is still being processed; "
                    "retry in a moment to get its response"
                ),
            )
        return found.status_code, [*found.headers, [REPLAYED_HEADER, "true"]], found.body

    def _complete(
        self, engine: Engine, key: str, status: int, headers: list[list[str]], body: bytes
    ) -> None:
        try:
            store.complete(engine, key, status, headers, body)
        except SQLAlchemyError as exc:
            # The request did its work: answer it. Its key stays reserved and is taken
            # over after stale_seconds (a retry meanwhile gets 409).
            log.warning("Idempotency-Key response not stored: %s", type(exc).__name__)

    def _release(self, engine: Engine, key: str) -> None:
        try:
            store.release(engine, key)
        except SQLAlchemyError as exc:  # the reservation goes stale instead
            log.warning("Idempotency-Key reservation not released: %s", type(exc).__name__)


def _header_dict(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", [])}


def _bad_key_detail(key: str) -> str:
    shown = key if len(key) <= 40 else key[:40] + "..."
    return (
        f"Idempotency-Key header: {shown!r} is not a valid key; use 1-{MAX_KEY_LENGTH} "
        "printable ASCII characters without spaces (e.g. a UUID)"
    )


def _detail(text: str) -> bytes:
    return json.dumps({"detail": text}).encode()


def _replay_body(spool: Any, receive: Receive) -> Receive:
    """A receive() that hands the spooled body to the app, then defers to the client."""
    spool.seek(0, 2)
    size = spool.tell()
    spool.seek(0)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # http.disconnect, when the client goes
        chunk = spool.read(1 << 16)
        more = spool.tell() < size
        sent = not more
        return {"type": "http.request", "body": chunk, "more_body": more}

    return replay


async def _send_stored(send: Send, status: int, headers: list[list[str]], body: bytes) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    if not any(k == b"content-type" for k, _ in raw):
        raw.append((b"content-type", b"application/json"))
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    await _send_stored(send, status, [], json.dumps(payload).encode())


def install_idempotency(
    app: Any,
    *,
    ttl_seconds: float = 24 * 3600,
    stale_seconds: float = 600,
    paths: Iterable[str] = DEFAULT_PATHS,
) -> None:
    """Add the middleware to a FastAPI ``app`` and document the header in its OpenAPI.

    Call it *before* adding the body-limit middleware, so that one stays outside (a 413
    is answered before this middleware spools the body).
    """
    paths = tuple(paths)
    app.add_middleware(
        IdempotencyMiddleware, paths=paths, ttl_seconds=ttl_seconds, stale_seconds=stale_seconds
    )
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema  # type: ignore[no-any-return]
        schema = build()
        for path in paths:
            operation = schema.get("paths", {}).get(path, {}).get("post")
            if operation is not None:
                _document(operation)
        app.openapi_schema = schema
        return schema  # type: ignore[no-any-return]

    app.openapi = openapi


def _document(operation: dict[str, Any]) -> None:
    operation.setdefault("parameters", []).append(
        {
            "name": HEADER,
            "in": "header",
            "required": False,
            "description": (
                "Makes a retry safe: a repeated request with the same key and body gets the "
                "first response again (header `Idempotent-Replayed: true`) instead of "
                "creating a duplicate. Any 1-255 printable ASCII characters, e.g. a UUID."
            ),
            "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
        }
    )
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    responses = operation.setdefault("responses", {})
    responses.setdefault(
        "400", {"description": "Malformed Idempotency-Key header", "content": error}
    )
    responses.setdefault(
        "409",
        {"description": "A request with this Idempotency-Key is still running", "content": error},
    )
    responses.setdefault(
        "422",
        {"description": "Idempotency-Key already used for a different request", "content": error},
    )
