"""Templates, the logged-in viewer, page rendering and HTML error pages."""

from __future__ import annotations

import inspect
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tradeforge.adapters.storage.repositories.accounts import SqlAccountRepository
from tradeforge.api.dashboard.security import (
    CSRF_FIELD,
    DASHBOARD_PREFIX,
    SESSION_COOKIE,
    clear_session_cookie,
    csrf_matches,
    csrf_token,
    is_same_origin,
)
from tradeforge.api.deps import ContainerDep, SessionDep
from tradeforge.buildinfo import VERSION
from tradeforge.core.accounts import User
from tradeforge.core.errors import AuthError, PermissionDeniedError
from tradeforge.services.accounts import AccountService

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
DATA_PREFIX = f"{DASHBOARD_PREFIX}/data/"
STATIC_PREFIX = f"{DASHBOARD_PREFIX}/static/"


def _num(value: Any, digits: int = 2) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "–"
    return f"{value:,.{digits}f}"


def _pct(value: Any, digits: int = 2) -> str:
    text = _num(value, digits)
    return text if text == "–" else f"{text} %"


def _int(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "–"
    return f"{int(value):,}"


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        moment = datetime.fromtimestamp(value / 1000, tz=UTC)
    else:
        return "–"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "–"
    seconds = int(value // 1000)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {rest // 60} min"


def _signed(value: Any) -> str:
    """``pos`` / ``neg`` / empty: the CSS class of a number's sign."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return ""
    return "pos" if value > 0 else "neg" if value < 0 else ""


def _tojson_attr(value: Any) -> str:
    # For data- attributes; autoescape quotes the result.
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=_num,
        pct=_pct,
        int=_int,
        when=_when,
        duration=_duration,
        signed=_signed,
        jsonattr=_tojson_attr,
    )
    env.globals.update(version=VERSION, prefix=DASHBOARD_PREFIX)
    return env


TEMPLATES = build_environment()


@dataclass(frozen=True)
class Viewer:
    """Who is looking: a logged-in user with the session token, or nobody."""

    user: User | None
    session_token: str | None
    stale_cookie: bool = False

    @property
    def is_authenticated(self) -> bool:
        return self.user is not None


class LoginRequired(Exception):  # noqa: N818  # a control-flow signal, not an error
    """Raised by a page that needs a user; answered with a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def account_service(container: ContainerDep, session: SessionDep) -> AccountService:
    return AccountService(
        SqlAccountRepository(session), container.clock, container.counters, container.account_policy
    )


AccountsDep = Annotated[AccountService, Depends(account_service)]


def current_viewer(request: Request, accounts: AccountsDep) -> Viewer:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return Viewer(None, None)
    try:
        user = accounts.authenticate_session(token)
    except AuthError:
        return Viewer(None, None, stale_cookie=True)
    return Viewer(user, token)


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


def _here(request: Request) -> str:
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path


def require_user(request: Request, viewer: ViewerDep) -> User:
    """The logged-in user; pages redirect to the login page, data endpoints answer 401."""
    if viewer.user is not None:
        return viewer.user
    if request.url.path.startswith(DATA_PREFIX):
        raise AuthError(
            "This data needs a logged-in user.",
            code="AUTHENTICATION_REQUIRED",
            suggestion=f"Log in at {DASHBOARD_PREFIX}/login, then reload the page.",
        )
    raise LoginRequired(_here(request))


UserPageDep = Annotated[User, Depends(require_user)]


def check_form(request: Request, container: ContainerDep, binding: str | None, form: Any) -> None:
    """Refuse a form POST from another site: same origin and a matching CSRF token."""
    settings = container.settings
    if not is_same_origin(request, settings):
        raise PermissionDeniedError(
            "The form was not sent from this site (Origin/Referer check failed).",
            code="CSRF_CHECK_FAILED",
            suggestion="Open the page on this site again and resubmit the form from there.",
        )
    if not csrf_matches(settings, binding, form.get(CSRF_FIELD)):
        raise PermissionDeniedError(
            "The form's security token is missing or out of date.",
            code="CSRF_CHECK_FAILED",
            suggestion="Reload the page (your session may have changed) and submit again.",
        )


def render(
    request: Request,
    container: ContainerDep,
    viewer: Viewer,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> HTMLResponse:
    """Render a page with the viewer, its CSRF token and the current path."""
    token = None
    if viewer.session_token is not None:
        token = csrf_token(container.settings, viewer.session_token)
    values = {
        "viewer": viewer,
        "user": viewer.user,
        "csrf_token": token,
        "path": request.url.path,
        "here": _here(request),
        **context,
    }
    html = TEMPLATES.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status)
    if viewer.stale_cookie:
        clear_session_cookie(response, container.settings)
    return response


# -- HTML error pages -------------------------------------------------------------------------

Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def _is_page(path: str) -> bool:
    return (
        (path == DASHBOARD_PREFIX or path.startswith(DASHBOARD_PREFIX + "/"))
        and not path.startswith(DATA_PREFIX)
        and not path.startswith(STATIC_PREFIX)
    )


_TITLES = {
    400: "That request did not work",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Conflict",
    413: "Too large",
    429: "Slow down",
    503: "Unavailable",
}


def error_page(request: Request, status: int, error: dict[str, Any]) -> HTMLResponse:
    """The error page: the same code, message and suggestion as the API's envelope."""
    html = TEMPLATES.get_template("error.html").render(
        {
            "status": status,
            "title": _TITLES.get(status, "Something went wrong"),
            "code": str(error.get("code") or "ERROR"),
            "message": str(error.get("message") or ""),
            "suggestion": str(error.get("suggestion") or ""),
            "request_id": getattr(request.state, "request_id", None),
            "user": None,
            "viewer": None,
            "csrf_token": None,
            "path": request.url.path,
        }
    )
    return HTMLResponse(html, status_code=status)


def _wrap(original: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        outcome = original(request, exc)
        response = await outcome if inspect.isawaitable(outcome) else outcome
        if not _is_page(request.url.path):
            return response
        error: dict[str, Any] = {}
        try:
            body = json.loads(bytes(response.body))
            error = dict(body.get("error") or {})
        except (ValueError, TypeError, AttributeError):
            error = {}
        page = error_page(request, response.status_code, error)
        for name in ("retry-after", "allow"):
            if name in response.headers:
                page.headers[name] = response.headers[name]
        return page

    return handle


async def _on_login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    target = f"{DASHBOARD_PREFIX}/login?next={quote(exc.next_path, safe='')}"
    return RedirectResponse(target, status_code=303)


def install_error_pages(app: FastAPI) -> None:
    """Answer errors on dashboard pages with HTML (data endpoints keep the envelope).

    Each of the app's handlers is wrapped, so status codes and messages stay exactly
    those of the API.
    """
    for key, handler in list(app.exception_handlers.items()):
        app.add_exception_handler(key, _wrap(handler))
    app.add_exception_handler(LoginRequired, _on_login_required)


def markup(html: str) -> Markup:
    """Mark already-sanitised HTML (the arena's nh3 output) as safe for templates."""
    return Markup(html)  # noqa: S704  # input is nh3-sanitised by render_markdown
