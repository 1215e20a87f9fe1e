"""The web dashboard (issue #8): server-rendered pages for people, served by the API process.

Pages: ``/dashboard/login``, ``/dashboard/claim``, ``/dashboard/agents``,
``/dashboard/backtests/{result_id}``, ``/dashboard/arena`` (and ``/arena/posts/{id}``),
``/dashboard/leaderboard``. Charts read JSON from ``/dashboard/data/...``; static files
(our CSS and JS, and the vendored TradingView lightweight-charts with its licence) are
under ``/dashboard/static``. Nothing is fetched from the internet. None of these routes
are in the OpenAPI document: they are pages, not API.

Decisions (see also ``/api/v1/docs/dashboard``):

* **Who sees a backtest.** The logged-in user who owns the agent whose key produced it,
  and anyone when the result is public: attached to an arena post or registered on the
  strategy leaderboard (whose entries already publish script and request). A logged-in
  user gets the same 404 page for someone else's result as for an unknown id. An
  unauthenticated visit to a non-public id redirects to ``/dashboard/login?next=...``,
  whether or not the id exists. ``next`` must be a local ``/dashboard`` path.
* **Sessions.** The API's own session tokens (``tf_sess_...``) in an HttpOnly,
  SameSite=Lax cookie named ``tf_session`` (``Secure`` when ``public_url`` is https,
  ``Path=/``), which ``api.deps.current_user`` already accepts. Login goes through
  ``AccountService.login``, so its per-address failure limit applies; logout is a POST.
* **CSRF.** Every form carries a synchronizer token, the HMAC of the session token (or,
  on the login form, of a random pre-login cookie): it needs no server state and is the
  same in every process. Every POST also needs an ``Origin`` (or ``Referer``) naming this
  server. A failure is a 403 page ``CSRF_CHECK_FAILED``, never a 500.
* **Headers.** Dashboard responses carry a strict CSP (``default-src 'self'``, no inline
  script or style, ``frame-ancestors 'none'``), ``nosniff``, ``X-Frame-Options: DENY``,
  ``Referrer-Policy: same-origin`` and ``Cache-Control: no-store`` (static files may be
  cached). Templates autoescape; post and comment markdown is the arena's nh3-sanitised
  HTML.
* **Claiming** takes two POSTs: ``/claim`` looks the code up without using it
  (``AccountService.preview_claim``) and shows the agent with the scope choice;
  ``/claim/confirm`` looks it up again, checks it still names the claim code shown (the
  form's ``claim_ref``) and claims (``confirm_claim``, then ``claim``). Failed lookups
  and confirmations count against the user's claim-attempt counter (shared with
  ``POST /meta/claim``) and a per-address counter, like failed logins.
* **Errors.** The app's error handlers are wrapped: under ``/dashboard`` (except
  ``/data``) an error is an HTML page with the same status, code, message and suggestion
  as the API's envelope. Form errors (claim, login) are shown inline on the form.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from tradeforge.api.dashboard import data, pages
from tradeforge.api.dashboard.security import DashboardHeadersMiddleware
from tradeforge.api.dashboard.web import STATIC_DIR, install_error_pages
from tradeforge.api.routers.docs import register_document
from tradeforge.docs import read_document


def install_dashboard(app: FastAPI) -> None:
    """Mount the dashboard: pages, data, static files, error pages and headers.

    Call it after the API's routers and error handlers, and after the request-context
    middleware (whose headers the dashboard's own middleware adjusts).
    """
    app.include_router(pages.router)
    app.include_router(data.router)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")
    install_error_pages(app)
    app.add_middleware(DashboardHeadersMiddleware)


register_document(
    "dashboard",
    "Web dashboard",
    "The pages for people: who may see a backtest, sessions, CSRF and the chart data.",
    lambda _: read_document("dashboard"),
)

__all__ = ["install_dashboard"]
