"""Schemas of the meta, account and auth endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from tradeforge.api.envelope import RequestSchema, Schema


def _printable(value: str | None) -> str | None:
    if value is not None and any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
        raise ValueError("must not contain control characters")
    return value


DisplayName = Annotated[
    str, StringConstraints(min_length=1, max_length=50), AfterValidator(_printable)
]
Description = Annotated[str, StringConstraints(max_length=500), AfterValidator(_printable)]
StrategyType = Annotated[
    str, StringConstraints(min_length=1, max_length=50), AfterValidator(_printable)
]
RiskProfileName = Literal["conservative", "moderate", "aggressive"]


class RegisterRequest(RequestSchema):
    display_name: DisplayName = Field(description="Agent or app name (1-50 characters).")
    description: Description | None = Field(default=None, description="Up to 500 characters.")
    strategy_type: StrategyType | None = Field(default=None, examples=["momentum"])
    risk_profile: RiskProfileName | None = None


class QuotaWindow(Schema):
    period: str
    used: int
    limit: int
    resets_in_seconds: int


class QuotaEntry(Schema):
    used: int
    limit: int
    period: str
    windows: list[QuotaWindow]


class RegisterResponse(Schema):
    api_key: str = Field(description="Shown once: store it now, it cannot be retrieved later.")
    key_id: str
    key_prefix: str
    agent_id: str
    scopes: list[str]
    expires_at: datetime | None
    quota: dict[str, QuotaEntry]
    next_step: str


class RequestClaimRequest(RequestSchema):
    display_name: DisplayName | None = None
    description: Description | None = None


class ClaimCodeResponse(Schema):
    claim_code: str = Field(description="6 digits; give it to your user.")
    expires_in: int = Field(description="Seconds until the code expires.")
    expires_at: datetime
    claim_url: str


class ClaimRequest(RequestSchema):
    claim_code: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    scopes: list[Annotated[str, StringConstraints(max_length=32)]] = Field(
        default_factory=list,
        max_length=3,
        description="Extra scopes beyond research+read; 'trade' only when chosen here.",
    )


class ClaimResponse(Schema):
    agent_id: str
    key_id: str
    key_prefix: str
    display_name: str
    scopes: list[str]
    claimed_at: datetime | None


class RateLimitInfo(Schema):
    limit: int
    window_seconds: int


class AgentMeResponse(Schema):
    agent_id: str
    key_id: str
    key_prefix: str
    key_kind: str
    display_name: str
    description: str | None
    strategy_type: str | None
    risk_profile: str | None
    scopes: list[str]
    claimed: bool
    owner_email: str | None
    created_at: datetime
    expires_at: datetime | None
    quota: dict[str, QuotaEntry]
    rate_limit: RateLimitInfo


class DatabaseHealth(Schema):
    ok: bool
    backend: str
    latency_ms: float | None
    revision: str | None
    expected_revision: str | None


class HealthResponse(Schema):
    status: Literal["ok", "degraded"]
    version: str
    commit: str | None
    time: datetime
    uptime_seconds: float
    database: DatabaseHealth


class ExchangeOut(Schema):
    id: str
    name: str
    market_types: list[str]
    is_dex: bool
    quote_currencies: list[str]
    notes: str


class MarketsResponse(Schema):
    exchanges: list[ExchangeOut]
    market_types: list[str]


class EndpointOut(Schema):
    method: str
    path: str
    summary: str
    auth: str
    scope: str | None


class CapabilitiesResponse(Schema):
    scopes: list[str]
    endpoints: list[EndpointOut]


class LoginRequest(RequestSchema):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    password: Annotated[
        str, StringConstraints(min_length=1, max_length=256, strip_whitespace=False)
    ]


class UserOut(Schema):
    id: str
    email: str
    created_at: datetime


class LoginResponse(Schema):
    token: str = Field(description="Session token; send as 'Authorization: Bearer <token>'.")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name, not a secret
    expires_at: datetime
    user: UserOut


class KeySummary(Schema):
    key_id: str
    key_prefix: str
    key_kind: str
    name: str | None
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class AgentSummary(Schema):
    agent_id: str
    display_name: str
    claimed_at: datetime | None
    keys: list[KeySummary]


class MeResponse(Schema):
    user: UserOut
    agents: list[AgentSummary]


class Empty(Schema):
    ok: bool = True
