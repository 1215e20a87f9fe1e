"""Markdown to safe HTML.

Two layers. markdown-it renders CommonMark plus tables and strikethrough with raw HTML
*disabled* (``<script>`` in a post is shown as text) and its own link check (no
``javascript:``, ``vbscript:``, ``file:`` links). nh3 then cleans the result against an
allow-list of tags and attributes, with ``http``, ``https`` and ``mailto`` as the only URL
schemes, so ``data:`` images, event-handler attributes, ``style``, ``iframe`` and ``svg``
never reach a browser even if the first layer let something through.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
        "hr", "img", "li", "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th",
        "thead", "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "td": {"align"},
    "th": {"align"},
}
URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
# Removed together with everything inside them, not just unwrapped.
DROP_WITH_CONTENT: frozenset[str] = frozenset({"script", "style", "iframe", "svg", "math"})


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def sanitize_html(html: str) -> str:
    """Clean an HTML fragment against the arena allow-list."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROP_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
        generic_attribute_prefixes=set(),
    )


@lru_cache(maxsize=1024)
def render_markdown(text: str) -> str:
    """Render user markdown to sanitised HTML (deterministic; cached by content)."""
    if not text:
        return ""
    return sanitize_html(_renderer().render(text))
