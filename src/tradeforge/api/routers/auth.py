"""Human login sessions (used to claim agents and, later, by the dashboard)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tradeforge.api.deps import (
    PUBLIC,
    USER_SESSION,
    AccountServiceDep,
    ClientIpDep,
    UserDep,
    bearer_token,
)
from tradeforge.api.envelope import Envelope, ok
from tradeforge.api.schemas.meta import (
    AgentSummary,
    Empty,
    KeySummary,
    LoginRequest,
    LoginResponse,
    MeResponse,
    UserOut,
)
from tradeforge.core.accounts import ApiKey

router = APIRouter(prefix="/auth", tags=["auth"])


def key_summary(key: ApiKey) -> KeySummary:
    return KeySummary(
        key_id=key.id,
        key_prefix=key.display_prefix,
        key_kind=str(key.kind),
        name=key.name,
        scopes=sorted(str(scope) for scope in key.scopes),
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
    )


@router.post("/login", summary="Log in a human user", **PUBLIC)
def login(
    request: Request, body: LoginRequest, accounts: AccountServiceDep, ip: ClientIpDep
) -> Envelope[LoginResponse]:
    """Exchange email and password for a session token (valid 12 hours by default)."""
    issued = accounts.login(body.email, body.password, ip)
    user = issued.user
    return ok(
        request,
        LoginResponse(
            token=issued.token,
            expires_at=issued.session.expires_at,
            user=UserOut(id=user.id, email=user.email, created_at=user.created_at),
        ),
    )


@router.post("/logout", summary="End the current session", **USER_SESSION)
def logout(request: Request, user: UserDep, accounts: AccountServiceDep) -> Envelope[Empty]:
    """Invalidate the session token used for this request."""
    token = bearer_token(request) or request.cookies.get("tf_session")
    if token is not None:
        accounts.logout(token)
    return ok(request, Empty())


@router.get("/me", summary="The logged-in user and their agents", **USER_SESSION)
def me(request: Request, user: UserDep, accounts: AccountServiceDep) -> Envelope[MeResponse]:
    """Return the user with every agent they own and those agents' keys (prefixes only)."""
    by_agent: dict[str, list[ApiKey]] = {}
    for key in accounts.list_keys(user):
        by_agent.setdefault(key.agent_id, []).append(key)
    agents = []
    for agent_id, keys in by_agent.items():
        agent = accounts.get_agent(agent_id)
        agents.append(
            AgentSummary(
                agent_id=agent.id,
                display_name=agent.display_name,
                claimed_at=agent.claimed_at,
                keys=[key_summary(key) for key in keys],
            )
        )
    return ok(
        request,
        MeResponse(
            user=UserOut(id=user.id, email=user.email, created_at=user.created_at), agents=agents
        ),
    )
