"""The dashboard's HTML pages: login and logout, claim, agents, backtests, arena and the
leaderboard. Every route is hidden from the OpenAPI document (they are pages, not API)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from tradeforge.adapters.storage.repositories.dashboard import DashboardQueries
from tradeforge.api.dashboard import present
from tradeforge.api.dashboard.highlight import highlight
from tradeforge.api.dashboard.security import (
    CSRF_FIELD,
    DASHBOARD_PREFIX,
    LOGIN_CSRF_COOKIE,
    clear_session_cookie,
    csrf_token,
    new_login_binding,
    safe_next,
    set_login_cookie,
    set_session_cookie,
)
from tradeforge.api.dashboard.web import (
    AccountsDep,
    LoginRequired,
    UserPageDep,
    Viewer,
    ViewerDep,
    check_form,
    markup,
    render,
)
from tradeforge.api.deps import ClientIpDep, ContainerDep, SessionDep
from tradeforge.api.errors import status_for
from tradeforge.api.routers.arena import ArenaDep
from tradeforge.api.routers.backtest import ServiceDep as JobsDep
from tradeforge.arena.markdown import render_markdown
from tradeforge.core.accounts import ApiKey, Scope
from tradeforge.core.arena import FeedPeriod, FeedSort, LeaderboardSort, PostCategory
from tradeforge.core.errors import TradeforgeError
from tradeforge.core.jobs import BacktestResultRecord
from tradeforge.services.accounts import AccountService
from tradeforge.services.backtest_jobs import BacktestJobService

router = APIRouter(prefix=DASHBOARD_PREFIX, include_in_schema=False)

IdPath = Annotated[str, Path(min_length=1, max_length=64)]
TextQuery = Annotated[str | None, Query(max_length=512)]
FormText = Annotated[str, Form(max_length=512)]
#: The hidden CSRF field of every form (named so that it never shadows ``csrf_token()``).
TokenField = Annotated[str, Form(alias=CSRF_FIELD, max_length=128)]

SORTS = ("hot", "new", "top")
CATEGORIES = ("all", "market_talk", "strategy_ideas", "news_analysis", "show_tell")
CATEGORY_LABELS = {
    "all": "All",
    "market_talk": "Market talk",
    "strategy_ideas": "Strategy ideas",
    "news_analysis": "News analysis",
    "show_tell": "Show & tell",
}
PERIODS = ("24h", "7d", "30d", "all")
BOARD_SORTS = ("posts", "roi", "sharpe", "calmar")
FEED_PAGE = 20
OPTIONAL_SCOPES = (
    ("trade", "Trade", "Place and cancel live orders. Only grant this to an agent you trust."),
)


def _choice(value: str | None, allowed: tuple[str, ...], default: str) -> str:
    return value if value in allowed else default


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _owned_key_ids(accounts: AccountService, viewer: Viewer) -> set[str]:
    if viewer.user is None:
        return set()
    return {key.id for key in accounts.list_keys(viewer.user)}


# -- entry, login and logout ------------------------------------------------------------------


@router.get("")
def home(viewer: ViewerDep) -> RedirectResponse:
    if viewer.user is None:
        return _see_other(f"{DASHBOARD_PREFIX}/login")
    return _see_other(f"{DASHBOARD_PREFIX}/agents")


@router.get("/favicon.svg")
def favicon() -> Response:
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
        '<rect width="32" height="32" rx="7" fill="#2563eb"/>'
        '<path d="M6 22l6-7 5 4 9-11" stroke="#fff" stroke-width="3" fill="none" '
        'stroke-linecap="round" stroke-linejoin="round"/></svg>'
    )
    return Response(svg, media_type="image/svg+xml")


def _login_page(
    request: Request,
    container: ContainerDep,
    viewer: Viewer,
    next_path: str,
    *,
    email: str = "",
    error: TradeforgeError | None = None,
) -> Response:
    binding = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_binding()
    response = render(
        request,
        container,
        viewer,
        "login.html",
        {
            "next": next_path,
            "email": email,
            "error": error,
            "login_csrf": csrf_token(container.settings, binding),
        },
        status=200 if error is None else status_for(error),
    )
    set_login_cookie(response, container.settings, binding)
    return response


@router.get("/login")
def login_form(
    request: Request, container: ContainerDep, viewer: ViewerDep, next: TextQuery = None
) -> Response:
    target = safe_next(next)
    if viewer.user is not None:
        return _see_other(target)
    return _login_page(request, container, viewer, target)


@router.post("/login")
def login(
    request: Request,
    container: ContainerDep,
    viewer: ViewerDep,
    accounts: AccountsDep,
    ip: ClientIpDep,
    email: FormText = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: FormText = "",
    form_token: TokenField = "",
) -> Response:
    """Log in with the API's own login (its per-address failure limit applies)."""
    check_form(request, container, request.cookies.get(LOGIN_CSRF_COOKIE), {CSRF_FIELD: form_token})
    target = safe_next(next)
    try:
        issued = accounts.login(email, password, ip)
    except TradeforgeError as error:
        return _login_page(request, container, viewer, target, email=email, error=error)
    ttl = int((issued.session.expires_at - container.clock.now()).total_seconds())
    response = _see_other(target)
    set_session_cookie(response, container.settings, issued.token, ttl)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=DASHBOARD_PREFIX)
    return response


