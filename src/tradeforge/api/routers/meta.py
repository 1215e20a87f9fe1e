"""Meta endpoints: health, markets, capabilities, agent self-registration and claiming."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from tradeforge.adapters.storage.db import backend_name, ping
from tradeforge.adapters.storage.migrate import current_revision, head_revision
from tradeforge.api.deps import (
    PUBLIC,
    USER_SESSION,
    AccountServiceDep,
    ClientIpDep,
    ContainerDep,
    PrincipalDep,
    UserDep,
    requires,
)
from tradeforge.api.envelope import Envelope, ok
from tradeforge.api.schemas.meta import (
    AgentMeResponse,
    CapabilitiesResponse,
    ClaimCodeResponse,
    ClaimRequest,
    ClaimResponse,
    DatabaseHealth,
    EndpointOut,
    ExchangeOut,
    HealthResponse,
    MarketsResponse,
    QuotaEntry,
    RateLimitInfo,
    RegisterRequest,
    RegisterResponse,
    RequestClaimRequest,
)
from tradeforge.buildinfo import VERSION, git_commit
from tradeforge.core.accounts import RiskProfile
from tradeforge.market.catalog import EXCHANGES, MarketType
from tradeforge.services.accounts import AgentProfile

router = APIRouter(prefix="/meta", tags=["meta"])


def _quota(container: Any, key: Any) -> dict[str, QuotaEntry]:
    usage = container.quota_service.usage(key)
    return {name: QuotaEntry.model_validate(entry) for name, entry in usage.items()}


@router.get("/health", summary="Health check", **PUBLIC)
def health(
    request: Request, response: Response, container: ContainerDep
) -> Envelope[HealthResponse]:
    """Report whether the service and its database are reachable, with version and commit."""
    started = time.perf_counter()
    revision: str | None = None
    try:
        ping(container.engine)
        latency: float | None = round((time.perf_counter() - started) * 1000, 2)
        revision = current_revision(container.engine)
        db_ok = True
    except Exception:  # any failure here means "not reachable"; details are in the log
        latency, db_ok = None, False
    expected = head_revision()
    healthy = db_ok and revision == expected
    if not healthy:
        response.status_code = 503
    now = datetime.now(UTC)
    return ok(
        request,
        HealthResponse(
            status="ok" if healthy else "degraded",
            version=VERSION,
            commit=git_commit(),
            time=now,
            uptime_seconds=round((now - container.started_at).total_seconds(), 3),
            database=DatabaseHealth(
                ok=db_ok,
                backend=backend_name(container.engine),
                latency_ms=latency,
                revision=revision,
                expected_revision=expected,
            ),
        ),
    )


@router.get("/markets", summary="Supported exchanges and market types", **PUBLIC)
def markets(request: Request) -> Envelope[MarketsResponse]:
    """List the exchanges tradeforge knows, with the market types each one trades.

    Use the ``id`` values as ``exchange`` in market and backtest requests.
    """
    exchanges = [
        ExchangeOut(
            id=exchange.id,
            name=exchange.name,
            market_types=[str(t) for t in exchange.market_types],
            is_dex=exchange.is_dex,
            quote_currencies=list(exchange.quote_currencies),
            notes=exchange.notes,
        )
        for exchange in EXCHANGES
    ]
    return ok(
        request, MarketsResponse(exchanges=exchanges, market_types=[str(t) for t in MarketType])
    )


@router.get("/capabilities", summary="Endpoints this key may call", **requires(None))
def capabilities(request: Request, principal: PrincipalDep) -> Envelope[CapabilitiesResponse]:
    """List every endpoint the calling key's scopes allow, public ones included."""
    scopes = {str(scope) for scope in principal.key.scopes}
    endpoints = []
    # The OpenAPI document is the one inventory of routes and their declared auth.
    for path, item in request.app.openapi().get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            scope = operation.get("x-required-scope")
            if scope is not None and scope not in scopes:
                continue
            endpoints.append(
                EndpointOut(
                    method=method.upper(),
                    path=path,
                    summary=str(operation.get("summary", "")),
                    auth=str(operation.get("x-auth", "none")),
                    scope=scope,
                )
            )
    endpoints.sort(key=lambda item: (item.path, item.method))
    return ok(request, CapabilitiesResponse(scopes=sorted(scopes), endpoints=endpoints))


