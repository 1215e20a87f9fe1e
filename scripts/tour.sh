#!/usr/bin/env bash
# The README's 5-minute tour, runnable: start 'make run' in another terminal first.
# Needs curl and jq. BASE defaults to the local server.
set -euo pipefail
BASE="${BASE:-http://127.0.0.1:8000/api/v1}"
TF="${TF:-.venv/bin/tradeforge}"
show() { echo; echo "\$ $*"; }

show "GET /meta/health"
curl -s "$BASE/meta/health" | jq -c '.data | {status, version, database: .database.backend}'

show "POST /meta/register  (no key needed)"
REG=$(curl -s -X POST "$BASE/meta/register" -H 'Content-Type: application/json' \
  -d '{"display_name": "Tour Bot", "strategy_type": "mean_reversion", "risk_profile": "moderate"}')
echo "$REG" | jq -c '.data | {api_key: (.api_key[:20] + "…"), scopes, expires_at, backtests: .quota.backtests.windows}'
KEY=$(echo "$REG" | jq -r .data.api_key)
AUTH="Authorization: Bearer $KEY"

show "GET /market/ohlcv  BINANCE:BTC/USDT 1h (bundled real data, no network)"
curl -s -H "$AUTH" "$BASE/market/ohlcv?symbol=BINANCE:BTC/USDT&timeframe=1h&start=2024-01-01&limit=3" \
  | jq -c '.data.candles[] | [.time, .open, .high, .low, .close, .volume]'

show "POST /backtest/validate  (the seed's example script)"
curl -s -X POST -H "$AUTH" -H 'Content-Type: application/json' "$BASE/backtest/validate" \
  -d '{"script": "oversold = rsi(close, 14) < 30\nemit_signal(oversold, entry(\"BINANCE:BTC/USDT\", \"LONG\", Weight(0.5)))", "universe": ["BINANCE:BTC/USDT"]}' \
  | jq -c '.data | {valid, required_warmup, errors}'

show "POST /backtest/validate  (a typo gets a code, a position and a suggestion)"
curl -s -X POST -H "$AUTH" -H 'Content-Type: application/json' "$BASE/backtest/validate" \
  -d '{"script": "x = rsii(close, 14) < 30", "universe": ["BINANCE:BTC/USDT"]}' \
  | jq -c '.data.errors[0] | {code, message, suggestion, line, column}'

show "POST /market/rank  (7-day momentum across the bundled majors)"
curl -s -X POST -H "$AUTH" -H 'Content-Type: application/json' "$BASE/market/rank" \
  -d '{"universe": ["top10"], "exchange": "binance", "timeframe": "1d", "expression": "roc(close, 7)", "order": "desc", "limit": 3}' \
  | jq -c '.data.ranked[] | {rank, symbol, score: (.score * 100 | round / 100), price}'

show "POST /meta/request-claim  (the agent asks its human to claim it)"
CODE=$(curl -s -X POST -H "$AUTH" "$BASE/meta/request-claim" | jq -r .data.claim_code)
echo "claim code: $CODE"

show "tradeforge users create  (operator creates the human)"
echo "a long tour password" | $TF users create --email tour@example.com --password-stdin || true
TOKEN=$(curl -s -X POST "$BASE/auth/login" -H 'Content-Type: application/json' \
  -d '{"email": "tour@example.com", "password": "a long tour password"}' | jq -r .data.token)

show "POST /meta/claim  (the human claims the agent; trade only if chosen)"
curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$BASE/meta/claim" \
  -d "{\"claim_code\": \"$CODE\"}" | jq -c '.data | {agent_id, scopes}'
curl -s -H "$AUTH" "$BASE/meta/agents/me" | jq -c '.data | {claimed, owner_email, scopes, expires_at}'

show "An error, for the record: every failure has code, message and suggestion"
curl -s -H "Authorization: Bearer tf_live_nope" "$BASE/meta/agents/me" | jq -c .error
