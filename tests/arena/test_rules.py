"""Pure arena rules: markdown sanitising, the hot rank, cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from tradeforge.arena.cursors import decode_cursor, encode_cursor
from tradeforge.arena.markdown import render_markdown, sanitize_html
from tradeforge.arena.ranking import HOT_SCALE, HOT_SECONDS_PER_DECADE, hot_rank
from tradeforge.core.errors import InvalidInputError


class _Elements(HTMLParser):
    """Collects every element and attribute a browser would build from the HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, name, value or "") for name, value in attrs]


def elements(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser


def assert_harmless(html: str) -> None:
    found = elements(html)
    assert not {"script", "iframe", "svg", "style", "object", "embed", "math"} & set(found.tags)
    for tag, name, value in found.attrs:
        assert not name.startswith("on"), (tag, name)
        assert name != "style", (tag, name)
        if name in {"href", "src"}:
            scheme = value.strip().lower()
            assert not scheme.startswith(("javascript:", "data:", "vbscript:")), (tag, value)


HOSTILE_MARKDOWN = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "<iframe src='https://evil.example'></iframe>",
    "<svg onload=alert(1)><circle/></svg>",
    "![pixel](data:image/png;base64,iVBORw0KGgo=)",
    "[doc](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<a href='javascript:alert(1)'>x</a>",
    "<style>body{display:none}</style>",
    "<p style='position:fixed' onclick='x()'>hi</p>",
    '[x](vbscript:msgbox("x"))',
]

HOSTILE_HTML = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<a href='javascript:alert(1)'>x</a>",
    "<iframe src='https://evil.example'></iframe>",
    "<svg onload=alert(1)><circle/></svg>",
    "<img src='data:image/png;base64,iVBORw0KGgo='>",
    "<a href='data:text/html,<script>alert(1)</script>'>x</a>",
    "<p style='color:red' onmouseover='x()'>hi</p>",
    "<style>*{}</style><math><mi>x</mi></math>",
    "<object data='x.swf'></object><embed src='x.swf'>",
]


@pytest.mark.parametrize("text", HOSTILE_MARKDOWN)
def test_hostile_markdown_renders_harmless(text: str) -> None:
    assert_harmless(render_markdown(text))


@pytest.mark.parametrize("html", HOSTILE_HTML)
def test_allow_list_cleans_hostile_html(html: str) -> None:
    """The second layer on its own, as if the markdown renderer let HTML through."""
    assert_harmless(sanitize_html(html))


def test_script_text_is_shown_not_run() -> None:
    html = render_markdown("<script>alert(1)</script>")
    assert "<script" not in html
    assert "&lt;script&gt;" in html


def test_data_image_loses_its_source_and_script_content_is_dropped() -> None:
    assert elements(render_markdown("![a](data:image/png;base64,AAAA)")).attrs == [
        ("img", "alt", "a")
    ]
    assert sanitize_html("<script>alert(1)</script>ok") == "ok"
    assert "circle" not in sanitize_html("<svg><circle/></svg>")


def test_ordinary_markdown_survives() -> None:
    html = render_markdown(
        "# Title\n\n**bold** _it_ ~~gone~~ `code`\n\n- a\n- b\n\n"
        "| x | y |\n|---|---|\n| 1 | 2 |\n\n[site](https://example.com) ![c](https://e.com/c.png)"
    )
    found = elements(html)
    assert {"h1", "strong", "em", "s", "code", "ul", "li", "table", "td", "a", "img"} <= set(
        found.tags
    )
    assert ("a", "href", "https://example.com") in found.attrs
    assert ("a", "rel", "nofollow noopener noreferrer") in found.attrs
    assert ("img", "src", "https://e.com/c.png") in found.attrs
    assert render_markdown("") == ""


T = datetime(2026, 1, 5, 12, tzinfo=UTC)


def test_hot_rank_prefers_votes_and_recency() -> None:
    assert hot_rank(10, T) > hot_rank(2, T) > hot_rank(0, T) > hot_rank(-5, T)
    assert hot_rank(0, T + timedelta(hours=1)) > hot_rank(0, T)
    # Ten times the score is worth exactly 45000 seconds (12.5 hours) of recency.
    later = T + timedelta(seconds=HOT_SECONDS_PER_DECADE)
    assert hot_rank(10, T) == hot_rank(1, later)
    assert hot_rank(1, T) == hot_rank(0, T) == hot_rank(-1, T)
    assert hot_rank(100, T) - hot_rank(0, T) == 2 * HOT_SCALE


def test_hot_rank_is_deterministic_and_needs_aware_times() -> None:
    assert hot_rank(7, T) == hot_rank(7, T)
    assert isinstance(hot_rank(7, T), int)
    with pytest.raises(ValueError):
        hot_rank(1, datetime(2026, 1, 1))


def test_cursor_round_trip_and_refusals() -> None:
    text = encode_cursor({"t": "posts", "k": 5, "i": "abc"})
    assert "=" not in text
    assert decode_cursor(text, "posts") == {"t": "posts", "k": 5, "i": "abc"}
    for bad in ["", "!!!", "bm90IGpzb24", encode_cursor({"t": "comments"}), "x" * 600]:
        with pytest.raises(InvalidInputError) as info:
            decode_cursor(bad, "posts")
        assert info.value.details == {"field": "cursor"}
