"""Session cookies, CSRF tokens, same-origin checks, safe redirects and security headers
for the dashboard (the decisions are described in :mod:`tradeforge.api.dashboard`)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from tradeforge.api.middleware import ASGIApp, Message, Receive, Scope, Send
from tradeforge.config import Settings

SESSION_COOKIE = "tf_session"  # the name ``api.deps.current_user`` already reads
LOGIN_CSRF_COOKIE = "tf_login_csrf"
CSRF_FIELD = "csrf_token"
DASHBOARD_PREFIX = "/dashboard"

#: No inline script or style anywhere; data reaches scripts through JSON endpoints and
#: ``data-`` attributes.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_PAGE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # Not no-referrer: with it, browsers send 'Origin: null' on form POSTs, which the
    # same-origin check must refuse.
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)
_REPLACED = {name for name, _ in _PAGE_HEADERS} | {b"cache-control"}


def _csrf_key(settings: Settings) -> bytes:
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    return b"tradeforge-dashboard-csrf\x00" + secret.encode()


def csrf_token(settings: Settings, binding: str) -> str:
    """The synchronizer token for a session (or pre-login) secret ``binding``.

    It is an HMAC of a value only the cookie holder knows (the HttpOnly session token),
    so a cross-site page can neither read nor compute it; no server state is needed and
    every API process agrees on it.
    """
    return hmac.new(_csrf_key(settings), binding.encode(), hashlib.sha256).hexdigest()


def csrf_matches(settings: Settings, binding: str | None, submitted: object) -> bool:
    if not binding or not isinstance(submitted, str) or len(submitted) != 64:
        return False
    return hmac.compare_digest(csrf_token(settings, binding), submitted)


def new_login_binding() -> str:
    return secrets.token_urlsafe(32)


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def allowed_origins(request: Request, settings: Settings) -> set[str]:
    """This server's origins: the configured public URL and the one the browser used."""
    origins = {f"{request.url.scheme}://{request.url.netloc}".lower()}
    configured = _origin_of(settings.base_url)
    if configured is not None:
        origins.add(configured)
    return origins


def is_same_origin(request: Request, settings: Settings) -> bool:
    """True when ``Origin`` (or, without it, ``Referer``) names this server.

    A POST with neither header, or with ``Origin: null``, is refused: every browser
    sends one of them on a form submission.
    """
    allowed = allowed_origins(request, settings)
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.lower() in allowed
    referer = request.headers.get("referer")
    if referer is None:
        return False
    return _origin_of(referer) in allowed


def safe_next(value: object, default: str = f"{DASHBOARD_PREFIX}/agents") -> str:
    """A redirect target that stays on this site: a local dashboard path only.

    Refuses absolute URLs, scheme-relative ``//host`` and ``/\\host`` forms, control
    characters and anything outside ``/dashboard``.
    """
    if not isinstance(value, str) or not value or len(value) > 512:
        return default
    if any(ord(ch) < 0x21 or ch == "\\" for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return default
    path = parts.path
    if path != DASHBOARD_PREFIX and not path.startswith(DASHBOARD_PREFIX + "/"):
        return default
    if path.startswith(f"{DASHBOARD_PREFIX}/login") or path.startswith(
        f"{DASHBOARD_PREFIX}/logout"
    ):
        return default
    return value


def is_secure(settings: Settings) -> bool:
    return settings.base_url.lower().startswith("https://")


def set_session_cookie(
    response: Response, settings: Settings, token: str, max_age_seconds: int
) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max(1, max_age_seconds),
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_secure(settings),
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_secure(settings)
    )


def set_login_cookie(response: Response, settings: Settings, binding: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        binding,
        max_age=3600,
        path=DASHBOARD_PREFIX,
        httponly=True,
        samesite="strict",
        secure=is_secure(settings),
    )


class DashboardHeadersMiddleware:
    """Give every ``/dashboard`` response the page security headers.

    It wraps the app's request-context middleware, whose API defaults (``Referrer-Policy:
    no-referrer``) it replaces. HTML and data are ``no-store``; static files may be cached.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not (
            path == DASHBOARD_PREFIX or path.startswith(DASHBOARD_PREFIX + "/")
        ):
            await self.app(scope, receive, send)
            return
        is_static = path.startswith(f"{DASHBOARD_PREFIX}/static/")
        cache = b"public, max-age=3600" if is_static else b"no-store"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() not in _REPLACED
                ]
                headers.extend(_PAGE_HEADERS)
                headers.append((b"cache-control", cache))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