@router.post("/logout")
def logout(
    request: Request,
    container: ContainerDep,
    viewer: ViewerDep,
    accounts: AccountsDep,
    form_token: TokenField = "",
) -> Response:
    if viewer.session_token is not None:
        check_form(request, container, viewer.session_token, {CSRF_FIELD: form_token})
        accounts.logout(viewer.session_token)
    response = _see_other(f"{DASHBOARD_PREFIX}/login")
    clear_session_cookie(response, container.settings)
    return response


# -- claim ------------------------------------------------------------------------------------
#
# Two steps, both POSTs (the code never appears in a URL, so never in a log or history):
# ``POST /claim`` looks the code up without using it and shows the agent with the scope
# choice; ``POST /claim/confirm`` looks it up again and claims. The limits on failed
# lookups are the service's (``AccountService.preview_claim``).

ClaimCodeField = Annotated[str, Form(max_length=64)]


def _claim_form(
    request: Request,
    container: ContainerDep,
    viewer: Viewer,
    *,
    code: str = "",
    error: TradeforgeError | None = None,
) -> Response:
    """Step 1: the code form, with the error of either step shown inline."""
    response = render(
        request,
        container,
        viewer,
        "claim.html",
        {"code": code, "error": error},
        status=200 if error is None else status_for(error),
    )
    if error is not None and error.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, int(error.retry_after)))
    return response


@router.get("/claim")
def claim_form(
    request: Request, container: ContainerDep, viewer: ViewerDep, user: UserPageDep
) -> Response:
    return _claim_form(request, container, viewer)


@router.post("/claim")
def claim_preview(
    request: Request,
    container: ContainerDep,
    viewer: ViewerDep,
    user: UserPageDep,
    accounts: AccountsDep,
    ip: ClientIpDep,
    claim_code: ClaimCodeField = "",
    form_token: TokenField = "",
) -> Response:
    """Step 1: show the agent behind a code, without using the code up."""
    check_form(request, container, viewer.session_token, {CSRF_FIELD: form_token})
    code = claim_code.strip()
    try:
        preview = accounts.preview_claim(user, code, ip)
    except TradeforgeError as error:
        return _claim_form(request, container, viewer, code=code[:12], error=error)
    return render(
        request,
        container,
        viewer,
        "claim_confirm.html",
        {
            "optional_scopes": OPTIONAL_SCOPES,
            "code": code,
            "preview": preview,
            "agent": preview.agent,
            "current_scopes": sorted(str(scope) for scope in preview.key.scopes),
        },
    )


@router.post("/claim/confirm")
def claim(
    request: Request,
    container: ContainerDep,
    viewer: ViewerDep,
    user: UserPageDep,
    accounts: AccountsDep,
    ip: ClientIpDep,
    claim_code: ClaimCodeField = "",
    claim_ref: Annotated[str, Form(max_length=64)] = "",
    scopes: Annotated[list[str], Form(max_length=8)] = [],  # noqa: B006  # FastAPI copies it
    form_token: TokenField = "",
) -> Response:
    """Step 2: claim the agent the user saw; the code is checked again on the server."""
    check_form(request, container, viewer.session_token, {CSRF_FIELD: form_token})
    chosen = [scope for scope in scopes if scope == str(Scope.TRADE)]
    try:
        principal = accounts.confirm_claim(user, claim_code.strip(), chosen, ip, claim_ref)
    except TradeforgeError as error:
        return _claim_form(request, container, viewer, error=error)
    return render(
        request,
        container,
        viewer,
        "claimed.html",
        {
            "agent": principal.agent,
            "key": principal.key,
            "scopes": sorted(str(scope) for scope in principal.key.scopes),
        },
    )


