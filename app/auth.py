"""API keys, ownership and CORS.

With ``BACKPROP_API_KEYS`` (and/or ``BACKPROP_ADMIN_API_KEYS``) set, every request except
the public paths (``/health``, the docs pages and their assets, the dashboard's static
page) must carry a key, as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``;
missing or wrong -> 401 with ``WWW-Authenticate: Bearer``. Keys are compared with
:func:`hmac.compare_digest` against every configured key (no early exit), so the time
taken says nothing about how much of a key was right. Unset (the embedded default), the
API is open.

Ownership: datasets and jobs get ``owner`` = SHA-256 of the key that created them (the
key itself is never stored). During a request made with a user key, every ORM query of
the request's sessions is filtered to that owner (``with_loader_criteria`` added by a
``do_orm_execute`` hook), so another owner's items are 404 and absent from lists, and a
job can only be given a dataset its owner can read; new rows are stamped with the owner
at flush. Admin keys see everything. The current principal travels in a context
variable set by :class:`AuthMiddleware`, so routers and helpers need no extra parameter;
outside a request (workers, tests, migrations) nothing is filtered.

Core statements on the ``jobs`` table (``app.jobqueue``'s transitions) are not ORM
queries and are not filtered: a route must look the job up through the ORM first (as
``cancel`` and ``delete`` do) before it calls a transition by id.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings
from app.db.models import Dataset, Job

PUBLIC_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
# Self-hosted Swagger/ReDoc assets, and the dashboard's static page and files.
PUBLIC_PREFIXES = ("/static-offline-docs/", "/static/")
DASHBOARD_PAGE = "/"

BEARER = "bearerAuth"
API_KEY_HEADER = "apiKeyHeader"


def owner_of(key: str) -> str:
    """What is stored for a key: its SHA-256, hex (64 characters)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_keys(raw: str, variable: str = "BACKPROP_API_KEYS") -> list[str]:
    """``"k1,k2"`` or ``"@/path/file"`` (one key per line; blank lines and ``#`` comments
    skipped) -> the keys. An unreadable file is an error naming the variable."""
    raw = raw.strip()
    if raw.startswith("@"):
        path = Path(raw[1:]).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(f"{variable}: cannot read key file {path}: {exc.strerror}") from exc
        candidates: Iterable[str] = (line.strip() for line in lines)
        return [k for k in candidates if k and not k.startswith("#")]
    return [k.strip() for k in raw.split(",") if k.strip()]


@dataclass(frozen=True)
class Principal:
    """Who is calling: ``owner`` (hash of the key; None when the API is open) and whether
    they see every owner's data."""

    owner: str | None
    admin: bool


class Keyring:
    """The configured keys, matched in constant time."""

    def __init__(self, keys: Iterable[str], admin_keys: Iterable[str] = ()) -> None:
        self._entries = [(k.encode("utf-8"), False) for k in keys]
        self._entries += [(k.encode("utf-8"), True) for k in admin_keys]

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        return cls(
            parse_keys(settings.api_keys, "BACKPROP_API_KEYS"),
            parse_keys(settings.admin_api_keys, "BACKPROP_ADMIN_API_KEYS"),
        )

    @property
    def enabled(self) -> bool:
        """Whether any key is configured (otherwise the API is open)."""
        return bool(self._entries)

    def authenticate(self, presented: str) -> Principal | None:
        """The principal of a presented key, or None. Compares against every key with
        :func:`hmac.compare_digest` and never stops early."""
        candidate = presented.encode("utf-8")
        found: tuple[bytes, bool] | None = None
        for key, admin in self._entries:
            if hmac.compare_digest(candidate, key) and found is None:
                found = (key, admin)
        if found is None:
            return None
        return Principal(owner=owner_of(found[0].decode("utf-8")), admin=found[1])


def presented_keys(headers: Mapping[str, str]) -> list[str]:
    """Keys the request carries: ``Authorization: Bearer <key>`` and/or ``X-API-Key``."""
    keys = []
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        keys.append(value.strip())
    header = headers.get("x-api-key", "").strip()
    if header:
        keys.append(header)
    return keys


def is_public(path: str) -> bool:
    """Paths served without a key: health, docs, schema, the dashboard's static page."""
    return path in PUBLIC_PATHS or path == DASHBOARD_PAGE or path.startswith(PUBLIC_PREFIXES)


_principal: ContextVar[Principal | None] = ContextVar("backprop_principal", default=None)


def current_principal() -> Principal | None:
    """The principal of the request being served (None: no filtering)."""
    return _principal.get()


