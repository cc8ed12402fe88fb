"""Domain errors of the service, mapped to HTTP by the API's exception handlers.

    BackpropError(Exception)
    ├── NotFound          -> 404   (.resource, .id)
    │   └── SnapshotNotFound       (a job exists but has no weight snapshot at that epoch)
    ├── Conflict          -> 409   (the resource is in the wrong state)
    ├── InvalidInput      -> 422   (.field, .message; a ValueError)
    ├── LimitExceeded     -> 422   (a configured limit: .limit, .value, .maximum, .detail)
    │   └── QueueFull     -> 429   (too many queued jobs; retry later)
    ├── Unavailable       -> 503   (the database does not answer; Retry-After)
    ├── StorageFull       -> 507   (no space left to store what was asked)
    └── LeaseLost                  (the worker no longer holds the job; never reaches HTTP)

The engine's ``app.nn.SpecError`` and the parser's ``app.datasets.DatasetError`` are
also answered with 422 and their own message.
"""

from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """``"ValueError: first line of the message"`` (at most 500 characters): how a job's
    error and a worker's log tell an exception (drivers append SQL and a help link)."""
    text = str(exc).strip().splitlines()
    message = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return message[:500]


class BackpropError(Exception):
    """Base class of the service's own errors."""


class NotFound(BackpropError):
    """A dataset or job id that does not exist."""

    def __init__(self, resource: str, id: str) -> None:
        self.resource = resource
        self.id = id
        super().__init__(f"{resource} {id!r} not found")


class SnapshotNotFound(NotFound):
    """A job without a weight snapshot at the epoch asked for; the message says which
    epochs it has."""

    def __init__(self, job_id: str, epoch: int, message: str) -> None:
        self.resource = "snapshot"
        self.id = f"{job_id}@{epoch}"
        self.epoch = epoch
        BackpropError.__init__(self, message)


class Conflict(BackpropError):
    """The request is valid but the resource's state forbids it."""


class InvalidInput(BackpropError, ValueError):
    """Input that fails a check only the service can make (e.g. sizes vs. dataset)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class LimitExceeded(BackpropError):
    """A request asks for more than a configured limit allows (``app.limits``).

    ``.limit`` is the setting's name, ``.value`` what was asked, ``.maximum`` what is
    allowed, ``.detail`` the sentence for the client.
    """

    def __init__(self, detail: str, *, limit: str, value: int, maximum: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.limit = limit
        self.value = value
        self.maximum = maximum


class QueueFull(LimitExceeded):
    """The queue holds as many waiting jobs as allowed: retry once some have started."""


class Unavailable(BackpropError):
    """A dependency the request needs (the database) does not answer."""


class StorageFull(BackpropError):
    """The database's volume has no room for the write; nothing was stored."""


class LeaseLost(BackpropError):
    """A fenced write found that another worker (or nobody) holds the job now."""
