"""Use cases, one module per feature. Services never commit: the caller's unit of work does."""
