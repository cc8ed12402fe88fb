"""API keys and CORS: the HTTP side of authentication.

With ``BACKPROP_API_KEYS`` (and/or ``BACKPROP_ADMIN_API_KEYS``) set, every request except
the public paths (``/health``, the docs pages and their assets, the dashboard's static
page) must carry a key, as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``;
missing or wrong -> 401 with ``WWW-Authenticate: Bearer``. Keys are compared with
:func:`hmac.compare_digest` against every configured key (no early exit), so the time
taken says nothing about how much of a key was right. Unset (the embedded default), the
API is open.

The request then runs as the key's :class:`~app.db.ownership.Principal`; what an owner
may see is enforced beside the queries, in ``app.db.ownership``.

``GET /metrics`` (Prometheus) covers every owner's jobs, so with keys configured it
needs an admin key or ``BACKPROP_METRICS_TOKEN`` (a user key gets 403); with a token set
it needs the token (or an admin key) even when the API is otherwise open.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings
from app.db.ownership import Principal, acting_as, owner_of

PUBLIC_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
# Self-hosted Swagger/ReDoc assets, and the dashboard's and playground's pages and files.
PUBLIC_PREFIXES = ("/static-offline-docs/", "/static/")
DASHBOARD_PAGES = frozenset({"/", "/playground"})
METRICS_PATH = "/metrics"

BEARER = "bearerAuth"
API_KEY_HEADER = "apiKeyHeader"


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


MIN_KEY_LENGTH = 16
STRONG_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def check_strength(keys: Iterable[str], variable: str) -> None:
    """Refuse a key shorter than :data:`MIN_KEY_LENGTH` characters, naming the variable
    and how to make a strong one (the key itself is not shown)."""
    for number, key in enumerate(keys, start=1):
        if len(key) < MIN_KEY_LENGTH:
            raise ValueError(
                f"{variable}: key {number} has {len(key)} characters; an API key needs at "
                f"least {MIN_KEY_LENGTH}. Make a strong one with: {STRONG_KEY}"
            )


class Keyring:
    """The configured keys, matched in constant time; each key's owner id is derived
    once, here (``app.db.ownership.owner_of`` is deliberately slow)."""

    def __init__(self, keys: Iterable[str], admin_keys: Iterable[str] = ()) -> None:
        self._entries = [(k.encode("utf-8"), False) for k in keys]
        self._entries += [(k.encode("utf-8"), True) for k in admin_keys]
        self._owners = {key: owner_of(key.decode("utf-8")) for key, _ in self._entries}

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        """The keys of ``BACKPROP_API_KEYS`` and ``BACKPROP_ADMIN_API_KEYS``; ValueError
        when a file cannot be read or a key is too short."""
        keys = parse_keys(settings.api_keys, "BACKPROP_API_KEYS")
        admin = parse_keys(settings.admin_api_keys, "BACKPROP_ADMIN_API_KEYS")
        check_strength(keys, "BACKPROP_API_KEYS")
        check_strength(admin, "BACKPROP_ADMIN_API_KEYS")
        return cls(keys, admin)

    @property
    def keys(self) -> list[str]:
        """Every configured key (user and admin)."""
        return [key.decode("utf-8") for key, _ in self._entries]

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
        return Principal(owner=self._owners[found[0]], admin=found[1])


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
    return path in PUBLIC_PATHS or path in DASHBOARD_PAGES or path.startswith(PUBLIC_PREFIXES)


class AuthMiddleware:
    """Pure ASGI: 401 for a protected path without a valid key; otherwise runs the app
    with the caller's :class:`Principal` in the context (read by the session hooks)."""

    def __init__(self, app: ASGIApp, keyring: Keyring, metrics_token: str = "") -> None:
        self.app = app
        self.keyring = keyring
        self.metrics_token = metrics_token.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == METRICS_PATH:
            await self._metrics(scope, receive, send)
            return
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
        with acting_as(principal):
            await self.app(scope, receive, send)

    async def _metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``/metrics``: open without keys and token; else the token or an admin key."""
        if not self.keyring.enabled and not self.metrics_token:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope["headers"]}  # fmt: skip
        presented = presented_keys(headers)
        allowed = user = False
        for key in presented:
            token_ok = bool(self.metrics_token) and hmac.compare_digest(
                key.encode("utf-8"), self.metrics_token
            )
            principal = self.keyring.authenticate(key)
            allowed |= token_ok or (principal is not None and principal.admin)
            user |= principal is not None
        if allowed:
            with acting_as(Principal(owner=None, admin=True)):
                await self.app(scope, receive, send)
        elif user:
            response = JSONResponse(
                {"detail": "GET /metrics needs an admin API key or BACKPROP_METRICS_TOKEN"},
                status_code=403,
            )
            await response(scope, receive, send)
        else:
            await _unauthorized(bool(presented))(scope, receive, send)


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


def cors_origins(settings: Settings) -> list[str]:
    """``BACKPROP_CORS_ORIGINS``, comma-separated (empty: no CORS headers at all)."""
    return [o.strip() for o in settings.cors_origins.split(",") if o.strip()]


def install_auth(app: Any, settings: Settings) -> Keyring:
    """API keys (when configured), their OpenAPI security scheme, and CORS (outermost,
    so preflight requests are answered before authentication). Returns the keyring."""
    keyring = Keyring.from_settings(settings)
    app.add_middleware(AuthMiddleware, keyring=keyring, metrics_token=settings.metrics_token)
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
    return keyring


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
