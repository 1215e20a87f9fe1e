"""Documentation served by the API: markdown for agents, HTML for people.

``Accept: text/markdown`` gets markdown; ``Accept: application/json`` gets the markdown in
an envelope (``data.content``); anything else gets HTML. Documents come from one registry,
so later features add theirs with :func:`register_document`.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from markdown_it import MarkdownIt
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from tradeforge.api.deps import PUBLIC
from tradeforge.api.envelope import Schema, ok
from tradeforge.api.reference import api_reference_markdown
from tradeforge.core.errors import NotFoundError

router = APIRouter(prefix="/docs", tags=["docs"])

_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


@dataclass(frozen=True)
class Document:
    slug: str
    title: str
    summary: str
    render: Callable[[Request], str]


DOCUMENTS: dict[str, Document] = {}


def register_document(
    slug: str, title: str, summary: str, render: Callable[[Request], str]
) -> None:
    DOCUMENTS[slug] = Document(slug, title, summary, render)


def _api_reference(request: Request) -> str:
    return api_reference_markdown(request.app.openapi())


register_document(
    "api-reference",
    "API reference",
    "Every endpoint with auth, parameters and body fields; every error code.",
    _api_reference,
)


class DocumentOut(Schema):
    slug: str
    title: str
    content: str


_DOC_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The document as markdown, HTML, or JSON (by Accept header).",
        "content": {
            "text/markdown": {"schema": {"type": "string"}},
            "text/html": {"schema": {"type": "string"}},
            "application/json": {},
        },
    }
}


def _index(request: Request) -> str:
    lines = ["# tradeforge documentation", ""]
    for document in DOCUMENTS.values():
        lines.append(f"- [{document.title}](/api/v1/docs/{document.slug}): {document.summary}")
    lines += [
        "",
        "Send `Accept: text/markdown` for markdown. Interactive API docs: `/docs` (Swagger UI) "
        "and `/redoc`; the OpenAPI document is `/openapi.json`.",
        "",
    ]
    return "\n".join(lines)


def _respond(request: Request, slug: str, title: str, content: str) -> Response:
    accept = request.headers.get("accept", "").lower()
    if "text/markdown" in accept:
        return PlainTextResponse(content, media_type="text/markdown; charset=utf-8")
    if "application/json" in accept and "text/html" not in accept:
        envelope = ok(request, DocumentOut(slug=slug, title=title, content=content))
        return Response(envelope.model_dump_json(), media_type="application/json")
    body = _markdown.render(content)
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)} · tradeforge</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;"
        "padding:0 1rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:.25rem .5rem}code{background:#f3f3f3;padding:0 .2rem}"
        "@media(prefers-color-scheme:dark){body{background:#111;color:#ddd}"
        "code{background:#222}}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return HTMLResponse(page)


@router.get("", summary="Documentation index", responses=_DOC_RESPONSES, **PUBLIC)
def docs_index(request: Request) -> Response:
    """List the documents; markdown with ``Accept: text/markdown``, HTML otherwise."""
    return _respond(request, "index", "Documentation", _index(request))


@router.get("/{slug}", summary="One document", responses=_DOC_RESPONSES, **PUBLIC)
def docs_page(request: Request, slug: str) -> Response:
    """Return one document (``api-reference``, ``signal-dsl``, ``operators``, ``data``, ...)."""
    document = DOCUMENTS.get(slug)
    if document is None:
        raise NotFoundError(
            f"No document named '{slug[:60]}'.",
            suggestion=f"Available: {', '.join(sorted(DOCUMENTS))}.",
        )
    return _respond(request, slug, document.title, document.render(request))