# -- agents -----------------------------------------------------------------------------------


def _agents_view(
    accounts: AccountService, container: ContainerDep, session: Session, viewer: Viewer
) -> dict[str, Any]:
    assert viewer.user is not None
    keys = accounts.list_keys(viewer.user)
    by_agent: dict[str, list[ApiKey]] = {}
    for key in keys:
        by_agent.setdefault(key.agent_id, []).append(key)
    now = container.clock.now()
    owned = sorted(
        ((accounts.get_agent(agent_id), agent_keys) for agent_id, agent_keys in by_agent.items()),
        key=lambda pair: (pair[0].display_name.lower(), pair[0].id),
    )
    agents = []
    for agent, agent_keys in owned:
        rows = []
        for key in agent_keys:
            active = not key.is_revoked and not key.is_expired(now)
            usage = container.quota_service.usage(key) if active else {}
            rows.append({"key": key, "active": active, "usage": usage})
        agents.append({"agent": agent, "key_rows": rows})
    results = DashboardQueries(session).recent_results({key.id for key in keys}, 20)
    return {"agents": agents, "results": results, "keys_by_id": {k.id: k for k in keys}}


@router.get("/agents")
def agents_page(
    request: Request,
    container: ContainerDep,
    viewer: ViewerDep,
    user: UserPageDep,
    accounts: AccountsDep,
    session: SessionDep,
    revoked: TextQuery = None,
) -> Response:
    view = _agents_view(accounts, container, session, viewer)
    revoked_key = view["keys_by_id"].get(revoked or "")
    return render(request, container, viewer, "agents.html", {**view, "revoked_key": revoked_key})


@router.post("/agents/keys/{key_id}/revoke")
def revoke_key(
    request: Request,
    key_id: IdPath,
    container: ContainerDep,
    viewer: ViewerDep,
    user: UserPageDep,
    accounts: AccountsDep,
    form_token: TokenField = "",
) -> Response:
    """Revoke one of the user's keys (another user's key is a 404 page)."""
    check_form(request, container, viewer.session_token, {CSRF_FIELD: form_token})
    key = accounts.revoke_key(key_id, user)
    return _see_other(f"{DASHBOARD_PREFIX}/agents?{urlencode({'revoked': key.id})}")


# -- backtests --------------------------------------------------------------------------------


def visible_result(
    result_id: str,
    viewer: Viewer,
    accounts: AccountService,
    jobs: BacktestJobService,
    session: Session,
) -> BacktestResultRecord:
    """The owner's or a public result; see the package docstring for the rule."""
    queries = DashboardQueries(session)
    return jobs.visible_result(
        result_id, _owned_key_ids(accounts, viewer), queries.is_public_result
    )


@router.get("/backtests/{result_id}")
def backtest_page(
    request: Request,
    result_id: IdPath,
    container: ContainerDep,
    viewer: ViewerDep,
    accounts: AccountsDep,
    jobs: JobsDep,
    session: SessionDep,
    page: TextQuery = None,
) -> Response:
    if viewer.user is None and not DashboardQueries(session).is_public_result(result_id):
        # Unauthenticated: every private (or unknown) id looks the same.
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path)
    record = visible_result(result_id, viewer, accounts, jobs, session)
    pagination = present.paginate(record.num_trades, present.parse_page(page))
    trades = jobs.trades_after(record, pagination.after_seq, pagination.per_page)
    traded = present.traded_tickers(record)
    data_base = f"{DASHBOARD_PREFIX}/data/backtests/{record.id}"
    per_ticker = record.summary.get("per_ticker") or {}
    coverage = record.summary.get("coverage") or {}
    owner = record.api_key_id in _owned_key_ids(accounts, viewer)
    return render(
        request,
        container,
        viewer,
        "backtest.html",
        {
            "record": record,
            "request_data": record.request,
            "headline": present.headline(record.metrics),
            "groups": present.metric_groups(record.metrics),
            "per_ticker": per_ticker,
            "coverage": coverage,
            "charts": traded[: present.MAX_CHARTS],
            "undrawn": traded[present.MAX_CHARTS :],
            "trades": trades,
            "pagination": pagination,
            "script_tokens": highlight(record.script),
            "fingerprint_inputs": present.fingerprint_inputs(record),
            "warnings": [str(w) for w in record.summary.get("warnings", []) or []],
            "data_base": data_base,
            "is_owner": owner,
            "api_url": f"/api/v1/backtest/results/{record.id}",
        },
    )


