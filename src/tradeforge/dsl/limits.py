"""Hard limits of the Signal DSL. Every one is enforced before or while a script runs and
reported as ``DSL_LIMIT_EXCEEDED`` (or ``TA_OUT_OF_RANGE`` for periods) naming the limit."""

from __future__ import annotations

MAX_SCRIPT_BYTES = 64 * 1024
MAX_EXPRESSION_BYTES = 4 * 1024  # /market/evaluate, scan and rank expressions
MAX_NODES = 10_000
MAX_DEPTH = 64  # nesting of expressions (calls, operators, brackets)
MAX_STATEMENTS = 1_000
MAX_STRING_LENGTH = 256
MAX_NAME_LENGTH = 64
MAX_PERIOD = 10_000  # any indicator period, window or lookback in bars
MAX_INDEX = 10_000  # x[-MAX_INDEX] is the oldest bar an index may reach
MAX_POWER_EXPONENT = 64.0  # |b| in a ** b between constants
MAX_ABS_CONSTANT = 1e15  # folded constants outside this are rejected
MAX_TICKERS = 20  # distinct tickers one script may reference
MAX_PARAMS = 32
MAX_SIGNALS = 64  # emit_signal actions in one script
MAX_EVAL_SECONDS = 30.0  # wall time of one evaluation
MAX_CELLS = 2_000_000_000  # plan steps x bars evaluated in one run
MAX_WARMUP_BARS = 200_000