@router.post("/register", summary="Self-register an agent (provisional key)", **PUBLIC)
def register(
    request: Request,
    body: RegisterRequest,
    accounts: AccountServiceDep,
    container: ContainerDep,
    ip: ClientIpDep,
) -> Envelope[RegisterResponse]:
    """Create an agent and return its provisional API key (scope ``research``).

    The key is shown once. It expires after 24 hours unless a human claims the agent
    (``POST /meta/request-claim``). At most 5 registrations per hour per address.
    """
    issued = accounts.register(
        AgentProfile(
            display_name=body.display_name,
            description=body.description,
            strategy_type=body.strategy_type,
            risk_profile=None if body.risk_profile is None else RiskProfile(body.risk_profile),
        ),
        ip,
    )
    return ok(
        request,
        RegisterResponse(
            api_key=issued.plaintext,
            key_id=issued.key.id,
            key_prefix=issued.key.display_prefix,
            agent_id=issued.agent.id,
            scopes=sorted(str(scope) for scope in issued.key.scopes),
            expires_at=issued.key.expires_at,
            quota=_quota(container, issued.key),
            next_step=(
                "Save api_key now; it cannot be shown again. To keep it past 24 hours and "
                "unlock full limits, call POST /api/v1/meta/request-claim and give the code "
                "to your user."
            ),
        ),
    )


@router.post("/request-claim", summary="Get a claim code for this agent", **requires(None))
def request_claim(
    request: Request,
    principal: PrincipalDep,
    accounts: AccountServiceDep,
    container: ContainerDep,
    body: RequestClaimRequest | None = None,
) -> Envelope[ClaimCodeResponse]:
    """Issue a 6-digit code (valid 30 minutes) that a logged-in user enters to claim the agent."""
    profile = None
    if body is not None and body.display_name is not None:
        profile = AgentProfile(display_name=body.display_name, description=body.description)
    issued = accounts.request_claim(accounts.reload(principal), profile)
    now = container.clock.now()
    return ok(
        request,
        ClaimCodeResponse(
            claim_code=issued.code,
            expires_in=max(0, int((issued.expires_at - now).total_seconds())),
            expires_at=issued.expires_at,
            claim_url=f"{container.settings.base_url}/dashboard/claim",
        ),
    )


@router.post("/claim", summary="Claim an agent with its code (logged-in user)", **USER_SESSION)
def claim(
    request: Request, body: ClaimRequest, user: UserDep, accounts: AccountServiceDep
) -> Envelope[ClaimResponse]:
    """Attach the agent behind ``claim_code`` to the logged-in user.

    The key gains ``research`` and ``read`` (and ``trade`` only when listed in ``scopes``)
    and no longer expires.
    """
    principal = accounts.claim(user, body.claim_code, body.scopes)
    return ok(
        request,
        ClaimResponse(
            agent_id=principal.agent.id,
            key_id=principal.key.id,
            key_prefix=principal.key.display_prefix,
            display_name=principal.agent.display_name,
            scopes=sorted(str(scope) for scope in principal.key.scopes),
            claimed_at=principal.agent.claimed_at,
        ),
    )


@router.get("/agents/me", summary="The calling agent, its key, scopes and quota", **requires(None))
def agents_me(
    request: Request, principal: PrincipalDep, accounts: AccountServiceDep, container: ContainerDep
) -> Envelope[AgentMeResponse]:
    """Describe the calling key's agent: identity, scopes, owner, expiry and quota use."""
    key, agent = principal.key, principal.agent
    return ok(
        request,
        AgentMeResponse(
            agent_id=agent.id,
            key_id=key.id,
            key_prefix=key.display_prefix,
            key_kind=str(key.kind),
            display_name=agent.display_name,
            description=agent.description,
            strategy_type=agent.strategy_type,
            risk_profile=None if agent.risk_profile is None else str(agent.risk_profile),
            scopes=sorted(str(scope) for scope in key.scopes),
            claimed=agent.is_claimed,
            owner_email=accounts.owner_email(agent),
            created_at=agent.created_at,
            expires_at=key.expires_at,
            quota=_quota(container, key),
            rate_limit=RateLimitInfo(
                limit=container.settings.rate_limit_per_hour, window_seconds=3600
            ),
        ),
    )
