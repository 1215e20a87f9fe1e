"""Rewrite a deterministic backtest assessment with any OpenAI-compatible chat endpoint.

Off by default: only used when ``TRADEFORGE_LLM_BASE_URL`` is set (a local server such as a
llama.cpp or vLLM endpoint, or a hosted one with ``TRADEFORGE_LLM_API_KEY``). The model is
asked to rephrase the rule-based findings for a trader without adding facts; the facts stay in
the response beside its text. Results are immutable, so each rewrite is cached by result id.
The key is sent only in the Authorization header and never logged.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

import httpx

from tradeforge.core.errors import ServiceUnavailableError

SYSTEM_PROMPT = (
    "You rewrite a backtest assessment for a trader in 3 to 6 plain sentences. Use only the "
    "facts given in the JSON; do not invent numbers, advice or predictions. Mention the "
    "verdict, the return against buy-and-hold, the drawdown and any warning."
)
_CACHE_SIZE = 256


class OpenAICompatibleRewriter:
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_seconds: float = 20.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=timeout_seconds,
            follow_redirects=False,
            transport=transport,
        )
        self._model = model
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def rewrite(self, cache_key: str, report: dict[str, Any]) -> str:
        """Return the model's rewrite of ``report`` (cached per ``cache_key``).

        Raises:
            ServiceUnavailableError: the endpoint failed or answered something unusable.
        """
        with self._lock:
            if cache_key in self._cache:
                self._cache.move_to_end(cache_key)
                return self._cache[cache_key]
        payload = {
            "model": self._model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": json.dumps(report, sort_keys=True, default=str)},
            ],
        }
        try:
            response = self._client.post("/chat/completions", json=payload)
            response.raise_for_status()
            text = str(response.json()["choices"][0]["message"]["content"]).strip()
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as error:
            raise ServiceUnavailableError(
                f"The language-model endpoint failed ({type(error).__name__}).",
                code="LLM_UNAVAILABLE",
                suggestion="The rule-based summary is still returned; check TRADEFORGE_LLM_*.",
            ) from error
        if not text:
            raise ServiceUnavailableError(
                "The language-model endpoint returned no text.",
                code="LLM_UNAVAILABLE",
                suggestion="The rule-based summary is still returned; check the model name.",
            )
        with self._lock:
            self._cache[cache_key] = text
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return text

    def close(self) -> None:
        self._client.close()
