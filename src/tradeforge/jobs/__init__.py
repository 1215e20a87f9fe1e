"""Background jobs: the in-process/CLI worker pool (:mod:`runner`), the wiring inside a
worker process (:mod:`worker`) and the optional Celery scale-out (:mod:`celery_app`)."""
