"""Wiring: adapters are plugged into ports here, once per process, and exposed as
FastAPI dependencies (``Annotated`` aliases)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tradeforge.adapters.candles import open_market_data
from tradeforge.adapters.storage.counters import DatabaseCounterStore
from tradeforge.adapters.storage.db import create_db_engine, create_session_factory
from tradeforge.adapters.storage.idempotency import IdempotencyStore
from tradeforge.adapters.storage.repositories.accounts import SqlAccountRepository
from tradeforge.adapters.storage.tables import metadata, rate_counters
from tradeforge.config import Settings
from tradeforge.core.accounts import QuotaKind, Scope, User
from tradeforge.core.clock import Clock, SystemClock
from tradeforge.core.errors import AuthError, InvalidInputError, PermissionDeniedError
from tradeforge.market.source import MarketDataSource
from tradeforge.ports import CounterStore
from tradeforge.services.accounts import AccountPolicy, AccountService, Principal
from tradeforge.services.quotas import QuotaService, quota_settings_from


@dataclass
class Container:
    """Everything a request handler may need, built once per app."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    counters: CounterStore
    clock: Clock
    quota_service: QuotaService
    account_policy: AccountPolicy
    market_data: MarketDataSource
    idempotency: IdempotencyStore
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    extras: dict[str, Any] = field(default_factory=dict)


def build_counters(settings: Settings, engine: Engine) -> CounterStore:
    if settings.counter_backend == "redis":
        from tradeforge.adapters.redis.counters import RedisCounterStore

        if not settings.redis_url:
            from tradeforge.core.errors import ConfigurationError

            raise ConfigurationError(
                "TRADEFORGE_COUNTER_BACKEND=redis needs TRADEFORGE_REDIS_URL.",
                suggestion="Set TRADEFORGE_REDIS_URL=redis://127.0.0.1:6379/0.",
            )
        return RedisCounterStore(settings.redis_url)
    if engine.dialect.name == "sqlite":
        # A separate file: SQLite locks the whole database for a write transaction, and
        # counters must be written while a request's own transaction is open.
        counters_engine = create_db_engine(f"sqlite:///{settings.data_dir / 'counters.sqlite3'}")
        metadata.create_all(counters_engine, tables=[rate_counters])
        return DatabaseCounterStore(counters_engine)
    return DatabaseCounterStore(engine)


def build_market_data(settings: Settings, clock: Clock) -> MarketDataSource:
    """Bundled + downloaded candles; with ``market_live``, topped up from the exchange."""
    store = open_market_data(settings)
    if not settings.market_live:
        return store
    from tradeforge.adapters.exchanges.downloader import CcxtDownloader, create_exchange
    from tradeforge.adapters.exchanges.live import ReadThroughMarketData
    from tradeforge.market.symbols import resolve_exchange

    user = store.user
    assert user is not None

    def downloader_for(exchange_id: str) -> CcxtDownloader:
        info = resolve_exchange(exchange_id)
        # A request is waiting: fail over to stored data fast instead of backing off for long.
        exchange = create_exchange(
            info, api_base_url=settings.market_live_api_url, timeout_ms=5_000
        )
        return CcxtDownloader(
            info.id, user, clock=clock, exchange=exchange, max_retries=1, backoff_s=0.25
        )

    return ReadThroughMarketData(
        store,
        downloader_for,
        clock,
        max_candles=settings.market_live_max_candles,
        min_refresh_seconds=settings.market_live_refresh_seconds,
    )


def build_container(settings: Settings, clock: Clock | None = None) -> Container:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(settings.effective_database_url)
    clock = clock or SystemClock()
    counters = build_counters(settings, engine)
    return Container(
        settings=settings,
        engine=engine,
        session_factory=create_session_factory(engine),
        counters=counters,
        clock=clock,
        quota_service=QuotaService(counters, clock, quota_settings_from(settings)),
        account_policy=AccountPolicy(
            provisional_key_ttl=timedelta(hours=settings.provisional_key_ttl_hours),
            claim_code_ttl=timedelta(minutes=settings.claim_code_ttl_minutes),
            registrations_per_ip_per_hour=settings.registrations_per_ip_per_hour,
            max_agents_per_user=settings.max_agents_per_user,
            session_ttl=timedelta(hours=settings.session_ttl_hours),
        ),
        market_data=build_market_data(settings, clock),
        idempotency=IdempotencyStore(engine),
    )


def get_container(request: Request) -> Container:
    container = request.app.state.container
    assert isinstance(container, Container)
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_session(container: ContainerDep) -> Iterator[Session]:
    """One unit of work per request: commit on success, roll back on any error."""
    with container.session_factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_account_service(container: ContainerDep, session: SessionDep) -> AccountService:
    return AccountService(
        SqlAccountRepository(session), container.clock, container.counters, container.account_policy
    )


