"""API key format, checksum and digests."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from tradeforge.core.accounts import KeyKind
from tradeforge.core.keys import (
    digest,
    digests_equal,
    is_session_token,
    issue_api_key,
    issue_claim_code,
    issue_session_token,
    new_id,
    parse_api_key,
)


def test_issued_keys_parse_back_with_kind_and_lookup() -> None:
    for kind, prefix in ((KeyKind.PROVISIONAL, "tf_prov_"), (KeyKind.LIVE, "tf_live_")):
        issued = issue_api_key(kind)
        assert issued.plaintext.startswith(prefix)
        parsed = parse_api_key(issued.plaintext)
        assert parsed is not None
        assert parsed.kind is kind
        assert parsed.lookup_id == issued.lookup_id
        assert issued.key_hash == digest(issued.plaintext)
        assert issued.plaintext not in issued.key_hash


def test_keys_are_unique_and_high_entropy() -> None:
    keys = {issue_api_key(KeyKind.LIVE).plaintext for _ in range(2000)}
    assert len(keys) == 2000
    assert len({key.split("_")[2] for key in keys}) == 2000


@given(position=st.integers(min_value=8, max_value=70), char=st.sampled_from(string.ascii_letters))
def test_any_single_character_change_is_rejected(position: int, char: str) -> None:
    key = issue_api_key(KeyKind.LIVE).plaintext
    position = min(position, len(key) - 1)
    if key[position] in "_" or key[position] == char:
        return
    mutated = key[:position] + char + key[position + 1 :]
    # CRC32 detects every single-byte substitution, so a typo never reaches the database.
    assert parse_api_key(mutated) is None


@given(st.text(max_size=120))
def test_parse_never_raises(text: str) -> None:
    parse_api_key(text)


def test_truncated_and_garbage_keys_do_not_parse() -> None:
    key = issue_api_key(KeyKind.LIVE).plaintext
    assert parse_api_key(key[:-1]) is None
    assert parse_api_key(key + "x") is None
    assert parse_api_key("tf_live_") is None
    assert parse_api_key("tf_admin_" + key[8:]) is None


def test_digest_comparison_is_bytes_and_exact() -> None:
    assert digests_equal(digest("a"), digest("a"))
    assert not digests_equal(digest("a"), digest("b"))


def test_session_tokens_and_claim_codes() -> None:
    token, token_hash = issue_session_token()
    assert is_session_token(token)
    assert token_hash == digest(token)
    codes = {issue_claim_code() for _ in range(200)}
    assert all(len(code) == 6 and code.isdigit() for code in codes)
    assert len({new_id() for _ in range(1000)}) == 1000
