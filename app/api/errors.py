"""Exception handlers: domain errors -> HTTP status + ``{"detail": ...}``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from app.db.faults import Fault, cause, classify, release_space
from app.errors import (
    Conflict,
    InvalidInput,
    LimitExceeded,
    NotFound,
    QueueFull,
    StorageFull,
    Unavailable,
)

log = logging.getLogger("backprop.api")


def format_loc(loc: Sequence[Any]) -> str:
    """``("body", "inputs", 3, 1)`` -> ``"inputs[3][1]"``; query/path names stay bare."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "form", "file"):
        where = parts.pop(0)
        if not parts:
            return "body" if where == "body" else str(where)
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def format_validation_error(error: dict[str, Any]) -> str:
    """One readable ``field: problem`` line for a pydantic/FastAPI error."""
    msg = str(error.get("msg", "invalid"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error")
        msg = f"malformed JSON ({reason})" if reason else "malformed JSON"
        return f"body: {msg}"
    return f"{format_loc(error.get('loc', ()))}: {msg}"


def _json(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail, **extra})


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    lines = [format_validation_error(e) for e in errors]
    brief = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type")}
        for e in errors
    ]
    return _json(422, "; ".join(dict.fromkeys(lines)), errors=brief)


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    return _json(404, str(exc))


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    return _json(409, str(exc))


async def _unprocessable(_: Request, exc: Exception) -> JSONResponse:
    return _json(422, str(exc))


def limit_exceeded_response(exc: LimitExceeded) -> JSONResponse:
    """A configured limit: 422, or 429 with ``Retry-After`` for a full queue."""
    if isinstance(exc, QueueFull):
        return JSONResponse({"detail": exc.detail}, status_code=429, headers={"Retry-After": "5"})
    return _json(422, exc.detail)


async def _limit_exceeded(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LimitExceeded)
    return limit_exceeded_response(exc)


RETRY_AFTER_SECONDS = 5


def fault_response(exc: BaseException) -> JSONResponse | None:
    """The answer to a request that met a database fault (``app.db.faults``), or None
    when the error is not one: 503 with ``Retry-After`` when the database does not
    answer, 507 when its disk is full. One log line, no traceback."""
    if isinstance(exc, Unavailable | StorageFull):  # already worded by the service
        fault: Fault | None = Fault.unavailable if isinstance(exc, Unavailable) else Fault.full
        logged = detail = str(exc)
    else:
        fault = classify(exc)
        reason = cause(exc)
        if fault is Fault.full:
            logged = f"database full: {reason}"
            detail = f"the database's disk is full ({reason}); nothing was stored"
        else:
            logged = detail = f"database unavailable: {reason}"
    if fault is None:
        return None
    log.warning("%s", logged)
    if fault is Fault.unavailable:
        return JSONResponse(
            {"detail": f"{detail}; retry in a few seconds"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return _json(507, detail)


async def _database_fault(request: Request, exc: Exception) -> Response:
    response = fault_response(exc)
    if response is None:
        raise exc  # not a fault of the database: a bug, answered 500 with its traceback
    if isinstance(exc, SQLAlchemyError) and classify(exc) is Fault.full:
        await anyio.to_thread.run_sync(release_space, request.app.state.engine)
    return response


async def _http(request: Request, exc: Exception) -> Response:
    """FastAPI answers a JSON body that is not even text (bad UTF-8) with a bare 400
    "There was an error parsing the body"; it is malformed JSON like any other, so it
    gets the same 422 and a detail that says where."""
    assert isinstance(exc, HTTPException)
    decoding = exc.__cause__
    if exc.status_code == 400 and isinstance(decoding, UnicodeDecodeError):
        return _json(422, f"body: malformed JSON (not UTF-8 text at byte {decoding.start})")
    return await http_exception_handler(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    """Register every domain error -> HTTP mapping on ``app``."""
    from app.datasets import DatasetError
    from app.nn import SpecError

    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(InvalidInput, _unprocessable)
    app.add_exception_handler(LimitExceeded, _limit_exceeded)
    app.add_exception_handler(Unavailable, _database_fault)
    app.add_exception_handler(StorageFull, _database_fault)
    app.add_exception_handler(SQLAlchemyError, _database_fault)
    app.add_exception_handler(SpecError, _unprocessable)
    app.add_exception_handler(DatasetError, _unprocessable)
