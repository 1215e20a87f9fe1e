"""Redis-backed adapters (counters; the Celery broker is configured in tradeforge.jobs)."""
