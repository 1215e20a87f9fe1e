"""Secrets we issue: API keys, session tokens and claim codes.

API keys look like ``tf_live_<lookup 12>_<secret 32>_<check 6>`` (base62): a recognisable
prefix so scanners and log filters find them, a public lookup id used to find the row, a
high-entropy secret (~190 bits) and a CRC32 checksum that rejects typos without touching
the database. Only a SHA-256 digest of the whole key is stored; with this much entropy a
slow KDF adds nothing. Comparisons are constant-time on bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import zlib
from dataclasses import dataclass

from tradeforge.core.accounts import KeyKind

_ALPHABET = string.digits + string.ascii_letters
_KIND_TAG = {KeyKind.PROVISIONAL: "prov", KeyKind.LIVE: "live"}
_TAG_KIND = {tag: kind for kind, tag in _KIND_TAG.items()}
_KEY_RE = re.compile(r"^tf_(prov|live)_([0-9A-Za-z]{12})_([0-9A-Za-z]{32})_([0-9A-Za-z]{6})$")
_SESSION_RE = re.compile(r"^tf_sess_[0-9A-Za-z]{43}$")

# Anything that looks like one of our secrets, for log redaction.
SECRET_PATTERN = re.compile(r"tf_(?:prov|live|sess)_[0-9A-Za-z_]+")


def _random_base62(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode("ascii"))
    chars = []
    for _ in range(6):
        value, digit = divmod(value, 62)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def digest(secret: str) -> str:
    """Return the hex SHA-256 of ``secret`` (what we store instead of the secret)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def digests_equal(a: str, b: str) -> bool:
    """Compare two hex digests in constant time (as bytes, never as str)."""
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))


@dataclass(frozen=True)
class IssuedKey:
    """A freshly minted key: ``plaintext`` is shown once and never stored."""

    plaintext: str
    lookup_id: str
    key_hash: str


@dataclass(frozen=True)
class ParsedKey:
    kind: KeyKind
    lookup_id: str


def issue_api_key(kind: KeyKind) -> IssuedKey:
    lookup_id = _random_base62(12)
    body = f"tf_{_KIND_TAG[kind]}_{lookup_id}_{_random_base62(32)}"
    plaintext = f"{body}_{_checksum(body)}"
    return IssuedKey(plaintext=plaintext, lookup_id=lookup_id, key_hash=digest(plaintext))


def parse_api_key(text: str) -> ParsedKey | None:
    """Return the key's kind and lookup id, or ``None`` when it is not a well-formed key."""
    match = _KEY_RE.match(text)
    if match is None:
        return None
    tag, lookup_id, _, check = match.groups()
    body = text[: -len(check) - 1]
    if not hmac.compare_digest(_checksum(body).encode(), check.encode()):
        return None
    return ParsedKey(kind=_TAG_KIND[tag], lookup_id=lookup_id)


def issue_session_token() -> tuple[str, str]:
    """Return ``(token, digest)`` for a human login session."""
    token = "tf_sess_" + _random_base62(43)
    return token, digest(token)


def is_session_token(text: str) -> bool:
    return _SESSION_RE.match(text) is not None


def issue_claim_code() -> str:
    """Return a 6-digit code (leading zeros kept)."""
    return f"{secrets.randbelow(1_000_000):06d}"


def new_id() -> str:
    """Return a random, non-sequential identifier (128 bits, hex)."""
    return secrets.token_hex(16)
