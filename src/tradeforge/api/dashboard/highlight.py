"""A small tokenizer that colours Signal DSL scripts on the backtest page.

It never fails: anything it does not recognise becomes plain text. The template escapes
every token (autoescape), so a script cannot inject markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
    (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|[-+*/%<>=&|~^]|\*\*)
  | (?P<punct>[()\[\],.:])
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_KEYWORDS = frozenset({"and", "or", "not", "if", "else", "True", "False", "None", "in"})
_ACTIONS = frozenset({"emit_signal", "entry", "exit", "Weight", "param"})
_DATA = frozenset({"open", "high", "low", "close", "volume", "funding_rate", "time"})
_CALL = re.compile(r"\s*\(")

#: Upper bound on the characters coloured; the rest is shown plain.
MAX_HIGHLIGHT_CHARS = 200_000


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


def highlight(source: str) -> list[Token]:
    """Split ``source`` into tokens whose kinds the stylesheet colours."""
    head, tail = source[:MAX_HIGHLIGHT_CHARS], source[MAX_HIGHLIGHT_CHARS:]
    tokens: list[Token] = []
    for match in _TOKEN.finditer(head):
        kind = match.lastgroup or "other"
        text = match.group()
        if kind == "name":
            if text in _KEYWORDS:
                kind = "keyword"
            elif text in _ACTIONS:
                kind = "action"
            elif _CALL.match(head, match.end()):
                kind = "function"
            elif text in _DATA:
                kind = "data"
        elif kind in ("space", "punct"):
            kind = "plain"
        if tokens and tokens[-1].kind == kind == "plain":
            tokens[-1] = Token("plain", tokens[-1].text + text)
        else:
            tokens.append(Token(kind, text))
    if tail:
        tokens.append(Token("plain", tail))
    return tokens