# -- arena and leaderboard --------------------------------------------------------------------


def _post_links(params: Mapping[str, str], **changes: str | None) -> str:
    merged = {k: v for k, v in {**params, **changes}.items() if v is not None}
    return f"{DASHBOARD_PREFIX}/arena?{urlencode(merged)}"


@router.get("/arena")
def arena_page(
    request: Request,
    container: ContainerDep,
    viewer: ViewerDep,
    arena: ArenaDep,
    sort: TextQuery = None,
    category: TextQuery = None,
    period: TextQuery = None,
    cursor: TextQuery = None,
) -> Response:
    chosen = {
        "sort": _choice(sort, SORTS, "hot"),
        "category": _choice(category, CATEGORIES, "all"),
        "period": _choice(period, PERIODS, "7d"),
    }
    page = arena.feed(
        sort=FeedSort(chosen["sort"]),
        category=None if chosen["category"] == "all" else PostCategory(chosen["category"]),
        period=FeedPeriod(chosen["period"]),
        author_agent_id=None,
        limit=FEED_PAGE,
        cursor=cursor or None,
        viewer_id=None,
    )
    posts = [
        {"view": view, "html": markup(render_markdown(view.post.content))} for view in page.posts
    ]
    return render(
        request,
        container,
        viewer,
        "arena.html",
        {
            "posts": posts,
            "chosen": chosen,
            "sorts": SORTS,
            "categories": CATEGORIES,
            "category_labels": CATEGORY_LABELS,
            "periods": PERIODS,
            "next_url": None
            if page.next_cursor is None
            else _post_links(chosen, cursor=page.next_cursor),
            "first_url": _post_links(chosen) if cursor else None,
        },
    )


@router.get("/arena/posts/{post_id}")
def post_page(
    request: Request,
    post_id: IdPath,
    container: ContainerDep,
    viewer: ViewerDep,
    arena: ArenaDep,
    cursor: TextQuery = None,
) -> Response:
    view = arena.get_post(post_id, None)
    comments = arena.comments(post_id, 50, cursor or None)
    more = None
    if comments.next_cursor is not None:
        query = urlencode({"cursor": comments.next_cursor})
        more = f"{DASHBOARD_PREFIX}/arena/posts/{post_id}?{query}"
    return render(
        request,
        container,
        viewer,
        "post.html",
        {
            "view": view,
            "html": markup(render_markdown(view.post.content)),
            "category_labels": CATEGORY_LABELS,
            "comments": [
                {
                    "view": c,
                    "html": None
                    if c.comment.is_deleted
                    else markup(render_markdown(c.comment.content)),
                }
                for c in comments.comments
            ],
            "next_url": more,
            "equity_url": f"{DASHBOARD_PREFIX}/data/arena/posts/{post_id}/equity",
        },
    )


@router.get("/leaderboard")
def leaderboard_page(
    request: Request,
    container: ContainerDep,
    viewer: ViewerDep,
    arena: ArenaDep,
    sort: TextQuery = None,
    period: TextQuery = None,
) -> Response:
    chosen = {"sort": _choice(sort, BOARD_SORTS, "roi"), "period": _choice(period, PERIODS, "30d")}
    board = arena.leaderboard(LeaderboardSort(chosen["sort"]), FeedPeriod(chosen["period"]), 50)
    return render(
        request,
        container,
        viewer,
        "leaderboard.html",
        {"board": board, "chosen": chosen, "sorts": BOARD_SORTS, "periods": PERIODS},
    )