def owner_scoped_key(key: str) -> str:
    """An ``Idempotency-Key`` as stored: as sent when the API is open, else a hash of the
    caller's owner and the key (66 characters), so the same key string from two owners
    names two entries and one owner's retry never replays another owner's response."""
    principal = _principal.get()
    if principal is None or principal.owner is None:
        return key
    return "o:" + hashlib.sha256(f"{principal.owner}\0{key}".encode()).hexdigest()


class AuthMiddleware:
    """Pure ASGI: 401 for a protected path without a valid key; otherwise runs the app
    with the caller's :class:`Principal` in the context (read by the session hooks)."""

    def __init__(self, app: ASGIApp, keyring: Keyring) -> None:
        self.app = app
        self.keyring = keyring

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self.keyring.enabled:
            await self.app(scope, receive, send)
            return
        principal = None
        if not is_public(scope["path"]):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                       for k, v in scope["headers"]}  # fmt: skip
            presented = presented_keys(headers)
            for key in presented:
                principal = principal or self.keyring.authenticate(key)
            if principal is None:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                else:
                    await _unauthorized(bool(presented))(scope, receive, send)
                return
        token = _principal.set(principal)
        try:
            await self.app(scope, receive, send)
        finally:
            _principal.reset(token)


def _unauthorized(wrong: bool) -> JSONResponse:
    if wrong:
        detail = "invalid API key"
        challenge = 'Bearer realm="backprop", error="invalid_token"'
    else:
        detail = "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
        challenge = 'Bearer realm="backprop"'
    return JSONResponse(
        {"detail": detail}, status_code=401, headers={"www-authenticate": challenge}
    )


@event.listens_for(Session, "do_orm_execute")
def _filter_by_owner(state: ORMExecuteState) -> None:
    """A user key's request sees only its own datasets and jobs (SELECT/UPDATE/DELETE)."""
    principal = _principal.get()
    if principal is None or principal.admin or state.is_column_load:
        return
    if state.is_select or state.is_update or state.is_delete:
        owner = principal.owner
        state.statement = state.statement.options(
            with_loader_criteria(Dataset, Dataset.owner == owner, include_aliases=True),
            with_loader_criteria(Job, Job.owner == owner, include_aliases=True),
        )


@event.listens_for(Session, "before_flush")
def _stamp_owner(session: Session, _context: Any, _instances: Any) -> None:
    """New datasets and jobs belong to the key of the request that creates them."""
    principal = _principal.get()
    if principal is None or principal.owner is None:
        return
    for obj in session.new:
        if isinstance(obj, Dataset | Job) and obj.owner is None:
            obj.owner = principal.owner


def cors_origins(settings: Settings) -> list[str]:
    """``BACKPROP_CORS_ORIGINS``, comma-separated (empty: no CORS headers at all)."""
    return [o.strip() for o in settings.cors_origins.split(",") if o.strip()]


def install_auth(app: Any, settings: Settings) -> None:
    """API keys (when configured), their OpenAPI security scheme, and CORS (outermost,
    so preflight requests are answered before authentication)."""
    keyring = Keyring.from_settings(settings)
    app.add_middleware(AuthMiddleware, keyring=keyring)
    if keyring.enabled:
        _declare_security(app)
    origins = cors_origins(settings)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["*"],
            allow_headers=[
                "Authorization",
                "X-API-Key",
                "Content-Type",
                "Idempotency-Key",
                "Last-Event-ID",
            ],  # fmt: skip
        )


def _declare_security(app: Any) -> None:
    """Declare both schemes (Swagger UI's "Authorize" button) on every protected
    operation, with its 401; public operations declare none."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if getattr(app.state, "auth_schema_done", False):
            return app.openapi_schema  # type: ignore[no-any-return]
        schema: dict[str, Any] = build()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[BEARER] = {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from BACKPROP_API_KEYS, as 'Authorization: Bearer <key>'",
        }
        schemes[API_KEY_HEADER] = {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "The same API key, in the X-API-Key header",
        }
        unauthorized = {
            "description": "Missing or invalid API key (WWW-Authenticate: Bearer)",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
            },
        }
        schemas = schema["components"].setdefault("schemas", {})
        schemas.setdefault(
            "ErrorResponse",
            {"type": "object", "properties": {"detail": {"type": "string"}},
             "required": ["detail"]},
        )  # fmt: skip
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                if is_public(path):
                    operation["security"] = []
                else:
                    operation["security"] = [{BEARER: []}, {API_KEY_HEADER: []}]
                    operation["responses"].setdefault("401", unauthorized)
        app.openapi_schema = schema
        app.state.auth_schema_done = True
        return schema

    app.openapi = openapi
