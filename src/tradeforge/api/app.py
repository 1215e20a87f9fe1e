"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from tradeforge.api import docs_content  # noqa: F401  # registers the DSL and data documents
from tradeforge.api.dashboard import install_dashboard
from tradeforge.api.deps import Container, build_container
from tradeforge.api.envelope import ErrorEnvelope
from tradeforge.api.errors import install_error_handlers
from tradeforge.api.idempotency import IdempotencyMiddleware
from tradeforge.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from tradeforge.api.routers import arena, auth, docs, market, meta, research
from tradeforge.api.routers import backtest as backtest_router
from tradeforge.buildinfo import VERSION
from tradeforge.config import Settings, get_settings
from tradeforge.core.clock import Clock
from tradeforge.jobs.runner import start_in_process_runner

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

_ERROR_STATUSES = {
    400: "Invalid input (VALIDATION_ERROR and friends); see error.code.",
    401: "Missing, invalid or expired credentials.",
    403: "The key lacks the scope this endpoint needs.",
    404: "Not found (or not yours).",
    405: "Method not allowed.",
    409: "Conflicts with the current state.",
    413: "Body too large.",
    415: "Unsupported body encoding or type.",
    429: "Rate limit or quota exceeded; see Retry-After.",
    500: "Unexpected server error.",
    503: "A dependency is unavailable; retry.",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": text}
    for status, text in _ERROR_STATUSES.items()
}

DESCRIPTION = """
tradeforge: self-hosted trading research and automation.

Every response is an envelope `{success, data, error: {code, message, suggestion}, meta}`.
Authenticate with `Authorization: Bearer <API_KEY>`; get a provisional key with
`POST /api/v1/meta/register`. Markdown docs: `/api/v1/docs` (send `Accept: text/markdown`).
"""


def _custom_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict):
                # Request validation errors are answered with 400 VALIDATION_ERROR.
                operation.get("responses", {}).pop("422", None)
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    schema["components"]["securitySchemes"] = {
        "ApiKey": {"type": "http", "scheme": "bearer", "description": "tf_prov_… / tf_live_… key"},
        "UserSession": {"type": "http", "scheme": "bearer", "description": "tf_sess_… token"},
    }
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            auth = operation.get("x-auth")
            if auth == "api_key":
                operation["security"] = [{"ApiKey": []}]
            elif auth == "user_session":
                operation["security"] = [{"UserSession": []}]
    app.openapi_schema = schema
    return schema


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    container: Container | None = None,
) -> FastAPI:
    """Build the application. Tests pass their own settings, clock or container."""
    settings = settings or get_settings()
    container = container or build_container(settings, clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runner = start_in_process_runner(container.settings)
        container.extras["job_runner"] = runner
        try:
            yield
        finally:
            container.extras.pop("job_runner", None)
            if runner is not None:
                runner.stop()
        container.engine.dispose()

    app = FastAPIOffline(
        title="tradeforge",
        version=VERSION,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.container = container
    install_error_handlers(app)
    for router in (meta.router, auth.router, docs.router, market.router, research.router):
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(arena.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(backtest_router.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.openapi = lambda: _custom_openapi(app)  # type: ignore[method-assign]  # FastAPI's documented override
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        max_json_depth=settings.max_json_depth,
    )
    app.add_middleware(RequestContextMiddleware)
    install_dashboard(app)  # after the handlers and middleware it wraps
    return app