AccountServiceDep = Annotated[AccountService, Depends(get_account_service)]


def get_market_data(container: ContainerDep) -> MarketDataSource:
    return container.market_data


MarketDataDep = Annotated[MarketDataSource, Depends(get_market_data)]


def client_ip(request: Request, container: ContainerDep) -> str:
    """The caller's address; ``X-Forwarded-For`` counts only from a trusted proxy."""
    peer = request.client.host if request.client else "unknown"
    trusted = container.settings.trusted_proxies
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and peer in trusted:
        candidate = forwarded.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            return peer
    return peer


ClientIpDep = Annotated[str, Depends(client_ip)]


def bearer_token(request: Request) -> str | None:
    if "api_key" in request.query_params or "apikey" in request.query_params:
        raise InvalidInputError(
            "API keys are not accepted in the URL (they end up in logs and histories).",
            suggestion="Send the key as 'Authorization: Bearer <API_KEY>' instead.",
        )
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError(
            "The Authorization header must be 'Bearer <API_KEY>'.",
            code="INVALID_API_KEY",
            suggestion="Send 'Authorization: Bearer tf_...' with your key.",
        )
    return token


def _rate_limit_headers(limit: int, remaining: int, reset: int, window: int) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(reset),
        "RateLimit-Policy": f"{limit};w={window}",
    }


def current_principal(request: Request, response: Response, container: ContainerDep) -> Principal:
    """Authenticate the API key, then apply the per-key rate limit and api_calls quota.

    Runs in its own short transaction so that, on SQLite, the request's unit of work does
    not hold the write lock while counters are updated.
    """
    token = bearer_token(request)
    if token is None:
        raise AuthError(
            "This endpoint needs an API key.",
            code="AUTHENTICATION_REQUIRED",
            suggestion=(
                "Send 'Authorization: Bearer <API_KEY>'. No key yet? POST /api/v1/meta/register."
            ),
        )
    with container.session_factory() as session:
        service = AccountService(
            SqlAccountRepository(session),
            container.clock,
            container.counters,
            container.account_policy,
        )
        principal = service.authenticate_key(token)
        session.commit()
    quotas = container.quota_service
    limit = container.settings.rate_limit_per_hour
    try:
        state = quotas.check_rate_limit(principal.key)
    except Exception:
        request.state.rate_limit_headers = _rate_limit_headers(limit, 0, 0, 3600)
        raise
    headers = _rate_limit_headers(state.limit, state.remaining, state.reset_seconds, 3600)
    request.state.rate_limit_headers = headers
    response.headers.update(headers)
    quotas.consume(principal.key, QuotaKind.API_CALLS)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require_scope(scope: Scope) -> Callable[[Principal], Principal]:
    def check(principal: PrincipalDep) -> Principal:
        if not principal.key.has_scope(scope):
            granted = ", ".join(sorted(principal.key.scopes)) or "none"
            raise PermissionDeniedError(
                f"This endpoint needs the '{scope}' scope; the key has: {granted}.",
                code="INSUFFICIENT_PERMISSIONS",
                suggestion=(
                    "Claim the agent (POST /api/v1/meta/request-claim) and have its owner "
                    f"grant '{scope}', or use a key that has it."
                ),
                details={"required_scope": str(scope)},
            )
        return principal

    return check


def requires(scope: Scope | None) -> dict[str, Any]:
    """Route keyword arguments declaring the auth an endpoint needs.

    ``scope=None`` means an API key is required but any scope will do. The declaration
    also lands in the OpenAPI document (``x-required-scope``), which is where
    ``/meta/capabilities`` and the scope-matrix tests read it from.
    """
    dependency = Depends(current_principal) if scope is None else Depends(require_scope(scope))
    return {
        "dependencies": [dependency],
        "openapi_extra": {
            "x-auth": "api_key",
            "x-required-scope": None if scope is None else str(scope),
        },
    }


PUBLIC: dict[str, Any] = {"openapi_extra": {"x-auth": "none"}}
USER_SESSION: dict[str, Any] = {"openapi_extra": {"x-auth": "user_session"}}


def current_user(request: Request, accounts: AccountServiceDep) -> User:
    token = bearer_token(request) or request.cookies.get("tf_session")
    if token is None:
        raise AuthError(
            "This endpoint needs a logged-in user.",
            code="AUTHENTICATION_REQUIRED",
            suggestion=(
                "Log in with POST /api/v1/auth/login and send 'Authorization: Bearer <token>'."
            ),
        )
    return accounts.authenticate_session(token)


UserDep = Annotated[User, Depends(current_user)]
